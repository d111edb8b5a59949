//! `setup-ssh-keys`: Install the authorized_keys of a user from a secret file, with fallback keys.

use std::ffi::OsString;

use argh::FromArgs;

use crate::error::Result;
use crate::multicall::parse_args;

/// Install the authorized_keys of a user from a secret file, with fallback keys.
/// Not implemented yet in this version: after parsing its arguments it exits 1.
#[derive(FromArgs)]
#[allow(dead_code)] // read once the behaviour lands
#[argh(help_triggers("-h", "--help", "help"))]
struct Args {
    /// the user whose keys to install
    #[argh(positional)]
    user: String,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let _args: Args = parse_args(name, args)?;
    Err(super::not_implemented(name))
}

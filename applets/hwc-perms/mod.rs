//! `hwc-perms`: Check user groups and device access; grant and revoke POSIX ACL entries.

use std::ffi::OsString;

use argh::FromArgs;

use crate::error::Result;
use crate::multicall::parse_args;

/// Check user groups and device access; grant and revoke POSIX ACL entries.
/// Not implemented yet in this version: after parsing its arguments it exits 1.
#[derive(FromArgs)]
#[allow(dead_code)] // read once the behaviour lands
#[argh(help_triggers("-h", "--help", "help"))]
struct Args {
    /// subcommand (groups, access, show, grant, revoke) and its arguments
    #[argh(positional, greedy)]
    command: Vec<String>,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let _args: Args = parse_args(name, args)?;
    Err(super::not_implemented(name))
}

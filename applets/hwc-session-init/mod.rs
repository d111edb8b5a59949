//! `hwc-session-init`: Plumb the graphical user session: XDG directories, environment import into D-Bus and systemd, GPU variables.

use std::ffi::OsString;

use argh::FromArgs;

use crate::error::Result;
use crate::multicall::parse_args;

/// Plumb the graphical user session: XDG directories, environment import into D-Bus and systemd, GPU variables.
/// Not implemented yet in this version: after parsing its arguments it exits 1.
#[derive(FromArgs)]
#[allow(dead_code)] // read once the behaviour lands
#[argh(help_triggers("-h", "--help", "help"))]
struct Args {
    /// undo what a previous run exported
    #[argh(switch)]
    stop: bool,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let _args: Args = parse_args(name, args)?;
    Err(super::not_implemented(name))
}

//! `gpu-launch`: Run a program on the discrete GPU (PRIME render offload).

use std::ffi::OsString;

use argh::FromArgs;

use crate::error::Result;
use crate::multicall::parse_args;

/// Run a program on the discrete GPU (PRIME render offload).
/// Not implemented yet in this version: after parsing its arguments it exits 1.
#[derive(FromArgs)]
#[allow(dead_code)] // read once the behaviour lands
#[argh(help_triggers("-h", "--help", "help"))]
struct Args {
    /// the program to run and its arguments
    #[argh(positional, greedy)]
    command: Vec<String>,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let _args: Args = parse_args(name, args)?;
    Err(super::not_implemented(name))
}

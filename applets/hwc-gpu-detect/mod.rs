//! `hwc-gpu-detect`: Report GPUs, drivers, render nodes, the accelerator and container-runtime support without waking a suspended GPU.

use std::ffi::OsString;

use argh::FromArgs;

use crate::error::Result;
use crate::multicall::parse_args;

/// Report GPUs, drivers, render nodes, the accelerator and container-runtime support without waking a suspended GPU.
/// Not implemented yet in this version: after parsing its arguments it exits 1.
#[derive(FromArgs)]
#[allow(dead_code)] // read once the behaviour lands
#[argh(help_triggers("-h", "--help", "help"))]
struct Args {
    /// print one JSON document
    #[argh(switch)]
    json: bool,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let _args: Args = parse_args(name, args)?;
    Err(super::not_implemented(name))
}

//! The argh glue every applet uses: an applet parses its own argv with argh, so `hwc APPLET ...`,
//! `hwc hwc-APPLET ...` and the applet's own name behave alike.

use std::ffi::OsString;

use crate::error::{Error, Result};
use crate::output;

/// Parses an applet's arguments with argh. `--help` prints to stdout and ends with 0; a parse
/// error becomes one usage line (exit 2). argh needs UTF-8: a non-UTF-8 argument is a usage
/// error naming it (gpu-launch passes its program's arguments around argh).
pub fn parse_args<T: argh::FromArgs>(name: &str, args: &[OsString]) -> Result<T> {
    let strs = args
        .iter()
        .map(|a| {
            a.to_str().ok_or_else(|| {
                Error::usage(format!(
                    "argument is not valid UTF-8: {}",
                    a.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<&str>>>()?;
    // argh takes `--name value` only; `--name=value` is split here, up to a `--` terminator.
    let mut split = Vec::with_capacity(strs.len());
    let mut options_end = false;
    for a in strs {
        options_end |= a == "--";
        match a.split_once('=') {
            Some((opt, value)) if !options_end && opt.starts_with("--") && opt.len() > 2 => {
                split.push(opt);
                split.push(value);
            }
            _ => split.push(a),
        }
    }
    T::from_args(&[name], &split).map_err(|early| match early.status {
        Ok(()) => match output::emit(&early.output) {
            Ok(()) => Error::quiet(0),
            Err(e) => e,
        },
        Err(()) => {
            let text = early
                .output
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            Error::usage(text).hint(format!("see '{name} --help'"))
        }
    })
}

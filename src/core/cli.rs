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

/// Seconds as a person writes them (`30`, `2.5`, `0.125`) as a duration, to the millisecond;
/// `None` for anything else. Written out rather than through `f64`, whose parsing and printing
/// would cost the static binary some 20 KB for this one use.
pub fn parse_seconds(text: &str) -> Option<std::time::Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || text.ends_with('.') {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let mut ms = 0u32;
    for (i, b) in fraction.bytes().take(3).enumerate() {
        ms += u32::from(b - b'0') * [100, 10, 1][i];
    }
    Some(std::time::Duration::from_secs(secs) + std::time::Duration::from_millis(u64::from(ms)))
}

#[cfg(test)]
mod seconds_tests {
    use super::parse_seconds;
    use std::time::Duration;

    #[test]
    fn seconds_as_written() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("0.125"), Some(Duration::from_millis(125)));
        assert_eq!(parse_seconds("1.0009"), Some(Duration::from_millis(1000)));
        for bad in ["", ".", "1.", ".5", "-1", "1e3", "x", "1.2.3", " 1"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }
}

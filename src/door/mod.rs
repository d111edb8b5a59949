//! The multicall front door: dispatch on the basename of `argv[0]` (busybox style) or on
//! `hwc APPLET ...`, `hwc --list`, `hwc --install [-s] DIR`, and the one place errors become a
//! stderr line and an exit status.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

mod install;
pub mod table;

use hwc_core::error::{self, Error, Result};
use hwc_core::output;
use hwc_sys as sys;

/// The name the multicall binary answers to when it is not called as an applet.
pub const MULTICALL_NAME: &str = "hwc";

/// An applet's entry point: its own name (as argh's command name) and the arguments after it.
/// `Ok` carries the exit status.
pub type Entry = fn(name: &str, args: &[OsString]) -> Result<u8>;

/// One row of the applet table.
pub struct Applet {
    pub name: &'static str,
    pub summary: &'static str,
    pub main: Entry,
    /// The applet replaces itself with another program, which must get the signal dispositions
    /// hwc was started with; every other applet ignores SIGPIPE to end quietly on a closed pipe.
    pub execs_in_place: bool,
}

impl Applet {
    /// The name without the `hwc-` prefix, accepted after `hwc` (`hwc gpu-detect`).
    pub fn short_name(&self) -> &'static str {
        self.name.strip_prefix("hwc-").unwrap_or(self.name)
    }
}

/// Finds an applet by full or short name.
pub fn find<'t>(table: &'t [Applet], name: &[u8]) -> Option<&'t Applet> {
    table
        .iter()
        .find(|a| a.name.as_bytes() == name)
        .or_else(|| table.iter().find(|a| a.short_name().as_bytes() == name))
}

/// Runs the process: returns the exit status for `main` to return.
pub fn run(table: &[Applet]) -> u8 {
    sys::process::ensure_standard_fds();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let argv0 = argv.first().map(OsString::as_os_str).unwrap_or_default();
    let called_as = invoked_name(argv0);
    let (name, result) = match table.iter().find(|a| a.name.as_bytes() == called_as) {
        Some(applet) => (
            applet.name,
            start(applet, argv.get(1..).unwrap_or_default()),
        ),
        None if called_as == MULTICALL_NAME.as_bytes() => multicall_main(table, &argv),
        None => (MULTICALL_NAME, Err(not_found(called_as))),
    };
    let status = finish(name, result);
    // Returning from C main skips Rust's exit-time flush of stdout.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    status
}

fn start(applet: &Applet, args: &[OsString]) -> Result<u8> {
    if !applet.execs_in_place {
        sys::process::ignore_sigpipe();
    }
    (applet.main)(applet.name, args)
}

/// The status for `result`, printing an error as one stderr line `NAME: message`.
fn finish(name: &str, result: Result<u8>) -> u8 {
    match result {
        Ok(status) => status,
        Err(err) => {
            if !err.is_quiet() {
                output::warn(name, &err.to_string());
            }
            err.status()
        }
    }
}

fn not_found(name: &[u8]) -> Error {
    Error::new(
        error::NOT_FOUND,
        format!("applet not found: {}", String::from_utf8_lossy(name)),
    )
    .hint("see 'hwc --list'")
}

/// `argv[0]`'s basename with a leading `-` (login shells) removed.
fn invoked_name(argv0: &OsStr) -> &[u8] {
    let bytes = argv0.as_bytes();
    let base = match memchr::memrchr(b'/', bytes) {
        Some(i) => &bytes[i + 1..],
        None => bytes,
    };
    base.strip_prefix(b"-").unwrap_or(base)
}

fn multicall_main(table: &[Applet], argv: &[OsString]) -> (&'static str, Result<u8>) {
    let Some(first) = argv.get(1) else {
        eprint!("{}", usage(table));
        return (MULTICALL_NAME, Err(Error::quiet(error::USAGE)));
    };
    let rest = &argv[2..];
    if !first.as_bytes().starts_with(b"-") && first.as_bytes() != b"help" {
        // `hwc /usr/bin/gpu-launch ...` (a `#!` line) names the applet by path. The applet
        // decides about SIGPIPE: one that execs must pass on the disposition hwc was given.
        let applet_name = invoked_name(first);
        return match find(table, applet_name) {
            Some(applet) => (applet.name, start(applet, rest)),
            None => (MULTICALL_NAME, Err(not_found(applet_name))),
        };
    }
    // hwc's own output (help, list) ends quietly on a closed pipe, like an applet's.
    sys::process::ignore_sigpipe();
    let result = match first.as_bytes() {
        b"--help" | b"-h" | b"help" => output::emit(&usage(table)).map(|()| 0),
        b"--version" | b"-V" => {
            output::emit(&format!("hwc {}\n", env!("CARGO_PKG_VERSION"))).map(|()| 0)
        }
        b"--list" => no_more_args("--list", rest)
            .and_then(|()| {
                output::emit(
                    &table
                        .iter()
                        .map(|a| format!("{}\n", a.name))
                        .collect::<String>(),
                )
            })
            .map(|()| 0),
        b"--install" => install::install_args(rest)
            .and_then(|(symbolic, dir)| install::install(table, &dir, symbolic)),
        _ => Err(
            Error::usage(format!("unknown option: {}", first.to_string_lossy()))
                .hint("see 'hwc --help'"),
        ),
    };
    (MULTICALL_NAME, result)
}

fn no_more_args(option: &str, rest: &[OsString]) -> Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(extra) => Err(Error::usage(format!(
            "{option} takes no argument, got '{}'",
            extra.to_string_lossy()
        ))),
    }
}

fn usage(table: &[Applet]) -> String {
    let mut text = format!(
        "hwc {}: the wiring layer of a NixOS machine, as one static multicall binary.\n\n\
         Usage: APPLET [ARGS...]          (hwc linked or copied under an applet's name)\n       \
         hwc APPLET [ARGS...]      (APPLET with or without its hwc- prefix)\n       \
         hwc --list                print the applet names, one per line\n       \
         hwc --install [-s] DIR    link every applet into DIR (-s: relative symlinks)\n       \
         hwc --help | --version\n\nApplets:\n",
        env!("CARGO_PKG_VERSION")
    );
    let width = table.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in table {
        text.push_str(&format!("  {:width$}  {}\n", a.name, a.summary));
    }
    text.push_str("\nRun 'hwc APPLET --help' for an applet's options.\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &str, _: &[OsString]) -> Result<u8> {
        Ok(0)
    }

    const TABLE: &[Applet] = &[
        Applet {
            name: "gpu-launch",
            summary: "a",
            main: ok,
            execs_in_place: true,
        },
        Applet {
            name: "hwc-gpu-detect",
            summary: "b",
            main: ok,
            execs_in_place: false,
        },
    ];

    #[test]
    fn basename_strips_dirs_and_login_dash() {
        assert_eq!(
            invoked_name(OsStr::new("/run/wrappers/bin/gpu-launch")),
            b"gpu-launch"
        );
        assert_eq!(invoked_name(OsStr::new("-hwc")), b"hwc");
        assert_eq!(invoked_name(OsStr::new("hwc")), b"hwc");
        assert_eq!(invoked_name(OsStr::new("")), b"");
    }

    #[test]
    fn find_by_full_and_short_name() {
        assert_eq!(
            find(TABLE, b"hwc-gpu-detect").unwrap().name,
            "hwc-gpu-detect"
        );
        assert_eq!(find(TABLE, b"gpu-detect").unwrap().name, "hwc-gpu-detect");
        assert_eq!(find(TABLE, b"gpu-launch").unwrap().name, "gpu-launch");
        assert!(find(TABLE, b"launch").is_none());
    }
}

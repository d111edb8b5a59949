//! The multicall front door: dispatch on the basename of argv[0] (busybox style) or on
//! `hwc APPLET ...`, `hwc --list`, `hwc --install [-s] DIR`, and the one place errors become a
//! stderr line and an exit status.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

pub mod table;

use hwc_core::error::{self, Context, Error, Result};
use hwc_core::output;
use hwc_core::sys;

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

/// argv[0]'s basename with a leading `-` (login shells) removed.
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
        b"--install" => {
            install_args(rest).and_then(|(symbolic, dir)| install(table, &dir, symbolic))
        }
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

/// `--install [-s] DIR`.
fn install_args(rest: &[OsString]) -> Result<(bool, PathBuf)> {
    let mut symbolic = false;
    let mut dir = None;
    for arg in rest {
        match arg.as_bytes() {
            b"-s" | b"--symlinks" => symbolic = true,
            a if a.starts_with(b"-") => {
                return Err(Error::usage(format!(
                    "--install: unknown option '{}'",
                    arg.to_string_lossy()
                ))
                .hint("usage: hwc --install [-s] DIR"))
            }
            _ if dir.is_some() => {
                return Err(Error::usage("--install takes one directory")
                    .hint("usage: hwc --install [-s] DIR"))
            }
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let dir = dir.ok_or_else(|| {
        Error::usage("--install needs a directory").hint("usage: hwc --install [-s] DIR")
    })?;
    Ok((symbolic, dir))
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

/// Where this binary is: `/proc/self/exe`, else an absolute argv[0] (a chroot without /proc).
fn own_path() -> Result<PathBuf> {
    if let Ok(p) = fs::read_link("/proc/self/exe") {
        return Ok(p);
    }
    match std::env::args_os().next().map(PathBuf::from) {
        Some(p) if p.is_absolute() => Ok(p),
        _ => Err(Error::failed(
            "cannot find the hwc binary: /proc/self/exe is unreadable and argv[0] is not absolute",
        )
        .hint("mount /proc or run hwc by its absolute path")),
    }
}

/// What is at `DIR/NAME` before installing.
#[derive(Debug, PartialEq, Eq)]
enum Existing {
    Missing,
    /// Already the link that was asked for.
    Right,
    /// Leads to this binary, or is a dangling/old link to some `hwc`: safe to replace.
    Ours,
    /// Anything else: never replaced.
    Foreign,
}

fn existing(path: &Path, exe: &fs::Metadata, symlink_text: Option<&Path>) -> io::Result<Existing> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Missing),
        r => r?,
    };
    let same_file = |m: &fs::Metadata| m.dev() == exe.dev() && m.ino() == exe.ino();
    if meta.file_type().is_symlink() {
        let text = fs::read_link(path)?;
        let resolves_to_us = fs::metadata(path).is_ok_and(|m| same_file(&m));
        if resolves_to_us && symlink_text == Some(text.as_path()) {
            return Ok(Existing::Right);
        }
        let names_hwc = text.file_name() == Some(OsStr::new(MULTICALL_NAME));
        return Ok(if resolves_to_us || names_hwc {
            Existing::Ours
        } else {
            Existing::Foreign
        });
    }
    Ok(match (same_file(&meta), symlink_text) {
        (true, None) => Existing::Right,
        (true, Some(_)) => Existing::Ours,
        (false, _) => Existing::Foreign,
    })
}

/// `hwc --install [-s] DIR`: one link per applet. Links that are already right are left alone,
/// links of ours are replaced atomically, anything else is refused (status 1) and kept.
fn install(table: &[Applet], dir: &Path, symbolic: bool) -> Result<u8> {
    let exe = own_path()?;
    let exe_meta = fs::metadata(&exe).context(|| format!("reading {}", exe.display()))?;
    let dir_meta = fs::metadata(dir).context(|| format!("installing into {}", dir.display()))?;
    if !dir_meta.is_dir() {
        return Err(Error::failed(format!(
            "installing into {}: Not a directory",
            dir.display()
        )));
    }
    let link_text = if symbolic {
        let real_dir = fs::canonicalize(dir).context(|| format!("resolving {}", dir.display()))?;
        let real_exe = fs::canonicalize(&exe).context(|| format!("resolving {}", exe.display()))?;
        Some(relative_path(&real_dir, &real_exe))
    } else {
        None
    };
    let mut refused = 0;
    for applet in table {
        let path = dir.join(applet.name);
        let state = existing(&path, &exe_meta, link_text.as_deref())
            .context(|| format!("checking {}", path.display()))?;
        match state {
            Existing::Right => continue,
            Existing::Foreign => {
                output::warn(
                    MULTICALL_NAME,
                    &format!(
                        "not replacing {}: it exists and is not a link to hwc",
                        path.display()
                    ),
                );
                refused += 1;
                continue;
            }
            Existing::Missing | Existing::Ours => {}
        }
        // Build the new link beside the final name, then rename over: a crash never leaves a
        // half-made link, and a replaced link is swapped in one step.
        let tmp = dir.join(format!(".{}.hwc-install", applet.name));
        let _ = fs::remove_file(&tmp);
        let made = match &link_text {
            Some(text) => std::os::unix::fs::symlink(text, &tmp),
            None => fs::hard_link(&exe, &tmp),
        };
        made.and_then(|()| fs::rename(&tmp, &path)).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(format!("linking {}", path.display()), &e)
        })?;
    }
    if refused > 0 {
        return Err(Error::failed(format!(
            "{refused} applet link(s) not installed in {}",
            dir.display()
        ))
        .hint("remove the files named above, then run again"));
    }
    Ok(0)
}

/// The relative path from directory `from` to `to`; both absolute and free of `..`.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c);
    }
    rel
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

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/bin"), Path::new("/a/bin/hwc")),
            Path::new("hwc")
        );
        assert_eq!(
            relative_path(
                Path::new("/usr/local/sbin"),
                Path::new("/usr/local/bin/hwc")
            ),
            Path::new("../bin/hwc")
        );
        assert_eq!(
            relative_path(Path::new("/"), Path::new("/hwc")),
            Path::new("hwc")
        );
    }

    #[test]
    fn install_args_forms() {
        let a = |v: &[&str]| install_args(&v.iter().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(a(&["-s", "/x"]).unwrap(), (true, PathBuf::from("/x")));
        assert_eq!(a(&["/x"]).unwrap(), (false, PathBuf::from("/x")));
        assert_eq!(a(&[]).unwrap_err().status(), error::USAGE);
        assert_eq!(a(&["/x", "/y"]).unwrap_err().status(), error::USAGE);
        assert_eq!(a(&["-f", "/x"]).unwrap_err().status(), error::USAGE);
    }
}

//! `hwc --install [-s] DIR`: one hard link (or relative symlink) per applet, made beside the
//! final name and renamed over it; links already right are left, links of ours replaced, and
//! anything else refused and kept.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use hwc_core::error::{Context, Error, Result};
use hwc_core::output;

use super::{Applet, MULTICALL_NAME};

/// `--install [-s] DIR`.
pub(super) fn install_args(rest: &[OsString]) -> Result<(bool, PathBuf)> {
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

/// Where this binary is: `/proc/self/exe`, else an absolute `argv[0]` (a chroot without /proc).
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
pub(super) fn install(table: &[Applet], dir: &Path, symbolic: bool) -> Result<u8> {
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
    use hwc_core::error;

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

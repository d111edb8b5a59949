//! $XDG_RUNTIME_DIR, checked and held open: where a run keeps its files (`hwc/session.env`,
//! `hwc/secrets/`), made and read through directory descriptors.

use std::path::{Path, PathBuf};

use hwc_core::error::{Error, Result};
use hwc_core::privilege;
use hwc_core::safefs::{self, Dir};

/// $XDG_RUNTIME_DIR, opened: where the run keeps its files.
pub struct Runtime {
    pub path: PathBuf,
    pub dir: Dir,
}

/// $XDG_RUNTIME_DIR: set, absolute, a directory (not a link, also when written with a trailing
/// `/`) owned by us with mode 0700, held open for what follows.
pub fn runtime_dir() -> Result<Runtime> {
    let path = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .ok_or_else(|| {
            Error::failed("XDG_RUNTIME_DIR is not set to an absolute path")
                .hint("log in through a session manager (pam_systemd), or set it")
        })?;
    let refuse = |problem: String| {
        Error::failed(format!(
            "XDG_RUNTIME_DIR {} {problem}; refusing to use it",
            path.display()
        ))
    };
    let dir = Dir::open(&path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => refuse("is a symbolic link".into()),
        Some(libc::ENOTDIR) => refuse("is not a directory".into()),
        _ => Error::io(format!("XDG_RUNTIME_DIR {}", path.display()), &e),
    })?;
    let st = dir
        .stat()
        .map_err(|e| Error::io(format!("XDG_RUNTIME_DIR {}", path.display()), &e))?;
    let me = privilege::euid();
    if st.uid != me {
        return Err(refuse(format!(
            "is owned by uid {}, not by us (uid {me})",
            st.uid
        )));
    }
    if st.mode & 0o077 != 0 {
        return Err(refuse(format!(
            "has mode {:04o}; it must be 0700",
            st.mode & 0o7777
        )));
    }
    // The directories above it: no one else may move it away and put another in its place.
    let real = dir
        .real_path()
        .map_err(|e| Error::io(format!("XDG_RUNTIME_DIR {}", path.display()), &e))?;
    if let Some(why) = safefs::foreign_hands(&real, me) {
        return Err(refuse(format!("lies where others can replace it: {why}")));
    }
    Ok(Runtime { path, dir })
}

/// The directory `name` under `parent`, created 0700 when missing; refused when it is a link,
/// not a directory, or not ours.
pub fn private_dir(parent: &Dir, name: &str, shown: &Path) -> Result<Dir> {
    parent
        .mkdir(name, 0o700)
        .map_err(|e| Error::io(format!("creating {}", shown.display()), &e))?;
    let not_ours = || Error::failed(format!("{} is not a directory of ours", shown.display()));
    let dir = parent.open_dir(name).map_err(|_| not_ours())?;
    match dir.stat() {
        Ok(st) if st.uid == privilege::euid() => Ok(dir),
        _ => Err(not_ours()),
    }
}

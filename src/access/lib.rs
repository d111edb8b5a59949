//! "May this user read and write this path?", judged as the kernel would: the route to it
//! ([`route`]: search permission on every directory entered, links where they stand), then the
//! node's mode and POSIX ACL ([`kernel`], [`acl`]). Metadata only (`lstat`, `readlink`, the ACL
//! xattr): nothing judged is ever opened, so a device node is never woken. Used by
//! `hwc-perms access` and by `hwc-doctor`.

#![forbid(unsafe_code)]

pub mod groupsets;

pub mod acl;
mod kernel;
pub mod route;

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use kernel::{check, Node, Via, Who};

use acl::Acl;
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::root::Root;
use hwc_core::users::Accounts;
use hwc_sys as sys;
use route::Route;

pub const ACCESS_XATTR: &CStr = c"system.posix_acl_access";
pub const DEFAULT_XATTR: &CStr = c"system.posix_acl_default";

/// Device nodes of the usual hardware, as (directory, name prefix): the GPU's render and card
/// nodes, NVIDIA's, ROCm's, sound, input, cameras, KVM, serial adapters, I2C, GPIO, HID.
pub const DEVICE_GLOBS: &[(&str, &str)] = &[
    ("/dev/dri", ""),
    ("/dev", "nvidia"),
    ("/dev", "kfd"),
    ("/dev/snd", ""),
    ("/dev/input", "event"),
    ("/dev", "video"),
    ("/dev", "kvm"),
    ("/dev", "ttyUSB"),
    ("/dev", "ttyACM"),
    ("/dev", "i2c-"),
    ("/dev", "gpiochip"),
    ("/dev", "hidraw"),
];

/// The nodes of `globs` under `root` (their system paths, `/dev/...`), sorted within each.
pub fn device_paths(root: &Root, globs: &[(&str, &str)]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, prefix) in globs {
        let under = root.path(dir);
        let Ok(names) = hwc_core::safefs::list_dir(&under) else {
            continue;
        };
        let mut found: Vec<PathBuf> = names
            .into_iter()
            .filter(|n| n.as_bytes().starts_with(prefix.as_bytes()))
            .filter(|n| std::fs::symlink_metadata(under.join(n)).is_ok_and(|m| !m.is_dir()))
            .map(|n| Path::new(dir).join(n))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// An ACL xattr value decoded; `None` when the file has none or its file system keeps none.
pub fn decode_acl(shown: &Path, value: std::io::Result<Option<Vec<u8>>>) -> Result<Option<Acl>> {
    match value {
        Ok(Some(bytes)) => Acl::decode(&bytes)
            .map(Some)
            .map_err(|why| Error::failed(format!("{}: {why}", shown.display()))),
        Ok(None) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(Error::io(shown.display(), &e)),
    }
}

/// The ACL `name` of the file at the real path `path` (no link on it).
pub fn read_acl_at(path: &Path, name: &CStr) -> std::io::Result<Option<Acl>> {
    let value = sys::fs::getxattr(&CString::new(path.as_os_str().as_bytes())?, name, false);
    decode_acl(path, value).map_err(|e| std::io::Error::other(e.message().to_string()))
}

/// The entry that decided, in getfacl's words (`group:render`, `other`, ...).
pub fn via_text(via: &Via, acc: &Accounts) -> String {
    let user = |uid: u32| {
        acc.user_by_uid(uid)
            .map_or(uid.to_string(), |u| u.name.clone())
    };
    let group = |gid: u32| {
        acc.group_by_gid(gid)
            .map_or(gid.to_string(), |g| g.name.clone())
    };
    match via {
        Via::Root => "root".into(),
        Via::Owner => "owner".into(),
        Via::NamedUser(u) => format!("user:{}", user(*u)),
        Via::OwningGroup(g) => format!("group:{} (owning group)", group(*g)),
        Via::NamedGroup(g) => format!("group:{}", group(*g)),
        Via::Other => "other".into(),
    }
}

/// A user's access to one path.
pub struct Verdict {
    pub path: String,
    pub read: bool,
    pub write: bool,
    pub execute: bool,
    /// The entry that decided (for a denial, the one that denies), or why the path is out of
    /// reach.
    pub via: String,
}

impl Verdict {
    fn denied(path: &Path, via: String) -> Verdict {
        Verdict {
            path: path.display().to_string(),
            read: false,
            write: false,
            execute: false,
            via,
        }
    }
}

/// Walks to `shown` as the kernel would for `who`, then checks the node itself. `display`
/// turns a real path into the one to show (system paths under `--root`).
pub fn verdict<L: route::Lookup>(
    walk: &route::Walk<L>,
    display: &dyn Fn(&Path) -> PathBuf,
    acc: &Accounts,
    who: &Who,
    shown: &Path,
) -> Result<Verdict> {
    let fail =
        |e: std::io::Error| Error::failed(format!("{}: {}", shown.display(), describe_io(&e)));
    let real = match walk.walk(who, shown).map_err(fail)? {
        Route::Reached(real) => real,
        Route::Blocked { dir, via } => {
            let why = format!(
                "no search permission on {} ({})",
                display(&dir).display(),
                via_text(&via, acc)
            );
            return Ok(Verdict::denied(shown, why));
        }
        Route::LinkRefused { link, owner } => {
            let why = format!(
                "fs.protected_symlinks: {} belongs to uid {owner} in a sticky world-writable directory",
                display(&link).display()
            );
            return Ok(Verdict::denied(shown, why));
        }
    };
    let (node, _) = walk.lookup.node(&real).map_err(fail)?;
    let (read, via) = check(&node, who, acl::READ);
    let (write, wvia) = check(&node, who, acl::WRITE);
    let (execute, _) = check(&node, who, acl::EXECUTE);
    let via = if read || !write { via } else { wvia };
    Ok(Verdict {
        path: shown.display().to_string(),
        read,
        write,
        execute,
        via: via_text(&via, acc),
    })
}

/// `fs.protected_symlinks` of the running kernel (under `--root` for fixtures); on when unknown,
/// as systemd sets it.
pub fn protected_symlinks(root: &Root) -> bool {
    let mut buf = [0u8; 16];
    hwc_core::sysfs::read_attr(
        &root.stack_path(b"/proc/sys/fs/protected_symlinks"),
        &mut buf,
    )
    .is_none_or(|v| v != b"0")
}

/// The verdicts on system paths (`/dev/...`) under `root` for `who`.
pub fn system_verdicts(
    root: &Root,
    acc: &Accounts,
    who: &Who,
    paths: &[PathBuf],
) -> Result<Vec<Result<Verdict>>> {
    let real_root = std::fs::canonicalize(root.path("/"))
        .map_err(|e| Error::io(format!("--root {}", root.path("/").display()), &e))?;
    let walk = route::Walk {
        lookup: &route::Disk,
        root: &real_root,
        cwd: &real_root,
        protected_symlinks: protected_symlinks(root),
    };
    let under_root = |p: &Path| Path::new("/").join(p.strip_prefix(&real_root).unwrap_or(p));
    Ok(paths
        .iter()
        .map(|p| verdict(&walk, &under_root, acc, who, p))
        .collect())
}

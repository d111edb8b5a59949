//! `hwc-perms access`: may a user read, write, execute each path, walked and judged as the kernel
//! would ([`crate::route`] for the way there, [`crate::kernel`] for the node).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::kernel::{self as access, Who};
use crate::route::{self, Route};
use crate::{acl, user_of, via_text, AccessArgs};
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::output::{self, Format, Json, Table};
use hwc_core::root::Root;
use hwc_core::users::Accounts;

/// Device nodes `--devices` looks at: (directory, name prefix).
const DEVICE_GLOBS: &[(&str, &str)] = &[
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

fn device_paths(root: &Root) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, prefix) in DEVICE_GLOBS {
        let Ok(entries) = std::fs::read_dir(root.path(dir)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().as_bytes().starts_with(prefix.as_bytes()))
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| Path::new(dir).join(e.file_name()))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

struct Verdict {
    path: String,
    read: bool,
    write: bool,
    execute: bool,
    via: String,
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

/// Walks to `shown` as the kernel would for the user (search permission on every directory
/// entered, links followed where they are), then checks the node itself.
fn verdict<L: route::Lookup>(
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
    let (read, via) = access::check(&node, who, acl::READ);
    let (write, wvia) = access::check(&node, who, acl::WRITE);
    let (execute, _) = access::check(&node, who, acl::EXECUTE);
    let via = if read || !write { via } else { wvia };
    Ok(Verdict {
        path: shown.display().to_string(),
        read,
        write,
        execute,
        via: via_text(&via, acc),
    })
}

pub fn run(name: &str, a: &AccessArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    let acc = Accounts::load(&root)?;
    let user = user_of(&acc, a.user.as_deref())?;
    let who = Who {
        uid: user.uid,
        groups: acc.group_ids(user),
    };
    let devices = if a.devices {
        device_paths(&root)
    } else {
        Vec::new()
    };
    if a.paths.is_empty() && devices.is_empty() {
        return Err(Error::usage("no PATH given (and no --devices)")
            .hint("usage: hwc-perms access [--user U] [--devices] PATH..."));
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("the working directory", &e))?;
    let real_root = std::fs::canonicalize(root.path("/"))
        .map_err(|e| Error::io(format!("--root {}", root.path("/").display()), &e))?;
    // Paths as given walk the real file system, under the running kernel's rules; the
    // --devices nodes are system paths, under --root (and its /proc).
    let typed = route::Walk {
        lookup: &route::Disk,
        root: Path::new("/"),
        cwd: &cwd,
        protected_symlinks: protected_symlinks(&Root::system()),
    };
    let system = route::Walk {
        root: &real_root,
        protected_symlinks: protected_symlinks(&root),
        ..typed
    };
    let as_is = |p: &Path| p.to_path_buf();
    let under_root = |p: &Path| Path::new("/").join(p.strip_prefix(&real_root).unwrap_or(p));
    let checks = a
        .paths
        .iter()
        .map(|p| (&typed, &as_is as &dyn Fn(&Path) -> PathBuf, p))
        .chain(
            devices
                .iter()
                .map(|p| (&system, &under_root as &dyn Fn(&Path) -> PathBuf, p)),
        );
    let mut report = Verdicts {
        user: user.name.clone(),
        verdicts: Vec::new(),
    };
    let mut failed = false;
    for (walk, display, p) in checks {
        match verdict(walk, display, &acc, &who, p) {
            Ok(v) => report.verdicts.push(v),
            Err(e) => {
                output::warn(name, &e.to_string());
                failed = true;
            }
        }
    }
    output::print(Format::of(a.json), &report)?;
    let all_rw = report.verdicts.iter().all(|v| v.read && v.write);
    Ok(u8::from(failed || !all_rw))
}

/// What `access` prints: a verdict a path.
struct Verdicts {
    user: String,
    verdicts: Vec<Verdict>,
}

impl output::Report for Verdicts {
    fn text(&self) -> String {
        let mut t = Table::new(["PATH", "READ", "WRITE", "EXEC", "VIA"]);
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        for v in &self.verdicts {
            t.row([
                v.path.clone(),
                yes(v.read),
                yes(v.write),
                yes(v.execute),
                v.via.clone(),
            ]);
        }
        format!("user: {}\n{}", self.user, t.render())
    }

    fn json(&self, j: &mut Json) {
        j.begin_object().key("user").string(&self.user);
        j.key("paths").begin_array();
        for v in &self.verdicts {
            j.begin_object();
            j.key("path").string(&v.path);
            j.key("read").bool(v.read);
            j.key("write").bool(v.write);
            j.key("execute").bool(v.execute);
            j.key("via").string(&v.via);
            j.end_object();
        }
        j.end_array().end_object();
    }
}

/// `fs.protected_symlinks` of the running kernel (under `--root` for fixtures); on when unknown,
/// as systemd sets it.
fn protected_symlinks(root: &Root) -> bool {
    let mut buf = [0u8; 16];
    hwc_core::sysfs::read_attr(
        &root.stack_path(b"/proc/sys/fs/protected_symlinks"),
        &mut buf,
    )
    .is_none_or(|v| v != b"0")
}

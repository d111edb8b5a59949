//! `hwc-perms access`: may a user read, write, execute each path, walked and judged as the kernel
//! would ([`hwc_access`]), as a table or JSON.

use std::path::{Path, PathBuf};

use crate::who::user_of;
use crate::AccessArgs;
use hwc_access::{self as access, route, verdict, Verdict, Who};
use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Format, Json, Table};
use hwc_core::root::Root;
use hwc_core::users::Accounts;

pub fn run(name: &str, a: &AccessArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    // A rescue shell may have no /etc/passwd: the caller's own ids and a numeric user need none.
    let acc = Accounts::load_if_any(&root)?;
    let (user, who) = who_of(&acc, &root, a.user.as_deref())?;
    let devices = if a.devices {
        access::device_paths(&root, access::DEVICE_GLOBS)
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
        protected_symlinks: access::protected_symlinks(&Root::system()),
    };
    let system = route::Walk {
        root: &real_root,
        protected_symlinks: access::protected_symlinks(&root),
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
        user,
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

/// The user to judge for, by name, and their ids: from `/etc/passwd` and `/etc/group` when the
/// user is there; else the caller's own process ids (no `--user`), or a numeric `--user` with no
/// group (uid 0 with group 0). A name needs `/etc/passwd`.
fn who_of(acc: &Accounts, root: &Root, spec: Option<&str>) -> Result<(String, Who)> {
    match user_of(acc, spec) {
        Ok(user) => Ok((
            user.name.clone(),
            Who {
                uid: user.uid,
                groups: acc.group_ids(user),
            },
        )),
        Err(_) if spec.is_none() && std::env::var_os("SUDO_USER").is_none() => {
            let ids = hwc_core::privilege::own_ids();
            let mut groups = vec![ids.gid];
            groups.extend(ids.groups.iter().filter(|g| **g != ids.gid));
            Ok((
                ids.uid.to_string(),
                Who {
                    uid: ids.uid,
                    groups,
                },
            ))
        }
        Err(_) if spec.is_some_and(|s| s.parse::<u32>().is_ok()) => {
            let uid: u32 = spec.unwrap_or_default().parse().unwrap_or_default();
            let groups = if uid == 0 { vec![0] } else { Vec::new() };
            Ok((uid.to_string(), Who { uid, groups }))
        }
        Err(_) if acc.passwd_missing => {
            let name = spec.map_or_else(
                || std::env::var("SUDO_USER").unwrap_or_default(),
                str::to_string,
            );
            Err(Error::failed(format!(
                "user '{name}': {} is missing, so no user name can be looked up",
                root.path("/etc/passwd").display()
            ))
            .hint("give a numeric uid, or no --user for your own ids"))
        }
        Err(e) => Err(e),
    }
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

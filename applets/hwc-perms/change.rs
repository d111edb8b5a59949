//! `hwc-perms grant` and `revoke`: one user's ACL entry added, changed or removed as setfacl
//! would, on the node a path names without following any link, through one descriptor.

use std::path::{Path, PathBuf};

use crate::acl::{self, Acl};
use crate::shown::name_text;
use hwc_access::{decode_acl, ACCESS_XATTR};
use hwc_core::error::{Error, Result};
use hwc_core::output;
use hwc_core::privilege;
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::users::{Accounts, User};

/// What root keeps: CAP_FOWNER (set an ACL on a node one does not own), CAP_DAC_READ_SEARCH
/// (reach it) and CAP_FSETID (without it the kernel clears a setgid bit when it rewrites the mode
/// of a node whose group the caller is not in; setfacl, as root, keeps it).
const KEEP: [caps::Capability; 3] = [
    caps::Capability::CAP_FOWNER,
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_FSETID,
];

/// Who is changing what: the entry's user, and who this process is.
struct Change<'a> {
    target: &'a User,
    /// rwx bits to grant, or `None` to revoke.
    perm: Option<u16>,
    me: u32,
    has_fowner: bool,
    dry_run: bool,
}

/// grant (`perm` is Some) or revoke (None) the entry of `user` on each path.
pub fn run(
    name: &str,
    user: &str,
    paths: &[PathBuf],
    root: Option<&Path>,
    dry_run: bool,
    perm: Option<u16>,
) -> Result<u8> {
    let acc = Accounts::load(&Root::from_option(root))?;
    let target = acc
        .find_user(user)
        .ok_or_else(|| Error::failed(format!("user '{user}' is not in /etc/passwd")))?;
    if paths.is_empty() {
        return Err(Error::usage("no PATH given"));
    }
    let me = privilege::euid();
    if me == 0 {
        privilege::keep_only(&KEEP)?;
    }
    let change = Change {
        target,
        perm,
        me,
        has_fowner: privilege::has(caps::Capability::CAP_FOWNER),
        dry_run,
    };
    let mut failed = false;
    for shown in paths {
        match change.apply(&acc, shown) {
            // A reader that closed standard output: the change is made, the rest still done.
            Err(e) if e.is_quiet() => {}
            Err(e) => {
                output::warn(name, &e.to_string());
                failed = true;
            }
            Ok(()) => {}
        }
    }
    Ok(u8::from(failed))
}

/// How long a change waits for another run's lock on the same directory.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The exclusive lock of the directory that holds `shown`, reached with no link on the way.
fn lock_directory_of(shown: &Path) -> Result<safefs::DirLock> {
    let parent = match shown.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = safefs::Dir::open_walked(parent).map_err(|e| Error::failed(e.describe()))?;
    dir.change_lock(LOCK_WAIT).map_err(|e| {
        Error::io(
            format!("locking {} to change an ACL in it", parent.display()),
            &e,
        )
    })
}

impl Change<'_> {
    /// One path: reached by one walk that follows no link, then checked, read and written
    /// through the descriptor it gives, so what is checked is what is changed.
    /// Says what it did while still holding the lock, so that of two runs on one node the one
    /// that speaks last is the one whose change stands.
    fn apply(&self, acc: &Accounts, shown: &Path) -> Result<()> {
        // One change at a time among hwc's runs: the ACL is read, edited and written under the
        // lock of the node's directory (a node itself, a device, may not be opened to lock it),
        // so a concurrent grant and revoke each apply to what the other left.
        let _lock = if self.dry_run {
            None
        } else {
            Some(lock_directory_of(shown)?)
        };
        let node = safefs::open_nofollow(shown).map_err(|e| Error::failed(e.describe()))?;
        self.check(&node.stat, shown)?;
        let old = decode_acl(shown, node.xattr(ACCESS_XATTR))?;
        refuse_duplicates(old.as_ref(), shown)?;
        let before = old
            .clone()
            .unwrap_or_else(|| Acl::from_mode(node.stat.mode))
            .sorted();
        let (acl, changed) = self.edited(&before, old.is_none());
        let what = self.outcome(changed);
        if self.dry_run {
            let names = |uid: u32| acc.user_by_uid(uid).map(|u| u.name.clone());
            let groups = |gid: u32| acc.group_by_gid(gid).map(|g| g.name.clone());
            return output::emit(&format!(
                "{}\n{}",
                output::would(format!("{}: {what}; the ACL becomes:", name_text(shown))),
                acl.getfacl_text("", names, groups)
            ));
        }
        if changed {
            node.set_xattr(ACCESS_XATTR, &acl.encode()).map_err(|e| {
                let err = Error::io(format!("setting the ACL of {}", shown.display()), &e);
                if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                    err.hint("the file system does not support POSIX ACLs")
                } else {
                    err
                }
            })?;
        }
        output::emit(&format!("{}: {what}\n", name_text(shown)))
    }

    /// Refuses a node with several names (another may be someone else's) and one this process
    /// may not change.
    fn check(&self, st: &safefs::Stat, shown: &Path) -> Result<()> {
        if !st.is_dir() && st.nlink > 1 {
            return Err(Error::failed(format!(
                "{}: has {} hard links; refusing (another name of it may be someone else's)",
                shown.display(),
                st.nlink
            )));
        }
        if st.uid != self.me && !self.has_fowner && !self.dry_run {
            return Err(Error::failed(format!(
                "{}: changing its ACL needs ownership (owner is uid {}) or CAP_FOWNER, which this process lacks",
                shown.display(),
                st.uid
            ))
            .hint("run as root"));
        }
        Ok(())
    }

    /// The ACL after the change, and whether it differs from `before` (an ACL written where
    /// there was none counts as a change once it names someone).
    fn edited(&self, before: &Acl, was_none: bool) -> (Acl, bool) {
        let mut acl = before.clone();
        let changed = match self.perm {
            Some(p) => {
                acl.set_user(self.target.uid, p);
                acl != *before || was_none && acl.has_named()
            }
            None => acl.remove_user(self.target.uid),
        };
        (acl, changed)
    }

    fn outcome(&self, changed: bool) -> String {
        let entry = format!("user:{}", self.target.name);
        match (self.perm, changed) {
            (Some(p), false) => format!("{entry}:{} already there, unchanged", acl::perm_text(p)),
            (None, false) => format!("no {entry} entry, unchanged"),
            (Some(p), true) => format!("{entry}:{} granted", acl::perm_text(p)),
            (None, true) => format!("{entry} revoked"),
        }
    }
}

/// setfacl refuses to change an ACL that names someone twice ("Duplicate entries"); so does hwc.
fn refuse_duplicates(acl: Option<&Acl>, shown: &Path) -> Result<()> {
    let Some(dup) = acl.and_then(Acl::duplicate) else {
        return Ok(());
    };
    let kind = if dup.tag == acl::USER {
        "user"
    } else {
        "group"
    };
    Err(Error::failed(format!(
        "{}: its ACL holds duplicate entries ({kind} {} twice); refusing, as setfacl does",
        shown.display(),
        dup.id
    ))
    .hint("rewrite it whole, e.g. setfacl --set-file"))
}

//! What every check reads, gathered once: the root, the accounts, the user, the GPUs.

use std::path::PathBuf;

use hwc_access::Who;
use hwc_core::root::Root;
use hwc_core::users::{Accounts, User};
use hwc_gpu::Gpus;

use crate::units::Install;

/// What every check reads: the root, the accounts, the user, the GPUs.
pub struct Context {
    pub root: Root,
    /// How the units were installed (so named), decided once from the root's os-release.
    pub install: Install,
    pub acc: Accounts,
    pub user: Option<User>,
    pub gpus: Gpus,
}

impl Context {
    pub fn who(&self, user: &User) -> Who {
        Who {
            uid: user.uid,
            groups: self.acc.group_ids(user),
        }
    }

    /// The session's runtime directory for `user`: this one's when the doctor runs in that
    /// user's own session, else /run/user/UID under the root. Decided here, before a worker
    /// drops to the user (after which it would always look like the user's own).
    pub fn runtime_dir(&self, user: &User) -> PathBuf {
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) if hwc_core::privilege::euid() == user.uid && self.root.is_system() => {
                PathBuf::from(dir)
            }
            _ => self.root.path(format!("/run/user/{}", user.uid)),
        }
    }

    pub fn node_group(&self, node: &str) -> Option<String> {
        let st = hwc_core::safefs::stat(&self.root.path(node)).ok()?;
        self.acc.group_by_gid(st.gid).map(|g| g.name.clone())
    }
}

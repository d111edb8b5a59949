//! Where the user's keys go, and where sshd's StrictModes walk stops: what the install and
//! `--check` both look at.

use std::path::{Path, PathBuf};

use hwc_core::root::Root;

pub struct Place {
    pub home: PathBuf,
    pub file: PathBuf,
    stop: PathBuf,
    uid: u32,
}

impl Place {
    /// The place of the user `uid` whose home is `home`, under `root`.
    pub fn new(root: &Root, home: &Path, uid: u32) -> Place {
        let home = root.path(home);
        Place {
            file: home.join(".ssh/authorized_keys"),
            home,
            stop: root.path("/"),
            uid,
        }
    }

    /// Why sshd would refuse the file, as the user (the worker) sees it.
    pub fn predict(&self) -> Vec<String> {
        hwc_authorized_keys::predict(&self.file, &self.home, self.uid, &self.stop)
    }
}

//! A user's `authorized_keys` as hwc manages it: the block setup-ssh-keys writes between its
//! marker lines, and sshd's StrictModes verdict on the file, predicted with the upstream rule
//! (Debian's relaxation for user-private groups is a superset, so what passes here passes
//! there). Used by setup-ssh-keys and hwc-doctor.

#![forbid(unsafe_code)]

mod block;

pub use block::{diff, managed_block, merge, Merged, BEGIN, END};

use std::path::{Path, PathBuf};

use hwc_core::error::describe_io;
use hwc_core::safefs;

fn why_bad(st: &safefs::Stat, uid: u32) -> Option<String> {
    if st.uid != 0 && st.uid != uid {
        return Some(format!(
            "owned by uid {}, neither root nor the user",
            st.uid
        ));
    }
    let bits = st.mode & 0o022;
    (bits != 0).then(|| {
        format!(
            "mode {:04o} lets {} write",
            st.mode & 0o7777,
            match bits {
                0o020 => "the group",
                0o002 => "others",
                _ => "group and others",
            }
        )
    })
}

/// The reasons sshd would refuse `file` for the user `uid` whose home is `home`; empty when it
/// would accept it. Run as the user: sshd opens the file with the user's ids, so a root-only
/// file is refused however good its modes. Directories are checked from the file's real directory up to the real home
/// (or up to `/`, or `stop`, for a file outside the home).
pub fn predict(file: &Path, home: &Path, uid: u32, stop: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    // access(2), not open: the same verdict for the user (it runs as the user) without opening
    // whatever the file is.
    if let Err(e) = nix::unistd::access(file, nix::unistd::AccessFlags::R_OK) {
        let e = std::io::Error::from(e);
        problems.push(format!(
            "{}: the user cannot open it: {}",
            file.display(),
            describe_io(&e)
        ));
        return problems;
    }
    let Ok(real) = std::fs::canonicalize(file) else {
        problems.push(format!("{}: cannot resolve its real path", file.display()));
        return problems;
    };
    match safefs::stat(&real) {
        Ok(st) if !st.is_file() => problems.push(format!(
            "{}: not a regular file but a {}",
            real.display(),
            st.kind()
        )),
        Ok(st) => problems.extend(
            why_bad(&st, uid)
                .map(|w| format!("bad ownership or modes for file {}: {w}", real.display())),
        ),
        Err(e) => problems.push(format!("{}: {}", real.display(), describe_io(&e))),
    }
    let real_home = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    let stop = std::fs::canonicalize(stop).unwrap_or_else(|_| stop.to_path_buf());
    let mut dir: Option<PathBuf> = real.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        match safefs::stat(&d) {
            Ok(st) => problems.extend(
                why_bad(&st, uid)
                    .map(|w| format!("bad ownership or modes for directory {}: {w}", d.display())),
            ),
            Err(e) => problems.push(format!("{}: {}", d.display(), describe_io(&e))),
        }
        if d == real_home || d == stop || d.parent().is_none() {
            break;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::managed_keys;
    use hwc_core::privilege;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_managed_block_and_its_keys() {
        let text =
            format!("mine\n{BEGIN}\nssh-ed25519 A a\n\n# note\nssh-rsa B b\r\n{END}\nafter\n");
        assert_eq!(
            managed_keys(text.as_bytes()),
            Some(vec!["ssh-ed25519 A a", "ssh-rsa B b"])
        );
        assert_eq!(managed_keys(b"ssh-ed25519 A a\n"), None);
        let open = format!("{BEGIN}\nssh-ed25519 A a\n");
        assert_eq!(
            managed_keys(open.as_bytes()),
            None,
            "no END: no whole block"
        );
    }

    #[test]
    fn good_layout_passes_and_writable_bits_fail() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let ssh = home.join(".ssh");
        fs::create_dir_all(&ssh).unwrap();
        let file = ssh.join("authorized_keys");
        fs::write(&file, "x\n").unwrap();
        chmod(&home, 0o755);
        chmod(&ssh, 0o700);
        chmod(&file, 0o600);
        let me = privilege::euid();
        assert!(predict(&file, &home, me, t.path()).is_empty());

        chmod(&file, 0o602);
        let p = predict(&file, &home, me, t.path());
        assert!(
            p[0].contains("bad ownership or modes for file") && p[0].contains("others"),
            "{p:?}"
        );
        chmod(&file, 0o600);
        chmod(&ssh, 0o1777);
        let p = predict(&file, &home, me, t.path());
        assert!(p[0].contains("directory") && p[0].contains(".ssh"), "{p:?}");
        chmod(&ssh, 0o700);
        chmod(&home, 0o775);
        assert!(predict(&file, &home, me, t.path())[0].contains("the group"));
        chmod(&home, 0o755);
        // Walk stops at the home: a world-writable parent does not matter.
        chmod(t.path(), 0o777);
        assert!(predict(&file, &home, me, t.path().parent().unwrap()).is_empty());
        chmod(t.path(), 0o700);
    }

    #[test]
    fn other_owner_and_non_regular_files() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().to_path_buf();
        let st = safefs::stat(&home).unwrap();
        assert!(why_bad(&st, st.uid + 1).is_none_or(|w| w.contains("neither")) || st.uid == 0);
        fs::create_dir(home.join("dir")).unwrap();
        let p = predict(&home.join("dir"), &home, privilege::euid(), &home);
        assert!(p[0].contains("not a regular file but a directory"), "{p:?}");
        let p = predict(&home.join("missing"), &home, privilege::euid(), &home);
        assert!(p[0].contains("cannot open"), "{p:?}");
    }
}

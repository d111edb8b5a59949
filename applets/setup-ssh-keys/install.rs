//! The worker's part, run as the user: the file under the home read and replaced without
//! following a link and without opening what is not a regular file, one run at a time.

use std::path::Path;

use crate::{block, MAX_FILE};
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::privilege;
use hwc_core::safefs;

/// What happened to the file.
pub struct Outcome {
    pub existed: bool,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub written: bool,
    pub created_ssh_dir: bool,
}

/// Runs as the user: walks from the home without following links, creates `.ssh` when missing,
/// takes the directory's lock (one run at a time per user), reads the current file (reached
/// without opening it first, so a device there is never opened; refused unless a regular file),
/// and replaces it atomically when its content changes.
pub fn install(home: &Path, managed: &[String], dry_run: bool, exclusive: bool) -> Result<Outcome> {
    let shown = |p: &Path| p.display().to_string();
    let io = |what: String, e: std::io::Error| {
        let why = match e.raw_os_error() {
            Some(libc::ELOOP) => "it is a symbolic link; refusing to follow it".to_string(),
            Some(libc::ENOTDIR) => "it is not a directory".to_string(),
            _ => describe_io(&e),
        };
        Error::failed(format!("{what}: {why}"))
    };
    let home_dir = safefs::Dir::open(home).map_err(|e| io(shown(home), e))?;
    let st = home_dir.stat().map_err(|e| io(shown(home), e))?;
    let me = privilege::euid();
    if st.uid != me && st.uid != 0 {
        return Err(Error::failed(format!(
            "{}: owned by uid {}, not by the user (uid {me}) or root; sshd would refuse it and nothing is written",
            shown(home),
            st.uid
        )));
    }
    let ssh_path = home.join(".ssh");
    let created_ssh_dir = !dry_run
        && home_dir
            .mkdir(".ssh", 0o700)
            .map_err(|e| io(shown(&ssh_path), e))?;
    let ssh = match home_dir.open_dir(".ssh") {
        Ok(d) => Some(d),
        Err(e) if dry_run && e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(io(shown(&ssh_path), e)),
    };
    let _lock = match (&ssh, dry_run) {
        (Some(ssh), false) => Some(
            ssh.lock()
                .map_err(|e| io(format!("locking {}", shown(&ssh_path)), e))?,
        ),
        _ => None,
    };
    let file_path = ssh_path.join("authorized_keys");
    let mut old = Vec::new();
    let mut existed = false;
    if let Some(node) = ssh
        .as_ref()
        .map(|d| d.node("authorized_keys"))
        .transpose()
        .map_err(|e| io(shown(&file_path), e))?
        .flatten()
    {
        if node.stat.is_link() {
            return Err(io(
                shown(&file_path),
                std::io::Error::from_raw_os_error(libc::ELOOP),
            ));
        }
        if !node.stat.is_file() {
            return Err(Error::failed(format!(
                "{}: it is a {}, not a regular file; refusing",
                shown(&file_path),
                node.stat.kind()
            )));
        }
        old = node.read(MAX_FILE).map_err(|e| io(shown(&file_path), e))?;
        existed = true;
    }
    let merged = block::merge(existed.then_some(old.as_slice()), managed, exclusive)
        .map_err(|why| Error::failed(format!("{}: {why}", shown(&file_path))))?;
    let changed = !existed || merged.content != old;
    let mut written = false;
    if changed && !dry_run {
        let ssh = ssh
            .as_ref()
            .ok_or_else(|| Error::failed(format!("{}: missing", shown(&ssh_path))))?;
        ssh.remove_stale_temps("authorized_keys")
            .and_then(|()| ssh.replace("authorized_keys", &merged.content, 0o600))
            .map_err(|e| io(format!("replacing {}", shown(&file_path)), e))?;
        written = true;
    }
    Ok(Outcome {
        existed,
        old,
        new: merged.content,
        added: merged.added,
        removed: merged.removed,
        written,
        created_ssh_dir,
    })
}

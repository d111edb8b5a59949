//! The worker's part, run as the user: the file under the home read and replaced without
//! following a link and without opening what is not a regular file, one run at a time.

use std::path::Path;

use crate::sources::MAX_FILE;
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

impl Outcome {
    /// The outcome of a run that read `current` and merged it into `merged`.
    fn of(
        current: Option<Vec<u8>>,
        merged: hwc_authorized_keys::Merged,
        written: bool,
        created_ssh_dir: bool,
    ) -> Outcome {
        Outcome {
            existed: current.is_some(),
            old: current.unwrap_or_default(),
            new: merged.content,
            added: merged.added,
            removed: merged.removed,
            written,
            created_ssh_dir,
        }
    }
}

/// How the file is to be written.
#[derive(Clone, Copy)]
pub struct Mode {
    /// Read and merge, write nothing.
    pub dry_run: bool,
    /// The file becomes the block alone.
    pub exclusive: bool,
}

/// Runs as the user: walks from the home without following links, creates `.ssh` when missing,
/// takes the directory's lock (one run at a time per user), reads the current file (reached
/// without opening it first, so a device there is never opened; refused unless a regular file),
/// and replaces it atomically when its content changes.
///
/// Writers outside hwc (the user's editor, ssh-copy-id's `cat >>`) take no lock: what they add
/// between the read and the rename must not be lost. So the file is read again just before the
/// rename, and the replaced one (held open since the read) once more after it: if either
/// changed, the merge is redone from what is there now. Bounded: a file that keeps changing is
/// an error, not a loop.
pub fn install(home: &Path, managed: &[String], mode: Mode) -> Result<Outcome> {
    let home_dir = open_home(home)?;
    let ssh_path = home.join(".ssh");
    let (ssh, created_ssh_dir) = open_ssh(&home_dir, &ssh_path, mode.dry_run)?;
    let _lock = match (&ssh, mode.dry_run) {
        (Some(ssh), false) => Some(
            ssh.lock()
                .map_err(|e| refusal(format!("locking {}", shown(&ssh_path)), e))?,
        ),
        _ => None,
    };
    let file_path = ssh_path.join("authorized_keys");
    // Lines that went to a replaced file after it was read: the next merge starts from them.
    let mut base: Option<Vec<u8>> = None;
    for attempt in 1..=MAX_ATTEMPTS {
        let last = attempt == MAX_ATTEMPTS;
        let (on_disk, held) = match &ssh {
            Some(ssh) => read_current(ssh, &file_path)?.unzip(),
            None => (None, None),
        };
        let current = base.take().or_else(|| on_disk.clone());
        let merged = hwc_authorized_keys::merge(current.as_deref(), managed, mode.exclusive)
            .map_err(|why| Error::failed(format!("{}: {why}", shown(&file_path))))?;
        if on_disk.as_ref() == Some(&merged.content) || mode.dry_run {
            return Ok(Outcome::of(current, merged, false, created_ssh_dir));
        }
        let ssh = ssh
            .as_ref()
            .ok_or_else(|| Error::failed(format!("{}: missing", shown(&ssh_path))))?;
        match replace(ssh, &file_path, on_disk.as_deref(), held, &merged.content)? {
            Replaced::Done => return Ok(Outcome::of(current, merged, true, created_ssh_dir)),
            Replaced::ChangedBefore if last => {
                return Err(Error::failed(format!(
                "{}: it kept changing while being merged ({MAX_ATTEMPTS} tries); not replacing it",
                shown(&file_path)
            )))
            }
            Replaced::ChangedBefore => {}
            Replaced::LinesArrived(_) if last => {
                return Err(Error::failed(format!(
                "{}: lines kept arriving in the replaced file ({MAX_ATTEMPTS} tries); run again",
                shown(&file_path)
            )))
            }
            Replaced::LinesArrived(next) => base = Some(next),
        }
    }
    unreachable!("the last attempt returns")
}

/// `.ssh` opened (created first unless a dry run), and whether it was created. A dry run for a
/// user without one goes on with `None`.
fn open_ssh(
    home_dir: &safefs::Dir,
    ssh_path: &Path,
    dry_run: bool,
) -> Result<(Option<safefs::Dir>, bool)> {
    let created = !dry_run
        && home_dir
            .mkdir(".ssh", 0o700)
            .map_err(|e| refusal(shown(ssh_path), e))?;
    match home_dir.open_dir(".ssh") {
        Ok(d) => Ok((Some(d), created)),
        Err(e) if dry_run && e.raw_os_error() == Some(libc::ENOENT) => Ok((None, created)),
        Err(e) => Err(refusal(shown(ssh_path), e)),
    }
}

/// What replacing the file came to.
enum Replaced {
    /// Replaced, and nothing arrived in the old file since it was read.
    Done,
    /// The file changed between the read and the rename: not replaced.
    ChangedBefore,
    /// Replaced, but lines went to the replaced file after it was read: the new file as it is
    /// now with them, to merge again from.
    LinesArrived(Vec<u8>),
}

/// Replaces the file read as `on_disk` (its node `held`) with `content`, unless it changed
/// meanwhile; then looks at the replaced file for what was appended to it after the read.
fn replace(
    ssh: &safefs::Dir,
    file_path: &Path,
    on_disk: Option<&[u8]>,
    held: Option<safefs::Node>,
    content: &[u8],
) -> Result<Replaced> {
    let now = read_current(ssh, file_path)?.map(|(content, _)| content);
    if now.as_deref() != on_disk {
        return Ok(Replaced::ChangedBefore);
    }
    ssh.remove_stale_temps("authorized_keys")
        .and_then(|()| ssh.replace("authorized_keys", content, 0o600))
        .map_err(|e| refusal(format!("replacing {}", shown(file_path)), e))?;
    // A line appended through a descriptor opened before the rename went to the replaced file:
    // once no process of this user holds it open for writing any more, merge again from it,
    // with whatever was appended to the new one since.
    let Some(node) = held else {
        return Ok(Replaced::Done);
    };
    wait_for_writers(&node.stat).map_err(|why| {
        Error::failed(format!(
            "{}: replaced, but {why}; what it writes now goes to the old file: run again once it is done",
            shown(file_path)
        ))
    })?;
    let late = node
        .read(MAX_FILE)
        .map_err(|e| refusal(shown(file_path), e))?;
    if Some(&late[..]) == on_disk {
        return Ok(Replaced::Done);
    }
    // The new file as it is now (what this run wrote, and what was appended to it since), with
    // what arrived in the replaced file after it was read.
    let mut next = read_current(ssh, file_path)?
        .map(|(content, _)| content)
        .unwrap_or_default();
    let arrived = match on_disk {
        Some(read) if late.starts_with(read) => &late[read.len()..],
        _ => &late[..],
    };
    if !next.is_empty() && !next.ends_with(b"\n") {
        next.push(b'\n');
    }
    next.extend_from_slice(arrived);
    Ok(Replaced::LinesArrived(next))
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// An error on `what`, worded for the two refusals a hostile home produces.
fn refusal(what: String, e: std::io::Error) -> Error {
    let why = match e.raw_os_error() {
        Some(libc::ELOOP) => "it is a symbolic link; refusing to follow it".to_string(),
        Some(libc::ENOTDIR) => "it is not a directory".to_string(),
        _ => describe_io(&e),
    };
    Error::failed(format!("{what}: {why}"))
}

/// The home, opened without following a link; owned by the user or root, as sshd demands.
fn open_home(home: &Path) -> Result<safefs::Dir> {
    let home_dir = safefs::Dir::open(home).map_err(|e| refusal(shown(home), e))?;
    let st = home_dir.stat().map_err(|e| refusal(shown(home), e))?;
    let me = privilege::euid();
    if st.uid != me && st.uid != 0 {
        return Err(Error::failed(format!(
            "{}: owned by uid {}, not by the user (uid {me}) or root; sshd would refuse it and nothing is written",
            shown(home),
            st.uid
        )));
    }
    Ok(home_dir)
}

/// Waits (at most 2 s, then an error) until no other process this user may look at holds the
/// file `st` open for writing: a writer that opened it before it was replaced writes to it, not
/// to the new one, and what it writes must be read before the run ends. Looks through /proc;
/// without /proc there is nothing to wait for.
fn wait_for_writers(st: &hwc_core::safefs::Stat) -> std::result::Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while writer_holds(st) {
        if std::time::Instant::now() >= deadline {
            return Err("a process still holds the old file open for writing after 2 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(())
}

/// Whether a process other than this one has `st` open for writing.
fn writer_holds(st: &hwc_core::safefs::Stat) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = std::process::id().to_string();
    let Ok(procs) = hwc_core::safefs::list_dir(std::path::Path::new("/proc")) else {
        return false;
    };
    for pid in procs {
        let pid = pid.to_string_lossy();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = std::path::Path::new("/proc").join(&*pid);
        let Ok(fds) = hwc_core::safefs::list_dir(&dir.join("fd")) else {
            continue;
        };
        for fd in fds {
            let same = std::fs::metadata(dir.join("fd").join(&fd))
                .is_ok_and(|m| m.dev() == st.dev && m.ino() == st.ino);
            if !same {
                continue;
            }
            let info = dir.join("fdinfo").join(&fd);
            let writes = std::fs::read_to_string(info).is_ok_and(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                    .is_some_and(|flags| flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32)
            });
            if writes {
                return true;
            }
        }
    }
    false
}

/// How often a merge is redone because the file changed under it.
const MAX_ATTEMPTS: u32 = 5;

/// The current authorized_keys' content, and the file itself (held, to read again after it was
/// replaced); `None` when there is none. Looked at before it is opened: a link is refused, and
/// anything but a regular file is never opened.
fn read_current(ssh: &safefs::Dir, file_path: &Path) -> Result<Option<(Vec<u8>, safefs::Node)>> {
    let Some(node) = ssh
        .node("authorized_keys")
        .map_err(|e| refusal(shown(file_path), e))?
    else {
        return Ok(None);
    };
    if node.stat.is_link() {
        return Err(refusal(
            shown(file_path),
            std::io::Error::from_raw_os_error(libc::ELOOP),
        ));
    }
    if !node.stat.is_file() {
        return Err(Error::failed(format!(
            "{}: it is a {}, not a regular file; refusing",
            shown(file_path),
            node.stat.kind()
        )));
    }
    let content = node
        .read(MAX_FILE)
        .map_err(|e| refusal(shown(file_path), e))?;
    Ok(Some((content, node)))
}

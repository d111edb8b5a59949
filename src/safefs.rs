//! Writing where a user has control, as root, without being tricked: walk from a directory fd one
//! component at a time with `O_NOFOLLOW`, check every fd with `fstat`, create with `O_EXCL`,
//! replace by `renameat` after `fsync`, and do all of it as the user (`run_as`), so the kernel's
//! own permission checks apply and files get the user as owner.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// What `fstat` says about an open file.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// `regular file`, `directory`, `symbolic link`, `FIFO`, ... for messages.
    pub fn kind(&self) -> &'static str {
        match self.mode & libc::S_IFMT {
            libc::S_IFREG => "regular file",
            libc::S_IFDIR => "directory",
            libc::S_IFLNK => "symbolic link",
            libc::S_IFIFO => "FIFO",
            libc::S_IFSOCK => "socket",
            libc::S_IFCHR => "character device",
            libc::S_IFBLK => "block device",
            _ => "special file",
        }
    }
}

pub fn fstat(fd: RawFd) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `stat`; it is read only after fstat succeeded and
    // filled it.
    check(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so the kernel initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok(Stat {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// `stat` by path, following links (what sshd's StrictModes walk does).
pub fn stat(path: &Path) -> io::Result<Stat> {
    let c = cstr(path.as_os_str())?;
    let fd = open_raw(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_CLOEXEC)?;
    fstat(fd.as_raw_fd())
}

fn open_raw(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the mode argument is read only with O_CREAT, and then
    // callers pass it through `create_excl`, not here.
    let fd = check(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An open directory, reached without following symbolic links.
pub struct Dir {
    fd: OwnedFd,
}

/// Opens the directory `name` under `dir` without following a link. Linux answers a symbolic
/// link there with ENOTDIR (O_DIRECTORY is checked first); it is turned into ELOOP so callers can
/// say what it really is.
fn open_dir_nofollow(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match open_raw(dir, name, flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: `name` is NUL-terminated and `st` is valid for one `stat`; its contents
            // are read only when the call succeeded.
            let ok = unsafe {
                libc::fstatat(
                    dir,
                    name.as_ptr(),
                    st.as_mut_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            } == 0;
            // SAFETY: read only when fstatat returned 0 and filled `st`.
            if ok && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            Err(e)
        }
        r => r,
    }
}

impl Dir {
    /// Opens an absolute or relative directory path, refusing a symbolic link as the last
    /// component (earlier components are the system's: `/home`, `/run`).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = cstr(path.as_os_str())?;
        Ok(Dir {
            fd: open_dir_nofollow(libc::AT_FDCWD, &c)?,
        })
    }

    /// The child directory `name` (one component), refusing symbolic links (`ELOOP`) and
    /// anything that is not a directory (`ENOTDIR`).
    pub fn open_dir(&self, name: &str) -> io::Result<Dir> {
        let c = cstr(OsStr::new(name))?;
        Ok(Dir {
            fd: open_dir_nofollow(self.fd.as_raw_fd(), &c)?,
        })
    }

    /// Creates the child directory `name` with `mode` (before the umask). `Ok(false)` when
    /// something of that name already exists.
    pub fn mkdir(&self, name: &str, mode: u32) -> io::Result<bool> {
        let c = cstr(OsStr::new(name))?;
        // SAFETY: `c` is NUL-terminated and the directory fd is open.
        match check(unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), mode) }) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Opens the child `name` for reading without following a link and without blocking on a
    /// FIFO; the caller checks the kind with [`Dir`]'s `fstat` result. `Ok(None)` when missing.
    pub fn open_read(&self, name: &str) -> io::Result<Option<(std::fs::File, Stat)>> {
        let c = cstr(OsStr::new(name))?;
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        match open_raw(self.fd.as_raw_fd(), &c, flags) {
            Ok(fd) => {
                let st = fstat(fd.as_raw_fd())?;
                Ok(Some((std::fs::File::from(fd), st)))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates `name` exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) with `mode`.
    pub fn create_excl(&self, name: &str, mode: u32) -> io::Result<std::fs::File> {
        let c = cstr(OsStr::new(name))?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `c` is NUL-terminated; with O_CREAT the mode argument is passed as the
        // variadic third argument, as openat expects.
        let fd = check(unsafe {
            libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint)
        })?;
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Removes the file `name` (never follows a link: unlinkat removes the link itself).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        let c = cstr(OsStr::new(name))?;
        // SAFETY: `c` is NUL-terminated and the directory fd is open.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) }).map(|_| ())
    }

    /// Renames `from` over `to` within this directory, atomically.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (f, t) = (cstr(OsStr::new(from))?, cstr(OsStr::new(to))?);
        let fd = self.fd.as_raw_fd();
        // SAFETY: both names are NUL-terminated and the directory fd is open.
        check(unsafe { libc::renameat(fd, f.as_ptr(), fd, t.as_ptr()) }).map(|_| ())
    }

    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: fsync on an open fd has no memory-safety preconditions.
        check(unsafe { libc::fsync(self.fd.as_raw_fd()) }).map(|_| ())
    }

    pub fn stat(&self) -> io::Result<Stat> {
        fstat(self.fd.as_raw_fd())
    }

    /// Replaces `name` with `data` atomically: write `tmp` (`O_EXCL`, `mode`), `fsync` it,
    /// rename it over `name`, `fsync` the directory. A `tmp` left by a crash is removed first.
    /// On any error `name` is untouched and `tmp` is removed.
    pub fn replace(&self, name: &str, tmp: &str, data: &[u8], mode: u32) -> io::Result<()> {
        match self.unlink(tmp) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            _ => {}
        }
        let result = (|| {
            use std::io::Write;
            let mut file = self.create_excl(tmp, mode)?;
            file.write_all(data)?;
            file.sync_all()?;
            drop(file);
            self.rename(tmp, name)
        })();
        if result.is_err() {
            let _ = self.unlink(tmp);
        }
        result?;
        self.sync()
    }
}

/// The ids a process acts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Becomes `ids` for good: supplementary groups, then gid, then uid (real, effective, saved), and
/// verifies it took, with no capability left. Fails closed.
fn become_user(ids: &Ids) -> Result<()> {
    let fail = |what: &str| {
        Error::io(
            format!("dropping privileges to uid {}: {what}", ids.uid),
            &io::Error::last_os_error(),
        )
    };
    // SAFETY: `groups` is a valid array of `len` gid_t values.
    if unsafe { libc::setgroups(ids.groups.len(), ids.groups.as_ptr()) } != 0 {
        return Err(fail("setgroups"));
    }
    // SAFETY: plain syscalls on integers.
    if unsafe { libc::setresgid(ids.gid, ids.gid, ids.gid) } != 0 {
        return Err(fail("setresgid"));
    }
    // SAFETY: plain syscall on integers.
    if unsafe { libc::setresuid(ids.uid, ids.uid, ids.uid) } != 0 {
        return Err(fail("setresuid"));
    }
    let (mut r, mut e, mut s) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: the pointers are to valid local integers.
    let ok = unsafe {
        libc::getresuid(&mut r, &mut e, &mut s) == 0
            && libc::getresgid(&mut rg, &mut eg, &mut sg) == 0
    };
    if !ok || [r, e, s] != [ids.uid; 3] || [rg, eg, sg] != [ids.gid; 3] {
        return Err(Error::failed(format!(
            "dropping privileges to uid {}: ids did not change",
            ids.uid
        )));
    }
    for set in [caps::CapSet::Effective, caps::CapSet::Permitted] {
        let held = caps::read(None, set)
            .map_err(|e| Error::failed(format!("reading capabilities: {e}")))?;
        if !held.is_empty() && ids.uid != 0 {
            return Err(Error::failed(format!(
                "capabilities left after dropping to uid {}: {held:?}",
                ids.uid
            )));
        }
    }
    Ok(())
}

/// Runs `work` as the user `ids`. As root for another user: in a forked child that drops to the
/// user first; `work` prints its own output and the child's status is returned. As the user
/// already: directly. Otherwise: an error (only root may act for another user).
pub fn run_as(applet: &str, ids: &Ids, work: impl FnOnce() -> Result<u8>) -> Result<u8> {
    let me = euid();
    if me == ids.uid {
        return work();
    }
    if me != 0 {
        return Err(Error::failed(format!(
            "acting for uid {} needs root (running as uid {me})",
            ids.uid
        ))
        .hint("run as root"));
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: hwc is single-threaded, so the child may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io("fork", &io::Error::last_os_error()));
    }
    if pid == 0 {
        let status = match become_user(ids).and_then(|()| work()) {
            Ok(status) => status,
            Err(err) => {
                if !err.is_quiet() {
                    eprintln!("{applet}: {err}");
                }
                err.status()
            }
        };
        let _ = std::io::stdout().flush();
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(i32::from(status)) };
    }
    let mut wstatus = 0;
    loop {
        // SAFETY: `wstatus` is a valid local; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut wstatus, 0) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::io("waiting for the worker process", &err));
        }
    }
    if libc::WIFEXITED(wstatus) {
        Ok(libc::WEXITSTATUS(wstatus) as u8)
    } else {
        Err(Error::failed(format!(
            "the worker acting as uid {} was killed by signal {}",
            ids.uid,
            libc::WTERMSIG(wstatus)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_atomic_and_cleans_stale_temp() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open(d.path()).unwrap();
        std::fs::write(d.path().join("f.tmp"), "stale").unwrap();
        dir.replace("f", "f.tmp", b"one\n", 0o600).unwrap();
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"one\n");
        assert!(!d.path().join("f.tmp").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600 & !0o022);
    }

    #[test]
    fn open_refuses_links_and_reports_kinds() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", d.path().join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("flink")).unwrap();
        let dir = Dir::open(d.path()).unwrap();
        assert_eq!(
            dir.open_dir("link").err().unwrap().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            dir.open_read("flink").err().unwrap().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert!(dir.open_read("missing").unwrap().is_none());
        let (_, st) = dir.open_read("real").unwrap().unwrap();
        assert!(st.is_dir());
        assert!(!dir.mkdir("real", 0o700).unwrap());
        assert!(dir.mkdir("new", 0o700).unwrap());
        assert_eq!(
            Dir::open(&d.path().join("link"))
                .err()
                .unwrap()
                .raw_os_error(),
            Some(libc::ELOOP)
        );
        std::fs::write(d.path().join("file"), "").unwrap();
        assert_eq!(
            dir.open_dir("file").err().unwrap().raw_os_error(),
            Some(libc::ENOTDIR)
        );
    }

    #[test]
    fn run_as_self_runs_directly() {
        let ids = Ids {
            uid: euid(),
            gid: 0,
            groups: vec![],
        };
        assert_eq!(run_as("t", &ids, || Ok(7)).unwrap(), 7);
    }
}

//! Reaching files someone else controls, as root, without being tricked.
//!
//! Two tools: [`open_nofollow`] reaches a path given on a command line without following a
//! symbolic link in any component and holds the file by an `O_PATH` descriptor, through which it
//! is checked and changed (no second lookup); [`Dir`] walks from a directory fd one component at
//! a time with `O_NOFOLLOW`, creates with `O_EXCL`, replaces by `renameat` after `fsync`. Work in
//! a user's home runs as the user ([`crate::privilege::run_as`], with a deadline), so the kernel's own permission
//! checks apply and files get the user as owner. [`read_file`] is the one bounded reader of
//! outside data: regular files only, opened non-blocking, with a size cap.

use std::ffi::{CStr, CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, AT_FDCWD};
use nix::sys::stat::Mode;

use crate::error::describe_io;
use hwc_sys as sys;

/// What `fstat` says about an open file.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub nlink: u64,
}

impl Stat {
    fn from_nix(st: &nix::sys::stat::FileStat) -> Stat {
        Stat {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            #[allow(clippy::unnecessary_cast)] // nlink_t's width differs between architectures
            nlink: st.st_nlink as u64,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    pub fn is_link(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// The same inode as `other`.
    pub fn same_file(&self, other: &Stat) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
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

pub fn fstat(fd: impl AsFd) -> io::Result<Stat> {
    Ok(Stat::from_nix(&nix::sys::stat::fstat(fd)?))
}

/// `stat` by path, following links (what sshd's StrictModes walk does).
pub fn stat(path: &Path) -> io::Result<Stat> {
    let fd = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())?;
    fstat(&fd)
}

/// A file reached from a path without following a symbolic link in any component, held by an
/// `O_PATH` descriptor: what is checked (`stat`) and what is read or changed (through
/// `/proc/self/fd/N`) are one inode, whatever is renamed or swapped in the meantime. Opening it
/// this way has no effect on a device node.
pub struct Node {
    fd: OwnedFd,
    pub stat: Stat,
}

/// Why a path could not be reached: how far the walk got (the component that failed) and why.
#[derive(Debug)]
pub struct WalkError {
    pub at: PathBuf,
    pub err: io::Error,
}

impl WalkError {
    /// `PATH: reason`, a symbolic link or a non-directory on the way named as such.
    pub fn describe(&self) -> String {
        let why = match self.err.raw_os_error() {
            Some(libc::ELOOP) => {
                "is a symbolic link; refusing to follow it (name the real path)".to_string()
            }
            Some(libc::ENOTDIR) => "is not a directory".to_string(),
            _ => crate::error::describe_io(&self.err),
        };
        format!("{}: {why}", self.at.display())
    }
}

/// Reaches `path` (absolute, or relative to the working directory) one component at a time with
/// `O_PATH|O_NOFOLLOW`, refusing a symbolic link anywhere on the way or at the end (a trailing
/// `/` included) and anything but a directory before the last component. `..` is refused too:
/// it leads to the parent of the directory reached, which whoever owns that directory can move,
/// so `mine/sub/../../x` could end anywhere.
pub fn open_nofollow(path: &Path) -> std::result::Result<Node, WalkError> {
    let bytes = path.as_os_str().as_bytes();
    let fail = |at: &Path, err: io::Error| WalkError {
        at: at.to_path_buf(),
        err,
    };
    if bytes.is_empty() {
        return Err(fail(path, io::Error::from_raw_os_error(libc::ENOENT)));
    }
    let absolute = bytes[0] == b'/';
    let mut walked = PathBuf::from(if absolute { "/" } else { "" });
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let start = if absolute { "/" } else { "." };
    let mut fd = nix::fcntl::openat(AT_FDCWD, start, flags | OFlag::O_DIRECTORY, Mode::empty())
        .map_err(|e| fail(Path::new(start), e.into()))?;
    let mut stat = fstat(&fd).map_err(|e| fail(Path::new(start), e))?;
    // What follows the last name: a `/`, `/.` or `/..` asks for a directory.
    let last_raw = bytes
        .rsplit(|&b| b == b'/')
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    let wants_dir = bytes.ends_with(b"/") || last_raw == b"." || last_raw == b"..";
    let names: Vec<&[u8]> = bytes
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    if names.contains(&&b".."[..]) {
        return Err(fail(
            path,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "'..' in the path; refusing (name the node without '..')",
            ),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        walked.push(OsStr::from_bytes(name));
        let next = nix::fcntl::openat(&fd, *name, flags, Mode::empty())
            .map_err(|e| fail(&walked, e.into()))?;
        let st = fstat(&next).map_err(|e| fail(&walked, e))?;
        if st.is_link() {
            return Err(fail(&walked, io::Error::from_raw_os_error(libc::ELOOP)));
        }
        let last = i + 1 == names.len();
        if (!last || wants_dir) && !st.is_dir() {
            return Err(fail(&walked, io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        fd = next;
        stat = st;
    }
    Ok(Node { fd, stat })
}

/// Reaches `path` following symbolic links, as `getfacl` and `ls -L` do, and holds what it
/// reached: what is then read of it comes from that one inode.
pub fn open_follow(path: &Path) -> io::Result<Node> {
    let fd = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())?;
    let stat = fstat(&fd)?;
    Ok(Node { fd, stat })
}

/// `/proc/self/fd/N`: the file an `O_PATH` descriptor holds, for the calls that take no fd.
fn proc_fd_path(fd: &OwnedFd) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// Without /proc, `/proc/self/fd/N` is missing: say so rather than "No such file".
fn proc_error(err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ENOENT) && !Path::new("/proc/self/fd").is_dir() {
        return io::Error::other("reaching a file by its descriptor needs /proc mounted");
    }
    err
}

impl Node {
    /// The extended attribute `name`; `None` when the file has none.
    pub fn xattr(&self, name: &CStr) -> io::Result<Option<Vec<u8>>> {
        sys::fs::getxattr(&proc_fd_path(&self.fd), name, true).map_err(proc_error)
    }

    pub fn set_xattr(&self, name: &CStr, value: &[u8]) -> io::Result<()> {
        sys::fs::setxattr(&proc_fd_path(&self.fd), name, value).map_err(proc_error)
    }

    /// The path the kernel knows the node by now (`/proc/self/fd/N`'s target): no link in it.
    pub fn real_path(&self) -> io::Result<PathBuf> {
        let path = proc_fd_path(&self.fd);
        std::fs::read_link(OsStr::from_bytes(path.as_bytes())).map_err(proc_error)
    }

    /// The type magic of the file system holding the node (`fstatfs`), e.g. tmpfs's.
    pub fn fs_magic(&self) -> io::Result<i64> {
        let st = nix::sys::statfs::fstatfs(&self.fd)?;
        #[allow(clippy::unnecessary_cast)] // the type's width differs between architectures
        Ok(st.filesystem_type().0 as i64)
    }

    /// All of the node if it is a regular file of at most `cap` bytes; anything else is refused
    /// before it is opened.
    pub fn read(&self, cap: u64) -> io::Result<Vec<u8>> {
        if !self.stat.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is a {}, not a regular file", self.stat.kind()),
            ));
        }
        read_regular(self.open_read()?, &self.stat, cap)
    }

    /// Opens the node for reading, non-blocking, without a new lookup by name. Only for a node
    /// already seen to be a regular file: opening a device can have effects.
    pub fn open_read(&self) -> io::Result<std::fs::File> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        let path = proc_fd_path(&self.fd);
        let fd = nix::fcntl::open(path.as_c_str(), flags, Mode::empty())
            .map_err(|e| proc_error(e.into()))?;
        Ok(std::fs::File::from(fd))
    }
}

/// Who besides `uid` and root could move or replace what lies at the real path `path`: the first
/// directory above it that another user owns, or that others may write without the sticky bit
/// (or sticky but another user's, who may then rename anything in it). `None` when no one can.
pub fn foreign_hands(path: &Path, uid: u32) -> Option<String> {
    let ours = |owner: u32| owner == 0 || owner == uid;
    for dir in path.ancestors().skip(1) {
        let st = match std::fs::symlink_metadata(dir) {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                (m.uid(), m.mode())
            }
            Err(e) => {
                return Some(format!(
                    "{}: {}",
                    dir.display(),
                    crate::error::describe_io(&e)
                ))
            }
        };
        let (owner, mode) = st;
        if !ours(owner) {
            return Some(format!("{} belongs to uid {owner}", dir.display()));
        }
        if mode & 0o022 != 0 && mode & libc::S_ISVTX == 0 {
            return Some(format!(
                "{} (mode {:04o}) may be written by others",
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    None
}

/// The names in the directory at `path` (following links, as `read_dir`), `.` and `..` left out.
/// Unlike `std::fs::read_dir`, a failure to close the directory is no panic.
pub fn list_dir(path: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, Mode::empty())?;
    names_in(&fd, |entry| OsStr::from_bytes(entry).to_os_string())
}

/// Each name in the open directory `fd` (`.` and `..` left out), made into a `T` by `name`.
fn names_in<T>(fd: &OwnedFd, name: impl Fn(&[u8]) -> T) -> io::Result<Vec<T>> {
    let mut names = Vec::new();
    sys::fs::for_each_dirent(fd.as_fd(), |entry, _| names.push(name(entry)))?;
    Ok(names)
}

/// `fd`'s exclusive lock, waited for at most `limit` (then an error, never a hang).
fn lock_fd_within(fd: &OwnedFd, limit: std::time::Duration) -> io::Result<DirLock> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let fd = fd.try_clone()?;
        match nix::fcntl::Flock::lock(fd, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(DirLock(Some(lock))),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "another process has held its lock for too long",
                ))
            }
            Err((_, e)) => return Err(e.into()),
        }
    }
}

/// Root's lock file for the directory `st`: `/run/hwc/locks/DEV-INO`, in directories root owns
/// that no one else may write (made 0755 and 0700 when missing); `None` when that cannot be had.
fn root_lock_file(st: &Stat) -> Option<OwnedFd> {
    root_lock_file_named(&format!("{}-{}", st.dev, st.ino))
}

/// Root's lock for an object that is no file (a link in a network namespace), named `name` (a
/// file name: no `/`), held until dropped: `/run/hwc/locks/NAME`, as for a directory's changes.
/// Waited for at most `limit`. `None` when not root, or without a usable `/run`: then there is
/// nothing another run could share.
pub fn root_lock(name: &str, limit: std::time::Duration) -> io::Result<Option<DirLock>> {
    if name.contains('/') || !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match root_lock_file_named(name) {
        Some(file) => lock_fd_within(&file, limit).map(Some),
        None => Ok(None),
    }
}

fn root_lock_file_named(name: &str) -> Option<OwnedFd> {
    let run = Dir::open_walked(Path::new("/run")).ok()?;
    let private = |dir: &Dir| {
        dir.stat()
            .is_ok_and(|s| s.uid == 0 && s.mode & 0o022 == 0 && s.is_dir())
    };
    run.mkdir("hwc", 0o755).ok()?;
    let hwc = run.open_dir("hwc").ok()?;
    hwc.mkdir("locks", 0o700).ok()?;
    let locks = hwc.open_dir("locks").ok()?;
    if !(private(&hwc) && private(&locks)) {
        return None;
    }
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    nix::fcntl::openat(&locks.fd, name, flags, Mode::from_bits_truncate(0o600)).ok()
}

/// A directory's exclusive lock, released when dropped. A failed release is no failure of the
/// work done under it (nix's own guard panics then, aborting a run whose file was written): the
/// descriptor is kept open instead, and the lock goes when the process ends.
pub struct DirLock(Option<nix::fcntl::Flock<OwnedFd>>);

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(lock) = self.0.take() {
            if let Err((lock, _)) = lock.unlock() {
                std::mem::forget(lock);
            }
        }
    }
}

/// Writes `data` as the file `path` a caller named (a report, metrics), mode exactly `mode`:
/// only where a regular file of this user's, or nothing, stands (never over a device, a link, a
/// FIFO or a socket, nor another user's file); its directory reached with no link on the way
/// and refused when others may write it without the sticky bit; through a temporary file made
/// with `O_EXCL` and its final mode, renamed over the name, under the directory's lock, after
/// removing what killed runs left. The error is a sentence about `path`.
pub fn write_output(path: &Path, data: &[u8], mode: u32) -> std::result::Result<(), String> {
    let shown = path.display();
    let name = match path.file_name().and_then(|n| n.to_str()) {
        Some(n) if !path.as_os_str().as_bytes().ends_with(b"/") => n,
        _ => return Err(format!("{shown}: not a file name")),
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = Dir::open_walked(parent).map_err(|e| e.describe())?;
    let st = dir
        .stat()
        .map_err(|e| format!("{}: {}", parent.display(), describe_io(&e)))?;
    if st.mode & 0o022 != 0 && st.mode & libc::S_ISVTX == 0 {
        return Err(format!(
            "{}: others may write this directory (mode {:04o}), so what is written there is not only this run's; not writing {shown}",
            parent.display(),
            st.mode & 0o7777
        ));
    }
    let euid = nix::unistd::geteuid().as_raw();
    match dir.node(name) {
        Ok(None) => {}
        Ok(Some(n)) if !n.stat.is_file() => {
            return Err(format!(
                "{shown} is a {}, not a regular file; not replacing it",
                n.stat.kind()
            ))
        }
        Ok(Some(n)) if n.stat.uid != euid => {
            return Err(format!(
                "{shown} belongs to uid {}; not replacing another user's file",
                n.stat.uid
            ))
        }
        Ok(Some(_)) => {}
        Err(e) => return Err(format!("{shown}: {}", describe_io(&e))),
    }
    let io = |e: io::Error| format!("writing {shown}: {}", describe_io(&e));
    let _lock = dir
        .change_lock(std::time::Duration::from_secs(10))
        .map_err(io)?;
    dir.remove_stale_temps(name).map_err(io)?;
    dir.replace(name, data, mode).map_err(io)
}

/// Largest configuration or account file read (`/etc/passwd` of a large site included).
pub const MAX_CONFIG: u64 = 64 << 20;

/// Reads all of `file` (whose `fstat` is `st`) if it is a regular file of at most `cap` bytes.
/// The reasons it is not are errors worded for "reading PATH: ...".
pub fn read_regular(file: std::fs::File, st: &Stat, cap: u64) -> io::Result<Vec<u8>> {
    if !st.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is a {}, not a regular file", st.kind()),
        ));
    }
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {}", size_text(cap)),
        )
    };
    if st.size > cap {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(st.size as usize);
    file.take(cap + 1).read_to_end(&mut data)?;
    if data.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(data)
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The one reader of files from outside (configuration, account files, caches): follows links
/// (such files are often links, as on NixOS), looks at what the path leads to before opening it
/// (an `O_PATH` handle: a device node a link leads to is never opened, so never woken), opens
/// without blocking (a FIFO swapped in cannot hang it), and reads only a regular file of at most
/// `cap` bytes (never `/dev/zero` without end), the one it looked at.
pub fn read_file(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let seen = stat(path)?;
    if !seen.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is a {}, not a regular file", seen.kind()),
        ));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    let fd = nix::fcntl::open(path, flags, Mode::empty())?;
    let st = fstat(&fd)?;
    if !st.same_file(&seen) {
        return Err(io::Error::other("it was replaced while being opened"));
    }
    read_regular(std::fs::File::from(fd), &st, cap)
}

/// [`read_file`], with a missing file as `None`.
pub fn read_file_if_exists(path: &Path, cap: u64) -> io::Result<Option<Vec<u8>>> {
    match read_file(path, cap) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        r => r.map(Some),
    }
}

/// An open directory, reached without following symbolic links.
pub struct Dir {
    fd: OwnedFd,
}

/// Opens the directory `name` under `dir` without following a link. Linux answers a symbolic
/// link there with ENOTDIR (O_DIRECTORY is checked first); it is turned into ELOOP so callers can
/// say what it really is.
fn open_dir_nofollow<P: ?Sized + nix::NixPath>(dir: BorrowedFd, name: &P) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match nix::fcntl::openat(dir, name, flags, Mode::empty()) {
        Err(nix::errno::Errno::ENOTDIR) => {
            let st = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
            match st {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                    Err(io::Error::from_raw_os_error(libc::ELOOP))
                }
                _ => Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            }
        }
        r => r.map_err(Into::into),
    }
}

impl Dir {
    /// Opens an absolute or relative directory path, refusing a symbolic link as the last
    /// component, also when the path ends in `/` (earlier components are the system's: `/home`,
    /// `/run`).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let bytes = path.as_os_str().as_bytes();
        // "link/" would make the kernel follow the link despite O_NOFOLLOW, and in "link/." or
        // "link/.." the link is no longer the last component.
        let end = bytes.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
        let trimmed = &bytes[..end.min(bytes.len())];
        let last = trimmed.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if last == b"." || last == b".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path ends in '.' or '..'; name the directory itself",
            ));
        }
        Ok(Dir {
            fd: open_dir_nofollow(AT_FDCWD, OsStr::from_bytes(trimmed))?,
        })
    }

    /// The directory at `path`, reached one component at a time with no symbolic link
    /// anywhere on the way ([`open_nofollow`]).
    pub fn open_walked(path: &Path) -> std::result::Result<Dir, WalkError> {
        let node = open_nofollow(path)?;
        let fail = |err: io::Error| WalkError {
            at: path.to_path_buf(),
            err,
        };
        if !node.stat.is_dir() {
            return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd =
            nix::fcntl::openat(&node.fd, ".", flags, Mode::empty()).map_err(|e| fail(e.into()))?;
        Ok(Dir { fd })
    }

    /// The child directory `name` (one component), refusing symbolic links (`ELOOP`) and
    /// anything that is not a directory (`ENOTDIR`).
    pub fn open_dir(&self, name: &str) -> io::Result<Dir> {
        Ok(Dir {
            fd: open_dir_nofollow(self.fd.as_fd(), name)?,
        })
    }

    /// Creates the child directory `name` with exactly `mode`, whatever the umask (which can
    /// only have narrowed it meanwhile). `Ok(false)` when something of that name already exists.
    pub fn mkdir(&self, name: &str, mode: u32) -> io::Result<bool> {
        match nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(mode)) {
            Ok(()) => {
                // By name: the new directory may not be readable yet (umask 0777 makes it 0000,
                // which cannot be opened to fchmod it). A link swapped in meanwhile would need
                // this directory to be writable by someone else; hwc makes directories only in
                // ones that the acting user alone may change (its home, its runtime directory).
                nix::sys::stat::fchmodat(
                    &self.fd,
                    name,
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )?;
                Ok(true)
            }
            Err(nix::errno::Errno::EEXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The child `name`, reached without following a link and without opening it (so a device
    /// there is never opened); `Ok(None)` when missing. Read it with [`Node::open_read`] once
    /// its `stat` says it is a regular file.
    pub fn node(&self, name: &str) -> io::Result<Option<Node>> {
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match nix::fcntl::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => {
                let stat = fstat(&fd)?;
                Ok(Some(Node { fd, stat }))
            }
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates `name` exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) with exactly `mode`, whatever
    /// the umask: created with `mode` (the umask can only narrow it), then set to `mode` on the
    /// descriptor, which no one else holds.
    pub fn create_excl(&self, name: &str, mode: u32) -> io::Result<std::fs::File> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&self.fd, name, flags, Mode::from_bits_truncate(mode))?;
        if let Err(e) = nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode)) {
            let _ = self.unlink(name);
            return Err(e.into());
        }
        Ok(std::fs::File::from(fd))
    }

    /// Removes the file `name` (never follows a link: unlinkat removes the link itself).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        nix::unistd::unlinkat(&self.fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
            .map_err(Into::into)
    }

    /// Renames `from` over `to` within this directory, atomically.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        nix::fcntl::renameat(&self.fd, from, &self.fd, to).map_err(Into::into)
    }

    pub fn sync(&self) -> io::Result<()> {
        nix::unistd::fsync(&self.fd).map_err(Into::into)
    }

    pub fn stat(&self) -> io::Result<Stat> {
        fstat(&self.fd)
    }

    /// Replaces `name` with `data` atomically: write a temporary file beside it whose name is
    /// this process's own (`NAME.tmp.PID`, `O_EXCL`, `mode`), `fsync` it, rename it over
    /// `name`, `fsync` the directory. On any error `name` is untouched and the temporary file
    /// is removed.
    pub fn replace(&self, name: &str, data: &[u8], mode: u32) -> io::Result<()> {
        let tmp = format!("{name}.tmp.{}", std::process::id());
        let result = (|| {
            use std::io::Write;
            let mut file = self.create_excl(&tmp, mode)?;
            file.write_all(data)?;
            file.sync_all()?;
            drop(file);
            self.rename(&tmp, name)
        })();
        if result.is_err() {
            let _ = self.unlink(&tmp);
        }
        result?;
        self.sync()
    }

    /// Removes the temporary files [`Dir::replace`] leaves for `name` when killed (`NAME.tmp`
    /// and `NAME.tmp.*`). Only under [`Dir::lock`]: another run's file may be in use otherwise.
    pub fn remove_stale_temps(&self, name: &str) -> io::Result<()> {
        let prefix = format!("{name}.tmp");
        let stale = self.entries()?.into_iter().filter(|entry| {
            entry
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        });
        for name in stale {
            match self.unlink(&name) {
                Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Makes `name` a symbolic link to `target`, replacing what is there in one step (the link
    /// is made under a name of this process's own, then renamed over `name`).
    pub fn symlink(&self, target: &Path, name: &str) -> io::Result<()> {
        let tmp = format!(".{name}.tmp.{}", std::process::id());
        let _ = self.unlink(&tmp);
        nix::unistd::symlinkat(target, &self.fd, tmp.as_str())?;
        self.rename(&tmp, name).inspect_err(|_| {
            let _ = self.unlink(&tmp);
        })
    }

    /// The names in this directory, `.` and `..` left out.
    pub fn entries(&self) -> io::Result<Vec<String>> {
        let listing = nix::fcntl::openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        names_in(&listing, |entry| {
            String::from_utf8_lossy(entry).into_owned()
        })
    }

    /// Removes the empty directory `name`.
    pub fn remove_dir(&self, name: &str) -> io::Result<()> {
        nix::unistd::unlinkat(&self.fd, name, nix::unistd::UnlinkatFlags::RemoveDir)
            .map_err(Into::into)
    }

    /// The path the kernel knows this directory by now.
    pub fn real_path(&self) -> io::Result<PathBuf> {
        let path = proc_fd_path(&self.fd);
        std::fs::read_link(OsStr::from_bytes(path.as_bytes())).map_err(proc_error)
    }

    /// Takes the exclusive `flock` of this directory, waiting for whoever holds it; released
    /// when the returned guard is dropped. Serialises runs that change the same directory.
    /// The directory's exclusive lock, waited for at most `limit` (anyone who may read a
    /// directory may lock it, and hold it: then this is an error, not a hang).
    pub fn lock_within(&self, limit: std::time::Duration) -> io::Result<DirLock> {
        lock_fd_within(&self.fd, limit)
    }

    /// The lock that changes in this directory take: as root, a file of root's alone under
    /// `/run/hwc/locks` named by the directory's device and inode, which no other user can hold
    /// (and so hold up root's run); as another user, or without a usable `/run`, the
    /// directory's own lock. Waited for at most `limit`.
    pub fn change_lock(&self, limit: std::time::Duration) -> io::Result<DirLock> {
        if nix::unistd::geteuid().is_root() {
            if let Some(file) = root_lock_file(&self.stat()?) {
                return lock_fd_within(&file, limit);
            }
        }
        self.lock_within(limit)
    }

    pub fn lock(&self) -> io::Result<DirLock> {
        let fd = self.fd.try_clone()?;
        nix::fcntl::Flock::lock(fd, nix::fcntl::FlockArg::LockExclusive)
            .map(|lock| DirLock(Some(lock)))
            .map_err(|(_, e)| e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_atomic_and_stale_temps_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open(d.path()).unwrap();
        std::fs::write(d.path().join("f.tmp"), "stale").unwrap();
        std::fs::write(d.path().join("f.tmp.99999"), "stale").unwrap();
        std::fs::write(d.path().join("f.tmpfile"), "not ours").unwrap();
        let _guard = dir.lock().unwrap();
        dir.remove_stale_temps("f").unwrap();
        dir.replace("f", b"one\n", 0o600).unwrap();
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"one\n");
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["f", "f.tmpfile"]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600 & !0o022);
    }

    #[test]
    fn nofollow_walk_refuses_links_anywhere() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("real/sub")).unwrap();
        std::fs::write(p.join("real/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("real", p.join("dlink")).unwrap();
        std::os::unix::fs::symlink("real/sub/f", p.join("flink")).unwrap();
        let ok = open_nofollow(&p.join("real/sub/f")).unwrap();
        assert!(ok.stat.is_file());
        assert!(open_nofollow(&p.join("real/./sub/f"))
            .unwrap()
            .stat
            .is_file());
        let e = open_nofollow(&p.join("real/sub/../sub/f")).err().unwrap();
        assert!(
            e.describe().contains("'..' in the path"),
            "{}",
            e.describe()
        );
        for bad in [
            "dlink/sub/f",
            "dlink/",
            "dlink",
            "flink",
            "real/sub/f/",
            "real/none",
        ] {
            let e = open_nofollow(&p.join(bad)).err().unwrap();
            let want = match bad {
                "real/sub/f/" => libc::ENOTDIR,
                "real/none" => libc::ENOENT,
                _ => libc::ELOOP,
            };
            assert_eq!(e.err.raw_os_error(), Some(want), "{bad}");
        }
        let e = open_nofollow(&p.join("dlink/sub/f")).err().unwrap();
        assert_eq!(e.at, p.join("dlink"), "names the link");
        assert!(e
            .describe()
            .ends_with("dlink: is a symbolic link; refusing to follow it (name the real path)"));
        assert!(
            Dir::open(&p.join("dlink/")).is_err(),
            "a trailing / is no way round"
        );
        assert!(Dir::open(&p.join("dlink/.")).is_err(), "nor is /.");
        assert!(Dir::open(&p.join("dlink/sub/..")).is_err(), "nor /..");
        assert!(Dir::open(&p.join("real/")).is_ok());
    }

    #[test]
    fn bounded_reads_refuse_fifos_devices_and_huge_files() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_file(&fifo, 100).unwrap_err();
        assert_eq!(e.to_string(), "it is a FIFO, not a regular file");
        let e = read_file(Path::new("/dev/zero"), 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a character device, not a regular file"
        );
        std::fs::write(d.path().join("big"), vec![b'x'; 101]).unwrap();
        let e = read_file(&d.path().join("big"), 100).unwrap_err();
        assert_eq!(e.to_string(), "it is larger than 100 bytes");
        assert_eq!(read_file(&d.path().join("big"), 101).unwrap().len(), 101);
        assert!(read_file_if_exists(&d.path().join("none"), 1)
            .unwrap()
            .is_none());
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
        assert!(dir.node("flink").unwrap().unwrap().stat.is_link());
        assert!(dir.node("missing").unwrap().is_none());
        assert!(dir.node("real").unwrap().unwrap().stat.is_dir());
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
}

//! The small syscall layer: the only module with `unsafe`. Each wrapper takes NUL-terminated
//! paths the caller already built (see [`crate::root::StackPath`]) so nothing here allocates.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `dir` argument of the `*_at` calls for paths relative to the working directory (or absolute).
pub const CWD: RawFd = libc::AT_FDCWD;

/// Reads the start of a small file (a sysfs attribute) into `buf` with a single `read`, as sysfs
/// serves an attribute whole. `path` is relative to the directory `dir` (or absolute, with
/// [`CWD`]). Returns the number of bytes read.
pub fn read_small_at(dir: RawFd, path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; the flags
    // ask for no creation, so no mode argument is read.
    let fd = unsafe {
        libc::openat(
            dir,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `fd` is open and ours.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    let err = io::Error::last_os_error();
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    if n < 0 {
        return Err(err);
    }
    Ok(n as usize)
}

/// Opens a directory for `*_at` lookups (later reads relative to it skip walking the long path
/// again, which is most of what a sysfs read costs) and for listing with [`for_each_dirent`].
pub fn open_dir_handle(dir: RawFd, path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated; no mode argument is read without O_CREAT.
    let fd = unsafe {
        libc::openat(
            dir,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of the symbolic link `path` (relative to `dir`), into `buf`. A target that fills
/// `buf` may have been cut short and is reported as an error.
pub fn readlink_at(dir: RawFd, path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is NUL-terminated and `buf` is valid for writes of `buf.len()` bytes;
    // readlinkat writes no NUL and never more than the length given.
    let n = unsafe { libc::readlinkat(dir, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n == buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    Ok(n)
}

/// Whether `path` exists, by `stat` only: used where opening would have an effect (a `/dev`
/// node wakes the GPU behind it).
pub fn exists(path: &CStr) -> bool {
    // SAFETY: `path` is NUL-terminated; `st` is a plain-data struct the kernel fills and we
    // never read uninitialised memory because only the return value is used.
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) == 0 }
}

/// Makes a write to a closed pipe fail with EPIPE instead of killing the process, so an applet
/// whose reader went away (`hwc-gpu-detect | head -1`) can end quietly with status 0.
pub fn ignore_sigpipe() {
    // SAFETY: installing SIG_IGN for SIGPIPE has no memory-safety preconditions; hwc is
    // single-threaded.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Opens `/dev/null` on any of fds 0, 1, 2 that is closed, so a file hwc opens later can never
/// become its stdout (what Rust's runtime does before `main`; hwc enters through C `main`).
pub fn ensure_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd structs for the duration of the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        let flags = if pfd.fd == 0 {
            libc::O_RDONLY
        } else {
            libc::O_RDWR
        };
        // SAFETY: the path is a NUL-terminated literal. The lowest free descriptor is the closed
        // one being filled, so the new fd lands on it; it is intentionally kept open.
        if unsafe { libc::open(c"/dev/null".as_ptr(), flags) } < 0 {
            // Without a safe stdio there is nothing reliable left to report to.
            std::process::abort();
        }
    }
}

/// Replaces this process with `program`, searched in `PATH` like `execvp` (glibc's: a script
/// without `#!` runs under `/bin/sh`), with the process environment. The pid, the signal mask
/// and signal dispositions carry over as hwc received them. Returns only on failure.
pub fn execvp(program: &CStr, argv: &[CString]) -> io::Error {
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: `program` is NUL-terminated; the pointer array ends with a null pointer and points
    // into `argv`, which outlives the call. On success the call does not return.
    unsafe { libc::execvp(program.as_ptr(), argv_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

/// Calls `f` with the name of each entry of the open directory `fd` (`.` and `..` included),
/// read with `getdents64` into a stack buffer from the fd's current offset (once per fd).
pub fn for_each_dirent(fd: RawFd, mut f: impl FnMut(&[u8])) -> io::Result<()> {
    // u64 elements keep the buffer 8-byte aligned, as linux_dirent64 records need. 2 KiB: about
    // 60 PCI functions a call, and a shallow stack (each new stack page is a page fault).
    let mut buf = [0u64; 256];
    loop {
        // SAFETY: `buf` is valid for writes of its byte size; `fd` is an open directory.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the kernel wrote `n` bytes of initialised data at the start of `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name NUL-terminated.
        while at + 19 <= bytes.len() {
            let reclen = usize::from(u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]));
            if reclen < 19 || at + reclen > bytes.len() {
                break;
            }
            let name = &bytes[at + 19..at + reclen];
            let len = memchr::memchr(0, name).unwrap_or(name.len());
            f(&name[..len]);
            at += reclen;
        }
    }
}

/// The extended attribute `name` of `path` (following links when `follow`). `Ok(None)` when the
/// file has no such attribute.
pub fn getxattr(path: &CStr, name: &CStr, follow: bool) -> io::Result<Option<Vec<u8>>> {
    let call = |buf: &mut [u8]| {
        let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
        // SAFETY: `path` and `name` are NUL-terminated; `ptr` is valid for `len` bytes (a null
        // pointer with length 0 asks for the size only, which the kernel allows).
        let n = unsafe {
            if follow {
                libc::getxattr(path.as_ptr(), name.as_ptr(), ptr, len)
            } else {
                libc::lgetxattr(path.as_ptr(), name.as_ptr(), ptr, len)
            }
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    };
    loop {
        let size = match call(&mut []) {
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => return Ok(None),
            r => r?,
        };
        let mut buf = vec![0u8; size];
        match call(&mut buf) {
            // The attribute grew between the two calls: ask again.
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => return Ok(None),
            Err(e) => return Err(e),
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
        }
    }
}

/// Sets the extended attribute `name` of the file `path` leads to. Used with
/// `/proc/self/fd/N` of a descriptor already checked, so the file written is the file checked.
pub fn setxattr(path: &CStr, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `path` and `name` are NUL-terminated; `value` is valid for its length.
    let r = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A descriptor that becomes readable when the child `pid` exits (`pidfd_open`, Linux 5.3), so
/// a wait can have a deadline without polling.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A bound rtnetlink socket; `groups` is the multicast group mask to listen to (0 for none).
pub fn netlink_route_socket(groups: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value that we then fill in.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_nl of `len` bytes for the duration of the call.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            len,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Sets an int socket option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int for the duration of the call and its size is given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes all of `buf` to `fd`, going on after a short write or EINTR.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = buf.get(n as usize..).unwrap_or_default();
        } else if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        } else {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Sends one datagram whole.
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Receives one datagram into `buf`, never cut: it is peeked into a 32 KiB buffer with
/// MSG_PEEK|MSG_TRUNC (which also tells a netlink socket's dumps to fill chunks that large,
/// instead of one link per datagram), then consumed with a zero-length read, or read again into
/// a buffer of its real size when it was larger. `buf` is reused from call to call.
pub fn recv_datagram(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<()> {
    let call = |buf: &mut [u8], flags: libc::c_int| loop {
        // SAFETY: `buf` is valid for writes of its length (a zero-length read is allowed).
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    buf.resize(32 * 1024, 0);
    let size = call(buf, libc::MSG_PEEK | libc::MSG_TRUNC)?;
    if size <= buf.len() {
        call(&mut [], 0)?;
        buf.truncate(size);
        return Ok(());
    }
    buf.resize(size, 0);
    let n = call(buf, libc::MSG_TRUNC)?;
    if n > buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "netlink datagram truncated",
        ));
    }
    buf.truncate(n);
    Ok(())
}

/// Waits until `fd` is readable or `timeout_ms` passes (negative: forever). Ok(false) on timeout.
pub fn poll_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    poll_one(fd, libc::POLLIN, timeout_ms)
}

/// Waits until `fd` can take a write or `timeout_ms` passes. Ok(false) on timeout.
pub fn poll_writable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    poll_one(fd, libc::POLLOUT, timeout_ms)
}

fn poll_one(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `p` is one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Moves this (single-threaded) process into the network namespace `fd` refers to.
pub fn enter_net_namespace(fd: RawFd) -> io::Result<()> {
    // SAFETY: setns on an fd we hold; hwc is single-threaded, as setns of a net namespace wants.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

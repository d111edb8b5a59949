//! The small syscall layer: the only module with `unsafe`. Each wrapper takes NUL-terminated
//! paths the caller already built (see [`crate::root::StackPath`]) so nothing here allocates.

use std::ffi::{CStr, CString};
use std::io;

/// Reads the start of a small file (a sysfs attribute) into `buf` with a single `read`, as sysfs
/// serves an attribute whole. Returns the number of bytes read.
pub fn read_small(path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; the flags
    // ask for no creation, so no mode argument is read.
    let fd = unsafe {
        libc::open(
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

/// The target of the symbolic link `path`, into `buf`. A target that fills `buf` may have been
/// cut short and is reported as an error.
pub fn readlink(path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is NUL-terminated and `buf` is valid for writes of `buf.len()` bytes;
    // readlink writes no NUL and never more than the length given.
    let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
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

/// Rust's runtime sets SIGPIPE to "ignore" before `main`, and an ignored signal stays ignored
/// across `execve`: a program started by hwc must get the default back.
pub fn restore_default_sigpipe() {
    // SAFETY: installing SIG_DFL for SIGPIPE has no memory-safety preconditions; we run
    // single-threaded at this point.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Replaces this process with `program`, searched in `PATH` like `execvp` (glibc's `execvpe`:
/// a script without `#!` runs under `/bin/sh`), with exactly the environment `envp`. The pid,
/// the signal mask and ignored signals carry over; SIGPIPE gets its default back first. Returns
/// only on failure.
pub fn execvpe(program: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    restore_default_sigpipe();
    // SAFETY: `program` is NUL-terminated; both pointer arrays end with a null pointer and point
    // into `argv`/`envp`, which outlive the call. On success the call does not return.
    unsafe { libc::execvpe(program.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

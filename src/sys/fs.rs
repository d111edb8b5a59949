//! File-system calls nix lacks or would allocate for: hot paths (gpu-launch) read sysfs without
//! touching the heap.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The target of the symbolic link `path` (relative to `dir`) into `buf`, without allocating
/// (nix's `readlinkat` returns an owned string). A target that fills `buf` may have been cut
/// short and is reported as an error.
pub fn readlink_at(dir: BorrowedFd<'_>, path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is NUL-terminated and `buf` is valid for writes of `buf.len()` bytes;
    // readlinkat writes no NUL and never more than the length given.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            path.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n == buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    Ok(n)
}

/// Calls `f` with the name and inode number of each entry of the open directory `fd` (`.` and
/// `..` left out), read with `getdents64` into a stack buffer from the fd's current offset (once
/// per fd). nix's `Dir` allocates a stream per directory.
pub fn for_each_dirent(fd: BorrowedFd<'_>, mut f: impl FnMut(&[u8], u64)) -> io::Result<()> {
    // u64 elements keep the buffer 8-byte aligned, as linux_dirent64 records need. 2 KiB: about
    // 60 PCI functions a call, and a shallow stack (each new stack page is a page fault).
    let mut buf = [0u64; 256];
    loop {
        // SAFETY: `buf` is valid for writes of its byte size; `fd`, borrowed, is open for the
        // call (a directory, or getdents64 fails with ENOTDIR).
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
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
        // SAFETY: the kernel wrote `n` bytes of initialised data at the start of `buf`, and `n`
        // is at most its size.
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
            let mut ino = [0u8; 8];
            ino.copy_from_slice(&bytes[at..at + 8]);
            let name = &name[..len];
            if name != b"." && name != b".." {
                f(name, u64::from_ne_bytes(ino));
            }
            at += reclen;
        }
    }
}

/// The extended attribute `name` of `path` (following links when `follow`). `Ok(None)` when the
/// file has no such attribute.
pub fn getxattr(path: &CStr, name: &CStr, follow: bool) -> io::Result<Option<Vec<u8>>> {
    let call = |buf: &mut [u8]| {
        let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
        // SAFETY: `path` and `name` are NUL-terminated; `ptr` is valid for `len` bytes (a
        // zero length asks for the size only, which the kernel allows).
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
    // SAFETY: `path` and `name` are NUL-terminated; `value` is valid for reads of its length.
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

//! Socket options nix has no name for.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Sets an integer socket option (netlink's NETLINK_EXT_ACK and friends, which nix's `sockopt`
/// module does not list).
pub fn setsockopt_int(
    fd: BorrowedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int for the duration of the call and its size is given;
    // `fd` is an open descriptor the caller holds.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
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

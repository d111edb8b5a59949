//! Waiting on a descriptor with a limit: every wait on a peer (a bus, a netlink socket, a child's
//! pipe) has one.

use std::io;
use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout};

/// Waits until `fd` is readable (or at its end) or `timeout_ms` passes (negative: forever).
/// `Ok(false)` on timeout.
pub fn readable(fd: impl AsFd, timeout_ms: i32) -> io::Result<bool> {
    ready(fd, PollFlags::POLLIN, timeout_ms)
}

/// Waits until `fd` can take a write or `timeout_ms` passes. `Ok(false)` on timeout.
pub fn writable(fd: impl AsFd, timeout_ms: i32) -> io::Result<bool> {
    ready(fd, PollFlags::POLLOUT, timeout_ms)
}

fn ready(fd: impl AsFd, events: PollFlags, timeout_ms: i32) -> io::Result<bool> {
    let timeout = if timeout_ms < 0 {
        PollTimeout::NONE
    } else {
        PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX)
    };
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), events)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

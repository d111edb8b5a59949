//! A synchronous rtnetlink client: one request at a time, replies matched by sequence number,
//! dumps read to NLMSG_DONE (whose payload may carry an error), a dump marked NLM_F_DUMP_INTR
//! retried whole, and kernel errors with their extended-ack text.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

use hwc_core::error::describe_io;
use hwc_sys as sys;
use libc::{NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, SOL_NETLINK};

use super::codec::{self, Request};

const DUMP_RETRIES: usize = 10;

/// A failure from the kernel (errno and extended-ack message) or from the socket.
#[derive(Debug)]
pub struct NlError {
    pub errno: i32,
    pub message: String,
}

impl NlError {
    fn io(e: std::io::Error) -> NlError {
        NlError {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            message: describe_io(&e),
        }
    }

    fn protocol(what: impl Into<String>) -> NlError {
        NlError {
            errno: libc::EPROTO,
            message: what.into(),
        }
    }
}

pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    /// The receive buffer, kept for the socket's life: a dump is dozens of 32 KiB datagrams.
    buf: Vec<u8>,
}

impl Socket {
    /// Opens an rtnetlink socket listening to the multicast `groups` (0: none).
    pub fn open(groups: u32) -> Result<Socket, NlError> {
        let nl = |e: nix::errno::Errno| NlError::io(e.into());
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(nl)?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)).map_err(nl)?;
        // Errors echo only the request header; extended acks carry the kernel's reason. Strict
        // checking makes the kernel honour dump filters (4.20+); older kernels just ignore it.
        for opt in [NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK] {
            let _ = sys::net::setsockopt_int(fd.as_fd(), SOL_NETLINK, opt, 1);
        }
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
        Ok(Socket {
            fd,
            seq,
            buf: Vec::new(),
        })
    }

    /// The receive buffer, for the caller to reuse once done with the socket's replies; the
    /// socket starts a new one if it is used again.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn send(&mut self, req: &Request) -> Result<u32, NlError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = req.finish(self.seq).map_err(|why| NlError {
            errno: libc::EMSGSIZE,
            message: why,
        })?;
        loop {
            match socket::send(self.fd.as_raw_fd(), &msg, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    r.map_err(|e| NlError::io(e.into()))?;
                    break;
                }
            }
        }
        Ok(self.seq)
    }

    /// Sends a request that wants an ACK (NLM_F_ACK set by the caller) and waits for it.
    pub fn request(&mut self, req: &Request) -> Result<(), NlError> {
        self.exchange(req, |_| {}).map(|_| ())
    }

    /// Sends a request and returns the payload of the single reply message (GETLINK by name).
    pub fn get(&mut self, req: &Request) -> Result<Vec<u8>, NlError> {
        let mut reply = None;
        self.exchange(req, |m| {
            reply.get_or_insert_with(|| m.payload.to_vec());
        })?;
        reply.ok_or_else(|| NlError::protocol("no reply"))
    }

    /// Runs a dump and returns what `parse` makes of the payload of each message of type `ty`
    /// (parsed where it was received, never copied); retried whole when interrupted.
    pub fn dump<T>(
        &mut self,
        req: &Request,
        ty: u16,
        mut parse: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, NlError> {
        // Room for ~120 KiB of entries from the start (1000 links): memory is touched only as
        // entries arrive, and a long dump does not copy (and fault in) its list as it grows.
        let room = (120 << 10) / std::mem::size_of::<T>().max(1);
        for _ in 0..DUMP_RETRIES {
            let mut out = Vec::with_capacity(room);
            let mut interrupted = false;
            self.exchange(req, |m| {
                interrupted |= m.flags & codec::F_DUMP_INTR != 0;
                if m.ty == ty {
                    out.extend(parse(m.payload));
                }
            })?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(NlError::protocol(format!(
            "the dump kept changing under us ({DUMP_RETRIES} tries)"
        )))
    }

    /// Sends `req` and feeds every data message of the reply to `each`, until the ACK, the
    /// error or the end of the dump.
    fn exchange(
        &mut self,
        req: &Request,
        mut each: impl FnMut(&codec::Message),
    ) -> Result<(), NlError> {
        let seq = self.send(req)?;
        loop {
            recv_datagram(self.fd.as_fd(), &mut self.buf).map_err(NlError::io)?;
            for m in codec::messages(&self.buf) {
                let m = m.map_err(NlError::protocol)?;
                // Replies carry our own port id in nlmsg_pid (not 0); the sequence number is
                // what ties them to the request. Notifications (seq 0) are skipped here.
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    codec::NLMSG_ERROR => {
                        let ack = codec::parse_error(&m).map_err(NlError::protocol)?;
                        if ack.errno == 0 {
                            return Ok(());
                        }
                        let why = std::io::Error::from_raw_os_error(ack.errno);
                        let mut message = describe_io(&why);
                        if let Some(text) = ack.message {
                            message.push_str(&format!(" (kernel: {text})"));
                        }
                        return Err(NlError {
                            errno: ack.errno,
                            message,
                        });
                    }
                    codec::NLMSG_DONE => {
                        let errno = codec::done_errno(&m);
                        if errno != 0 {
                            return Err(NlError::io(std::io::Error::from_raw_os_error(errno)));
                        }
                        return Ok(());
                    }
                    codec::NLMSG_OVERRUN => return Err(NlError::protocol("netlink overrun")),
                    _ => {
                        each(&m);
                        if m.flags & codec::F_MULTI == 0 {
                            // A single reply (a GET without DUMP); an ACK may still follow.
                            if req.flags() & codec::F_ACK == 0 {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Receives one datagram into `buf`, never cut: it is peeked into a 32 KiB buffer with
/// MSG_PEEK|MSG_TRUNC (which also tells a netlink socket's dumps to fill chunks that large,
/// instead of one link per datagram), then consumed with a zero-length read, or read again into
/// a buffer of its real size when it was larger. `buf` is reused from call to call.
pub fn recv_datagram(fd: BorrowedFd, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let call = |buf: &mut [u8], flags: MsgFlags| loop {
        match socket::recv(fd.as_raw_fd(), buf, flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(std::io::Error::from),
        }
    };
    buf.resize(32 * 1024, 0);
    let size = call(buf, MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC)?;
    if size <= buf.len() {
        call(&mut [], MsgFlags::empty())?;
        buf.truncate(size);
        return Ok(());
    }
    buf.resize(size, 0);
    let n = call(buf, MsgFlags::MSG_TRUNC)?;
    if n > buf.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "netlink datagram truncated",
        ));
    }
    buf.truncate(n);
    Ok(())
}

//! The D-Bus client: a unix-socket address, SASL EXTERNAL, Hello, and method calls with their
//! replies, signals and other traffic skipped.
//!
//! The bus is a peer that may stall: the whole connection (authentication, Hello, each call with
//! the reading of its reply) has one deadline covering all its writes and reads together, so a
//! bus that drips a byte at a time, floods other traffic or never reads ends the run in time.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::wire::{hello, message_len, parse, Call, Reply, ERROR, METHOD_RETURN};

/// A connection to a bus after authentication and Hello.
pub struct Bus {
    stream: UnixStream,
    serial: u32,
    /// How long the whole connection may take, from connecting to its last reply: one budget,
    /// so a bus that drips a reply at a time cannot hold a run past it call after call.
    limit: Duration,
    deadline: Instant,
}

/// A non-blocking connection to the unix socket `name` (abstract or a path), made by
/// `deadline`: a listener whose queue is full (it accepts no one) makes connect answer EAGAIN,
/// which is retried until then, never waited on.
fn connect_by(abstract_: bool, name: &[u8], deadline: Instant) -> io::Result<UnixStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let addr = if abstract_ {
        UnixAddr::new_abstract(name)?
    } else {
        UnixAddr::new(std::ffi::OsStr::from_bytes(name))?
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    loop {
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => return Ok(UnixStream::from(fd)),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR)
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(nix::errno::Errno::EAGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the bus accepted no connection in time",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The unix socket of a D-Bus address (`unix:path=...` or `unix:abstract=...`; the first usable
/// of `;`-separated alternatives; `%XX` escapes decoded). `Err` names what is not supported.
pub fn socket_of(address: &str) -> Result<(bool, Vec<u8>), String> {
    let mut last = format!("no usable address in '{address}'");
    for alt in address.split(';') {
        let Some(params) = alt.strip_prefix("unix:") else {
            last = format!("transport of '{alt}' is not supported (unix only)");
            continue;
        };
        for kv in params.split(',') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let abstract_ = match k {
                "path" => false,
                "abstract" => true,
                _ => continue,
            };
            return Ok((abstract_, unescape(v)?));
        }
    }
    Err(last)
}

fn unescape(v: &str) -> Result<Vec<u8>, String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(hex.ok_or_else(|| format!("bad %-escape in '{v}'"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

impl Bus {
    /// Connects, authenticates with EXTERNAL as `uid`, and says Hello; these and every later
    /// call together within `limit` of connecting.
    pub fn connect(address: &str, uid: u32, limit: Duration) -> Result<Bus, String> {
        let (abstract_, name) = socket_of(address)?;
        let deadline = Instant::now() + limit;
        let stream = connect_by(abstract_, &name, deadline).map_err(|e| {
            format!(
                "connecting to {address}: {}",
                hwc_core::error::describe_io(&e)
            )
        })?;
        let mut bus = Bus {
            stream,
            serial: 0,
            limit,
            deadline,
        };
        bus.auth(uid)?;
        match bus.call(&hello())? {
            Reply::Return(_) => Ok(bus),
            Reply::Error { name, message } => Err(format!("Hello: {name}: {message}")),
        }
    }

    fn auth(&mut self, uid: u32) -> Result<(), String> {
        let deadline = self.deadline;
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let io = |e: io::Error| format!("authenticating: {}", hwc_core::error::describe_io(&e));
        self.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes(), deadline)
            .map_err(io)?;
        let line = self.read_line(deadline).map_err(io)?;
        if !line.starts_with("OK ") {
            return Err(format!(
                "the bus refused EXTERNAL authentication: {}",
                hwc_core::output::printable(line.trim_end())
            ));
        }
        self.write_all(b"BEGIN\r\n", deadline).map_err(io)
    }

    fn read_line(&mut self, deadline: Instant) -> io::Result<String> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            self.read_exact(&mut byte, deadline)?;
            line.push(byte[0]);
            if line.len() > 4096 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "authentication line too long",
                ));
            }
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// Waits until the socket is ready for `events`, or fails once `deadline` has passed.
    fn wait(&self, events: libc::c_short, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out());
        }
        let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        let ready = match events {
            libc::POLLOUT => hwc_core::poll::writable(&self.stream, ms)?,
            _ => hwc_core::poll::readable(&self.stream, ms)?,
        };
        if ready {
            Ok(())
        } else {
            Err(self.timed_out())
        }
    }

    fn timed_out(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the bus did not finish within {} of connecting",
                hwc_core::privilege::duration_text(self.limit)
            ),
        )
    }

    fn write_all(&mut self, mut buf: &[u8], deadline: Instant) -> io::Result<()> {
        while !buf.is_empty() {
            match self.stream.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(libc::POLLOUT, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
        while !buf.is_empty() {
            match self.stream.read(buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => buf = &mut buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(libc::POLLIN, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends `call` and waits for its reply, skipping anything else (signals, other replies),
    /// within what is left of the connection's limit.
    pub fn call(&mut self, call: &Call) -> Result<Reply, String> {
        let deadline = self.deadline;
        self.serial += 1;
        let serial = self.serial;
        let io = |e: io::Error| format!("{}: {}", call.member, hwc_core::error::describe_io(&e));
        self.write_all(&call.encode(serial), deadline).map_err(io)?;
        loop {
            let mut head = [0u8; 16];
            self.read_exact(&mut head, deadline).map_err(io)?;
            let total = message_len(&head)?;
            let mut msg = head.to_vec();
            msg.resize(total, 0);
            self.read_exact(&mut msg[16..], deadline).map_err(io)?;
            let m = parse(&msg)?;
            if m.reply_serial != Some(serial) {
                continue;
            }
            return Ok(match m.kind {
                METHOD_RETURN => Reply::Return(m.body),
                ERROR => Reply::Error {
                    name: m.error_name.unwrap_or_else(|| "(no error name)".into()),
                    message: m.message.unwrap_or_default(),
                },
                _ => continue,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            socket_of("unix:path=/run/user/1000/bus").unwrap(),
            (false, b"/run/user/1000/bus".to_vec())
        );
        assert_eq!(
            socket_of("tcp:host=x;unix:abstract=/tmp/dbus-%41b,guid=1").unwrap(),
            (true, b"/tmp/dbus-Ab".to_vec())
        );
        assert!(socket_of("tcp:host=localhost,port=1")
            .unwrap_err()
            .contains("not supported"));
        assert!(socket_of("unix:path=%zz").is_err());
    }
}

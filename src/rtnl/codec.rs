//! The rtnetlink wire format: request building and reply parsing, no I/O. Host byte order,
//! 16-byte message headers, attributes `{u16 len, u16 type}` padded to 4 bytes (the length counts
//! the header but not the padding). Parsing is lenient where the kernel grows: unknown attribute
//! types are skipped, the NLA_F_NESTED and NLA_F_NET_BYTEORDER bits are masked off, and a short or
//! malformed attribute ends that attribute list instead of failing the message.

// The numbers are libc's, typed once here as the wire carries them.
pub const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
pub const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
pub const NLMSG_OVERRUN: u16 = libc::NLMSG_OVERRUN as u16;
pub use libc::{
    RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_NEWADDR,
    RTM_NEWLINK, RTM_NEWROUTE,
};

pub const F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
pub const F_MULTI: u16 = libc::NLM_F_MULTI as u16;
pub const F_ACK: u16 = libc::NLM_F_ACK as u16;
pub const F_DUMP_INTR: u16 = libc::NLM_F_DUMP_INTR as u16;
pub const F_DUMP: u16 = libc::NLM_F_DUMP as u16;
pub const F_EXCL: u16 = libc::NLM_F_EXCL as u16;
pub const F_CREATE: u16 = libc::NLM_F_CREATE as u16;
pub const F_APPEND: u16 = libc::NLM_F_APPEND as u16;
pub const F_ACK_TLVS: u16 = libc::NLM_F_ACK_TLVS as u16;

const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSGERR_ATTR_MSG: u16 = 1;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The native-endian u32 at `i` of a message's fixed header.
pub fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Builds one request message. An attribute too long for its 16-bit length is never written
/// with a cut length (the kernel would read the rest as other attributes): the request is marked
/// and [`Request::finish`] refuses it.
pub struct Request {
    buf: Vec<u8>,
    nests: Vec<usize>,
    too_long: Option<String>,
}

/// The most an attribute's payload may hold: its length, header included, is a u16.
pub const MAX_ATTR_PAYLOAD: usize = u16::MAX as usize - 4;

impl Request {
    pub fn new(msg_type: u16, flags: u16) -> Request {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&[0; 8]);
        Request {
            buf,
            nests: Vec::new(),
            too_long: None,
        }
    }

    /// The fixed family header (ifinfomsg, ifaddrmsg, rtmsg), padded to 4.
    pub fn header(&mut self, bytes: &[u8]) -> &mut Request {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Request {
        let Ok(len) = u16::try_from(4 + data.len()) else {
            self.too_long.get_or_insert(format!(
                "an attribute of {} bytes (type {ty}) does not fit in a netlink attribute (at most {MAX_ATTR_PAYLOAD})",
                data.len()
            ));
            return self;
        };
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Request {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A string attribute with its terminating NUL (as iproute2 sends names).
    pub fn attr_cstr(&mut self, ty: u16, s: &str) -> &mut Request {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    /// Opens a nested attribute (iproute2 sends no NLA_F_NESTED flag; the kernel takes both).
    pub fn begin(&mut self, ty: u16) -> &mut Request {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Request {
        if let Some(at) = self.nests.pop() {
            match u16::try_from(self.buf.len() - at) {
                Ok(len) => self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes()),
                Err(_) => {
                    self.too_long.get_or_insert(format!(
                        "a nested attribute of {} bytes does not fit in a netlink attribute",
                        self.buf.len() - at
                    ));
                }
            }
        }
        self
    }

    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// The finished message with its length and sequence number; an error when an attribute
    /// did not fit.
    pub fn finish(&self, seq: u32) -> Result<Vec<u8>, String> {
        if let Some(why) = &self.too_long {
            return Err(why.clone());
        }
        let mut out = self.buf.clone();
        let len = u32::try_from(out.len()).map_err(|_| "request too large".to_string())?;
        out[0..4].copy_from_slice(&len.to_ne_bytes());
        out[8..12].copy_from_slice(&seq.to_ne_bytes());
        Ok(out)
    }
}

/// One message of a reply datagram.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// The messages of one datagram; `Err` when a header is cut or its length is impossible.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, String>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() < 16 {
            rest = &[];
            return Some(Err("truncated netlink header".into()));
        }
        let u32_at =
            |i: usize| u32::from_ne_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let len = u32_at(0) as usize;
        if len < 16 || len > rest.len() {
            rest = &[];
            return Some(Err(format!("bad netlink message length {len}")));
        }
        let m = Message {
            ty: u16::from_ne_bytes([rest[4], rest[5]]),
            flags: u16::from_ne_bytes([rest[6], rest[7]]),
            seq: u32_at(8),
            payload: &rest[16..len],
        };
        rest = &rest[align(len).min(rest.len())..];
        Some(Ok(m))
    })
}

/// Attributes as (type without flag bits, payload); the walk ends at the first whose length is
/// impossible. Each step depends on the length just read (a chain of loads, some 40 per link
/// in a dump), so the step is kept to that load, one bounds check and an add.
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = buf.get(at..)?;
        let head = rest.first_chunk::<4>()?;
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        // None when len < 4 (the range is reversed) or past the end.
        let data = rest.get(4..len)?;
        at += align(len);
        Some((u16::from_ne_bytes([head[2], head[3]]) & NLA_TYPE_MASK, data))
    })
}

pub fn attr_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}

/// A string attribute's bytes, up to its NUL if it has one.
pub fn attr_bytes(data: &[u8]) -> &[u8] {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    &data[..end]
}

/// A string attribute, with or without its NUL; invalid UTF-8 replaced.
pub fn attr_text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    let text = attr_bytes(data);
    // Valid text (all of it in practice) is taken as it is, without the lossy decoder's walk.
    match std::str::from_utf8(text) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(text),
    }
}

/// `attr_text`, owned.
pub fn attr_str(data: &[u8]) -> String {
    attr_text(data).into_owned()
}

/// An NLMSG_ERROR payload: 0 is an ACK; a negative errno with the kernel's extended-ack text.
#[derive(Debug, PartialEq, Eq)]
pub struct Ack {
    pub errno: i32,
    pub message: Option<String>,
}

pub fn parse_error(msg: &Message) -> Result<Ack, String> {
    let p = msg.payload;
    let code = i32::from_ne_bytes(
        p.get(..4)
            .ok_or("short NLMSG_ERROR")?
            .try_into()
            .map_err(|_| "short NLMSG_ERROR")?,
    );
    let mut message = None;
    if msg.flags & F_ACK_TLVS != 0 && p.len() >= 20 {
        // The echoed request header tells how much of the request follows (all of it unless
        // the kernel capped the echo, then only the header).
        let echoed = u32::from_ne_bytes(p[4..8].try_into().map_err(|_| "short echo")?) as usize;
        let capped = msg.flags & 0x100 != 0;
        let skip = 4 + if capped { 16 } else { align(echoed.max(16)) };
        if let Some(tlvs) = p.get(skip..) {
            message = attrs(tlvs)
                .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
                .map(|(_, d)| attr_str(d))
                .filter(|s| !s.is_empty());
        }
    }
    Ok(Ack {
        errno: code.saturating_neg(),
        message,
    })
}

/// The error code in an NLMSG_DONE payload (0 = clean end of dump).
pub fn done_errno(msg: &Message) -> i32 {
    msg.payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b| i32::from_ne_bytes(b).saturating_neg())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IFLA_IFNAME: u16 = 3;
    const IFLA_LINKINFO: u16 = 18;
    const IFLA_INFO_KIND: u16 = 1;
    const IFLA_INFO_DATA: u16 = 2;
    const VETH_INFO_PEER: u16 = 1;

    #[test]
    fn bridge_request_matches_iproute2() {
        // ip link add br9 type bridge: 56 bytes.
        let mut r = Request::new(RTM_NEWLINK, F_REQUEST | F_ACK | F_EXCL | F_CREATE);
        r.header(&[0; 16]).attr_cstr(IFLA_IFNAME, "br9");
        r.begin(IFLA_LINKINFO).attr(IFLA_INFO_KIND, b"bridge").end();
        let m = r.finish(7).unwrap();
        assert_eq!(m.len(), 56);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 56);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x605);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(&m[32..40], &[8, 0, 3, 0, b'b', b'r', b'9', 0]);
        assert_eq!(&m[40..44], &[16, 0, 18, 0], "LINKINFO len 16");
        assert_eq!(
            &m[44..56],
            &[10, 0, 1, 0, b'b', b'r', b'i', b'd', b'g', b'e', 0, 0],
            "KIND len 10 + 2 pad"
        );
    }

    #[test]
    fn veth_request_matches_iproute2() {
        // ip link add vA type veth peer name vB: 84 bytes.
        let mut r = Request::new(RTM_NEWLINK, F_REQUEST | F_ACK | F_EXCL | F_CREATE);
        r.header(&[0; 16]).attr_cstr(IFLA_IFNAME, "vA");
        r.begin(IFLA_LINKINFO).attr(IFLA_INFO_KIND, b"veth");
        r.begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .header(&[0; 16])
            .attr_cstr(IFLA_IFNAME, "vB")
            .end()
            .end();
        r.end();
        let m = r.finish(1).unwrap();
        assert_eq!(m.len(), 84);
        assert_eq!(&m[40..44], &[44, 0, 18, 0], "LINKINFO len 44");
        assert_eq!(&m[44..52], &[8, 0, 1, 0, b'v', b'e', b't', b'h']);
        assert_eq!(&m[52..56], &[32, 0, 2, 0], "INFO_DATA len 32");
        let mut data = vec![0x1c, 0, 1, 0];
        data.extend_from_slice(&[0; 16]);
        data.extend_from_slice(&[7, 0, 3, 0, b'v', b'B', 0, 0]);
        assert_eq!(&m[56..84], data.as_slice());
    }

    #[test]
    fn an_attribute_too_long_is_refused_never_cut() {
        let name = "x".repeat(65_532);
        let mut r = Request::new(RTM_NEWLINK, F_REQUEST);
        r.header(&[0; 16]).attr_cstr(IFLA_IFNAME, &name);
        assert!(r.finish(1).unwrap_err().contains("does not fit"));
        let mut r = Request::new(RTM_NEWLINK, F_REQUEST);
        r.header(&[0; 16])
            .attr(IFLA_IFNAME, &vec![0; MAX_ATTR_PAYLOAD]);
        assert_eq!(
            r.finish(1).unwrap().len(),
            32 + 65_536,
            "65535 bytes, padded to 4"
        );
        let mut r = Request::new(RTM_NEWLINK, F_REQUEST);
        r.begin(IFLA_LINKINFO);
        r.attr(1, &vec![0; 40_000]).attr(2, &vec![0; 40_000]).end();
        assert!(r.finish(1).unwrap_err().contains("nested"));
    }

    #[test]
    fn parses_messages_and_attributes() {
        let mut r = Request::new(RTM_NEWLINK, F_MULTI);
        r.header(&[0; 16])
            .attr_cstr(IFLA_IFNAME, "eth0")
            .attr_u32(0x8000 | 4, 1500);
        let one = r.finish(3).unwrap();
        let two = Request::new(NLMSG_DONE, F_MULTI)
            .header(&0i32.to_ne_bytes())
            .finish(3)
            .unwrap();
        let buf = [one.clone(), two].concat();
        let msgs: Vec<Message> = messages(&buf).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].ty, msgs[0].seq), (RTM_NEWLINK, 3));
        let a: Vec<(u16, Vec<u8>)> = attrs(&msgs[0].payload[16..])
            .map(|(t, d)| (t, d.to_vec()))
            .collect();
        assert_eq!(attr_str(&a[0].1), "eth0");
        assert_eq!(
            (a[1].0, attr_u32(&a[1].1)),
            (4, Some(1500)),
            "flag bits masked"
        );
        assert_eq!(done_errno(&msgs[1]), 0);
    }

    #[test]
    fn error_with_extended_ack() {
        // NLMSG_ERROR: -EEXIST, capped echo (header only), ACK_TLVS with a message.
        let mut payload = (-17i32).to_ne_bytes().to_vec();
        let echo = Request::new(RTM_NEWADDR, F_REQUEST).finish(9).unwrap();
        payload.extend_from_slice(&echo[..16]);
        payload.extend_from_slice(&[35, 0, 1, 0]);
        payload.extend_from_slice(b"ipv4: Address already assigned\0");
        payload.resize(align(payload.len()), 0);
        let m = Message {
            ty: NLMSG_ERROR,
            flags: 0x100 | F_ACK_TLVS,
            seq: 9,
            payload: &payload,
        };
        assert_eq!(
            parse_error(&m).unwrap(),
            Ack {
                errno: 17,
                message: Some("ipv4: Address already assigned".into())
            }
        );
        let ack = 0i32.to_ne_bytes();
        let m = Message {
            ty: NLMSG_ERROR,
            flags: 0x100,
            seq: 9,
            payload: &ack,
        };
        assert_eq!(parse_error(&m).unwrap().errno, 0);
    }

    #[test]
    fn random_and_mutated_replies_never_panic() {
        let mut r = Request::new(RTM_NEWLINK, F_MULTI);
        r.header(&[0; 16])
            .attr_cstr(IFLA_IFNAME, "veth0")
            .begin(IFLA_LINKINFO)
            .attr(1, b"veth")
            .end();
        let seed_msg = r.finish(1).unwrap();
        let mut x = 0xdead_beef_cafe_f00du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20000 {
            let mut buf = seed_msg.clone();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % buf.len();
                buf[at] = next() as u8;
            }
            if next() % 4 == 0 {
                buf.truncate((next() as usize) % (buf.len() + 1));
            }
            for m in messages(&buf).flatten() {
                let _ = parse_error(&m);
                let _ = done_errno(&m);
                for (_, d) in attrs(m.payload.get(16..).unwrap_or(&[])) {
                    let _ = attr_str(d);
                    for (_, inner) in attrs(d) {
                        let _ = attr_u32(inner);
                    }
                }
            }
        }
    }
}

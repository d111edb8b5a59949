//! A link as RTM_NEWLINK describes it.

use std::borrow::Cow;

use libc::{
    IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO, IFLA_LINK_NETNSID,
    IFLA_MASTER, IFLA_MTU, IFLA_OPERSTATE,
};

use super::codec::{self, attr_bytes, attr_u32, attrs, u32_at};

/// Flags of a request that creates something and fails if it exists (as `ip ... add` sends).
pub const CREATE: u16 = codec::F_REQUEST | codec::F_ACK | codec::F_EXCL | codec::F_CREATE;
/// Flags of a request that changes or deletes something.
pub const CHANGE: u16 = codec::F_REQUEST | codec::F_ACK;

/// The ifinfomsg header of a request about link `index`: `flags` are set where `change` has bits.
pub fn ifinfo(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

pub const IFF_UP: u32 = libc::IFF_UP as u32;
pub const IFF_LOWER_UP: u32 = libc::IFF_LOWER_UP as u32;

/// A link as an RTM_NEWLINK message describes it: what hwc shows of it.
///
/// 64 bytes, so that the 1000 links of a long listing fault in 16 pages (a page fault costs
/// ~2.5 us on a VM, a tenth of a link's share of the kernel's dump): each number has a bit for
/// "the kernel sent it" rather than an `Option` of its own, and the name, link-layer address
/// and kind lie side by side in one buffer, inline up to 30 bytes together (nearly always:
/// `vh100`, 6 bytes of MAC and `veth` are 15), else on the heap. Texts are the kernel's bytes,
/// cut at 255; what prints them replaces invalid UTF-8.
#[derive(Clone, Debug, Default)]
pub struct Link {
    pub index: u32,
    pub flags: u32,
    mtu: u32,
    /// 0: none, as the kernel says it.
    master: u32,
    link: u32,
    link_netnsid: i32,
    has: u8,
    operstate: u8,
    name_len: u8,
    address_len: u8,
    kind_len: u8,
    texts: Texts,
}

const HAS_MTU: u8 = 1;
const HAS_OPERSTATE: u8 = 2;
const HAS_LINK: u8 = 4;
const HAS_NETNSID: u8 = 8;
const HAS_ADDRESS: u8 = 16;
const HAS_KIND: u8 = 32;

#[derive(Clone, Debug)]
enum Texts {
    Inline([u8; 30]),
    Heap(Box<[u8]>),
}

impl Default for Texts {
    fn default() -> Texts {
        Texts::Inline([0; 30])
    }
}

impl Link {
    /// From an RTM_NEWLINK payload (ifinfomsg + attributes); `None` if too short.
    pub fn parse(p: &[u8]) -> Option<Link> {
        if p.len() < 16 {
            return None;
        }
        let mut l = Link {
            index: u32_at(p, 4),
            flags: u32_at(p, 8),
            ..Link::default()
        };
        let (mut name, mut address, mut kind) = (&[][..], None, None);
        for (ty, d) in attrs(&p[16..]) {
            match ty {
                IFLA_IFNAME => name = attr_bytes(d),
                IFLA_MTU => l.mtu = l.sent(HAS_MTU, attr_u32(d)),
                IFLA_OPERSTATE => l.operstate = l.sent(HAS_OPERSTATE, d.first().copied()),
                IFLA_ADDRESS => address = Some(d),
                IFLA_MASTER => l.master = attr_u32(d).unwrap_or(0),
                IFLA_LINK => l.link = l.sent(HAS_LINK, attr_u32(d)),
                IFLA_LINK_NETNSID => {
                    l.link_netnsid = l.sent(HAS_NETNSID, attr_u32(d).map(|v| v as i32));
                }
                IFLA_LINKINFO => {
                    kind = attrs(d)
                        .find(|(t, _)| *t == IFLA_INFO_KIND)
                        .map(|(_, k)| attr_bytes(k));
                }
                _ => {}
            }
        }
        l.set_texts(name, address, kind);
        Some(l)
    }

    /// A stand-in for a link that a dry run did not create: its name and MTU.
    pub fn named(name: &str, mtu: Option<u32>) -> Link {
        let mut l = Link::default();
        l.mtu = l.sent(HAS_MTU, mtu);
        l.set_texts(name.as_bytes(), None, None);
        l
    }

    /// Marks `bit` when the kernel sent a value; the value or 0.
    fn sent<T: Default>(&mut self, bit: u8, value: Option<T>) -> T {
        match value {
            Some(v) => {
                self.has |= bit;
                v
            }
            None => T::default(),
        }
    }

    fn set_texts(&mut self, name: &[u8], address: Option<&[u8]>, kind: Option<&[u8]>) {
        fn cut(b: &[u8]) -> &[u8] {
            &b[..b.len().min(255)]
        }
        let name = cut(name);
        let address = address.map(cut);
        let kind = kind.map(cut);
        self.has |= if address.is_some() { HAS_ADDRESS } else { 0 };
        self.has |= if kind.is_some() { HAS_KIND } else { 0 };
        let parts = [name, address.unwrap_or_default(), kind.unwrap_or_default()];
        [self.name_len, self.address_len, self.kind_len] = parts.map(|p| p.len() as u8);
        let mut inline = [0; 30];
        let total = parts.iter().map(|p| p.len()).sum();
        self.texts = match inline.get_mut(..total) {
            Some(room) => {
                let mut at = 0;
                for part in parts {
                    room[at..at + part.len()].copy_from_slice(part);
                    at += part.len();
                }
                Texts::Inline(inline)
            }
            None => Texts::Heap(parts.concat().into()),
        };
    }

    fn texts(&self) -> &[u8] {
        match &self.texts {
            Texts::Inline(t) => t,
            Texts::Heap(t) => t,
        }
    }

    /// The name, as the kernel's bytes.
    pub fn name(&self) -> &[u8] {
        &self.texts()[..usize::from(self.name_len)]
    }

    pub fn is_named(&self, name: &str) -> bool {
        self.name() == name.as_bytes()
    }

    /// The name as text, invalid UTF-8 replaced.
    pub fn name_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.name())
    }

    pub fn address(&self) -> Option<&[u8]> {
        let at = usize::from(self.name_len);
        let t = self.texts().get(at..at + usize::from(self.address_len));
        t.filter(|_| self.has & HAS_ADDRESS != 0)
    }

    /// The kind (`bridge`, `veth`, ...), if the kernel named one, as its bytes.
    pub fn kind_bytes(&self) -> Option<&[u8]> {
        let at = usize::from(self.name_len) + usize::from(self.address_len);
        let t = self.texts().get(at..at + usize::from(self.kind_len));
        t.filter(|_| self.has & HAS_KIND != 0)
    }

    /// The kind as text.
    pub fn kind(&self) -> Option<Cow<'_, str>> {
        self.kind_bytes().map(String::from_utf8_lossy)
    }

    pub fn mtu(&self) -> Option<u32> {
        (self.has & HAS_MTU != 0).then_some(self.mtu)
    }

    pub fn operstate(&self) -> Option<u8> {
        (self.has & HAS_OPERSTATE != 0).then_some(self.operstate)
    }

    /// The link it is enslaved to.
    pub fn master(&self) -> Option<u32> {
        (self.master != 0).then_some(self.master)
    }

    /// The link it rides on (a veth's peer, a VLAN's parent).
    pub fn link(&self) -> Option<u32> {
        (self.has & HAS_LINK != 0).then_some(self.link)
    }

    /// Set when the link it rides on is in another namespace.
    pub fn link_netnsid(&self) -> Option<i32> {
        (self.has & HAS_NETNSID != 0).then_some(self.link_netnsid)
    }

    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWLINK payload: ifinfomsg (index 7, flags UP) and the attributes given.
    fn newlink(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut req = super::super::codec::Request::new(16, 0);
        req.header(&[0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        for (ty, data) in attrs {
            req.attr(*ty, data);
        }
        req.finish(1).unwrap()[16..].to_vec()
    }

    #[test]
    fn links_keep_what_the_kernel_sent_in_64_bytes() {
        assert_eq!(std::mem::size_of::<Link>(), 64);
        let mac = [0x02, 0x42, 0xac, 0x11, 0x00, 0xff];
        let mut info = super::super::codec::Request::new(0, 0);
        info.attr(IFLA_INFO_KIND, b"veth\0");
        let info = info.finish(0).unwrap()[16..].to_vec();
        let l = Link::parse(&newlink(&[
            (IFLA_IFNAME, b"vh100\0\0\0"),
            (IFLA_MTU, &1500u32.to_ne_bytes()),
            (IFLA_OPERSTATE, &[6]),
            (IFLA_ADDRESS, &mac),
            (IFLA_MASTER, &2u32.to_ne_bytes()),
            (IFLA_LINK, &0u32.to_ne_bytes()),
            (IFLA_LINKINFO | 0x8000, &info),
        ]))
        .unwrap();
        assert!(matches!(l.texts, Texts::Inline(_)));
        assert_eq!((l.index, l.is_up()), (7, true));
        assert_eq!(
            (l.name(), l.address(), l.kind_bytes()),
            (&b"vh100"[..], Some(&mac[..]), Some(&b"veth"[..]))
        );
        assert_eq!(
            (l.mtu(), l.operstate(), l.master(), l.link()),
            (Some(1500), Some(6), Some(2), Some(0))
        );
        assert_eq!(l.link_netnsid(), None);

        // Nothing sent, nothing claimed; a master of 0 is none.
        let bare = Link::parse(&newlink(&[(IFLA_MASTER, &0u32.to_ne_bytes())])).unwrap();
        assert_eq!(
            (bare.name(), bare.address(), bare.kind()),
            (&b""[..], None, None)
        );
        assert_eq!(
            (bare.mtu(), bare.operstate(), bare.master(), bare.link()),
            (None, None, None, None)
        );
        // An empty address is still an address.
        let empty = Link::parse(&newlink(&[(IFLA_ADDRESS, &[])])).unwrap();
        assert_eq!(empty.address(), Some(&[][..]));

        // Past 30 bytes together, on the heap, each part intact: a 15-character name, an
        // InfiniBand address and a kind.
        let ib = [0x80; 20];
        let mut info = super::super::codec::Request::new(0, 0);
        info.attr(IFLA_INFO_KIND, b"ipoib");
        let info = info.finish(0).unwrap()[16..].to_vec();
        let long = Link::parse(&newlink(&[
            (IFLA_IFNAME, b"ib0-partition-7\0"),
            (IFLA_ADDRESS, &ib),
            (IFLA_LINKINFO, &info),
            (IFLA_LINK_NETNSID, &3u32.to_ne_bytes()),
        ]))
        .unwrap();
        assert!(matches!(long.texts, Texts::Heap(_)));
        assert_eq!(long.name(), b"ib0-partition-7");
        assert_eq!(long.address(), Some(&ib[..]));
        assert_eq!(long.kind().as_deref(), Some("ipoib"));
        assert_eq!(long.link_netnsid(), Some(3));

        // Names are the kernel's bytes, cut at the NUL; shown with invalid UTF-8 replaced.
        let odd = Link::parse(&newlink(&[(IFLA_IFNAME, b"a\xffb\0junk")])).unwrap();
        assert_eq!(odd.name(), b"a\xffb");
        assert_eq!(odd.name_text(), "a\u{fffd}b");
        // A dry run's stand-in.
        let made = Link::named("br0", Some(9000));
        assert_eq!(
            (made.name(), made.mtu(), made.address()),
            (&b"br0"[..], Some(9000), None)
        );
    }
}

//! A bridge forwarding database entry, as RTM_NEWNEIGH of family AF_BRIDGE describes it (a
//! bridge port's learned or static MAC, or a VXLAN link's remote for a MAC), and the requests
//! that list, add and remove them.

use std::net::IpAddr;

use libc::{NDA_DST, NDA_IFINDEX, NDA_LLADDR, NDA_PORT, NDA_VLAN, NDA_VNI};

use crate::codec::{self, attr_u32, attrs, u32_at, Request};
use crate::ip_from;

pub const RTM_NEWNEIGH: u16 = libc::RTM_NEWNEIGH;
pub const RTM_DELNEIGH: u16 = libc::RTM_DELNEIGH;
pub const RTM_GETNEIGH: u16 = libc::RTM_GETNEIGH;
// linux/neighbour.h; libc has no names for them.
const NDA_MASTER: u16 = 9;
const NDA_LINK_NETNSID: u16 = 10;
const NDA_SRC_VNI: u16 = 11;
const NDA_NH_ID: u16 = 13;
pub const NTF_SELF: u8 = libc::NTF_SELF;
pub const NTF_MASTER: u8 = libc::NTF_MASTER;
pub const NTF_ROUTER: u8 = libc::NTF_ROUTER;
pub const NTF_EXT_LEARNED: u8 = 0x10;
pub const NTF_OFFLOADED: u8 = 0x20;
pub const NTF_STICKY: u8 = 0x40;
pub const NUD_PERMANENT: u16 = libc::NUD_PERMANENT;
pub const NUD_NOARP: u16 = libc::NUD_NOARP;
pub const NUD_STALE: u16 = libc::NUD_STALE;
pub const NUD_REACHABLE: u16 = libc::NUD_REACHABLE;
const AF_BRIDGE: u8 = libc::AF_BRIDGE as u8;

/// The all-zero MAC: a VXLAN link's default entries, one per remote it floods to (head-end
/// replication).
pub const ZERO_MAC: [u8; 6] = [0; 6];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FdbEntry {
    /// The link the entry is on (a bridge port, a VXLAN link, or the bridge itself).
    pub index: u32,
    pub state: u16,
    pub flags: u8,
    pub mac: Option<Vec<u8>>,
    pub dst: Option<IpAddr>,
    pub vlan: Option<u16>,
    pub port: Option<u16>,
    pub vni: Option<u32>,
    pub src_vni: Option<u32>,
    /// NDA_IFINDEX: the link a VXLAN remote is reached through.
    pub via: Option<u32>,
    pub nhid: Option<u32>,
    pub link_netnsid: Option<u32>,
    pub master: Option<u32>,
}

impl FdbEntry {
    /// From an RTM_NEWNEIGH payload (ndmsg + attributes); `None` if too short or not a bridge
    /// entry (an ARP or NDP neighbour).
    pub fn parse(p: &[u8]) -> Option<FdbEntry> {
        if p.len() < 12 || p[0] != AF_BRIDGE {
            return None;
        }
        let mut e = FdbEntry {
            index: u32_at(p, 4),
            state: u16::from_ne_bytes([p[8], p[9]]),
            flags: p[10],
            ..FdbEntry::default()
        };
        for (ty, d) in attrs(&p[12..]) {
            match ty {
                NDA_LLADDR => e.mac = Some(d.to_vec()),
                NDA_DST => {
                    let family = if d.len() == 16 {
                        libc::AF_INET6
                    } else {
                        libc::AF_INET
                    };
                    e.dst = ip_from(family as u8, d);
                }
                NDA_VLAN => e.vlan = d.try_into().ok().map(u16::from_ne_bytes),
                NDA_PORT => e.port = d.try_into().ok().map(u16::from_be_bytes),
                NDA_VNI => e.vni = attr_u32(d),
                NDA_SRC_VNI => e.src_vni = attr_u32(d),
                NDA_IFINDEX => e.via = attr_u32(d),
                NDA_NH_ID => e.nhid = attr_u32(d),
                NDA_LINK_NETNSID => e.link_netnsid = attr_u32(d),
                NDA_MASTER => e.master = attr_u32(d),
                _ => {}
            }
        }
        Some(e)
    }

    /// A VXLAN link's plain default entry toward a remote: all-zero MAC, a destination, and the
    /// link's own port, VNI and underlay (the kernel reports those only where an entry has its
    /// own). An entry with its own is someone else's, and is left alone.
    pub fn remote(&self) -> Option<IpAddr> {
        let plain = self.port.is_none() && self.vni.is_none() && self.via.is_none();
        self.dst
            .filter(|_| plain && self.mac.as_deref() == Some(&ZERO_MAC[..]))
    }
}

fn ndmsg(index: u32, state: u16, flags: u8) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = AF_BRIDGE;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..10].copy_from_slice(&state.to_ne_bytes());
    h[10] = flags;
    h
}

/// The dump of bridge entries: of link `index` only, and of the ports of bridge `master` only,
/// when given (the kernel filters, under strict checking).
pub fn dump_request(index: Option<u32>, master: Option<u32>) -> Request {
    let mut req = Request::new(RTM_GETNEIGH, codec::F_REQUEST | codec::F_DUMP);
    req.header(&ndmsg(index.unwrap_or(0), 0, 0));
    if let Some(m) = master {
        req.attr_u32(NDA_MASTER, m);
    }
    req
}

/// What one entry to add or remove is: `bridge fdb append|del MAC dev DEV [dst ADDR]`, with
/// bridge's defaults (the entry is the link's own, `self`, and permanent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySpec {
    pub index: u32,
    pub mac: [u8; 6],
    pub dst: Option<IpAddr>,
    pub port: Option<u16>,
    pub vni: Option<u32>,
}

impl EntrySpec {
    /// The request: `append` adds one more remote for the MAC (what head-end replication needs),
    /// `add` fails if the entry exists, `del` removes it.
    pub fn request(&self, msg_type: u16, flags: u16) -> Request {
        let mut req = Request::new(msg_type, codec::F_REQUEST | codec::F_ACK | flags);
        req.header(&ndmsg(self.index, NUD_NOARP | NUD_PERMANENT, NTF_SELF))
            .attr(NDA_LLADDR, &self.mac);
        match self.dst {
            Some(IpAddr::V4(a)) => {
                req.attr(NDA_DST, &a.octets());
            }
            Some(IpAddr::V6(a)) => {
                req.attr(NDA_DST, &a.octets());
            }
            None => {}
        }
        if let Some(p) = self.port {
            req.attr(NDA_PORT, &p.to_be_bytes());
        }
        if let Some(v) = self.vni {
            req.attr_u32(NDA_VNI, v);
        }
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_as_written() {
        let spec = EntrySpec {
            index: 7,
            mac: ZERO_MAC,
            dst: Some("fd00::2".parse().unwrap()),
            port: Some(4789),
            vni: Some(42),
        };
        let msg = spec
            .request(RTM_NEWNEIGH, codec::F_CREATE)
            .finish(1)
            .unwrap();
        let e = FdbEntry::parse(&msg[16..]).unwrap();
        assert_eq!(
            (e.index, e.dst, e.port, e.vni, e.flags),
            (7, spec.dst, Some(4789), Some(42), NTF_SELF)
        );
        // An entry with its own port or VNI is not a plain peer entry; one without is.
        assert_eq!(e.remote(), None);
        let plain = EntrySpec {
            port: None,
            vni: None,
            ..spec.clone()
        };
        let msg_plain = plain
            .request(RTM_NEWNEIGH, codec::F_CREATE)
            .finish(1)
            .unwrap();
        assert_eq!(
            FdbEntry::parse(&msg_plain[16..]).unwrap().remote(),
            spec.dst
        );
        assert_eq!(e.state, NUD_NOARP | NUD_PERMANENT);
        // Not a bridge entry: an IPv4 neighbour.
        let mut arp = msg[16..].to_vec();
        arp[0] = libc::AF_INET as u8;
        assert_eq!(FdbEntry::parse(&arp), None);
        assert_eq!(FdbEntry::parse(&msg[16..20]), None);
    }
}

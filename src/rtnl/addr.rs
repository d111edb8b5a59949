//! An address as RTM_NEWADDR describes it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libc::{IFA_ADDRESS, IFA_LABEL, IFA_LOCAL};

use super::codec::{attr_str, attrs, u32_at};

#[derive(Clone, Debug)]
pub struct Addr {
    pub family: u8,
    pub prefixlen: u8,
    pub scope: u8,
    pub index: u32,
    pub local: Option<IpAddr>,
    pub address: Option<IpAddr>,
    pub label: Option<String>,
}

/// The address in an attribute of `family`, `None` when its length does not fit.
pub fn ip_from(family: u8, d: &[u8]) -> Option<IpAddr> {
    match (family as i32, d.len()) {
        (libc::AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]))),
        (libc::AF_INET6, 16) => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(d).ok()?))),
        _ => None,
    }
}

impl Addr {
    pub fn parse(p: &[u8]) -> Option<Addr> {
        if p.len() < 8 {
            return None;
        }
        let mut a = Addr {
            family: p[0],
            prefixlen: p[1],
            scope: p[3],
            index: u32_at(p, 4),
            local: None,
            address: None,
            label: None,
        };
        for (ty, d) in attrs(&p[8..]) {
            match ty {
                IFA_LOCAL => a.local = ip_from(a.family, d),
                IFA_ADDRESS => a.address = ip_from(a.family, d),
                IFA_LABEL => a.label = Some(attr_str(d)),
                _ => {}
            }
        }
        Some(a)
    }

    /// The address `ip` shows as `local`: IFA_LOCAL, else IFA_ADDRESS (IPv6 has no local).
    pub fn shown(&self) -> Option<IpAddr> {
        self.local.or(self.address)
    }
}

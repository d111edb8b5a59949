//! A route as RTM_NEWROUTE describes it.

use std::net::IpAddr;

use libc::{RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE};

use crate::codec::{attr_u32, attrs, u32_at};
use crate::ip_from;

/// The main routing table, which `ip route` shows unless told another.
pub const RT_TABLE_MAIN: u32 = libc::RT_TABLE_MAIN as u32;

#[derive(Clone, Debug)]
pub struct Route {
    pub family: u8,
    pub dst_len: u8,
    pub table: u32,
    pub protocol: u8,
    pub scope: u8,
    pub rtype: u8,
    pub flags: u32,
    pub dst: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
    pub prefsrc: Option<IpAddr>,
    pub pref: Option<u8>,
}

impl Route {
    pub fn parse(p: &[u8]) -> Option<Route> {
        if p.len() < 12 {
            return None;
        }
        let mut r = Route {
            family: p[0],
            dst_len: p[1],
            table: u32::from(p[4]),
            protocol: p[5],
            scope: p[6],
            rtype: p[7],
            flags: u32_at(p, 8),
            dst: None,
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            pref: None,
        };
        for (ty, d) in attrs(&p[12..]) {
            match ty {
                RTA_DST => r.dst = ip_from(r.family, d),
                RTA_GATEWAY => r.gateway = ip_from(r.family, d),
                RTA_OIF => r.oif = attr_u32(d),
                RTA_PRIORITY => r.metric = attr_u32(d),
                RTA_PREFSRC => r.prefsrc = ip_from(r.family, d),
                RTA_TABLE => r.table = attr_u32(d).unwrap_or(r.table),
                RTA_PREF => r.pref = d.first().copied(),
                _ => {}
            }
        }
        Some(r)
    }
}

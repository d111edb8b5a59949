//! A route as RTM_NEWROUTE describes it, and its `ip -j route` / `ip route` rendering.

use std::net::IpAddr;

use hwc_core::output::Json;
use libc::{RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE};

use hwc_rtnl::codec::{attr_u32, attrs, u32_at};
use hwc_rtnl::{ip_from, Link};

use super::link::name_of;
use crate::names::{protocol_name, route_flag_words, scope_name, table_name, type_name};

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

    pub fn dst_text(&self) -> String {
        let full = if self.family as i32 == libc::AF_INET {
            32
        } else {
            128
        };
        match self.dst {
            None if self.dst_len == 0 => "default".into(),
            None => format!("0/{}", self.dst_len),
            Some(ip) if self.dst_len == full => ip.to_string(),
            Some(ip) => format!("{ip}/{}", self.dst_len),
        }
    }
}

/// The keys `ip -j route` prints, present in the same cases; the table only when routes of all
/// tables are listed (`show_table`), as a chosen table is implied.
pub fn route_json(j: &mut Json, r: &Route, links: &[Link], details: bool, show_table: bool) {
    j.begin_object();
    if r.rtype != 1 {
        j.key("type").string(type_name(r.rtype));
    }
    j.key("dst").string(r.dst_text());
    if let Some(gw) = r.gateway {
        j.key("gateway").string(gw.to_string());
    }
    if let Some(oif) = r.oif {
        j.key("dev").string(name_of(links, oif));
    }
    if r.table != RT_TABLE_MAIN && show_table {
        j.key("table").string(table_name(r.table));
    }
    if r.protocol != 3 || details {
        j.key("protocol").string(protocol_name(r.protocol));
    }
    if r.scope != 0 {
        j.key("scope").string(scope_name(r.scope));
    }
    if let Some(src) = r.prefsrc {
        j.key("prefsrc").string(src.to_string());
    }
    if let Some(m) = r.metric {
        j.key("metric").number(m);
    }
    j.key("flags").begin_array();
    for f in route_flag_words(r.flags) {
        j.string(f);
    }
    j.end_array();
    if r.family as i32 == libc::AF_INET6 {
        if let Some(p) = r.pref {
            j.key("pref").string(match p {
                1 => "high",
                3 => "low",
                _ => "medium",
            });
        }
    }
    j.end_object();
}

/// `ip route` style line.
pub fn route_line(r: &Route, links: &[Link], show_table: bool) -> String {
    let mut s = String::new();
    if r.rtype != 1 {
        s.push_str(&type_name(r.rtype));
        s.push(' ');
    }
    s.push_str(&r.dst_text());
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = r.oif {
        s.push_str(&format!(
            " dev {}",
            String::from_utf8_lossy(&name_of(links, oif))
        ));
    }
    if r.table != RT_TABLE_MAIN && show_table {
        s.push_str(&format!(" table {}", table_name(r.table)));
    }
    if r.protocol != 3 {
        s.push_str(&format!(" proto {}", protocol_name(r.protocol)));
    }
    if r.scope != 0 {
        s.push_str(&format!(" scope {}", scope_name(r.scope)));
    }
    if let Some(src) = r.prefsrc {
        s.push_str(&format!(" src {src}"));
    }
    if let Some(m) = r.metric {
        s.push_str(&format!(" metric {m}"));
    }
    for f in route_flag_words(r.flags) {
        s.push(' ');
        s.push_str(f);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_destinations() {
        let mut r = Route::parse(&[2, 0, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0]).unwrap();
        assert_eq!(r.dst_text(), "default");
        r.dst = Some("10.88.0.0".parse().unwrap());
        r.dst_len = 16;
        assert_eq!(r.dst_text(), "10.88.0.0/16");
        r.dst_len = 32;
        assert_eq!(r.dst_text(), "10.88.0.0");
    }
}

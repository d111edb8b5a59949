//! A route's `ip -j route` / `ip route` rendering (hwc_rtnl decodes it).

use hwc_core::output::Json;
use hwc_rtnl::{Link, Route, RT_TABLE_MAIN};

use super::link::name_of;
use crate::names::{protocol_name, route_flag_words, scope_name, table_name, type_name};

/// The destination as ip writes it: `default`, an address, or address/length.
pub fn dst_text(r: &Route) -> String {
    let full = if r.family as i32 == libc::AF_INET {
        32
    } else {
        128
    };
    match r.dst {
        None if r.dst_len == 0 => "default".into(),
        None => format!("0/{}", r.dst_len),
        Some(ip) if r.dst_len == full => ip.to_string(),
        Some(ip) => format!("{ip}/{}", r.dst_len),
    }
}

/// The keys `ip -j route` prints, present in the same cases; the table only when routes of all
/// tables are listed (`show_table`), as a chosen table is implied.
pub fn route_json(j: &mut Json, r: &Route, links: &[Link], details: bool, show_table: bool) {
    j.begin_object();
    if r.rtype != 1 {
        j.key("type").string(type_name(r.rtype));
    }
    j.key("dst").string(dst_text(r));
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
    s.push_str(&dst_text(r));
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
        assert_eq!(dst_text(&r), "default");
        r.dst = Some("10.88.0.0".parse().unwrap());
        r.dst_len = 16;
        assert_eq!(dst_text(&r), "10.88.0.0/16");
        r.dst_len = 32;
        assert_eq!(dst_text(&r), "10.88.0.0");
    }
}

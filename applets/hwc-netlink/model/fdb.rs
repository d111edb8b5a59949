//! A forwarding entry's `bridge -j fdb show` / `bridge fdb show` rendering (hwc_rtnl decodes
//! it): the same keys and words, present in the same cases.

use hwc_core::output::Json;
use hwc_rtnl::{FdbEntry, Link};

use super::link::name_of;
use crate::names::{fdb_flag_words, fdb_state_name};

/// One entry as `bridge -j fdb show` prints it; `ifname` only when not listing one link's.
pub fn fdb_json(j: &mut Json, e: &FdbEntry, links: &[Link], one_link: bool) {
    j.begin_object();
    if let Some(mac) = &e.mac {
        j.key("mac").hex_string(mac, b':');
    }
    if !one_link && e.index != 0 {
        j.key("ifname").string(name_of(links, e.index));
    }
    if let Some(dst) = e.dst {
        j.key("dst").string(dst.to_string());
    }
    if let Some(v) = e.vlan.filter(|&v| v != 0) {
        j.key("vlan").number(v);
    }
    if let Some(p) = e.port {
        j.key("port").number(p);
    }
    if let Some(v) = e.vni {
        j.key("vni").number(v);
    }
    if let Some(v) = e.src_vni {
        j.key("src_vni").number(v);
    }
    if let Some(via) = e.via {
        if e.link_netnsid.is_some() {
            j.key("viaIfIndex").number(via);
        } else {
            j.key("viaIf").string(name_of(links, via));
        }
    }
    if let Some(n) = e.nhid {
        j.key("nhid").number(n);
    }
    if let Some(n) = e.link_netnsid {
        j.key("linkNetNsId").number(n);
    }
    j.key("flags").begin_array();
    for w in fdb_flag_words(e.flags) {
        j.string(w);
    }
    j.end_array();
    if let Some(m) = e.master {
        j.key("master").string(name_of(links, m));
    }
    j.key("state").string(&*fdb_state_name(e.state, true));
    j.end_object();
}

/// One entry as `bridge fdb show` prints it: each word followed by a space, the state last.
pub fn fdb_line(e: &FdbEntry, links: &[Link], one_link: bool) -> String {
    let name = |i: u32| String::from_utf8_lossy(&name_of(links, i)).into_owned();
    let mut s = String::new();
    let mut word = |w: String| {
        s.push_str(&w);
        s.push(' ');
    };
    if let Some(mac) = &e.mac {
        let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
        word(hex.join(":"));
    }
    if !one_link && e.index != 0 {
        word(format!("dev {}", name(e.index)));
    }
    if let Some(dst) = e.dst {
        word(format!("dst {dst}"));
    }
    if let Some(v) = e.vlan.filter(|&v| v != 0) {
        word(format!("vlan {v}"));
    }
    if let Some(p) = e.port {
        word(format!("port {p}"));
    }
    if let Some(v) = e.vni {
        word(format!("vni {v}"));
    }
    if let Some(v) = e.src_vni {
        word(format!("src_vni {v}"));
    }
    if let Some(via) = e.via {
        match e.link_netnsid {
            Some(_) => word(format!("via ifindex {via}")),
            None => word(format!("via {}", name(via))),
        }
    }
    if let Some(n) = e.nhid {
        word(format!("nhid {n}"));
    }
    if let Some(n) = e.link_netnsid {
        word(format!("link-netnsid {n}"));
    }
    for w in fdb_flag_words(e.flags) {
        word(w.to_string());
    }
    if let Some(m) = e.master {
        word(format!("master {}", name(m)));
    }
    s.push_str(&fdb_state_name(e.state, false));
    s.push('\n');
    s
}

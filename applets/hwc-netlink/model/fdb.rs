//! A forwarding entry's `bridge -j fdb show` / `bridge fdb show` rendering (hwc_rtnl decodes
//! it): the same keys and words, present in the same cases. Both come from one list of what the
//! entry shows.

use hwc_core::output::{self, Json};
use hwc_rtnl::{FdbEntry, Link};

use super::link::name_of;
use crate::names::{fdb_flag_words, fdb_state_name};

/// A value as bridge prints it.
enum Shown {
    Text(String),
    Number(u32),
}

/// What bridge shows of an entry, in its order: the JSON key, the word before the value in text
/// ("" for none), the value. `ifname` only when not listing one link's entries.
fn shown(e: &FdbEntry, links: &[Link], one_link: bool) -> Vec<(&'static str, &'static str, Shown)> {
    let name = |i: u32| Shown::Text(String::from_utf8_lossy(&name_of(links, i)).into_owned());
    let mut out = Vec::with_capacity(8);
    if let Some(mac) = &e.mac {
        let mut text = vec![0; output::hex_len(mac)];
        output::hex_into(mac, b':', &mut text);
        out.push((
            "mac",
            "",
            Shown::Text(String::from_utf8_lossy(&text).into()),
        ));
    }
    if !one_link && e.index != 0 {
        out.push(("ifname", "dev", name(e.index)));
    }
    if let Some(dst) = e.dst {
        out.push(("dst", "dst", Shown::Text(dst.to_string())));
    }
    let numbers = [
        ("vlan", "vlan", e.vlan.filter(|&v| v != 0).map(u32::from)),
        ("port", "port", e.port.map(u32::from)),
        ("vni", "vni", e.vni),
        ("src_vni", "src_vni", e.src_vni),
    ];
    for (key, word, n) in numbers {
        if let Some(n) = n {
            out.push((key, word, Shown::Number(n)));
        }
    }
    match (e.via, e.link_netnsid) {
        (Some(via), Some(_)) => out.push(("viaIfIndex", "via ifindex", Shown::Number(via))),
        (Some(via), None) => out.push(("viaIf", "via", name(via))),
        _ => {}
    }
    if let Some(n) = e.nhid {
        out.push(("nhid", "nhid", Shown::Number(n)));
    }
    if let Some(n) = e.link_netnsid {
        out.push(("linkNetNsId", "link-netnsid", Shown::Number(n)));
    }
    out
}

/// One entry as `bridge -j fdb show` prints it.
pub fn fdb_json(j: &mut Json, e: &FdbEntry, links: &[Link], one_link: bool) {
    j.begin_object();
    for (key, _, value) in shown(e, links, one_link) {
        j.key(key);
        match value {
            Shown::Text(t) => j.string(t),
            Shown::Number(n) => j.number(n),
        };
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
    let mut s = String::new();
    for (_, word, value) in shown(e, links, one_link) {
        if !word.is_empty() {
            s.push_str(word);
            s.push(' ');
        }
        match value {
            Shown::Text(t) => s.push_str(&t),
            Shown::Number(n) => s.push_str(&n.to_string()),
        }
        s.push(' ');
    }
    for w in fdb_flag_words(e.flags) {
        s.push_str(w);
        s.push(' ');
    }
    if let Some(m) = e.master {
        s.push_str("master ");
        s.push_str(&String::from_utf8_lossy(&name_of(links, m)));
        s.push(' ');
    }
    s.push_str(&fdb_state_name(e.state, false));
    s.push('\n');
    s
}

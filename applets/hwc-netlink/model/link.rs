//! A link's `ip -j link` / `ip -br link` rendering.

use std::borrow::Cow;

use hwc_core::output::{self, Json};
use hwc_rtnl::kind::Value;
use hwc_rtnl::Link;

use crate::names::{flag_words, operstate_name};

/// A link-layer address as ip prints it: lowercase hex bytes joined by ':'.
fn mac_text(bytes: &[u8]) -> String {
    let mut text = vec![0; output::hex_len(bytes)];
    output::hex_into(bytes, b':', &mut text);
    String::from_utf8(text).unwrap_or_default()
}

/// Link `index` of `links`. A dump lists links in index order, often without gaps, so the link
/// is first looked for where it would be with none, then by binary search (with 1000 links a
/// linear search per link is quadratic); the linear search remains for a list in another order.
fn find(links: &[Link], index: u32) -> Option<&Link> {
    let first = links.first()?.index;
    let guess = index.checked_sub(first).and_then(|i| links.get(i as usize));
    if let Some(l) = guess.filter(|l| l.index == index) {
        return Some(l);
    }
    match links.binary_search_by_key(&index, |l| l.index) {
        Ok(i) => Some(&links[i]),
        Err(_) => links.iter().find(|l| l.index == index),
    }
}

/// The name of link `index`, `ifN` when it is not in `links`.
pub(super) fn name_of(links: &[Link], index: u32) -> Cow<'_, [u8]> {
    find(links, index).map_or_else(
        || format!("if{index}").into_bytes().into(),
        |l| l.name().into(),
    )
}

/// What printing links as JSON keeps from one link to the next: the flags array last written
/// (links in a listing share a few sets of flags, and writing the array word by word is a
/// good part of a link's line).
#[derive(Default)]
pub struct LinkScratch {
    flags: Option<(u32, bool)>,
    flags_json: Json,
}

/// The link keys of `ip -j link` / `ip -j addr` that hwc reports, in iproute2's order. Like ip,
/// the link-layer address is shown only without a family filter, or with details.
pub fn link_json(
    j: &mut Json,
    l: &Link,
    links: &[Link],
    details: bool,
    family_filtered: bool,
    scratch: &mut LinkScratch,
    info_data: Option<&[u8]>,
) {
    j.key_inline("ifindex").number(l.index);
    let mut master_down = false;
    if let Some(peer) = l.link().filter(|&p| p != l.index) {
        if peer == 0 {
            j.key_inline("link").null();
        } else if let Some(nsid) = l.link_netnsid() {
            j.key_inline("link_index")
                .number(peer)
                .key_inline("link_netnsid")
                .number(nsid);
        } else {
            j.key_inline("link").string(name_of(links, peer));
            master_down = find(links, peer).is_some_and(|x| !x.is_up());
        }
    }
    j.key_inline("ifname").string(l.name());
    if scratch.flags != Some((l.flags, master_down)) {
        let words = &mut scratch.flags_json;
        words.clear();
        words.begin_array();
        flag_words(l.flags, master_down, |w| {
            words.string(w);
        });
        words.end_array();
        scratch.flags = Some((l.flags, master_down));
    }
    j.key_inline("flags").embed(&scratch.flags_json);
    if let Some(mtu) = l.mtu() {
        j.key_inline("mtu").number(mtu);
    }
    if let Some(m) = l.master() {
        j.key_inline("master").string(name_of(links, m));
    }
    if let Some(s) = l.operstate() {
        j.key_inline("operstate");
        match operstate_name(s) {
            Cow::Borrowed(name) => j.word(name),
            Cow::Owned(number) => j.string(number),
        };
    }
    if let Some(a) = l.address().filter(|_| !family_filtered || details) {
        j.key_inline("address").hex_string(a, b':');
    }
    if details {
        if let Some(kind) = l.kind_bytes() {
            j.key_inline("linkinfo")
                .begin_object()
                .key_inline("info_kind")
                .string(kind);
            if let Some(data) = info_data {
                info_data_json(j, &l.kind().unwrap_or_default(), data, links);
            }
            j.end_object();
        }
    }
}

/// `info_data` of a kind the kind table knows, with the keys and values `ip -j -d` shows.
fn info_data_json(j: &mut Json, kind: &str, data: &[u8], links: &[Link]) {
    let Some(shown) = hwc_rtnl::kind::kind(kind).map(|k| k.shown(data)) else {
        return;
    };
    if shown.is_empty() {
        return;
    }
    j.key_inline("info_data").begin_object();
    for (key, value) in shown {
        j.key_inline(key);
        match value {
            Value::Number(n) => j.number(n),
            Value::Bool(b) => j.bool(b),
            Value::Addr(ip) => j.string(ip.to_string()),
            Value::Index(i) => j.string(name_of(links, i)),
            Value::Name(n) | Value::PeerIn { name: n, .. } => j.string(n),
        };
    }
    j.end_object();
}

/// `ip -br link` style: name (with @peer), state, address, `<flags>`.
pub fn link_brief(l: &Link, links: &[Link]) -> [String; 4] {
    let mut name = l.name_text().into_owned();
    if let Some(peer) = l.link().filter(|&p| p != l.index && p != 0) {
        name = format!("{name}@{}", String::from_utf8_lossy(&name_of(links, peer)));
    }
    let mut flags = Vec::new();
    flag_words(l.flags, false, |w| flags.push(w.to_string()));
    [
        name,
        l.operstate()
            .map_or("UNKNOWN".into(), operstate_name)
            .into_owned(),
        l.address().map_or(String::new(), mac_text),
        format!("<{}>", flags.join(",")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_layer_addresses_as_ip_prints_them() {
        assert_eq!(mac_text(&[]), "");
        assert_eq!(mac_text(&[0x0a]), "0a");
        assert_eq!(
            mac_text(&[0x02, 0x42, 0xac, 0x11, 0x00, 0xff]),
            "02:42:ac:11:00:ff"
        );
        // InfiniBand: 20 bytes.
        assert_eq!(mac_text(&[0x80; 20]), ["80"; 20].join(":"));
    }

    fn link(index: u32, name: &str) -> Link {
        let mut l = Link::named(name, None);
        l.index = index;
        l
    }

    #[test]
    fn links_are_found_with_gaps_and_out_of_order() {
        let sorted = [link(1, "lo"), link(2, "a"), link(5, "b"), link(9, "c")];
        for l in &sorted {
            assert_eq!(*name_of(&sorted, l.index), *l.name());
        }
        assert_eq!(*name_of(&sorted, 3), *b"if3");
        assert_eq!(*name_of(&sorted, 0), *b"if0");
        let shuffled = [link(9, "c"), link(1, "lo"), link(5, "b")];
        assert_eq!(*name_of(&shuffled, 5), *b"b");
        assert_eq!(*name_of(&shuffled, 9), *b"c");
        assert_eq!(*name_of(&shuffled, 2), *b"if2");
    }
}

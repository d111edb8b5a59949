//! Links, addresses and routes decoded from rtnetlink messages, and printed the way `ip -j` and
//! `ip -br` print them (iproute2's key names, present or absent in the same cases).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::codec::{attr_bytes, attr_str, attr_u32, attrs};
use hwc_core::output::{self, Json};

pub const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
pub const IFF_LOWER_UP: u32 = 0x10000;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_INFO_KIND: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;

pub const RT_TABLE_MAIN: u32 = 254;

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

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

/// iproute2's flag words in its order, each given to `word`; NO-CARRIER first for an up link
/// without carrier; unknown bits as one hex word; M-DOWN last when the link it rides on is down.
pub fn flag_words(flags: u32, master_down: bool, mut word: impl FnMut(&str)) {
    // A static, not a const: iterating a const array by value copies all of it to the stack
    // on every call (once per link listed).
    static NAMES: [(u32, &str); 18] = [
        (0x8, "LOOPBACK"),
        (0x2, "BROADCAST"),
        (0x10, "POINTOPOINT"),
        (0x1000, "MULTICAST"),
        (0x80, "NOARP"),
        (0x200, "ALLMULTI"),
        (0x100, "PROMISC"),
        (0x400, "MASTER"),
        (0x800, "SLAVE"),
        (0x4, "DEBUG"),
        (0x8000, "DYNAMIC"),
        (0x4000, "AUTOMEDIA"),
        (0x2000, "PORTSEL"),
        (0x20, "NOTRAILERS"),
        (0x1, "UP"),
        (0x10000, "LOWER_UP"),
        (0x20000, "DORMANT"),
        (0x40000, "ECHO"),
    ];
    if flags & IFF_UP != 0 && flags & IFF_RUNNING == 0 {
        word("NO-CARRIER");
    }
    let mut rest = flags & !IFF_RUNNING;
    for &(bit, name) in &NAMES {
        if rest & bit != 0 {
            rest &= !bit;
            word(name);
        }
    }
    if rest != 0 {
        word(&format!("{rest:x}"));
    }
    if master_down {
        word("M-DOWN");
    }
}

pub fn operstate_name(state: u8) -> Cow<'static, str> {
    const NAMES: [&str; 7] = [
        "UNKNOWN",
        "NOTPRESENT",
        "DOWN",
        "LOWERLAYERDOWN",
        "TESTING",
        "DORMANT",
        "UP",
    ];
    NAMES
        .get(state as usize)
        .map_or_else(|| state.to_string().into(), |&n| n.into())
}

/// A link-layer address as ip prints it: lowercase hex bytes joined by ':'.
pub fn mac_text(bytes: &[u8]) -> String {
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
fn name_of(links: &[Link], index: u32) -> Cow<'_, [u8]> {
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
                .string(kind)
                .end_object();
        }
    }
}

/// `ip -br link` style: name (with @peer), state, address, <flags>.
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

fn ip_from(family: u8, d: &[u8]) -> Option<IpAddr> {
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

pub fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

pub fn addr_json(j: &mut Json, a: &Addr) {
    j.begin_object();
    j.key("family").string(if a.family as i32 == libc::AF_INET {
        "inet"
    } else {
        "inet6"
    });
    if let Some(ip) = a.shown() {
        j.key("local").string(ip.to_string());
    }
    j.key("prefixlen").number(a.prefixlen);
    j.key("scope").string(scope_name(a.scope));
    if a.family as i32 == libc::AF_INET {
        if let Some(l) = &a.label {
            j.key("label").string(l);
        }
    }
    j.end_object();
}

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

fn type_name(t: u8) -> String {
    [
        "unspec",
        "unicast",
        "local",
        "broadcast",
        "anycast",
        "multicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
    ]
    .get(t as usize)
    .map_or(t.to_string(), |s| s.to_string())
}

fn protocol_name(p: u8) -> String {
    match p {
        0 => "unspec".into(),
        1 => "redirect".into(),
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        8 => "gated".into(),
        9 => "ra".into(),
        10 => "mrt".into(),
        11 => "zebra".into(),
        12 => "bird".into(),
        13 => "dnrouted".into(),
        14 => "xorp".into(),
        15 => "ntk".into(),
        16 => "dhcp".into(),
        42 => "babel".into(),
        186 => "bgp".into(),
        187 => "isis".into(),
        188 => "ospf".into(),
        189 => "rip".into(),
        192 => "eigrp".into(),
        n => n.to_string(),
    }
}

pub fn table_name(t: u32) -> String {
    match t {
        253 => "default".into(),
        254 => "main".into(),
        255 => "local".into(),
        n => n.to_string(),
    }
}

fn route_flag_words(flags: u32) -> Vec<&'static str> {
    [
        (1, "dead"),
        (2, "pervasive"),
        (4, "onlink"),
        (8, "offload"),
        (16, "linkdown"),
        (32, "unresolved"),
        (64, "trap"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, n)| *n)
    .collect()
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

    fn flag_words(flags: u32, master_down: bool) -> Vec<String> {
        let mut words = Vec::new();
        super::flag_words(flags, master_down, |w| words.push(w.to_string()));
        words
    }

    #[test]
    fn flags_in_iproute2_order() {
        assert_eq!(
            flag_words(0x1003 | 0x40 | 0x10000, false),
            ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]
        );
        assert_eq!(
            flag_words(0x1003, false),
            ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"]
        );
        assert_eq!(
            flag_words(0x8 | 0x1 | 0x40 | 0x10000, false),
            ["LOOPBACK", "UP", "LOWER_UP"]
        );
        assert_eq!(
            flag_words(0x1002, true),
            ["BROADCAST", "MULTICAST", "M-DOWN"]
        );
    }

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
        Link {
            index,
            ..Link::named(name, None)
        }
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

    #[test]
    fn short_payloads_are_refused_not_panicking() {
        assert!(Link::parse(&[0; 15]).is_none());
        assert!(Addr::parse(&[0; 7]).is_none());
        assert!(Route::parse(&[0; 11]).is_none());
        let mut x = 7u64;
        for _ in 0..5000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let len = (x >> 58) as usize + 8;
            let buf: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            let _ = Link::parse(&buf);
            let _ = Addr::parse(&buf);
            let _ = Route::parse(&buf);
        }
    }
}

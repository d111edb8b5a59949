//! iproute2's name tables: the words `ip` prints for link flags, operational states, address
//! scopes, route types, protocols, tables and route flags, and `bridge` for forwarding entries'
//! flags and states; numbers for what it has no word for.

use std::borrow::Cow;

use hwc_rtnl::IFF_UP;

const IFF_RUNNING: u32 = libc::IFF_RUNNING as u32;

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

pub fn type_name(t: u8) -> String {
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

pub fn protocol_name(p: u8) -> String {
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

pub fn route_flag_words(flags: u32) -> Vec<&'static str> {
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

/// The words `bridge fdb` prints for an entry's flags, in its order.
pub fn fdb_flag_words(flags: u8) -> impl Iterator<Item = &'static str> {
    use hwc_rtnl::fdb::{
        NTF_EXT_LEARNED, NTF_MASTER, NTF_OFFLOADED, NTF_ROUTER, NTF_SELF, NTF_STICKY,
    };
    [
        (NTF_SELF, "self"),
        (NTF_ROUTER, "router"),
        (NTF_EXT_LEARNED, "extern_learn"),
        (NTF_OFFLOADED, "offload"),
        (NTF_MASTER, "master"),
        (NTF_STICKY, "sticky"),
    ]
    .into_iter()
    .filter(move |(bit, _)| flags & bit != 0)
    .map(|(_, word)| word)
}

/// The word `bridge fdb` prints for an entry's state: empty for a learned (reachable) one, the
/// number for one it has no word for (`state=0x..` in text, `0x..` in JSON).
pub fn fdb_state_name(state: u16, json: bool) -> Cow<'static, str> {
    use hwc_rtnl::fdb::{NUD_NOARP, NUD_PERMANENT, NUD_REACHABLE, NUD_STALE};
    if state & NUD_PERMANENT != 0 {
        "permanent".into()
    } else if state & NUD_NOARP != 0 {
        "static".into()
    } else if state & NUD_STALE != 0 {
        "stale".into()
    } else if state & NUD_REACHABLE != 0 {
        "".into()
    } else if json {
        format!("{state:#x}").into()
    } else {
        format!("state={state:#x}").into()
    }
}

#[cfg(test)]
mod tests {
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
}

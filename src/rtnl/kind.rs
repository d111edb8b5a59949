//! The kinds of link hwc creates and shows, as one table: for each kind its kernel module, and
//! the attributes of its `IFLA_INFO_DATA` with the word ip(8) takes for each at `link add`, the
//! key `ip -j -d` shows it under, and its codec. Adding a kind is one entry here (with a new
//! [`Codec`] only when its attributes are of a type no kind had yet).

use std::net::IpAddr;

use libc::{IFLA_INFO_DATA, IFLA_LINKINFO};

use crate::codec::{attrs, Request};
use crate::ip_from;

/// How an attribute's value is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// A number of 1, 2 or 4 bytes in host order, at most `max`.
    Number { bytes: u8, max: u32 },
    /// A 16-bit number in network order (a UDP port).
    NetPort,
    /// A u8 that is 1 unless ip's word (`nolearning`) is given, which sets 0; shown as a boolean.
    Unless,
    /// An IPv4 address in this attribute, an IPv6 one in `v6` (shown under `key6`).
    Addr { v6: u16, key6: &'static str },
    /// A link, given by name and carried as its index; shown by name.
    Link,
    /// veth's peer: a nested ifinfomsg holding the peer's name (`peer [name] NAME`).
    Peer,
}

/// One attribute of a kind's `IFLA_INFO_DATA`.
#[derive(Debug)]
pub struct Field {
    /// ip's word for it at `link add ... type KIND`.
    pub word: &'static str,
    /// Its key under `linkinfo.info_data` in `ip -j -d link show` ("" when ip shows none).
    pub key: &'static str,
    pub attr: u16,
    pub codec: Codec,
}

/// A kind of link.
#[derive(Debug)]
pub struct Kind {
    pub name: &'static str,
    /// The kernel module that provides it (a kernel without it answers "Unknown device type").
    pub module: &'static str,
    pub fields: &'static [Field],
    /// Words `link add` cannot do without (`link` is the generic parent link, IFLA_LINK).
    pub required: &'static [&'static str],
}

// linux/if_link.h and linux/veth.h; libc has no names for them.
const VETH_INFO_PEER: u16 = 1;
const IFLA_VLAN_ID: u16 = 1;
pub const IFLA_VXLAN_ID: u16 = 1;
pub const IFLA_VXLAN_LINK: u16 = 3;
pub const IFLA_VXLAN_LOCAL: u16 = 4;
pub const IFLA_VXLAN_TTL: u16 = 5;
pub const IFLA_VXLAN_LEARNING: u16 = 7;
pub const IFLA_VXLAN_PORT: u16 = 15;
pub const IFLA_VXLAN_LOCAL6: u16 = 17;

/// What VXLAN adds to each frame it carries: the outer IPv4 (20) or IPv6 (40) header, UDP (8),
/// VXLAN's own (8) and the inner Ethernet header (14). An overlay's MTU is its underlay's less this.
pub fn vxlan_overhead(ipv6_underlay: bool) -> u32 {
    if ipv6_underlay {
        70
    } else {
        50
    }
}

/// The largest VXLAN network identifier: 24 bits.
pub const MAX_VNI: u32 = (1 << 24) - 1;

pub static KINDS: &[Kind] = &[
    Kind {
        name: "bridge",
        module: "bridge",
        fields: &[],
        required: &[],
    },
    Kind {
        name: "dummy",
        module: "dummy",
        fields: &[],
        required: &[],
    },
    Kind {
        name: "veth",
        module: "veth",
        fields: &[Field {
            word: "peer",
            key: "",
            attr: VETH_INFO_PEER,
            codec: Codec::Peer,
        }],
        required: &[],
    },
    Kind {
        name: "vlan",
        module: "8021q",
        fields: &[Field {
            word: "id",
            key: "id",
            attr: IFLA_VLAN_ID,
            codec: Codec::Number {
                bytes: 2,
                max: 4094,
            },
        }],
        required: &["id", "link"],
    },
    Kind {
        name: "vxlan",
        module: "vxlan",
        // In the order `ip -j -d` shows them.
        fields: &[
            Field {
                word: "id",
                key: "id",
                attr: IFLA_VXLAN_ID,
                codec: Codec::Number {
                    bytes: 4,
                    max: MAX_VNI,
                },
            },
            Field {
                word: "local",
                key: "local",
                attr: IFLA_VXLAN_LOCAL,
                codec: Codec::Addr {
                    v6: IFLA_VXLAN_LOCAL6,
                    key6: "local6",
                },
            },
            Field {
                word: "dev",
                key: "link",
                attr: IFLA_VXLAN_LINK,
                codec: Codec::Link,
            },
            Field {
                word: "dstport",
                key: "port",
                attr: IFLA_VXLAN_PORT,
                codec: Codec::NetPort,
            },
            Field {
                word: "nolearning",
                key: "learning",
                attr: IFLA_VXLAN_LEARNING,
                codec: Codec::Unless,
            },
            Field {
                word: "ttl",
                key: "ttl",
                attr: IFLA_VXLAN_TTL,
                codec: Codec::Number { bytes: 1, max: 255 },
            },
        ],
        required: &["id"],
    },
];

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The module providing links of `kind` (the kind's own name for kinds hwc does not know).
pub fn module_of(kind: &str) -> &str {
    self::kind(kind).map_or(kind, |k| k.module)
}

/// A value of a field, as given or as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Number(u32),
    Bool(bool),
    Addr(IpAddr),
    /// A link's index.
    Index(u32),
    /// A name (veth's peer).
    Name(String),
    /// veth's peer placed in another network namespace: its name, and the attribute
    /// (`IFLA_NET_NS_PID` or `IFLA_NET_NS_FD`) with its value.
    PeerIn {
        name: String,
        ns: (u16, u32),
    },
}

impl Field {
    /// Adds the attribute carrying `value` to the request being built.
    pub fn put(&self, req: &mut Request, value: &Value) {
        match (self.codec, value) {
            (Codec::Number { bytes: 1, .. }, Value::Number(n)) => {
                req.attr(self.attr, &[*n as u8]);
            }
            (Codec::Number { bytes: 2, .. }, Value::Number(n)) => {
                req.attr(self.attr, &(*n as u16).to_ne_bytes());
            }
            (Codec::Number { .. }, Value::Number(n)) | (Codec::Link, Value::Index(n)) => {
                req.attr_u32(self.attr, *n);
            }
            (Codec::NetPort, Value::Number(n)) => {
                req.attr(self.attr, &(*n as u16).to_be_bytes());
            }
            (Codec::Unless, Value::Bool(b)) => {
                req.attr(self.attr, &[u8::from(*b)]);
            }
            (Codec::Addr { .. }, Value::Addr(IpAddr::V4(a))) => {
                req.attr(self.attr, &a.octets());
            }
            (Codec::Addr { v6, .. }, Value::Addr(IpAddr::V6(a))) => {
                req.attr(v6, &a.octets());
            }
            (Codec::Peer, Value::Name(name)) => {
                req.begin(self.attr)
                    .header(&[0; 16])
                    .attr_cstr(libc::IFLA_IFNAME, name)
                    .end();
            }
            (Codec::Peer, Value::PeerIn { name, ns }) => {
                req.begin(self.attr)
                    .header(&[0; 16])
                    .attr_cstr(libc::IFLA_IFNAME, name)
                    .attr_u32(ns.0, ns.1)
                    .end();
            }
            _ => unreachable!("a value of another codec"),
        }
    }

    /// The value of this field in `data` (an `IFLA_INFO_DATA`), with the key `ip -j -d` shows
    /// it under; `None` when absent, or when ip would not show it (an unset local address).
    pub fn shown(&self, data: &[u8]) -> Option<(&'static str, Value)> {
        if self.key.is_empty() {
            return None;
        }
        let find = |attr: u16| attrs(data).find(|(t, _)| *t == attr).map(|(_, d)| d);
        let number = |d: &[u8]| -> Option<u32> {
            Some(match *d {
                [b] => u32::from(b),
                [a, b] => u32::from(u16::from_ne_bytes([a, b])),
                [a, b, c, e] => u32::from_ne_bytes([a, b, c, e]),
                _ => return None,
            })
        };
        let value = match self.codec {
            Codec::Number { .. } => Value::Number(number(find(self.attr)?)?),
            Codec::NetPort => match *find(self.attr)? {
                [a, b] => Value::Number(u32::from(u16::from_be_bytes([a, b]))),
                _ => return None,
            },
            Codec::Unless => Value::Bool(*find(self.attr)?.first()? != 0),
            Codec::Link => Value::Index(number(find(self.attr)?).filter(|&i| i != 0)?),
            Codec::Addr { v6, key6 } => {
                let (key, ip) = match find(self.attr) {
                    Some(d) => (self.key, ip_from(libc::AF_INET as u8, d)?),
                    None => (key6, ip_from(libc::AF_INET6 as u8, find(v6)?)?),
                };
                return (!ip.is_unspecified()).then_some((key, Value::Addr(ip)));
            }
            Codec::Peer => return None,
        };
        Some((self.key, value))
    }
}

impl Kind {
    /// The fields `ip -j -d` shows of `data` (this kind's `IFLA_INFO_DATA`), in its order.
    pub fn shown(&self, data: &[u8]) -> Vec<(&'static str, Value)> {
        self.fields.iter().filter_map(|f| f.shown(data)).collect()
    }

    pub fn field(&self, word: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.word == word)
    }

    /// The value of the field `ip -j -d` shows under `key` in `data`, an address of either
    /// family (an IPv6 local address is shown under `local6`, and found here as `local`).
    pub fn value(&self, data: &[u8], key: &str) -> Option<Value> {
        let (_, value) = self.fields.iter().find(|f| f.key == key)?.shown(data)?;
        Some(value)
    }
}

/// The `IFLA_INFO_DATA` of an RTM_NEWLINK payload (ifinfomsg + attributes), if it has one.
pub fn info_data(link: &[u8]) -> Option<&[u8]> {
    let (_, info) = attrs(link.get(16..)?).find(|(t, _)| *t == IFLA_LINKINFO)?;
    attrs(info)
        .find(|(t, _)| *t == IFLA_INFO_DATA)
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a field writes, it reads back under its key (the encoder and decoder agree).
    #[test]
    fn every_field_reads_back_what_it_writes() {
        let values = |codec: Codec| match codec {
            Codec::Number { max, .. } => vec![Value::Number(0), Value::Number(max)],
            Codec::NetPort => vec![Value::Number(4789), Value::Number(65535)],
            Codec::Unless => vec![Value::Bool(false), Value::Bool(true)],
            Codec::Addr { .. } => vec![
                Value::Addr("192.0.2.7".parse().unwrap()),
                Value::Addr("fd00::7".parse().unwrap()),
            ],
            Codec::Link => vec![Value::Index(3)],
            Codec::Peer => vec![],
        };
        for kind in KINDS {
            for f in kind.fields {
                for v in values(f.codec) {
                    let mut req = Request::new(0, 0);
                    f.put(&mut req, &v);
                    let msg = req.finish(1).unwrap();
                    let (key, back) = f.shown(&msg[16..]).unwrap();
                    assert_eq!(back, v, "{} {}", kind.name, f.word);
                    let v6 = matches!(v, Value::Addr(IpAddr::V6(_)));
                    assert_eq!(key, if v6 { "local6" } else { f.key });
                }
            }
        }
    }

    #[test]
    fn an_unset_local_address_is_not_shown() {
        let mut req = Request::new(0, 0);
        req.attr(IFLA_VXLAN_LOCAL, &[0; 4]);
        let msg = req.finish(1).unwrap();
        let vxlan = kind("vxlan").unwrap();
        assert_eq!(vxlan.shown(&msg[16..]), []);
    }

    #[test]
    fn the_info_data_of_a_link_message() {
        let mut req = Request::new(0, 0);
        req.header(&[0; 16]).attr_cstr(libc::IFLA_IFNAME, "vx0");
        req.begin(IFLA_LINKINFO)
            .attr(libc::IFLA_INFO_KIND, b"vxlan")
            .begin(IFLA_INFO_DATA)
            .attr_u32(IFLA_VXLAN_ID, 0x0100)
            .end()
            .end();
        let msg = req.finish(1).unwrap();
        let data = info_data(&msg[16..]).unwrap();
        // The id's bytes hold a 0: the data is binary, never cut at a NUL.
        assert_eq!(
            kind("vxlan").unwrap().shown(data),
            [("id", Value::Number(0x0100))]
        );
        assert_eq!(info_data(&msg[16..40]), None);
    }

    #[test]
    fn modules() {
        assert_eq!(module_of("vlan"), "8021q");
        assert_eq!(module_of("vxlan"), "vxlan");
        assert_eq!(module_of("geneve"), "geneve");
    }
}

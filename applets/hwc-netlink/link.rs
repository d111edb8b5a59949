//! `link`: show, add (bridge, dummy, veth with a named peer, vlan), delete and change links.

use std::os::fd::AsRawFd;

use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Json, Table};
use libc::{
    IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO,
    IFLA_MASTER, IFLA_MTU, IFLA_NET_NS_FD, IFLA_NET_NS_PID,
};

use crate::context::{
    dump_links, fail, ifinfo, ifname, need_link, open_netns, spelled_out, usage, Ctx, CHANGE,
    CREATE,
};
use crate::model::{self, Link};
use hwc_rtnl::client::NlError;
use hwc_rtnl::codec::{self, Request};

/// The peer's ifinfomsg inside a veth's IFLA_INFO_DATA (linux/veth.h; libc has no name for it).
const VETH_INFO_PEER: u16 = 1;
/// The VLAN id inside a vlan's IFLA_INFO_DATA (linux/if_link.h; libc has no name for it).
const IFLA_VLAN_ID: u16 = 1;

/// ip's link commands in the order it tries them (hwc has no `replace`).
const VERBS: &[(&str, &str)] = &[
    ("add", "add"),
    ("set", "set"),
    ("change", "set"),
    ("replace", "replace"),
    ("delete", "delete"),
    ("show", "show"),
    ("lst", "show"),
    ("list", "show"),
];

pub(super) fn link_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match spelled_out(words, VERBS).as_slice() {
        [] | ["show"] => link_show(ctx, None),
        ["show", "dev", dev] | ["show", dev] => link_show(ctx, Some(dev)),
        ["add", rest @ ..] => link_add(ctx, rest),
        ["delete", "dev", dev] | ["delete", dev] => {
            let link = need_link(ctx, dev)?;
            let mut req = Request::new(codec::RTM_DELLINK, CHANGE);
            req.header(&ifinfo(link.index, 0, 0));
            let what = format!("link del {dev}");
            ctx.change(&req, &what).map_err(|e| fail(&what, e))?;
            Ok(0)
        }
        ["set", "dev", dev, rest @ ..] | ["set", dev, rest @ ..] => link_set(ctx, dev, rest),
        _ => Err(usage(format!("link: cannot parse '{}'", words.join(" ")))),
    }
}

pub(super) fn link_show(ctx: &mut Ctx, dev: Option<&str>) -> Result<u8> {
    let links = dump_links(ctx)?;
    if let Some(d) = dev.filter(|&d| !links.iter().any(|l| l.is_named(d))) {
        return Err(Error::failed(format!("{d}: no such device")));
    }
    let shown = links.iter().filter(|l| dev.is_none_or(|d| l.is_named(d)));
    if ctx.json {
        print_links_json(ctx, shown, &links, |_, _| {})?;
    } else {
        let mut t = Table::default();
        for l in shown {
            t.row(model::link_brief(l, &links));
        }
        output::emit(&t.render())?;
    }
    Ok(0)
}

/// Prints `shown` as ip -j does, each object closed after `more` adds its keys (addresses).
pub(super) fn print_links_json<'a>(
    ctx: &mut Ctx,
    shown: impl IntoIterator<Item = &'a Link>,
    links: &[Link],
    mut more: impl FnMut(&mut Json, &Link),
) -> Result<()> {
    // The dump is read: its 32 KiB receive buffer holds the output.
    let mut j = Json::reusing(ctx.sock.take_buffer());
    let mut scratch = model::LinkScratch::default();
    let filtered = ctx.family != 0;
    j.begin_array();
    for l in shown {
        j.begin_object();
        model::link_json(&mut j, l, links, ctx.details, filtered, &mut scratch);
        more(&mut j, l);
        j.end_object();
        j.emit_part()?;
    }
    j.end_array();
    output::emit(&j.finish())
}

pub(super) fn link_add(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let mut name = None;
    let mut kind = None;
    let mut peer = None;
    let mut vlan_id = None;
    let mut parent = None;
    let mut i = 0;
    let value = |i: usize| {
        words
            .get(i + 1)
            .copied()
            .ok_or_else(|| usage(format!("link add: '{}' needs a value", words[i])))
    };
    while i < words.len() {
        match words[i] {
            "name" => name = Some(value(i)?),
            "type" => kind = Some(value(i)?),
            "peer" => {
                let v = value(i)?;
                if v == "name" {
                    i += 1;
                    peer = Some(value(i)?);
                } else {
                    peer = Some(v);
                }
            }
            "id" => {
                vlan_id = Some(
                    value(i)?
                        .parse::<u16>()
                        .ok()
                        .filter(|&v| v < 4095)
                        .ok_or_else(|| usage("vlan id must be 0-4094"))?,
                )
            }
            "link" => parent = Some(value(i)?),
            w if name.is_none() && i == 0 => {
                name = Some(w);
                i += 1;
                continue;
            }
            w => return Err(usage(format!("link add: unexpected '{w}'"))),
        }
        i += 2;
    }
    let name = ifname(name.ok_or_else(|| usage("link add: missing NAME"))?)?;
    peer.map(ifname).transpose()?;
    let kind = kind.ok_or_else(|| usage("link add: missing 'type KIND'"))?;
    let what = format!("link add {name} type {kind}");
    let parent_index = match parent {
        Some(p) => Some(need_link(ctx, p)?.index),
        None => None,
    };
    match kind {
        "bridge" | "dummy" => new_link(ctx, name, kind, |_| {}, &what)?,
        "veth" => {
            let req = veth_request(name, peer, None, None);
            ctx.change(&req, &what)
                .map_err(|e| exists_or(e, &what, name, kind))?;
        }
        "vlan" => {
            let id = vlan_id.ok_or_else(|| usage("link add ... type vlan needs 'id N'"))?;
            let parent =
                parent_index.ok_or_else(|| usage("link add ... type vlan needs 'link DEV'"))?;
            let mut req = Request::new(codec::RTM_NEWLINK, CREATE);
            req.header(&[0; 16])
                .attr_cstr(IFLA_IFNAME, name)
                .attr_u32(IFLA_LINK, parent);
            req.begin(IFLA_LINKINFO).attr(IFLA_INFO_KIND, b"vlan");
            req.begin(IFLA_INFO_DATA)
                .attr(IFLA_VLAN_ID, &id.to_ne_bytes())
                .end()
                .end();
            ctx.change(&req, &what)
                .map_err(|e| exists_or(e, &what, name, kind))?;
        }
        other => {
            return Err(usage(format!(
                "link add: type '{other}' is not supported (bridge, dummy, veth, vlan)"
            )))
        }
    }
    Ok(0)
}

/// The kernel module that provides each kind of link hwc-netlink creates: a kernel without it
/// loaded (and without module autoloading, as in a rescue shell's initrd) answers a create with
/// EOPNOTSUPP, "Unknown device type".
pub(super) fn module_of(kind: &str) -> &str {
    match kind {
        "vlan" => "8021q",
        other => other,
    }
}

/// The error of creating `name`, a link of `kind`: one that exists, a kind the kernel lacks (with
/// the module to load), or the kernel's own answer.
pub(super) fn exists_or(e: NlError, what: &str, name: &str, kind: &str) -> Error {
    match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: {name} already exists")),
        libc::EOPNOTSUPP => fail(what, e).hint(format!(
            "the kernel has no {kind} links: load the module (modprobe {}), or put it in the initrd",
            module_of(kind)
        )),
        _ => fail(what, e),
    }
}

/// `IFLA_NET_NS_PID` for a pid, else `IFLA_NET_NS_FD` of the named namespace; the file must stay
/// open until the request is sent.
pub(super) fn netns_attr(spec: &str) -> Result<(u16, u32, Option<std::fs::File>)> {
    match spec.parse::<u32>() {
        Ok(pid) => Ok((IFLA_NET_NS_PID, pid, None)),
        Err(_) => {
            let f = open_netns(spec)?;
            Ok((IFLA_NET_NS_FD, f.as_raw_fd() as u32, Some(f)))
        }
    }
}

/// RTM_NEWLINK for a veth pair: its name, an optional peer name (placed in `peer_ns` when given),
/// an optional master for this end.
pub(super) fn veth_request(
    name: &str,
    peer: Option<&str>,
    master: Option<u32>,
    peer_ns: Option<(u16, u32)>,
) -> Request {
    let mut req = Request::new(codec::RTM_NEWLINK, CREATE);
    req.header(&[0; 16]).attr_cstr(IFLA_IFNAME, name);
    if let Some(m) = master {
        req.attr_u32(IFLA_MASTER, m);
    }
    req.begin(IFLA_LINKINFO).attr(IFLA_INFO_KIND, b"veth");
    if let Some(p) = peer {
        req.begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .header(&[0; 16])
            .attr_cstr(IFLA_IFNAME, p);
        if let Some((ty, value)) = peer_ns {
            req.attr_u32(ty, value);
        }
        req.end().end();
    }
    req.end();
    req
}

pub(super) fn parse_mac(text: &str) -> Result<Vec<u8>> {
    let bytes: Option<Vec<u8>> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2))
        .collect();
    bytes
        .filter(|b| b.len() == 6)
        .ok_or_else(|| usage(format!("'{text}' is not a MAC address")))
}

pub(super) fn link_set(ctx: &mut Ctx, dev: &str, words: &[&str]) -> Result<u8> {
    if words.is_empty() {
        return Err(usage("link set DEV: nothing to set"));
    }
    if let Some(at) = words.iter().position(|w| *w == "name") {
        ifname(words.get(at + 1).copied().unwrap_or_default())?;
    }
    let link = need_link(ctx, dev)?;
    let (mut flags, mut change) = (0u32, 0u32);
    let mut attrs: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut ns_file = None;
    let mut i = 0;
    while i < words.len() {
        let value = || {
            words
                .get(i + 1)
                .copied()
                .ok_or_else(|| usage(format!("link set: '{}' needs a value", words[i])))
        };
        match words[i] {
            "up" => {
                flags |= hwc_rtnl::IFF_UP;
                change |= hwc_rtnl::IFF_UP;
                i += 1;
            }
            "down" => {
                flags &= !hwc_rtnl::IFF_UP;
                change |= hwc_rtnl::IFF_UP;
                i += 1;
            }
            "nomaster" => {
                attrs.push((IFLA_MASTER, 0u32.to_ne_bytes().to_vec()));
                i += 1;
            }
            "mtu" => {
                let mtu: u32 = value()?.parse().map_err(|_| usage("mtu needs a number"))?;
                attrs.push((IFLA_MTU, mtu.to_ne_bytes().to_vec()));
                i += 2;
            }
            "master" => {
                let m = value()?;
                let master = need_link(ctx, m)?;
                attrs.push((IFLA_MASTER, master.index.to_ne_bytes().to_vec()));
                i += 2;
            }
            "name" => {
                let mut n = value()?.as_bytes().to_vec();
                n.push(0);
                attrs.push((IFLA_IFNAME, n));
                i += 2;
            }
            "address" => {
                attrs.push((IFLA_ADDRESS, parse_mac(value()?)?));
                i += 2;
            }
            "netns" => {
                let (ty, value, file) = netns_attr(value()?)?;
                attrs.push((ty, value.to_ne_bytes().to_vec()));
                ns_file = file;
                i += 2;
            }
            other => return Err(usage(format!("link set: unknown setting '{other}'"))),
        }
    }
    let what = format!("link set {dev} {}", words.join(" "));
    change_link(ctx, link.index, flags, change, &what, |req| {
        for (t, v) in &attrs {
            req.attr(*t, v);
        }
    })?;
    drop(ns_file);
    Ok(0)
}

pub(super) fn new_link(
    ctx: &mut Ctx,
    name: &str,
    kind: &str,
    build: impl FnOnce(&mut Request),
    what: &str,
) -> Result<()> {
    ctx.change(&link_request(name, kind, build), what)
        .map_err(|e| exists_or(e, what, name, kind))
}

/// The RTM_NEWLINK request that creates `name`, a link of `kind`, with what `build` adds.
pub(super) fn link_request(name: &str, kind: &str, build: impl FnOnce(&mut Request)) -> Request {
    let mut req = Request::new(codec::RTM_NEWLINK, CREATE);
    req.header(&[0; 16]).attr_cstr(IFLA_IFNAME, name);
    build(&mut req);
    req.begin(IFLA_LINKINFO)
        .attr(IFLA_INFO_KIND, kind.as_bytes())
        .end();
    req
}

/// Sends an RTM_NEWLINK change for `index` built by `build`.
pub(super) fn change_link(
    ctx: &mut Ctx,
    index: u32,
    flags: u32,
    change: u32,
    what: &str,
    build: impl FnOnce(&mut Request),
) -> Result<()> {
    let mut req = Request::new(codec::RTM_NEWLINK, CHANGE);
    req.header(&ifinfo(index, flags, change));
    build(&mut req);
    ctx.change(&req, what).map_err(|e| fail(what, e))
}

pub(super) fn set_up(ctx: &mut Ctx, link: &Link, up: bool) -> Result<()> {
    let what = format!(
        "link set {} {}",
        link.name_text(),
        if up { "up" } else { "down" }
    );
    change_link(
        ctx,
        link.index,
        if up { hwc_rtnl::IFF_UP } else { 0 },
        hwc_rtnl::IFF_UP,
        &what,
        |_| {},
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_the_kernel_lacks_names_its_module() {
        let lacking = |kind| {
            let e = NlError {
                errno: libc::EOPNOTSUPP,
                message: "Operation not supported (kernel: Unknown device type)".into(),
            };
            exists_or(e, &format!("link add x type {kind}"), "x", kind).to_string()
        };
        for (kind, module) in [
            ("bridge", "bridge"),
            ("veth", "veth"),
            ("vlan", "8021q"),
            ("dummy", "dummy"),
        ] {
            let text = lacking(kind);
            assert!(
                text.contains("Unknown device type")
                    && text.contains(&format!("the kernel has no {kind} links"))
                    && text.contains(&format!("modprobe {module}")),
                "{text}"
            );
        }
        let exists = NlError {
            errno: libc::EEXIST,
            message: "File exists".into(),
        };
        assert_eq!(
            exists_or(exists, "link add x type dummy", "x", "dummy").to_string(),
            "link add x type dummy: x already exists"
        );
    }
}

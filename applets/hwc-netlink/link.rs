//! `link`: show, delete and change links (`link add` is in `add`), and the change requests the
//! ensure-* commands send.

use std::os::fd::AsRawFd;

use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Json, Table};
use libc::{IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_MTU, IFLA_NET_NS_FD, IFLA_NET_NS_PID};

use crate::add::{create_request, link_add};
use crate::context::{
    dump_link_details, dump_links, fail, ifinfo, ifname, need_link, open_netns, spelled_out, usage,
    value_of, Ctx, CHANGE,
};
use crate::model::{self, Link};
use crate::plan::Step;
use hwc_rtnl::codec::{self, Request};
use hwc_rtnl::kind::{self, Value};

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
    let (links, data) = if ctx.details && ctx.json {
        dump_link_details(ctx)?
    } else {
        (dump_links(ctx)?, Vec::new())
    };
    if let Some(d) = dev.filter(|&d| !links.iter().any(|l| l.is_named(d))) {
        return Err(Error::failed(format!("{d}: no such device")));
    }
    let shown = (0..links.len()).filter(|&i| dev.is_none_or(|d| links[i].is_named(d)));
    if ctx.json {
        print_links_json(ctx, shown, &links, &data, |_, _| {})?;
    } else {
        let mut t = Table::default();
        for i in shown {
            t.row(model::link_brief(&links[i], &links));
        }
        output::emit(&t.render())?;
    }
    Ok(0)
}

/// Prints the links at the indexes `shown` as ip -j does, each object closed after `more` adds
/// its keys (addresses). `data` holds each link's IFLA_INFO_DATA when details were dumped.
pub(super) fn print_links_json(
    ctx: &mut Ctx,
    shown: impl IntoIterator<Item = usize>,
    links: &[Link],
    data: &[Box<[u8]>],
    mut more: impl FnMut(&mut Json, &Link),
) -> Result<()> {
    // The dump is read: its 32 KiB receive buffer holds the output.
    let mut j = Json::reusing(ctx.sock.take_buffer());
    let mut scratch = model::LinkScratch::default();
    let filtered = ctx.family != 0;
    j.begin_array();
    for i in shown {
        let l = &links[i];
        j.begin_object();
        let info = data.get(i).map(|d| &d[..]);
        model::link_json(&mut j, l, links, ctx.details, filtered, &mut scratch, info);
        more(&mut j, l);
        j.end_object();
        j.emit_part()?;
    }
    j.end_array();
    output::emit(&j.finish())
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

/// RTM_NEWLINK for a veth pair: its name, its peer's (placed in `peer_ns` when given), an
/// optional master for this end.
pub(super) fn veth_request(
    name: &str,
    peer: &str,
    master: Option<u32>,
    peer_ns: Option<(u16, u32)>,
) -> Request {
    let veth = kind::kind("veth").expect("veth is in the table");
    let peer_field = veth.field("peer").expect("veth has a peer");
    let peer = match peer_ns {
        Some(ns) => Value::PeerIn {
            name: peer.into(),
            ns,
        },
        None => Value::Name(peer.into()),
    };
    create_request(name, "veth", &[(peer_field, peer)], |req| {
        if let Some(m) = master {
            req.attr_u32(IFLA_MASTER, m);
        }
    })
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
        let value = || value_of("link set", words[i], &words[i + 1..]);
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

/// The RTM_NEWLINK request that changes link `index`: `flags` where `change` has bits, and the
/// attributes `build` adds.
pub(super) fn change_request(
    index: u32,
    flags: u32,
    change: u32,
    build: impl FnOnce(&mut Request),
) -> Request {
    let mut req = Request::new(codec::RTM_NEWLINK, CHANGE);
    req.header(&ifinfo(index, flags, change));
    build(&mut req);
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
    let req = change_request(index, flags, change, build);
    ctx.change(&req, what).map_err(|e| fail(what, e))
}

/// The step that brings `link` up.
pub(super) fn up_step(link: &Link) -> Step {
    let req = change_request(link.index, hwc_rtnl::IFF_UP, hwc_rtnl::IFF_UP, |_| {});
    Step::new(req, format!("link set {} up", link.name_text()), "up")
}

/// The step that gives `link` the MTU `mtu`.
pub(super) fn mtu_step(link: &Link, mtu: u32) -> Step {
    let req = change_request(link.index, 0, 0, |req| {
        req.attr_u32(libc::IFLA_MTU, mtu);
    });
    Step::new(
        req,
        format!("link set {} mtu {mtu}", link.name_text()),
        format!("mtu {mtu}"),
    )
}

/// The step that puts `link` on the bridge `master`.
pub(super) fn master_step(link: &Link, master: &Link) -> Step {
    let req = change_request(link.index, 0, 0, |req| {
        req.attr_u32(libc::IFLA_MASTER, master.index);
    });
    let br = master.name_text();
    Step::new(
        req,
        format!("link set {} master {br}", link.name_text()),
        format!("master {br}"),
    )
}

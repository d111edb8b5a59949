//! `hwc-netlink`: links, bridges, veth pairs, addresses and routes over rtnetlink, with the grammar
//! of ip(8), JSON keys of `ip -j`, and idempotent helpers for container networking. It never runs
//! `ip` and reads nothing under /etc, so it works in an initrd.

mod client;
mod codec;
mod model;

use std::ffi::OsString;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use argh::FromArgs;

use crate::error::{Error, Result};
use crate::multicall::parse_args;
use crate::output::{self, Json, Table};
use crate::sys;
use client::{NlError, Socket};
use codec::Request;
use model::{Addr, Link, Route};

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_VLAN_ID: u16 = 1;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTMGRP_LINK: u32 = 1;
/// Flags of a request that creates something and fails if it exists (as `ip ... add` sends).
const CREATE: u16 = codec::F_REQUEST | codec::F_ACK | codec::F_EXCL | codec::F_CREATE;
/// Flags of a request that changes or deletes something.
const CHANGE: u16 = codec::F_REQUEST | codec::F_ACK;

/// Show and change links, bridges, veth pairs, addresses and routes over rtnetlink, with the
/// grammar of ip(8). Commands: link [show [DEV]]; link add NAME type bridge|dummy|veth [peer
/// NAME]|vlan id N link DEV; link del DEV; link set DEV up|down|mtu N|master BR|nomaster|name
/// NEW|address MAC|netns NAME|PID; addr [show [dev DEV]]; addr add|del CIDR dev DEV; route [show]
/// [table all|main|N]; route add|del DST|default [via GW] [dev DEV] [metric N]; ensure-bridge NAME
/// [CIDR...] [--mtu N]; ensure-veth HOST PEER [--master BR] [--netns NAME|PID]; wait-online DEV
/// [--timeout SECONDS].
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "-j output uses the key names of 'ip -j' (ifindex, ifname, flags, mtu, operstate, \
address, master, link, linkinfo.info_kind with -d; addr_info[].family/local/prefixlen/scope/label; \
route type/dst/gateway/dev/protocol/scope/metric/table/prefsrc). ensure-bridge and ensure-veth \
change only what differs and may be run again. Changes need CAP_NET_ADMIN.",
    error_code(
        1,
        "the kernel refused or the link is not as expected (wait-online: timed out)"
    ),
    error_code(2, "usage error")
)]
struct Args {
    /// JSON output, like ip -j
    #[argh(switch, short = 'j')]
    json: bool,
    /// details (link kinds), like ip -d
    #[argh(switch, short = 'd')]
    details: bool,
    /// IPv4 only (addr, route)
    #[argh(switch, short = '4')]
    ipv4: bool,
    /// IPv6 only (addr, route)
    #[argh(switch, short = '6')]
    ipv6: bool,
    /// run in the network namespace /run/netns/NAME, or the one the file PATH refers to
    #[argh(option)]
    netns: Option<String>,
    /// OBJECT and command words, as for ip(8)
    #[argh(positional, greedy)]
    words: Vec<String>,
}

struct Ctx {
    sock: Socket,
    json: bool,
    details: bool,
    family: u8,
}

fn usage(what: impl Into<String>) -> Error {
    Error::usage(what).hint("see 'hwc-netlink --help'")
}

/// A kernel error as one line naming the object.
fn fail(what: &str, e: NlError) -> Error {
    let mut err = Error::failed(format!("{what}: {}", e.message));
    if e.errno == libc::EPERM {
        err = err.hint("needs CAP_NET_ADMIN; run as root");
    }
    err
}

/// Opens `/run/netns/NAME` or the namespace file PATH.
fn open_netns(spec: &str) -> Result<std::fs::File> {
    let path = if spec.contains('/') {
        spec.to_string()
    } else {
        format!("/run/netns/{spec}")
    };
    std::fs::File::open(&path).map_err(|e| Error::io(format!("network namespace {path}"), &e))
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    if args.ipv4 && args.ipv6 {
        return Err(usage("-4 and -6 are exclusive"));
    }
    if let Some(ns) = &args.netns {
        let f = open_netns(ns)?;
        sys::enter_net_namespace(f.as_raw_fd()).map_err(|e| {
            let err = Error::io(format!("entering network namespace {ns}"), &e);
            if e.raw_os_error() == Some(libc::EPERM) {
                err.hint("needs CAP_SYS_ADMIN; run as root")
            } else {
                err
            }
        })?;
    }
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    let groups = if words.first() == Some(&"wait-online") {
        RTMGRP_LINK
    } else {
        0
    };
    let sock = Socket::open(groups).map_err(|e| fail("opening an rtnetlink socket", e))?;
    let family = if args.ipv4 {
        libc::AF_INET as u8
    } else if args.ipv6 {
        libc::AF_INET6 as u8
    } else {
        0
    };
    let mut ctx = Ctx {
        sock,
        json: args.json,
        details: args.details,
        family,
    };
    match words.as_slice() {
        [] => Err(usage(
            "missing OBJECT (link, addr, route, ensure-bridge, ensure-veth, wait-online)",
        )),
        ["link" | "l", rest @ ..] => link_cmd(&mut ctx, rest),
        ["addr" | "address" | "a", rest @ ..] => addr_cmd(&mut ctx, rest),
        ["route" | "r", rest @ ..] => route_cmd(&mut ctx, rest),
        ["ensure-bridge", rest @ ..] => ensure_bridge(&mut ctx, rest),
        ["ensure-veth", rest @ ..] => ensure_veth(&mut ctx, rest),
        ["wait-online", rest @ ..] => wait_online(&mut ctx, rest),
        [other, ..] => Err(usage(format!("unknown object '{other}'"))),
    }
}

// --- requests ---

fn ifinfo(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// All links. With -4 or -6 the dump asks for that family, as ip does. An AF_INET6 link dump is
/// answered by IPv6's own handler, which sends no master or link-layer address and, under strict
/// checking, refuses any attribute after the header.
fn dump_links(ctx: &mut Ctx) -> Result<Vec<Link>> {
    let mut req = Request::new(codec::RTM_GETLINK, codec::F_REQUEST | codec::F_DUMP);
    let mut h = [0u8; 16];
    h[0] = ctx.family;
    req.header(&h);
    if ctx.family != libc::AF_INET6 as u8 {
        req.attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    }
    let msgs = ctx.sock.dump(&req).map_err(|e| fail("listing links", e))?;
    Ok(msgs
        .iter()
        .filter(|(t, _)| *t == codec::RTM_NEWLINK)
        .filter_map(|(_, p)| Link::parse(p))
        .collect())
}

/// The link called `name`, or None when there is none.
fn find_link(ctx: &mut Ctx, name: &str) -> Result<Option<Link>> {
    if name.is_empty() || name.len() > 15 || name.contains('/') {
        return Err(usage(format!("'{name}' is not a valid interface name")));
    }
    let mut req = Request::new(codec::RTM_GETLINK, codec::F_REQUEST);
    req.header(&[0; 16])
        .attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        .attr_cstr(IFLA_IFNAME, name);
    match ctx.sock.get(&req) {
        Ok(p) => Ok(Link::parse(&p)),
        Err(e) if e.errno == libc::ENODEV => Ok(None),
        Err(e) => Err(fail(name, e)),
    }
}

fn need_link(ctx: &mut Ctx, name: &str) -> Result<Link> {
    find_link(ctx, name)?.ok_or_else(|| Error::failed(format!("{name}: no such device")))
}

fn new_link(
    ctx: &mut Ctx,
    name: &str,
    kind: &str,
    build: impl FnOnce(&mut Request),
    what: &str,
) -> Result<()> {
    let mut req = Request::new(codec::RTM_NEWLINK, CREATE);
    req.header(&[0; 16]).attr_cstr(IFLA_IFNAME, name);
    build(&mut req);
    req.begin(IFLA_LINKINFO)
        .attr(IFLA_INFO_KIND, kind.as_bytes())
        .end();
    ctx.sock.request(&req).map_err(|e| {
        if e.errno == libc::EEXIST {
            Error::failed(format!("{what}: {name} already exists"))
        } else {
            fail(what, e)
        }
    })
}

/// Sends an RTM_NEWLINK change for `index` built by `build`.
fn change_link(
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
    ctx.sock.request(&req).map_err(|e| fail(what, e))
}

fn set_up(ctx: &mut Ctx, link: &Link, up: bool) -> Result<()> {
    let what = format!("link set {} {}", link.name, if up { "up" } else { "down" });
    change_link(
        ctx,
        link.index,
        if up { model::IFF_UP } else { 0 },
        model::IFF_UP,
        &what,
        |_| {},
    )
}

fn parse_cidr(text: &str) -> Result<(IpAddr, u8)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (text, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| usage(format!("'{text}' is not an address")))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| usage(format!("'{text}': bad prefix length")))?,
    };
    Ok((ip, len))
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

fn addr_change(ctx: &mut Ctx, add: bool, cidr: &str, dev: &str) -> Result<()> {
    let (ip, len) = parse_cidr(cidr)?;
    let link = need_link(ctx, dev)?;
    // iproute2's default scope: host for loopback addresses, else global.
    let scope = if ip.is_loopback() { 254 } else { 0 };
    let mut h = [0u8; 8];
    h[0] = family_of(&ip);
    h[1] = len;
    h[3] = scope;
    h[4..8].copy_from_slice(&link.index.to_ne_bytes());
    let (ty, flags) = if add {
        (codec::RTM_NEWADDR, CREATE)
    } else {
        (codec::RTM_DELADDR, CHANGE)
    };
    let mut req = Request::new(ty, flags);
    req.header(&h)
        .attr(IFA_LOCAL, &ip_bytes(&ip))
        .attr(IFA_ADDRESS, &ip_bytes(&ip));
    let what = format!("addr {} {cidr} dev {dev}", if add { "add" } else { "del" });
    ctx.sock.request(&req).map_err(|e| match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: the address already exists")),
        libc::EADDRNOTAVAIL => Error::failed(format!("{what}: no such address on {dev}")),
        _ => fail(&what, e),
    })
}

fn dump_addrs(ctx: &mut Ctx) -> Result<Vec<Addr>> {
    let mut req = Request::new(codec::RTM_GETADDR, codec::F_REQUEST | codec::F_DUMP);
    let mut h = [0u8; 8];
    h[0] = ctx.family;
    req.header(&h);
    let msgs = ctx
        .sock
        .dump(&req)
        .map_err(|e| fail("listing addresses", e))?;
    Ok(msgs
        .iter()
        .filter(|(t, _)| *t == codec::RTM_NEWADDR)
        .filter_map(|(_, p)| Addr::parse(p))
        .collect())
}

fn dump_routes(ctx: &mut Ctx, family: u8) -> Result<Vec<Route>> {
    let mut req = Request::new(codec::RTM_GETROUTE, codec::F_REQUEST | codec::F_DUMP);
    let mut h = [0u8; 12];
    h[0] = family;
    req.header(&h);
    let msgs = ctx.sock.dump(&req).map_err(|e| fail("listing routes", e))?;
    Ok(msgs
        .iter()
        .filter(|(t, _)| *t == codec::RTM_NEWROUTE)
        .filter_map(|(_, p)| Route::parse(p))
        .collect())
}

// --- link ---

fn link_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match words {
        [] | ["show" | "list"] => link_show(ctx, None),
        ["show" | "list", "dev", dev] | ["show" | "list", dev] => link_show(ctx, Some(dev)),
        ["add", rest @ ..] => link_add(ctx, rest),
        ["del" | "delete", "dev", dev] | ["del" | "delete", dev] => {
            let link = need_link(ctx, dev)?;
            let mut req = Request::new(codec::RTM_DELLINK, CHANGE);
            req.header(&ifinfo(link.index, 0, 0));
            ctx.sock
                .request(&req)
                .map_err(|e| fail(&format!("link del {dev}"), e))?;
            Ok(0)
        }
        ["set", "dev", dev, rest @ ..] | ["set", dev, rest @ ..] => link_set(ctx, dev, rest),
        _ => Err(usage(format!("link: cannot parse '{}'", words.join(" ")))),
    }
}

fn link_show(ctx: &mut Ctx, dev: Option<&str>) -> Result<u8> {
    let links = dump_links(ctx)?;
    let shown: Vec<&Link> = links
        .iter()
        .filter(|l| dev.is_none_or(|d| l.name == d))
        .collect();
    if let (Some(d), true) = (dev, shown.is_empty()) {
        return Err(Error::failed(format!("{d}: no such device")));
    }
    if ctx.json {
        let mut j = Json::new();
        j.begin_array();
        for l in shown {
            j.begin_object();
            model::link_json(&mut j, l, &links, ctx.details, ctx.family != 0);
            j.end_object();
        }
        j.end_array();
        output::emit(&j.finish())?;
    } else {
        let mut t = Table::default();
        for l in shown {
            t.row(model::link_brief(l, &links));
        }
        output::emit(&t.render())?;
    }
    Ok(0)
}

fn link_add(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
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
    let name = name.ok_or_else(|| usage("link add: missing NAME"))?;
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
            ctx.sock
                .request(&req)
                .map_err(|e| exists_or(e, &what, name))?;
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
            ctx.sock
                .request(&req)
                .map_err(|e| exists_or(e, &what, name))?;
        }
        other => {
            return Err(usage(format!(
                "link add: type '{other}' is not supported (bridge, dummy, veth, vlan)"
            )))
        }
    }
    Ok(0)
}

fn exists_or(e: NlError, what: &str, name: &str) -> Error {
    if e.errno == libc::EEXIST {
        Error::failed(format!("{what}: {name} already exists"))
    } else {
        fail(what, e)
    }
}

/// `IFLA_NET_NS_PID` for a pid, else `IFLA_NET_NS_FD` of the named namespace; the file must stay
/// open until the request is sent.
fn netns_attr(spec: &str) -> Result<(u16, u32, Option<std::fs::File>)> {
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
fn veth_request(
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

fn parse_mac(text: &str) -> Result<Vec<u8>> {
    let bytes: Option<Vec<u8>> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2))
        .collect();
    bytes
        .filter(|b| b.len() == 6)
        .ok_or_else(|| usage(format!("'{text}' is not a MAC address")))
}

fn link_set(ctx: &mut Ctx, dev: &str, words: &[&str]) -> Result<u8> {
    if words.is_empty() {
        return Err(usage("link set DEV: nothing to set"));
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
                flags |= model::IFF_UP;
                change |= model::IFF_UP;
                i += 1;
            }
            "down" => {
                flags &= !model::IFF_UP;
                change |= model::IFF_UP;
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

// --- addr ---

fn addr_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match words {
        [] | ["show" | "list"] => addr_show(ctx, None),
        ["show" | "list", "dev", dev] | ["show" | "list", dev] => addr_show(ctx, Some(dev)),
        ["add", cidr, "dev", dev] => addr_change(ctx, true, cidr, dev).map(|()| 0),
        ["del" | "delete", cidr, "dev", dev] => addr_change(ctx, false, cidr, dev).map(|()| 0),
        _ => Err(usage(format!("addr: cannot parse '{}'", words.join(" ")))),
    }
}

fn addr_show(ctx: &mut Ctx, dev: Option<&str>) -> Result<u8> {
    let links = dump_links(ctx)?;
    let addrs = dump_addrs(ctx)?;
    if let Some(d) = dev {
        if !links.iter().any(|l| l.name == d) {
            return Err(Error::failed(format!("{d}: no such device")));
        }
    }
    let shown = links
        .iter()
        .filter(|l| dev.is_none_or(|d| l.name == d))
        .filter(|l| {
            // With -4 or -6, ip lists only links that have an address of that family.
            ctx.family == 0 || addrs.iter().any(|a| a.index == l.index)
        });
    if ctx.json {
        let mut j = Json::new();
        j.begin_array();
        for l in shown {
            j.begin_object();
            model::link_json(&mut j, l, &links, ctx.details, ctx.family != 0);
            j.key("addr_info").begin_array();
            for a in addrs.iter().filter(|a| a.index == l.index) {
                model::addr_json(&mut j, a);
            }
            j.end_array().end_object();
        }
        j.end_array();
        output::emit(&j.finish())?;
    } else {
        let mut t = Table::default();
        for l in shown {
            let [name, state, _, _] = model::link_brief(l, &links);
            let list: Vec<String> = addrs
                .iter()
                .filter(|a| a.index == l.index)
                .filter_map(|a| a.shown().map(|ip| format!("{ip}/{}", a.prefixlen)))
                .collect();
            t.row([name, state, list.join(" ")]);
        }
        output::emit(&t.render())?;
    }
    Ok(0)
}

// --- route ---

fn route_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match words {
        [] | ["show" | "list"] => route_show(ctx, Some(model::RT_TABLE_MAIN)),
        ["show" | "list", "table", t] => {
            let table = match *t {
                "all" => None,
                "main" => Some(model::RT_TABLE_MAIN),
                "local" => Some(255),
                "default" => Some(253),
                n => Some(n.parse().map_err(|_| {
                    usage(format!(
                        "table '{n}': expected all, main, local, default or a number"
                    ))
                })?),
            };
            route_show(ctx, table)
        }
        ["add", rest @ ..] => route_change(ctx, true, rest).map(|()| 0),
        ["del" | "delete", rest @ ..] => route_change(ctx, false, rest).map(|()| 0),
        _ => Err(usage(format!("route: cannot parse '{}'", words.join(" ")))),
    }
}

fn route_show(ctx: &mut Ctx, table: Option<u32>) -> Result<u8> {
    let links = dump_links(ctx)?;
    // Like iproute2: without -4/-6, IPv4 only when a table is chosen (main by default); all
    // families for 'table all'.
    let family = match (ctx.family, table) {
        (0, Some(_)) => libc::AF_INET as u8,
        (f, _) => f,
    };
    let routes: Vec<Route> = dump_routes(ctx, family)?
        .into_iter()
        .filter(|r| table.is_none_or(|t| r.table == t))
        .collect();
    if ctx.json {
        let mut j = Json::new();
        j.begin_array();
        for r in &routes {
            model::route_json(&mut j, r, &links, ctx.details, table.is_none());
        }
        j.end_array();
        output::emit(&j.finish())?;
    } else {
        let text: String = routes
            .iter()
            .map(|r| format!("{}\n", model::route_line(r, &links, table.is_none())))
            .collect();
        output::emit(&text)?;
    }
    Ok(0)
}

fn route_change(ctx: &mut Ctx, add: bool, words: &[&str]) -> Result<()> {
    let (dst, rest) = words
        .split_first()
        .ok_or_else(|| usage("route: missing DST or 'default'"))?;
    let (mut gw, mut dev, mut metric) = (None, None, None);
    let mut i = 0;
    while i < rest.len() {
        let v = rest
            .get(i + 1)
            .copied()
            .ok_or_else(|| usage(format!("route: '{}' needs a value", rest[i])))?;
        match rest[i] {
            "via" => {
                gw = Some(
                    v.parse::<IpAddr>()
                        .map_err(|_| usage(format!("'{v}' is not an address")))?,
                )
            }
            "dev" => dev = Some(v),
            "metric" | "priority" => {
                metric = Some(
                    v.parse::<u32>()
                        .map_err(|_| usage("metric needs a number"))?,
                )
            }
            other => return Err(usage(format!("route: unexpected '{other}'"))),
        }
        i += 2;
    }
    let target = if *dst == "default" {
        None
    } else {
        Some(parse_cidr(dst)?)
    };
    let family = match (&target, &gw) {
        (Some((ip, _)), _) | (None, Some(ip)) => family_of(ip),
        (None, None) if ctx.family != 0 => ctx.family,
        (None, None) => libc::AF_INET as u8,
    };
    if gw.is_some_and(|g| family_of(&g) != family) {
        return Err(usage(
            "route: the gateway's address family differs from the destination's",
        ));
    }
    let oif = match dev {
        Some(d) => Some(need_link(ctx, d)?.index),
        None => None,
    };
    if add && gw.is_none() && oif.is_none() {
        return Err(usage("route add: needs 'via GW' or 'dev DEV'"));
    }
    let mut h = [0u8; 12];
    h[0] = family;
    h[1] = target.map_or(0, |(_, l)| l);
    h[4] = model::RT_TABLE_MAIN as u8;
    if add {
        h[5] = 3; // RTPROT_BOOT, as iproute2
        h[6] = if gw.is_none() && family == libc::AF_INET as u8 {
            253
        } else {
            0
        };
        h[7] = 1; // RTN_UNICAST
    } else {
        h[6] = 255; // RT_SCOPE_NOWHERE: match any scope
    }
    let (ty, flags) = if add {
        (codec::RTM_NEWROUTE, CREATE)
    } else {
        (codec::RTM_DELROUTE, CHANGE)
    };
    let mut req = Request::new(ty, flags);
    req.header(&h);
    if let Some((ip, _)) = &target {
        req.attr(RTA_DST, &ip_bytes(ip));
    }
    if let Some(g) = &gw {
        req.attr(RTA_GATEWAY, &ip_bytes(g));
    }
    if let Some(o) = oif {
        req.attr_u32(RTA_OIF, o);
    }
    if let Some(m) = metric {
        req.attr_u32(RTA_PRIORITY, m);
    }
    let what = format!(
        "route {} {}",
        if add { "add" } else { "del" },
        words.join(" ")
    );
    ctx.sock.request(&req).map_err(|e| match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: the route already exists")),
        libc::ESRCH => Error::failed(format!("{what}: no such route")),
        _ => fail(&what, e),
    })
}

// --- idempotent helpers ---

/// Positional words, and `--name value` options.
type Split<'a> = (Vec<&'a str>, Vec<(String, &'a str)>);

/// Splits `--opt value` pairs off the positional words.
fn options<'a>(words: &[&'a str], known: &[&str]) -> Result<Split<'a>> {
    let (mut pos, mut opts) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if let Some(name) = w.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (name, None),
            };
            if !known.contains(&name) {
                return Err(usage(format!("unknown option --{name}")));
            }
            let value = match value {
                Some(v) => v,
                None => {
                    i += 1;
                    words
                        .get(i)
                        .copied()
                        .ok_or_else(|| usage(format!("--{name} needs a value")))?
                }
            };
            opts.push((name.to_string(), value));
        } else {
            pos.push(w);
        }
        i += 1;
    }
    Ok((pos, opts))
}

fn opt<'a>(opts: &[(String, &'a str)], name: &str) -> Option<&'a str> {
    opts.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn ensure_bridge(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["mtu"])?;
    let (name, cidrs) = pos
        .split_first()
        .ok_or_else(|| usage("ensure-bridge: missing NAME"))?;
    let mtu = match opt(&opts, "mtu") {
        Some(m) => Some(
            m.parse::<u32>()
                .map_err(|_| usage("--mtu needs a number"))?,
        ),
        None => None,
    };
    let wanted: Vec<(IpAddr, u8)> = cidrs.iter().map(|c| parse_cidr(c)).collect::<Result<_>>()?;
    let mut done = Vec::new();
    let link = match find_link(ctx, name)? {
        Some(l) if l.kind.as_deref() != Some("bridge") => {
            return Err(Error::failed(format!(
                "ensure-bridge {name}: {name} exists and is a {}, not a bridge; not touching it",
                l.kind.as_deref().unwrap_or("plain device")
            )))
        }
        Some(l) => l,
        None => {
            new_link(
                ctx,
                name,
                "bridge",
                |req| {
                    if let Some(m) = mtu {
                        req.attr_u32(IFLA_MTU, m);
                    }
                },
                &format!("ensure-bridge {name}"),
            )?;
            done.push("created".to_string());
            need_link(ctx, name)?
        }
    };
    if let Some(m) = mtu.filter(|&m| link.mtu != Some(m)) {
        change_link(
            ctx,
            link.index,
            0,
            0,
            &format!("ensure-bridge {name}: mtu"),
            |req| {
                req.attr_u32(IFLA_MTU, m);
            },
        )?;
        done.push(format!("mtu {m}"));
    }
    let have: Vec<(IpAddr, u8)> = dump_addrs(ctx)?
        .into_iter()
        .filter(|a| a.index == link.index)
        .filter_map(|a| a.shown().map(|ip| (ip, a.prefixlen)))
        .collect();
    for ((ip, len), text) in wanted.iter().zip(cidrs) {
        if !have.contains(&(*ip, *len)) {
            addr_change(ctx, true, text, name)?;
            done.push(format!("address {ip}/{len}"));
        }
    }
    if !link.is_up() {
        set_up(ctx, &link, true)?;
        done.push("up".into());
    }
    report(name, &done)
}

fn report(name: &str, done: &[String]) -> Result<u8> {
    let text = if done.is_empty() {
        format!("{name}: already as wanted\n")
    } else {
        format!("{name}: {}\n", done.join(", "))
    };
    output::emit(&text)?;
    Ok(0)
}

fn ensure_veth(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["master", "netns"])?;
    let [host, peer] = pos.as_slice() else {
        return Err(usage("ensure-veth: expected HOST PEER"));
    };
    let master = match opt(&opts, "master") {
        Some(m) => Some(need_link(ctx, m)?),
        None => None,
    };
    let netns = opt(&opts, "netns");
    let mut done = Vec::new();
    let link = match find_link(ctx, host)? {
        Some(l) if l.kind.as_deref() != Some("veth") => {
            return Err(Error::failed(format!(
                "ensure-veth {host}: {host} exists and is a {}, not a veth; not touching it",
                l.kind.as_deref().unwrap_or("plain device")
            )))
        }
        Some(l) => {
            if let (Some(p), None) = (l.link, l.link_netnsid) {
                let peer_link = dump_links(ctx)?.into_iter().find(|x| x.index == p);
                if let Some(pl) = peer_link.filter(|pl| pl.name != **peer) {
                    return Err(Error::failed(format!(
                        "ensure-veth {host}: its peer is {}, not {peer}",
                        pl.name
                    )));
                }
                if let Some(ns) = netns {
                    // The peer is still here: move it where it was asked to be.
                    link_set(ctx, peer, &["netns", ns])?;
                    done.push(format!("{peer} moved to {ns}"));
                }
            }
            l
        }
        None => {
            let (ns_attr, ns_file) = match netns {
                Some(ns) => {
                    let (ty, value, file) = netns_attr(ns)?;
                    (Some((ty, value)), file)
                }
                None => (None, None),
            };
            let req = veth_request(host, Some(peer), master.as_ref().map(|m| m.index), ns_attr);
            ctx.sock
                .request(&req)
                .map_err(|e| exists_or(e, &format!("ensure-veth {host}"), host))?;
            drop(ns_file);
            done.push(format!("created with peer {peer}"));
            need_link(ctx, host)?
        }
    };
    if let Some(m) = master.filter(|m| link.master != Some(m.index)) {
        change_link(
            ctx,
            link.index,
            0,
            0,
            &format!("ensure-veth {host}: master"),
            |req| {
                req.attr_u32(IFLA_MASTER, m.index);
            },
        )?;
        done.push(format!("master {}", m.name));
    }
    if !link.is_up() {
        set_up(ctx, &link, true)?;
        done.push("up".into());
    }
    report(host, &done)
}

fn wait_online(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["timeout"])?;
    let [dev] = pos.as_slice() else {
        return Err(usage("wait-online: expected DEV"));
    };
    let timeout: f64 = opt(&opts, "timeout").map_or(Ok(30.0), |t| {
        t.parse().map_err(|_| usage("--timeout needs seconds"))
    })?;
    if !(0.0..=86400.0).contains(&timeout) {
        return Err(usage("--timeout must be between 0 and 86400 seconds"));
    }
    // Subscribed before looking, so a carrier that comes up in between is not missed.
    let link = need_link(ctx, dev)?;
    if link.flags & model::IFF_LOWER_UP != 0 {
        return Ok(0);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(timeout);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(Error::failed(format!(
                "wait-online {dev}: no carrier after {timeout} s"
            )));
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        if !sys::poll_readable(ctx.sock.raw_fd(), ms)
            .map_err(|e| Error::io("waiting for link events", &e))?
        {
            continue;
        }
        let buf = sys::recv_datagram(ctx.sock.raw_fd())
            .map_err(|e| Error::io("reading link events", &e))?;
        for m in codec::messages(&buf).flatten() {
            if m.ty == codec::RTM_NEWLINK {
                if let Some(l) = Link::parse(m.payload) {
                    if l.index == link.index && l.flags & model::IFF_LOWER_UP != 0 {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

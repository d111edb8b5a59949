//! `hwc-netlink`: links, bridges, veth pairs, addresses and routes over rtnetlink, with the grammar
//! of ip(8), JSON keys of `ip -j`, and idempotent helpers for container networking. It never runs
//! `ip` and reads nothing under /etc, so it works in an initrd.

#![forbid(unsafe_code)]

mod addr;
mod client;
mod codec;
mod ensure;
mod link;
mod model;
mod route;

use std::ffi::OsString;
use std::net::IpAddr;

use argh::FromArgs;

use client::{NlError, Socket};
use codec::Request;
use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Json, Table};
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
/// [--timeout SECONDS]. Objects and commands may be shortened as with ip: a, r s, l sh, link s
/// (set).
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
    /// print the changes it would make (lookups still run), change nothing
    #[argh(switch)]
    dry_run: bool,
    /// OBJECT and command words, as for ip(8)
    #[argh(positional, greedy)]
    words: Vec<String>,
}

struct Ctx {
    sock: Socket,
    json: bool,
    details: bool,
    family: u8,
    dry_run: bool,
}

impl Ctx {
    /// Sends a request that changes the system, or with --dry-run prints what it would do.
    fn change(&mut self, req: &Request, what: &str) -> std::result::Result<(), NlError> {
        if self.dry_run {
            println!("{}", output::would(what));
            return Ok(());
        }
        self.sock.request(req)
    }

    /// A link just created; with --dry-run it does not exist, so a stand-in with its name and
    /// the MTU it was created with.
    fn created(&mut self, name: &str, mtu: Option<u32>) -> Result<Link> {
        if self.dry_run {
            return Ok(Link::named(name, mtu));
        }
        need_link(self, name)
    }
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
    // Non-blocking: a FIFO in its place must not hang the command (setns then refuses it).
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| Error::io(format!("network namespace {path}"), &e))
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    if args.ipv4 && args.ipv6 {
        return Err(usage("-4 and -6 are exclusive"));
    }
    if let Some(ns) = &args.netns {
        let f = open_netns(ns)?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            let e = std::io::Error::from(e);
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
        dry_run: args.dry_run,
    };
    // No object ip lists before these three begins like them: `a`, `r` and `l` are theirs.
    const OBJECTS: &[(&str, &str)] = &[("address", "addr"), ("route", "route"), ("link", "link")];
    match spelled_out(&words, OBJECTS).as_slice() {
        [] => Err(usage(
            "missing OBJECT (link, addr, route, ensure-bridge, ensure-veth, wait-online)",
        )),
        ["link", rest @ ..] => link::link_cmd(&mut ctx, rest),
        ["addr", rest @ ..] => addr::addr_cmd(&mut ctx, rest),
        ["route", rest @ ..] => route::route_cmd(&mut ctx, rest),
        ["ensure-bridge", rest @ ..] => ensure::ensure_bridge(&mut ctx, rest),
        ["ensure-veth", rest @ ..] => ensure::ensure_veth(&mut ctx, rest),
        ["wait-online", rest @ ..] => ensure::wait_online(&mut ctx, rest),
        [other, ..] => Err(usage(format!("unknown object '{other}'"))),
    }
}

/// `words` with the first spelled out as ip reads an abbreviated command word: it stands for the
/// first entry of `keywords` (ip's own order; each with the word hwc matches on) that it begins.
/// The order settles clashes as in ip: `link s` is `set`, `addr s` and `route s` are `show`.
/// A word that begins none is left as it is, for the caller's error.
fn spelled_out<'a>(words: &[&'a str], keywords: &[(&str, &'a str)]) -> Vec<&'a str> {
    let mut out = words.to_vec();
    if let Some(first) = out.first_mut().filter(|w| !w.is_empty()) {
        if let Some(&(_, word)) = keywords.iter().find(|(k, _)| k.starts_with(*first)) {
            *first = word;
        }
    }
    out
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
    ctx.sock
        .dump(&req, codec::RTM_NEWLINK, Link::parse)
        .map_err(|e| fail("listing links", e))
}

/// `name` if the kernel would take it as an interface name (`dev_valid_name`): 1 to 15 bytes,
/// not `.` or `..`, no `/`, `:` or white space. Checked before any request is built.
fn ifname(name: &str) -> Result<&str> {
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0x0b);
    if valid {
        Ok(name)
    } else {
        let shown: String = name.chars().take(40).collect();
        let more = if name.len() > shown.len() { "..." } else { "" };
        Err(usage(format!(
            "'{}{more}' ({} bytes) is not a valid interface name (1-15 bytes, no '/', ':' or spaces)",
            output::printable(&shown),
            name.len()
        )))
    }
}

/// The link called `name`, or None when there is none.
fn find_link(ctx: &mut Ctx, name: &str) -> Result<Option<Link>> {
    ifname(name)?;
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

// --- link ---

// --- addr ---

// --- route ---

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

//! `hwc-netlink`: links, bridges, veth pairs, addresses and routes over rtnetlink, with the grammar
//! of ip(8), JSON keys of `ip -j`, and idempotent helpers for container networking. It never runs
//! `ip` and reads nothing under /etc, so it works in an initrd.

#![forbid(unsafe_code)]

mod add;
mod addr;
mod context;
mod ensure;
mod fdb;
mod link;
mod model;
mod names;
mod plan;
mod route;
mod wait;

use std::ffi::OsString;

use argh::FromArgs;
use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};

use context::{fail, open_netns, spelled_out, usage, Ctx};
use hwc_rtnl::Socket;

/// Show and change links, bridges, veth pairs, VXLAN overlays, addresses, routes and bridge
/// forwarding entries over rtnetlink, with the grammar of ip(8) and bridge(8). Commands: link
/// [show [DEV]]; link add NAME type bridge|dummy|veth [peer NAME]|vlan id N link DEV|vxlan id VNI
/// [dstport PORT] [local ADDR] [dev DEV] [nolearning] [ttl N]; link del DEV; link set DEV
/// up|down|mtu N|master BR|nomaster|name NEW|address MAC|netns NAME|PID; addr [show [dev DEV]];
/// addr add|del CIDR dev DEV; route [show] [table all|main|N]; route add|del DST|default [via GW]
/// [dev DEV] [metric N]; fdb [show [dev DEV] [br BR]]; fdb add|append|del LLADDR dev DEV [dst
/// ADDR] [port N] [vni N]; ensure-bridge NAME [CIDR...] [--mtu N]; ensure-veth HOST PEER [--master
/// BR] [--netns NAME|PID]; ensure-overlay NAME --vni N --bridge BR [--peer ADDR]... [--local ADDR]
/// [--dev DEV] [--port 4789] [--mtu N]; wait-online DEV [--timeout SECONDS]. Objects and commands
/// may be shortened as with ip: a, r s, l sh, link s (set).
// The text is --help's, in ip(8)'s own notation: its [brackets] are no links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "-j output uses the key names of 'ip -j' (ifindex, ifname, flags, mtu, operstate, \
address, master, link, linkinfo.info_kind and info_data with -d; addr_info[].family/local/\
prefixlen/scope/label; route type/dst/gateway/dev/protocol/scope/metric/table/prefsrc); fdb -j those \
of 'bridge -j fdb'. ensure-bridge, ensure-veth and ensure-overlay change only what differs and may \
be run again; ensure-overlay keeps the VXLAN link's forwarding entries exactly its peers, its MTU \
the underlay's less 50 bytes (70 over IPv6). Changes need CAP_NET_ADMIN.",
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
        libc::RTMGRP_LINK as u32
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
    const OBJECTS: &[(&str, &str)] = &[
        ("address", "addr"),
        ("route", "route"),
        ("link", "link"),
        ("fdb", "fdb"),
    ];
    match spelled_out(&words, OBJECTS).as_slice() {
        [] => Err(usage(
            "missing OBJECT (link, addr, route, fdb, ensure-bridge, ensure-veth, ensure-overlay, \
             wait-online)",
        )),
        ["link", rest @ ..] => link::link_cmd(&mut ctx, rest),
        ["addr", rest @ ..] => addr::addr_cmd(&mut ctx, rest),
        ["route", rest @ ..] => route::route_cmd(&mut ctx, rest),
        ["fdb", rest @ ..] => fdb::fdb_cmd(&mut ctx, rest),
        ["ensure-bridge", rest @ ..] => ensure::ensure_bridge(&mut ctx, rest),
        ["ensure-veth", rest @ ..] => ensure::ensure_veth(&mut ctx, rest),
        ["ensure-overlay", rest @ ..] => ensure::ensure_overlay(&mut ctx, rest),
        ["wait-online", rest @ ..] => wait::wait_online(&mut ctx, rest),
        [other, ..] => Err(usage(format!("unknown object '{other}'"))),
    }
}

//! The idempotent helpers for container networking (`ensure-bridge`, `ensure-veth`) and
//! `wait-online`, which waits for carrier on a link-event subscription.

use std::net::IpAddr;

use hwc_core::error::{Error, Result};
use hwc_core::output;
use libc::{IFLA_MASTER, IFLA_MTU};

use super::addr::{addr_add_unless_there, dump_addrs};
use super::link::{
    change_link, exists_or, link_request, link_set, netns_attr, set_up, veth_request,
};
use crate::context::{
    dump_links, find_link, ifname, need_link, opt, options, parse_cidr, usage, Ctx,
};
use crate::model::Link;
use hwc_rtnl::codec;

pub(super) fn ensure_bridge(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["mtu"])?;
    let (name, cidrs) = pos
        .split_first()
        .ok_or_else(|| usage("ensure-bridge: missing NAME"))?;
    ifname(name)?;
    let mtu = match opt(&opts, "mtu") {
        Some(m) => Some(
            m.parse::<u32>()
                .map_err(|_| usage("--mtu needs a number"))?,
        ),
        None => None,
    };
    let wanted: Vec<(IpAddr, u8)> = cidrs.iter().map(|c| parse_cidr(c)).collect::<Result<_>>()?;
    let mut done = Vec::new();
    let link = match existing(ctx, "ensure-bridge", name, "bridge")? {
        Some(l) => l,
        None => {
            let req = link_request(name, "bridge", |req| {
                if let Some(m) = mtu {
                    req.attr_u32(IFLA_MTU, m);
                }
            });
            let what = format!("ensure-bridge {name}: create bridge {name}");
            if create_unless_there(ctx, &req, &what, name, "bridge")? {
                done.push("created".to_string());
                ctx.created(name, mtu)?
            } else {
                appeared(ctx, "ensure-bridge", name, "bridge", &what)?
            }
        }
    };
    if let Some(m) = mtu.filter(|&m| link.mtu() != Some(m)) {
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
        if !have.contains(&(*ip, *len)) && addr_add_unless_there(ctx, text, link.index, name)? {
            done.push(format!("address {ip}/{len}"));
        }
    }
    if !link.is_up() {
        set_up(ctx, &link, true)?;
        done.push("up".into());
    }
    report(name, &done)
}

/// Sends a create request: whether it created the link; `false` when a link of that name came
/// to be meanwhile (a second run of the same unit, podman making the same bridge), which the
/// caller then takes as it finds it.
fn create_unless_there(
    ctx: &mut Ctx,
    req: &codec::Request,
    what: &str,
    name: &str,
    kind: &str,
) -> Result<bool> {
    match ctx.change(req, what) {
        Ok(()) => Ok(true),
        Err(e) if e.errno == libc::EEXIST => Ok(false),
        Err(e) => Err(exists_or(e, what, name, kind)),
    }
}

/// The link `name` that another creator made between our look and our create: of `kind`, or
/// the same error a link of another kind gets.
fn appeared(ctx: &mut Ctx, cmd: &str, name: &str, kind: &str, what: &str) -> Result<Link> {
    existing(ctx, cmd, name, kind)?
        .ok_or_else(|| Error::failed(format!("{what}: {name} already exists, and went again")))
}

pub(super) fn report(name: &str, done: &[String]) -> Result<u8> {
    let text = if done.is_empty() {
        format!("{name}: already as wanted\n")
    } else {
        format!("{name}: {}\n", done.join(", "))
    };
    output::emit(&text)?;
    Ok(0)
}

pub(super) fn ensure_veth(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["master", "netns"])?;
    let [host, peer] = pos.as_slice() else {
        return Err(usage("ensure-veth: expected HOST PEER"));
    };
    ifname(host)?;
    ifname(peer)?;
    let master = match opt(&opts, "master") {
        Some(m) => Some(need_link(ctx, m)?),
        None => None,
    };
    let netns = opt(&opts, "netns");
    let mut done = Vec::new();
    let link = match existing(ctx, "ensure-veth", host, "veth")? {
        Some(l) => {
            if let (Some(p), None) = (l.link(), l.link_netnsid()) {
                let peer_link = dump_links(ctx)?.into_iter().find(|x| x.index == p);
                if let Some(pl) = peer_link.filter(|pl| !pl.is_named(peer)) {
                    return Err(Error::failed(format!(
                        "ensure-veth {host}: its peer is {}, not {peer}",
                        pl.name_text()
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
            let what = format!("ensure-veth {host}: create veth {host} with peer {peer}");
            let created = create_unless_there(ctx, &req, &what, host, "veth")?;
            drop(ns_file);
            if created {
                done.push(format!("created with peer {peer}"));
                ctx.created(host, None)?
            } else {
                appeared(ctx, "ensure-veth", host, "veth", &what)?
            }
        }
    };
    if let Some(m) = master.filter(|m| link.master() != Some(m.index)) {
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
        done.push(format!("master {}", m.name_text()));
    }
    if !link.is_up() {
        set_up(ctx, &link, true)?;
        done.push("up".into());
    }
    report(host, &done)
}

pub(super) fn wait_online(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["timeout"])?;
    let [dev] = pos.as_slice() else {
        return Err(usage("wait-online: expected DEV"));
    };
    let timeout = opt(&opts, "timeout").unwrap_or("30");
    let limit =
        hwc_core::cli::parse_seconds(timeout).ok_or_else(|| usage("--timeout needs seconds"))?;
    if limit > std::time::Duration::from_secs(86400) {
        return Err(usage("--timeout must be between 0 and 86400 seconds"));
    }
    // Subscribed before looking, so a carrier that comes up in between is not missed.
    let link = need_link(ctx, dev)?;
    if link.flags & hwc_rtnl::IFF_LOWER_UP != 0 {
        return Ok(0);
    }
    let deadline = std::time::Instant::now() + limit;
    let mut buf = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(Error::failed(format!(
                "wait-online {dev}: no carrier after {timeout} s"
            )));
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        if !hwc_core::poll::readable(ctx.sock.fd(), ms)
            .map_err(|e| Error::io("waiting for link events", &e))?
        {
            continue;
        }
        hwc_rtnl::client::recv_datagram(ctx.sock.fd(), &mut buf)
            .map_err(|e| Error::io("reading link events", &e))?;
        for m in codec::messages(&buf).flatten() {
            if m.ty == codec::RTM_NEWLINK {
                if let Some(l) = Link::parse(m.payload) {
                    if l.index == link.index && l.flags & hwc_rtnl::IFF_LOWER_UP != 0 {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

/// The link `name` if it exists and is of `kind`; None if there is none; an error naming what it
/// is otherwise, as an ensure-* command never changes a link of another kind.
fn existing(ctx: &mut Ctx, command: &str, name: &str, kind: &str) -> Result<Option<Link>> {
    match find_link(ctx, name)? {
        Some(l) if l.kind().as_deref() != Some(kind) => Err(Error::failed(format!(
            "{command} {name}: {name} exists and is a {}, not a {kind}; not touching it",
            l.kind().as_deref().unwrap_or("plain device")
        ))),
        found => Ok(found),
    }
}

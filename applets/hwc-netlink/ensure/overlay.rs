//! `ensure-overlay NAME --vni N --bridge BR [--peer ADDR]... [--local ADDR] [--dev DEV]
//! [--port 4789] [--mtu N]`: a VXLAN link on the bridge, with a static forwarding database
//! whose default entries (all-zero MAC, one per remote: head-end replication) are exactly the
//! peers; learning off. A link of another VNI, port, local address or underlay is refused, never
//! changed: containers on it would land on another network.

use std::net::IpAddr;

use hwc_core::error::{Error, Result};
use libc::IFLA_MTU;

use super::{found_or_created, lock_link, of_kind, Create, How};
use crate::add::create_request;
use crate::addr::dump_addrs;
use crate::context::{fail, ifname, need_link, opt, options, usage, Ctx};
use crate::link::{change_request, master_step, mtu_step, up_step};
use crate::model::Link;
use crate::plan::{act, report, Step};
use hwc_rtnl::codec;
use hwc_rtnl::fdb::{EntrySpec, RTM_DELNEIGH, RTM_NEWNEIGH, ZERO_MAC};
use hwc_rtnl::kind::{self, Value, MAX_VNI};

/// The IANA port for VXLAN (the kernel's own default, 8472, is Linux's older choice).
const DEFAULT_PORT: u16 = 4789;

/// The overlay asked for.
struct Wanted<'a> {
    name: &'a str,
    vni: u32,
    port: u16,
    bridge: &'a str,
    peers: Vec<IpAddr>,
    local: Option<IpAddr>,
    dev: Option<&'a str>,
    mtu: Option<u32>,
}

pub(crate) fn ensure_overlay(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let w = read_words(words)?;
    let _lock = lock_link(ctx, "ensure-overlay", w.name)?;
    let bridge = need_link(ctx, w.bridge)?;
    if bridge.kind().as_deref() != Some("bridge") {
        return Err(Error::failed(format!(
            "ensure-overlay {}: {} is a {}, not a bridge",
            w.name,
            w.bridge,
            bridge.kind().as_deref().unwrap_or("plain device")
        ))
        .hint("make it with 'hwc-netlink ensure-bridge'"));
    }
    let dev = match w.dev {
        Some(d) => Some(need_link(ctx, d)?),
        None => None,
    };
    let underlay_mtu = match (&dev, w.local) {
        (Some(d), _) => d.mtu(),
        (None, Some(local)) => link_with(ctx, local)?.and_then(|l| l.mtu()),
        (None, None) => None,
    };
    let v6 = w
        .local
        .or(w.peers.first().copied())
        .is_some_and(|a| a.is_ipv6());
    let overhead = kind::vxlan_overhead(v6);
    let most = underlay_mtu.map(|m| m.saturating_sub(overhead));
    if let (Some(asked), Some(most)) = (w.mtu, most) {
        // The kernel would lower a new link's MTU to this, and refuse it on an existing one.
        if asked > most {
            return Err(Error::failed(format!(
                "ensure-overlay {}: --mtu {asked} is over what the underlay{} carries with VXLAN's {overhead} bytes: at most {most}",
                w.name,
                w.dev.map_or(String::new(), |d| format!(" {d} (MTU {})", most + overhead)),
            ))
            .hint("give the overlay the underlay's MTU less the overhead"));
        }
    }
    let mtu = w.mtu.or(most);
    let (found, mut data) = match ctx.sock.link_details(w.name).map_err(|e| fail(w.name, e))? {
        Some((link, data)) => (Some(link), Some(data)),
        None => (None, None),
    };
    let found = of_kind("ensure-overlay", w.name, "vxlan", found)?;
    if let Some(data) = &data {
        differs(ctx, &w, data, dev.as_ref())?;
    }
    let mut said = Vec::new();
    let (link, how) = found_or_created(
        ctx,
        found,
        "ensure-overlay",
        w.name,
        "vxlan",
        &mut said,
        |_| {
            Ok(Create {
                request: create(&w, dev.as_ref().map(|d| d.index), mtu),
                keep_open: None,
                mtu,
                with: String::new(),
            })
        },
    )?;
    if how == How::MadeMeanwhile {
        // Another run made it between our look and our create: it is held to the same check.
        data = ctx
            .sock
            .link_details(w.name)
            .map_err(|e| fail(w.name, e))?
            .map(|(_, data)| data);
        if let Some(data) = &data {
            differs(ctx, &w, data, dev.as_ref())?;
        }
    }
    // Whether the link found learns remotes itself (hwc's entries are the only ones wanted).
    let learning = data.is_some_and(|data| {
        kind::kind("vxlan").and_then(|k| k.value(&data, "learning")) == Some(Value::Bool(true))
    });
    // What the link holds now (none when it was just created, or in a dry run).
    let have: Vec<IpAddr> = if link.index == 0 {
        Vec::new()
    } else {
        ctx.sock
            .fdb(Some(link.index), None)
            .map_err(|e| fail("listing forwarding entries", e))?
            .iter()
            .filter_map(|e| e.remote())
            .collect()
    };
    said.extend(act(
        ctx,
        plan(&link, &bridge, mtu, learning, &w.peers, &have),
    )?);
    report(w.name, &said)
}

fn read_words<'a>(words: &[&'a str]) -> Result<Wanted<'a>> {
    let (pos, opts) = options(
        words,
        &["vni", "bridge", "peer", "local", "dev", "port", "mtu"],
    )?;
    let [name] = pos.as_slice() else {
        return Err(usage(
            "ensure-overlay: expected NAME (and --vni N --bridge BR)",
        ));
    };
    let number = |key: &str, max: u32| -> Result<Option<u32>> {
        opt(&opts, key)
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|&n| n <= max)
                    .ok_or_else(|| usage(format!("--{key} must be a number, 0-{max}")))
            })
            .transpose()
    };
    let address = |v: &str| {
        v.parse::<IpAddr>()
            .map_err(|_| usage(format!("'{v}' is not an address")))
    };
    let mut peers: Vec<IpAddr> = Vec::new();
    for (_, v) in opts.iter().filter(|(k, _)| k == "peer") {
        let a = address(v)?;
        if !peers.contains(&a) {
            peers.push(a);
        }
    }
    let local = opt(&opts, "local").map(address).transpose()?;
    let family = local.or(peers.first().copied()).map(|a| a.is_ipv6());
    if let Some(odd) = peers.iter().find(|p| Some(p.is_ipv6()) != family) {
        return Err(usage(format!(
            "--peer {odd}: an overlay's peers and local address are all IPv4 or all IPv6"
        )));
    }
    let w = Wanted {
        name: ifname(name)?,
        vni: number("vni", MAX_VNI)?.ok_or_else(|| usage("ensure-overlay: missing --vni N"))?,
        port: number("port", u32::from(u16::MAX))?
            .map(|p| {
                // Port 0 is the kernel's "its default" (8472), never what a rerun would find.
                u16::try_from(p)
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| usage("--port must be a number, 1-65535"))
            })
            .transpose()?
            .unwrap_or(DEFAULT_PORT),
        bridge: ifname(
            opt(&opts, "bridge").ok_or_else(|| usage("ensure-overlay: missing --bridge BR"))?,
        )?,
        peers,
        local,
        dev: opt(&opts, "dev").map(ifname).transpose()?,
        mtu: number("mtu", 65535)?
            .map(|m| {
                (m >= 68)
                    .then_some(m)
                    .ok_or_else(|| usage("--mtu must be a number, 68-65535"))
            })
            .transpose()?,
    };
    if local.is_some_and(|l| w.peers.contains(&l)) {
        return Err(usage(format!(
            "--peer {}: that is this machine's --local address",
            local.unwrap()
        )));
    }
    Ok(w)
}

/// The link that has `address`.
fn link_with(ctx: &mut Ctx, address: IpAddr) -> Result<Option<Link>> {
    let Some(index) = dump_addrs(ctx)?
        .iter()
        .find(|a| a.shown() == Some(address))
        .map(|a| a.index)
    else {
        return Ok(None);
    };
    Ok(crate::context::dump_links(ctx)?
        .into_iter()
        .find(|l| l.index == index))
}

/// Refuses a VXLAN link found with another VNI, port, local address or underlay than asked:
/// changing them under running containers would move them to another network.
fn differs(ctx: &mut Ctx, w: &Wanted, data: &[u8], dev: Option<&Link>) -> Result<()> {
    let vxlan = kind::kind("vxlan").expect("vxlan is in the table");
    let checks = [
        ("VNI", "id", Some(Value::Number(w.vni))),
        ("port", "port", Some(Value::Number(u32::from(w.port)))),
        ("local address", "local", w.local.map(Value::Addr)),
        ("underlay", "link", dev.map(|d| Value::Index(d.index))),
    ];
    for (what, key, wanted) in checks {
        let Some(wanted) = wanted else { continue };
        let has = vxlan.value(data, key);
        if has.as_ref() != Some(&wanted) {
            // Links are named by their names, listed only for this message.
            let links = match (&has, &wanted) {
                (Some(Value::Index(_)), _) | (_, Value::Index(_)) => {
                    crate::context::dump_links(ctx)?
                }
                _ => Vec::new(),
            };
            let text = |v: Option<&Value>| match v {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Addr(a)) => a.to_string(),
                Some(Value::Index(i)) => links
                    .iter()
                    .find(|l| l.index == *i)
                    .map_or(format!("index {i}"), |l| l.name_text().into_owned()),
                _ => "none".into(),
            };
            return Err(Error::failed(format!(
                "ensure-overlay {name}: {name} has {what} {}, not {}; not touching it",
                text(has.as_ref()),
                text(Some(&wanted)),
                name = w.name
            ))
            .hint(format!(
                "changing it would move its containers to another network; to do so, delete it first: hwc-netlink link del {}",
                w.name
            )));
        }
    }
    Ok(())
}

/// The request that creates the VXLAN link: its VNI, port, local address and underlay, learning
/// off (the forwarding entries are hwc's, not learned), and its MTU.
fn create(w: &Wanted, dev: Option<u32>, mtu: Option<u32>) -> codec::Request {
    let vxlan = kind::kind("vxlan").expect("vxlan is in the table");
    let field = |word: &str| vxlan.field(word).expect("vxlan's words");
    let mut data = vec![
        (field("id"), Value::Number(w.vni)),
        (field("dstport"), Value::Number(u32::from(w.port))),
        (field("nolearning"), Value::Bool(false)),
    ];
    if let Some(l) = w.local {
        data.push((field("local"), Value::Addr(l)));
    }
    if let Some(d) = dev {
        data.push((field("dev"), Value::Index(d)));
    }
    create_request(w.name, "vxlan", &data, |req| {
        if let Some(m) = mtu {
            req.attr_u32(IFLA_MTU, m);
        }
    })
}

/// What makes `link` as wanted: on `bridge`, its MTU, a default forwarding entry for each peer
/// it lacks, none for a remote that is no peer, up. Entries for other MACs are left alone.
fn plan(
    link: &Link,
    bridge: &Link,
    mtu: Option<u32>,
    learning: bool,
    peers: &[IpAddr],
    have: &[IpAddr],
) -> Vec<Step> {
    let name = link.name_text();
    let mut steps = Vec::new();
    if learning {
        let vxlan = kind::kind("vxlan").expect("vxlan is in the table");
        let field = vxlan.field("nolearning").expect("vxlan learns");
        let req = change_request(link.index, 0, 0, |req| {
            req.begin(libc::IFLA_LINKINFO)
                .attr(libc::IFLA_INFO_KIND, b"vxlan")
                .begin(libc::IFLA_INFO_DATA);
            field.put(req, &Value::Bool(false));
            req.end().end();
        });
        steps.push(Step::new(
            req,
            format!("link set {name} type vxlan nolearning"),
            "learning off",
        ));
    }
    if link.master() != Some(bridge.index) {
        steps.push(master_step(link, bridge));
    }
    if let Some(m) = mtu.filter(|&m| link.mtu() != Some(m)) {
        steps.push(mtu_step(link, m));
    }
    let entry = |dst: IpAddr| EntrySpec {
        index: link.index,
        mac: ZERO_MAC,
        dst: Some(dst),
        port: None,
        vni: None,
    };
    // Sets: with a thousand peers, a scan of the other list per peer would be a million
    // comparisons.
    let have_set: std::collections::HashSet<&IpAddr> = have.iter().collect();
    for p in peers.iter().filter(|p| !have_set.contains(p)) {
        let req = entry(*p).request(RTM_NEWNEIGH, codec::F_CREATE | codec::F_APPEND);
        steps.push(
            Step::new(
                req,
                format!("fdb append 00:00:00:00:00:00 dev {name} dst {p}"),
                format!("peer {p}"),
            )
            .unless_there(),
        );
    }
    let peer_set: std::collections::HashSet<&IpAddr> = peers.iter().collect();
    for stale in have.iter().filter(|h| !peer_set.contains(h)) {
        let req = entry(*stale).request(RTM_DELNEIGH, 0);
        steps.push(
            Step::new(
                req,
                format!("fdb del 00:00:00:00:00:00 dev {name} dst {stale}"),
                format!("peer {stale} removed"),
            )
            .unless_there(),
        );
    }
    if !link.is_up() {
        steps.push(up_step(link));
    }
    steps
}

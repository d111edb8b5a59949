//! `ensure-bridge NAME [CIDR...] [--mtu N]`: a bridge, up, with these addresses (others are
//! left), and this MTU when given.

use std::net::IpAddr;

use hwc_core::error::Result;
use libc::IFLA_MTU;

use super::{existing, found_or_created, lock_link, Create};
use crate::add::create_request;
use crate::addr::{addr_request, dump_addrs};
use crate::context::{ifname, opt, options, parse_cidr, usage, Ctx};
use crate::link::{mtu_step, up_step};
use crate::model::Link;
use crate::plan::{act, report, Step};

pub(crate) fn ensure_bridge(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
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
    let _lock = lock_link(ctx, "ensure-bridge", name)?;
    let mut said = Vec::new();
    let found = existing(ctx, "ensure-bridge", name, "bridge")?;
    let (link, _) = found_or_created(
        ctx,
        found,
        "ensure-bridge",
        name,
        "bridge",
        &mut said,
        |_| {
            Ok(Create {
                request: create_request(name, "bridge", &[], |req| {
                    if let Some(m) = mtu {
                        req.attr_u32(IFLA_MTU, m);
                    }
                }),
                keep_open: None,
                mtu,
                with: String::new(),
            })
        },
    )?;
    let have: Vec<(IpAddr, u8)> = dump_addrs(ctx)?
        .into_iter()
        .filter(|a| a.index == link.index)
        .filter_map(|a| a.shown().map(|ip| (ip, a.prefixlen)))
        .collect();
    let steps = plan(&link, mtu, &wanted, cidrs, &have)?;
    said.extend(act(ctx, steps)?);
    report(name, &said)
}

/// What makes `link` as wanted: its MTU, the addresses it lacks (`texts` as given), up.
fn plan(
    link: &Link,
    mtu: Option<u32>,
    wanted: &[(IpAddr, u8)],
    texts: &[&str],
    have: &[(IpAddr, u8)],
) -> Result<Vec<Step>> {
    let name = link.name_text();
    let mut steps = Vec::new();
    if let Some(m) = mtu.filter(|&m| link.mtu() != Some(m)) {
        steps.push(mtu_step(link, m));
    }
    for ((ip, len), text) in wanted.iter().zip(texts) {
        if !have.contains(&(*ip, *len)) {
            let (req, what) = addr_request(true, text, link.index, &name)?;
            steps.push(Step::new(req, what, format!("address {ip}/{len}")).unless_there());
        }
    }
    if !link.is_up() {
        steps.push(up_step(link));
    }
    Ok(steps)
}

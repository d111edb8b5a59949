//! `ensure-veth HOST PEER [--master BR] [--netns NAME|PID]`: a veth pair, its host end up (and
//! on the bridge when given), its peer moved into the namespace when given.

use hwc_core::error::{Error, Result};

use super::{existing, found_or_created, lock_link, Create, How};
use crate::context::{dump_links, ifname, need_link, opt, options, usage, Ctx};
use crate::link::{change_request, master_step, netns_attr, up_step, veth_request};
use crate::model::Link;
use crate::plan::{act, report, Step};

pub(crate) fn ensure_veth(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
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
    let _lock = lock_link(ctx, "ensure-veth", host)?;
    let mut said = Vec::new();
    let found = existing(ctx, "ensure-veth", host, "veth")?;
    let (link, how) = found_or_created(ctx, found, "ensure-veth", host, "veth", &mut said, |_| {
        let (ns_attr, keep_open) = match netns {
            Some(ns) => {
                let (ty, value, file) = netns_attr(ns)?;
                (Some((ty, value)), file)
            }
            None => (None, None),
        };
        Ok(Create {
            request: veth_request(host, peer, master.as_ref().map(|m| m.index), ns_attr),
            keep_open,
            mtu: None,
            with: format!(" with peer {peer}"),
        })
    })?;
    // A pair found (not created now): its peer must be the one asked for, and is moved when it
    // is still here and a namespace was asked for.
    let mut peer_here = None;
    if how != How::Created {
        if let (Some(p), None) = (link.link(), link.link_netnsid()) {
            let peer_link = dump_links(ctx)?.into_iter().find(|x| x.index == p);
            if let Some(pl) = &peer_link {
                if !pl.is_named(peer) {
                    return Err(Error::failed(format!(
                        "ensure-veth {host}: its peer is {}, not {peer}",
                        pl.name_text()
                    )));
                }
            }
            peer_here = peer_link;
        }
    }
    let moving = match (netns, &peer_here) {
        (Some(ns), Some(pl)) => Some((ns, pl, netns_attr(ns)?)),
        _ => None,
    };
    let mut steps = Vec::new();
    if let Some((ns, pl, (ty, value, _))) = &moving {
        let req = change_request(pl.index, 0, 0, |req| {
            req.attr_u32(*ty, *value);
        });
        steps.push(Step::new(
            req,
            format!("link set {peer} netns {ns}"),
            format!("{peer} moved to {ns}"),
        ));
    }
    steps.extend(plan(&link, master.as_ref()));
    said.extend(act(ctx, steps)?);
    drop(moving);
    report(host, &said)
}

/// What makes the host end as wanted: on the bridge `master`, up.
fn plan(link: &Link, master: Option<&Link>) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(m) = master.filter(|m| link.master() != Some(m.index)) {
        steps.push(master_step(link, m));
    }
    if !link.is_up() {
        steps.push(up_step(link));
    }
    steps
}

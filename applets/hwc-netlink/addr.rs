//! `addr`: show, add and delete addresses.

use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Table};
use libc::{IFA_ADDRESS, IFA_LOCAL};

use super::link::print_links_json;
use crate::context::{
    dump_links, fail, family_of, ip_bytes, need_link, parse_cidr, spelled_out, usage, Ctx, CHANGE,
    CREATE,
};
use crate::model::{self, Addr};
use hwc_rtnl::codec::{self, Request};

/// ip's address commands in the order it tries them (hwc has no `change` or `replace`).
const VERBS: &[(&str, &str)] = &[
    ("add", "add"),
    ("change", "change"),
    ("replace", "replace"),
    ("delete", "delete"),
    ("list", "show"),
    ("show", "show"),
    ("lst", "show"),
];

pub(super) fn addr_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match spelled_out(words, VERBS).as_slice() {
        [] | ["show"] => addr_show(ctx, None),
        ["show", "dev", dev] | ["show", dev] => addr_show(ctx, Some(dev)),
        ["add", cidr, "dev", dev] => addr_change(ctx, true, cidr, dev).map(|()| 0),
        ["delete", cidr, "dev", dev] => addr_change(ctx, false, cidr, dev).map(|()| 0),
        _ => Err(usage(format!("addr: cannot parse '{}'", words.join(" ")))),
    }
}

pub(super) fn addr_show(ctx: &mut Ctx, dev: Option<&str>) -> Result<u8> {
    let links = dump_links(ctx)?;
    let addrs = dump_addrs(ctx)?;
    if let Some(d) = dev {
        if !links.iter().any(|l| l.is_named(d)) {
            return Err(Error::failed(format!("{d}: no such device")));
        }
    }
    let family = ctx.family;
    let shown = (0..links.len())
        .filter(|&i| dev.is_none_or(|d| links[i].is_named(d)))
        .filter(|&i| {
            // With -4 or -6, ip lists only links that have an address of that family.
            family == 0 || addrs.iter().any(|a| a.index == links[i].index)
        });
    if ctx.json {
        print_links_json(ctx, shown, &links, &[], |j, l| {
            j.key("addr_info").begin_array();
            for a in addrs.iter().filter(|a| a.index == l.index) {
                model::addr_json(j, a);
            }
            j.end_array();
        })?;
    } else {
        let mut t = Table::default();
        for l in shown.map(|i| &links[i]) {
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

pub(super) fn addr_change(ctx: &mut Ctx, add: bool, cidr: &str, dev: &str) -> Result<()> {
    let index = need_link(ctx, dev)?.index;
    addr_change_on(ctx, add, cidr, index, dev)
}

/// Adds or deletes `cidr` on the link with `index` (named `dev` in messages).
pub(super) fn addr_change_on(
    ctx: &mut Ctx,
    add: bool,
    cidr: &str,
    index: u32,
    dev: &str,
) -> Result<()> {
    let (req, what) = addr_request(add, cidr, index, dev)?;
    ctx.change(&req, &what).map_err(|e| match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: the address already exists")),
        libc::EADDRNOTAVAIL => Error::failed(format!("{what}: no such address on {dev}")),
        _ => fail(&what, e),
    })
}

/// The RTM_NEWADDR or RTM_DELADDR request for `cidr` on the link `index`, and its text.
pub(super) fn addr_request(
    add: bool,
    cidr: &str,
    index: u32,
    dev: &str,
) -> Result<(Request, String)> {
    let (ip, len) = parse_cidr(cidr)?;
    // iproute2's default scope: host for loopback addresses, else global.
    let scope = if ip.is_loopback() { 254 } else { 0 };
    let mut h = [0u8; 8];
    h[0] = family_of(&ip);
    h[1] = len;
    h[3] = scope;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
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
    Ok((req, what))
}

pub(super) fn dump_addrs(ctx: &mut Ctx) -> Result<Vec<Addr>> {
    ctx.sock
        .addresses(ctx.family)
        .map_err(|e| fail("listing addresses", e))
}

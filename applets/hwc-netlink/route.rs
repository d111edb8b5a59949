//! `route`: show (by table, like ip), add and delete routes.

use std::net::IpAddr;

use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Json};
use libc::{RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PRIORITY};

use crate::context::{
    dump_links, fail, family_of, ip_bytes, need_link, parse_cidr, spelled_out, usage, Ctx, CHANGE,
    CREATE,
};
use crate::model::{self, Route};
use hwc_rtnl::codec::{self, Request};

/// ip's route commands in the order it tries them (hwc has add, delete and show of these).
const VERBS: &[(&str, &str)] = &[
    ("add", "add"),
    ("change", "change"),
    ("replace", "replace"),
    ("prepend", "prepend"),
    ("append", "append"),
    ("test", "test"),
    ("delete", "delete"),
    ("list", "show"),
    ("show", "show"),
    ("lst", "show"),
];

pub(super) fn route_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match spelled_out(words, VERBS).as_slice() {
        [] | ["show"] => route_show(ctx, Some(model::RT_TABLE_MAIN)),
        ["show", "table", t] => {
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
        ["delete", rest @ ..] => route_change(ctx, false, rest).map(|()| 0),
        _ => Err(usage(format!("route: cannot parse '{}'", words.join(" ")))),
    }
}

pub(super) fn route_show(ctx: &mut Ctx, table: Option<u32>) -> Result<u8> {
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
            j.emit_part()?;
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

/// What `route add|del` was given: the words after the verb, checked.
struct RouteSpec<'a> {
    /// `None` for `default`.
    target: Option<(IpAddr, u8)>,
    gw: Option<IpAddr>,
    dev: Option<&'a str>,
    metric: Option<u32>,
}

fn parse_route<'a>(dst: &str, rest: &[&'a str]) -> Result<RouteSpec<'a>> {
    let mut spec = RouteSpec {
        target: if dst == "default" {
            None
        } else {
            Some(parse_cidr(dst)?)
        },
        gw: None,
        dev: None,
        metric: None,
    };
    for pair in rest.chunks(2) {
        let [key, v] = *pair else {
            return Err(usage(format!("route: '{}' needs a value", pair[0])));
        };
        match key {
            "via" => {
                let gw = v
                    .parse()
                    .map_err(|_| usage(format!("'{v}' is not an address")))?;
                spec.gw = Some(gw);
            }
            "dev" => spec.dev = Some(v),
            "metric" | "priority" => {
                let m = v.parse().map_err(|_| usage("metric needs a number"))?;
                spec.metric = Some(m);
            }
            other => return Err(usage(format!("route: unexpected '{other}'"))),
        }
    }
    Ok(spec)
}

/// The rtmsg header: as iproute2 fills it for add (boot protocol, unicast, link scope for an
/// IPv4 route without gateway), and for delete (any scope).
fn rtmsg(family: u8, dst_len: u8, add: bool, has_gw: bool) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = family;
    h[1] = dst_len;
    h[4] = model::RT_TABLE_MAIN as u8;
    if add {
        h[5] = libc::RTPROT_BOOT;
        h[6] = if !has_gw && family == libc::AF_INET as u8 {
            libc::RT_SCOPE_LINK
        } else {
            libc::RT_SCOPE_UNIVERSE
        };
        h[7] = libc::RTN_UNICAST;
    } else {
        h[6] = libc::RT_SCOPE_NOWHERE;
    }
    h
}

pub(super) fn route_change(ctx: &mut Ctx, add: bool, words: &[&str]) -> Result<()> {
    let (dst, rest) = words
        .split_first()
        .ok_or_else(|| usage("route: missing DST or 'default'"))?;
    let spec = parse_route(dst, rest)?;
    let family = match (&spec.target, &spec.gw) {
        (Some((ip, _)), _) | (None, Some(ip)) => family_of(ip),
        (None, None) if ctx.family != 0 => ctx.family,
        (None, None) => libc::AF_INET as u8,
    };
    if spec.gw.is_some_and(|g| family_of(&g) != family) {
        return Err(usage(
            "route: the gateway's address family differs from the destination's",
        ));
    }
    let oif = match spec.dev {
        Some(d) => Some(need_link(ctx, d)?.index),
        None => None,
    };
    if add && spec.gw.is_none() && oif.is_none() {
        return Err(usage("route add: needs 'via GW' or 'dev DEV'"));
    }
    let (ty, flags) = if add {
        (codec::RTM_NEWROUTE, CREATE)
    } else {
        (codec::RTM_DELROUTE, CHANGE)
    };
    let mut req = Request::new(ty, flags);
    let dst_len = spec.target.map_or(0, |(_, l)| l);
    req.header(&rtmsg(family, dst_len, add, spec.gw.is_some()));
    if let Some((ip, _)) = &spec.target {
        req.attr(RTA_DST, &ip_bytes(ip));
    }
    if let Some(g) = &spec.gw {
        req.attr(RTA_GATEWAY, &ip_bytes(g));
    }
    if let Some(o) = oif {
        req.attr_u32(RTA_OIF, o);
    }
    if let Some(m) = spec.metric {
        req.attr_u32(RTA_PRIORITY, m);
    }
    let verb = if add { "add" } else { "del" };
    let what = format!("route {verb} {}", words.join(" "));
    ctx.change(&req, &what).map_err(|e| match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: the route already exists")),
        libc::ESRCH => Error::failed(format!("{what}: no such route")),
        _ => fail(&what, e),
    })
}

pub(super) fn dump_routes(ctx: &mut Ctx, family: u8) -> Result<Vec<Route>> {
    ctx.sock
        .routes(family)
        .map_err(|e| fail("listing routes", e))
}

//! `fdb`: the bridge forwarding database in `bridge fdb`'s grammar: `fdb [show [dev DEV] [br
//! BR]]`, `fdb add|append|del LLADDR dev DEV [dst ADDR] [port N] [vni N]`.

use std::net::IpAddr;

use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Json};

use crate::context::{dump_links, fail, need_link, spelled_out, usage, value_of, Ctx};
use crate::link::parse_mac;
use crate::model;
use hwc_rtnl::codec;
use hwc_rtnl::fdb::{EntrySpec, RTM_DELNEIGH, RTM_NEWNEIGH};
use hwc_rtnl::kind::MAX_VNI;

/// bridge's fdb commands in the order it tries them (hwc has no `replace` or `get`).
const VERBS: &[(&str, &str)] = &[
    ("add", "add"),
    ("append", "append"),
    ("replace", "replace"),
    ("delete", "delete"),
    ("get", "get"),
    ("show", "show"),
    ("lst", "show"),
    ("list", "show"),
];

pub(crate) fn fdb_cmd(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    match spelled_out(words, VERBS).as_slice() {
        [] | ["show"] => fdb_show(ctx, None, None),
        ["show", rest @ ..] => {
            let (mut dev, mut br) = (None, None);
            for pair in rest.chunks(2) {
                match pair {
                    ["dev" | "brport", d] => dev = Some(*d),
                    ["br", b] => br = Some(*b),
                    _ => {
                        return Err(usage(format!(
                            "fdb show: cannot parse '{}'",
                            rest.join(" ")
                        )))
                    }
                }
            }
            fdb_show(ctx, dev, br)
        }
        [verb @ ("add" | "append" | "delete"), rest @ ..] => fdb_change(ctx, verb, rest),
        _ => Err(usage(format!("fdb: cannot parse '{}'", words.join(" ")))),
    }
}

fn fdb_show(ctx: &mut Ctx, dev: Option<&str>, br: Option<&str>) -> Result<u8> {
    let links = dump_links(ctx)?;
    let index_of = |name: &str| {
        links
            .iter()
            .find(|l| l.is_named(name))
            .map(|l| l.index)
            .ok_or_else(|| Error::failed(format!("{name}: no such device")))
    };
    let dev = dev.map(index_of).transpose()?;
    let br = br.map(index_of).transpose()?;
    let entries = ctx
        .sock
        .fdb(dev, br)
        .map_err(|e| fail("listing forwarding entries", e))?;
    let shown = entries.iter();
    if ctx.json {
        let mut j = Json::reusing(ctx.sock.take_buffer());
        j.begin_array();
        for e in shown {
            model::fdb_json(&mut j, e, &links, dev.is_some());
            j.emit_part()?;
        }
        j.end_array();
        output::emit(&j.finish())?;
    } else {
        let text: String = shown
            .map(|e| model::fdb_line(e, &links, dev.is_some()))
            .collect();
        output::emit(&text)?;
    }
    Ok(0)
}

/// `add`, `append` or `delete` of one entry; bridge's defaults: the link's own entry, permanent.
fn fdb_change(ctx: &mut Ctx, verb: &str, words: &[&str]) -> Result<u8> {
    let (mut mac, mut dev, mut dst, mut port, mut vni) = (None, None, None, None, None);
    let mut rest = words;
    while let [word, after @ ..] = rest {
        let cmd = format!("fdb {verb}");
        let value = || value_of(&cmd, word, after);
        match *word {
            "dev" => dev = Some(value()?),
            "dst" => {
                let v = value()?;
                dst = Some(
                    v.parse::<IpAddr>()
                        .map_err(|_| usage(format!("'{v}' is not an address")))?,
                );
            }
            "port" => {
                port = Some(
                    value()?
                        .parse::<u16>()
                        .map_err(|_| usage("port must be 0-65535"))?,
                )
            }
            "vni" => {
                vni = Some(
                    value()?
                        .parse::<u32>()
                        .ok()
                        .filter(|&v| v <= MAX_VNI)
                        .ok_or_else(|| usage(format!("vni must be 0-{MAX_VNI}")))?,
                )
            }
            "self" | "permanent" => {
                rest = after;
                continue;
            }
            w if mac.is_none() => {
                mac = Some(w);
                rest = after;
                continue;
            }
            w => return Err(usage(format!("fdb {verb}: unexpected '{w}'"))),
        }
        rest = &after[1..];
    }
    let mac_text = mac.ok_or_else(|| usage(format!("fdb {verb}: missing LLADDR")))?;
    let mac: [u8; 6] = parse_mac(mac_text)?
        .try_into()
        .map_err(|_| usage(format!("'{mac_text}' is not a MAC address")))?;
    let dev = dev.ok_or_else(|| usage(format!("fdb {verb}: missing 'dev DEV'")))?;
    let index = need_link(ctx, dev)?.index;
    let spec = EntrySpec {
        index,
        mac,
        dst,
        port,
        vni,
    };
    let req = match verb {
        "add" => spec.request(RTM_NEWNEIGH, codec::F_CREATE | codec::F_EXCL),
        "append" => spec.request(RTM_NEWNEIGH, codec::F_CREATE | codec::F_APPEND),
        _ => spec.request(RTM_DELNEIGH, 0),
    };
    let verb_word = if verb == "delete" { "del" } else { verb };
    let mut what = format!("fdb {verb_word} {mac_text} dev {dev}");
    if let Some(d) = dst {
        what.push_str(&format!(" dst {d}"));
    }
    ctx.change(&req, &what).map_err(|e| match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: the entry already exists")),
        libc::ENOENT => Error::failed(format!("{what}: no such entry")),
        _ => fail(&what, e),
    })?;
    Ok(0)
}

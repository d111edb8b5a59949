//! `link add [name] NAME [link DEV] type KIND [ARGS]`: the words after the kind are the kind's
//! own, read through the kind table (`hwc_rtnl::kind`), so a kind added there is taken here with
//! no code of its own. Also the create requests the ensure-* commands send.

use std::net::IpAddr;

use hwc_core::error::{Error, Result};
use libc::{IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO};

use crate::context::{fail, ifname, need_link, usage, value_of, Ctx, CREATE};
use hwc_rtnl::client::NlError;
use hwc_rtnl::codec::{self, Request};
use hwc_rtnl::kind::{self, Codec, Field, Kind, Value, KINDS};

/// A value as given on the command line: a link is looked up by name before the request is built.
enum Given<'a> {
    Value(Value),
    Link(&'a str),
}

/// What `link add` was asked for, read from its words; no lookup made yet.
struct Wanted<'a> {
    name: &'a str,
    kind: &'static Kind,
    parent: Option<&'a str>,
    fields: Vec<(&'static Field, Given<'a>)>,
}

pub(super) fn link_add(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let wanted = read_words(words)?;
    let what = format!("link add {} type {}", wanted.name, wanted.kind.name);
    let parent = match wanted.parent {
        Some(p) => Some(need_link(ctx, p)?.index),
        None => None,
    };
    let mut data = Vec::with_capacity(wanted.fields.len());
    for (field, given) in wanted.fields {
        let value = match given {
            Given::Value(v) => v,
            Given::Link(name) => Value::Index(need_link(ctx, name)?.index),
        };
        data.push((field, value));
    }
    let req = create_request(wanted.name, wanted.kind.name, &data, |req| {
        if let Some(p) = parent {
            req.attr_u32(IFLA_LINK, p);
        }
    });
    ctx.change(&req, &what)
        .map_err(|e| exists_or(e, &what, wanted.name, wanted.kind.name))?;
    Ok(0)
}

/// Reads `link add`'s words as ip does: `name`, `link` and the first word (the name) anywhere;
/// after `type KIND`, the kind's own words.
fn read_words<'a>(words: &[&'a str]) -> Result<Wanted<'a>> {
    let (mut name, mut kind, mut parent) = (None, None::<&'static Kind>, None);
    let mut fields: Vec<(&'static Field, Given<'a>)> = Vec::new();
    let mut rest = words;
    while let [word, after @ ..] = rest {
        let value = || value_of("link add", word, after);
        let field = kind.and_then(|k| k.field(word));
        rest = match (*word, field) {
            (_, Some(f)) => {
                let (given, left) = read_field(kind.unwrap(), f, after)?;
                fields.push((f, given));
                left
            }
            ("name", None) => {
                name = Some(value()?);
                &after[1..]
            }
            ("link", None) => {
                parent = Some(value()?);
                &after[1..]
            }
            ("type", None) => {
                let k = value()?;
                kind = Some(kind::kind(k).ok_or_else(|| {
                    let known: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
                    usage(format!(
                        "link add: type '{k}' is not supported ({})",
                        known.join(", ")
                    ))
                })?);
                &after[1..]
            }
            (w, None) if name.is_none() && rest.len() == words.len() => {
                name = Some(w);
                after
            }
            (w, None) => return Err(usage(format!("link add: unexpected '{w}'"))),
        };
    }
    let name = ifname(name.ok_or_else(|| usage("link add: missing NAME"))?)?;
    let kind = kind.ok_or_else(|| usage("link add: missing 'type KIND'"))?;
    for &need in kind.required {
        let have = if need == "link" {
            parent.is_some()
        } else {
            fields.iter().any(|(f, _)| f.word == need)
        };
        if !have {
            let placeholder = match kind.field(need).map(|f| f.codec) {
                Some(Codec::Number { .. } | Codec::NetPort) => "N",
                Some(Codec::Addr { .. }) => "ADDR",
                _ => "DEV",
            };
            return Err(usage(format!(
                "link add ... type {} needs '{need} {placeholder}'",
                kind.name
            )));
        }
    }
    Ok(Wanted {
        name,
        kind,
        parent,
        fields,
    })
}

/// The value of the kind's word `f` from the words after it, and the words left.
fn read_field<'a, 'w>(
    kind: &Kind,
    f: &Field,
    after: &'w [&'a str],
) -> Result<(Given<'a>, &'w [&'a str])> {
    if f.codec == Codec::Unless {
        return Ok((Given::Value(Value::Bool(false)), after));
    }
    let mut after = after;
    if f.codec == Codec::Peer && after.first() == Some(&"name") {
        after = &after[1..];
    }
    let [text, left @ ..] = after else {
        return Err(usage(format!("link add: '{}' needs a value", f.word)));
    };
    let out_of_range = |max: u32| usage(format!("{} {} must be 0-{max}", kind.name, f.word));
    let given = match f.codec {
        Codec::Number { max, .. } => Given::Value(Value::Number(
            text.parse::<u32>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| out_of_range(max))?,
        )),
        Codec::NetPort => Given::Value(Value::Number(
            text.parse::<u16>()
                .map_err(|_| out_of_range(u32::from(u16::MAX)))?
                .into(),
        )),
        Codec::Addr { .. } => Given::Value(Value::Addr(
            text.parse::<IpAddr>()
                .map_err(|_| usage(format!("'{text}' is not an address")))?,
        )),
        Codec::Link => Given::Link(ifname(text)?),
        Codec::Peer => Given::Value(Value::Name(ifname(text)?.to_string())),
        Codec::Unless => unreachable!("read above"),
    };
    Ok((given, left))
}

/// The RTM_NEWLINK request that creates `name`, a link of `kind` with `data` as its kind's
/// attributes, and what `top` adds beside them (MTU, master, parent).
pub(super) fn create_request(
    name: &str,
    kind: &str,
    data: &[(&Field, Value)],
    top: impl FnOnce(&mut Request),
) -> Request {
    let mut req = Request::new(codec::RTM_NEWLINK, CREATE);
    req.header(&[0; 16]).attr_cstr(IFLA_IFNAME, name);
    top(&mut req);
    req.begin(IFLA_LINKINFO)
        .attr(IFLA_INFO_KIND, kind.as_bytes());
    if !data.is_empty() {
        req.begin(IFLA_INFO_DATA);
        for (field, value) in data {
            field.put(&mut req, value);
        }
        req.end();
    }
    req.end();
    req
}

/// The error of creating `name`, a link of `kind`: one that exists, a kind the kernel lacks (with
/// the module to load), or the kernel's own answer.
#[cold]
#[inline(never)]
pub(super) fn exists_or(e: NlError, what: &str, name: &str, kind: &str) -> Error {
    match e.errno {
        libc::EEXIST => Error::failed(format!("{what}: {name} already exists")),
        libc::EOPNOTSUPP => fail(what, e).hint(format!(
            "the kernel has no {kind} links: load the module (modprobe {}), or put it in the initrd",
            kind::module_of(kind)
        )),
        _ => fail(what, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_the_kernel_lacks_names_its_module() {
        let lacking = |kind| {
            let e = NlError {
                errno: libc::EOPNOTSUPP,
                message: "Operation not supported (kernel: Unknown device type)".into(),
            };
            exists_or(e, &format!("link add x type {kind}"), "x", kind).to_string()
        };
        for (kind, module) in [
            ("bridge", "bridge"),
            ("veth", "veth"),
            ("vlan", "8021q"),
            ("dummy", "dummy"),
        ] {
            let text = lacking(kind);
            assert!(
                text.contains("Unknown device type")
                    && text.contains(&format!("the kernel has no {kind} links"))
                    && text.contains(&format!("modprobe {module}")),
                "{text}"
            );
        }
        let exists = NlError {
            errno: libc::EEXIST,
            message: "File exists".into(),
        };
        assert_eq!(
            exists_or(exists, "link add x type dummy", "x", "dummy").to_string(),
            "link add x type dummy: x already exists"
        );
    }

    /// Each kind's words, read from a command line as ip's grammar writes it.
    #[test]
    fn the_words_of_each_kind() {
        fn read(
            line: &'static str,
        ) -> Result<(&'static str, &'static str, Option<&'static str>, String)> {
            let words: Vec<&str> = line.split(' ').collect();
            read_words(&words).map(|w| {
                let fields: Vec<String> = w
                    .fields
                    .iter()
                    .map(|(f, g)| match g {
                        Given::Value(v) => format!("{}={v:?}", f.word),
                        Given::Link(l) => format!("{}=@{l}", f.word),
                    })
                    .collect();
                (w.name, w.kind.name, w.parent, fields.join(" "))
            })
        }
        assert_eq!(
            read("vh type veth peer name vp").unwrap(),
            ("vh", "veth", None, "peer=Name(\"vp\")".into())
        );
        assert_eq!(
            read("link br0 name br0.7 type vlan id 7").unwrap(),
            ("br0.7", "vlan", Some("br0"), "id=Number(7)".into())
        );
        assert_eq!(
            read("vx0 type vxlan id 42 dstport 4789 local 192.0.2.1 dev u0 nolearning ttl 64")
                .unwrap()
                .3,
            "id=Number(42) dstport=Number(4789) local=Addr(192.0.2.1) dev=@u0 \
             nolearning=Bool(false) ttl=Number(64)"
        );
        for (line, error) in [
            ("x type vlan link y", "needs 'id N'"),
            ("x type vlan id 7", "needs 'link DEV'"),
            ("x type vlan id 4095 link y", "vlan id must be 0-4094"),
            ("x type vxlan id 16777216", "vxlan id must be 0-16777215"),
            (
                "x type vxlan dstport 65536 id 1",
                "vxlan dstport must be 0-65535",
            ),
            (
                "x type vxlan id 1 local nowhere",
                "'nowhere' is not an address",
            ),
            ("x type vxlan", "needs 'id N'"),
            ("x type geneve", "type 'geneve' is not supported"),
            ("x id 7 type vlan link y", "unexpected 'id'"),
            ("x type bridge ttl 3", "unexpected 'ttl'"),
        ] {
            let e = read(line).err().unwrap().to_string();
            assert!(e.contains(error), "{line}: {e}");
        }
    }
}

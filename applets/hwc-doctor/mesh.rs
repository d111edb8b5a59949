//! mesh: each declared bridge exists in this network namespace, is a bridge, is up, and holds
//! its declared addresses (asked over rtnetlink, as hwc-netlink does).

use std::net::IpAddr;

use hwc_rtnl::{Addr, Socket};

use crate::check::{Findings, MESH};
use crate::units::{shell_word, Install};

pub fn check(bridges: &[(String, Vec<String>)], install: Install, f: &mut Findings) {
    if bridges.is_empty() {
        f.skip(MESH, "bridges", "no bridge declared");
        return;
    }
    let asked = Socket::open(0).and_then(|mut s| {
        let addrs = s.addresses(0)?;
        let links: Vec<_> = bridges
            .iter()
            .map(|(name, _)| s.link_named(name))
            .collect::<Result<_, _>>()?;
        Ok((links, addrs))
    });
    let (links, addrs) = match asked {
        Ok(x) => x,
        Err(e) => {
            f.fail(
                MESH,
                "bridges",
                format!("rtnetlink: {}", e.message),
                "hwc-netlink link show",
            );
            return;
        }
    };
    for ((name, declared), link) in bridges.iter().zip(links) {
        let up = bridge(name, declared, link.as_ref(), &addrs, install, f);
        f.sample(
            "hwc_bridge_up",
            vec![("bridge", name.clone())],
            u64::from(up),
        );
    }
}

/// The address as `ip` writes it with its prefix, for comparison with a declared one.
fn canonical(cidr: &str) -> String {
    match cidr.split_once('/') {
        Some((ip, len)) => match ip.parse::<IpAddr>() {
            Ok(ip) => format!("{ip}/{len}"),
            Err(_) => cidr.to_string(),
        },
        None => cidr.to_string(),
    }
}

/// Checks one bridge; whether it is as declared.
fn bridge(
    name: &str,
    declared: &[String],
    link: Option<&hwc_rtnl::Link>,
    addrs: &[Addr],
    install: Install,
    f: &mut Findings,
) -> bool {
    let check = format!("bridge:{name}");
    let command = format!(
        "hwc-netlink ensure-bridge {} {}",
        shell_word(name),
        declared.join(" ")
    );
    let ensure = match (install, install.unit("hwc-bridge", name)) {
        (Install::NixOs, Some(unit)) => {
            format!("systemctl restart {} (or: {command})", shell_word(&unit))
        }
        // install.sh's template makes it at boot from its own file, not the declaration.
        (Install::Templates, Some(unit)) => format!(
            "{command} (at boot {} makes it from BRIDGE_ADDRESSES=\"{}\" in /etc/hwc/bridge-{name}.env)",
            shell_word(&unit),
            declared.join(" ")
        ),
        // install.sh's template cannot be named for it.
        (_, None) => command,
    };
    match bridge_state(name, declared, link, addrs) {
        Ok(evidence) => {
            f.ok(MESH, &check, evidence);
            true
        }
        Err((evidence, other_kind)) => {
            let fix = if other_kind {
                format!(
                    "remove it (hwc-netlink link del {}), then {ensure}",
                    shell_word(name)
                )
            } else {
                ensure
            };
            f.fail(MESH, &check, evidence, fix);
            false
        }
    }
}

/// Whether the bridge `name` is as declared: the evidence when it is; else what differs, and
/// whether it is a link of another kind (which must be removed first).
pub(crate) fn bridge_state(
    name: &str,
    declared: &[String],
    link: Option<&hwc_rtnl::Link>,
    addrs: &[Addr],
) -> Result<String, (String, bool)> {
    let Some(link) = link else {
        return Err((format!("{name} does not exist"), false));
    };
    if link.kind().as_deref() != Some("bridge") {
        let kind = link.kind().map_or("no kind".into(), |k| k.into_owned());
        return Err((format!("{name} is a {kind}, not a bridge"), true));
    }
    if !link.is_up() {
        return Err((format!("{name} is down"), false));
    }
    let held: Vec<String> = addrs
        .iter()
        .filter(|a| a.index == link.index)
        .filter_map(|a| a.shown().map(|ip| format!("{ip}/{}", a.prefixlen)))
        .collect();
    let missing: Vec<&str> = declared
        .iter()
        .filter(|d| !held.contains(&canonical(d)))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(format!(
            "{name} is an up bridge with {}",
            declared.join(", ")
        ));
    }
    Err((
        format!(
            "{name} lacks {} (holds: {})",
            missing.join(", "),
            if held.is_empty() {
                "nothing".into()
            } else {
                held.join(", ")
            }
        ),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_names_an_escaped_unit_as_one_shell_word() {
        let mut f = Findings::default();
        let declared = ["10.0.0.1/24".to_string()];
        bridge("br+lab", &declared, None, &[], Install::NixOs, &mut f);
        let fix = f.checks[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with(r"systemctl restart 'hwc-bridge-br\x2blab.service' "),
            "{fix}"
        );
    }

    #[test]
    fn addresses_compare_as_ip_writes_them() {
        assert_eq!(canonical("fd00:0089:0::1/64"), "fd00:89::1/64");
        assert_eq!(canonical("10.88.0.1/16"), "10.88.0.1/16");
        assert_eq!(canonical("junk"), "junk");
    }
}

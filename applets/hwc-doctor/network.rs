//! mesh: each declared container network as this machine holds it: its bridge with the host's
//! address; its VXLAN overlay (VNI, port, local address, on the bridge); the overlay's forwarding
//! entries against the declared peers; its MTU against the underlay's; and podman's view of the
//! network (the file hwc wrote for it). Each failure says what differs and the line that fixes it.

use std::net::IpAddr;

use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_rtnl::kind::{self, Value as Kind};
use hwc_rtnl::{Addr, Link, Socket};

use crate::check::{Findings, MESH};
use crate::declared::{Network, Overlay};
use crate::json::{self, Value};
use crate::mesh::bridge_state;
use crate::units::{shell_word, Install};

pub fn check(networks: &[Network], root: &Root, install: Install, f: &mut Findings) {
    if networks.is_empty() {
        f.skip(MESH, "networks", "no container network declared");
        return;
    }
    let mut sock = match Socket::open(0) {
        Ok(s) => s,
        Err(e) => {
            f.fail(
                MESH,
                "networks",
                format!("rtnetlink: {}", e.message),
                "hwc-netlink link show",
            );
            return;
        }
    };
    // A failed read is no absence: every check of these networks would say something false.
    let addrs = match sock.addresses(0) {
        Ok(addrs) => addrs,
        Err(e) => {
            f.fail(
                MESH,
                "networks",
                format!("rtnetlink: the addresses: {}", e.message),
                "hwc-netlink addr show",
            );
            return;
        }
    };
    for n in networks {
        let failed_before = f.failed();
        network(n, &mut sock, &addrs, root, install, f);
        f.sample(
            "hwc_network_ok",
            vec![("network", n.name.clone())],
            u64::from(f.failed() == failed_before),
        );
    }
}

/// A declared network, with what its fixes name: what makes it and what declares it.
struct Net<'a> {
    n: &'a Network,
    /// What makes it as declared: on NixOS `systemctl restart hwc-network-NAME`, quoted for a
    /// shell (escaping may put a backslash in the unit's name); elsewhere, where install.sh ships
    /// no such unit, the hwc-netlink commands that make it.
    restart: String,
    /// What declares it: the NixOS option, or its entry in declared.json.
    option: String,
    install: Install,
}

impl<'a> Net<'a> {
    fn of(n: &'a Network, install: Install) -> Net<'a> {
        let unit = format!("hwc-network-{}", crate::units::escape(&n.name));
        Net {
            n,
            restart: install.fix(
                format!("systemctl restart {}", shell_word(&unit)),
                ensure_commands(n),
            ),
            option: install.fix(
                format!(
                    "hwc.infrastructure.mesh.containerNetworking.networks.{}",
                    n.name
                ),
                format!("declared.json's networks.{}", n.name),
            ),
            install,
        }
    }
}

/// The hwc-netlink commands that make `n` as declared (each changes only what differs).
fn ensure_commands(n: &Network) -> String {
    // Nothing remakes them at boot here: the fix says so once, at the end.
    let mut text = format!(
        "hwc-netlink ensure-bridge {} {}",
        shell_word(&n.bridge),
        shell_word(&n.address)
    );
    if let Some(o) = &n.overlay {
        text.push_str(&format!(
            "; hwc-netlink ensure-overlay {} --vni {} --bridge {} --port {} --local {} --dev {}",
            shell_word(&o.link),
            o.vni,
            shell_word(&n.bridge),
            o.port,
            shell_word(&o.local),
            shell_word(&o.underlay)
        ));
        for peer in &o.peers {
            text.push_str(&format!(" --peer {}", shell_word(peer)));
        }
        if let Some(mtu) = o.mtu {
            text.push_str(&format!(" --mtu {mtu}"));
        }
    }
    text + " (run at each boot: no unit of install.sh's makes a network)"
}

fn network(
    n: &Network,
    sock: &mut Socket,
    addrs: &[Addr],
    root: &Root,
    install: Install,
    f: &mut Findings,
) {
    let net = Net::of(n, install);
    let restart = &net.restart;
    let bridge = match sock.link_named(&n.bridge) {
        Ok(bridge) => bridge,
        Err(e) => {
            f.fail(
                MESH,
                &format!("network:{}:bridge", n.name),
                format!("{}: {}", n.bridge, e.message),
                restart.clone(),
            );
            return;
        }
    };
    match bridge_state(
        &n.bridge,
        std::slice::from_ref(&n.address),
        bridge.as_ref(),
        addrs,
    ) {
        Ok(evidence) => f.ok(MESH, &format!("network:{}:bridge", n.name), evidence),
        Err((evidence, _)) => f.fail(
            MESH,
            &format!("network:{}:bridge", n.name),
            evidence,
            restart.clone(),
        ),
    }
    if let Some(o) = &n.overlay {
        overlay(&net, o, bridge.as_ref(), sock, addrs, f);
    }
    if n.podman {
        podman(&net, root, f);
    }
    if n.docker {
        f.skip(
            MESH,
            &format!("network:{}:docker", n.name),
            net.install.fix(
                format!(
                    "docker's view is checked by hwc-docker-network-{} at each start of docker",
                    crate::units::escape(&n.name)
                ),
                "docker's view is not checked: NixOS's hwc-docker-network unit checks it",
            ),
        );
    }
}

/// The VXLAN link, its forwarding entries and its MTU.
fn overlay(
    net: &Net,
    o: &Overlay,
    bridge: Option<&Link>,
    sock: &mut Socket,
    addrs: &[Addr],
    f: &mut Findings,
) {
    let Net {
        n, restart, option, ..
    } = net;
    let check = format!("network:{}:overlay", n.name);
    let recreate = format!("hwc-netlink link del {}; {restart}", shell_word(&o.link));
    let found = match sock.link_details(&o.link) {
        Ok(Some(found)) => found,
        Ok(None) => {
            f.fail(MESH, &check, format!("{} does not exist", o.link), restart);
            return;
        }
        Err(e) => {
            f.fail(MESH, &check, format!("{}: {}", o.link, e.message), restart);
            return;
        }
    };
    let (link, data) = found;
    let underlay = match sock.link_named(&o.underlay) {
        Ok(underlay) => underlay,
        Err(e) => {
            f.fail(
                MESH,
                &check,
                format!("the underlay {}: {}", o.underlay, e.message),
                restart,
            );
            return;
        }
    };
    if link.kind().as_deref() != Some("vxlan") {
        let what = link
            .kind()
            .map_or("plain device".into(), |k| k.into_owned());
        f.fail(
            MESH,
            &check,
            format!("{} is a {what}, not a VXLAN link", o.link),
            recreate,
        );
        return;
    }
    let get = |key: &str| kind::kind("vxlan").and_then(|k| k.value(&data, key));
    // What the link must carry, each against the declaration.
    let wanted = [
        ("VNI", "id", Some(Kind::Number(o.vni))),
        ("port", "port", Some(Kind::Number(o.port))),
        (
            "local address",
            "local",
            o.local.parse().ok().map(Kind::Addr),
        ),
        (
            "underlay",
            "link",
            underlay.as_ref().map(|u| Kind::Index(u.index)),
        ),
        ("learning", "learning", Some(Kind::Bool(false))),
    ];
    let differs = wanted.into_iter().find_map(|(what, key, want)| {
        let has = get(key);
        (has != want).then(|| {
            let shown = |v: Option<Kind>| match v {
                Some(Kind::Index(_)) if key == "link" => o.underlay.clone(),
                v => text(v),
            };
            format!(
                "{} has {what} {}, not the declared {}",
                o.link,
                if key == "link" {
                    "another".into()
                } else {
                    text(has)
                },
                shown(want)
            )
        })
    });
    if let Some(evidence) = differs {
        f.fail(
            MESH,
            &check,
            evidence,
            format!("{recreate} (the link is remade as declared; if the machine is right, set {option}.overlay to match)"),
        );
        return;
    }
    if bridge.is_none_or(|b| link.master() != Some(b.index)) {
        f.fail(
            MESH,
            &check,
            format!("{} is not on the bridge {}", o.link, n.bridge),
            restart,
        );
        return;
    }
    if !link.is_up() {
        f.fail(MESH, &check, format!("{} is down", o.link), restart);
        return;
    }
    let local = o.local.parse::<IpAddr>().ok();
    if !addrs.iter().any(|a| a.shown() == local && local.is_some()) {
        f.fail(
            MESH,
            &check,
            format!(
                "no link of this machine holds the local address {}: the peers' packets to it go nowhere",
                o.local
            ),
            format!("give {} the address {} (or set {option}.overlay.local)", o.underlay, o.local),
        );
        return;
    }
    f.ok(
        MESH,
        &check,
        format!(
            "{} is VXLAN {} on port {} from {} on {}",
            o.link, o.vni, o.port, o.local, n.bridge
        ),
    );
    peers(net, o, &link, sock, f);
    mtu(net, o, &link, underlay.as_ref(), f);
}

/// The link's default forwarding entries (all-zero MAC) against the declared peers.
fn peers(net: &Net, o: &Overlay, link: &Link, sock: &mut Socket, f: &mut Findings) {
    let Net {
        n, restart, option, ..
    } = net;
    let check = format!("network:{}:peers", n.name);
    let have: Vec<IpAddr> = match sock.fdb(Some(link.index), None) {
        Ok(entries) => entries.iter().filter_map(|e| e.remote()).collect(),
        Err(e) => {
            f.fail(
                MESH,
                &check,
                format!("forwarding entries: {}", e.message),
                restart,
            );
            return;
        }
    };
    let declared: Vec<IpAddr> = o.peers.iter().filter_map(|p| p.parse().ok()).collect();
    let missing: Vec<String> = declared
        .iter()
        .filter(|p| !have.contains(p))
        .map(IpAddr::to_string)
        .collect();
    let extra: Vec<String> = have
        .iter()
        .filter(|h| !declared.contains(h))
        .map(IpAddr::to_string)
        .collect();
    f.sample(
        "hwc_network_peers",
        vec![("network", n.name.clone())],
        (declared.len() - missing.len()) as u64,
    );
    if missing.is_empty() && extra.is_empty() {
        f.ok(
            MESH,
            &check,
            format!("{} floods to {} declared peer(s)", o.link, declared.len()),
        );
        return;
    }
    let mut evidence = Vec::new();
    if !missing.is_empty() {
        evidence.push(format!("no entry toward {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        evidence.push(format!("entries toward undeclared {}", extra.join(", ")));
    }
    f.fail(
        MESH,
        &check,
        format!("{}: {}", o.link, evidence.join("; ")),
        format!("{restart} (it makes the entries exactly {option}.overlay.peers)"),
    );
}

/// The overlay's MTU against the underlay's: a full frame must fit once encapsulated.
/// `underlay` is the link the overlay names as its underlay, as looked up for the overlay's check.
fn mtu(net: &Net, o: &Overlay, link: &Link, underlay: Option<&Link>, f: &mut Findings) {
    let Net { n, option, .. } = net;
    let check = format!("network:{}:mtu", n.name);
    let overhead = kind::vxlan_overhead(o.local.contains(':'));
    let Some(underlay) = underlay else {
        f.fail(
            MESH,
            &check,
            format!("the underlay {} does not exist", o.underlay),
            format!("bring up {} (or set {option}.overlay.underlay)", o.underlay),
        );
        return;
    };
    let (Some(inner), Some(outer)) = (link.mtu(), underlay.mtu()) else {
        f.skip(MESH, &check, "the kernel reported no MTU");
        return;
    };
    if let Some(declared) = o.mtu.filter(|&m| m != inner) {
        // The runtimes give containers the declared MTU: a link with another one drops their
        // full-size packets, or wastes the underlay's room.
        f.fail(
            MESH,
            &check,
            format!(
                "{} has MTU {inner}, not the declared {declared} the containers get",
                o.link
            ),
            if declared + overhead > outer {
                underlay_mtu_fix(net, o, outer, overhead)
            } else {
                format!(
                    "hwc-netlink link set {} mtu {declared}",
                    shell_word(&o.link)
                )
            },
        );
        return;
    }
    if inner + overhead <= outer {
        f.ok(
            MESH,
            &check,
            format!(
                "{} MTU {inner} fits {}'s {outer} with VXLAN's {overhead} bytes",
                o.link, o.underlay
            ),
        );
    } else {
        f.fail(
            MESH,
            &check,
            format!(
                "{} MTU {inner} + VXLAN's {overhead} bytes is over {}'s {outer}: full-size packets are dropped",
                o.link, o.underlay
            ),
            underlay_mtu_fix(net, o, outer, overhead),
        );
    }
}

/// The fix for an overlay MTU the underlay's `outer` cannot carry: on NixOS the underlay's MTU
/// declared (hwc gives the overlay that less the overhead); elsewhere the overlay's set to fit,
/// in the machine and in the declaration.
fn underlay_mtu_fix(net: &Net, o: &Overlay, outer: u32, overhead: u32) -> String {
    let fits = outer.saturating_sub(overhead);
    net.install.fix(
        format!("{}.overlay.underlayMtu = {outer};", net.option),
        format!(
            "hwc-netlink link set {} mtu {fits}, and {}.overlay.mtu = {fits}",
            shell_word(&o.link),
            net.option
        ),
    )
}

/// podman's network file: on hwc's bridge, with the host's address as its gateway.
fn podman(net: &Net, root: &Root, f: &mut Findings) {
    let Net { n, option, .. } = net;
    let check = format!("network:{}:podman", n.name);
    let path = format!("/etc/containers/networks/{}.json", n.name);
    let fix = net.install.fix(
        format!("nixos-rebuild switch (hwc writes {path} for {option}.podman = true)"),
        format!(
            "write {path}: podman's network on the bridge {}, with {} as its gateway (hwc's NixOS module writes it)",
            n.bridge,
            n.address.split('/').next().unwrap_or_default()
        ),
    );
    let text = match safefs::read_file_if_exists(&root.path(&path), 1 << 20) {
        Ok(Some(t)) => t,
        Ok(None) => {
            f.fail(MESH, &check, format!("{path} is absent"), fix);
            return;
        }
        Err(e) => {
            f.fail(
                MESH,
                &check,
                format!("{path}: {}", hwc_core::error::describe_io(&e)),
                fix,
            );
            return;
        }
    };
    let doc = match json::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            f.fail(MESH, &check, format!("{path}: {e}"), fix);
            return;
        }
    };
    let bridge = doc.get("network_interface").and_then(Value::as_str);
    let gateway = doc
        .get("subnets")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(|s| s.get("gateway"))
        .and_then(Value::as_str);
    let host = n.address.split('/').next().unwrap_or_default();
    if bridge == Some(n.bridge.as_str()) && gateway == Some(host) {
        f.ok(
            MESH,
            &check,
            format!("podman's {} is on {} with gateway {host}", n.name, n.bridge),
        );
    } else {
        f.fail(
            MESH,
            &check,
            format!(
                "{path} puts podman's {} on {} with gateway {}, not on {} with {host}",
                n.name,
                bridge.unwrap_or("no bridge"),
                gateway.unwrap_or("none"),
                n.bridge
            ),
            fix,
        );
    }
}

fn text(v: Option<Kind>) -> String {
    match v {
        Some(Kind::Number(n)) => n.to_string(),
        Some(Kind::Addr(a)) => a.to_string(),
        Some(Kind::Bool(b)) => if b { "on" } else { "off" }.into(),
        _ => "none".into(),
    }
}

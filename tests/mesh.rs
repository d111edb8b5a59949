//! The mesh: container networks that span machines. Network namespaces stand in for machines on a
//! shared underlay (a LAN switch in a namespace of its own); each machine gets its bridge and its
//! VXLAN overlay from `hwc-netlink ensure-overlay`, and a container namespace on the bridge. Then
//! containers on different machines talk: ping, a TCP transfer compared by checksum, the overlay
//! MTU with DF set. Also: `-j -d link show` and `-j fdb show` against `ip` and `bridge` on the
//! same kernel objects, and ensure-overlay's idempotence (no change request on a second run, by
//! strace's decoding of what it sends), stale peers, refusals, a thousand peers.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use common::netns::Netns;
use common::*;
use serde_json::Value;

/// The overlay's VNI in these tests.
const VNI: &str = "4242";

/// A machine: its namespace, its underlay address, and a container namespace on its bridge.
struct Machine {
    host: Netns,
    container: Netns,
    underlay: String,
}

/// `count` machines on one LAN (192.0.2.N/24, MTU 1500 on `eth0`), each with bridge `br0`
/// (10.77.0.N/24), the overlay `vx0` to every other machine, and a container namespace whose
/// `eth0` (10.77.0.1N/24) is on the bridge: all of it made by hwc-netlink but the LAN itself.
fn fleet(tag: &str, count: usize) -> Option<(Netns, Vec<Machine>)> {
    let lan = Netns::new(&format!("{tag}lan"))?;
    lan.ip(&["link", "add", "lan", "type", "bridge"]);
    lan.ip(&["link", "set", "lan", "up"]);
    let mut machines = Vec::new();
    for n in 1..=count {
        let host = Netns::new(&format!("{tag}m{n}"))?;
        let container = Netns::new(&format!("{tag}c{n}"))?;
        // The machine's NIC, cabled to the switch.
        let port = format!("port{n}");
        lan.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host.name,
        ]);
        lan.ip(&["link", "set", &port, "master", "lan", "up"]);
        let underlay = format!("192.0.2.{n}");
        host.ip(&["addr", "add", &format!("{underlay}/24"), "dev", "eth0"]);
        host.ip(&["link", "set", "eth0", "up"]);
        machines.push(Machine {
            host,
            container,
            underlay,
        });
    }
    for (i, m) in machines.iter().enumerate() {
        let n = i + 1;
        m.host
            .ok(&["ensure-bridge", "br0", &format!("10.77.0.{n}/24")]);
        let mut args = vec![
            "ensure-overlay".to_string(),
            "vx0".into(),
            "--vni".into(),
            VNI.into(),
            "--bridge".into(),
            "br0".into(),
            "--local".into(),
            m.underlay.clone(),
            "--dev".into(),
            "eth0".into(),
        ];
        for other in machines.iter().filter(|o| o.underlay != m.underlay) {
            args.push("--peer".into());
            args.push(other.underlay.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let said = m.host.ok(&args);
        assert!(said.starts_with("vx0: created"), "{said}");
        let veth = format!("vc{n}");
        m.host.ok(&[
            "ensure-veth",
            &veth,
            "eth0",
            "--master",
            "br0",
            "--netns",
            &m.container.name,
        ]);
        m.container
            .ok(&["addr", "add", &format!("10.77.0.1{n}/24"), "dev", "eth0"]);
        m.container.ok(&["link", "set", "eth0", "up"]);
        m.container.ok(&["link", "set", "lo", "up"]);
    }
    Some((lan, machines))
}

/// `ping` from the namespace: whether a reply came.
fn ping(from: &Netns, to: &str, extra: &[&str]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", &from.name, "ping", "-c", "1", "-W", "2"])
        .args(extra)
        .arg(to)
        .output()
        .unwrap()
        .status
        .success()
}

/// Runs `f` on a thread that has entered the network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

/// FNV-1a over the bytes: the transfer's checksum.
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn containers_on_three_machines_share_one_network() {
    if !have("ping") {
        return;
    }
    let Some((_lan, m)) = fleet("ov", 3) else {
        return;
    };
    // Neighbour discovery and the bridges' ports settle.
    std::thread::sleep(Duration::from_millis(500));
    for (from, to) in [
        (0, "10.77.0.12"),
        (0, "10.77.0.13"),
        (1, "10.77.0.13"),
        (2, "10.77.0.11"),
    ] {
        assert!(
            ping(&m[from].container, to, &[]),
            "container {from} -> {to}"
        );
    }
    // The overlay's MTU: the underlay's 1500 less VXLAN over IPv4's 50.
    assert_eq!(m[0].host.hwc_json(&["link", "show", "vx0"])[0]["mtu"], 1450);
    // A packet of exactly the overlay MTU crosses with DF set (1422 bytes of ICMP data, 8 of
    // ICMP header, 20 of IP header); one byte more is dropped where it would enter the overlay
    // (the container's own link takes 1500, so the limit met is the overlay's).
    assert!(ping(
        &m[0].container,
        "10.77.0.12",
        &["-M", "do", "-s", "1422"]
    ));
    assert!(!ping(
        &m[0].container,
        "10.77.0.12",
        &["-M", "do", "-s", "1423"]
    ));
    // Containers are given the overlay's MTU (as a runtime does from the network's settings), so
    // TCP's segments fit it.
    for machine in &m {
        machine
            .container
            .ok(&["link", "set", "eth0", "mtu", "1450"]);
    }

    // A TCP transfer from machine 1's container to machine 3's, compared by checksum.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sent = checksum(&data);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = in_netns(&m[2].container, move || {
        let listener = TcpListener::bind("10.77.0.13:7070").unwrap();
        ready_tx.send(()).unwrap();
        let (mut conn, peer) = listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        (peer.ip().to_string(), got.len(), checksum(&got))
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let client = in_netns(&m[0].container, move || {
        let mut conn =
            TcpStream::connect_timeout(&"10.77.0.13:7070".parse().unwrap(), Duration::from_secs(5))
                .unwrap();
        conn.write_all(&data).unwrap();
    });
    client.join().unwrap();
    let (peer, len, got) = server.join().unwrap();
    assert_eq!(
        (peer.as_str(), len, got),
        ("10.77.0.11", 3_000_000, sent),
        "what arrived is what was sent, from the container on machine 1"
    );
}

/// What `strace` saw `hwc-netlink ARGS` send: the rtnetlink message types, as strace names them.
fn sent_types(ns: &Netns, args: &[&str]) -> Option<Vec<String>> {
    if !have("strace") {
        return None;
    }
    let o = Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=sendto,sendmsg",
            "-e",
            "signal=none",
            "-s",
            "64",
        ])
        .arg(hwc())
        .args(["hwc-netlink", "--netns", &ns.name])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let trace = stderr(&o);
    let types = trace
        .match_indices("nlmsg_type=")
        .map(|(at, key)| {
            let rest = &trace[at + key.len()..];
            let end = rest.find([',', '}', ' ']).unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect();
    Some(types)
}

/// A machine for one overlay: its underlay eth0 holding 198.51.100.1/24, and the bridge br0.
fn overlay_machine(tag: &str) -> Option<Netns> {
    let ns = Netns::new(tag)?;
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ok(&["ensure-bridge", "br0"]);
    Some(ns)
}

#[test]
fn a_second_run_sends_no_change_and_peers_are_kept_exact() {
    let Some(ns) = overlay_machine("ovidem") else {
        return;
    };
    let run = |peers: &[&str], extra: &[&str]| {
        let mut args = VX0.to_vec();
        for p in peers {
            args.extend(["--peer", p]);
        }
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = run(&["198.51.100.2", "198.51.100.3"], &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(
        ns.ok(&args),
        "vx0: created, master br0, peer 198.51.100.2, peer 198.51.100.3, up\n"
    );
    let remotes = |ns: &Netns| -> Vec<String> {
        let all: Value =
            serde_json::from_str(&ns.bridge(&["-j", "fdb", "show", "dev", "vx0"])).unwrap();
        let mut dst: Vec<String> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["mac"] == "00:00:00:00:00:00")
            .map(|e| e["dst"].as_str().unwrap().to_string())
            .collect();
        dst.sort();
        dst
    };
    assert_eq!(remotes(&ns), ["198.51.100.2", "198.51.100.3"]);
    // The underlay's MTU came from the link holding --local.
    assert_eq!(ns.hwc_json(&["link", "show", "vx0"])[0]["mtu"], 1450);

    // Again: nothing to do, and nothing but lookups sent.
    if let Some(types) = sent_types(&ns, &args) {
        assert!(!types.is_empty(), "strace decoded no netlink message");
        // strace names the types (RTM_GETLINK) or writes their numbers (0x12); a request that
        // only reads is a GET, the third of each group of four (NEW, DEL, GET, SET).
        let is_get = |t: &&String| {
            t.starts_with("RTM_GET")
                || t.strip_prefix("0x")
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                    .is_some_and(|n| n >= 16 && n % 4 == 2)
        };
        let changes: Vec<&String> = types.iter().filter(|t| !is_get(t)).collect();
        assert!(changes.is_empty(), "a second run sent {changes:?}");
    }
    assert_eq!(ns.ok(&args), "vx0: already as wanted\n");

    // A peer replaced: the stale entry goes, the new one comes, others' entries stay.
    ns.bridge(&[
        "fdb",
        "append",
        "02:00:00:00:00:99",
        "dev",
        "vx0",
        "dst",
        "198.51.100.9",
    ]);
    let args = run(&["198.51.100.2", "198.51.100.4"], &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(
        ns.ok(&args),
        "vx0: peer 198.51.100.4, peer 198.51.100.3 removed\n"
    );
    assert_eq!(remotes(&ns), ["198.51.100.2", "198.51.100.4"]);
    let kept = ns.hwc_json(&["fdb", "show", "dev", "vx0"]);
    assert!(
        kept.as_array()
            .unwrap()
            .iter()
            .any(|e| e["mac"] == "02:00:00:00:00:99" && e["dst"] == "198.51.100.9"),
        "an entry for another MAC is left alone: {kept}"
    );

    // A dry run says what it would do and does nothing.
    let args = run(&["198.51.100.2"], &[]);
    let args: Vec<&str> = std::iter::once("--dry-run")
        .chain(args.iter().map(String::as_str))
        .collect();
    assert_eq!(
        ns.ok(&args),
        "would: fdb del 00:00:00:00:00:00 dev vx0 dst 198.51.100.4\n\
         vx0: peer 198.51.100.4 removed\n"
    );
    assert_eq!(remotes(&ns), ["198.51.100.2", "198.51.100.4"]);

    // Another VNI, port, local address or underlay: refused, both values named, nothing changed.
    for (extra, says) in [
        (vec!["--vni", "7"], "vx0 has VNI 4242, not 7"),
        (vec!["--port", "8472"], "vx0 has port 4789, not 8472"),
    ] {
        let mut args = vec!["ensure-overlay", "vx0", "--bridge", "br0"];
        if extra[0] != "--vni" {
            args.extend(["--vni", VNI]);
        }
        args.extend(extra.iter().copied());
        let o = ns.hwc(&args);
        assert_eq!(code(&o), 1, "{args:?}");
        assert_one_line_error(&o);
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    let args = run(&[], &[]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args[7] = "198.51.100.7";
    let o = ns.hwc(&args);
    assert!(
        stderr(&o).contains("vx0 has local address 198.51.100.1, not 198.51.100.7"),
        "{}",
        stderr(&o)
    );
    assert_eq!(remotes(&ns), ["198.51.100.2", "198.51.100.4"]);

    // A link of another kind under that name is never touched.
    let o = ns.hwc(&["ensure-overlay", "br0", "--vni", "1", "--bridge", "br0"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("br0 exists and is a bridge, not a vxlan"),
        "{}",
        stderr(&o)
    );
}

/// The overlay the tests ask for, before its peers: vx0 on br0 from 198.51.100.1.
const VX0: [&str; 8] = [
    "ensure-overlay",
    "vx0",
    "--vni",
    VNI,
    "--bridge",
    "br0",
    "--local",
    "198.51.100.1",
];

/// The overlay asked for in the race tests: [`VX0`] with one peer.
fn raced() -> Vec<&'static str> {
    [&VX0[..], &["--peer", "198.51.100.2"]].concat()
}

/// A machine for the race tests (`overlay_machine`), and `raced()` started on it with its first request of type `held` (strace's name, or its number)
/// held back 3 s: where in the run it falls is read from a first run, whose link is then
/// deleted. `None` where strace or root is missing.
fn race_held_back(tag: &str, held: (&str, &str)) -> Option<(Netns, std::process::Child)> {
    let ns = overlay_machine(tag)?;
    let types = sent_types(&ns, &raced())?;
    let at = 1 + types
        .iter()
        .position(|t| t == held.0 || t == held.1)
        .unwrap_or_else(|| panic!("no {} among {types:?}", held.0));
    ns.ip(&["link", "del", "vx0"]);
    let run = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", "trace=sendto,sendmsg", "-e"])
        .arg(format!("inject=sendto:delay_enter=3000000:when={at}"))
        .arg(hwc())
        .args(["hwc-netlink", "--netns", &ns.name])
        .args(raced())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The requests before the held one go within milliseconds.
    std::thread::sleep(Duration::from_millis(1000));
    Some((ns, run))
}

/// Another run (or a person) makes the overlay's link with another VNI between ensure-overlay's
/// look and its create. The kernel then refuses the create, and the link ensure-overlay takes
/// instead is held to the same check as one found at the look: refused, given no peer.
#[test]
fn a_link_made_between_the_look_and_the_create_is_checked_as_one_found() {
    // The create is the first RTM_NEWLINK (16).
    let Some((ns, racing)) = race_held_back("ovrace", ("RTM_NEWLINK", "0x10")) else {
        return;
    };
    ns.ip(&[
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "7",
        "dstport",
        "4789",
        "local",
        "198.51.100.1",
        "nolearning",
    ]);
    let o = racing.wait_with_output().unwrap();
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(&format!("vx0 has VNI 7, not {VNI}")),
        "{}",
        stderr(&o)
    );
    let entries = ns.hwc_json(&["fdb", "show", "dev", "vx0"]);
    assert!(
        !entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["dst"] == "198.51.100.2"),
        "the other link was given a peer: {entries}"
    );
    assert_eq!(ns.hwc_json(&["link", "show", "vx0"])[0].get("master"), None);
}

/// Two ensure-overlay runs at once: the second waits for the first's lock on the link, then
/// finds what it made, so only one says it added the peer (the kernel takes a second append of
/// a remote it has without a word: unlocked, both would say so).
#[test]
fn two_overlay_runs_at_once_say_each_change_once() {
    // The first run's append (the first RTM_NEWNEIGH, 28) is held back.
    let Some((ns, first)) = race_held_back("ovtwice", ("RTM_NEWNEIGH", "0x1c")) else {
        return;
    };
    let second = ns.hwc(&raced());
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let said = format!("{}{}", stdout(&first), stdout(&second));
    assert_eq!(
        said.matches("peer 198.51.100.2").count(),
        1,
        "each change said once:\n{said}"
    );
    assert_eq!(stdout(&second), "vx0: already as wanted\n", "{said}");
}

#[test]
fn a_thousand_peers_converge_and_a_rerun_finds_them_all() {
    let Some(ns) = Netns::new("ov1k") else {
        return;
    };
    ns.ok(&["ensure-bridge", "br0"]);
    let peers: Vec<String> = (0..1000)
        .map(|i| format!("10.100.{}.{}", i / 250, i % 250 + 1))
        .collect();
    let mut args = vec!["ensure-overlay", "vx0", "--vni", VNI, "--bridge", "br0"];
    for p in &peers {
        args.extend(["--peer", p]);
    }
    let said = ns.ok(&args);
    assert_eq!(said.matches("peer ").count(), 1000, "{}", &said[..200]);
    let entries = ns.hwc_json(&["fdb", "show", "dev", "vx0"]);
    let remotes = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .count();
    assert_eq!(remotes, 1000);
    assert_eq!(ns.ok(&args), "vx0: already as wanted\n");
}

/// A VXLAN link and its forwarding entries, each made by one tool and listed by both.
#[test]
fn vxlan_links_and_forwarding_entries_match_ip_and_bridge() {
    let Some(ns) = Netns::new("ovcmp") else {
        return;
    };
    if !have("bridge") {
        return;
    }
    ns.ip(&["link", "add", "u0", "type", "veth", "peer", "name", "u1"]);
    ns.ip(&["addr", "add", "192.0.2.10/24", "dev", "u0"]);
    ns.ip(&["link", "set", "u0", "up"]);
    ns.ok(&["link", "add", "br0", "type", "bridge"]);
    // One made by hwc-netlink, one by ip; IPv4 and IPv6 local addresses; learning on and off.
    ns.ok(&[
        "link",
        "add",
        "vxa",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        "192.0.2.10",
        "dev",
        "u0",
        "nolearning",
        "ttl",
        "64",
    ]);
    ns.ip(&[
        "link", "add", "vxb", "type", "vxlan", "id", "43", "dstport", "4790", "local", "fd00::10",
    ]);
    ns.ok(&["link", "set", "vxa", "master", "br0", "up"]);
    for (tool, dst) in [("hwc", "192.0.2.11"), ("bridge", "192.0.2.12")] {
        let args = [
            "fdb",
            "append",
            "00:00:00:00:00:00",
            "dev",
            "vxa",
            "dst",
            dst,
        ];
        if tool == "hwc" {
            ns.ok(&args);
        } else {
            ns.bridge(&args);
        }
    }
    ns.ok(&[
        "fdb",
        "add",
        "02:11:22:33:44:55",
        "dev",
        "vxa",
        "dst",
        "192.0.2.13",
        "port",
        "4800",
        "vni",
        "99",
    ]);

    // -j -d link show: the info_data keys hwc reports, as ip reports them.
    let info = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["linkinfo"]["info_kind"] == "vxlan")
            .map(|l| {
                (
                    l["ifname"].as_str().unwrap().to_string(),
                    l["linkinfo"]["info_data"].clone(),
                )
            })
            .collect()
    };
    let ours = info(&ns.hwc_json(&["-d", "link", "show"]));
    let theirs = info(&ns.ip_json(&["-d", "link", "show"]));
    assert_eq!(ours.len(), 2);
    for ((name, o), (_, t)) in ours.iter().zip(&theirs) {
        let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        for k in ["id", "port", "learning", "ttl"] {
            assert!(keys.iter().any(|x| *x == k), "{name}: no {k} in {o}");
        }
        for k in keys {
            assert_eq!(o[k], t[k], "{name}: {k}");
        }
    }
    assert_eq!(ours[0].1["local"], "192.0.2.10");
    assert_eq!(ours[0].1["link"], "u0");
    assert_eq!(ours[0].1["learning"], false);
    assert_eq!(ours[1].1["local6"], "fd00::10");

    // fdb show: the whole listing, with and without dev, JSON and text.
    let bridge = |args: &[&str]| ns.bridge(args);
    for args in [
        &["fdb", "show"][..],
        &["fdb", "show", "dev", "vxa"],
        &["fdb", "show", "br", "br0"],
    ] {
        let mut j = vec!["-j"];
        j.extend_from_slice(args);
        let ours: Value = serde_json::from_str(&ns.ok(&j)).unwrap();
        let theirs: Value = serde_json::from_str(&bridge(&j)).unwrap();
        assert_eq!(ours, theirs, "{args:?}");
        assert_eq!(ns.ok(args), bridge(args), "{args:?} as text");
    }
    let listed = ns.ok(&["fdb", "show", "dev", "vxa"]);
    assert!(
        listed.contains("02:11:22:33:44:55 dst 192.0.2.13 port 4800 vni 99 self permanent"),
        "{listed}"
    );

    // Deleting one entry of a MAC's several removes that one.
    ns.ok(&[
        "fdb",
        "del",
        "00:00:00:00:00:00",
        "dev",
        "vxa",
        "dst",
        "192.0.2.11",
    ]);
    let left = ns.ok(&["fdb", "show", "dev", "vxa"]);
    assert!(
        !left.contains("192.0.2.11") && left.contains("192.0.2.12"),
        "{left}"
    );
    // Once the MAC has no remote left, deleting is an error naming the entry (the kernel takes
    // deleting a remote it does not have, of a MAC it has, as done).
    let last = [
        "fdb",
        "del",
        "00:00:00:00:00:00",
        "dev",
        "vxa",
        "dst",
        "192.0.2.12",
    ];
    ns.ok(&last);
    let o = ns.hwc(&last);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("no such entry"), "{}", stderr(&o));
}

#[test]
fn overlay_words_are_checked_before_anything_is_sent() {
    let Some(ns) = Netns::new("ovargs") else {
        return;
    };
    for (args, says) in [
        (
            &["ensure-overlay", "vx0", "--bridge", "br0"][..],
            "missing --vni",
        ),
        (&["ensure-overlay", "vx0", "--vni", "1"], "missing --bridge"),
        (
            &[
                "ensure-overlay",
                "vx0",
                "--vni",
                "16777216",
                "--bridge",
                "b",
            ],
            "--vni must be",
        ),
        (
            &[
                "ensure-overlay",
                "vx0",
                "--vni",
                "1",
                "--bridge",
                "b",
                "--peer",
                "x",
            ],
            "'x' is not an address",
        ),
        (
            &[
                "ensure-overlay",
                "vx0",
                "--vni",
                "1",
                "--bridge",
                "b",
                "--peer",
                "10.0.0.1",
                "--peer",
                "fd00::1",
            ],
            "all IPv4 or all IPv6",
        ),
        (
            &[
                "ensure-overlay",
                "vx0",
                "--vni",
                "1",
                "--bridge",
                "b",
                "--local",
                "10.0.0.1",
                "--peer",
                "10.0.0.1",
            ],
            "this machine's --local address",
        ),
        (
            &["link", "add", "v", "type", "vxlan", "id", "16777216"],
            "vxlan id must be 0-16777215",
        ),
        (&["fdb", "append", "zz", "dev", "lo"], "not a MAC address"),
        (&["fdb", "append", "00:00:00:00:00:00"], "missing 'dev DEV'"),
    ] {
        let o = ns.hwc(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_one_line_error(&o);
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // A bridge that is not there, or not a bridge: said, nothing made.
    let o = ns.hwc(&["ensure-overlay", "vx0", "--vni", "1", "--bridge", "br9"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("br9: no such device"), "{}", stderr(&o));
    let o = ns.hwc(&["ensure-overlay", "vx0", "--vni", "1", "--bridge", "lo"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("lo is a plain device, not a bridge"),
        "{}",
        stderr(&o)
    );
    assert!(!ns.ok(&["link", "show"]).contains("vx0"));
}

/// An IPv6 underlay: the overlay's MTU is the underlay's less 70 bytes, and its remotes are IPv6.
#[test]
fn an_ipv6_underlay_takes_70_bytes() {
    let Some(ns) = Netns::new("ov6") else {
        return;
    };
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    ns.ip(&["addr", "add", "fd00:77::1/64", "dev", "eth0", "nodad"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ok(&["ensure-bridge", "br0"]);
    let args = [
        "ensure-overlay",
        "vx6",
        "--vni",
        "66",
        "--bridge",
        "br0",
        "--local",
        "fd00:77::1",
        "--peer",
        "fd00:77::2",
        "--peer",
        "fd00:77::3",
    ];
    assert_eq!(
        ns.ok(&args),
        "vx6: created, master br0, peer fd00:77::2, peer fd00:77::3, up\n"
    );
    let link = &ns.hwc_json(&["-d", "link", "show", "vx6"])[0];
    assert_eq!(link["mtu"], 1430, "{link}");
    assert_eq!(link["linkinfo"]["info_data"]["local6"], "fd00:77::1");
    let remotes: Vec<String> = ns
        .hwc_json(&["fdb", "show", "dev", "vx6"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .map(|e| e["dst"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(remotes, ["fd00:77::2", "fd00:77::3"]);
    assert_eq!(ns.ok(&args), "vx6: already as wanted\n");
}

/// What would leave an overlay half made, or never settle, is refused up front or corrected: an
/// MTU the underlay cannot carry, port 0 (the kernel's own default, 8472), a VNI another link
/// already has (the kernel's words said), a link found learning remotes itself.
#[test]
fn an_overlay_that_could_not_settle_is_refused_or_corrected() {
    let Some(ns) = Netns::new("ovfix") else {
        return;
    };
    ns.ip(&[
        "link", "add", "wg0", "mtu", "1420", "type", "veth", "peer", "name", "wg1",
    ]);
    ns.ip(&["link", "set", "wg0", "up"]);
    ns.ok(&["ensure-bridge", "br0"]);
    let base = [
        "ensure-overlay",
        "vx0",
        "--vni",
        "9",
        "--bridge",
        "br0",
        "--dev",
        "wg0",
    ];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    let o = ns.hwc(&with(&["--mtu", "1450"]));
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("--mtu 1450 is over what the underlay wg0 (MTU 1420) carries with VXLAN's 50 bytes: at most 1370"),
        "{}",
        stderr(&o)
    );
    let o = ns.hwc(&with(&["--port", "0"]));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--port must be a number, 1-65535"));
    assert!(!ns.ok(&["link", "show"]).contains("vx0"), "nothing made");

    ns.ip(&[
        "link", "add", "other", "type", "vxlan", "id", "9", "dstport", "4789",
    ]);
    let o = ns.hwc(&with(&[]));
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("A VXLAN device with the specified VNI already exists"),
        "{}",
        stderr(&o)
    );
    ns.ip(&["link", "del", "other"]);

    // A link made by hand that learns: hwc's entries are to be the only ones, so it stops.
    ns.ip(&[
        "link", "add", "vx0", "type", "vxlan", "id", "9", "dstport", "4789", "dev", "wg0",
    ]);
    assert_eq!(ns.ok(&with(&[])), "vx0: learning off, master br0, up\n");
    let link = &ns.ip_json(&["-d", "link", "show", "vx0"])[0];
    assert_eq!(link["linkinfo"]["info_data"]["learning"], false);
    assert_eq!(ns.ok(&with(&[])), "vx0: already as wanted\n");
}

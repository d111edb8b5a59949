//! hwc-netlink in network namespaces of its own, cross-checked with iproute2's `ip -j` on the
//! keys both report: links, addresses, routes; idempotent helpers; wait-online; no exec of `ip`
//! and no file under /etc.

mod common;

use common::netns::Netns;
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// Only `keys` of each object, so the comparison covers what both tools report.
fn subset(v: &Value, keys: &[&str]) -> Vec<serde_json::Map<String, Value>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            keys.iter()
                .filter_map(|k| o.get(*k).map(|x| (k.to_string(), x.clone())))
                .collect()
        })
        .collect()
}

const LINK_KEYS: [&str; 8] = [
    "ifindex",
    "ifname",
    "flags",
    "mtu",
    "operstate",
    "address",
    "master",
    "link",
];

/// bridge br0 with addresses, veth vh (on br0) / vp, addresses on vp, routes.
fn build(ns: &Netns) {
    ns.ok(&["link", "set", "lo", "up"]);
    ns.ok(&["link", "add", "br0", "type", "bridge"]);
    ns.ok(&["addr", "add", "10.88.0.1/16", "dev", "br0"]);
    ns.ok(&["addr", "add", "fd00:88::1/64", "dev", "br0"]);
    ns.ok(&["link", "add", "vh", "type", "veth", "peer", "name", "vp"]);
    ns.ok(&["link", "set", "vh", "master", "br0"]);
    ns.ok(&["link", "set", "br0", "up"]);
    ns.ok(&["link", "set", "vh", "up"]);
    ns.ok(&["link", "set", "vp", "up", "mtu", "1400"]);
    ns.ok(&["addr", "add", "10.88.0.2/16", "dev", "vp"]);
    ns.ok(&["route", "add", "10.5.0.0/16", "via", "10.88.0.1"]);
    ns.ok(&[
        "route",
        "add",
        "default",
        "via",
        "10.88.0.1",
        "dev",
        "br0",
        "metric",
        "100",
    ]);
    ns.ok(&[
        "route",
        "add",
        "fd00:99::/64",
        "via",
        "fd00:88::2",
        "dev",
        "br0",
    ]);
}

#[test]
fn links_addresses_and_routes_match_ip() {
    let Some(ns) = Netns::new("cmp") else { return };
    build(&ns);
    // Let IPv6 DAD and link state settle so both tools see the same moment.
    std::thread::sleep(Duration::from_millis(300));

    let ours = ns.hwc_json(&["link", "show"]);
    let theirs = ns.ip_json(&["link", "show"]);
    assert_eq!(subset(&ours, &LINK_KEYS), subset(&theirs, &LINK_KEYS));
    assert_eq!(ours.as_array().unwrap().len(), 4);

    let kind = |v: &Value| -> Vec<Option<String>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["linkinfo"]["info_kind"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        kind(&ns.hwc_json(&["-d", "link", "show"])),
        kind(&ns.ip_json(&["-d", "link", "show"]))
    );

    for args in [
        &["addr", "show"][..],
        &["-4", "addr", "show"],
        &["-6", "addr", "show"],
        &["addr", "show", "dev", "br0"],
    ] {
        let (ours, theirs) = (ns.hwc_json(args), ns.ip_json(args));
        assert_eq!(
            subset(&ours, &LINK_KEYS),
            subset(&theirs, &LINK_KEYS),
            "{args:?}"
        );
        let addrs = |v: &Value| -> Vec<Vec<serde_json::Map<String, Value>>> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    subset(
                        &l["addr_info"],
                        &["family", "local", "prefixlen", "scope", "label"],
                    )
                })
                .collect()
        };
        assert_eq!(addrs(&ours), addrs(&theirs), "{args:?}");
    }

    let route_keys = [
        "type", "dst", "gateway", "dev", "protocol", "scope", "metric", "table", "prefsrc", "flags",
    ];
    for args in [
        &["route", "show"][..],
        &["-6", "route", "show"],
        &["route", "show", "table", "all"],
        &["route", "show", "table", "local"],
    ] {
        let (ours, theirs) = (ns.hwc_json(args), ns.ip_json(args));
        assert_eq!(
            subset(&ours, &route_keys),
            subset(&theirs, &route_keys),
            "{args:?}"
        );
        assert!(!ours.as_array().unwrap().is_empty(), "{args:?}");
    }
}

/// 902 links: a listing over twice the 64 KiB hwc-netlink writes at a time, and enough
/// links that a lookup of peers by index must not be a linear search per link.
#[test]
fn a_long_listing_is_one_array_equal_to_ips() {
    let Some(ns) = Netns::new("long") else { return };
    let mut batch = Command::new("ip")
        .args(["-n", &ns.name, "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = batch.stdin.as_mut().unwrap();
        writeln!(stdin, "link add br0 type bridge").unwrap();
        for i in 0..450 {
            writeln!(stdin, "link add vh{i} type veth peer name vc{i}").unwrap();
            if i % 2 == 0 {
                writeln!(stdin, "link set vh{i} master br0").unwrap();
            }
        }
    }
    assert!(batch.wait().unwrap().success());
    let text = ns.ok(&["-j", "link", "show"]);
    assert!(text.len() > 2 * 64 * 1024, "{} bytes", text.len());
    let ours: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ours.as_array().unwrap().len(), 902);
    let theirs = ns.ip_json(&["link", "show"]);
    assert_eq!(subset(&ours, &LINK_KEYS), subset(&theirs, &LINK_KEYS));
}

#[test]
fn ensure_bridge_is_idempotent_and_refuses_other_kinds() {
    let Some(ns) = Netns::new("br") else { return };
    assert!(ns
        .ok(&[
            "ensure-bridge",
            "br0",
            "10.1.0.1/24",
            "fd01::1/64",
            "--mtu",
            "1400"
        ])
        .contains("created"));
    assert_eq!(
        ns.ok(&[
            "ensure-bridge",
            "br0",
            "10.1.0.1/24",
            "fd01::1/64",
            "--mtu",
            "1400"
        ]),
        "br0: already as wanted\n"
    );
    let links = ns.ip_json(&["-d", "link", "show"]);
    let bridges: Vec<&Value> = links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "bridge")
        .collect();
    assert_eq!(bridges.len(), 1);
    assert_eq!(bridges[0]["mtu"], 1400);
    let addrs = ns.ip_json(&["addr", "show", "dev", "br0"]);
    let locals: Vec<&str> = addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert_eq!(locals.iter().filter(|a| **a == "10.1.0.1").count(), 1);
    assert_eq!(locals.iter().filter(|a| **a == "fd01::1").count(), 1);
    assert!(ns
        .ok(&["ensure-bridge", "br0", "10.1.0.1/24", "10.2.0.1/24"])
        .contains("address 10.2.0.1/24"));

    ns.ok(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    let o = ns.hwc(&["ensure-bridge", "v0"]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("v0 exists and is a veth, not a bridge"),
        "{}",
        stderr(&o)
    );

    let o = ns.hwc(&["link", "add", "br0", "type", "bridge"]);
    assert_eq!(code(&o), 1, "exclusive create");
    assert!(stderr(&o).contains("br0 already exists"), "{}", stderr(&o));
    let o = ns.hwc(&["link", "del", "nosuch"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("nosuch: no such device"),
        "{}",
        stderr(&o)
    );
    let o = ns.hwc(&["addr", "add", "10.1.0.1/24", "dev", "br0"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

#[test]
fn ensure_veth_is_idempotent_and_moves_the_peer() {
    let Some(ns) = Netns::new("veth") else { return };
    let Some(other) = Netns::new("peer") else {
        return;
    };
    ns.ok(&["ensure-bridge", "br0"]);
    assert!(ns
        .ok(&[
            "ensure-veth",
            "vh0",
            "ctr0",
            "--master",
            "br0",
            "--netns",
            &other.name
        ])
        .contains("created"));
    assert_eq!(
        ns.ok(&[
            "ensure-veth",
            "vh0",
            "ctr0",
            "--master",
            "br0",
            "--netns",
            &other.name
        ]),
        "vh0: already as wanted\n"
    );
    let there = other.ip_json(&["link", "show", "ctr0"]);
    assert_eq!(there[0]["ifname"], "ctr0");
    let here = ns.hwc_json(&["link", "show", "vh0"]);
    assert_eq!(here[0]["master"], "br0");
    assert!(
        here[0].get("link_netnsid").is_some(),
        "the peer lives in another namespace: {}",
        here[0]
    );
    let o = ns.hwc(&["ensure-veth", "br0", "x"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("br0 exists and is a bridge, not a veth"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn wait_online_sees_the_carrier_and_times_out() {
    let Some(ns) = Netns::new("wait") else { return };
    ns.ok(&["link", "add", "wa", "type", "veth", "peer", "name", "wb"]);
    ns.ok(&["link", "set", "wa", "up"]);
    let o = ns.hwc(&["wait-online", "wa", "--timeout", "0.3"]);
    assert_eq!(code(&o), 1, "no carrier while the peer is down");
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("no carrier after 0.3 s"),
        "{}",
        stderr(&o)
    );

    let mut waiter = Command::new(hwc())
        .args([
            "hwc-netlink",
            "--netns",
            &ns.name,
            "wait-online",
            "wa",
            "--timeout",
            "10",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "still waiting before the peer comes up"
    );
    let start = std::time::Instant::now();
    ns.ok(&["link", "set", "wb", "up"]);
    let status = waiter.wait().unwrap();
    assert!(status.success());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "woken by the event, not the timeout"
    );
    assert_eq!(
        code(&ns.hwc(&["wait-online", "wa", "--timeout", "1"])),
        0,
        "already up: returns at once"
    );
}

#[test]
fn needs_no_ip_and_no_etc() {
    let Some(ns) = Netns::new("bare") else { return };
    build(&ns);
    let mut cmd = Command::new(hwc());
    cmd.args(["hwc-netlink", "--netns", &ns.name, "-j", "addr", "show"]);
    let Some((out, paths)) = strace_opens(&mut cmd, false) else {
        return;
    };
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !paths.iter().any(|p| p.starts_with("/etc")),
        "opened {paths:?}"
    );
    let trace = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve", "-o", "/dev/stdout", "--"])
        .arg(hwc())
        .args(["hwc-netlink", "--netns", &ns.name, "link", "show"])
        .output()
        .unwrap();
    let execs = stdout(&trace)
        .lines()
        .filter(|l| l.contains("execve("))
        .count();
    assert_eq!(
        execs,
        1,
        "hwc-netlink runs no other program: {}",
        stdout(&trace)
    );
}

#[test]
fn usage_errors() {
    for args in [
        &["frobnicate"][..],
        &["link", "add", "x"],
        &["route", "add", "10.0.0.0/8"],
        &["-4", "-6", "link"],
    ] {
        let o = Command::new(hwc())
            .arg("hwc-netlink")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_one_line_error(&o);
    }
}

#[test]
fn dry_run_changes_nothing_and_says_what_it_would_do() {
    let Some(ns) = Netns::new("dry") else { return };
    let out = ns.ok(&[
        "--dry-run",
        "ensure-bridge",
        "br9",
        "10.9.0.1/24",
        "--mtu",
        "1400",
    ]);
    assert_eq!(
        out,
        "would: ensure-bridge br9: create bridge br9\n\
         would: addr add 10.9.0.1/24 dev br9\n\
         would: link set br9 up\n\
         br9: created, address 10.9.0.1/24, up\n"
    );
    assert!(
        !ns.ok(&["link", "show"]).contains("br9"),
        "nothing was created"
    );
    ns.ok(&["ensure-bridge", "br9", "10.9.0.1/24"]);
    let out = ns.ok(&[
        "--dry-run",
        "ensure-bridge",
        "br9",
        "10.9.0.1/24",
        "10.9.1.1/24",
    ]);
    assert_eq!(
        out,
        "would: addr add 10.9.1.1/24 dev br9\nbr9: address 10.9.1.1/24\n"
    );
    let addrs = ns.ip_json(&["-4", "addr", "show", "dev", "br9"]);
    assert_eq!(
        addrs[0]["addr_info"].as_array().unwrap().len(),
        1,
        "the second address was not added"
    );
    assert_eq!(
        ns.ok(&["--dry-run", "link", "del", "br9"]),
        "would: link del br9\n"
    );
    assert!(ns.ok(&["link", "show"]).contains("br9"));
}

#[test]
fn commands_shorten_as_with_ip() {
    let Some(ns) = Netns::new("short") else {
        return;
    };
    ns.ok(&["ensure-bridge", "br7", "10.7.0.1/24"]);
    for (short, full) in [
        ("a", "addr show"),
        ("a s", "addr show"),
        ("ad l dev br7", "addr show dev br7"),
        ("r", "route show"),
        ("ro s", "route show"),
        ("l", "link show"),
        ("li sh br7", "link show br7"),
    ] {
        let long = ns.ok(&full.split(' ').collect::<Vec<_>>());
        assert!(long.contains("br7"), "{full}: {long}");
        assert_eq!(
            ns.ok(&short.split(' ').collect::<Vec<_>>()),
            long,
            "{short}"
        );
    }
    // ip's order of trying its commands decides: after `link`, `s` is `set` and `d` is `delete`.
    for (short, would) in [
        ("l s br7 mtu 1300", "would: link set br7 mtu 1300\n"),
        ("l d br7", "would: link del br7\n"),
        (
            "a d 10.7.0.1/24 dev br7",
            "would: addr del 10.7.0.1/24 dev br7\n",
        ),
        (
            "a a 10.7.9.1/24 dev br7",
            "would: addr add 10.7.9.1/24 dev br7\n",
        ),
    ] {
        let mut args = vec!["--dry-run"];
        args.extend(short.split(' '));
        assert_eq!(ns.ok(&args), would, "{short}");
    }
    // ... as ip itself reads it.
    let o = Command::new("ip")
        .args(["-n", &ns.name, "l", "s", "br7", "mtu", "1300"])
        .output()
        .unwrap();
    assert!(o.status.success(), "ip l s: {}", stderr(&o));
    assert_eq!(ns.hwc_json(&["l", "sh", "br7"])[0]["mtu"], 1300);
    // A word that begins none of hwc-netlink's objects or commands is still an error.
    for args in [&["ru"][..], &["r", "repl", "default"], &["l", "x"]] {
        let o = ns.hwc(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_one_line_error(&o);
    }
}

#[test]
fn names_that_cannot_be_interface_names_are_refused_before_anything_is_sent() {
    let long = "x".repeat(65_532);
    let cases: Vec<Vec<&str>> = vec![
        vec!["link", "add", &long, "type", "dummy"],
        vec!["ensure-bridge", &long],
        vec!["link", "add", "ok0", "type", "veth", "peer", &long],
        vec!["link", "set", "lo", "name", ""],
        vec!["link", "set", "lo", "name", "a/b"],
        vec!["ensure-veth", "h0", "has space"],
        vec!["link", "del", "sixteen-bytes-xx"],
    ];
    for args in &cases {
        // Under strace: not one netlink message may leave for a name that cannot be valid.
        let mut cmd = Command::new(hwc());
        cmd.arg("hwc-netlink").args(args);
        let sent = if have("strace") {
            let log = tempfile::NamedTempFile::new().unwrap();
            let o = Command::new("strace")
                .args(["-f", "-qq", "-e", "trace=sendto,sendmsg,write", "-o"])
                .arg(log.path())
                .arg(hwc())
                .arg("hwc-netlink")
                .args(args)
                .output()
                .unwrap();
            assert_eq!(code(&o), 2, "{}", stderr(&o));
            std::fs::read_to_string(log.path())
                .unwrap()
                .lines()
                .filter(|l| l.contains("sendto(") || l.contains("sendmsg("))
                .count()
        } else {
            0
        };
        let o = cmd.output().unwrap();
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert_one_line_error(&o);
        assert!(
            stderr(&o).contains("is not a valid interface name"),
            "{}",
            stderr(&o)
        );
        assert!(stderr(&o).len() < 300, "the name is not echoed whole");
        assert_eq!(sent, 0, "{:?}: something was sent", &args[..2]);
    }
}

#[test]
fn a_netns_file_that_is_a_fifo_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ns");
    make_fifo(&fifo);
    let o = output_within(
        Command::new(hwc())
            .args(["hwc-netlink", "--netns"])
            .arg(&fifo)
            .arg("link"),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
}

/// Two runs of the same ensure at once (two units, or podman making the same bridge): both exit
/// 0, and the bridge ends as wanted. Each pair in a fresh namespace, started together.
#[test]
fn two_ensures_at_once_both_succeed() {
    let Some(ns) = Netns::new("race") else { return };
    let pairs = 100;
    let mut lost = Vec::new();
    for i in 0..pairs {
        let bridge = format!("rb{i}");
        let veth = format!("rv{i}");
        let peer = format!("rp{i}");
        let spawn = |args: &[&str]| {
            Command::new(hwc())
                .args(["hwc-netlink", "--netns", &ns.name])
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let bridge_args = ["ensure-bridge", &bridge, "10.77.0.1/24", "fd77::1/64"];
        let veth_args = ["ensure-veth", &veth, &peer];
        let runs = [
            spawn(&bridge_args),
            spawn(&bridge_args),
            spawn(&veth_args),
            spawn(&veth_args),
        ];
        for r in runs {
            let o = r.wait_with_output().unwrap();
            if !o.status.success() {
                lost.push(format!("pair {i}: {}", stderr(&o)));
            }
        }
        let shown = ns.ok(&["-j", "addr", "show", "dev", &bridge]);
        assert!(
            shown.contains("\"10.77.0.1\"") && shown.contains("\"fd77::1\""),
            "{shown}"
        );
        // The addresses go with the next pair's bridge; one bridge a pair keeps the namespace
        // small.
        ns.ok(&["link", "del", &bridge]);
        ns.ok(&["link", "del", &veth]);
    }
    assert!(
        lost.is_empty(),
        "{} of {} runs failed: {lost:#?}",
        lost.len(),
        4 * pairs
    );
}

/// --dry-run into a pipe whose reader has gone: no abort, exit 0 (the plan is printed through
/// hwc's writer, which takes a closed pipe as the end of the output).
#[test]
fn a_dry_run_into_a_closed_pipe_exits_0() {
    let o = Command::new("bash")
        .arg("-c")
        .arg(
            "\"$0\" hwc-netlink --dry-run ensure-bridge hwcdry0 10.123.0.1/24 | true; \
             echo \"status=${PIPESTATUS[0]}\"",
        )
        .arg(hwc())
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("status=0"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

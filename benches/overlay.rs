//! ensure-overlay run again over a VXLAN link with 1000 peers (nothing to change: it looks up
//! the link, the bridge and the underlay, lists the link's forwarding entries and compares)
//! against `bridge -j fdb show dev vx0` listing the same entries, in the same run. Goal: <= 2 x
//! bridge's median. Also timed: the first run, which appends the 1000 entries.

mod common;

use std::process::Command;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let Some(netns) = common::BenchNetns::new("overlay", "ov-") else {
        return;
    };
    let ns = netns.0.clone();
    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let netlink = |args: &[&str]| {
        let o = Command::new(hwc)
            .args(["hwc-netlink", "--netns", &ns])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    netlink(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    netlink(&["addr", "add", "198.18.0.1/15", "dev", "eth0"]);
    netlink(&["link", "set", "eth0", "up"]);
    netlink(&["ensure-bridge", "br0"]);
    let peers: Vec<String> = (0..1000)
        .map(|i| format!("198.18.{}.{}", 1 + i / 250, i % 250 + 1))
        .collect();
    let mut argv = vec![
        hwc,
        "hwc-netlink",
        "--netns",
        &ns,
        "ensure-overlay",
        "vx0",
        "--vni",
        "4242",
        "--bridge",
        "br0",
        "--local",
        "198.18.0.1",
        "--dev",
        "eth0",
    ];
    for p in &peers {
        argv.extend(["--peer", p]);
    }
    let start = std::time::Instant::now();
    let first = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    let first_took = start.elapsed();
    assert!(first.status.success());
    assert_eq!(netlink(&argv[4..]), "vx0: already as wanted\n");
    let listed = Command::new("bridge")
        .args(["-n", &ns, "-j", "fdb", "show", "dev", "vx0"])
        .output()
        .unwrap();
    let entries = String::from_utf8_lossy(&listed.stdout)
        .matches("\"dst\"")
        .count();
    assert_eq!(entries, 1000, "bridge lists the 1000 remotes");

    let cases = vec![
        common::Case::new(
            "bridge -j fdb show dev vx0",
            &["bridge", "-n", &ns, "-j", "fdb", "show", "dev", "vx0"],
        ),
        common::Case::new("hwc-netlink ensure-overlay, 1000 peers, again", &argv),
    ];
    let rows = common::compare(
        "overlay: a rerun with 1000 peers",
        &cases,
        if quick { 3 } else { 100 },
        if quick { 1 } else { 5 },
    );
    println!(
        "the first run (1000 entries appended, one request each): {:.1} ms",
        first_took.as_secs_f64() * 1000.0
    );
    common::goal(
        "ensure-overlay again <= 2 x bridge listing the entries",
        rows[1].ratio <= 2.0,
    );
}

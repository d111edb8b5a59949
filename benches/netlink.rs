//! Listing 1000 links as JSON: `hwc-netlink -j link show` against `ip -j link show` in the same
//! run, both in a network namespace made for the bench. Goal: <= 0.5 x ip's median. Most of
//! either command's time is the kernel producing the dump (see the note in the README).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("netlink bench skipped: creating a network namespace needs root");
        return;
    }
    let ns = format!("hwc-bench-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("netlink bench skipped: 'ip netns add' failed (is iproute2 installed?)");
        return;
    }
    // 1000 links as on a container host: 499 veth pairs, a bridge and lo, in one ip batch.
    let mut batch = Command::new("ip")
        .args(["-n", &ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = batch.stdin.as_mut().unwrap();
        writeln!(stdin, "link add br0 type bridge").unwrap();
        for i in 0..499 {
            writeln!(stdin, "link add vh{i} type veth peer name vc{i}").unwrap();
        }
    }
    assert!(batch.wait().unwrap().success());
    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let out = Command::new(hwc)
        .args(["hwc-netlink", "--netns", &ns, "-j", "link", "show"])
        .output()
        .unwrap();
    let count = String::from_utf8_lossy(&out.stdout)
        .matches("\"ifindex\"")
        .count();
    assert_eq!(count, 1000, "{}", String::from_utf8_lossy(&out.stderr));

    let rows = common::compare(
        "netlink: 1000 links as JSON",
        &[
            common::Case::new("ip -j link show", &["ip", "-n", &ns, "-j", "link", "show"]),
            common::Case::new(
                "hwc-netlink -j link show",
                &[hwc, "hwc-netlink", "--netns", &ns, "-j", "link", "show"],
            ),
        ],
        if quick { 3 } else { 100 },
        if quick { 1 } else { 5 },
    );
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    common::goal("hwc-netlink <= 0.5 x ip's median", rows[1].ratio <= 0.5);
}

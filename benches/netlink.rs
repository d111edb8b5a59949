//! Listing 1000 links as JSON: `hwc-netlink -j link show` against `ip -j link show` in the same
//! run, both in a network namespace made for the bench. Goal: <= 0.5 x ip's median. Most of
//! either command's time is the kernel producing the dump: a static C program that only asks for
//! the dump and drops it is measured beside them as the floor.

mod common;

/// The floor: a static C program that enters the namespace, asks for the same dump (statistics
/// skipped, as hwc-netlink asks) and drops the replies. What it costs is the kernel building
/// the dump plus a process start; no listing program can go below it.
const FLOOR_C: &str = r#"#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static char buf[32768];
int main(int argc, char **argv) {
    int ns = argc > 1 ? open(argv[1], O_RDONLY | O_CLOEXEC) : -1;
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) return 1;
    close(ns);
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct { struct nlmsghdr h; struct ifinfomsg i; struct rtattr a; unsigned mask; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = RTM_GETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.a.rta_len = RTA_LENGTH(4);
    req.a.rta_type = IFLA_EXT_MASK;
    req.mask = RTEXT_FILTER_SKIP_STATS;
    if (fd < 0 || send(fd, &req, sizeof req, 0) < 0) return 1;
    for (;;) {
        int n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return 1;
        for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return 0;
            if (h->nlmsg_type == NLMSG_ERROR) return 1;
        }
    }
}
"#;

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

    let work = tempfile::tempdir().unwrap();
    let floor = common::compile_static(work.path(), "dump-floor", FLOOR_C);
    let ns_path = format!("/run/netns/{ns}");

    let rows = common::compare(
        "netlink: 1000 links as JSON",
        &[
            common::Case::new("ip -j link show", &["ip", "-n", &ns, "-j", "link", "show"]),
            common::Case::new(
                "hwc-netlink -j link show",
                &[hwc, "hwc-netlink", "--netns", &ns, "-j", "link", "show"],
            ),
            common::Case::new("C floor: the dump alone, no output", &[&floor, &ns_path]),
        ],
        if quick { 3 } else { 100 },
        if quick { 1 } else { 5 },
    );
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    println!(
        "reading the limits: the kernel's dump alone (C floor) is {:.2} x ip; hwc-netlink is {:.2} x the floor",
        rows[2].ratio,
        rows[1].ratio / rows[2].ratio
    );
    common::goal("hwc-netlink <= 0.5 x ip's median", rows[1].ratio <= 0.5);
}

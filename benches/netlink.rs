//! Listing 1000 links as JSON: `hwc-netlink -j link show` against `ip -j link show` in the same
//! run, both in a network namespace made for the bench. Goal: <= 0.5 x ip's median. Most of
//! either command's time is the kernel producing the dump, so two static C programs are measured
//! beside them: one that only asks for the dump and drops it (the floor no listing goes below),
//! and one that prints the very bytes hwc-netlink prints with nothing more than the work needed
//! (the cost of the listing itself, written as plainly as C allows).

mod common;

/// The start of both C programs: enter the namespace, ask for the link dump with statistics
/// skipped (as hwc-netlink asks), and hand each RTM_NEWLINK message to `take`.
const DUMP_C: &str = r#"#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static char buf[32768];
static void take(struct nlmsghdr *h);
static int dump(const char *netns) {
    int ns = open(netns, O_RDONLY | O_CLOEXEC);
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
            if (h->nlmsg_type == RTM_NEWLINK) take(h);
        }
    }
}
"#;

/// The floor: the dump alone, dropped. What it costs is the kernel building the dump plus a
/// process start; no listing program can go below it.
const FLOOR_C: &str = r#"
static void take(struct nlmsghdr *h) { (void)h; }
int main(int argc, char **argv) { return argc > 1 ? dump(argv[1]) : 1; }
"#;

/// The same listing in plain C: the attributes ip -j link shows are kept per link in a fixed
/// table, then printed with hand-written number and string output in 16 KiB writes. It knows
/// only what the bench's namespace holds (names that need no escaping, peers in the same
/// namespace); the bench checks that its output is byte for byte hwc-netlink's.
const LISTING_C: &str = r#"
struct link {
    unsigned index, flags, mtu, master, peer, has_peer;
    unsigned char oper, alen;
    char name[16];
    unsigned char addr[32];
};
static struct link links[4096];
static int count;
static char out[16384 + 4096];
static int used;
static void flush(void) { if (used && write(1, out, used) != used) _exit(1); used = 0; }
static void put(const char *s, int n) { memcpy(out + used, s, n); used += n; }
#define PUT(s) put(s, sizeof(s) - 1)
static void quoted(const char *s) { out[used++] = '"'; put(s, strlen(s)); out[used++] = '"'; }
static void number(unsigned v) {
    char d[12]; int i = sizeof d;
    do { d[--i] = '0' + v % 10; v /= 10; } while (v);
    put(d + i, sizeof d - i);
}
static struct link *find(unsigned index) {
    int lo = 0, hi = count;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (links[mid].index == index) return &links[mid];
        if (links[mid].index < index) lo = mid + 1; else hi = mid;
    }
    return 0;
}
static void take(struct nlmsghdr *h) {
    if (count == 4096) return;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    struct link *l = &links[count++];
    memset(l, 0, sizeof *l);
    l->index = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    int len = IFLA_PAYLOAD(h);
    for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        void *d = RTA_DATA(a);
        switch (a->rta_type & NLA_TYPE_MASK) {
        case IFLA_IFNAME: strncpy(l->name, d, 15); break;
        case IFLA_MTU: memcpy(&l->mtu, d, 4); break;
        case IFLA_OPERSTATE: l->oper = *(unsigned char *)d; break;
        case IFLA_ADDRESS:
            l->alen = RTA_PAYLOAD(a) > 32 ? 32 : RTA_PAYLOAD(a);
            memcpy(l->addr, d, l->alen);
            break;
        case IFLA_MASTER: memcpy(&l->master, d, 4); break;
        case IFLA_LINK: memcpy(&l->peer, d, 4); l->has_peer = 1; break;
        }
    }
}
int main(int argc, char **argv) {
    static const char *states[] = {"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN",
                                   "TESTING", "DORMANT", "UP"};
    static const struct { unsigned bit; const char *name; } words[] = {
        {0x8, "LOOPBACK"}, {0x2, "BROADCAST"}, {0x10, "POINTOPOINT"}, {0x1000, "MULTICAST"},
        {0x80, "NOARP"}, {0x200, "ALLMULTI"}, {0x100, "PROMISC"}, {0x400, "MASTER"},
        {0x800, "SLAVE"}, {0x1, "UP"}, {0x10000, "LOWER_UP"}};
    static const char hex[] = "0123456789abcdef";
    if (argc < 2 || dump(argv[1])) return 1;
    out[used++] = '[';
    for (int i = 0; i < count; i++) {
        struct link *l = &links[i];
        int peer_down = 0, first = 1;
        if (i) out[used++] = ',';
        PUT("{\"ifindex\":"); number(l->index);
        if (l->has_peer && l->peer != l->index) {
            struct link *p = find(l->peer);
            PUT(",\"link\":"); quoted(p ? p->name : "?");
            peer_down = p && !(p->flags & IFF_UP);
        }
        PUT(",\"ifname\":"); quoted(l->name);
        PUT(",\"flags\":[");
        for (unsigned k = 0; k < sizeof words / sizeof words[0]; k++) {
            if (!(l->flags & words[k].bit)) continue;
            if (!first) out[used++] = ',';
            first = 0;
            quoted(words[k].name);
        }
        if (peer_down) { if (!first) out[used++] = ','; quoted("M-DOWN"); }
        PUT("],\"mtu\":"); number(l->mtu);
        if (l->master) { struct link *m = find(l->master); PUT(",\"master\":"); quoted(m ? m->name : "?"); }
        PUT(",\"operstate\":"); quoted(states[l->oper < 7 ? l->oper : 0]);
        if (l->alen) {
            PUT(",\"address\":\"");
            for (int k = 0; k < l->alen; k++) {
                if (k) out[used++] = ':';
                out[used++] = hex[l->addr[k] >> 4];
                out[used++] = hex[l->addr[k] & 15];
            }
            out[used++] = '"';
        }
        out[used++] = '}';
        if (used >= 16384) flush();
    }
    PUT("]\n");
    flush();
    return 0;
}
"#;

use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let Some(netns) = common::BenchNetns::new("netlink", "") else {
        return;
    };
    let ns = netns.0.clone();
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
    let floor = common::compile_static(work.path(), "dump-floor", &format!("{DUMP_C}{FLOOR_C}"));
    let listing = common::compile_static(work.path(), "listing", &format!("{DUMP_C}{LISTING_C}"));
    let ns_path = format!("/run/netns/{ns}");
    let same = Command::new(&listing).arg(&ns_path).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&same.stdout),
        String::from_utf8_lossy(&out.stdout),
        "the C listing must print what hwc-netlink prints"
    );

    let mut cases = vec![
        common::Case::new("ip -j link show", &["ip", "-n", &ns, "-j", "link", "show"]),
        common::Case::new(
            "hwc-netlink -j link show",
            &[hwc, "hwc-netlink", "--netns", &ns, "-j", "link", "show"],
        ),
        common::Case::new("C: the same listing, plainly", &[&listing, &ns_path]),
        common::Case::new("C floor: the dump alone, no output", &[&floor, &ns_path]),
    ];
    // HWC_BASELINE: this build and another, side by side (last two rows).
    let staged = common::staged_with_baseline(&work.path().join("staged"));
    if let Some((ours, theirs)) = &staged {
        for (label, hwc) in [("this build", ours), ("HWC_BASELINE build", theirs)] {
            cases.push(common::Case::new(
                &format!("hwc-netlink -j link show, {label}"),
                &[
                    hwc.to_str().unwrap(),
                    "hwc-netlink",
                    "--netns",
                    &ns,
                    "-j",
                    "link",
                    "show",
                ],
            ));
        }
    }
    let rows = common::compare(
        "netlink: 1000 links as JSON",
        &cases,
        if quick { 3 } else { 100 },
        if quick { 1 } else { 5 },
    );
    println!(
        "reading the limits: the kernel's dump alone (C floor) is {:.3} x ip, the plain C listing \
         {:.3} x ip; hwc-netlink is {:.3} x the C listing",
        rows[3].ratio,
        rows[2].ratio,
        rows[1].ratio / rows[2].ratio
    );
    if staged.is_some() {
        common::against_baseline(&rows, 4, 5);
    }
    common::goal("hwc-netlink <= 0.5 x ip's median", rows[1].ratio <= 0.5);
}

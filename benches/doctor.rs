//! One `hwc-doctor --json` against the four commands a person would run for the same answers,
//! one after another: `hwc-gpu-detect --json` (GPUs, accelerator), `hwc-perms groups` (the
//! user's groups), `setup-ssh-keys USER --check` (StrictModes, as the user) and `hwc-netlink -j
//! link show` (the links, for the declared bridge). Both sides are run by the same small static
//! C driver (fork, exec, wait, each command's exit status checked), so the reference is the sum
//! of the four plus one driver, the doctor one command plus one driver; the driver's own start
//! (timed alone in the same run) is taken off both. Goal: the doctor in <= 0.5 x the four's sum.
//!
//! The root is tests/common/doctor_root.rs's healthy Optimus laptop, declaring one bridge that
//! does not exist (the doctor asks this network namespace, as `hwc-netlink link show` does):
//! the doctor's one failed check, so it exits 1. As root the SSH checks of both sides drop to
//! the user in a worker process; otherwise both run as the caller.

mod common;
#[path = "../tests/common/doctor_root.rs"]
mod doctor_root;
#[path = "../tests/common/fake_sysfs.rs"]
mod fake_sysfs;

use std::process::Command;

const ABSENT_BRIDGE: &str = "hwcdoc-absent0";

/// `driver EXPECTED PROGRAM ARGS... [-- EXPECTED PROGRAM ARGS...]...`: runs each command in
/// turn, its output inherited, and fails unless each exits with its expected status.
const DRIVER_C: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int i = 1;
    while (i < argc) {
        int expected = atoi(argv[i++]);
        int start = i;
        while (i < argc && strcmp(argv[i], "--") != 0) i++;
        argv[i] = NULL;
        pid_t pid = fork();
        if (pid < 0) return 100;
        if (pid == 0) {
            execv(argv[start], &argv[start]);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) return 101;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != expected) {
            fprintf(stderr, "%s: status %d, expected %d\n", argv[start], status, expected);
            return 102;
        }
        i++;
    }
    return 0;
}
"#;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let tree = fake_sysfs::Tree::fixture("optimus-intel-nvidia");
    doctor_root::populate(tree.path(), &[ABSENT_BRIDGE]);
    let root = tree.path().to_str().unwrap();
    let user = doctor_root::USER;
    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let driver = common::compile_static(work.path(), "driver", DRIVER_C);
    let driver = driver.as_str();

    let doctor: Vec<&str> = vec![hwc, "hwc-doctor", "--json", "--root", root];
    let four: [Vec<&str>; 4] = [
        vec![hwc, "hwc-gpu-detect", "--json", "--root", root],
        vec![
            hwc,
            "hwc-perms",
            "groups",
            "--user",
            user,
            "--want",
            "media",
            "--root",
            root,
        ],
        vec![hwc, "setup-ssh-keys", user, "--check", "--root", root],
        vec![hwc, "hwc-netlink", "-j", "link", "show"],
    ];
    same_answers(&doctor, &four);

    let mut sequence: Vec<&str> = vec![driver];
    for (i, argv) in four.iter().enumerate() {
        if i > 0 {
            sequence.push("--");
        }
        sequence.push("0");
        sequence.extend(argv);
    }
    let mut one: Vec<&str> = vec![driver, "1"];
    one.extend(&doctor);
    let labels = [
        "gpu-detect + perms + ssh --check + netlink",
        "hwc-doctor --json",
        "hwc-gpu-detect --json",
        "hwc-perms groups --user --want media",
        "setup-ssh-keys --check",
        "hwc-netlink -j link show",
        "the C driver alone",
    ];
    let mut cases = vec![
        common::Case::new(labels[0], &sequence),
        common::Case::new(labels[1], &one),
    ];
    for (label, argv) in labels[2..6].iter().zip(&four) {
        let mut a = vec![driver, "0"];
        a.extend(argv);
        cases.push(common::Case::new(label, &a));
    }
    cases.push(common::Case::new(labels[6], &[driver]));
    let rows = common::compare(
        "doctor (every row through the same C driver: fork, exec, wait)",
        &cases,
        if quick { 3 } else { 200 },
        if quick { 1 } else { 10 },
    );
    // Every row starts the driver once; its start (the last row) is in neither side's work.
    let ms = |i: usize| rows[i].median.as_secs_f64() * 1e3;
    let net = |i: usize| ms(i) - ms(6);
    let parts: f64 = (2..6).map(net).sum();
    let ratio = net(1) / net(0);
    println!(
        "net of the driver's own start ({:.3} ms): hwc-doctor {:.3} ms, the four in sequence {:.3} ms \
         (their medians apart: {parts:.3} ms); doctor / four = {ratio:.3} (with the driver's start: {:.3}){}",
        ms(6),
        net(1),
        net(0),
        ms(1) / ms(0),
        if nix::unistd::geteuid().is_root() {
            "; as root: on both sides the SSH checks run in a worker dropped to the user"
        } else {
            "; as the user itself: no worker on either side"
        }
    );
    common::goal("hwc-doctor <= 0.5 x the four commands' sum", ratio <= 0.5);
}

/// The doctor and the four find the same machine: the declared GPU and its accelerator, the
/// user in every group of the set, a key file sshd accepts, no declared bridge; each of the four
/// exits 0, the doctor 1 for the bridge alone.
fn same_answers(doctor: &[&str], four: &[Vec<&str>; 4]) {
    let run = |argv: &[&str]| Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let outs: Vec<_> = four.iter().map(|a| run(a)).collect();
    for (argv, o) in four.iter().zip(&outs) {
        assert!(
            o.status.success(),
            "{argv:?}: {}{}",
            text(o),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let detect = text(&outs[0]);
    assert!(detect.contains("\"accel\":\"cuda\""), "{detect}");
    assert!(
        !text(&outs[3]).contains(ABSENT_BRIDGE),
        "the bridge is not there"
    );

    let o = run(doctor);
    let report = text(&o);
    assert_eq!(o.status.code(), Some(1), "{report}");
    for ok in [
        "\"check\":\"type\"",
        "\"check\":\"accel\"",
        "\"check\":\"groups:media\"",
        "\"check\":\"strict-modes\"",
    ] {
        let at = report
            .find(ok)
            .unwrap_or_else(|| panic!("{ok} in {report}"));
        let check = &report[report[..at].rfind('{').unwrap()..];
        let check = &check[..check.find('}').unwrap()];
        assert!(check.contains("\"status\":\"ok\""), "{check}");
    }
    assert!(report.contains("\"failed\":1"), "{report}");
    assert!(report.contains(&format!("{ABSENT_BRIDGE} does not exist")));
}

//! Detection cost per PCI function: `hwc-gpu-detect --accel` over synthetic buses of 1, 64 and
//! 1024 functions (two GPUs, the rest bridges, NICs, NVMe, USB). The per-device figure is the
//! slope between the 1- and 1024-device medians, so process start-up cancels out.
//! Goal: <= 2 us per device. The reference in the same run is a static C program that lists
//! the same directory and reads each function's `class` (the floor for any scan that must look
//! at every function), so the figures can be read against this machine's syscall costs.

mod common;
#[path = "../tests/common/fake_sysfs.rs"]
mod fake_sysfs;

use std::process::Command;

const FLOOR_C: &str = r#"#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char path[4096], buf[64];
    (void)argc;
    snprintf(path, sizeof path, "%s/sys/bus/pci/devices", argv[1]);
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(buf, sizeof buf, "%s/class", e->d_name);
        int fd = openat(dirfd(d), buf, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) { if (read(fd, buf, sizeof buf) < 0) return 1; close(fd); }
    }
    closedir(d);
    return 0;
}
"#;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let sizes = [1usize, 64, 1024];
    let trees: Vec<fake_sysfs::Tree> = sizes
        .iter()
        .map(|&n| fake_sysfs::Tree::from_spec(&fake_sysfs::synthetic_bus(n)))
        .collect();
    let roots: Vec<String> = trees
        .iter()
        .map(|t| t.path().to_str().unwrap().to_string())
        .collect();
    for (n, root) in sizes.iter().zip(&roots) {
        let out = Command::new(hwc)
            .args(["hwc-gpu-detect", "--root", root, "--json"])
            .output()
            .unwrap();
        let gpus = String::from_utf8_lossy(&out.stdout)
            .matches("\"vendor_id\":")
            .count();
        assert!((1..=2).contains(&gpus), "{n} devices: {gpus} GPUs found");
    }
    let work = tempfile::tempdir().unwrap();
    let floor = common::compile_static(work.path(), "floor", FLOOR_C);
    let floor = floor.as_str();

    let mut labels = Vec::new();
    let mut argvs: Vec<Vec<&str>> = Vec::new();
    for (n, root) in sizes.iter().zip(&roots) {
        labels.push(format!("C floor: read class, {n} devices"));
        argvs.push(vec![floor, root]);
        labels.push(format!("hwc-gpu-detect --accel, {n} devices"));
        argvs.push(vec![hwc, "hwc-gpu-detect", "--root", root, "--accel"]);
    }
    let cases: Vec<common::Case> = labels
        .iter()
        .zip(&argvs)
        .map(|(l, a)| common::Case::new(l, a))
        .collect();
    let rows = common::compare(
        "detect",
        &cases,
        if quick { 3 } else { 200 },
        if quick { 1 } else { 10 },
    );
    let slope = |small: usize, large: usize, n: f64| {
        (rows[large].median.as_secs_f64() - rows[small].median.as_secs_f64()) / n * 1e6
    };
    let (ours, floor_us) = (slope(1, 5, 1023.0), slope(0, 4, 1023.0));
    println!(
        "per device (1 -> 1024): hwc {ours:.2} us, C floor {floor_us:.2} us, ratio {:.2}; \
         (1 -> 64): hwc {:.2} us, C floor {:.2} us",
        ours / floor_us,
        slope(1, 3, 63.0),
        slope(0, 2, 63.0)
    );
    common::goal("<= 2 us per PCI device", ours <= 2.0);
}

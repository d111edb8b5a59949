//! Launch latency: what gpu-launch adds to starting a program, against a minimal static C
//! wrapper that sets the same variables and execs (the floor for any wrapper), the program
//! alone, `env VAR=1 PROGRAM`, and a bash script equal to NixOS's `nvidia-offload`.
//!
//! gpu-launch runs on the recorded Optimus laptop twice: as a session starts it (hwc-session-init
//! exported the snapshot of the GPUs, HWC_GPU_LAUNCH, which gpu-launch checks and uses) and with
//! no snapshot (a first launch, or one after the machine changed: the scan). Over an empty root
//! (no GPU to find) it shows what start-up alone costs. Each figure is a ratio taken pair by
//! pair (the two commands one right after the other), the median of three rounds. Two more
//! references say where the ratio to the C wrapper comes from: the wrapper making first the
//! system calls of gpu-launch's checks (what keeps a decision from going stale, and the files a
//! launch looks for), the wrapper built static-pie, as hwc is, and the two together. Goals:
//! gpu-launch in a session <= 1.05x the C wrapper; >= 3x faster than bash. With HWC_BASELINE,
//! this build is paired with that one on the Optimus, desktop (no offload) and server (BMC
//! display) fixtures, each with its snapshot: this build must be no slower.

mod common;
#[path = "../tests/common/fake_sysfs.rs"]
mod fake_sysfs;

use std::path::PathBuf;
use std::process::Command;

const TINY_C: &str = "int main(void) { return 0; }\n";
const WRAPPER_C: &str = r#"#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    setenv("__NV_PRIME_RENDER_OFFLOAD", "1", 0);
    setenv("__NV_PRIME_RENDER_OFFLOAD_PROVIDER", "NVIDIA-G0", 0);
    setenv("__GLX_VENDOR_LIBRARY_NAME", "nvidia", 0);
    setenv("__VK_LAYER_NV_optimus", "NVIDIA_only", 0);
    setenv("__EGL_VENDOR_LIBRARY_FILENAMES", "/usr/share/glvnd/egl_vendor.d/10_nvidia.json", 0);
    execvp(argv[1], argv + 1);
    return 127;
}
"#;
/// The system calls gpu-launch makes on the Optimus fixture with the session's snapshot (checked
/// against it with strace before the timing): the standard descriptors polled; the PCI devices
/// listed, each GPU's driver link read, the VGA-class one's boot_vga; the EGL vendor file looked
/// for; the two profile files. [`checks_source`] makes them before the C wrapper's own main.
const CHECKS_C: &str = r#"#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
static const char *under(char *buf, const char *root, const char *a, const char *b) {
    strcpy(buf, root);
    strcat(buf, a);
    strcat(buf, b);
    return buf;
}
static void checks(const char *root) {
    static char path[8192], buf[2048];
    struct stat st;
    struct pollfd std_fds[3] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}};
    poll(std_fds, 3, 0);
    int dir = open(under(path, root, "/sys/bus/pci/devices", ""), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    while (syscall(SYS_getdents64, dir, buf, sizeof buf) > 0) {}
    readlinkat(dir, "0000:00:02.0/driver", buf, 256);
    int vga = openat(dir, "0000:00:02.0/boot_vga", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    read(vga, buf, 128);
    close(vga);
    readlinkat(dir, "0000:01:00.0/driver", buf, 256);
    close(dir);
    const char *egl[3] = {"/run/opengl-driver/share/glvnd/egl_vendor.d", "/etc/glvnd/egl_vendor.d",
                          "/usr/share/glvnd/egl_vendor.d"};
    for (int i = 0; i < 3 && stat(under(path, root, egl[i], "/10_nvidia.json"), &st) != 0; i++) {}
    open(under(path, root, "/etc/hwc/gpu-launch.conf", ""), O_RDONLY | O_CLOEXEC | O_PATH);
    const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (config && config[0] == '/')
        open(under(path, root, config, "/hwc/gpu-launch.conf"), O_RDONLY | O_CLOEXEC | O_PATH);
    else if (home && home[0] == '/')
        open(under(path, root, home, "/.config/hwc/gpu-launch.conf"), O_RDONLY | O_CLOEXEC | O_PATH);
}
"#;

/// `CHECKS ROOT PROGRAM...`: the C wrapper, making first gpu-launch's system calls under ROOT.
/// Its row is the floor of a wrapper that never uses a stale decision.
fn checks_source() -> String {
    format!(
        "{CHECKS_C}#define main wrapper_main\n{WRAPPER_C}#undef main\n\
         int main(int argc, char **argv) {{\n    checks(argv[1]);\n    \
         return wrapper_main(argc - 1, argv + 1);\n}}\n"
    )
}
const NVIDIA_OFFLOAD_SH: &str = "#!/bin/bash\n\
export __NV_PRIME_RENDER_OFFLOAD=1\n\
export __NV_PRIME_RENDER_OFFLOAD_PROVIDER=NVIDIA-G0\n\
export __GLX_VENDOR_LIBRARY_NAME=nvidia\n\
export __VK_LAYER_NV_optimus=NVIDIA_only\n\
exec \"$@\"\n";

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let tiny = common::compile_static(dir, "tiny", TINY_C);
    let wrapper = common::compile_static(dir, "wrapper", WRAPPER_C);
    let wrapper_pie = common::compile_c(dir, "wrapper-pie", WRAPPER_C, "-static-pie");
    let checks_c = checks_source();
    let checks = common::compile_static(dir, "checks", &checks_c);
    let checks_pie = common::compile_c(dir, "checks-pie", &checks_c, "-static-pie");
    let script = dir.join("nvidia-offload");
    std::fs::write(&script, NVIDIA_OFFLOAD_SH).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = script.to_str().unwrap().to_string();
    let launcher = dir.join("gpu-launch");
    std::os::unix::fs::symlink(common::hwc(), &launcher).unwrap();
    let launcher = launcher.to_str().unwrap().to_string();
    let tree = fake_sysfs::Tree::fixture("optimus-intel-nvidia");
    let root = tree.path().to_str().unwrap().to_string();
    let empty = dir.join("empty-root");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap().to_string();

    // The fixture must really offload, or the bench measures the wrong path.
    let dry = Command::new(&launcher)
        .args(["--root", &root, "--dry-run", &tiny])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dry.stdout).contains("__NV_PRIME_RENDER_OFFLOAD=1"));

    // An empty runtime directory (a session without hwc-session-init's file), the same for all;
    // the session's variable only where a row says so.
    let runtime = dir.join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let runtime = runtime.to_str().unwrap().to_string();
    let launch = |label: &str, argv: &[&str], snapshot: Option<&str>| {
        let case = common::Case::new(label, argv)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("HWC_GPU_LAUNCH");
        match snapshot {
            Some(s) => case.env("HWC_GPU_LAUNCH", s),
            None => case,
        }
    };
    let optimus = snapshot_of(&root);
    let c_wrapper = common::Case::new("C wrapper", &[&wrapper, &tiny]);
    let c_wrapper_pie = common::Case::new("C wrapper, static-pie", &[&wrapper_pie, &tiny]);
    let alone = common::Case::new("PROGRAM alone", &[&tiny]);
    let session = launch(
        "gpu-launch, session snapshot",
        &[&launcher, "--root", &root, &tiny],
        Some(&optimus),
    );
    let cold = launch(
        "gpu-launch, no snapshot",
        &[&launcher, "--root", &root, &tiny],
        None,
    );
    let bare = launch(
        "gpu-launch, no GPU",
        &[&launcher, "-q", "--root", &empty, &tiny],
        None,
    );
    // The same environment as the session row: the checks look for the same files.
    let c_checks = launch(
        "C wrapper making gpu-launch's checks",
        &[&checks, &root, &tiny],
        None,
    );
    same_system_calls(&session, &c_checks);
    let c_checks_pie = launch(
        "C wrapper making gpu-launch's checks, static-pie",
        &[&checks_pie, &root, &tiny],
        None,
    );
    let env = common::Case::new(
        "env VAR=1 PROGRAM",
        &["/usr/bin/env", "__NV_PRIME_RENDER_OFFLOAD=1", &tiny],
    );
    let bash = common::Case::new("nvidia-offload (bash)", &[&script, &tiny]);
    let pair = |label, a, b| common::Pair { label, a, b };
    let mut pairs = vec![
        pair(
            "gpu-launch (Optimus, session snapshot) / C wrapper",
            &session,
            &c_wrapper,
        ),
        pair(
            "gpu-launch (Optimus, no snapshot) / C wrapper",
            &cold,
            &c_wrapper,
        ),
        pair(
            "gpu-launch (no GPU: start-up only) / C wrapper",
            &bare,
            &c_wrapper,
        ),
        pair("C wrapper / PROGRAM alone", &c_wrapper, &alone),
        pair("env VAR=1 PROGRAM / C wrapper", &env, &c_wrapper),
        pair(
            "nvidia-offload (bash) / gpu-launch (session)",
            &bash,
            &session,
        ),
        pair("nvidia-offload (bash) / C wrapper", &bash, &c_wrapper),
        pair(
            "C wrapper making gpu-launch's checks / C wrapper",
            &c_checks,
            &c_wrapper,
        ),
        pair(
            "gpu-launch (Optimus, session snapshot) / C wrapper making its checks",
            &session,
            &c_checks,
        ),
        pair(
            "C wrapper, static-pie / C wrapper",
            &c_wrapper_pie,
            &c_wrapper,
        ),
        pair(
            "C wrapper making gpu-launch's checks, static-pie / C wrapper",
            &c_checks_pie,
            &c_wrapper,
        ),
        pair(
            "gpu-launch (Optimus, session snapshot) / that static-pie C wrapper",
            &session,
            &c_checks_pie,
        ),
    ];
    let base_rows = pairs.len();
    // HWC_BASELINE: this build paired with another on three machines, each with its snapshot
    // (a build from before snapshots ignores the variable and scans).
    let staged = common::staged_with_baseline(&dir.join("staged"));
    let mut trees = Vec::new();
    let mut against = Vec::new();
    if let Some((this, theirs)) = &staged {
        let link = |hwc: &PathBuf| {
            let link = hwc.with_file_name("gpu-launch");
            std::os::unix::fs::symlink(hwc, &link).unwrap();
            link.to_str().unwrap().to_string()
        };
        let (this, theirs) = (link(this), link(theirs));
        for (name, fixture) in [
            ("Optimus", "optimus-intel-nvidia"),
            ("desktop", "desktop-nvidia-only"),
            ("server", "server-aspeed-nvidia"),
        ] {
            trees.push(fake_sysfs::Tree::fixture(fixture));
            let path = trees.last().unwrap().path().to_str().unwrap().to_string();
            let snapshot = snapshot_of(&path);
            for (how, snapshot) in [
                ("session snapshot", Some(snapshot.as_str())),
                ("no snapshot", None),
            ] {
                let case = |bin: &str| launch(name, &[bin, "-q", "--root", &path, &tiny], snapshot);
                against.push((format!("{name}, {how}"), case(&this), case(&theirs)));
            }
        }
    }
    let labels: Vec<String> = against
        .iter()
        .map(|(name, _, _)| format!("gpu-launch ({name}): this build / HWC_BASELINE"))
        .collect();
    for ((_, ours, theirs), label) in against.iter().zip(&labels) {
        pairs.push(pair(label, ours, theirs));
    }
    let rows = common::compare_pairs(
        "launch",
        &pairs,
        3,
        if quick { 5 } else { 300 },
        if quick { 1 } else { 20 },
    );
    let (in_session, bash_over) = (rows[0].ratio, rows[5].ratio);
    println!(
        "reading the limits: gpu-launch with nothing to scan is {:.3} x the wrapper; the C \
         wrapper itself is only {:.2} x faster than bash; the system calls of the checks that keep \
         a decision from going stale cost a C wrapper {:.3} x, and gpu-launch is {:.3} x that; \
         built static-pie as hwc is, the C wrapper is {:.3} x, and {:.3} x making the checks, \
         which leaves gpu-launch's own work at {:.3} x",
        rows[2].ratio,
        rows[6].ratio,
        rows[7].ratio,
        rows[8].ratio,
        rows[9].ratio,
        rows[10].ratio,
        rows[11].ratio
    );
    for (row, (name, _, _)) in rows[base_rows..].iter().zip(&against) {
        common::goal(
            &format!("no slower than HWC_BASELINE ({name})"),
            row.ratio <= 1.0,
        );
    }
    common::goal(
        "gpu-launch in a session <= 1.05 x the C wrapper",
        in_session <= 1.05,
    );
    common::goal(
        "gpu-launch >= 3 x faster than the bash script",
        bash_over >= 3.0,
    );
}

/// Asserts that the C stand-in for gpu-launch's checks makes the system calls gpu-launch makes
/// after its start-up (from polling the standard descriptors to the exec), on the same files:
/// each call's name, the strings strace shows for it and its result. Without strace, says so
/// (under CI=true, fails).
fn same_system_calls(gpu_launch: &common::Case, stand_in: &common::Case) {
    let calls = |case: &common::Case| -> Option<Vec<String>> {
        let log = tempfile::NamedTempFile::new().unwrap();
        let ran = Command::new("strace")
            .args(["-qq", "-o"])
            .arg(log.path())
            .arg("--")
            .args(&case.argv)
            .env_clear()
            .envs(case.environment())
            .output();
        let status = match ran {
            Ok(o) => o.status,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("strace: {e}"),
        };
        assert!(status.success(), "strace {}: {status}", case.label);
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("poll("))
            .take_while(|l| !l.starts_with("execve("))
            .collect();
        Some(lines.iter().map(|l| call_and_strings(l)).collect())
    };
    let Some(ours) = calls(gpu_launch) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "strace not found (CI=true): the stand-in cannot be compared with gpu-launch"
        );
        println!(
            "strace not found: the stand-in's system calls were not compared with gpu-launch's"
        );
        return;
    };
    let theirs = calls(stand_in).unwrap();
    assert!(
        !ours.is_empty(),
        "no system calls seen between poll and execve"
    );
    assert_eq!(
        ours, theirs,
        "the C stand-in no longer makes gpu-launch's system calls: update CHECKS_C"
    );
}

/// `openat(3, "0000:00:02.0/boot_vga", ...) = 4` as `openat "0000:00:02.0/boot_vga" = 4`: the
/// call's name, every quoted string in the line (paths, what was read) and the result (with its
/// error name), not the addresses between.
fn call_and_strings(line: &str) -> String {
    let name = line.split('(').next().unwrap_or_default();
    let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    let result = line.rsplit_once(") = ").map_or("", |(_, r)| r);
    let result = result.split(" (").next().unwrap_or_default();
    format!("{name} {} = {result}", strings.join(" "))
}

/// The snapshot `hwc-gpu-detect --env` writes for the tree at `root`, as hwc-session-init
/// exports it.
fn snapshot_of(root: &str) -> String {
    let out = Command::new(common::hwc())
        .args(["hwc-gpu-detect", "--env", "--root", root])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("HWC_GPU_LAUNCH="))
        .expect("hwc-gpu-detect --env writes HWC_GPU_LAUNCH");
    let value = value.trim_matches('"').to_string();
    assert!(value.starts_with("v1;"), "{value}");
    value
}

//! Launch latency: what gpu-launch adds to starting a program, on an Optimus fixture, against
//! the program alone, a minimal static C wrapper that sets the same variables and execs (the
//! floor for any wrapper), `env VAR=1 PROGRAM`, and a bash script equal to NixOS's
//! `nvidia-offload`. Goals: gpu-launch <= 1.10x the C wrapper and >= 3x faster than bash.
//! gpu-launch over an empty root (no GPU to find) shows how much is start-up alone; the C
//! wrapper against bash shows the most any exec-ing wrapper can gain over the script.

mod common;
#[path = "../tests/common/fake_sysfs.rs"]
mod fake_sysfs;

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
    let script = dir.join("nvidia-offload");
    std::fs::write(&script, NVIDIA_OFFLOAD_SH).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&script).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = script.to_str().unwrap().to_string();
    let launcher = dir.join("gpu-launch");
    std::os::unix::fs::symlink(common::hwc(), &launcher).unwrap();
    let launcher = launcher.to_str().unwrap().to_string();
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gpu/optimus-intel-nvidia.txt"
    ))
    .unwrap();
    let tree = fake_sysfs::Tree::from_spec(&spec);
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

    let mut cases = vec![
        common::Case::new("PROGRAM alone (static, empty main)", &[&tiny]),
        common::Case::new("C wrapper (static: setenv + execvp)", &[&wrapper, &tiny]),
        common::Case::new(
            "gpu-launch PROGRAM (Optimus fixture)",
            &[&launcher, "--root", &root, &tiny],
        ),
        common::Case::new(
            "gpu-launch PROGRAM (no GPU: start-up only)",
            &[&launcher, "-q", "--root", &empty, &tiny],
        ),
        common::Case::new(
            "env VAR=1 PROGRAM",
            &["/usr/bin/env", "__NV_PRIME_RENDER_OFFLOAD=1", &tiny],
        ),
        common::Case::new("nvidia-offload (bash) PROGRAM", &[&script, &tiny]),
    ];
    // HWC_BASELINE: this build and another, side by side (last two rows).
    let staged = common::staged_with_baseline(&dir.join("staged"));
    if let Some((ours, theirs)) = &staged {
        for (label, hwc) in [("this build", ours), ("HWC_BASELINE build", theirs)] {
            let link = hwc.with_file_name("gpu-launch");
            std::os::unix::fs::symlink(hwc, &link).unwrap();
            cases.push(common::Case::new(
                &format!("gpu-launch PROGRAM, {label}"),
                &[link.to_str().unwrap(), "--root", &root, &tiny],
            ));
        }
    }
    let rows = common::compare(
        "launch",
        &cases,
        if quick { 5 } else { 400 },
        if quick { 1 } else { 20 },
    );
    let (wrapper_t, ours, bash) = (rows[1].median, rows[2].median, rows[5].median);
    let vs_wrapper = ours.as_secs_f64() / wrapper_t.as_secs_f64();
    let vs_bash = bash.as_secs_f64() / ours.as_secs_f64();
    let bare = rows[3].median.as_secs_f64() / wrapper_t.as_secs_f64();
    let wrapper_vs_bash = bash.as_secs_f64() / wrapper_t.as_secs_f64();
    println!("gpu-launch / C wrapper = {vs_wrapper:.3}; bash / gpu-launch = {vs_bash:.2}");
    println!(
        "reading the limits: gpu-launch with nothing to scan is {bare:.3} x the wrapper; \
         the C wrapper itself is only {wrapper_vs_bash:.2} x faster than bash"
    );
    if staged.is_some() {
        common::against_baseline(&rows, 6, 7);
    }
    common::goal("gpu-launch <= 1.10 x the C wrapper", vs_wrapper <= 1.10);
    common::goal(
        "gpu-launch >= 3 x faster than the bash script",
        vs_bash >= 3.0,
    );
}

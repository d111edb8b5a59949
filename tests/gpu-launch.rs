//! gpu-launch: the offload variables it sets, the program it execs in place (pid, exit status,
//! signals, untouched arguments), shell-like 126/127, profiles, --gpu, and a wake-free hot path.

mod common;

use common::fake_sysfs::{materialize, Tree};
use common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

const OFFLOAD_VARS: [&str; 6] = [
    "__NV_PRIME_RENDER_OFFLOAD",
    "__NV_PRIME_RENDER_OFFLOAD_PROVIDER",
    "__GLX_VENDOR_LIBRARY_NAME",
    "__VK_LAYER_NV_optimus",
    "__EGL_VENDOR_LIBRARY_FILENAMES",
    "DRI_PRIME",
];

/// gpu-launch over `root`, with no offload variable inherited from the test's environment.
fn launch(bin: &Bin, root: &Path) -> Command {
    let mut cmd = bin.cmd("gpu-launch");
    for v in OFFLOAD_VARS {
        cmd.env_remove(v);
    }
    cmd.env_remove("XDG_CONFIG_HOME")
        .env_remove(SNAPSHOT)
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/nonexistent-home");
    cmd.arg("--root").arg(root);
    cmd
}

/// The variable that carries the session's snapshot of the GPUs.
const SNAPSHOT: &str = "HWC_GPU_LAUNCH";

/// `gpu-launch --gpu SEL --dry-run true`, which must succeed.
fn dry_run_on(bin: &Bin, root: &Path, sel: &str) -> std::process::Output {
    let o = launch(bin, root)
        .args(["--gpu", sel, "--dry-run", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{sel}: {}", stderr(&o));
    o
}

fn env_lines(o: &std::process::Output) -> Vec<String> {
    let mut lines = env_lines_of(&stdout(o));
    lines.sort();
    lines
}

/// The offload variables' lines in a `--dry-run` output, in its order.
fn env_lines_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| OFFLOAD_VARS.iter().any(|v| l.starts_with(&format!("{v}="))))
        .map(str::to_string)
        .collect()
}

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    write_executable(&p, &format!("#!/bin/sh\n{body}\n"));
    p
}

#[test]
fn env_gets_the_nvidia_offload_variables() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let o = launch(&bin, t.path()).arg("env").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        env_lines(&o),
        [
            "__EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/10_nvidia.json",
            "__GLX_VENDOR_LIBRARY_NAME=nvidia",
            "__NV_PRIME_RENDER_OFFLOAD=1",
            "__NV_PRIME_RENDER_OFFLOAD_PROVIDER=NVIDIA-G0",
            "__VK_LAYER_NV_optimus=NVIDIA_only",
        ]
    );
    assert!(
        o.stderr.is_empty(),
        "no notice when offloading: {}",
        stderr(&o)
    );
}

#[test]
fn env_gets_dri_prime_for_mesa_drivers() {
    for (fixture, tag) in [
        ("intel-amd-dgpu", "pci-0000_01_00_0"),
        ("amd-apu-amd-dgpu", "pci-0000_03_00_0"),
        ("nouveau", "pci-0000_01_00_0"),
    ] {
        let t = Tree::fixture(fixture);
        let bin = Bin::new();
        let o = launch(&bin, t.path()).arg("env").output().unwrap();
        assert_eq!(code(&o), 0);
        assert_eq!(env_lines(&o), [format!("DRI_PRIME={tag}")], "{fixture}");
    }
}

#[test]
fn variables_the_user_set_are_kept() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let o = launch(&bin, t.path())
        .env("__GLX_VENDOR_LIBRARY_NAME", "mesa")
        .arg("env")
        .output()
        .unwrap();
    let lines = env_lines(&o);
    assert!(
        lines.contains(&"__GLX_VENDOR_LIBRARY_NAME=mesa".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"__NV_PRIME_RENDER_OFFLOAD=1".to_string()));
    assert_eq!(lines.len(), 5);
}

#[test]
fn servers_and_vms_offload_from_their_display() {
    let bin = Bin::new();
    let t = Tree::fixture("server-aspeed-nvidia");
    let o = launch(&bin, t.path()).arg("env").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        env_lines(&o),
        [
            "__GLX_VENDOR_LIBRARY_NAME=nvidia",
            "__NV_PRIME_RENDER_OFFLOAD=1",
            "__NV_PRIME_RENDER_OFFLOAD_PROVIDER=NVIDIA-G0",
            "__VK_LAYER_NV_optimus=NVIDIA_only",
        ],
        "the first H100 behind the BMC display"
    );
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let o = launch(&bin, t.path())
        .args(["--dry-run", "chromium"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o).lines().last(),
        Some("chromium --render-node-override=/dev/dri/renderD128")
    );

    let t = Tree::fixture("vm-qxl-amd-passthrough");
    let o = launch(&bin, t.path()).arg("env").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(env_lines(&o), ["DRI_PRIME=pci-0000_06_00_0"]);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn a_bmc_beside_gpus_without_a_driver_runs_the_program_unchanged() {
    let recorded = common::shared_dir("fixtures/gpu")
        .map(|d| materialize(&d.join("server-aspeed-8x-a100-nvidia-dgx-a100/tree")));
    let synthetic = Tree::fixture("server-matrox-nodriver");
    let mut roots = vec![("server-matrox-nodriver", synthetic.path(), "0000:41:00.0")];
    if let Some(r) = &recorded {
        roots.push(("recorded DGX A100", r.path(), "0000:07:00.0"));
    }
    let bin = Bin::new();
    for (what, root, gpu) in roots {
        let o = launch(&bin, root).arg("env").output().unwrap();
        assert_eq!(code(&o), 0, "{what}: {}", stderr(&o));
        assert!(env_lines(&o).is_empty(), "{what}: {:?}", env_lines(&o));
        assert_one_line_error(&o);
        assert_eq!(
            stderr(&o),
            format!(
                "gpu-launch: the discrete GPU {gpu} has no driver bound; running env without \
                 offload\n"
            ),
            "{what}"
        );
    }
}

#[test]
fn without_a_dgpu_the_program_runs_unchanged_with_a_notice() {
    for fixture in [
        "no-gpu",
        "desktop-nvidia-only",
        "vm-virtio-gpu",
        "server-matrox-nodriver",
    ] {
        let t = Tree::fixture(fixture);
        let bin = Bin::new();
        let o = launch(&bin, t.path()).arg("env").output().unwrap();
        assert_eq!(code(&o), 0);
        assert!(env_lines(&o).is_empty(), "{fixture}: {:?}", env_lines(&o));
        assert_one_line_error(&o);
        assert!(stderr(&o).starts_with("gpu-launch: ") && stderr(&o).contains("without offload"));

        let quiet = launch(&bin, t.path())
            .args(["--quiet", "true"])
            .output()
            .unwrap();
        assert_eq!(code(&quiet), 0);
        assert!(quiet.stderr.is_empty());

        let strict = launch(&bin, t.path())
            .args(["--strict", "true"])
            .output()
            .unwrap();
        assert_eq!(code(&strict), 1, "{fixture}");
        assert_one_line_error(&strict);
    }
}

#[test]
fn not_found_is_127_and_not_executable_is_126() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let o = launch(&bin, t.path())
        .arg("hwc-no-such-program-xyz")
        .output()
        .unwrap();
    assert_eq!(code(&o), 127);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("hwc-no-such-program-xyz: command not found"),
        "{}",
        stderr(&o)
    );

    let o = launch(&bin, t.path())
        .arg("/nonexistent/prog")
        .output()
        .unwrap();
    assert_eq!(code(&o), 127);
    assert!(stderr(&o).contains("No such file or directory"));

    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    // No execute bit at all: even root cannot run it.
    let o = launch(&bin, t.path()).arg(&plain).output().unwrap();
    assert_eq!(code(&o), 126, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    // A directory cannot be executed even by root.
    let o = launch(&bin, t.path()).arg(dir.path()).output().unwrap();
    assert_eq!(code(&o), 126, "{}", stderr(&o));
    assert_one_line_error(&o);
    // Found on PATH but not executable.
    let o = launch(&bin, t.path())
        .env("PATH", dir.path())
        .arg("not-executable")
        .output()
        .unwrap();
    assert_eq!(code(&o), 126, "{}", stderr(&o));
}

#[test]
fn pid_and_exit_status_pass_through() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "show-pid", "echo $$\nexit 42");
    let bin = Bin::new();
    let child = launch(&bin, t.path())
        .arg(&s)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 42);
    assert_eq!(
        stdout(&o).trim(),
        pid.to_string(),
        "the program runs in gpu-launch's process"
    );
}

#[test]
fn death_by_signal_passes_through() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let o = launch(&bin, t.path())
        .args(["sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGTERM));
}

#[test]
fn a_default_sigpipe_stays_default() {
    // Through its own name and as `hwc gpu-launch`: hwc's own output (help, list) ignores
    // SIGPIPE, and that must not leak into the program through the multicall form.
    let t = Tree::fixture("no-gpu");
    let bin = Bin::new();
    let through_hwc = {
        let mut cmd = Command::new(common::hwc());
        cmd.arg("gpu-launch").arg("--root").arg(t.path());
        cmd
    };
    for mut cmd in [launch(&bin, t.path()), through_hwc] {
        let o = cmd
            .args(["-q", "grep", "^SigIgn:", "/proc/self/status"])
            .output()
            .unwrap();
        assert!(!sigpipe_ignored(&o), "SIGPIPE ignored in {cmd:?}");
    }
}

/// Whether the `SigIgn:` line a program printed from /proc/self/status has SIGPIPE's bit.
fn sigpipe_ignored(o: &std::process::Output) -> bool {
    assert_eq!(code(o), 0, "{}", stderr(o));
    let line = stdout(o);
    let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

#[test]
fn an_ignored_sigpipe_stays_ignored() {
    // The disposition the caller gave is the program's: gpu-launch neither sets nor resets it.
    let t = Tree::fixture("no-gpu");
    let bin = Bin::new();
    let o = Command::new("sh")
        .arg("-c")
        .arg("trap '' PIPE; exec \"$0\" --root \"$1\" -q grep ^SigIgn: /proc/self/status")
        .arg(bin.path("gpu-launch"))
        .arg(t.path())
        .output()
        .unwrap();
    assert!(sigpipe_ignored(&o), "SIGPIPE no longer ignored");
}

#[test]
fn arguments_pass_untouched_including_non_utf8() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let weird = OsStr::from_bytes(b"caf\xe9 \xff");
    let o = launch(&bin, t.path())
        .args(["printf", "%s|%s|%s"])
        .arg(weird)
        .args(["--gpu", "--help"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(o.stdout, b"caf\xe9 \xff|--gpu|--help");
}

/// The environment gpu-launch was given reaches the program byte for byte, in its order, with
/// the offload variables after it: a value that is not UTF-8 and an entry without `=` (which no
/// shell makes, but execve passes on) included. A small C program starts gpu-launch with exactly
/// that environment; `env -0` prints what the program got.
#[test]
fn the_environment_reaches_the_program_byte_for_byte() {
    if !have("cc") || !have("env") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let start = compile_c(
        dir.path(),
        "start",
        r#"#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    char *env[] = { "FIRST=1", "ODD=caf\xe9 \xff", "NO_EQUALS_SIGN", "PATH=/usr/bin:/bin",
                    "HOME=/nonexistent-home", NULL };
    execve(argv[1], argv + 1, env);
    return 127;
}
"#,
    );
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let o = Command::new(start)
        .arg(bin.path("gpu-launch"))
        .arg("--root")
        .arg(t.path())
        .args(["env", "-0"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got: Vec<&[u8]> = o
        .stdout
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .collect();
    let given: [&[u8]; 5] = [
        b"FIRST=1",
        b"ODD=caf\xe9 \xff",
        b"NO_EQUALS_SIGN",
        b"PATH=/usr/bin:/bin",
        b"HOME=/nonexistent-home",
    ];
    assert_eq!(
        &got[..5],
        &given[..],
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        got[5..]
            .iter()
            .any(|e| e.starts_with(b"__NV_PRIME_RENDER_OFFLOAD=")),
        "the offload variables follow: {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn dry_run_prints_variables_and_command() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let o = launch(&bin, t.path())
        .args(["--dry-run", "glxgears", "-info", "it's"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "__NV_PRIME_RENDER_OFFLOAD=1\n\
         __NV_PRIME_RENDER_OFFLOAD_PROVIDER=NVIDIA-G0\n\
         __GLX_VENDOR_LIBRARY_NAME=nvidia\n\
         __VK_LAYER_NV_optimus=NVIDIA_only\n\
         __EGL_VENDOR_LIBRARY_FILENAMES=/usr/share/glvnd/egl_vendor.d/10_nvidia.json\n\
         glxgears -info 'it'\\''s'\n"
    );
}

#[test]
fn chromium_family_gets_the_render_node() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let last = |o: &std::process::Output| stdout(o).lines().last().unwrap().to_string();
    let o = launch(&bin, t.path())
        .args(["--dry-run", "chromium", "https://x"])
        .output()
        .unwrap();
    assert_eq!(
        last(&o),
        "chromium --render-node-override=/dev/dri/renderD129 https://x"
    );
    let o = launch(&bin, t.path())
        .args(["--dry-run", "/opt/bin/google-chrome-stable"])
        .output()
        .unwrap();
    assert_eq!(
        last(&o),
        "/opt/bin/google-chrome-stable --render-node-override=/dev/dri/renderD129"
    );
    let o = launch(&bin, t.path())
        .args([
            "--dry-run",
            "chromium",
            "--render-node-override=/dev/dri/renderD128",
        ])
        .output()
        .unwrap();
    assert_eq!(
        last(&o),
        "chromium --render-node-override=/dev/dri/renderD128",
        "the user's choice stays"
    );
    let o = launch(&bin, t.path())
        .args(["--dry-run", "glxgears"])
        .output()
        .unwrap();
    assert_eq!(last(&o), "glxgears");
}

#[test]
fn config_files_extend_and_override_profiles() {
    let t = Tree::fixture("optimus-intel-nvidia");
    std::fs::create_dir_all(t.path().join("etc/hwc")).unwrap();
    std::fs::write(
        t.path().join("etc/hwc/gpu-launch.conf"),
        "# site rules\nchromium = none\nmyapp = chromium\n",
    )
    .unwrap();
    let home = t.path().join("home/eric");
    std::fs::create_dir_all(home.join(".config/hwc")).unwrap();
    std::fs::write(
        home.join(".config/hwc/gpu-launch.conf"),
        "myapp = none\nother* = chromium\n",
    )
    .unwrap();
    let bin = Bin::new();
    let run = |prog: &str| {
        let o = launch(&bin, t.path())
            .env("HOME", "/home/eric")
            .args(["--dry-run", prog])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        stdout(&o).lines().last().unwrap().to_string()
    };
    assert_eq!(run("chromium"), "chromium");
    assert_eq!(
        run("myapp"),
        "myapp",
        "the user's file wins over the system's"
    );
    assert_eq!(
        run("otherapp"),
        "otherapp --render-node-override=/dev/dri/renderD129"
    );

    std::fs::write(
        home.join(".config/hwc/gpu-launch.conf"),
        "ok = none\nthis is wrong\n",
    )
    .unwrap();
    let o = launch(&bin, t.path())
        .env("HOME", "/home/eric")
        .args(["--dry-run", "x"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("/home/eric/.config/hwc/gpu-launch.conf:2: no '='"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn gpu_option_selects_by_vendor_and_address() {
    let t = Tree::fixture("server-aspeed-nvidia");
    let bin = Bin::new();
    let provider = |sel: &str| {
        stdout(&dry_run_on(&bin, t.path(), sel))
            .lines()
            .find_map(|l| l.strip_prefix("__NV_PRIME_RENDER_OFFLOAD_PROVIDER="))
            .map(str::to_string)
    };
    assert_eq!(provider("nvidia").as_deref(), Some("NVIDIA-G0"));
    assert_eq!(provider("0000:18:00.0").as_deref(), Some("NVIDIA-G0"));
    assert_eq!(provider("2a:00.0").as_deref(), Some("NVIDIA-G1"));
    assert_eq!(
        provider("0000:02:00.0"),
        None,
        "the default GPU needs nothing"
    );

    let o = launch(&bin, t.path())
        .args(["--gpu", "amd", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    let o = launch(&bin, t.path())
        .args(["--gpu", "0000:99:00.0", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let o = launch(&bin, t.path())
        .args(["--gpu", "fastest", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

#[test]
fn usage_errors_exit_2() {
    let t = Tree::fixture("no-gpu");
    let bin = Bin::new();
    for args in [&[][..], &["--dry-run"], &["--bogus", "true"], &["--gpu"]] {
        let o = launch(&bin, t.path()).args(args).output().unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_one_line_error(&o);
    }
}

#[test]
fn hot_path_never_opens_waking_paths() {
    let bin = Bin::new();
    let fixtures = [
        "optimus-intel-nvidia",
        "server-aspeed-nvidia",
        "vm-qxl-amd-passthrough",
        "amd-apu-amd-dgpu",
        "malformed",
        "no-gpu",
    ];
    let trees: Vec<Tree> = fixtures.iter().map(|f| Tree::fixture(f)).collect();
    let mut runs: Vec<(String, Command)> = Vec::new();
    for (name, t) in fixtures.iter().zip(&trees) {
        let mut real = launch(&bin, t.path());
        real.args(["-q", "true"]);
        runs.push((format!("{name} exec"), real));
        let mut dry = launch(&bin, t.path());
        dry.args(["-q", "--dry-run", "chromium"]);
        runs.push((format!("{name} dry-run"), dry));
    }
    let mut live = bin.cmd("gpu-launch");
    live.args(["-q", "true"]);
    runs.push(("live machine".into(), live));
    for (what, mut cmd) in runs {
        let Some((out, paths)) = strace_opens(&mut cmd, true) else {
            return;
        };
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let bad = waking_paths(&paths);
        assert!(bad.is_empty(), "{what} opened {bad:?}");
        assert!(
            !paths
                .iter()
                .any(|p| p.contains("pci.ids") || p.contains("/run/udev/")),
            "{what}: no name lookup"
        );
        if what != "live machine" {
            assert!(
                paths.iter().any(|p| p.ends_with("/class")),
                "{what}: the trace saw the scan"
            );
        }
    }
}

#[test]
fn a_launch_lists_drm_nodes_only_for_a_chromium_target() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let drm_opens = |program: &str| {
        let mut cmd = launch(&bin, t.path());
        cmd.args(["-q", "--dry-run", program]);
        let (out, paths) = strace_opens(&mut cmd, true)?;
        assert_eq!(code(&out), 0, "{program}: {}", stderr(&out));
        Some(
            paths
                .into_iter()
                .filter(|p| p == "drm" || p.ends_with("/drm"))
                .collect::<Vec<_>>(),
        )
    };
    let Some(plain) = drm_opens("true") else {
        return;
    };
    assert!(plain.is_empty(), "a plain program needs no node: {plain:?}");
    let chromium = drm_opens("chromium").unwrap();
    assert_eq!(chromium.len(), 1, "{chromium:?}");
    assert!(chromium[0].ends_with("/0000:01:00.0/drm"), "{chromium:?}");
}

#[test]
fn a_launch_reads_cards_when_only_they_decide_the_default() {
    // Two 3D controllers and no VGA device: the default is the first GPU with a DRM card, the
    // one rule that needs the nodes a launch scan otherwise leaves out.
    let t = Tree::from_spec(
        "device 0000:01:00.0 vendor=0x10de device=0x20b0 class=0x030200 driver=nvidia\n\
         device 0000:02:00.0 vendor=0x10de device=0x20b0 class=0x030200 driver=nvidia drm=card0,renderD128\n",
    );
    let bin = Bin::new();
    let dry = |sel: &str| env_lines(&dry_run_on(&bin, t.path(), sel));
    assert_eq!(dry("0000:02:00.0"), Vec::<String>::new(), "the default GPU");
    assert!(
        dry("0000:01:00.0").contains(&"__NV_PRIME_RENDER_OFFLOAD_PROVIDER=NVIDIA-G0".to_string())
    );
}

#[test]
fn a_config_file_that_is_a_fifo_or_endless_is_skipped_and_the_program_launched() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let home = t.path().join("home/eric");
    make_fifo(&t.path().join("etc/hwc/gpu-launch.conf"));
    std::fs::create_dir_all(home.join(".config/hwc")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", home.join(".config/hwc/gpu-launch.conf")).unwrap();
    let bin = Bin::new();
    let dir = tempfile::tempdir().unwrap();
    let chromium = script(dir.path(), "chromium", "echo \"launched $*\"");
    let o = output_within(
        launch(&bin, t.path())
            .env("HOME", "/home/eric")
            .arg(&chromium)
            .arg("https://x"),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "launched --render-node-override=/dev/dri/renderD129 https://x\n",
        "the built-in profile still applies"
    );
    let err = stderr(&o);
    assert!(
        err.contains("/etc/hwc/gpu-launch.conf: it is a FIFO, not a regular file; skipped"),
        "{err}"
    );
    assert!(
        err.contains("gpu-launch.conf: it is a character device, not a regular file; skipped"),
        "{err}"
    );
    let quiet = output_within(
        launch(&bin, t.path())
            .env("HOME", "/home/eric")
            .args(["-q"])
            .arg(&chromium),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(code(&quiet), 0);
    assert_eq!(stderr(&quiet), "", "-q keeps it quiet");
}

// --- the session's snapshot (HWC_GPU_LAUNCH): used while it holds, never once the machine changed ---

/// The snapshot `hwc-gpu-detect --env` writes for the machine under `root`: the value
/// hwc-session-init exports (tests/hwc-session-init.rs holds the two equal).
fn snapshot_of(bin: &Bin, root: &Path) -> String {
    let o = bin.run(
        "hwc-gpu-detect",
        [OsStr::new("--env"), OsStr::new("--root"), root.as_os_str()],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let value = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{SNAPSHOT}=")))
        .unwrap_or_else(|| panic!("no {SNAPSHOT} line in:\n{out}"));
    value.trim_matches('"').to_string()
}

/// What a launch came to: status and output. [`outcome`] also says whether it read the devices'
/// `class` files (a scan), under strace, which also holds that nothing waking was opened.
#[derive(Debug, PartialEq)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn outcome(mut cmd: Command) -> (Outcome, bool) {
    // Tests that need to know whether it scanned ask for strace themselves; the others run
    // either way, and a missing strace is no skip of theirs.
    let traced = if on_path("strace") {
        strace_opens(&mut cmd, true)
    } else {
        None
    };
    let (o, scanned) = match traced {
        Some((o, paths)) => {
            let bad = waking_paths(&paths);
            assert!(bad.is_empty(), "opened {bad:?}");
            (o, paths.iter().any(|p| p.ends_with("/class")))
        }
        None => (cmd.output().unwrap(), true),
    };
    let outcome = Outcome {
        code: code(&o),
        stdout: stdout(&o),
        stderr: stderr(&o),
    };
    (outcome, scanned)
}

/// `gpu-launch ARGS` over `root`, with `snapshot` as the session's variable when given.
fn launch_with(bin: &Bin, root: &Path, snapshot: Option<&str>, args: &[&str]) -> (Outcome, bool) {
    let mut cmd = launch(bin, root);
    if let Some(s) = snapshot {
        cmd.env(SNAPSHOT, s);
    }
    cmd.args(args);
    outcome(cmd)
}

#[test]
fn a_snapshot_that_holds_gives_the_same_launch_without_reading_the_devices() {
    if !have("strace") {
        return;
    }
    let bin = Bin::new();
    let dir = repo().join("tests/fixtures/gpu");
    let mut fixtures: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter_map(|n| n.strip_suffix(".txt").map(str::to_string))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 14, "{fixtures:?}");
    let mut used = 0;
    for name in &fixtures {
        let t = Tree::fixture(name);
        let snapshot = snapshot_of(&bin, t.path());
        for args in [
            &["--dry-run", "true"][..],
            &["--dry-run", "chromium", "--x"],
            &["--gpu", "nvidia", "--dry-run", "true"],
            &["--gpu", "amd", "--dry-run", "true"],
            &["--gpu", "0000:01:00.0", "--dry-run", "true"],
        ] {
            let (without, scanned) = launch_with(&bin, t.path(), None, args);
            assert!(scanned, "{name}: without a snapshot, a scan");
            let (with, scanned) = launch_with(&bin, t.path(), Some(&snapshot), args);
            assert_eq!(with, without, "{name} {args:?}, snapshot {snapshot}");
            if !snapshot.is_empty() {
                assert!(
                    !scanned,
                    "{name} {args:?}: the snapshot {snapshot} was not used"
                );
                used += 1;
            }
        }
    }
    // Every fixture can be written down but the malformed one (attributes that cannot be read).
    assert!(used >= 5 * (fixtures.len() - 1), "used {used} times");
}

/// One change to a machine (the recorded Optimus laptop unless `spec` names another) after the
/// snapshot was taken, the launch it is tried with, and what the launch must then come to.
struct Change {
    what: &'static str,
    spec: Option<&'static str>,
    change: fn(&Tree),
    args: &'static [&'static str],
    expect: &'static str,
}

const CHANGES: [Change; 8] = [
    Change {
        what: "a muxed laptop switched to its dGPU (vga_switcheroo moves boot_vga)",
        spec: Some(
            "device 0000:00:02.0 vendor=0x8086 device=0x0166 class=0x030000 driver=i915 boot_vga=1 drm=card0,renderD128\n\
             device 0000:01:00.0 vendor=0x10de device=0x0fd5 class=0x030000 driver=nouveau boot_vga=0 drm=card1,renderD129\n",
        ),
        change: |t| {
            std::fs::write(t.path().join("sys/devices/pci0000:00/0000:00:02.0/boot_vga"), "0\n").unwrap();
            std::fs::write(t.path().join("sys/devices/pci0000:01/0000:01:00.0/boot_vga"), "1\n").unwrap();
        },
        args: &["--dry-run", "true"],
        expect: "the default GPU 0000:01:00.0 is discrete",
    },
    Change {
        what: "DRM cards appearing where only they name the default GPU",
        spec: Some(
            "device 0000:01:00.0 vendor=0x10de device=0x20b0 class=0x030200 driver=nvidia\n\
             device 0000:02:00.0 vendor=0x10de device=0x20b0 class=0x030200 driver=nvidia\n",
        ),
        change: |t| {
            for (dev, node) in [("0000:01:00.0", "card0"), ("0000:02:00.0", "card1")] {
                let dir = t.path().join(format!("sys/devices/pci0000:{}/{dev}/drm/{node}", &dev[5..7]));
                std::fs::create_dir_all(dir).unwrap();
            }
        },
        args: &["--gpu", "0000:01:00.0", "--dry-run", "true"],
        expect: "",
    },
    Change {
        what: "a Thunderbolt eGPU plugged in",
        spec: None,
        change: |t| {
            t.add("device 0000:3c:00.0 vendor=0x1002 device=0x73df class=0x030000 driver=amdgpu drm=card2,renderD130")
        },
        args: &["--gpu", "amd", "--dry-run", "true"],
        expect: "DRI_PRIME=pci-0000_3c_00_0\n",
    },
    Change {
        what: "the dGPU removed",
        spec: None,
        change: |t| t.remove_device("0000:01:00.0"),
        args: &["--dry-run", "true"],
        expect: "no discrete GPU; running true without offload",
    },
    Change {
        what: "the dGPU's driver unbound",
        spec: None,
        change: |t| t.unbind("0000:01:00.0"),
        args: &["--dry-run", "true"],
        expect: "the discrete GPU 0000:01:00.0 has no driver bound",
    },
    Change {
        what: "the dGPU rebound to nouveau",
        spec: None,
        change: |t| {
            t.unbind("0000:01:00.0");
            t.bind("0000:01:00.0", "nouveau", "card1,renderD129");
        },
        args: &["--dry-run", "true"],
        expect: "DRI_PRIME=pci-0000_01_00_0\n",
    },
    Change {
        // The snapshot still holds here (same listing, same driver): the render node, which it
        // does not hold, is read at the launch.
        what: "the dGPU rebound to nvidia with other nodes",
        spec: None,
        change: |t| {
            t.unbind("0000:01:00.0");
            t.bind("0000:01:00.0", "nvidia", "card2,renderD130");
        },
        args: &["--dry-run", "chromium"],
        expect: "chromium --render-node-override=/dev/dri/renderD130\n",
    },
    Change {
        what: "the dGPU made again at its address as the boot display",
        spec: None,
        change: |t| {
            let igpu = t
                .path()
                .join("sys/devices/pci0000:00/0000:00:02.0/boot_vga");
            std::fs::write(igpu, "0\n").unwrap();
            t.remake("device 0000:01:00.0 vendor=0x10de device=0x2520 class=0x030000 driver=nvidia boot_vga=1");
        },
        args: &["--dry-run", "true"],
        expect: "",
    },
];

#[test]
fn a_snapshot_taken_before_the_machine_changed_is_never_used() {
    let bin = Bin::new();
    for c in &CHANGES {
        let t = c
            .spec
            .map_or_else(|| Tree::fixture("optimus-intel-nvidia"), Tree::from_spec);
        let snapshot = snapshot_of(&bin, t.path());
        let (before, _) = launch_with(&bin, t.path(), Some(&snapshot), c.args);
        (c.change)(&t);
        let (fresh, _) = launch_with(&bin, t.path(), None, c.args);
        let (stale, _) = launch_with(&bin, t.path(), Some(&snapshot), c.args);
        assert_eq!(
            stale, fresh,
            "{}: the snapshot's launch is the machine's",
            c.what
        );
        assert_ne!(
            fresh, before,
            "{}: the change must matter to the launch",
            c.what
        );
        let shown = format!("{}{}", fresh.stdout, fresh.stderr);
        if c.expect.is_empty() {
            assert_eq!(
                env_lines_of(&fresh.stdout),
                Vec::<String>::new(),
                "{}: {shown}",
                c.what
            );
        } else {
            assert!(shown.contains(c.expect), "{}: {shown}", c.what);
        }
    }
}

#[test]
fn without_the_variable_the_snapshot_in_session_env_is_read_and_checked() {
    if !have("strace") {
        return;
    }
    let t = Tree::fixture("optimus-intel-nvidia");
    let bin = Bin::new();
    let snapshot = snapshot_of(&bin, t.path());
    // $XDG_RUNTIME_DIR is a /run path: under --root, as hwc-session-init wrote it there.
    let runtime = "/run/user/1000";
    let env_file = t.path().join("run/user/1000/hwc/session.env");
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(
        &env_file,
        format!("WAYLAND_DISPLAY=wayland-1\nHWC_GPU_TYPE=nvidia\n{SNAPSHOT}=\"{snapshot}\"\n"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = launch(&bin, t.path());
        cmd.env("XDG_RUNTIME_DIR", runtime).args(args);
        outcome(cmd)
    };
    let (plain, _) = launch_with(&bin, t.path(), None, &["--dry-run", "true"]);
    let (from_file, scanned) = run(&["--dry-run", "true"]);
    assert_eq!(from_file, plain);
    assert!(!scanned, "session.env's snapshot was used");
    assert!(from_file.stdout.contains("__NV_PRIME_RENDER_OFFLOAD=1"));
    // The variable, when set, is the one used; a stale one sends the launch to the scan.
    let mut other = launch(&bin, t.path());
    other
        .env("XDG_RUNTIME_DIR", runtime)
        .env(SNAPSHOT, "v1;0;0000000000000000")
        .args(["--dry-run", "true"]);
    let (o, scanned) = outcome(other);
    assert_eq!(o, plain);
    assert!(
        scanned,
        "the variable's (stale) snapshot was tried, not the file's"
    );
    t.remove_device("0000:01:00.0");
    let (after, _) = run(&["--dry-run", "true"]);
    assert!(
        after.stderr.contains("no discrete GPU") && !after.stdout.contains("__NV"),
        "{after:?}"
    );
    // A session.env that is no file of hwc's: the launch goes on, from the scan.
    std::fs::remove_file(&env_file).unwrap();
    make_fifo(&env_file);
    let mut cmd = launch(&bin, t.path());
    cmd.env("XDG_RUNTIME_DIR", runtime)
        .args(["-q", "--dry-run", "true"]);
    let o = output_within(&mut cmd, std::time::Duration::from_secs(10));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn a_snapshot_that_is_not_one_is_ignored() {
    let bin = Bin::new();
    let t = Tree::fixture("optimus-intel-nvidia");
    let server = Tree::fixture("server-aspeed-nvidia");
    let (plain, _) = launch_with(&bin, t.path(), None, &["--dry-run", "chromium"]);
    let huge = "v1;4;".to_string() + &"x".repeat(100_000);
    let elsewhere = snapshot_of(&bin, server.path());
    let good = snapshot_of(&bin, t.path());
    let forged = good.replace(",nvidia,", ",nouveau,");
    for value in ["", "v1", "v1;4;zz", &huge, &elsewhere, &forged] {
        let (o, _) = launch_with(&bin, t.path(), Some(value), &["--dry-run", "chromium"]);
        assert_eq!(o, plain, "{}", &value[..value.len().min(80)]);
    }
}

/// A VGA-class GPU recorded without boot_vga, whose boot_vga is now there but cannot be read (a
/// FIFO reads as nothing here): read as the scan reads it, that is no answer, so no proof that
/// the snapshot holds; the launch reads the devices.
#[test]
fn a_boot_vga_that_cannot_be_read_is_no_proof_the_snapshot_holds() {
    if !have("strace") {
        return;
    }
    let bin = Bin::new();
    let t = Tree::from_spec(
        "device 0000:00:02.0 vendor=0x8086 device=0x9a49 class=0x030000 driver=i915 boot_vga=1 drm=card0,renderD128\n\
         device 0000:01:00.0 vendor=0x10de device=0x2520 class=0x030000 driver=nvidia drm=card1,renderD129\n",
    );
    let snapshot = snapshot_of(&bin, t.path());
    assert!(!snapshot.is_empty(), "written down");
    let (_, scanned) = launch_with(&bin, t.path(), Some(&snapshot), &["--dry-run", "true"]);
    assert!(!scanned, "the snapshot holds before");
    make_fifo(
        &t.path()
            .join("sys/devices/pci0000:01/0000:01:00.0/boot_vga"),
    );
    let (o, scanned) = launch_with(&bin, t.path(), Some(&snapshot), &["--dry-run", "true"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        scanned,
        "a boot_vga that cannot be read was taken for an absent one"
    );
}

#[test]
fn a_scan_in_which_a_read_failed_is_not_written_down() {
    // The APU's device id decides that it is the integrated GPU; its boot_display, where the
    // kernel made one, decides the default. A read of either that fails (a FIFO reads as
    // nothing here) is no answer to write down; the launch itself goes on from what it read.
    let bin = Bin::new();
    for attr in ["device", "boot_display"] {
        let t = Tree::fixture("amd-apu-amd-dgpu");
        let file = t
            .path()
            .join("sys/devices/pci0000:07/0000:07:00.0")
            .join(attr);
        assert!(
            !snapshot_of(&bin, t.path()).is_empty(),
            "{attr}: written while readable"
        );
        let _ = std::fs::remove_file(&file);
        make_fifo(&file);
        assert_eq!(snapshot_of(&bin, t.path()), "", "{attr}: a failed read");
        let o = output_within(
            launch(&bin, t.path()).args(["-q", "--dry-run", "true"]),
            std::time::Duration::from_secs(10),
        );
        assert_eq!(code(&o), 0, "{attr}: {}", stderr(&o));
    }
}

#[test]
fn on_real_sysfs_a_node_made_again_has_a_new_inode_and_the_snapshot_is_not_used() {
    // The listing's digest rests on the kernel giving every node it makes a new inode number,
    // even under a name it had before. Tested on the kernel's own sysfs (a fixture's file system
    // may hand an inode number out again): in a mount and network namespace of its own, a
    // freshly mounted sysfs's class/net (a kernfs directory of links, as /sys/bus/pci/devices
    // is) stands at the root's /sys/bus/pci/devices; a veth pair is made, the snapshot taken,
    // used; then the pair is deleted and made again under the same names.
    if !is_root() {
        skip("needs root (a mount and network namespace of its own)");
        return;
    }
    if !(have("unshare") && have("ip") && have("strace")) {
        return;
    }
    let bin = Bin::new();
    let dir = tempfile::tempdir().unwrap();
    let script = r#"set -e
cd "$1"
mkdir -p sysfs root/sys/bus/pci/devices
mount -t sysfs sysfs sysfs
mount --bind sysfs/class/net root/sys/bus/pci/devices
snap() { "$2/hwc-gpu-detect" --env --root root | sed -n 's/^HWC_GPU_LAUNCH="\(.*\)"$/\1/p'; }
lists() {
  HWC_GPU_LAUNCH="$1" strace -qq -e trace=openat "$2/gpu-launch" -q --root root --dry-run true 2>&1 >/dev/null |
    grep -c 'sys/bus/pci/devices"' || true
}
inodes() { ls -i root/sys/bus/pci/devices | sort -k2 | awk '{printf "%s ", $1}'; }
ip link add v0 type veth peer name v1
s=$(snap "$1" "$2")
echo "snapshot $s"
echo "held $(lists "$s" "$2")"
echo "inodes $(inodes)"
ip link del v0
ip link add v0 type veth peer name v1
echo "inodes $(inodes)"
echo "remade $(lists "$s" "$2")"
"#;
    let o = Command::new("unshare")
        .args(["-m", "-n", "sh", "-c", script, "sh"])
        .arg(dir.path())
        .arg(bin.path("gpu-launch").parent().unwrap())
        .env_remove(SNAPSHOT)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    let field = |key: &str| -> Vec<&str> {
        out.lines()
            .filter_map(|l| l.strip_prefix(key).map(str::trim))
            .collect()
    };
    assert!(field("snapshot ")[0].starts_with("v1;3;"), "{out}");
    assert_eq!(
        field("held "),
        ["1"],
        "the snapshot held: one listing, no scan: {out}"
    );
    let inodes = field("inodes ");
    let (before, after): (Vec<&str>, Vec<&str>) = (
        inodes[0].split(' ').collect(),
        inodes[1].split(' ').collect(),
    );
    // lo, v0, v1 in name order: lo stayed, the pair was made anew with other numbers.
    assert_eq!(before[0], after[0], "{out}");
    assert!(before[1] != after[1] && before[2] != after[2], "{out}");
    assert_eq!(
        field("remade "),
        ["2"],
        "the snapshot refused: the devices listed again: {out}"
    );
}

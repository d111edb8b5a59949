//! hwc-gpu-detect over every synthetic case (tests/fixtures/gpu) and every recording in
//! ../shared/fixtures/gpu: GPUs, default, discrete, offload environment and accel asserted; the
//! output modes; bad sysfs values; and, under strace, that nothing that wakes a GPU is opened.

mod common;

use common::fake_sysfs::{materialize, Tree};
use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

const NVIDIA_EGL: &str = "/usr/share/glvnd/egl_vendor.d/10_nvidia.json";

fn detect(root: &Path, extra: &[&str]) -> std::process::Output {
    let bin = Bin::new();
    bin.cmd("hwc-gpu-detect")
        .arg("--root")
        .arg(root)
        .args(extra)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap()
}

fn json(root: &Path) -> Value {
    let o = detect(root, &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", stdout(&o)))
}

fn env_of(root: &Path) -> Vec<(String, String)> {
    let o = detect(root, &["--env"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.trim_matches(['\'', '"']).to_string())
        })
        .collect()
}

/// What a machine must show. `gpus`: (pci, vendor, driver or "", default, discrete).
struct Expect<'a> {
    gpus: &'a [(&'a str, &'a str, &'a str, bool, bool)],
    offload: Option<(&'a str, &'a [(&'a str, &'a str)])>,
    accel: &'a str,
    /// HWC_GPU_TYPE, HWC_GPU_DGPU, HWC_GPU_RENDER_NODE
    env: (&'a str, &'a str, &'a str),
}

fn check(root: &Path, want: &Expect) {
    let doc = json(root);
    let gpus = doc["gpus"].as_array().unwrap();
    let got: Vec<(String, String, String, bool, bool)> = gpus
        .iter()
        .map(|g| {
            (
                g["pci"].as_str().unwrap().to_string(),
                g["vendor"].as_str().unwrap().to_string(),
                g["driver"].as_str().unwrap_or("").to_string(),
                g["default"].as_bool().unwrap(),
                g["discrete"].as_bool().unwrap(),
            )
        })
        .collect();
    let want_gpus: Vec<(String, String, String, bool, bool)> = want
        .gpus
        .iter()
        .map(|(p, v, d, def, dis)| (p.to_string(), v.to_string(), d.to_string(), *def, *dis))
        .collect();
    assert_eq!(got, want_gpus, "GPUs of {}", root.display());
    match want.offload {
        None => assert!(
            doc["offload"].is_null(),
            "no offload expected: {}",
            doc["offload"]
        ),
        Some((pci, env)) => {
            assert_eq!(doc["offload"]["pci"], pci);
            let got_env = doc["offload"]["env"].as_object().unwrap();
            let got_env: Vec<(String, String)> = got_env
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let mut want_env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            want_env.sort();
            assert_eq!(got_env, want_env, "serde_json's map is sorted by key");
        }
    }
    assert_eq!(doc["accel"], want.accel);
    let accel = detect(root, &["--accel"]);
    assert_eq!(stdout(&accel), format!("{}\n", want.accel));
    let env = env_of(root);
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("HWC_GPU_TYPE"), want.env.0);
    assert_eq!(get("HWC_GPU_ACCEL"), want.accel);
    assert_eq!(get("HWC_GPU_DGPU"), want.env.1);
    assert_eq!(get("HWC_GPU_RENDER_NODE"), want.env.2);
}

const NV_G0: [(&str, &str); 5] = [
    ("__NV_PRIME_RENDER_OFFLOAD", "1"),
    ("__NV_PRIME_RENDER_OFFLOAD_PROVIDER", "NVIDIA-G0"),
    ("__GLX_VENDOR_LIBRARY_NAME", "nvidia"),
    ("__VK_LAYER_NV_optimus", "NVIDIA_only"),
    ("__EGL_VENDOR_LIBRARY_FILENAMES", NVIDIA_EGL),
];

#[test]
fn optimus_intel_nvidia() {
    let t = Tree::fixture("optimus-intel-nvidia");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:02.0", "intel", "i915", true, false),
                ("0000:01:00.0", "nvidia", "nvidia", false, true),
            ],
            offload: Some(("0000:01:00.0", &NV_G0)),
            accel: "cuda",
            env: ("nvidia", "0000:01:00.0", "/dev/dri/renderD129"),
        },
    );
    let doc = json(t.path());
    assert_eq!(doc["nvidia_driver_version"], "550.78");
    assert_eq!(doc["gpus"][1]["runtime_status"], "suspended");
    assert_eq!(doc["gpus"][1]["class"], "0x030200");
    assert_eq!(doc["gpus"][1]["render_node"], "/dev/dri/renderD129");
    assert_eq!(doc["gpus"][1]["card_node"], "/dev/dri/card1");
    assert_eq!(
        doc["gpus"][1]["name"],
        "GA106M [GeForce RTX 3060 Mobile / Max-Q]"
    );
}

#[test]
fn amd_apu_with_amd_dgpu() {
    let t = Tree::fixture("amd-apu-amd-dgpu");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:03:00.0", "amd", "amdgpu", false, true),
                ("0000:07:00.0", "amd", "amdgpu", true, false),
            ],
            offload: Some(("0000:03:00.0", &[("DRI_PRIME", "pci-0000_03_00_0")])),
            accel: "rocm",
            env: ("amd", "0000:03:00.0", "/dev/dri/renderD128"),
        },
    );
}

#[test]
fn intel_with_amd_dgpu() {
    let t = Tree::fixture("intel-amd-dgpu");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:02.0", "intel", "i915", true, false),
                ("0000:01:00.0", "amd", "amdgpu", false, true),
            ],
            offload: Some(("0000:01:00.0", &[("DRI_PRIME", "pci-0000_01_00_0")])),
            accel: "vaapi",
            env: ("amd", "0000:01:00.0", "/dev/dri/renderD129"),
        },
    );
}

#[test]
fn desktop_with_only_nvidia_needs_no_offload() {
    let t = Tree::fixture("desktop-nvidia-only");
    check(
        t.path(),
        &Expect {
            gpus: &[("0000:01:00.0", "nvidia", "nvidia", true, true)],
            offload: None,
            accel: "cuda",
            env: ("nvidia", "0000:01:00.0", "/dev/dri/renderD128"),
        },
    );
}

#[test]
fn server_bmc_offloads_to_the_first_datacenter_gpu() {
    let t = Tree::fixture("server-aspeed-nvidia");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:02:00.0", "other", "ast", true, false),
                ("0000:18:00.0", "nvidia", "nvidia", false, true),
                ("0000:2a:00.0", "nvidia", "nvidia", false, true),
            ],
            offload: Some(("0000:18:00.0", &NV_G0[..4])),
            accel: "cuda",
            env: ("nvidia", "0000:18:00.0", "/dev/dri/renderD128"),
        },
    );
    let doc = json(t.path());
    assert_eq!(doc["gpus"][0]["role"], "bmc");
    assert_eq!(doc["container_runtime"]["summary"], "cdi");
    assert_eq!(
        doc["container_runtime"]["cdi_kinds"],
        serde_json::json!(["nvidia.com/gpu"])
    );
    assert_eq!(
        doc["container_runtime"]["cdi_specs"],
        serde_json::json!(["/etc/cdi/nvidia.yaml"])
    );
    let env = env_of(t.path());
    assert!(env.contains(&("HWC_GPU_CONTAINER_RUNTIME".into(), "cdi".into())));
}

#[test]
fn nouveau_offloads_with_dri_prime_and_no_cuda() {
    let t = Tree::fixture("nouveau");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:02.0", "intel", "i915", true, false),
                ("0000:01:00.0", "nvidia", "nouveau", false, true),
            ],
            offload: Some(("0000:01:00.0", &[("DRI_PRIME", "pci-0000_01_00_0")])),
            accel: "vaapi",
            env: ("intel", "0000:01:00.0", "/dev/dri/renderD128"),
        },
    );
}

#[test]
fn no_gpu_at_all() {
    let t = Tree::fixture("no-gpu");
    check(
        t.path(),
        &Expect {
            gpus: &[],
            offload: None,
            accel: "cpu",
            env: ("none", "", ""),
        },
    );
    let o = detect(t.path(), &[]);
    assert!(stdout(&o).starts_with("no GPU found\n"), "{}", stdout(&o));
}

#[test]
fn a_root_without_sysfs_is_an_error_not_no_gpu() {
    // A rescue shell that has not mounted /sys, or a --root that does not exist: every mode
    // says it cannot see, exit 1, and --env writes nothing (no HWC_GPU_TYPE=none).
    let bare = tempfile::tempdir().unwrap();
    fs::create_dir_all(bare.path().join("etc")).unwrap();
    fs::create_dir_all(bare.path().join("sys")).unwrap();
    let missing = bare.path().join("nowhere");
    for (root, says) in [
        (
            bare.path().to_path_buf(),
            "sys/bus is missing: sysfs is not mounted there",
        ),
        (missing.clone(), "nowhere: no such directory (--root)"),
    ] {
        for mode in [
            &[][..],
            &["--json"],
            &["--env"],
            &["--accel"],
            &["--nixos"],
            &["--has", "nvidia"],
        ] {
            let o = detect(&root, mode);
            assert_eq!(code(&o), 1, "{mode:?}: {}", stdout(&o));
            assert_eq!(stdout(&o), "", "{mode:?}");
            assert!(stderr(&o).contains(says), "{mode:?}: {}", stderr(&o));
            assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        }
    }
    // sysfs there, no PCI GPU: still the right answer.
    fs::create_dir_all(bare.path().join("sys/bus/pci/devices")).unwrap();
    let o = detect(bare.path(), &["--env"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("HWC_GPU_TYPE=none\n"), "{}", stdout(&o));
}

#[test]
fn vm_virtual_display_is_no_offload_target() {
    let t = Tree::fixture("vm-virtio-gpu");
    check(
        t.path(),
        &Expect {
            // The GPU's driver, on the virtio device, not virtio-pci on the PCI function.
            gpus: &[("0000:00:01.0", "other", "virtio_gpu", true, false)],
            offload: None,
            accel: "cpu",
            env: ("none", "", ""),
        },
    );
    assert_eq!(json(t.path())["gpus"][0]["role"], "virtual");
    // As a kernel lays it out, the DRM nodes below the virtio device: still found.
    let dev = t.path().join("sys/devices/pci0000:00/0000:00:01.0");
    fs::rename(dev.join("drm"), dev.join("virtio0/drm")).unwrap();
    let doc = json(t.path());
    assert_eq!(
        doc["gpus"][0]["render_node"], "/dev/dri/renderD128",
        "{doc}"
    );
    assert_eq!(doc["gpus"][0]["driver"], "virtio_gpu");
}

#[test]
fn vm_with_a_passed_through_gpu_offloads_to_it() {
    let t = Tree::fixture("vm-qxl-amd-passthrough");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:01.0", "other", "qxl", true, false),
                ("0000:06:00.0", "amd", "amdgpu", false, true),
            ],
            offload: Some(("0000:06:00.0", &[("DRI_PRIME", "pci-0000_06_00_0")])),
            accel: "vaapi",
            env: ("amd", "0000:06:00.0", "/dev/dri/renderD128"),
        },
    );
    assert_eq!(json(t.path())["gpus"][0]["role"], "virtual");
}

#[test]
fn server_bmc_beside_a_gpu_without_driver_offloads_nothing() {
    let t = Tree::fixture("server-matrox-nodriver");
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:03:00.0", "other", "mgag200", true, false),
                ("0000:41:00.0", "nvidia", "", false, true),
            ],
            offload: None,
            accel: "cpu",
            env: ("none", "", ""),
        },
    );
    let o = detect(t.path(), &[]);
    assert!(
        stdout(&o).contains("offload: none (the discrete GPU 0000:41:00.0 has no driver bound)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn malformed_values_give_a_best_effort_report() {
    let t = Tree::fixture("malformed");
    for mode in [
        &[][..],
        &["--json"],
        &["--env"],
        &["--accel"],
        &["--has", "dgpu"],
        &["--nixos"],
    ] {
        let o = detect(t.path(), mode);
        assert!(o.status.code().is_some(), "{mode:?}: killed by a signal");
        assert!(code(&o) <= 1, "{mode:?}: {}", stderr(&o));
    }
    let doc = json(t.path());
    let gpus = doc["gpus"].as_array().unwrap();
    let pcis: Vec<&str> = gpus.iter().map(|g| g["pci"].as_str().unwrap()).collect();
    // 02:00.0 (garbage vendor), 03:00.0 (empty class), 04:00.0 (no vendor) and the dangling
    // 05:00.0 cannot be classified and are left out; the rest is reported as far as it reads.
    assert_eq!(pcis, ["0000:00:02.0", "0000:01:00.0"]);
    assert_eq!(gpus[0]["device_id"], "0x0000");
    assert_eq!(gpus[0]["render_node"], "/dev/dri/renderD128");
    assert!(gpus[0]["runtime_status"].is_null());
    assert_eq!(
        gpus[1]["driver"], "gone",
        "a dangling driver link still names its driver"
    );
    assert!(gpus[1]["runtime_status"].is_null());
    assert_eq!(gpus[0]["default"], true, "the only VGA device");
}

#[test]
fn has_answers_by_exit_status_only() {
    let t = Tree::fixture("optimus-intel-nvidia");
    for (what, want) in [("nvidia", 0), ("intel", 0), ("dgpu", 0), ("amd", 1)] {
        let o = detect(t.path(), &["--has", what]);
        assert_eq!(code(&o), want, "--has {what}");
        assert!(o.stdout.is_empty() && o.stderr.is_empty());
    }
    let nodriver = Tree::fixture("no-gpu");
    assert_eq!(code(&detect(nodriver.path(), &["--has", "dgpu"])), 1);
    let o = detect(t.path(), &["--has", "matrox"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

#[test]
fn exclusive_modes_are_a_usage_error() {
    let t = Tree::fixture("no-gpu");
    for args in [
        &["--json", "--env"][..],
        &["--nixos", "--json"],
        &["--nixos", "--env"],
        &["--nixos", "--accel"],
        &["--nixos", "--has", "nvidia"],
        &["--nixos", "--details"],
        &["--expect", "nvidia"],
        &["--json", "--expect", "nvidia"],
        &["--nixos", "--expect", "nvidia"],
    ] {
        let o = detect(t.path(), args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert_one_line_error(&o);
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn human_table_shows_roles_power_and_offload() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let o = detect(t.path(), &[]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("PCI") && lines[0].contains("ROLE") && lines[0].contains("POWER"));
    assert!(
        lines[1].contains("integrated,default") && lines[1].contains("renderD128"),
        "{text}"
    );
    assert!(
        lines[2].contains("discrete")
            && lines[2].contains("suspended")
            && lines[2].contains("GA106M"),
        "{text}"
    );
    assert!(
        text.contains("offload: 0000:01:00.0 with __NV_PRIME_RENDER_OFFLOAD=1"),
        "{text}"
    );
    assert!(
        text.contains("accel: cuda on /dev/dri/renderD129"),
        "{text}"
    );
    assert!(text.contains("nvidia driver: 550.78"), "{text}");
}

#[test]
fn env_output_is_valid_for_sh() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let o = detect(t.path(), &["--env"]);
    let script = format!(
        "{}echo \"$HWC_GPU_TYPE/$HWC_GPU_ACCEL/$HWC_GPU_DGPU/$HWC_GPU_RENDER_NODE\"",
        stdout(&o)
    );
    let sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&sh),
        "nvidia/cuda/0000:01:00.0//dev/dri/renderD129\n"
    );
}

#[test]
fn details_without_nvidia_smi_is_a_clear_failure() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let o = detect(t.path(), &["--details"]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("nvidia-smi"), "{}", stderr(&o));
}

/// `--details --json` on the Optimus fixture with only an `nvidia-smi` running `script` (after
/// `#!/bin/sh`) on PATH: its output, how long it took, and the directory that holds the script.
fn details_with_smi(
    script: &str,
) -> (std::process::Output, std::time::Duration, tempfile::TempDir) {
    let t = Tree::fixture("optimus-intel-nvidia");
    let bindir = tempfile::tempdir().unwrap();
    write_executable(
        &bindir.path().join("nvidia-smi"),
        &format!("#!/bin/sh\n{script}"),
    );
    let started = std::time::Instant::now();
    let o = details(t.path(), bindir.path(), &["--json"]);
    (o, started.elapsed(), bindir)
}

#[test]
fn details_come_from_nvidia_smi() {
    let (o, _, _) = details_with_smi(
        "case \"$1\" in --query-gpu=pci.bus_id,*) ;; *) exit 9;; esac\n\
         echo '00000000:01:00.0, NVIDIA GeForce RTX 3060 Laptop GPU, GPU-1234, 6144, 8.6, 41, P8'\n",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &doc["details"][0];
    assert_eq!(d["pci"], "0000:01:00.0");
    assert_eq!(d["memory_total_mib"], 6144);
    assert_eq!(d["compute_capability"], "8.6");
    assert_eq!(d["temperature_c"], 41);
    assert_eq!(d["uuid"], "GPU-1234");
}

/// An nvidia-smi that writes more than hwc reads (64 KiB) is an error, never half an answer
/// taken for the whole: one that writes 70 KB and exits 0, and one that never stops writing. The
/// second ends once hwc stops reading (SIGPIPE at its default in the program, not hwc's ignoring
/// it), not at the 30 s deadline.
#[test]
fn an_nvidia_smi_that_writes_too_much_is_refused_and_ended_by_its_closed_pipe() {
    let line = "00000000:01:00.0, NVIDIA GeForce RTX 3060 Laptop GPU, GPU-1234, 6144, 8.6, 41, P8";
    for (how, body) in [
        (
            "70 KB, then exit 0",
            format!("i=0\nwhile [ $i -lt 800 ]; do echo '{line}'; i=$((i+1)); done\n"),
        ),
        ("for ever", format!("while :; do echo '{line}'; done\n")),
    ] {
        let (o, took, _) = details_with_smi(&body);
        assert_eq!(code(&o), 1, "{how}: {}", stdout(&o));
        assert_one_line_error(&o);
        assert!(
            stderr(&o).contains("wrote more than 65536 bytes; the rest was not read"),
            "{how}: {}",
            stderr(&o)
        );
        assert!(
            took < std::time::Duration::from_secs(20),
            "{how}: ended after {took:?}, not when its pipe was closed"
        );
    }
}

/// An nvidia-smi that stops itself (a user can stop their own process; a driver can hang it in
/// the kernel): --details gives up at its 30 s deadline with a one-line error, and the stopped
/// program is killed, not left behind.
#[test]
fn a_stopped_nvidia_smi_is_given_up_at_the_deadline_and_killed() {
    let (o, took, bindir) = details_with_smi("echo $$ > \"$0.pid\"\nkill -STOP $$\necho late\n");
    let pid_file = bindir.path().join("nvidia-smi.pid");
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("gave no answer within 30 s"),
        "{}",
        stderr(&o)
    );
    assert!(
        took >= std::time::Duration::from_secs(29) && took < std::time::Duration::from_secs(60),
        "gave up after {took:?}"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = (0..50).any(|_| {
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err();
        if !gone {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        gone
    });
    assert!(gone, "the stopped nvidia-smi (pid {pid}) is still there");
}

/// A failing nvidia-smi: its first line said, with how it ended; what it wrote to stderr is not
/// taken for its answer.
#[test]
fn a_failing_nvidia_smi_is_named_with_its_reason() {
    let (o, _, _) = details_with_smi(
        "echo 'warning on stderr' >&2\n\
         echo\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\n\
         exit 9\n",
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    let err = stderr(&o);
    assert!(
        err.contains("nvidia-smi failed (exit status 9): NVIDIA-SMI has failed because"),
        "{err}"
    );
    assert!(!err.contains("warning on stderr"), "{err}");
}

#[test]
fn broken_pipe_is_quiet() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let bin = Bin::new();
    let o = bin
        .cmd("hwc-gpu-detect")
        .arg("--root")
        .arg(t.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert!(o.stderr.is_empty());
}

// --- the recordings of real machines in ../shared/fixtures/gpu ---

fn recording(name: &str) -> Option<tempfile::TempDir> {
    let dir = shared_dir("fixtures/gpu")?.join(name).join("tree");
    assert!(dir.is_dir(), "{} is missing", dir.display());
    Some(materialize(&dir))
}

#[test]
fn recorded_intel_kbl_amd_topaz() {
    let Some(t) = recording("intel-kbl-amd-topaz-dell-latitude-3590") else {
        return;
    };
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:02.0", "intel", "i915", true, false),
                ("0000:01:00.0", "amd", "amdgpu", false, true),
            ],
            offload: Some(("0000:01:00.0", &[("DRI_PRIME", "pci-0000_01_00_0")])),
            accel: "vaapi",
            env: ("amd", "0000:01:00.0", "/dev/dri/renderD129"),
        },
    );
}

#[test]
fn recorded_desktop_nvidia_primary_intel_demoted() {
    let Some(t) = recording("desktop-nvidia-nvs310-primary-intel-0380-hp-prodesk-400-g2") else {
        return;
    };
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:02.0", "intel", "i915", false, false),
                ("0000:01:00.0", "nvidia", "nvidia", true, true),
            ],
            offload: None,
            accel: "cuda",
            env: ("nvidia", "0000:01:00.0", ""),
        },
    );
}

#[test]
fn recorded_optimus_without_nvidia_driver() {
    let Some(t) = recording("intel-hsw-nvidia-gt750m-nodriver-dell-inspiron-7737") else {
        return;
    };
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0000:00:02.0", "intel", "i915", true, false),
                ("0000:04:00.0", "nvidia", "", false, true),
            ],
            offload: None,
            accel: "cpu",
            env: ("intel", "", ""),
        },
    );
    let o = detect(t.path(), &[]);
    assert!(
        stdout(&o).contains("offload: none (the discrete GPU 0000:04:00.0 has no driver bound)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn recorded_dgx_a100_server() {
    let Some(t) = recording("server-aspeed-8x-a100-nvidia-dgx-a100") else {
        return;
    };
    let mut gpus = vec![("0000:63:00.0", "other", "ast", true, false)];
    for bus in ["07", "0f", "47", "4e", "87", "90", "b7", "bd"] {
        gpus.push((
            Box::leak(format!("0000:{bus}:00.0").into_boxed_str()),
            "nvidia",
            "",
            false,
            true,
        ));
    }
    gpus.sort_by_key(|g| g.0);
    check(
        t.path(),
        &Expect {
            gpus: &gpus,
            offload: None,
            accel: "cpu",
            env: ("none", "", ""),
        },
    );
    let o = detect(t.path(), &[]);
    assert!(
        stdout(&o).contains("offload: none (the discrete GPU 0000:07:00.0 has no driver bound)"),
        "the BMC display would offload to an A100 with a driver: {}",
        stdout(&o)
    );
}

#[test]
fn recorded_power8_pci_domains() {
    let Some(t) = recording("ppc64le-aspeed-2x-p100-pci-domains-ibm-power8") else {
        return;
    };
    check(
        t.path(),
        &Expect {
            gpus: &[
                ("0002:01:00.0", "nvidia", "", false, true),
                ("0009:06:00.0", "other", "ast", true, false),
                ("000a:01:00.0", "nvidia", "", false, true),
            ],
            offload: None,
            accel: "cpu",
            env: ("none", "", ""),
        },
    );
}

#[test]
fn recorded_dgx_station_four_v100() {
    let Some(t) = recording("workstation-4x-v100-nvidia-dgx-station") else {
        return;
    };
    let doc = json(t.path());
    let gpus = doc["gpus"].as_array().unwrap();
    let pcis: Vec<&str> = gpus.iter().map(|g| g["pci"].as_str().unwrap()).collect();
    assert_eq!(
        pcis,
        [
            "0000:07:00.0",
            "0000:08:00.0",
            "0000:0e:00.0",
            "0000:0f:00.0"
        ]
    );
    assert!(gpus
        .iter()
        .all(|g| g["discrete"] == true && g["driver"] == "nvidia"));
    assert_eq!(
        gpus.iter().filter(|g| g["default"] == true).count(),
        1,
        "exactly one default"
    );
    let nodes: Vec<&str> = gpus
        .iter()
        .map(|g| g["render_node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.len(), 4);
    assert!(doc["offload"].is_null());
    assert_eq!(doc["accel"], "cuda");
}

#[test]
fn recorded_amd_phoenix_apu_only() {
    let Some(t) = recording("amd-phoenix-apu-hp-elitebook-835-g10") else {
        return;
    };
    check(
        t.path(),
        &Expect {
            gpus: &[("0000:c4:00.0", "amd", "amdgpu", true, false)],
            offload: None,
            accel: "vaapi",
            env: ("amd", "", "/dev/dri/renderD128"),
        },
    );
    assert_eq!(json(t.path())["gpus"][0]["card_node"], "/dev/dri/card1");
}

#[test]
fn recorded_intel_lunarlake_xe_npu_excluded() {
    let Some(t) = recording("intel-lunarlake-xe-npu-dell") else {
        return;
    };
    check(
        t.path(),
        &Expect {
            gpus: &[("0000:00:02.0", "intel", "xe", true, false)],
            offload: None,
            accel: "vaapi",
            env: ("intel", "", "/dev/dri/renderD128"),
        },
    );
}

// --- wake-free: nothing that wakes a GPU is opened ---

#[test]
fn detection_never_opens_waking_paths() {
    let bin = Bin::new();
    let mut roots: Vec<(String, Option<tempfile::TempDir>)> = vec![("live machine".into(), None)];
    for name in [
        "optimus-intel-nvidia",
        "server-aspeed-nvidia",
        "vm-qxl-amd-passthrough",
        "amd-apu-amd-dgpu",
        "malformed",
    ] {
        let t = Tree::fixture(name);
        roots.push((name.into(), Some(t.dir)));
    }
    if let Some(dir) = shared_dir("fixtures/gpu") {
        for e in std::fs::read_dir(dir).unwrap() {
            let tree = e.unwrap().path().join("tree");
            if tree.is_dir() {
                roots.push((tree.display().to_string(), Some(materialize(&tree))));
            }
        }
    }
    for (what, root) in &roots {
        for mode in [&[][..], &["--json"], &["--env"], &["--accel"], &["--nixos"]] {
            let mut cmd = bin.cmd("hwc-gpu-detect");
            if let Some(r) = root {
                cmd.arg("--root").arg(r.path());
            }
            cmd.args(mode);
            let Some((out, paths)) = strace_opens(&mut cmd, false) else {
                return;
            };
            assert_eq!(code(&out), 0, "{what} {mode:?}: {}", stderr(&out));
            let bad = waking_paths(&paths);
            assert!(bad.is_empty(), "{what} {mode:?} opened {bad:?}");
            if root.is_some() {
                let read_sysfs = paths.iter().any(|p| p.ends_with("/class"));
                assert!(read_sysfs, "{what}: the trace saw the scan");
            }
        }
    }
}

#[test]
fn nvidia_container_tools_on_path_are_reported() {
    let t = Tree::fixture("desktop-nvidia-only");
    let tools = t.path().join("usr/bin");
    std::fs::create_dir_all(&tools).unwrap();
    for name in ["nvidia-ctk", "nvidia-container-runtime"] {
        std::fs::write(tools.join(name), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            tools.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    // Not executable: not a tool.
    std::fs::write(tools.join("nvidia-container-cli"), "").unwrap();
    let bin = Bin::new();
    let o = bin
        .cmd("hwc-gpu-detect")
        .arg("--root")
        .arg(t.path())
        .arg("--json")
        .env("PATH", "/usr/bin:relative/dir")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["container_runtime"]["tools"],
        serde_json::json!(["nvidia-ctk", "nvidia-container-runtime"])
    );
    assert_eq!(
        doc["container_runtime"]["summary"],
        "nvidia-container-runtime"
    );
    assert_eq!(doc["container_runtime"]["cdi_kinds"], serde_json::json!([]));
}

#[test]
fn caches_that_are_fifos_or_endless_are_skipped() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let root = t.path();
    // Every file detection reads from outside the kernel: udev's entries, pci.ids, a CDI spec.
    for entry in ["0000:00:02.0", "0000:01:00.0"] {
        let p = root.join(format!("run/udev/data/+pci:{entry}"));
        let _ = std::fs::remove_file(&p);
        make_fifo(&p);
    }
    std::fs::create_dir_all(root.join("usr/share/hwdata")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("usr/share/hwdata/pci.ids")).unwrap();
    make_fifo(&root.join("usr/share/misc/pci.ids"));
    make_fifo(&root.join("etc/cdi/nvidia.yaml"));
    std::fs::create_dir_all(root.join("run/cdi")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("run/cdi/amd.json")).unwrap();
    let o = output_within(
        Command::new(hwc())
            .args(["hwc-gpu-detect", "--json", "--root"])
            .arg(root),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["gpus"].as_array().unwrap().len(), 2);
    assert!(doc["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["name"].is_null()));
    assert_eq!(doc["container_runtime"]["summary"], "none");
    let o = output_within(
        Command::new(hwc())
            .args(["hwc-gpu-detect", "--root"])
            .arg(root),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

// --- --details: NVML in a child, nvidia-smi as the fallback ---

/// A stand-in for NVIDIA's libnvidia-ml.so.1 exporting the calls hwc makes, with known answers;
/// `crash` makes nvmlInit_v2 fault, as a broken or mismatched library may.
fn fake_nvml(crash: bool) -> String {
    let init = if crash {
        "int nvmlInit_v2(void) { volatile int *p = 0; return *p; }"
    } else {
        "int nvmlInit_v2(void) { return 0; }"
    };
    format!(
        r#"#include <stdio.h>
#include <string.h>
#include <stdint.h>
typedef struct {{ unsigned int version; unsigned long long total, reserved, free, used; }} nvmlMemory_v2_t;
typedef struct {{ char busIdLegacy[16]; unsigned int domain, bus, device, pciDeviceId, pciSubSystemId; char busId[32]; }} nvmlPciInfo_t;
typedef struct {{ unsigned int gpu, memory; }} nvmlUtilization_t;
{init}
int nvmlShutdown(void) {{ return 0; }}
const char *nvmlErrorString(int r) {{ return "fake NVML error"; }}
int nvmlSystemGetDriverVersion(char *v, unsigned int n) {{ snprintf(v, n, "550.78"); return 0; }}
int nvmlDeviceGetCount_v2(unsigned int *c) {{ *c = 1; return 0; }}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) {{ *d = (void *)(uintptr_t)(i + 1); return 0; }}
int nvmlDeviceGetName(void *d, char *n, unsigned int len) {{ snprintf(n, len, "Fake RTX 4242"); return 0; }}
int nvmlDeviceGetUUID(void *d, char *u, unsigned int len) {{ snprintf(u, len, "GPU-fake-0001"); return 0; }}
int nvmlDeviceGetMemoryInfo_v2(void *d, nvmlMemory_v2_t *m) {{ m->total = 8ULL << 30; m->used = 1ULL << 30; m->free = 7ULL << 30; return 0; }}
int nvmlDeviceGetCudaComputeCapability(void *d, int *maj, int *min) {{ *maj = 8; *min = 9; return 0; }}
int nvmlDeviceGetTemperature(void *d, int sensor, unsigned int *t) {{ *t = 42; return 0; }}
int nvmlDeviceGetPerformanceState(void *d, int *p) {{ *p = 8; return 0; }}
int nvmlDeviceGetPciInfo_v3(void *d, nvmlPciInfo_t *p) {{ memset(p, 0, sizeof *p); snprintf(p->busId, 32, "00000000:01:00.0"); return 0; }}
int nvmlDeviceGetPowerUsage(void *d, unsigned int *mw) {{ *mw = 12345; return 0; }}
int nvmlDeviceGetUtilizationRates(void *d, nvmlUtilization_t *u) {{ u->gpu = 37; u->memory = 5; return 0; }}
"#
    )
}

/// The Optimus fixture with a fake NVML where NixOS keeps the driver's libraries.
fn tree_with_nvml(crash: bool) -> Option<Tree> {
    if !have("cc") {
        return None;
    }
    let t = Tree::fixture("optimus-intel-nvidia");
    let lib_dir = t.path().join("run/opengl-driver/lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let src = lib_dir.join("fake.c");
    std::fs::write(&src, fake_nvml(crash)).unwrap();
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(lib_dir.join("libnvidia-ml.so.1"))
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success(), "cc -shared");
    Some(t)
}

fn details(root: &Path, path: &Path, extra: &[&str]) -> std::process::Output {
    output_within(
        Command::new(hwc())
            .args(["hwc-gpu-detect", "--details", "--root"])
            .arg(root)
            .args(extra)
            .env("PATH", path),
        std::time::Duration::from_secs(60),
    )
}

#[test]
fn details_come_from_nvml_loaded_by_the_static_binary() {
    let Some(t) = tree_with_nvml(false) else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let o = details(t.path(), empty.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let row = out
        .lines()
        .find(|l| l.contains("Fake RTX 4242"))
        .unwrap_or_else(|| panic!("{out}"));
    for cell in [
        "0000:01:00.0",
        "8192 MiB",
        "1024 MiB",
        "8.9",
        "42 C",
        "P8",
        "12.3 W",
        "37%",
        "GPU-fake-0001",
    ] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    assert!(out.contains("details from nvml"), "{out}");
    let o = details(t.path(), empty.path(), &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &doc["details"][0];
    assert_eq!(d["pci"], "0000:01:00.0");
    assert_eq!(d["name"], "Fake RTX 4242");
    assert_eq!(d["uuid"], "GPU-fake-0001");
    assert_eq!(d["memory_total_mib"], 8192);
    assert_eq!(d["memory_used_mib"], 1024);
    assert_eq!(d["compute_capability"], "8.9");
    assert_eq!(d["temperature_c"], 42);
    assert_eq!(d["pstate"], "P8");
    assert_eq!(d["power_mw"], 12345);
    assert_eq!(d["utilization_pct"], 37);
    assert_eq!(doc["details_source"], "nvml");
    assert_eq!(doc["details_driver_version"], "550.78");
}

#[test]
fn a_library_that_faults_costs_a_child_not_hwc() {
    let Some(t) = tree_with_nvml(true) else {
        return;
    };
    // No nvidia-smi either: one line naming both, status 1, never a signal.
    let empty = tempfile::tempdir().unwrap();
    let o = details(t.path(), empty.path(), &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "ended by {:?}: {}",
        o.status,
        stderr(&o)
    );
    assert_one_line_error(&o);
    let err = stderr(&o);
    assert!(
        err.contains("NVML: the library killed the process asking it (SIGSEGV)"),
        "{err}"
    );
    assert!(
        err.contains("nvidia-smi: nvidia-smi is not on PATH"),
        "{err}"
    );
    assert!(
        err.contains("(install the NVIDIA driver, which brings") && !err.contains("))"),
        "one pair of parentheses, the hint's: {err}"
    );
    // With nvidia-smi there, it answers instead.
    let bin = tempfile::tempdir().unwrap();
    write_executable(
        &bin.path().join("nvidia-smi"),
        "#!/bin/sh\necho '00000000:01:00.0, From SMI, GPU-smi-1, 4096, 7.5, 50, P2, 100, 20.5, 9'\n",
    );
    let o = details(t.path(), bin.path(), &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["details_source"], "nvidia-smi");
    assert_eq!(doc["details"][0]["name"], "From SMI");
    assert_eq!(doc["details"][0]["power_mw"], 20500);
}

#[test]
fn without_details_nothing_opens_libnvidia_ml() {
    let Some(t) = tree_with_nvml(false) else {
        return;
    };
    for args in [
        &["hwc-gpu-detect"][..],
        &["hwc-gpu-detect", "--json"],
        &["gpu-launch", "--dry-run", "true"],
    ] {
        let mut cmd = Command::new(hwc());
        cmd.args(args).arg("--root").arg(t.path());
        if args[0] == "gpu-launch" {
            cmd = Command::new(hwc());
            cmd.args(["gpu-launch", "--root"])
                .arg(t.path())
                .args(["--dry-run", "true"]);
        }
        let Some((o, paths)) = strace_opens(&mut cmd, true) else {
            return;
        };
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            !paths.iter().any(|p| p.contains("libnvidia-ml")),
            "{args:?} opened NVML: {paths:?}"
        );
    }
    // And with --details it does (the check above can see it).
    let mut cmd = Command::new(hwc());
    cmd.args(["hwc-gpu-detect", "--details", "--root"])
        .arg(t.path());
    let Some((_, paths)) = strace_opens(&mut cmd, false) else {
        return;
    };
    assert!(
        paths.iter().any(|p| p.contains("libnvidia-ml")),
        "{paths:?}"
    );
}

// --- --nixos: the snippet for configuration.nix ---

/// `--nixos` over `root`, which must succeed quietly and give valid Nix.
fn nixos(root: &Path) -> String {
    let o = detect(root, &["--nixos"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_valid_nix(&text);
    text
}

/// The snippet with PRIME ids: `nvidia` and `integrated` as (sysfs address, NixOS bus id).
fn prime_snippet(nvidia: (&str, &str), kind: &str, integrated: (&str, &str)) -> String {
    let headline = format!(
        "NVIDIA {} renders offloaded from {kind} {}",
        nvidia.0, integrated.0
    );
    prime_snippet_saying(&headline, nvidia.1, kind, integrated.1)
}

/// The same with the headline of a machine whose NVIDIA GPU is not on NVIDIA's driver yet.
fn prime_snippet_before_the_driver(
    nvidia: (&str, &str),
    integrated: (&str, &str),
    now: &str,
) -> String {
    let headline = format!(
        "NVIDIA {} will render offloaded from Intel {} with NVIDIA's driver, which type = \"nvidia\" installs ({now})",
        nvidia.0, integrated.0
    );
    prime_snippet_saying(&headline, nvidia.1, "Intel", integrated.1)
}

fn prime_snippet_saying(headline: &str, nvidia: &str, kind: &str, integrated: &str) -> String {
    let option = if kind == "AMD" {
        "amdgpuBusId"
    } else {
        "intelBusId"
    };
    format!(
        "# hwc-gpu-detect --nixos: {headline}\n\
         hwc.infrastructure.hardware.gpu = {{\n\
         \x20 enable = true;\n\
         \x20 type = \"nvidia\";\n\
         \x20 prime = {{\n\
         \x20   nvidiaBusId = \"{}\";\n\
         \x20   {option} = \"{}\";\n\
         \x20 }};\n\
         }};\n\
         # Without hwc's module, the same in NixOS's own options:\n\
         # hardware.nvidia.prime = {{\n\
         #   offload.enable = true;\n\
         #   nvidiaBusId = \"{}\";\n\
         #   {option} = \"{}\";\n\
         # }};\n",
        nvidia, integrated, nvidia, integrated
    )
}

/// The snippet of a machine that needs no bus ids.
fn plain_snippet(headline: &str, gpu_type: &str) -> String {
    format!(
        "# hwc-gpu-detect --nixos: {headline}\n\
         hwc.infrastructure.hardware.gpu = {{\n\
         \x20 enable = true;\n\
         \x20 type = \"{gpu_type}\";\n\
         }};\n"
    )
}

/// The Nix in a snippet, each part wrapped into an attribute set: the uncommented lines, and the
/// commented NixOS block with its `# ` taken off.
fn nix_parts(text: &str) -> Vec<String> {
    let hwc: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut parts = vec![format!("{{\n{hwc}}}\n")];
    if let Some((_, own)) =
        text.split_once("# Without hwc's module, the same in NixOS's own options:\n")
    {
        let own: String = own
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix('#').unwrap().trim_start()))
            .collect();
        parts.push(format!("{{\n{own}}}\n"));
    }
    parts
}

/// NixOS's type for bus ids (`busIDType` in nixos/modules/hardware/video/nvidia.nix).
const NIXOS_BUS_ID: &str = r#"([[:print:]]+[\:\@][0-9]{1,3}\:[0-9]{1,2}\:[0-9])?"#;

/// Each Nix part parses with nix-instantiate, and every bus id fits NixOS's option type.
fn assert_valid_nix(text: &str) {
    if !have("nix-instantiate") {
        return;
    }
    for part in nix_parts(text) {
        let o = nix_instantiate(&["--parse", "-"], &part);
        assert_eq!(code(&o), 0, "{part}: {}", stderr(&o));
    }
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("BusId = \"")?.1.strip_suffix("\";"))
        .collect();
    let check = format!(
        "builtins.all (id: builtins.match \"{NIXOS_BUS_ID}\" id != null) [ {} ]",
        ids.iter()
            .map(|id| format!("\"{id}\" "))
            .collect::<String>()
    );
    let o = nix_instantiate(&["--eval", "-"], &check);
    assert_eq!(stdout(&o), "true\n", "{ids:?}: {}", stderr(&o));
}

fn nix_instantiate(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new("nix-instantiate")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn nixos_optimus_gives_prime_bus_ids() {
    let t = Tree::fixture("optimus-intel-nvidia");
    assert_eq!(
        nixos(t.path()),
        prime_snippet(
            ("0000:01:00.0", "PCI:1@0:0:0"),
            "Intel",
            ("0000:00:02.0", "PCI:0@0:2:0")
        )
    );
}

#[test]
fn nixos_gives_the_ids_before_nvidias_driver_is_installed() {
    // A fresh install: the NVIDIA GPU on nouveau. The ids are wanted now, to install the
    // driver; the machine's own type (--env) is still intel.
    let t = Tree::fixture("nouveau");
    assert_eq!(
        nixos(t.path()),
        prime_snippet_before_the_driver(
            ("0000:01:00.0", "PCI:1@0:0:0"),
            ("0000:00:02.0", "PCI:0@0:2:0"),
            "it runs nouveau now"
        )
    );
    assert!(env_of(t.path()).contains(&("HWC_GPU_TYPE".into(), "intel".into())));
}

#[test]
fn nixos_bus_ids_are_decimal() {
    for (fixture, nvidia, kind, integrated) in [
        (
            "optimus-hex-bus",
            ("0000:64:00.0", "PCI:100@0:0:0"),
            "Intel",
            ("0000:00:02.0", "PCI:0@0:2:0"),
        ),
        (
            "optimus-pci-domain",
            ("000b:3c:00.0", "PCI:60@11:0:0"),
            "Intel",
            ("0000:00:02.0", "PCI:0@0:2:0"),
        ),
        (
            "amd-apu-nvidia",
            ("0000:01:00.0", "PCI:1@0:0:0"),
            "AMD",
            ("0000:c4:00.0", "PCI:196@0:0:0"),
        ),
    ] {
        let t = Tree::fixture(fixture);
        assert_eq!(
            nixos(t.path()),
            prime_snippet(nvidia, kind, integrated),
            "{fixture}"
        );
    }
}

/// No PRIME block and no bus id: what every machine without NVIDIA offload from an iGPU shows.
fn assert_no_prime(text: &str, what: &str) {
    assert!(!text.contains("PCI:"), "{what}: {text}");
    assert!(!text.contains("prime"), "{what}: {text}");
}

#[test]
fn nixos_without_nvidia_offload_gives_only_the_type() {
    const DISCRETE_DEFAULT: &str =
        "is discrete, not an integrated GPU, BMC or virtual display to offload from";
    let cases = [
        (
            "desktop-nvidia-only",
            format!("no offload (the default GPU 0000:01:00.0 {DISCRETE_DEFAULT})"),
            "nvidia",
        ),
        (
            "intel-amd-dgpu",
            "AMD 0000:01:00.0 renders offloaded from Intel 0000:00:02.0; NixOS needs no bus ids \
             for that"
                .into(),
            "amd",
        ),
        (
            "amd-apu-amd-dgpu",
            "AMD 0000:03:00.0 renders offloaded from AMD 0000:07:00.0; NixOS needs no bus ids \
             for that"
                .into(),
            "amd",
        ),
        (
            "server-aspeed-nvidia",
            "NVIDIA 0000:18:00.0 renders offloaded from BMC display 0000:02:00.0; NixOS needs no \
             bus ids for that"
                .into(),
            "nvidia",
        ),
        (
            "server-matrox-nodriver",
            "no offload (the discrete GPU 0000:41:00.0 has no driver bound)".into(),
            "none",
        ),
        (
            "vm-qxl-amd-passthrough",
            "AMD 0000:06:00.0 renders offloaded from virtual display 0000:00:01.0; NixOS needs \
             no bus ids for that"
                .into(),
            "amd",
        ),
        (
            "vm-virtio-gpu",
            "no offload (the default GPU 0000:00:01.0 is a virtual display with no GPU beside it)"
                .into(),
            "none",
        ),
        ("no-gpu", "no offload (no GPU found)".into(), "none"),
    ];
    for (fixture, headline, gpu_type) in cases {
        let t = Tree::fixture(fixture);
        let text = nixos(t.path());
        assert_eq!(text, plain_snippet(&headline, gpu_type), "{fixture}");
        assert_no_prime(&text, fixture);
        let env = env_of(t.path());
        assert!(
            env.contains(&("HWC_GPU_TYPE".into(), gpu_type.into())),
            "{fixture}: the type is --env's"
        );
    }
}

#[test]
fn nixos_on_recorded_machines() {
    const DISCRETE_DEFAULT: &str =
        "is discrete, not an integrated GPU, BMC or virtual display to offload from";
    let no_driver = |pci: &str| format!("no offload (the discrete GPU {pci} has no driver bound)");
    let cases = [
        (
            "amd-phoenix-apu-hp-elitebook-835-g10",
            "no offload (no discrete GPU)".to_string(),
            "amd",
        ),
        (
            "desktop-nvidia-nvs310-primary-intel-0380-hp-prodesk-400-g2",
            format!("no offload (the default GPU 0000:01:00.0 {DISCRETE_DEFAULT})"),
            "nvidia",
        ),
        (
            "intel-kbl-amd-topaz-dell-latitude-3590",
            "AMD 0000:01:00.0 renders offloaded from Intel 0000:00:02.0; NixOS needs no bus ids \
             for that"
                .into(),
            "amd",
        ),
        (
            "intel-lunarlake-xe-npu-dell",
            "no offload (no discrete GPU)".into(),
            "intel",
        ),
        (
            "ppc64le-aspeed-2x-p100-pci-domains-ibm-power8",
            no_driver("0002:01:00.0"),
            "none",
        ),
        (
            "server-aspeed-8x-a100-nvidia-dgx-a100",
            no_driver("0000:07:00.0"),
            "none",
        ),
        (
            "workstation-4x-v100-nvidia-dgx-station",
            format!("no offload (the default GPU 0000:07:00.0 {DISCRETE_DEFAULT})"),
            "nvidia",
        ),
    ];
    let Some(dir) = shared_dir("fixtures/gpu") else {
        return;
    };
    let recorded = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("tree").is_dir())
        .count();
    assert_eq!(
        recorded,
        cases.len() + 1,
        "a recording without an expected snippet"
    );
    // The laptop whose GeForce has no driver bound yet gets its ids.
    let t = recording("intel-hsw-nvidia-gt750m-nodriver-dell-inspiron-7737").unwrap();
    assert_eq!(
        nixos(t.path()),
        prime_snippet_before_the_driver(
            ("0000:04:00.0", "PCI:4@0:0:0"),
            ("0000:00:02.0", "PCI:0@0:2:0"),
            "it has no driver now"
        )
    );
    for (name, headline, gpu_type) in cases {
        let t = recording(name).unwrap();
        let text = nixos(t.path());
        assert_eq!(text, plain_snippet(&headline, gpu_type), "{name}");
        assert_no_prime(&text, name);
    }
}

// --- --env --expect: the declared type held against the machine's ---

#[test]
fn expect_that_matches_says_nothing() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let plain = detect(t.path(), &["--env"]);
    let o = detect(t.path(), &["--env", "--expect", "nvidia"]);
    assert_eq!(code(&o), 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert_eq!(o.stdout, plain.stdout);
}

#[test]
fn expect_that_differs_warns_once_and_still_succeeds() {
    let t = Tree::fixture("optimus-intel-nvidia");
    let plain = detect(t.path(), &["--env"]);
    let o = detect(t.path(), &["--env", "--expect", "intel"]);
    assert_eq!(code(&o), 0);
    assert_eq!(o.stdout, plain.stdout, "the env lines stay intact");
    assert_eq!(
        stderr(&o),
        "hwc-gpu-detect: declared GPU type intel, but this machine's is nvidia \
         (0000:01:00.0 nvidia)\n"
    );
    let t = Tree::fixture("intel-amd-dgpu");
    let o = detect(t.path(), &["--env", "--expect=nvidia"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stderr(&o),
        "hwc-gpu-detect: declared GPU type nvidia, but this machine's is amd \
         (0000:01:00.0 amdgpu)\n"
    );
    let t = Tree::fixture("server-matrox-nodriver");
    let o = detect(t.path(), &["--env", "--expect", "nvidia"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stderr(&o),
        "hwc-gpu-detect: declared GPU type nvidia, but this machine's is none \
         (0000:41:00.0 nvidia without a driver)\n"
    );
    assert!(stdout(&o).contains("HWC_GPU_TYPE=none\n"), "{}", stdout(&o));
}

#[test]
fn expect_takes_only_gpu_types() {
    let t = Tree::fixture("optimus-intel-nvidia");
    for bad in ["cuda", "NVIDIA", ""] {
        let o = detect(t.path(), &["--env", "--expect", bad]);
        assert_eq!(code(&o), 2, "{bad:?}");
        assert_one_line_error(&o);
        assert!(o.stdout.is_empty());
    }
    let o = detect(t.path(), &["--env", "--expect"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

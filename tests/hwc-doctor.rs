//! hwc-doctor on fixture machines (`--root`) with a declaration: a consistent Optimus laptop
//! passes, and each way the issue names a machine going wrong fails the one check that sees it,
//! with the evidence and the fix. What is not declared, and a session that is not there, are
//! skipped. A real dbus-daemon stands for the user's session bus; a network namespace holds the
//! bridges; strace proves no GPU is woken.

mod common;

use common::fake_sysfs::Tree;
use common::netns::Netns;
use common::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixture's NVIDIA kernel module version (tests/fixtures/gpu/optimus-intel-nvidia.txt).
const MODULE: &str = "550.78";
const USER: &str = "eric";
const BEGIN: &str =
    "# BEGIN setup-ssh-keys (managed by hwc; edits inside this block are overwritten)";
const END: &str = "# END setup-ssh-keys";

/// The consistent Optimus machine, and what the tests change in it.
struct Machine {
    tree: Tree,
    uid: u32,
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn write(p: &Path, text: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

const NIXOS: &str = "NAME=NixOS\nID=nixos\n";
const DEBIAN: &str = "NAME=\"Debian GNU/Linux\"\nID=debian\n";

const DECLARED: &str = r#"{"gpu": {"type": "nvidia", "containerRuntime": true},
 "permissions": {"user": "eric", "sets": ["media"]},
 "ssh": {"user": "eric"}}"#;

fn cdi_spec(version: &str) -> String {
    format!(
        "---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\ncontainerEdits:\n  deviceNodes:\n  - path: /dev/nvidiactl\n  mounts:\n  - hostPath: /run/opengl-driver/lib/libcuda.so.{version}\n    containerPath: /usr/lib64/libcuda.so.{version}\n"
    )
}

impl Machine {
    /// An Intel + NVIDIA laptop (dGPU runtime-suspended), the user eric in audio, video and
    /// render, both render nodes root:render 0660, the driver's user space and CDI spec at the
    /// module's version, eric's authorized_keys with a managed block, the secret present. As
    /// root eric is uid 4242 (the worker drops to it); otherwise the test's own uid.
    fn consistent() -> Machine {
        let uid = if is_root() {
            4242
        } else {
            nix::unistd::geteuid().as_raw()
        };
        Machine::for_uid(uid)
    }

    /// The same machine for the user `uid`.
    fn for_uid(uid: u32) -> Machine {
        let tree = Tree::fixture("optimus-intel-nvidia");
        let r = tree.path().to_path_buf();
        let r = r.as_path();
        chmod(r, 0o755);
        let m = Machine { tree, uid };
        write(
            &r.join("etc/passwd"),
            &format!("root:x:0:0:root:/root:/bin/sh\n{USER}:x:{uid}:100::/home/{USER}:/bin/sh\n"),
        );
        m.groups(&["audio", "video", "render"]);
        write(&r.join("etc/hwc/declared.json"), DECLARED);
        // A NixOS machine: the fixes name its options (see `debian` for another distribution's).
        write(&r.join("etc/os-release"), NIXOS);
        for lib in ["libnvidia-ml.so", "libcuda.so"] {
            write(&r.join(format!("run/opengl-driver/lib/{lib}.{MODULE}")), "");
            write(&r.join(format!("run/opengl-driver/lib/{lib}.1")), "");
        }
        write(&r.join("etc/cdi/nvidia.yaml"), &cdi_spec(MODULE));
        write(
            &r.join(format!("run/agenix/ssh-authorized-keys-{USER}")),
            "",
        );
        for node in ["renderD128", "renderD129"] {
            let p = r.join("dev/dri").join(node);
            chmod(&p, 0o660);
            if is_root() {
                std::os::unix::fs::chown(&p, Some(0), Some(2003)).unwrap();
            }
        }
        let home = r.join("home").join(USER);
        write(
            &home.join(".ssh/authorized_keys"),
            &format!("{BEGIN}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB eric@laptop\n{END}\n"),
        );
        chmod(&r.join("home"), 0o755);
        chmod(&home, 0o755);
        chmod(&home.join(".ssh"), 0o700);
        chmod(&home.join(".ssh/authorized_keys"), 0o600);
        for p in [
            &home,
            &home.join(".ssh"),
            &home.join(".ssh/authorized_keys"),
        ] {
            std::os::unix::fs::chown(p, Some(uid), None).unwrap();
        }
        m
    }

    fn root(&self) -> &Path {
        self.tree.path()
    }

    /// /etc/group with eric in exactly `member_of` (of audio, video, render).
    fn groups(&self, member_of: &[&str]) {
        let mut text = String::from("root:x:0:\nusers:x:100:\n");
        for (name, gid) in [("audio", 2001), ("video", 2002), ("render", 2003)] {
            let members = if member_of.contains(&name) { USER } else { "" };
            text.push_str(&format!("{name}:x:{gid}:{members}\n"));
        }
        write(&self.root().join("etc/group"), &text);
    }

    /// `hwc-doctor --json` over this machine, run in the network namespace `ns`.
    fn doctor_in(&self, ns: &Netns) -> Output {
        ns.exec_hwc([
            OsStr::new("hwc-doctor"),
            OsStr::new("--json"),
            OsStr::new("--root"),
            self.root().as_os_str(),
        ])
    }

    fn doctor(&self, extra: &[&str]) -> Output {
        Command::new(hwc())
            .args(["hwc-doctor", "--json", "--root"])
            .arg(self.root())
            .args(extra)
            .output()
            .unwrap()
    }

    /// `hwc-doctor --json` over this machine under strace with `options`, its log to `log`.
    fn doctor_traced(&self, options: &[&str], log: &Path) -> Output {
        Command::new("strace")
            .args(options)
            .arg("-o")
            .arg(log)
            .arg(hwc())
            .args(["hwc-doctor", "--json", "--root"])
            .arg(self.root())
            .output()
            .unwrap()
    }
}

/// The checks of a --json run.
fn checks(o: &Output) -> Vec<Value> {
    let doc: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)));
    doc["checks"].as_array().unwrap().clone()
}

/// The one check `bucket`/`name`.
fn find<'a>(checks: &'a [Value], bucket: &str, name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["bucket"] == bucket && c["check"] == name)
        .unwrap_or_else(|| panic!("no check {bucket}/{name} in {checks:#?}"))
}

fn failed(checks: &[Value]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| format!("{}/{}: {}", c["bucket"], c["check"], c["evidence"]))
        .collect()
}

/// Only the one check failed, with evidence holding every `evidence` and the fix every `fix`.
fn fails_alone(o: &Output, bucket: &str, name: &str, evidence: &[&str], fix: &[&str]) {
    assert_eq!(code(o), 1, "{}{}", stdout(o), stderr(o));
    let all = checks(o);
    let c = find(&all, bucket, name);
    assert_eq!(c["status"], "fail", "{c}");
    let (e, f) = (c["evidence"].as_str().unwrap(), c["fix"].as_str().unwrap());
    for want in evidence {
        assert!(e.contains(want), "evidence lacks {want:?}: {e}");
    }
    for want in fix {
        assert!(f.contains(want), "fix lacks {want:?}: {f}");
    }
    let others: Vec<String> = failed(&all)
        .into_iter()
        .filter(|f| !f.starts_with(&format!("\"{bucket}\"/\"{name}\"")))
        .collect();
    assert!(others.is_empty(), "only {bucket}/{name} fails: {others:?}");
}

#[test]
fn a_consistent_optimus_machine_passes() {
    let m = Machine::consistent();
    let o = m.doctor(&[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let all = checks(&o);
    for (bucket, name) in [
        ("hardware/gpu", "type"),
        ("hardware/gpu", "accel"),
        ("hardware/gpu", "nvidia-versions"),
        ("hardware/gpu", "cdi-spec"),
        ("hardware/gpu", "render-node"),
        ("hardware/gpu", "offload"),
        ("hardware/permissions", "groups:media"),
        ("hardware/permissions", "devices:media"),
        ("session/services", "ssh-secret"),
        ("session/services", "authorized-keys"),
        ("session/services", "strict-modes"),
    ] {
        assert_eq!(find(&all, bucket, name)["status"], "ok", "{bucket}/{name}");
    }
    // Not declared, or not there: skipped, never failed.
    assert_eq!(find(&all, "mesh", "bridges")["status"], "skip");
    assert_eq!(find(&all, "session/user", "session")["status"], "skip");
    assert_eq!(find(&all, "session/services", "ssh-unit")["status"], "skip");
    let keys = find(&all, "session/services", "authorized-keys");
    assert!(keys["evidence"].as_str().unwrap().contains("1 key(s)"));

    // The table: one line a check, by bucket.
    let o = Command::new(hwc())
        .args(["doctor", "--root"])
        .arg(m.root())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("hardware/gpu\n  ok    type"), "{text}");
    assert!(text.ends_with("nothing failed\n"), "{text}");
}

#[test]
fn a_driver_upgraded_without_a_reboot_fails_naming_both_versions() {
    let m = Machine::consistent();
    let lib = m.root().join("run/opengl-driver/lib");
    for name in ["libnvidia-ml.so", "libcuda.so"] {
        fs::rename(
            lib.join(format!("{name}.{MODULE}")),
            lib.join(format!("{name}.570.86.16")),
        )
        .unwrap();
    }
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "hardware/gpu",
        "nvidia-versions",
        &["kernel module 550.78", "570.86.16", "without a reboot"],
        &["reboot"],
    );
}

/// A Debian host on 64-bit ARM (Grace Hopper, Jetson-class boards) keeps NVIDIA's libraries in
/// its own multiarch directory: the versions are compared there too, whatever the doctor's build.
#[test]
fn a_debian_arm_host_has_its_driver_libraries_compared_in_its_multiarch_directory() {
    let m = Machine::consistent();
    let nixos = m.root().join("run/opengl-driver/lib");
    let debian = m.root().join("usr/lib/aarch64-linux-gnu");
    fs::create_dir_all(&debian).unwrap();
    for name in ["libnvidia-ml.so", "libcuda.so"] {
        fs::remove_file(nixos.join(format!("{name}.{MODULE}"))).unwrap();
        fs::remove_file(nixos.join(format!("{name}.1"))).unwrap();
        write(&debian.join(format!("{name}.570.86.16")), "");
    }
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "hardware/gpu",
        "nvidia-versions",
        &[
            "kernel module 550.78",
            "/usr/lib/aarch64-linux-gnu",
            "570.86.16",
        ],
        &["reboot"],
    );
}

#[test]
fn a_cdi_spec_for_the_previous_driver_fails_naming_the_spec() {
    let m = Machine::consistent();
    write(
        &m.root().join("etc/cdi/nvidia.yaml"),
        &cdi_spec("535.183.01"),
    );
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "hardware/gpu",
        "cdi-spec",
        &["/etc/cdi/nvidia.yaml", "535.183.01", "550.78"],
        &[
            "nvidia-ctk cdi generate",
            "nvidia-container-toolkit-cdi-generator",
        ],
    );
    // A good spec beside the stale one hides nothing.
    write(&m.root().join("run/cdi/nvidia.yaml"), &cdi_spec(MODULE));
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "hardware/gpu",
        "cdi-spec",
        &["/etc/cdi/nvidia.yaml", "535.183.01"],
        &["nvidia-ctk"],
    );
    fs::remove_file(m.root().join("run/cdi/nvidia.yaml")).unwrap();
    // No spec at all, with the runtime declared.
    fs::remove_file(m.root().join("etc/cdi/nvidia.yaml")).unwrap();
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "hardware/gpu",
        "cdi-spec",
        &["no CDI spec"],
        &["containerRuntime"],
    );
}

#[test]
fn amd_declared_on_an_nvidia_and_intel_machine_fails() {
    let m = Machine::consistent();
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"gpu": {"type": "amd"}}"#,
    );
    let o = m.doctor(&[]);
    assert_eq!(code(&o), 1);
    let all = checks(&o);
    let t = find(&all, "hardware/gpu", "type");
    assert_eq!(t["status"], "fail");
    assert!(t["evidence"].as_str().unwrap().contains(
        "declared amd; found intel 0000:00:02.0 (driver i915), nvidia 0000:01:00.0 (driver nvidia)"
    ));
    assert_eq!(
        t["fix"],
        "hwc.infrastructure.hardware.gpu.type = \"nvidia\";"
    );
    assert_eq!(find(&all, "hardware/gpu", "accel")["status"], "fail");
}

#[test]
fn a_user_outside_render_fails_with_the_nixos_line() {
    if !is_root() {
        skip("the render nodes' group needs root to set (tests/run runs as root)");
        return;
    }
    let m = Machine::consistent();
    m.groups(&["audio", "video"]);
    let o = m.doctor(&[]);
    assert_eq!(code(&o), 1);
    let all = checks(&o);
    let groups = find(&all, "hardware/permissions", "groups:media");
    assert_eq!(groups["status"], "fail");
    assert!(groups["fix"]
        .as_str()
        .unwrap()
        .starts_with("users.users.eric.extraGroups = [ \"render\" ];"));
    let node = find(&all, "hardware/gpu", "render-node");
    assert_eq!(node["status"], "fail", "{node}");
    assert!(node["evidence"]
        .as_str()
        .unwrap()
        .contains("/dev/dri/renderD129"));
    assert_eq!(
        node["fix"],
        "users.users.eric.extraGroups = [ \"render\" ];"
    );
    let devices = find(&all, "hardware/permissions", "devices:media");
    assert_eq!(devices["status"], "fail", "{devices}");
    assert!(devices["evidence"]
        .as_str()
        .unwrap()
        .contains("/dev/dri/renderD128 (other), /dev/dri/renderD129 (other)"));
    assert!(devices["fix"]
        .as_str()
        .unwrap()
        .starts_with("users.users.eric.extraGroups = [ \"render\" ];"));
    assert_eq!(failed(&all).len(), 3, "{:?}", failed(&all));
}

#[test]
fn a_group_writable_ssh_directory_fails() {
    let m = Machine::consistent();
    let ssh = m.root().join(format!("home/{USER}/.ssh"));
    chmod(&ssh, 0o770);
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "session/services",
        "strict-modes",
        &["bad ownership or modes for directory", ".ssh", "the group"],
        &["chmod 700"],
    );
    chmod(&ssh, 0o700);
    fs::write(ssh.join("authorized_keys"), "ssh-ed25519 AAAA mine\n").unwrap();
    let o = m.doctor(&[]);
    fails_alone(
        &o,
        "session/services",
        "authorized-keys",
        &["no block managed by setup-ssh-keys"],
        &["setup-ssh-keys eric"],
    );
}

#[test]
fn undeclared_checks_are_skipped_and_the_declaration_is_checked() {
    let m = Machine::consistent();
    fs::remove_file(m.root().join("etc/hwc/declared.json")).unwrap();
    let o = m.doctor(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let all = checks(&o);
    assert!(all.iter().all(|c| c["status"] == "skip"), "{all:#?}");
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"gpu": {"type": "matrox"}}"#,
    );
    // A declaration that cannot be read is a failed check, in the report and in the gauges,
    // never an old metrics file left saying all is well.
    let prom = m.root().join("hwc-doctor.prom");
    let o = m.doctor(&["--prometheus", prom.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let all = checks(&o);
    let d = find(&all, "doctor", "declaration");
    assert_eq!(d["status"], "fail");
    assert!(d["evidence"]
        .as_str()
        .unwrap()
        .contains("/etc/hwc/declared.json: gpu.type 'matrox'"));
    let text = fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("hwc_check_ok{bucket=\"doctor\",check=\"declaration\"} 0\n"),
        "{text}"
    );
    write(&m.root().join("etc/hwc/declared.json"), DECLARED);
    // A declared SSH user who is not a user is a failure, not silence.
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"ssh": {"user": "bob"}}"#,
    );
    let o = m.doctor(&[]);
    let all = checks(&o);
    let keys = find(&all, "session/services", "authorized-keys");
    assert_eq!(keys["status"], "fail", "{keys}");
    assert!(keys["evidence"]
        .as_str()
        .unwrap()
        .contains("'bob' is not in /etc/passwd"));
    write(&m.root().join("etc/hwc/declared.json"), DECLARED);
    let o = m.doctor(&["--user", "nobody-here"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

#[test]
fn a_declared_bridge_missing_fails_and_a_kept_one_passes() {
    let Some(ns) = Netns::new("docbr") else {
        return;
    };
    let m = Machine::consistent();
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"bridges": {"br-doc": ["10.77.0.1/24", "fd00:77::1/64"]}}"#,
    );
    let doctor = || m.doctor_in(&ns);
    fails_alone(
        &doctor(),
        "mesh",
        "bridge:br-doc",
        &["br-doc does not exist"],
        &["hwc-netlink ensure-bridge br-doc 10.77.0.1/24 fd00:77::1/64"],
    );
    let made = ns.exec_hwc(["hwc-netlink", "ensure-bridge", "br-doc", "10.77.0.1/24"]);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    fails_alone(
        &doctor(),
        "mesh",
        "bridge:br-doc",
        &["lacks fd00:77::1/64"],
        &["ensure-bridge"],
    );
    let made = ns.exec_hwc(["hwc-netlink", "ensure-bridge", "br-doc", "fd00:77::1/64"]);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    let o = doctor();
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert_eq!(find(&checks(&o), "mesh", "bridge:br-doc")["status"], "ok");
}

/// A container network over an overlay, as the NixOS module declares it: made as declared, the
/// doctor passes; then a missing peer entry, a wrong VNI and an MTU above the underlay's each
/// fail alone, naming what differs and the line that fixes it.
#[test]
fn a_declared_network_is_checked_link_by_link() {
    let Some(ns) = Netns::new("docnet") else {
        return;
    };
    let m = Machine::consistent();
    let declared = r#"{"networks": {"media": {"bridge": "hwc-media", "address": "10.77.0.1/24",
        "overlay": {"link": "vx-4242", "vni": 4242, "port": 4789, "local": "192.0.2.1",
                    "underlay": "wg0", "peers": ["192.0.2.2", "192.0.2.3"], "mtu": 1370},
        "podman": true, "docker": false}}}"#;
    write(&m.root().join("etc/hwc/declared.json"), declared);
    let podman = m.root().join("etc/containers/networks/media.json");
    std::fs::create_dir_all(podman.parent().unwrap()).unwrap();
    write(
        &podman,
        r#"{"name": "media", "driver": "bridge", "network_interface": "hwc-media",
            "subnets": [{"subnet": "10.77.0.0/24", "gateway": "10.77.0.1"}]}"#,
    );
    let run = |args: &[&str]| {
        let o = ns.exec_hwc(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    };
    let doctor = || m.doctor_in(&ns);
    // The underlay: WireGuard's MTU.
    run(&[
        "hwc-netlink",
        "link",
        "add",
        "wg0",
        "type",
        "veth",
        "peer",
        "name",
        "wg1",
    ]);
    run(&["hwc-netlink", "link", "set", "wg0", "mtu", "1420", "up"]);
    run(&["hwc-netlink", "addr", "add", "192.0.2.1/24", "dev", "wg0"]);
    let ensure = [
        "hwc-netlink",
        "ensure-overlay",
        "vx-4242",
        "--vni",
        "4242",
        "--bridge",
        "hwc-media",
        "--local",
        "192.0.2.1",
        "--dev",
        "wg0",
        "--mtu",
        "1370",
        "--peer",
        "192.0.2.2",
        "--peer",
        "192.0.2.3",
    ];
    run(&["hwc-netlink", "ensure-bridge", "hwc-media", "10.77.0.1/24"]);
    run(&ensure);
    let o = doctor();
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let all = checks(&o);
    for check in ["bridge", "overlay", "peers", "mtu", "podman"] {
        let c = find(&all, "mesh", &format!("network:media:{check}"));
        assert_eq!(c["status"], "ok", "{c}");
    }

    // A peer's entry gone.
    run(&[
        "hwc-netlink",
        "fdb",
        "del",
        "00:00:00:00:00:00",
        "dev",
        "vx-4242",
        "dst",
        "192.0.2.3",
    ]);
    fails_alone(
        &doctor(),
        "mesh",
        "network:media:peers",
        &["vx-4242: no entry toward 192.0.2.3"],
        &[
            "systemctl restart hwc-network-media",
            "hwc.infrastructure.mesh.containerNetworking.networks.media.overlay.peers",
        ],
    );
    // On another distribution, which has no hwc-network unit, the fix is the commands that make
    // the network as declared; run as given, they mend it.
    write(&m.root().join("etc/os-release"), DEBIAN);
    let o = doctor();
    let c = find(&checks(&o), "mesh", "network:media:peers").clone();
    let fix = c["fix"].as_str().unwrap();
    assert!(
        !fix.contains("hwc.infrastructure") && !fix.contains("systemctl"),
        "{fix}"
    );
    let commands = fix.split(" (").next().unwrap();
    assert_eq!(
        commands,
        "hwc-netlink ensure-bridge hwc-media 10.77.0.1/24; hwc-netlink ensure-overlay vx-4242 \
         --vni 4242 --bridge hwc-media --port 4789 --local 192.0.2.1 --dev wg0 \
         --peer 192.0.2.2 --peer 192.0.2.3 --mtu 1370"
    );
    for command in commands.split("; ") {
        run(&command.split(' ').collect::<Vec<_>>());
    }
    assert_eq!(code(&doctor()), 0, "{}", stdout(&doctor()));
    // podman's file, as the fix says to write it: the gateway is the host's address alone.
    let kept = fs::read(&podman).unwrap();
    fs::remove_file(&podman).unwrap();
    let c = find(&checks(&doctor()), "mesh", "network:media:podman").clone();
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("with 10.77.0.1 as its gateway"),
        "{c}"
    );
    fs::write(&podman, kept).unwrap();
    write(&m.root().join("etc/os-release"), NIXOS);

    // An MTU above what the underlay carries (the underlay's lowered under it: the kernel keeps
    // the overlay's).
    run(&["hwc-netlink", "link", "set", "wg0", "mtu", "1400"]);
    fails_alone(
        &doctor(),
        "mesh",
        "network:media:mtu",
        &["vx-4242 MTU 1370 + VXLAN's 50 bytes is over wg0's 1400"],
        &["hwc.infrastructure.mesh.containerNetworking.networks.media.overlay.underlayMtu = 1400;"],
    );
    run(&["hwc-netlink", "link", "set", "wg0", "mtu", "1420"]);

    // The overlay down, then with another MTU than the containers were given.
    run(&["hwc-netlink", "link", "set", "vx-4242", "down"]);
    fails_alone(
        &doctor(),
        "mesh",
        "network:media:overlay",
        &["vx-4242 is down"],
        &["systemctl restart hwc-network-media"],
    );
    run(&["hwc-netlink", "link", "set", "vx-4242", "up", "mtu", "1300"]);
    fails_alone(
        &doctor(),
        "mesh",
        "network:media:mtu",
        &["vx-4242 has MTU 1300, not the declared 1370"],
        &["hwc-netlink link set vx-4242 mtu 1370"],
    );
    run(&["hwc-netlink", "link", "set", "vx-4242", "mtu", "1370"]);

    // The link remade with another VNI (by hand, behind hwc's back).
    run(&["hwc-netlink", "link", "del", "vx-4242"]);
    run(&[
        "hwc-netlink",
        "link",
        "add",
        "vx-4242",
        "type",
        "vxlan",
        "id",
        "7",
        "dstport",
        "4789",
        "local",
        "192.0.2.1",
        "dev",
        "wg0",
    ]);
    run(&[
        "hwc-netlink",
        "link",
        "set",
        "vx-4242",
        "master",
        "hwc-media",
        "mtu",
        "1370",
        "up",
    ]);
    fails_alone(
        &doctor(),
        "mesh",
        "network:media:overlay",
        &["vx-4242 has VNI 7, not the declared 4242"],
        &["hwc-netlink link del vx-4242; systemctl restart hwc-network-media"],
    );
    let metrics = ns.exec_hwc([
        OsStr::new("hwc-doctor"),
        OsStr::new("--prometheus"),
        OsStr::new("-"),
        OsStr::new("--root"),
        m.root().as_os_str(),
    ]);
    let text = stdout(&metrics);
    assert!(
        text.contains("hwc_network_ok{network=\"media\"} 0"),
        "{text}"
    );
}

/// The kernel's answers failing (every rtnetlink request refused, by strace) is no absence: the
/// networks' check fails naming the read, and no check says the declared bridge does not exist.
#[test]
fn a_failed_rtnetlink_read_is_no_absent_network() {
    if !have("strace") {
        return;
    }
    let Some(ns) = Netns::new("docnlerr") else {
        return;
    };
    let m = Machine::consistent();
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"networks": {"media": {"bridge": "hwc-media", "address": "10.77.0.1/24",
            "podman": false, "docker": false}}}"#,
    );
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "strace",
            "-f",
            "-qq",
            "-o",
            "/dev/null",
        ])
        .args(["-e", "trace=sendto", "-e", "inject=sendto:error=EIO"])
        .arg(hwc())
        .args(["hwc-doctor", "--json", "--root"])
        .arg(m.root())
        .output()
        .unwrap();
    let all = checks(&o);
    let networks = find(&all, "mesh", "networks");
    assert_eq!(networks["status"], "fail", "{networks}");
    assert!(
        networks["evidence"]
            .as_str()
            .unwrap()
            .starts_with("rtnetlink: the addresses:"),
        "{networks}"
    );
    let said = failed(&all).join("\n");
    assert!(!said.contains("does not exist"), "{said}");
}

/// A session bus for the user: a real dbus-daemon running as the user on
/// ROOT/run/user/UID/bus, with `services` as activatable names.
struct Session {
    daemon: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Session {
    fn start(m: &Machine, services: &[&str]) -> Option<Session> {
        if !have("dbus-daemon") {
            return None;
        }
        let runtime = m.root().join(format!("run/user/{}", m.uid));
        fs::create_dir_all(&runtime).unwrap();
        chmod(&m.root().join("run/user"), 0o755);
        chmod(&runtime, 0o700);
        std::os::unix::fs::chown(&runtime, Some(m.uid), None).unwrap();
        // A killed daemon leaves its socket behind.
        let _ = fs::remove_file(runtime.join("bus"));
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        let services_dir = dir.path().join("services");
        fs::create_dir(&services_dir).unwrap();
        for name in services {
            fs::write(
                services_dir.join(format!("{name}.service")),
                format!("[D-BUS Service]\nName={name}\nExec=/bin/false\n"),
            )
            .unwrap();
        }
        let config = dir.path().join("session.conf");
        fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\
                 <type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
                 <servicedir>{}</servicedir><policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                runtime.join("bus").display(),
                services_dir.display()
            ),
        )
        .unwrap();
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={}", m.uid),
                "--regid=100",
                "--clear-groups",
                "--",
                "dbus-daemon",
            ]);
            c
        } else {
            Command::new("dbus-daemon")
        };
        let daemon = cmd
            .arg("--nofork")
            .arg(format!("--config-file={}", config.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !runtime.join("bus").exists() {
            assert!(start.elapsed().as_secs() < 10, "dbus-daemon did not start");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Some(Session { daemon, _dir: dir })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn the_session_checks_run_as_the_user_against_their_bus() {
    // dbus-daemon needs its user in the system's own passwd: a real user when root.
    let m = if is_root() {
        Machine::for_uid(sshd::ensure_login_user("hwc-doctor-test"))
    } else {
        Machine::consistent()
    };
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"permissions": {"user": "eric", "sets": []}, "apps": ["chromium"]}"#,
    );
    // No runtime directory: no session, skipped.
    let o = m.doctor(&[]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert_eq!(
        find(&checks(&o), "session/user", "session")["status"],
        "skip"
    );

    let Some(session) = Session::start(&m, &["org.freedesktop.portal.Desktop"]) else {
        return;
    };
    let o = m.doctor(&[]);
    let all = checks(&o);
    assert_eq!(
        find(&all, "session/user", "session-bus")["status"],
        "ok",
        "{all:#?}"
    );
    assert_eq!(
        find(&all, "session/user", "user-manager")["status"],
        "skip",
        "no systemd user manager on this bus"
    );
    // No user manager to say whether a graphical session runs: an absent session.env is news,
    // not a failure.
    let env = find(&all, "session/user", "session-env");
    assert_eq!(env["status"], "skip", "{env}");
    let app = find(&all, "session/user", "app:chromium");
    assert_eq!(app["status"], "fail");
    assert!(app["evidence"].as_str().unwrap().contains("ca.desrt.dconf"));
    assert_eq!(
        app["fix"],
        "hwc.infrastructure.session.chromium.enable = true;"
    );
    drop(session);

    let Some(_session) = Session::start(&m, &["org.freedesktop.portal.Desktop", "ca.desrt.dconf"])
    else {
        return;
    };
    // Root's own XDG_RUNTIME_DIR is not the user's: a session.env there must not count.
    if is_root() {
        let other = tempfile::tempdir().unwrap();
        write(
            &other.path().join("hwc/session.env"),
            "HWC_GPU_TYPE=nvidia\n",
        );
        let o = Command::new(hwc())
            .args(["hwc-doctor", "--json", "--root"])
            .arg(m.root())
            .env("XDG_RUNTIME_DIR", other.path())
            .output()
            .unwrap();
        let all = checks(&o);
        assert_eq!(find(&all, "session/user", "session-env")["status"], "skip");
    }
    let env_file = m.root().join(format!("run/user/{}/hwc/session.env", m.uid));
    write(&env_file, "HWC_GPU_TYPE=nvidia\n");
    let o = m.doctor(&[]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let all = checks(&o);
    assert_eq!(find(&all, "session/user", "app:chromium")["status"], "ok");
    assert_eq!(find(&all, "session/user", "session-env")["status"], "ok");

    // The user's own `chmod 000` on the runtime directory: what cannot be looked at is a
    // failure naming it, never "no session bus".
    if is_root() {
        let runtime = m.root().join(format!("run/user/{}", m.uid));
        chmod(&runtime, 0o000);
        let o = m.doctor(&[]);
        chmod(&runtime, 0o700);
        assert_eq!(code(&o), 1, "{}", stdout(&o));
        let bus = find(&checks(&o), "session/user", "session-bus").clone();
        assert_eq!(bus["status"], "fail", "{bus}");
        assert!(
            bus["evidence"]
                .as_str()
                .unwrap()
                .contains("cannot be looked at: Permission denied"),
            "{bus}"
        );
    }
}

#[test]
fn what_a_user_points_the_doctor_at_is_looked_at_not_opened() {
    let m = Machine::consistent();
    // authorized_keys made a link to a device node: judged by what it leads to, never opened.
    let keys = m.root().join(format!("home/{USER}/.ssh/authorized_keys"));
    fs::remove_file(&keys).unwrap();
    std::os::unix::fs::symlink("/dev/null", &keys).unwrap();
    if have("strace") {
        let log = m.root().join("strace.log");
        let o = m.doctor_traced(&["-f", "-qq", "-e", "trace=open,openat,openat2"], &log);
        let trace = fs::read_to_string(&log).unwrap();
        // Looked at through O_PATH handles (which open nothing), never opened to read.
        let opened: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("\"/dev/null\"") || l.contains("/authorized_keys\""))
            .filter(|l| !l.contains("O_PATH"))
            .collect();
        assert!(opened.is_empty(), "opened: {opened:#?}");
        let all = checks(&o);
        let c = find(&all, "session/services", "authorized-keys");
        assert_eq!(c["status"], "fail");
        assert!(
            c["evidence"]
                .as_str()
                .unwrap()
                .contains("not a regular file"),
            "{c}"
        );
    }
    // A device node that cannot be judged is no pass.
    std::os::unix::fs::symlink("/nonexistent", m.root().join("dev/dri/renderD200")).unwrap();
    let o = m.doctor(&[]);
    let all = checks(&o);
    let c = find(&all, "hardware/permissions", "devices:media");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["evidence"].as_str().unwrap().contains("cannot judge"),
        "{c}"
    );
}

/// `--prometheus FILE` writes a file only: at a device, a link, a FIFO, a socket, a directory or
/// another user's file it refuses, naming it, and replaces nothing; its directory is reached
/// with no link on the way; a killed run's temporary file is cleaned; `-` is standard output.
#[test]
fn the_metrics_file_is_a_file_or_nothing() {
    let m = Machine::consistent();
    let dir = m.root().join("textfiles");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let file = dir.join("hwc-doctor.prom");
    let victim = m.root().join("victim");
    fs::write(&victim, "secret\n").unwrap();
    chmod(&victim, 0o600);
    let refused = |what: &str, says: &str| {
        let before = fs::symlink_metadata(&file).map(|md| (md.ino(), md.mode()));
        let o = m.doctor(&["--prometheus", file.to_str().unwrap()]);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{what}: {}", stderr(&o));
        let after = fs::symlink_metadata(&file).map(|md| (md.ino(), md.mode()));
        assert_eq!(before.ok(), after.ok(), "{what}: nothing replaced");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "secret\n");
        let _ = fs::remove_file(&file);
        let _ = fs::remove_dir(&file);
    };
    std::os::unix::fs::symlink(&victim, &file).unwrap();
    refused("a link", "is a symbolic link, not a regular file");
    nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    refused("a FIFO", "is a FIFO, not a regular file");
    let socket = std::os::unix::net::UnixListener::bind(&file).unwrap();
    refused("a socket", "not a regular file");
    drop(socket);
    fs::create_dir(&file).unwrap();
    refused("a directory", "is a directory, not a regular file");
    if is_root() {
        nix::sys::stat::mknod(
            &file,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        refused("a character device", "not a regular file");
        fs::write(&file, "theirs\n").unwrap();
        std::os::unix::fs::chown(&file, Some(4243), None).unwrap();
        refused("another user's file", "belongs to uid 4243");
        // A directory reached through a link (another user's): refused at the link.
        let through = m.root().join("through");
        std::os::unix::fs::symlink(&dir, &through).unwrap();
        std::os::unix::fs::lchown(&through, Some(4243), None).unwrap();
        let o = m.doctor(&[
            "--prometheus",
            through.join("hwc-doctor.prom").to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
        assert!(!file.exists());
    } else {
        skip("a device node and another user's file need root (tests/run runs as root)");
    }
    // A directory others may write: refused. Sticky (as /tmp): written.
    chmod(&dir, 0o777);
    refused(
        "a world-writable directory",
        "others may write this directory",
    );
    chmod(&dir, 0o1777);
    // A killed run's temporary file is cleaned, and the file is written with its mode.
    fs::write(dir.join("hwc-doctor.prom.tmp.99999"), "half\n").unwrap();
    let o = m.doctor(&["--prometheus", file.to_str().unwrap()]);
    assert!([0, 1].contains(&code(&o)), "{}", stderr(&o));
    assert!(!stderr(&o).contains("prometheus"), "{}", stderr(&o));
    let meta = fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["hwc-doctor.prom"], "{names:?}");
    // Over its own earlier file: replaced.
    let o = m.doctor(&["--prometheus", file.to_str().unwrap()]);
    assert!([0, 1].contains(&code(&o)), "{}", stderr(&o));
    assert!(fs::read_to_string(&file)
        .unwrap()
        .contains("# TYPE hwc_check_ok gauge"));
    // `-`: the gauges on standard output, with the JSON report elsewhere not mixed in.
    let o = Command::new(hwc())
        .args(["hwc-doctor", "--prometheus", "-", "--root"])
        .arg(m.root())
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("# TYPE hwc_check_ok gauge"),
        "{}",
        stdout(&o)
    );
}

/// Under umask 0, root's temporary metrics file is created 0644 (never 0666, even for a moment:
/// a user watching the directory could open it for writing).
#[test]
fn the_metrics_file_is_never_writable_by_others_under_umask_0() {
    if !have("strace") {
        return;
    }
    let m = Machine::consistent();
    let dir = m.root().join("textfiles");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let file = dir.join("hwc-doctor.prom");
    let trace = m.root().join("trace");
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 0; exec strace -f -qq -e trace=openat,chmod,fchmod,fchmodat -o \"$0\" \"$@\"")
        .arg(&trace)
        .arg(hwc())
        .args(["hwc-doctor", "--prometheus"])
        .arg(&file)
        .arg("--root")
        .arg(m.root())
        .output()
        .unwrap();
    assert!([0, 1].contains(&code(&o)), "{}", stderr(&o));
    let text = fs::read_to_string(&trace).unwrap();
    let creates: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("hwc-doctor.prom.tmp") && l.contains("O_CREAT"))
        .collect();
    assert_eq!(creates.len(), 1, "{text}");
    assert!(
        creates[0].contains("O_EXCL") && creates[0].contains(", 0644)"),
        "{}",
        creates[0]
    );
    assert!(!text.contains("0666"), "{text}");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

/// A user holding the lock of the textfile directory (anyone who may read a directory may flock
/// it) cannot hold up root's metrics write: root's runs lock a file of root's alone.
#[test]
fn another_users_lock_on_the_textfile_directory_holds_up_nothing() {
    if !is_root() {
        skip("another user's lock: needs root");
        return;
    }
    if !have("flock") {
        return;
    }
    let m = Machine::consistent();
    let dir = m.root().join("textfiles");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let file = dir.join("hwc-doctor.prom");
    let mut holder = Command::new("setpriv")
        .args(["--reuid=4243", "--regid=4243", "--clear-groups", "--"])
        .args(["flock", "-x"])
        .arg(&dir)
        .args(["sh", "-c", "echo locked; exec sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The doctor starts only once the lock is held (its holder says so from under it).
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut said,
    )
    .unwrap();
    assert_eq!(said, "locked\n", "the holder took the lock");
    let start = std::time::Instant::now();
    let o = m.doctor(&["--prometheus", file.to_str().unwrap()]);
    let took = start.elapsed();
    let held = holder.try_wait().unwrap().is_none();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        held,
        "the holder was still holding the lock while the doctor ran"
    );
    assert!([0, 1].contains(&code(&o)), "{}", stderr(&o));
    assert!(took < std::time::Duration::from_secs(5), "held up {took:?}");
    assert!(
        fs::read_to_string(&file)
            .unwrap()
            .contains("# TYPE hwc_check_ok gauge"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_doctor_run_wakes_no_gpu() {
    let m = Machine::consistent();
    let mut cmd = Command::new(hwc());
    cmd.args(["hwc-doctor", "--root"]).arg(m.root());
    let Some((o, paths)) = strace_opens(&mut cmd, false) else {
        return;
    };
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // Directories under /dev are listed (which wakes nothing), absent ones tried; no node is
    // opened.
    let woken: Vec<&String> = waking_paths(&paths)
        .into_iter()
        .filter(|p| PathBuf::from(p).exists() && !PathBuf::from(p).is_dir())
        .collect();
    assert!(woken.is_empty(), "opened {woken:?}");
    assert!(
        paths.iter().any(|p| p.ends_with("/dev/dri")),
        "the render nodes were looked at: {paths:?}"
    );
}

/// A private system bus with the stand-in systemd manager holding `units`; its address.
struct SystemBus {
    _dir: tempfile::TempDir,
    daemon: std::process::Child,
    manager: std::process::Child,
    address: String,
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        for c in [&mut self.manager, &mut self.daemon] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl SystemBus {
    fn start(units: &[(&str, &str)]) -> Option<SystemBus> {
        if !have("dbus-daemon") || !have("dbus-send") || !systemd_standin::ready() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("system_bus_socket");
        let config = dir.path().join("system.conf");
        write(
            &config,
            &format!(
                // The daemon's type only picks defaults; what matters is who may talk.
                "<busconfig><type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
                socket.display()
            ),
        );
        let daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !socket.exists() {
            assert!(start.elapsed().as_secs() < 10, "dbus-daemon did not start");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        chmod(dir.path(), 0o755);
        chmod(&socket, 0o777);
        let address = format!("unix:path={}", socket.display());
        let manager = systemd_standin::start(&address, &dir.path().join("env"), units);
        Some(SystemBus {
            _dir: dir,
            daemon,
            manager,
            address,
        })
    }
}

/// The ssh-unit check of the consistent machine, asked of a systemd holding `units`, with the
/// machine marked NixOS or not.
fn ssh_unit(units: &[(&str, &str)], nixos: bool) -> Option<Value> {
    let bus = SystemBus::start(units)?;
    let m = Machine::consistent();
    if nixos {
        write(&m.root().join("etc/os-release"), NIXOS);
    } else {
        write(&m.root().join("etc/os-release"), DEBIAN);
    }
    let o = Command::new(hwc())
        .args(["hwc-doctor", "--json", "--root"])
        .arg(m.root())
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    assert!([0, 1].contains(&code(&o)), "{}{}", stdout(&o), stderr(&o));
    Some(find(&checks(&o), "session/services", "ssh-unit").clone())
}

#[test]
fn the_key_unit_is_found_by_the_name_its_install_gave_it() {
    // install.sh's template, its instance active: pass, named so.
    let Some(c) = ssh_unit(&[("setup-ssh-keys@eric.service", "active")], false) else {
        return;
    };
    assert_eq!(c["status"], "ok", "{c}");
    assert!(
        c["evidence"]
            .as_str()
            .unwrap()
            .contains("setup-ssh-keys@eric.service is active"),
        "{c}"
    );
    // Not there on Debian: the fix in install.sh's terms, never NixOS's.
    let c = ssh_unit(&[("setup-ssh-keys-eric.service", "active")], false).unwrap();
    assert_eq!(c["status"], "fail", "{c}");
    let fix = c["fix"].as_str().unwrap();
    assert!(
        fix.contains("install.sh")
            && fix.contains("systemctl enable --now setup-ssh-keys@eric.service"),
        "{fix}"
    );
    assert!(!fix.contains("hwc.infrastructure"), "{fix}");
    // A oneshot that ran ends inactive, on either install.
    let c = ssh_unit(&[("setup-ssh-keys@eric.service", "inactive")], false).unwrap();
    assert_eq!(c["status"], "ok", "{c}");
    // On NixOS the module's unit, whose oneshot ends inactive: pass; missing: the NixOS option.
    let c = ssh_unit(&[("setup-ssh-keys-eric.service", "inactive")], true).unwrap();
    assert_eq!(c["status"], "ok", "{c}");
    let c = ssh_unit(&[("setup-ssh-keys@eric.service", "active")], true).unwrap();
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("hwc.infrastructure.session.services.enable"),
        "{c}"
    );
    let c = ssh_unit(&[("setup-ssh-keys-eric.service", "failed")], true).unwrap();
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["fix"]
        .as_str()
        .unwrap()
        .contains("journalctl -u setup-ssh-keys-eric.service"));
}

#[test]
fn a_user_facing_a_root_only_secret_is_told_so_not_that_it_is_absent() {
    if !is_root() {
        skip("running the doctor as another user needs root (tests/run runs as root)");
        return;
    }
    let m = Machine::consistent();
    // agenix's directory: root's, 0751 mount point and a 0400 secret in a 0700 directory here.
    let agenix = m.root().join("run/agenix");
    chmod(&agenix, 0o700);
    let o = Command::new("setpriv")
        .args(["--reuid=4242", "--regid=100", "--clear-groups", "--"])
        .arg(hwc())
        .args(["hwc-doctor", "--json", "--root"])
        .arg(m.root())
        .output()
        .unwrap();
    let c = find(&checks(&o), "session/services", "ssh-secret").clone();
    assert_eq!(c["status"], "warn", "{c}");
    let evidence = c["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("not visible to uid 4242") && !evidence.contains("absent"),
        "{evidence}"
    );
    assert!(c["fix"].as_str().unwrap().contains("as root"), "{c}");
    // As root, the same secret is there.
    let c = find(&checks(&m.doctor(&[])), "session/services", "ssh-secret").clone();
    assert_eq!(c["status"], "ok", "{c}");
}

/// A read error on the pipe from the worker (the checks run as the user) is an error: the run
/// fails the worker check, naming the read, instead of taking it as the end of the report.
#[test]
fn a_read_error_on_the_workers_pipe_fails_the_run() {
    if !is_root() {
        skip("the worker drops to the user, which needs root (tests/run runs as root)");
        return;
    }
    if !have("strace") {
        return;
    }
    let m = Machine::consistent();
    let trace = m.root().join("reads");
    let doctor = |strace: &[&str]| m.doctor_traced(strace, &trace);
    // Which of this process's reads is the first on the worker's pipe (strace -y names it).
    let o = doctor(&["-y", "-e", "trace=read"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let reads = fs::read_to_string(&trace).unwrap();
    let nth = reads
        .lines()
        .filter(|l| l.starts_with("read("))
        .position(|l| l.contains("<pipe:"))
        .unwrap_or_else(|| panic!("no read of the pipe: {reads}"))
        + 1;
    let o = doctor(&[
        "-e",
        "trace=read",
        "-e",
        &format!("inject=read:error=EIO:when={nth}"),
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let all = checks(&o);
    let worker = find(&all, "session/services", "worker");
    assert_eq!(worker["status"], "fail", "{worker}");
    assert!(
        worker["evidence"]
            .as_str()
            .unwrap()
            .contains("reading what the worker acting as uid 4242 wrote"),
        "{worker}"
    );
}

/// The worker stopped (the user can stop a process of theirs; strace stops it as it drops to the
/// user): the doctor kills it at its 15 s deadline and fails the check naming why, not waiting
/// for ever, and no worker is left behind.
#[test]
fn a_stopped_worker_is_killed_at_its_deadline() {
    if !is_root() {
        skip("the worker drops to the user, which needs root (tests/run runs as root)");
        return;
    }
    if !have("strace") {
        return;
    }
    let m = Machine::consistent();
    let trace = m.root().join("trace");
    let started = std::time::Instant::now();
    let o = m.doctor_traced(
        &[
            "-f",
            "-qq",
            "-e",
            "trace=setgroups,kill",
            "-e",
            "inject=setgroups:signal=SIGSTOP",
        ],
        &trace,
    );
    let took = started.elapsed();
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let all = checks(&o);
    let worker = find(&all, "session/services", "worker");
    assert_eq!(worker["status"], "fail", "{worker}");
    assert!(
        worker["evidence"]
            .as_str()
            .unwrap()
            .contains("did not finish within 15 s; killed it"),
        "{worker}"
    );
    assert!(
        took >= std::time::Duration::from_secs(14) && took < std::time::Duration::from_secs(45),
        "ended after {took:?}"
    );
    // The stop happened in the worker, and the doctor's SIGKILL ended it.
    let log = fs::read_to_string(&trace).unwrap();
    assert!(log.contains("SIGSTOP"), "{log}");
    assert!(log.contains("SIGKILL"), "{log}");
}

/// A fault at any call of the run (its worker's included): the metrics file is the old one or a
/// complete new one (every line a comment or a sample, the last one ended), 0644, with no
/// temporary file left.
#[test]
fn a_fault_at_any_write_call_leaves_old_or_complete_metrics() {
    if !have("strace") {
        return;
    }
    let m = Machine::consistent();
    let dir = m.root().join("textfiles");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let file = dir.join("hwc-doctor.prom");
    let old = "# HELP hwc_old an earlier run\n# TYPE hwc_old gauge\nhwc_old 1\n".to_string();
    let complete = |text: &str| {
        text.ends_with('\n')
            && text.contains("# TYPE hwc_check_ok gauge\n")
            && text.lines().all(|l| {
                l.starts_with("# HELP ")
                    || l.starts_with("# TYPE ")
                    || l.rsplit_once(' ')
                        .is_some_and(|(_, v)| v.parse::<u64>().is_ok())
            })
    };
    let trace = m.root().join("strace.out");
    let (injected, runs) = common::faults::sweep(
        &trace,
        &common::faults::WRITE_PATH_CALLS,
        60,
        || {
            let _ = fs::remove_file(&file);
            fs::write(&file, &old).unwrap();
            chmod(&file, 0o644);
        },
        || {
            let mut c = Command::new(hwc());
            c.args(["hwc-doctor", "--prometheus"])
                .arg(&file)
                .arg("--root")
                .arg(m.root());
            c
        },
        |call, n, o| {
            let text = fs::read_to_string(&file).unwrap();
            assert!(
                text == old || complete(&text),
                "{call} #{n}: neither the old file nor a complete one:\n{text}\n{}",
                stderr(o)
            );
            assert!(
                o.status.code().is_some(),
                "{call} #{n}: {:?}: {}",
                o.status,
                stderr(o)
            );
            common::faults::assert_left_clean(
                &file,
                0o644,
                text == old,
                o,
                &format!("{call} #{n}"),
            );
        },
    );
    eprintln!("fault sweep: {injected} injected faults in {runs} runs");
    assert!(injected >= 40, "only {injected} faults were injected");
}

/// On another distribution every fix the doctor gives is a command to run or a file to change,
/// never a NixOS option (which means nothing there); the same machines marked NixOS get the
/// option lines. Two machines between them fail or warn most checks: one declared AMD (type,
/// accel), one declared NVIDIA without the driver's user space or a CDI spec, its user outside
/// the render group, an SSH user missing from /etc/passwd and OBS's module not loaded.
#[test]
fn on_debian_the_fixes_are_commands_and_files_not_nixos_options() {
    let fixes = |os_release: &str| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for declared in [
            r#"{"gpu": {"type": "amd"}}"#,
            r#"{"gpu": {"type": "nvidia", "containerRuntime": true},
 "permissions": {"user": "eric", "sets": ["media"]},
 "ssh": {"user": "bob"},
 "apps": ["obs", "steam"], "graphics32": ["steam"]}"#,
        ] {
            let m = Machine::consistent();
            write(&m.root().join("etc/os-release"), os_release);
            write(&m.root().join("etc/hwc/declared.json"), declared);
            m.groups(&["audio", "video"]);
            // No render group at all: usermod would add none of the groups it is given.
            let group = fs::read_to_string(m.root().join("etc/group")).unwrap();
            let group: String = group
                .lines()
                .filter(|l| !l.starts_with("render:"))
                .map(|l| format!("{l}\n"))
                .collect();
            write(&m.root().join("etc/group"), &group);
            fs::remove_file(m.root().join("etc/cdi/nvidia.yaml")).unwrap();
            fs::remove_dir_all(m.root().join("run/opengl-driver/lib")).unwrap();
            let o = m.doctor(&[]);
            assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
            for c in checks(&o) {
                if let Some(fix) = c["fix"].as_str() {
                    let name = format!(
                        "{} {}",
                        c["bucket"].as_str().unwrap(),
                        c["check"].as_str().unwrap()
                    );
                    out.push((name, format!("{fix} | {}", c["evidence"].as_str().unwrap())));
                }
            }
        }
        out
    };
    const NIXOS_WORDS: [&str; 7] = [
        "hwc.infrastructure",
        "nixos-rebuild",
        "users.users",
        "age.secrets",
        "hardware.",
        "boot.",
        "extraGroups",
    ];
    let debian = fixes(DEBIAN);
    let named: Vec<&str> = debian.iter().map(|(n, _)| n.as_str()).collect();
    for check in [
        "hardware/gpu type",
        "hardware/gpu accel",
        "hardware/gpu nvidia-versions",
        "hardware/gpu cdi-spec",
        "hardware/gpu render-node",
        "hardware/permissions groups:media",
        "session/services ssh-secret",
        "session/services authorized-keys",
        "session/user app:obs",
    ] {
        assert!(named.contains(&check), "{check} gave no fix: {debian:#?}");
    }
    for (check, fix) in &debian {
        for word in NIXOS_WORDS {
            assert!(!fix.contains(word), "{check}: '{word}' in {fix}");
        }
    }
    let fix_of = |all: &[(String, String)], check: &str| {
        all.iter().find(|(n, _)| n == check).unwrap().1.clone()
    };
    // The node's group has no name here: made, the node's rules applied again, then joined.
    assert!(
        fix_of(&debian, "hardware/gpu render-node").starts_with(
            "groupadd --system render; udevadm trigger; usermod -aG render eric (then log in again)"
        ),
        "{debian:#?}"
    );
    assert!(
        fix_of(&debian, "hardware/permissions groups:media")
            .starts_with("groupadd --system render; usermod -aG render eric (then log in again)"),
        "{debian:#?}"
    );
    assert!(fix_of(&debian, "session/user app:obs").contains("modprobe v4l2loopback"));
    assert!(fix_of(&debian, "session/services authorized-keys").contains("useradd -m bob"));
    assert!(fix_of(&debian, "hardware/gpu cdi-spec").contains("nvidia-ctk cdi generate"));

    // The same machines on NixOS: the option lines, the 32-bit drivers looked for.
    let nixos = fixes(NIXOS);
    assert!(fix_of(&nixos, "hardware/gpu render-node").contains("users.users.eric.extraGroups"));
    assert!(fix_of(&nixos, "hardware/gpu type").contains("hwc.infrastructure.hardware.gpu.type"));
    assert!(fix_of(&nixos, "session/services authorized-keys").contains("users.users.bob"));
    assert!(nixos.iter().any(|(n, _)| n == "session/user app:steam"));
    assert!(!debian.iter().any(|(n, _)| n == "session/user app:steam"));
}

/// On another distribution a bridge's unit is install.sh's template, which passes its instance
/// on as written (`%i`) and takes the addresses from its own file: the fix is the command with
/// the declared addresses, and the unit named with the bridge's own name, `-` and all, with the
/// file it reads. A name a unit name cannot hold as it is (`+`) cannot be the template's
/// instance: the fix is the command alone, never a unit that would make a bridge named
/// `hwc-t\x2blab`.
#[test]
fn on_debian_a_bridge_unit_is_named_with_the_bridges_own_name() {
    let m = Machine::consistent();
    write(&m.root().join("etc/os-release"), DEBIAN);
    let names = ["hwc-t-br-lab", "hwc:t_1.x", "hwc-t+lab"];
    let bridges: Vec<String> = names
        .iter()
        .map(|n| format!("\"{n}\": [\"10.9.0.1/24\"]"))
        .collect();
    write(
        &m.root().join("etc/hwc/declared.json"),
        &format!("{{\"bridges\": {{{}}}}}", bridges.join(", ")),
    );
    let o = m.doctor(&[]);
    let all = checks(&o);
    let fix = |name: &str| {
        let c = find(&all, "mesh", &format!("bridge:{name}"));
        assert_eq!(c["status"], "fail", "{c}");
        c["fix"].as_str().unwrap().to_string()
    };
    for name in &names[..2] {
        assert_eq!(
            fix(name),
            format!(
                "hwc-netlink ensure-bridge {name} 10.9.0.1/24 (at boot hwc-bridge@{name}.service \
                 makes it from BRIDGE_ADDRESSES=\"10.9.0.1/24\" in /etc/hwc/bridge-{name}.env)"
            )
        );
    }
    assert_eq!(
        fix("hwc-t+lab"),
        "hwc-netlink ensure-bridge hwc-t+lab 10.9.0.1/24"
    );
}

/// A user whose name cannot be install.sh's template instance (`+`) is given the command alone,
/// with the secret the declaration names; the key unit is not asked for, saying why.
#[test]
fn on_debian_a_user_no_unit_can_name_gets_the_command_with_the_declared_secret() {
    let m = Machine::consistent();
    write(&m.root().join("etc/os-release"), DEBIAN);
    let passwd = fs::read_to_string(m.root().join("etc/passwd")).unwrap();
    let line = passwd.lines().find(|l| l.starts_with("eric:")).unwrap();
    write(
        &m.root().join("etc/passwd"),
        &format!("{passwd}{}\n", line.replacen("eric:", "eric+x:", 1)),
    );
    write(
        &m.root().join("etc/hwc/declared.json"),
        r#"{"ssh": {"user": "eric+x", "secret": "/etc/hwc/keys of eric"}}"#,
    );
    fs::remove_file(m.root().join("home/eric/.ssh/authorized_keys")).unwrap();
    let o = m.doctor(&[]);
    let all = checks(&o);
    let keys = find(&all, "session/services", "authorized-keys");
    assert_eq!(keys["status"], "fail", "{keys}");
    assert_eq!(
        keys["fix"], "setup-ssh-keys --secret '/etc/hwc/keys of eric' eric+x",
        "{keys}"
    );
    let unit = find(&all, "session/services", "ssh-unit");
    assert_eq!(unit["status"], "skip", "{unit}");
    assert!(
        unit["evidence"]
            .as_str()
            .unwrap()
            .contains("cannot be named"),
        "{unit}"
    );
}

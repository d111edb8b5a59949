//! The hwc.infrastructure NixOS domain (install/nix/infrastructure), evaluated with the real
//! nixpkgs module system (../shared/vendor/nixpkgs-lib, through tests/nix/eval.nix): the seed
//! snippets users write, verbatim; every option on; bad values refused at evaluation with a
//! message naming the option. Then what the evaluation declares is made real: its units are
//! parsed by systemd itself (`systemd --test`) and by `systemd-analyze verify`, and their
//! ExecStart lines, split by systemd's rules, run the built binary against a root made as the
//! evaluation declares it (users, groups, /etc files) — the SSH unit's key must let a real sshd
//! log in.

mod common;

use common::systemd_exec;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The snippets of the domain's documentation, exactly as users write them.
const SEEDS: [(&str, &str); 6] = [
    (
        "gpu",
        r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "nvidia"; nvidia.containerRuntime = true; };"#,
    ),
    (
        "permissions",
        r#"hwc.infrastructure.hardware.permissions = { enable = true; groups = { media = true; hardware = true; development = true; }; };"#,
    ),
    (
        "services",
        r#"hwc.infrastructure.session.services = { enable = true; username = "eric"; };  # username defaults to config.hwc.system.users.user.name"#,
    ),
    (
        "commands",
        r#"hwc.infrastructure.session.commands = { enable = true; gpuLaunch = true; };"#,
    ),
    (
        "chromium",
        r#"hwc.infrastructure.session.chromium.enable = true;"#,
    ),
    (
        "mesh",
        r#"hwc.infrastructure.mesh.containerNetworking.enable = true;"#,
    ),
];

/// Whether nix-instantiate and the vendored nixpkgs lib are here; says why not.
fn nix_ready() -> bool {
    if shared_dir("vendor/nixpkgs-lib/lib").is_none() {
        skip("../shared/vendor/nixpkgs-lib is absent");
        return false;
    }
    if !have("nix-instantiate") {
        skip("nix-instantiate missing (tests/run installs nix-bin as root)");
        return false;
    }
    true
}

/// How the machine is evaluated: where hwc's package is (default: a stand-in store path), the
/// stage 1 it boots with ("systemd", 26.05's default, or "scripted"), agenix's mode
/// ("activation", its default; "sysusers"; "userborn"; or "none": agenix's module not imported),
/// and its platform ("x86_64-linux" or "aarch64-linux").
struct Store<'a> {
    hwc: Option<&'a Path>,
    stage1: &'a str,
    agenix: &'a str,
    system: &'a str,
}

impl Default for Store<'_> {
    fn default() -> Self {
        Store {
            hwc: None,
            stage1: "systemd",
            agenix: "activation",
            system: "x86_64-linux",
        }
    }
}

/// Both stage 1s NixOS boots with: 26.05's default, systemd, and the scripted one users keep.
const STAGE1: [&str; 2] = ["systemd", "scripted"];

/// Evaluates the domain with these configuration modules: the JSON of tests/nix/eval.nix, or
/// nix-instantiate's error text.
fn eval(configs: &[PathBuf], store: &Store) -> Result<Value, String> {
    let list: Vec<String> = configs.iter().map(|c| c.display().to_string()).collect();
    let mut cmd = nix_instantiate();
    cmd.args(["--eval", "--strict", "--json"])
        .arg(repo().join("tests/nix/eval.nix"))
        .args(["--arg", "configs", &format!("[ {} ]", list.join(" "))])
        .args(["--argstr", "stage1", store.stage1])
        .args(["--argstr", "agenix", store.agenix])
        .args(["--argstr", "system", store.system]);
    if let Some(h) = store.hwc {
        cmd.args(["--argstr", "hwcOut"]).arg(h);
    }
    let o = cmd.output().unwrap();
    if code(&o) != 0 {
        return Err(stderr(&o));
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap())
}

/// nix-instantiate as the tests run it: nothing is built, and the machine's nix.conf may name a
/// build group that does not exist.
fn nix_instantiate() -> Command {
    let mut cmd = Command::new("nix-instantiate");
    cmd.env("NIX_CONFIG", "build-users-group =");
    cmd
}

/// A configuration module `{ BODY }` in `dir`.
fn module(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.nix"));
    fs::write(&path, format!("{{\n{body}\n}}\n")).unwrap();
    path
}

/// The users' own system domain (hwc.system.users.user.name = "eric", and that user).
fn system_domain() -> PathBuf {
    repo().join("tests/nix/system-domain.nix")
}

/// The user `eric`, declared as a NixOS configuration does (no hwc option).
fn user_eric() -> PathBuf {
    repo().join("tests/nix/user-eric.nix")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn entries_of(package: &Value) -> Vec<String> {
    package["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_seed_snippets_evaluate_verbatim() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for stage1 in STAGE1 {
        for (name, seed) in SEEDS {
            let m = module(t.path(), name, seed);
            // Each seed alone, beside the user it names; the permissions seed names none and
            // takes its documented default, the system domain's user.
            let base = if name == "permissions" {
                system_domain()
            } else {
                user_eric()
            };
            let store = Store {
                stage1,
                ..Store::default()
            };
            let doc = eval(&[base, m], &store)
                .unwrap_or_else(|e| panic!("seed {name}, {stage1} stage 1: {e}"));
            assert_eq!(
                doc["warnings"],
                serde_json::json!([]),
                "seed {name}, {stage1} stage 1"
            );
            seen.push((stage1, name, doc));
        }
    }
    for stage1 in STAGE1 {
        let out: HashMap<&str, &Value> = seen
            .iter()
            .filter(|(s, _, _)| *s == stage1)
            .map(|(_, n, d)| (*n, d))
            .collect();
        check_seeds(stage1, &out);
    }
}

/// What each seed snippet alone declares, under one stage 1.
fn check_seeds(stage1: &str, out: &HashMap<&str, &Value>) {
    eprintln!("seeds under {stage1} stage 1");
    let gpu = &out["gpu"];
    assert_eq!(gpu["hwc"]["hardware"]["gpu"]["accel"], "cuda");
    let nixos = &gpu["nixos"];
    assert_eq!(
        nixos["hardware"]["nvidia-container-toolkit"]["enable"],
        true
    );
    assert_eq!(nixos["hardware"]["graphics"]["enable"], true);
    assert_eq!(nixos["hardware"]["nvidia"]["modesetting"]["enable"], true);
    assert_eq!(
        nixos["services"]["xserver"]["videoDrivers"],
        serde_json::json!(["nvidia"])
    );
    // The choice NixOS demands of every driver >= 560 user, made by hwc's documented default.
    assert_eq!(nixos["hardware"]["nvidia"]["open"], true);
    let env_unit = gpu["units"]["hwc-gpu-env.service"].as_str().unwrap();
    assert!(
        env_unit.contains(r#""--env" "--expect" "nvidia""#),
        "{env_unit}"
    );
    assert!(env_unit.contains("StandardOutput=truncate:/run/hwc/gpu.env"));

    let perms = &out["permissions"];
    let mut groups = strings(&perms["users"]["eric"]["extraGroups"]);
    groups.sort();
    assert_eq!(
        groups,
        [
            "audio", "dialout", "gpio", "i2c", "input", "kvm", "plugdev", "render", "sensors",
            "spi", "video"
        ]
    );
    for g in &groups {
        assert!(perms["groups"][g].is_object(), "group {g} is declared");
    }
    let check = perms["units"]["hwc-perms-check.service"].as_str().unwrap();
    assert!(
        check.contains(r#""groups" "--user" "eric" "--want" "development,hardware,media""#),
        "{check}"
    );
    assert_eq!(
        perms["etc"]["hwc/perms.conf"]["text"],
        "development = dialout kvm plugdev\nhardware = input i2c gpio spi sensors\nmedia = audio video render\n"
    );

    let services = &out["services"];
    assert!(services["units"]["setup-ssh-keys-eric.service"].is_string());
    // The default secret is agenix's: no path unit races its generation swap.
    assert!(services["units"]["setup-ssh-keys-eric.path"].is_null());
    assert!(services["userUnits"]["hwc-session-init.service"].is_string());

    let commands = &out["commands"];
    let linked = entries_of(&commands["systemPackages"][0]);
    assert!(linked.contains(&"bin/gpu-launch".to_string()), "{linked:?}");

    let chromium = &out["chromium"];
    assert_eq!(chromium["nixos"]["programs"]["dconf"]["enable"], true);
    assert_eq!(chromium["nixos"]["xdg"]["portal"]["enable"], true);
    assert_eq!(
        chromium["systemPackages"],
        serde_json::json!([]),
        "no user packages"
    );
    assert_eq!(out["mesh"]["units"], serde_json::json!({}));

    // Each seed declares its own key for hwc-doctor, and nothing else; a seed that declares
    // nothing writes no declaration.
    for (name, expected) in [
        (
            "gpu",
            serde_json::json!({ "gpu": { "type": "nvidia", "containerRuntime": true } }),
        ),
        (
            "permissions",
            serde_json::json!({ "permissions": { "user": "eric", "sets": ["development", "hardware", "media"] } }),
        ),
        ("services", serde_json::json!({ "ssh": { "user": "eric" } })),
        (
            "chromium",
            serde_json::json!({ "apps": ["chromium"], "graphics32": [] }),
        ),
        ("mesh", serde_json::json!({ "bridges": {} })),
    ] {
        let text = out[name]["etc"]["hwc/declared.json"]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("seed {name}: no declared.json"));
        let declared: Value = serde_json::from_str(text).unwrap();
        assert_eq!(declared, expected, "seed {name}");
    }
    assert!(out["commands"]["etc"]["hwc/declared.json"].is_null());
    assert_eq!(out["commands"]["units"]["hwc-doctor.service"], Value::Null);
}

#[test]
fn the_doctor_reads_what_was_declared() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let m = module(
        t.path(),
        "doctor",
        r#"hwc.infrastructure.session.services = { enable = true; username = "eric"; secret = "/run/agenix/eric+keys@host:a,b=c"; };
hwc.infrastructure.session.commands.doctor.enable = true;"#,
    );
    let doc = eval(&[user_eric(), m], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let text = doc["etc"]["hwc/declared.json"]["text"].as_str().unwrap();
    let declared: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        declared,
        serde_json::json!({ "ssh": { "user": "eric", "secret": "/run/agenix/eric+keys@host:a,b=c" } })
    );
    // The defaults: every 15 minutes, into the directory node_exporter's textfile collector is
    // commonly pointed at on NixOS.
    let dir = "/var/lib/prometheus-node-exporter-text-files";
    assert_eq!(
        doc["timers"]["hwc-doctor"]["timerConfig"]["OnCalendar"],
        "*:0/15"
    );
    assert!(strings(&doc["tmpfiles"]).contains(&format!("d {dir} 0755 root root -")));
    assert_eq!(
        doc["services"]["hwc-doctor"]["serviceConfig"]["ExecStart"],
        format!(r#""/nix/store/hwc-0.1.0/bin/hwc-doctor" "--prometheus" "{dir}/hwc-doctor.prom""#)
    );

    // The doctor takes the secret as written, and says so.
    let report = doctor_on_fixture(text);
    let secret = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "ssh-secret")
        .unwrap();
    assert!(
        secret["evidence"]
            .as_str()
            .unwrap()
            .contains("/run/agenix/eric+keys@host:a,b=c is absent"),
        "{secret}"
    );
}

/// Every option of the domain set, for the user `user` (uid `uid`), with the fallback key read
/// from `key_file` as users do (`builtins.readFile`, trailing newline and all), and hwc-doctor
/// writing its gauges into `textfiles`.
fn everything(user: &str, uid: u32, key_file: &Path, textfiles: &Path) -> String {
    format!(
        r#"
  users.users.{user} = {{ isNormalUser = true; uid = {uid}; }};
  services.jellyfin.enable = true;
  hwc.infrastructure = {{
    hardware.gpu = {{
      enable = true;
      type = "nvidia";
      nvidia = {{ containerRuntime = true; open = true; }};
      prime = {{ nvidiaBusId = "PCI:100@0:0:0"; intelBusId = "PCI:0@0:2:0"; }};
    }};
    hardware.permissions = {{
      enable = true;
      groups = {{ media = true; hardware = true; development = true; peripherals = true; }};
      deviceAccess = [
        {{ match = ''SUBSYSTEM=="hidraw", ATTRS{{idVendor}}=="1050"''; }}
        {{ match = ''SUBSYSTEM=="usb", ATTR{{idVendor}}=="16c0"''; uaccess = false; group = "plugdev"; }}
      ];
    }};
    hardware.peripherals.enable = true;
    hardware.storage = {{
      enable = true;
      mounts.media = {{ device = "LABEL=media"; owner = "{user}"; group = "users"; mode = "0770"; requiredBy = [ "jellyfin" ]; }};
      mounts.backup = {{ device = "UUID=0a1b"; mountPoint = "/home/{user}/backup"; owner = "{user}"; }};
    }};
    mesh.containerNetworking = {{
      enable = true;
      bridges.br-lab = {{ addresses = [ "10.89.0.1/24" "fd00:89::1/64" ]; mtu = 1400; }};
      bridges."br+x".addresses = [ "10.90.0.1/24" ];
    }};
    session.services = {{
      enable = true;
      username = "{user}";
      fallbackKeys = [ (builtins.readFile {key}) ];
      sessionSecrets.github-token = "/run/agenix/github token 100% \\o/ $HOME \"q\"";
    }};
    session.commands = {{
      enable = true;
      gpuLaunch = false;
      initrd.enable = true;
      doctor = {{ enable = true; interval = "hourly"; textfileDirectory = "{textfiles}"; }};
    }};
    session.chromium.enable = true;
  }};"#,
        key = key_file.display(),
        textfiles = textfiles.display()
    )
}

#[test]
fn every_option_on_evaluates_and_takes_effect() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("eric.pub");
    fs::write(&key, "ssh-ed25519 AAAA 100% \\o/ $HOME\n").unwrap();
    let textfiles = t.path().join("textfiles");
    let m = module(t.path(), "all", &everything("eric", 1000, &key, &textfiles));
    let doc = eval(&[m], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["warnings"], serde_json::json!([]));

    let nvidia = &doc["nixos"]["hardware"]["nvidia"];
    assert_eq!(nvidia["prime"]["offload"]["enable"], true);
    assert_eq!(nvidia["prime"]["nvidiaBusId"], "PCI:100@0:0:0");
    assert_eq!(nvidia["prime"]["intelBusId"], "PCI:0@0:2:0");
    assert_eq!(nvidia["prime"]["offload"]["enableOffloadCmd"], false);

    let rules = &doc["nixos"]["services"]["udev"]["packages"][0];
    let text = rules["text"].as_str().unwrap();
    assert!(rules["destination"]
        .as_str()
        .unwrap()
        .ends_with("70-hwc-permissions.rules"));
    assert!(text.contains("SUBSYSTEM==\"hidraw\", ATTRS{idVendor}==\"1050\", TAG+=\"uaccess\"\n"));
    assert!(text.contains(
        "SUBSYSTEM==\"usb\", ATTR{idVendor}==\"16c0\", GROUP=\"plugdev\", MODE=\"0660\"\n"
    ));
    assert!(
        text.contains("GROUP=\"i2c\""),
        "hardware set's nodes: {text}"
    );
    let groups = strings(&doc["users"]["eric"]["extraGroups"]);
    assert!(groups.contains(&"lp".into()) && groups.contains(&"scanner".into()));

    let services = &doc["nixos"]["services"];
    assert_eq!(services["printing"]["enable"], true);
    assert_eq!(services["avahi"]["enable"], true);
    assert_eq!(doc["nixos"]["hardware"]["sane"]["enable"], true);
    assert_eq!(services["udisks2"]["enable"], true);
    assert_eq!(services["fstrim"]["enable"], true);

    // Owner, group and mode set by mount itself: no unit pulls the mount in at boot, so the
    // automount stays one, and a mount under /home needs no unit's sandbox opened.
    let media = &doc["nixos"]["fileSystems"]["/mnt/media"];
    assert_eq!(media["device"], "LABEL=media");
    let options = strings(&media["options"]);
    for o in [
        "nofail",
        "x-systemd.automount",
        "X-mount.owner=eric",
        "X-mount.group=users",
        "X-mount.mode=0770",
    ] {
        assert!(options.contains(&o.to_string()), "{options:?}");
    }
    assert!(doc["nixos"]["fileSystems"]["/home/eric/backup"].is_object());
    assert!(
        !doc["units"]
            .as_object()
            .unwrap()
            .keys()
            .any(|u| u.contains("mount")),
        "no unit stands between boot and a missing disk"
    );
    assert_eq!(
        doc["services"]["jellyfin"]["unitConfig"]["RequiresMountsFor"],
        serde_json::json!(["/mnt/media"])
    );
    // A bridge name a unit name cannot hold is escaped as systemd-escape does.
    assert!(
        doc["units"]["hwc-bridge-br\\x2bx.service"].is_string(),
        "{}",
        doc["units"]
    );

    let linked = entries_of(&doc["systemPackages"][0]);
    assert!(
        !linked.contains(&"bin/gpu-launch".to_string()),
        "gpuLaunch = false: {linked:?}"
    );
    assert!(linked.contains(&"bin/hwc-perms".to_string()));
    // 26.05's systemd stage 1: hwc through its initrdBin, nothing in extraUtilsCommands (which it
    // refuses).
    let boot = &doc["nixos"]["boot"]["initrd"];
    assert_eq!(boot["extraUtilsCommands"], "");
    assert_eq!(
        boot["systemd"]["initrdBin"],
        serde_json::json!([{ "package": "hwc-0.1.0", "out": "/nix/store/hwc-0.1.0" }])
    );

    assert_eq!(
        doc["etc"]["hwc/ssh-authorized-keys/eric"]["text"], "ssh-ed25519 AAAA 100% \\o/ $HOME\n",
        "the fallback key, its newline dropped once, in a file"
    );
    let ssh = doc["units"]["setup-ssh-keys-eric.service"]
        .as_str()
        .unwrap();
    assert!(
        !ssh.contains("AAAA"),
        "no key material on a command line: {ssh}"
    );
    assert!(
        doc["units"]["setup-ssh-keys-eric.path"].is_null(),
        "agenix's secret is not watched"
    );

    // What was declared, for hwc-doctor, in the format it documents.
    let declared: Value =
        serde_json::from_str(doc["etc"]["hwc/declared.json"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        declared,
        serde_json::json!({
            "gpu": { "type": "nvidia", "containerRuntime": true },
            "permissions": {
                "user": "eric",
                "sets": ["development", "hardware", "media", "peripherals"]
            },
            "ssh": { "user": "eric" },
            "bridges": {
                "br-lab": ["10.89.0.1/24", "fd00:89::1/64"],
                "br+x": ["10.90.0.1/24"]
            },
            "apps": ["chromium"],
            "graphics32": []
        })
    );
    // The doctor on a timer, its gauges in the textfile directory, which boot makes.
    let unit = doc["units"]["hwc-doctor.service"].as_str().unwrap();
    assert!(
        unit.contains(&format!(
            r#"bin/hwc-doctor" "--prometheus" "{}/hwc-doctor.prom""#,
            textfiles.display()
        )),
        "{unit}"
    );
    assert!(unit.contains("SuccessExitStatus=1\n"), "{unit}");
    assert!(
        unit.contains(&format!("ReadWritePaths={}\n", textfiles.display())),
        "{unit}"
    );
    let timer = doc["units"]["hwc-doctor.timer"].as_str().unwrap();
    assert!(timer.contains("[Timer]\n"), "{timer}");
    assert!(timer.contains("OnCalendar=hourly\n"), "{timer}");
    assert_eq!(
        doc["timers"]["hwc-doctor"]["wantedBy"],
        serde_json::json!(["timers.target"])
    );
    assert!(
        strings(&doc["tmpfiles"]).contains(&format!("d {} 0755 root root -", textfiles.display())),
        "{}",
        doc["tmpfiles"]
    );

    // The real hwc-doctor reads that declaration on a machine: every key understood.
    let report = doctor_on_fixture(doc["etc"]["hwc/declared.json"]["text"].as_str().unwrap());
    assert_eq!(report["declared"], true);
    assert_eq!(report["user"], "eric");
    let checks: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["bucket"].as_str().unwrap(),
                c["check"].as_str().unwrap()
            )
        })
        .collect();
    for c in [
        "hardware/gpu type",
        "hardware/gpu cdi-spec",
        "hardware/permissions groups:development",
        "hardware/permissions groups:hardware",
        "hardware/permissions groups:media",
        "hardware/permissions groups:peripherals",
        "session/services ssh-secret",
        "mesh bridge:br-lab",
        "mesh bridge:br+x",
    ] {
        assert!(checks.contains(&c.to_string()), "{c} in {checks:#?}");
    }
    let gpu_type = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "type")
        .unwrap();
    assert_eq!(gpu_type["status"], "ok", "{gpu_type}");
}

/// hwc-doctor's JSON report on the Optimus fixture, marked NixOS, with `declared` as
/// /etc/hwc/declared.json and the user eric (uid 1000 as root, else the caller) in /etc/passwd. Exits 0 or 1 (a check
/// may fail on the fixture), never with an error about the declaration.
fn doctor_on_fixture(declared: &str) -> Value {
    let tree = fake_sysfs::Tree::fixture("optimus-intel-nvidia");
    let r = tree.path();
    // The worker that drops to the user walks the root.
    fs::set_permissions(r, fs::Permissions::from_mode(0o755)).unwrap();
    let uid = if is_root() {
        1000
    } else {
        nix::unistd::geteuid().as_raw()
    };
    fs::create_dir_all(r.join("etc/hwc")).unwrap();
    fs::write(
        r.join("etc/passwd"),
        format!("root:x:0:0::/root:/bin/sh\neric:x:{uid}:100::/home/eric:/bin/sh\n"),
    )
    .unwrap();
    fs::write(r.join("etc/group"), "root:x:0:\nusers:x:100:\n").unwrap();
    fs::write(r.join("etc/hwc/declared.json"), declared).unwrap();
    // The machine the declaration was evaluated for: NixOS.
    fs::write(r.join("etc/os-release"), "NAME=NixOS\nID=nixos\n").unwrap();
    let o = Command::new(hwc())
        .args(["hwc-doctor", "--json", "--root"])
        .arg(r)
        .output()
        .unwrap();
    assert!([0, 1].contains(&code(&o)), "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("declared.json"), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

#[test]
fn the_readmes_example_evaluates_as_it_stands() {
    if !nix_ready() {
        return;
    }
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("```nix\n{ config, pkgs, ... }:\n")
        .expect("the README's every-option block")
        + "```nix\n".len();
    let block = &readme[start..];
    let block = &block[..block.find("```").unwrap()];
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("readme.nix");
    fs::write(&m, block).unwrap();
    fs::write(t.path().join("eric.pub"), "ssh-ed25519 AAAA eric@laptop\n").unwrap();
    for stage1 in STAGE1 {
        let store = Store {
            stage1,
            ..Store::default()
        };
        let doc =
            eval(&[user_eric(), m.clone()], &store).unwrap_or_else(|e| panic!("{stage1}: {e}"));
        assert_eq!(doc["warnings"], serde_json::json!([]), "{stage1}");
        assert!(doc["units"]["hwc-bridge-br-lab.service"].is_string());
        assert!(doc["units"]["setup-ssh-keys-eric.service"].is_string());
        assert!(doc["units"]["hwc-doctor.timer"].is_string());
        // The mount's service is the configuration's own, with hwc's dependency added.
        let jellyfin = doc["units"]["jellyfin.service"].as_str().unwrap();
        assert!(jellyfin.contains("ExecStart="), "{jellyfin}");
        assert!(
            jellyfin.contains("RequiresMountsFor=/mnt/media\n"),
            "{jellyfin}"
        );
    }
}

/// A setting of a unit file as systemd reads it (the last assignment wins).
fn unit_setting<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

/// Whether `unit` of this evaluation is active on a booted machine once boot is done: a target,
/// a path or timer unit (waiting), a service unless it is a oneshot without RemainAfterExit
/// (which goes inactive once it has run).
fn active_after_boot(unit: &str, text: &str) -> bool {
    if !unit.ends_with(".service") {
        return true;
    }
    let oneshot = unit_setting(text, "Type") == Some("oneshot");
    let remains = matches!(
        unit_setting(text, "RemainAfterExit"),
        Some("true" | "yes" | "1" | "on")
    );
    !oneshot || remains
}

/// What `nixos-rebuild switch` from the configuration `old` (booted) to `new` runs, by
/// switch-to-configuration's rule (switch-to-configuration-ng, as in nixpkgs): after the
/// activation script (where agenix's default mode decrypts), the units that were active and whose
/// unit file changed are restarted; units that were not active are not compared. Then every
/// active target is started again, which starts the units it wants that are not active.
/// Returns (restarted, started), each sorted.
fn switch(old: &Value, new: &Value) -> (Vec<String>, Vec<String>) {
    let old_units = old["units"].as_object().unwrap();
    let new_units = new["units"].as_object().unwrap();
    let active = |u: &str| {
        old_units
            .get(u)
            .is_some_and(|t| active_after_boot(u, t.as_str().unwrap()))
    };
    let mut restarted: Vec<String> = old_units
        .iter()
        .filter(|(u, t)| active(u) && new_units.get(*u).is_some_and(|n| n != *t))
        .map(|(u, _)| u.clone())
        .collect();
    // The targets the units hang off are active on a booted machine.
    let mut started: Vec<String> = new["unitLinks"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(u, links)| {
            !active(u)
                && strings(&links["wantedBy"])
                    .iter()
                    .chain(strings(&links["requiredBy"]).iter())
                    .any(|t| t.ends_with(".target"))
        })
        .map(|(u, _)| u.clone())
        .collect();
    restarted.sort();
    started.sort();
    (restarted, started)
}

/// The machine with eric's keys in an agenix secret whose encrypted file is `file` (a store path,
/// as `file = ./keys.age` becomes one, named by its content), in agenix mode `agenix`.
fn with_secret(dir: &Path, agenix: &str, content: &str) -> Value {
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        content.hash(&mut h);
        h.finish()
    };
    let cfg = module(
        dir,
        &format!("agenix-{agenix}-{digest:x}"),
        &format!(
            r#"services.openssh.enable = true;
age.secrets.ssh-authorized-keys-eric.file = "/nix/store/{digest:032x}-keys.age";
hwc.infrastructure.session.services = {{ enable = true; username = "eric"; }};"#
        ),
    );
    let store = Store {
        agenix,
        ..Store::default()
    };
    eval(&[user_eric(), cfg], &store).unwrap_or_else(|e| panic!("{agenix}: {e}"))
}

#[test]
fn a_changed_secret_reaches_the_keys_at_switch_in_every_agenix_mode() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    const UNIT: &str = "setup-ssh-keys-eric.service";
    for agenix in ["activation", "sysusers", "userborn"] {
        let old = with_secret(t.path(), agenix, "age-encryption.org/v1 two keys");
        let new = with_secret(t.path(), agenix, "age-encryption.org/v1 one key revoked");
        let ssh = new["units"][UNIT].as_str().unwrap();
        // The unit is a oneshot that goes inactive once run: switch never compares it...
        assert!(!active_after_boot(UNIT, ssh), "{agenix}: {ssh}");
        let (restarted, started) = switch(&old, &new);
        assert!(!restarted.contains(&UNIT.to_string()), "{agenix}");
        // ... and starts it again with multi-user.target, after the activation and the restarts.
        assert!(
            started.contains(&UNIT.to_string()),
            "{agenix}: started {started:?}"
        );
        assert_eq!(
            strings(&new["unitLinks"][UNIT]["wantedBy"]),
            ["multi-user.target"]
        );
        // Every switch, changed secret or not: the keys are re-applied (unchanged, nothing is
        // written).
        assert!(switch(&new, &new).1.contains(&UNIT.to_string()), "{agenix}");

        match agenix {
            // Decrypted by the activation script, which switch runs before any unit: the new
            // generation is linked, the old one deleted and the secret chowned by then.
            "activation" => {
                let act = &new["activation"];
                let install = act["agenixInstall"]["text"].as_str().unwrap();
                let swap = install.find("ln -sfT").unwrap();
                let delete = install.find("rm -rf").unwrap();
                assert!(
                    swap < delete,
                    "agenix links the new generation, then deletes"
                );
                assert!(strings(&act["agenixChown"]["deps"]).contains(&"users".into()));
                assert!(new["units"]["agenix-install-secrets.service"].is_null());
            }
            // Decrypted by agenix-install-secrets.service: active (RemainAfterExit), its script
            // changes with the secret, so switch restarts it before starting ours, which is
            // ordered after it.
            _ => {
                assert!(
                    restarted.contains(&"agenix-install-secrets.service".to_string()),
                    "{agenix}: restarted {restarted:?}"
                );
                let after = unit_setting(ssh, "After").unwrap();
                assert!(
                    after
                        .split(' ')
                        .any(|u| u == "agenix-install-secrets.service"),
                    "{ssh}"
                );
            }
        }
        // No watch on agenix's directories: it would fire at the link swap, before the chown,
        // and again at the deletion of the old generation.
        let age = &new["age"];
        for (name, text) in new["units"].as_object().unwrap() {
            if let Some(watched) = unit_setting(text.as_str().unwrap(), "PathChanged") {
                for dir in ["secretsDir", "secretsMountPoint"] {
                    let dir = age[dir].as_str().unwrap();
                    assert!(
                        !watched.starts_with(dir),
                        "{agenix}: {name} watches {watched}"
                    );
                }
            }
        }
    }

    // The rule tells the mechanism from its absence: the same unit with RemainAfterExit (active
    // after boot, its file unchanged by a new secret) would never run again at a switch.
    let old = with_secret(t.path(), "activation", "age-encryption.org/v1 two keys");
    let new = with_secret(
        t.path(),
        "activation",
        "age-encryption.org/v1 one key revoked",
    );
    let remain = |doc: &Value| {
        let mut doc = doc.clone();
        let text = doc["units"][UNIT]
            .as_str()
            .unwrap()
            .replace("Type=oneshot\n", "Type=oneshot\nRemainAfterExit=true\n");
        doc["units"][UNIT] = Value::String(text);
        doc
    };
    let (restarted, started) = switch(&remain(&old), &remain(&new));
    assert!(!restarted.contains(&UNIT.to_string()) && !started.contains(&UNIT.to_string()));
}

#[test]
fn a_secret_outside_agenix_is_watched_and_agenixs_is_not() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // Another tool's secret, rewritten in place: a path unit re-runs the keys.
    let m = module(
        t.path(),
        "other",
        r#"hwc.infrastructure.session.services = { enable = true; username = "eric"; secret = "/run/keys/eric-ssh"; };"#,
    );
    for agenix in ["activation", "none"] {
        let store = Store {
            agenix,
            ..Store::default()
        };
        let doc = eval(&[user_eric(), m.clone()], &store).unwrap();
        let path = doc["units"]["setup-ssh-keys-eric.path"].as_str().unwrap();
        assert!(path.contains("PathChanged=/run/keys/eric-ssh\n"), "{path}");
        assert!(
            path.contains("Unit=setup-ssh-keys-eric.service\n"),
            "{path}"
        );
    }
    // Under agenix's directory, or named by an agenix secret elsewhere: no path unit.
    for (name, body) in [
        (
            "default",
            r#"hwc.infrastructure.session.services = { enable = true; username = "eric"; };"#,
        ),
        (
            "elsewhere",
            r#"services.openssh.enable = true;
age.secrets.keys = { file = "/nix/store/00000000000000000000000000000000-k.age"; path = "/run/secrets/eric-keys"; };
hwc.infrastructure.session.services = { enable = true; username = "eric"; secret = "/run/secrets/eric-keys"; };"#,
        ),
    ] {
        let m = module(t.path(), name, body);
        let doc = eval(&[user_eric(), m], &Store::default()).unwrap();
        assert!(doc["units"]["setup-ssh-keys-eric.service"].is_string());
        assert!(
            doc["units"]["setup-ssh-keys-eric.path"].is_null(),
            "{name}: {}",
            doc["units"]["setup-ssh-keys-eric.path"]
        );
    }
}

#[test]
fn a_users_own_nixos_settings_are_the_ones_nixos_gets() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // The NixOS wiki's PRIME offload recipe, written beside hwc's gpu module, with the bus ids
    // in the wiki's form and hwc's own (what hwc-gpu-detect --nixos prints) set too.
    let hwc = module(
        t.path(),
        "hwc",
        r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "nvidia"; prime = { nvidiaBusId = "PCI:1@0:0:0"; intelBusId = "PCI:0@0:2:0"; }; };
hwc.infrastructure.hardware.peripherals.enable = true;"#,
    );
    let user = module(
        t.path(),
        "user",
        r#"hardware.nvidia = {
  open = false;
  modesetting.enable = false;
  prime = {
    offload = { enable = true; enableOffloadCmd = true; };
    intelBusId = "PCI:0:2:0";
    nvidiaBusId = "PCI:1:0:0";
  };
};
environment.sessionVariables.LIBVA_DRIVER_NAME = "nvidia";
services.avahi.openFirewall = false;
services.avahi.nssmdns4 = false;"#,
    );
    for stage1 in STAGE1 {
        let store = Store {
            stage1,
            ..Store::default()
        };
        let doc =
            eval(&[hwc.clone(), user.clone()], &store).unwrap_or_else(|e| panic!("{stage1}: {e}"));
        assert_eq!(doc["warnings"], serde_json::json!([]));
        let nvidia = &doc["nixos"]["hardware"]["nvidia"];
        assert_eq!(nvidia["open"], false);
        assert_eq!(nvidia["modesetting"]["enable"], false);
        assert_eq!(nvidia["prime"]["offload"]["enable"], true);
        assert_eq!(nvidia["prime"]["offload"]["enableOffloadCmd"], true);
        assert_eq!(nvidia["prime"]["intelBusId"], "PCI:0:2:0");
        assert_eq!(nvidia["prime"]["nvidiaBusId"], "PCI:1:0:0");
        assert_eq!(
            doc["nixos"]["sessionVariables"]["LIBVA_DRIVER_NAME"],
            "nvidia"
        );
        let avahi = &doc["nixos"]["services"]["avahi"];
        assert_eq!(avahi["openFirewall"], false);
        assert_eq!(avahi["nssmdns4"], false);
        assert_eq!(
            avahi["enable"], true,
            "what the user did not set stays hwc's"
        );
    }
    // A hardware profile's settings (nixos-hardware writes them with lib.mkDefault) win too.
    let profile = t.path().join("profile.nix");
    fs::write(
        &profile,
        r#"{ lib, ... }: {
  hardware.nvidia.open = lib.mkDefault false;
  hardware.nvidia.prime = { intelBusId = lib.mkDefault "PCI:0:2:0"; nvidiaBusId = lib.mkDefault "PCI:1:0:0"; };
  services.avahi.openFirewall = lib.mkDefault false;
}"#,
    )
    .unwrap();
    let doc = eval(&[hwc.clone(), profile], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let nvidia = &doc["nixos"]["hardware"]["nvidia"];
    assert_eq!(nvidia["open"], false);
    assert_eq!(nvidia["prime"]["intelBusId"], "PCI:0:2:0");
    assert_eq!(nvidia["prime"]["nvidiaBusId"], "PCI:1:0:0");
    assert_eq!(
        nvidia["prime"]["offload"]["enable"], true,
        "hwc's, unset by the profile"
    );
    assert_eq!(doc["nixos"]["services"]["avahi"]["openFirewall"], false);

    // The Intel VA-API driver name, and every other setting, the same way.
    let intel = module(
        t.path(),
        "intel",
        r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "intel"; };
hwc.infrastructure.hardware.storage.enable = true;
hwc.infrastructure.session.chromium.enable = true;
environment.sessionVariables.LIBVA_DRIVER_NAME = "i965";
services.devmon.enable = false;
services.fstrim.enable = false;
xdg.portal.config.common.default = "gtk";"#,
    );
    let doc = eval(&[intel], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        doc["nixos"]["sessionVariables"]["LIBVA_DRIVER_NAME"],
        "i965"
    );
    assert_eq!(doc["nixos"]["services"]["devmon"]["enable"], false);
    assert_eq!(doc["nixos"]["services"]["fstrim"]["enable"], false);
    assert_eq!(doc["nixos"]["services"]["udisks2"]["enable"], true);
    assert_eq!(
        doc["nixos"]["xdg"]["portal"]["config"]["common"]["default"],
        serde_json::json!(["gtk"])
    );

    // Without hwc's bus ids, hwc leaves PRIME to the user's own settings.
    let plain = module(
        t.path(),
        "plain",
        r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "nvidia"; };
hardware.nvidia.prime = { sync.enable = true; intelBusId = "PCI:0:2:0"; nvidiaBusId = "PCI:1:0:0"; };"#,
    );
    let doc = eval(&[plain], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let prime = &doc["nixos"]["hardware"]["nvidia"]["prime"];
    assert_eq!(prime["sync"]["enable"], true);
    assert_eq!(prime["offload"]["enable"], false);

    // Where hwc cannot do without a value, an assertion names both options and the file.
    let off = module(
        t.path(),
        "off",
        r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "amd"; };
hardware.graphics.enable = false;"#,
    );
    let e = eval(std::slice::from_ref(&off), &Store::default()).unwrap_err();
    for named in [
        "hwc.infrastructure.hardware.gpu.type",
        "hardware.graphics.enable",
        off.to_str().unwrap(),
    ] {
        assert!(e.contains(named), "{named} in {e}");
    }
    // hwc's own choice against the user's NixOS one: NixOS takes the user's, and says so.
    let both = module(
        t.path(),
        "both",
        r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "nvidia"; nvidia.open = false; };
hardware.nvidia.open = true;"#,
    );
    let doc = eval(&[both], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["nixos"]["hardware"]["nvidia"]["open"], true);
    let warnings = strings(&doc["warnings"]);
    assert!(
        warnings.len() == 1
            && warnings[0].contains("hwc.infrastructure.hardware.gpu.nvidia.open = false")
            && warnings[0].contains("hardware.nvidia.open = true"),
        "{warnings:?}"
    );
}

#[test]
fn bad_values_are_refused_naming_the_option() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bridge name with a space",
            r#"hwc.infrastructure.mesh.containerNetworking = { enable = true; bridges."br 0" = { }; };"#,
            "hwc.infrastructure.mesh.containerNetworking.bridges: 'br 0'",
        ),
        (
            "bridge name over 15 bytes",
            r#"hwc.infrastructure.mesh.containerNetworking = { enable = true; bridges.containers-lab01 = { }; };"#,
            "hwc.infrastructure.mesh.containerNetworking.bridges: 'containers-lab01'",
        ),
        (
            "CIDR /33",
            r#"hwc.infrastructure.mesh.containerNetworking = { enable = true; bridges.br0.addresses = [ "10.88.0.1/33" ]; };"#,
            "hwc.infrastructure.mesh.containerNetworking.bridges.br0.addresses",
        ),
        (
            "IPv6 CIDR /129",
            r#"hwc.infrastructure.mesh.containerNetworking = { enable = true; bridges.br0.addresses = [ "fd00::1/129" ]; };"#,
            "hwc.infrastructure.mesh.containerNetworking.bridges.br0.addresses",
        ),
        (
            "amd with the NVIDIA container runtime",
            r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "amd"; nvidia.containerRuntime = true; };"#,
            "hwc.infrastructure.hardware.gpu.nvidia.containerRuntime",
        ),
        (
            "permissions with no user anywhere",
            r#"hwc.infrastructure.hardware.permissions.enable = true;"#,
            "hwc.infrastructure.hardware.permissions.user",
        ),
        (
            "a bus id in lspci's hex form",
            r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "nvidia"; prime = { nvidiaBusId = "PCI:0a:00.0"; intelBusId = "PCI:0@0:2:0"; }; };"#,
            "hwc.infrastructure.hardware.gpu.prime.nvidiaBusId",
        ),
        (
            "an NVIDIA bus id without the integrated GPU's",
            r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "nvidia"; prime.nvidiaBusId = "PCI:1@0:0:0"; };"#,
            "hwc.infrastructure.hardware.gpu.prime.nvidiaBusId",
        ),
        (
            "two keys in one fallback entry",
            r#"hwc.infrastructure.session.services = { enable = true; username = "eric"; fallbackKeys = [ "ssh-ed25519 AAAA a\nssh-ed25519 BBBB b\n" ]; };"#,
            "hwc.infrastructure.session.services.fallbackKeys",
        ),
        (
            "services with no user anywhere",
            r#"hwc.infrastructure.session.services.enable = true;"#,
            "hwc.infrastructure.session.services.username",
        ),
        (
            "a secret path systemd would read otherwise",
            r#"hwc.infrastructure.session.services = { enable = true; username = "eric"; secret = "/run/secrets/eric%keys"; };"#,
            "hwc.infrastructure.session.services.secret",
        ),
        (
            "a mount point with a space",
            r#"hwc.infrastructure.hardware.storage = { enable = true; mounts.passport = { device = "LABEL=p"; mountPoint = "/mnt/My Passport"; }; };"#,
            "hwc.infrastructure.hardware.storage.mounts.passport.mountPoint",
        ),
        (
            "a textfile directory systemd would read specially",
            r#"hwc.infrastructure.session.commands.doctor = { enable = true; textfileDirectory = "/var/lib/node text"; };"#,
            "hwc.infrastructure.session.commands.doctor.textfileDirectory",
        ),
        (
            "an interval with a systemd specifier",
            r#"hwc.infrastructure.session.commands.doctor = { enable = true; interval = "%H"; };"#,
            "hwc.infrastructure.session.commands.doctor.interval",
        ),
        (
            "a mount required by a service nothing defines",
            r#"hwc.infrastructure.hardware.storage = { enable = true; mounts.media = { device = "LABEL=media"; requiredBy = [ "jellyfin" ]; }; };"#,
            "hwc.infrastructure.hardware.storage.mounts.media.requiredBy: 'jellyfin' is not a service",
        ),
        (
            "a mount required by a service defined without anything to run",
            r#"systemd.services.jellyfin.description = "only a name";
hwc.infrastructure.hardware.storage = { enable = true; mounts.media = { device = "LABEL=media"; requiredBy = [ "jellyfin" ]; }; };"#,
            "hwc.infrastructure.hardware.storage.mounts.media.requiredBy: 'jellyfin' is not a service",
        ),
        (
            "a user the configuration does not declare",
            r#"hwc.infrastructure.hardware.permissions = { enable = true; user = "nobody-here"; };"#,
            "hwc.infrastructure.hardware.permissions.user: 'nobody-here' is not a user",
        ),
    ];
    for (what, body, named) in cases {
        let m = module(t.path(), "bad", body);
        match eval(&[user_eric(), m], &Store::default()) {
            Ok(_) => panic!("{what}: evaluated"),
            Err(e) => assert!(e.contains(named), "{what}: the error names {named}:\n{e}"),
        }
    }
}

#[test]
fn what_hwc_gpu_detect_nixos_prints_is_a_configuration() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let hwc_out = package(t.path());
    let store = Store {
        hwc: Some(&hwc_out),
        ..Store::default()
    };
    for (fixture, nvidia, intel) in [
        ("optimus-intel-nvidia", "PCI:1@0:0:0", "PCI:0@0:2:0"),
        ("optimus-hex-bus", "PCI:100@0:0:0", "PCI:0@0:2:0"),
    ] {
        let tree = fake_sysfs::Tree::fixture(fixture);
        let o = Command::new(hwc())
            .args(["hwc-gpu-detect", "--nixos", "--root"])
            .arg(tree.path())
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        // Pasted as it is, with the choice NixOS asks for.
        let m = module(
            t.path(),
            fixture,
            &format!(
                "{}\nhwc.infrastructure.hardware.gpu.nvidia.open = true;",
                stdout(&o)
            ),
        );
        let doc = eval(&[m], &store).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let prime = &doc["nixos"]["hardware"]["nvidia"]["prime"];
        assert_eq!(prime["offload"]["enable"], true, "{fixture}");
        assert_eq!(prime["nvidiaBusId"], nvidia, "{fixture}");
        assert_eq!(prime["intelBusId"], intel, "{fixture}");

        // The boot unit writes the facts and warns in the journal when the machine is not the
        // one declared.
        let argv = exec_argv(&doc, "hwc-gpu-env", "ExecStart");
        let o = run_argv(&argv, &["--root", tree.path().to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stdout(&o).contains("HWC_GPU_TYPE=nvidia\n"),
            "{}",
            stdout(&o)
        );
        assert_eq!(stderr(&o), "");
        let m = module(
            t.path(),
            "intel",
            r#"hwc.infrastructure.hardware.gpu = { enable = true; type = "intel"; };"#,
        );
        let doc = eval(&[m], &store).unwrap();
        let argv = exec_argv(&doc, "hwc-gpu-env", "ExecStart");
        let o = run_argv(&argv, &["--root", tree.path().to_str().unwrap()]);
        assert_eq!(code(&o), 0);
        assert!(stdout(&o).contains("HWC_GPU_TYPE=nvidia\n"));
        assert!(
            stderr(&o).contains("declared GPU type intel"),
            "{}",
            stderr(&o)
        );
    }
}

/// Every `PCI:...` bus id in `text` (between double quotes).
fn bus_ids(text: &str) -> Vec<String> {
    text.split('"')
        .filter(|w| w.starts_with("PCI:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_bus_id_hwc_gpu_detect_prints_is_one_nixos_takes() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // The machines: the recordings of real ones, and the described ones (a VMD domain among
    // them).
    let mut trees: Vec<(String, tempfile::TempDir)> = Vec::new();
    match shared_dir("fixtures/gpu") {
        Some(dir) => {
            for e in fs::read_dir(&dir).unwrap().flatten() {
                if e.path().join("tree").is_dir() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    trees.push((name, fake_sysfs::materialize(&e.path().join("tree"))));
                }
            }
            assert!(trees.len() >= 8, "recorded machines: {}", trees.len());
        }
        None => skip("../shared/fixtures/gpu is absent (the recorded machines)"),
    }
    for e in fs::read_dir(repo().join("tests/fixtures/gpu"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(name) = name.strip_suffix(".txt").filter(|n| *n != "malformed") {
            let tree = fake_sysfs::Tree::fixture(name);
            let copy = fake_sysfs::materialize(tree.path());
            trees.push((name.to_string(), copy));
        }
    }
    let mut seen = Vec::new();
    for (name, tree) in &trees {
        let o = Command::new(hwc())
            .args(["hwc-gpu-detect", "--nixos", "--root"])
            .arg(tree.path())
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        let printed = stdout(&o);
        // Pasted as it is: hwc's types take it, and NixOS's own options get it.
        let m = module(t.path(), "printed", &printed);
        let doc =
            eval(&[m], &Store::default()).unwrap_or_else(|e| panic!("{name}: {e}\n{printed}"));
        let ids = bus_ids(&printed);
        for id in &ids {
            let prime = &doc["nixos"]["hardware"]["nvidia"]["prime"];
            assert!(
                ["nvidiaBusId", "intelBusId", "amdgpuBusId"]
                    .iter()
                    .any(|k| prime[k] == id.as_str()),
                "{name}: {id} in {prime}"
            );
            // ... and NixOS's own type (busIDType, nvidia.nix) takes each one given directly.
            let m = module(
                t.path(),
                "nixos",
                &format!("hardware.nvidia.prime.nvidiaBusId = \"{id}\";"),
            );
            eval(&[m], &Store::default()).unwrap_or_else(|e| panic!("{name}: {id}: {e}"));
        }
        seen.extend(ids.into_iter().map(|id| (name.clone(), id)));
    }
    assert!(
        seen.iter()
            .any(|(n, id)| n == "optimus-vmd" && id == "PCI:1@65536:0:0"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(n, id)| n.starts_with("intel-hsw") && id == "PCI:4@0:0:0")
            || shared_dir("fixtures/gpu").is_none(),
        "{seen:?}"
    );
    // The two types agree at their edges: what NixOS refuses, hwc refuses, naming its option.
    for (id, ok) in [
        ("PCI:1@65536:0:0", true),
        ("PCI:1@4294967295:0:0", true),
        ("PCI:255:31:7", true),
        ("PCI:1@12345678901:0:0", false),
        ("PCI:1000:0:0", false),
        ("PCI:0a:00.0", false),
        ("PCI:1:0:10", false),
    ] {
        for option in [
            "hardware.nvidia.prime.nvidiaBusId",
            "hwc.infrastructure.hardware.gpu.prime.nvidiaBusId",
        ] {
            let m = module(t.path(), "edge", &format!("{option} = \"{id}\";"));
            let r = eval(&[m], &Store::default());
            match (ok, r) {
                (true, Err(e)) => panic!("{option} = {id}: {e}"),
                (false, Ok(_)) => panic!("{option} = {id} was taken"),
                (false, Err(e)) => assert!(e.contains(option), "{option}: {e}"),
                (true, Ok(_)) => {}
            }
        }
    }
}

/// `expr` evaluated against the flake's outputs, bound to `flake` (tests/nix/flake.nix: nixpkgs
/// stood in for): its JSON, or nix-instantiate's error text.
fn flake_eval(expr: &str) -> Result<Value, String> {
    let o = nix_instantiate()
        .args(["--eval", "--strict", "--json", "--expr"])
        .arg(format!(
            "let flake = import {} {{ }}; in {expr}",
            repo().join("tests/nix/flake.nix").display()
        ))
        .output()
        .unwrap();
    if code(&o) != 0 {
        return Err(stderr(&o));
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn the_flake_gives_what_flake_users_expect() {
    if !nix_ready() {
        return;
    }
    // Outputs as agenix, home-manager and disko give theirs, for both 64-bit Linux systems.
    let outputs = flake_eval(
        r#"{
  packages = builtins.mapAttrs (_: builtins.attrNames) flake.packages;
  checks = builtins.mapAttrs (_: builtins.attrNames) flake.checks;
  modules = builtins.attrNames flake.nixosModules;
  sameModule = flake.nixosModules.default == flake.nixosModules.hwc;
  moduleFile = toString flake.nixosModules.hwc;
  overlay =
    let
      prev = import ./tests/nix/pkgs.nix { lib = import ../../shared/vendor/nixpkgs-lib/lib; };
      final = prev // flake.overlays.default final prev;
    in
    final.hwc.name;
  platforms = flake.packages.aarch64-linux.hwc.meta.platforms;
  configurations = builtins.attrNames flake.nixosConfigurations;
  homeModules = builtins.attrNames flake.homeManagerModules;
  homeModuleFile = toString flake.homeManagerModules.default;
  lib = builtins.attrNames flake.lib;
}"#
        .replace("../../shared", &format!("{}/../shared", repo().display()))
        .replace("./tests", &format!("{}/tests", repo().display()))
        .as_str(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for system in ["x86_64-linux", "aarch64-linux"] {
        assert_eq!(
            outputs["packages"][system],
            serde_json::json!(["default", "hwc"])
        );
        assert!(strings(&outputs["checks"][system]).contains(&"hwc".to_string()));
    }
    assert!(strings(&outputs["checks"]["x86_64-linux"]).contains(&"hwc-laptop".to_string()));
    assert_eq!(outputs["modules"], serde_json::json!(["default", "hwc"]));
    assert_eq!(outputs["sameModule"], true);
    assert!(
        outputs["moduleFile"]
            .as_str()
            .unwrap()
            .ends_with("install/nix/infrastructure"),
        "a file, not a function: {}",
        outputs["moduleFile"]
    );
    assert_eq!(outputs["overlay"], "hwc-0.1.0");
    assert_eq!(
        outputs["platforms"],
        serde_json::json!(["x86_64-linux", "aarch64-linux"])
    );
    assert_eq!(outputs["configurations"], serde_json::json!(["hwc-laptop"]));
    assert_eq!(
        outputs["homeModules"],
        serde_json::json!(["default", "hwc"])
    );
    assert!(outputs["homeModuleFile"]
        .as_str()
        .unwrap()
        .ends_with("install/nix/home"));
    assert_eq!(
        outputs["lib"],
        serde_json::json!(["gatherSys", "mkAppIntegration"])
    );

    // The example machine evaluates with no failed assertion and no warning, and the domain
    // documentation's troubleshooting command reads it (nix-instantiate's form of
    // `nix eval .#nixosConfigurations.hwc-laptop.config.hwc.infrastructure.session`).
    let laptop = flake_eval(
        r#"let c = flake.nixosConfigurations.hwc-laptop.config; in {
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
  inherit (c) warnings;
  prime = c.hardware.nvidia.prime;
  units = builtins.attrNames c.systemd.units;
}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(laptop["failed"], serde_json::json!([]));
    assert_eq!(laptop["warnings"], serde_json::json!([]));
    assert_eq!(laptop["prime"]["offload"]["enable"], true);
    assert_eq!(laptop["prime"]["nvidiaBusId"], "PCI:1@0:0:0");
    for unit in [
        "hwc-gpu-env.service",
        "hwc-perms-check.service",
        "setup-ssh-keys-eric.service",
    ] {
        assert!(
            strings(&laptop["units"]).contains(&unit.to_string()),
            "{unit}"
        );
    }
    let session =
        flake_eval("flake.nixosConfigurations.hwc-laptop.config.hwc.infrastructure.session")
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(session["services"]["username"], "eric");
    assert_eq!(session["commands"]["enable"], true);
    assert_eq!(session["chromium"]["enable"], true);
    // The documented command as written, in the domain documentation.
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(
            "nix eval .#nixosConfigurations.hwc-laptop.config.hwc.infrastructure.session"
        ),
        "the README documents the command this runs"
    );

    // Imported twice (two profiles, and the folder itself): one module, which evaluates.
    let twice = flake_eval(&format!(
        r#"let
  c = flake.nixosConfigurations.hwc-laptop.extendModules {{
    modules = [ flake.nixosModules.default flake.nixosModules.hwc {folder} ];
  }};
in {{ package = c.config.hwc.infrastructure.session.commands.package; }}"#,
        folder = repo().join("install/nix/infrastructure").display(),
    ))
    .unwrap_or_else(|e| panic!("imported twice: {e}"));
    assert_eq!(twice["package"], "/nix/store/hwc-0.1.0");
    // ... and beside a second copy of the domain (another checkout, another store path): the
    // module's key makes it the same module, taken once.
    let copy = tempfile::tempdir().unwrap();
    let o = Command::new("cp")
        .arg("-r")
        .arg(repo().join("install/nix"))
        .arg(copy.path())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let copied = copy.path().join("nix/infrastructure");
    flake_eval(&format!(
        r#"(flake.nixosConfigurations.hwc-laptop.extendModules {{
  modules = [ {} ];
}}).config.hwc.infrastructure.session.commands.enable"#,
        copied.display()
    ))
    .unwrap_or_else(|e| panic!("beside a copy: {e}"));

    // An error inside the module names its file.
    let e = flake_eval(
        r#"(flake.nixosConfigurations.hwc-laptop.extendModules {
  modules = [ { systemd.services.hwc-gpu-env.serviceConfig.Type = "simple"; } ];
}).config.systemd.units."hwc-gpu-env.service".text"#,
    )
    .unwrap_err();
    assert!(
        e.contains("install/nix/infrastructure/hardware/gpu.nix"),
        "the definition's file is named: {e}"
    );
    assert!(
        !e.contains("<unknown-file>': \"oneshot\""),
        "hwc's own definition has its file: {e}"
    );
}

#[test]
fn every_nixos_declaration_the_tests_use_names_its_nixpkgs_file() {
    // The declarations beside the domain: each paragraph of options (lines between blank lines)
    // carries a comment naming the nixpkgs file it is read from.
    let mut files = vec![repo().join("tests/nix/nixos-decls.nix")];
    match shared_dir("vendor/nixos-subset") {
        Some(d) => files.push(d.join("decls.nix")),
        None => skip("../shared/vendor/nixos-subset is absent"),
    }
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let start = text.find("  options = {\n").unwrap() + "  options = {\n".len();
        let options = &text[start..];
        let options = &options[..options.find("\n  };\n").unwrap()];
        let mut declared = 0;
        for paragraph in options.split("\n\n") {
            if !paragraph.contains("mkOption")
                && !paragraph.contains("mkEnableOption")
                && !paragraph.contains("bool ")
            {
                continue;
            }
            declared += 1;
            assert!(
                paragraph
                    .lines()
                    .any(|l| l.trim_start().starts_with('#') && l.contains("nixos/modules/")),
                "{}: no nixpkgs file named for:\n{paragraph}",
                file.display()
            );
        }
        assert!(declared >= 5, "{}: {declared} paragraphs", file.display());
    }
}

#[test]
fn every_nix_file_parses() {
    if !nix_ready() {
        return;
    }
    let mut files = Vec::new();
    for dir in ["install/nix", "tests/nix"] {
        files.extend(
            walk(&repo().join(dir))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "nix")),
        );
    }
    assert!(files.len() >= 12, "{files:?}");
    for f in files {
        let o = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(&f)
            .env("NIX_CONFIG", "build-users-group =")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}: {}", f.display(), stderr(&o));
    }
}

#[test]
fn the_modules_name_the_binarys_applets_and_group_sets() {
    if !nix_ready() {
        return;
    }
    let lib = shared_dir("vendor/nixpkgs-lib/lib").unwrap();
    let o = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--expr"])
        .arg(format!(
            "let lib = import {}; h = import {} {{ inherit lib; }}; in {{ inherit (h) applets groupSets; }}",
            lib.display(),
            repo().join("install/nix/infrastructure/lib.nix").display()
        ))
        .env("NIX_CONFIG", "build-users-group =")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = run_hwc(["--list"]);
    assert_eq!(
        strings(&doc["applets"]),
        stdout(&list).lines().collect::<Vec<_>>()
    );

    // hwc-perms's defaults, through the binary: on a root with no groups, every group of every
    // set is reported as not on this system.
    let r = tempfile::tempdir().unwrap();
    fs::create_dir(r.path().join("etc")).unwrap();
    fs::write(r.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(r.path().join("etc/group"), "root:x:0:\n").unwrap();
    let o = Command::new(hwc())
        .args(["hwc-perms", "groups", "--user", "root", "--json", "--root"])
        .arg(r.path())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut defaults = serde_json::Map::new();
    for set in report["sets"].as_array().unwrap() {
        let mut groups = strings(&set["absent"]);
        groups.extend(strings(&set["absent_optional"]));
        defaults.insert(set["name"].as_str().unwrap().into(), groups.into());
    }
    assert_eq!(Value::Object(defaults), doc["groupSets"]);
}

/// A place both root and the test's login user can reach, and that sshd's StrictModes accepts
/// on the way to a key file: under /run (root's, not world-writable), mode 0755.
fn public_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("hwc-nixos-")
        .tempdir_in("/run")
        .unwrap();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// hwc's package as the evaluation names it: bin/hwc and every applet link.
fn package(dir: &Path) -> PathBuf {
    let out = dir.join("hwc-0.1.0");
    fs::create_dir_all(out.join("bin")).unwrap();
    copy_hwc(&out.join("bin"));
    let o = Command::new(out.join("bin/hwc"))
        .args(["--install", "-s"])
        .arg(out.join("bin"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    out
}

/// A root made as the evaluation declares it: /etc/passwd and /etc/group from its users and
/// groups (gids as this machine has them, else from 2000), its /etc files, the users' homes.
fn make_root(doc: &Value, root: &Path, owner_uid: u32) {
    fs::create_dir_all(root.join("etc")).unwrap();
    let real_groups = fs::read_to_string("/etc/group").unwrap();
    let gid_of = |name: &str, fallback: u32| {
        real_groups
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f[0] == name).then(|| f[2].parse::<u32>().unwrap())
            })
            .unwrap_or(fallback)
    };
    let users = doc["users"].as_object().unwrap();
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\n");
    let mut names: Vec<&String> = doc["groups"].as_object().unwrap().keys().collect();
    let users_group = "users".to_string();
    names.push(&users_group);
    let mut group = String::from("root:x:0:\n");
    for (i, g) in names.iter().enumerate() {
        let members: Vec<&str> = users
            .values()
            .filter(|u| strings(&u["extraGroups"]).contains(g))
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        group.push_str(&format!(
            "{g}:x:{}:{}\n",
            gid_of(g, 2000 + i as u32),
            members.join(",")
        ));
    }
    for (i, u) in users.values().enumerate() {
        let (name, home) = (u["name"].as_str().unwrap(), u["home"].as_str().unwrap());
        let gid = gid_of(u["group"].as_str().unwrap(), 100);
        // A system user (a service's, with no uid declared) gets one; no home is made for it.
        let Some(uid) = u["uid"].as_u64() else {
            passwd.push_str(&format!("{name}:x:{}:{gid}::{home}:/bin/sh\n", 400 + i));
            continue;
        };
        passwd.push_str(&format!("{name}:x:{uid}:{gid}::{home}:/bin/sh\n"));
        let h = root.join(home.trim_start_matches('/'));
        fs::create_dir_all(&h).unwrap();
        fs::set_permissions(root.join("home"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&h, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&h, Some(owner_uid), None).unwrap();
    }
    fs::write(root.join("etc/passwd"), passwd).unwrap();
    fs::write(root.join("etc/group"), group).unwrap();
    for (target, file) in doc["etc"].as_object().unwrap() {
        let path = root.join("etc").join(target);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, file["text"].as_str().unwrap()).unwrap();
    }
}

/// The unit's ExecStart (or another Exec key) as systemd splits it, then as it spawns it.
fn exec_argv(doc: &Value, unit: &str, key: &str) -> Vec<String> {
    let line = doc["services"][unit]["serviceConfig"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{unit} has no {key}"));
    let exec = systemd_exec::parse(line).unwrap_or_else(|e| panic!("{unit}: {e}: {line}"));
    systemd_exec::spawn_argv(&exec, &HashMap::new())
}

fn run_argv(argv: &[String], extra: &[&str]) -> std::process::Output {
    Command::new(&argv[0])
        .args(&argv[1..])
        .args(extra)
        .output()
        .unwrap()
}

/// Writes the evaluation's units into `dir` (system) and `dir/user`, for systemd to read.
fn write_units(doc: &Value, dir: &Path) -> Vec<String> {
    fs::create_dir_all(dir.join("user")).unwrap();
    let mut ours = Vec::new();
    for (name, text) in doc["units"].as_object().unwrap() {
        let text = text.as_str().unwrap();
        // Other modules' services (the jellyfin a mount is required by) run programs that are
        // not here.
        if name.ends_with(".service") && !text.contains("hwc-0.1.0/bin/") {
            continue;
        }
        fs::write(dir.join(name), text).unwrap();
        ours.push(name.clone());
    }
    for (name, text) in doc["userUnits"].as_object().unwrap() {
        fs::write(dir.join("user").join(name), text.as_str().unwrap()).unwrap();
    }
    make_public(dir);
    ours
}

/// Everything under `dir` made readable by all (directories 0755, files 0644), for a reader
/// that is not root (systemd run as nobody).
fn make_public(dir: &Path) {
    for e in walk(dir) {
        let mode = if e.is_dir() { 0o755 } else { 0o644 };
        fs::set_permissions(&e, fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// The units `systemd --test` (run as nobody: it refuses root) loaded when asked to start
/// `unit`, each as its dump block by unit name.
fn systemd_dump(units: &Path, unit: &str, user_mode: bool) -> HashMap<String, String> {
    let rt = tempfile::tempdir().unwrap();
    fs::set_permissions(rt.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg("/lib/systemd/systemd")
        .args([
            "--test",
            if user_mode { "--user" } else { "--system" },
            &format!("--unit={unit}"),
            "--no-pager",
        ])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .env("XDG_RUNTIME_DIR", rt.path())
        .env("HOME", "/")
        .output()
        .unwrap();
    let dump = stdout(&o);
    let blocks: HashMap<String, String> = dump
        .split("-> Unit ")
        .skip(1)
        .filter_map(|b| {
            let (name, rest) = b.split_once(":\n")?;
            Some((name.to_string(), rest.to_string()))
        })
        .collect();
    assert!(
        blocks.contains_key(unit),
        "systemd did not load {unit}: {}",
        stderr(&o)
    );
    blocks
}

/// The command lines `systemd --test` loaded for `unit`.
fn systemd_command_lines(units: &Path, unit: &str, user_mode: bool) -> Vec<String> {
    systemd_dump(units, unit, user_mode)[unit]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Command Line: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_units_run_as_systemd_reads_them() {
    if !nix_ready() {
        return;
    }
    if !is_root() {
        skip("a login user, sshd and systemd's test mode need root (tests/run runs as root)");
        return;
    }
    if !have("ssh-keygen") || !Path::new("/usr/sbin/sshd").exists() || !have("systemd-analyze") {
        skip("ssh-keygen, sshd or systemd-analyze missing (tests/run installs them)");
        return;
    }
    const USER: &str = "hwc-nixos";
    let uid = sshd::ensure_login_user(USER);
    let top = public_dir();
    let dir = top.path();
    let hwc_out = package(dir);

    // A key as users keep it: generated, its comment holding what systemd and shells read
    // specially, read back with builtins.readFile (so with its trailing newline).
    let key = dir.join("id");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-C", "x", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = fs::read_to_string(dir.join("id.pub")).unwrap();
    let blob: Vec<&str> = public.split_whitespace().take(2).collect();
    let line = format!("{} {} 100% \\o/ $HOME ${{USER}} %i \"q\"", blob[0], blob[1]);
    let key_file = dir.join("fallback.pub");
    fs::write(&key_file, format!("{line}\n")).unwrap();

    let textfiles = dir.join("textfiles");
    let cfg = module(dir, "all", &everything(USER, uid, &key_file, &textfiles));
    let doc = eval(
        &[cfg],
        &Store {
            hwc: Some(&hwc_out),
            ..Store::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));

    // systemd's own parse of every ExecStart/ExecStop equals ours (before `$`, which it
    // substitutes only at spawn).
    let units = dir.join("units");
    let ours = write_units(&doc, &units);
    let check = |unit: &str, user_mode: bool, section: &Value| {
        let dir = if user_mode {
            units.join("user")
        } else {
            units.clone()
        };
        let loaded = systemd_command_lines(&dir, unit, user_mode);
        let mut expected = Vec::new();
        for key in ["ExecStart", "ExecStartPost", "ExecStop"] {
            if let Some(line) = section["serviceConfig"][key].as_str() {
                let exec = systemd_exec::parse(line).unwrap();
                let quoted: Vec<String> = exec
                    .argv
                    .iter()
                    .map(|a| systemd_exec::dump_quote(a))
                    .collect();
                expected.push(quoted.join(" "));
            }
        }
        assert_eq!(loaded, expected, "{unit}");
    };
    for unit in ours.iter().filter(|u| u.ends_with(".service")) {
        let name = unit.trim_end_matches(".service");
        check(unit, false, &doc["services"][name]);
    }
    check(
        "hwc-session-init.service",
        true,
        &doc["userServices"]["hwc-session-init"],
    );

    // ... and what it hands over is what was declared, whatever the characters.
    let user_exec = systemd_exec::parse(
        doc["userServices"]["hwc-session-init"]["serviceConfig"]["ExecStart"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        systemd_exec::spawn_argv(&user_exec, &HashMap::new())[1..],
        [
            "--secret".to_string(),
            r#"github-token=/run/agenix/github token 100% \o/ $HOME "q""#.to_string()
        ]
    );
    assert_eq!(
        exec_argv(&doc, "hwc-bridge-br-lab", "ExecStart")[1..],
        [
            "ensure-bridge",
            "br-lab",
            "10.89.0.1/24",
            "fd00:89::1/64",
            "--mtu",
            "1400"
        ]
    );

    // The doctor's timer as systemd loads it: the calendar it parsed, the service it starts.
    let loaded = systemd_dump(&units, "hwc-doctor.timer", false);
    let timer: Vec<&str> = loaded["hwc-doctor.timer"].lines().map(str::trim).collect();
    for line in [
        "Unit Load State: loaded",
        "Unit: hwc-doctor.service",
        "OnCalendar: *-*-* *:00:00",
        "OnBootSec: 2min",
        "Persistent: yes",
    ] {
        assert!(timer.contains(&line), "{line} in {timer:#?}");
    }
    assert!(
        loaded["hwc-doctor.service"].contains("Unit Load State: loaded\n"),
        "{}",
        loaded["hwc-doctor.service"]
    );

    // systemd-analyze verify: every unit loads, every program is executable; timers included
    // (a calendar it cannot parse is a warning naming the unit, refused below).
    assert!(ours.contains(&"hwc-doctor.timer".to_string()), "{ours:?}");
    let paths: Vec<PathBuf> = ours.iter().map(|u| units.join(u)).collect();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "systemd-analyze verify: {}", stderr(&o));
    // verify exits 0 on warnings ("path is not absolute, ignoring"): none may name our units.
    for unit in &ours {
        let base = unit.rsplit_once('.').unwrap().0;
        assert!(
            !stderr(&o).contains(base),
            "systemd-analyze warned about {unit}: {}",
            stderr(&o)
        );
    }
    let o = Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(units.join("user/hwc-session-init.service"))
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "systemd-analyze --user verify: {}", stderr(&o));

    // The SSH unit, against a root made as declared: the fallback key lands byte for byte.
    let root = dir.join("root");
    make_root(&doc, &root, uid);
    let unit = format!("setup-ssh-keys-{USER}");
    let argv = exec_argv(&doc, &unit, "ExecStart");
    assert_eq!(argv[1..], [USER.to_string()], "no key material in argv");
    let o = run_argv(&argv, &["--root", root.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let file = root.join(format!("home/{USER}/.ssh/authorized_keys"));
    let written = fs::read_to_string(&file).unwrap();
    assert!(
        written.lines().any(|l| l == line),
        "{line:?} in:\n{written}"
    );

    // ... and a real sshd lets the key's holder in with that file.
    let config = dir.join("sshd_config");
    let host = dir.join("host");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&host)
        .status()
        .unwrap()
        .success());
    fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\nStrictModes yes\n\
             AuthorizedKeysFile {}/home/%u/.ssh/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n",
            host.display(),
            root.display()
        ),
    )
    .unwrap();
    let (ok, log) = sshd::login(
        &config,
        &dir.join("sshd.log"),
        USER,
        &["-i", key.to_str().unwrap()],
    );
    assert!(ok, "sshd refused the installed fallback key:\n{log}");

    // The doctor's unit, against the same root: it reads the declaration the evaluation wrote
    // (exit 1: the bridge is not up here, the GPU not there) and writes its gauges where the
    // unit says.
    fs::create_dir_all(&textfiles).unwrap();
    let argv = exec_argv(&doc, "hwc-doctor", "ExecStart");
    let o = run_argv(&argv, &["--root", root.to_str().unwrap()]);
    assert!([0, 1].contains(&code(&o)), "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("declared.json"), "{}", stderr(&o));
    let gauges = fs::read_to_string(textfiles.join("hwc-doctor.prom")).unwrap();
    assert!(gauges.contains("# TYPE hwc_check_ok gauge\n"), "{gauges}");
    assert!(
        gauges.contains("hwc_check_ok{bucket=\"session/services\",check=\"authorized-keys\"} 1\n"),
        "the key the SSH unit installed: {gauges}"
    );
    assert!(
        gauges.contains(&format!("hwc_ssh_authorized_keys{{user=\"{USER}\"}} 1\n")),
        "{gauges}"
    );
    assert!(
        gauges.contains("hwc_bridge_up{bridge=\"br-lab\"} 0\n"),
        "{gauges}"
    );

    // The permissions check passes as declared, fails once a declared group is taken away.
    let argv = exec_argv(&doc, "hwc-perms-check", "ExecStart");
    let root_arg = ["--root", root.to_str().unwrap()];
    let o = run_argv(&argv, &root_arg);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let group = fs::read_to_string(root.join("etc/group")).unwrap();
    let taken: String = group
        .lines()
        .map(|l| {
            if l.starts_with("render:") {
                "render:x:2999:\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(root.join("etc/group"), taken).unwrap();
    let o = run_argv(&argv, &root_arg);
    assert_eq!(code(&o), 1, "render taken away: {}", stdout(&o));
    assert!(stdout(&o).contains("render"), "{}", stdout(&o));

    // The bridge unit, in a network namespace of its own.
    let ns = format!("hwc-nixos-{}", std::process::id());
    if Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .is_ok_and(|s| s.success())
    {
        let argv = exec_argv(&doc, "hwc-bridge-br-lab", "ExecStart");
        let o = Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(&argv)
            .output()
            .unwrap();
        let shown = Command::new("ip")
            .args(["-n", &ns, "-j", "addr", "show", "dev", "br-lab"])
            .output()
            .unwrap();
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let text = stdout(&shown);
        for a in ["\"10.89.0.1\"", "\"fd00:89::1\"", "\"mtu\":1400"] {
            assert!(text.contains(a), "{a} in {text}");
        }
    }

    // PATH without gpu-launch (gpuLaunch = false), each link running its applet.
    let farm = dir.join("commands");
    for entry in doc["systemPackages"][0]["entries"].as_array().unwrap() {
        let link = farm.join(entry["name"].as_str().unwrap());
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(entry["path"].as_str().unwrap(), &link).unwrap();
    }
    assert!(!farm.join("bin/gpu-launch").exists());
    let o = Command::new(farm.join("bin/hwc-netlink"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("Usage: hwc-netlink"), "{}", stdout(&o));
}

/// The initrd's shell, made from what each stage 1 is given: systemd stage 1 links the bin/ of
/// every `initrdBin` package into /bin (a buildEnv of them, as nixos/modules/system/boot/systemd/
/// initrd.nix does); scripted stage 1 runs `extraUtilsCommands` into extra-utils, with
/// stage-1.nix's copy_bin_and_libs, then `extraUtilsCommandsTest` against it.
#[test]
fn both_stage1s_put_hwc_on_the_initrd_shells_path() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let hwc_out = package(t.path());
    let m = module(
        t.path(),
        "initrd",
        "hwc.infrastructure.session.commands.initrd.enable = true;",
    );
    let applets = stdout(&run_hwc(["--list"]));
    let applets: Vec<&str> = applets.lines().collect();
    assert!(applets.len() >= 7, "{applets:?}");
    for stage1 in STAGE1 {
        let store = Store {
            hwc: Some(&hwc_out),
            stage1,
            ..Store::default()
        };
        let doc =
            eval(std::slice::from_ref(&m), &store).unwrap_or_else(|e| panic!("{stage1}: {e}"));
        assert_eq!(doc["warnings"], serde_json::json!([]), "{stage1}");
        let initrd = &doc["nixos"]["boot"]["initrd"];
        let bin = t.path().join(format!("initrd-{stage1}/bin"));
        fs::create_dir_all(&bin).unwrap();
        match stage1 {
            "systemd" => {
                assert_eq!(initrd["extraUtilsCommands"], "");
                assert_eq!(initrd["extraUtilsCommandsTest"], "");
                let packages = initrd["systemd"]["initrdBin"].as_array().unwrap();
                assert_eq!(packages.len(), 1, "{packages:?}");
                // buildEnv: a link in /bin to each entry of each package's bin/.
                for p in packages {
                    let pbin = Path::new(p["out"].as_str().unwrap()).join("bin");
                    for e in fs::read_dir(&pbin).unwrap().flatten() {
                        std::os::unix::fs::symlink(e.path(), bin.join(e.file_name())).unwrap();
                    }
                }
            }
            _ => {
                assert_eq!(
                    initrd["systemd"]["initrdBin"],
                    serde_json::json!([]),
                    "{stage1}"
                );
                let out = bin.parent().unwrap();
                let script = initrd["extraUtilsCommands"].as_str().unwrap();
                let test = initrd["extraUtilsCommandsTest"].as_str().unwrap();
                assert!(test.contains("$out/bin/hwc --list"), "{test}");
                let o = Command::new("bash")
                    .arg("-c")
                    .arg(format!(
                        "set -eu; copy_bin_and_libs() {{ cp -pd \"$1\" \"$out/bin/\"; }}\n{script}\n{test}"
                    ))
                    .env("out", out)
                    .output()
                    .unwrap();
                assert_eq!(code(&o), 0, "{}", stderr(&o));
            }
        }
        // The shell's PATH is /bin: every applet answers by its name.
        for applet in std::iter::once("hwc").chain(applets.iter().copied()) {
            let o = Command::new("/bin/sh")
                .args(["-c", &format!("{applet} --help")])
                .env("PATH", &bin)
                .output()
                .unwrap();
            assert_eq!(code(&o), 0, "{stage1} stage 1: {applet}: {}", stderr(&o));
        }
        assert!(
            stdout(
                &Command::new(bin.join("hwc-netlink"))
                    .arg("--help")
                    .output()
                    .unwrap()
            )
            .contains("Usage: hwc-netlink"),
            "{stage1}: the link runs its applet"
        );
    }
}

/// The declaration a fleet shares (every machine imports it): one network, its overlay over
/// `wg0`, podman and docker told, and every machine's address and lease range for the checks.
const FLEET_SHARED: &str = r#"{ lib, ... }:
{
  hwc.infrastructure.mesh.containerNetworking = {
    enable = true;
    networks.media = {
      subnet = "10.77.0.0/24";
      overlay = {
        vni = 4242;
        underlay = "wg0";
        peers = [ "10.100.0.1" "10.100.0.2" ];
        underlayMtu = 1420;
      };
      podman = true;
      docker = true;
      fleet = {
        jelly = { hostAddress = "10.77.0.1"; leaseRange = { start = "10.77.0.64"; end = "10.77.0.127"; }; };
        llm = { hostAddress = "10.77.0.2"; leaseRange = { start = "10.77.0.128"; end = "10.77.0.191"; }; };
      };
    };
  };
  virtualisation.podman.enable = true;
  virtualisation.docker.enable = true;
}
"#;

/// One machine of the fleet: the shared file, and its own three values.
fn fleet_machine(dir: &Path, name: &str, host: &str, lease: (&str, &str), local: &str) -> PathBuf {
    fs::write(dir.join("shared.nix"), FLEET_SHARED).unwrap();
    let path = dir.join(format!("{name}.nix"));
    fs::write(
        &path,
        format!(
            r#"{{
  imports = [ ./shared.nix ];
  networking.hostName = "{name}";
  hwc.infrastructure.mesh.containerNetworking.networks.media = {{
    hostAddress = "{host}";
    leaseRange = {{ start = "{}"; end = "{}"; }};
    overlay.local = "{local}";
  }};
}}
"#,
            lease.0, lease.1
        ),
    )
    .unwrap();
    path
}

/// Every ExecStartPre and ExecStart line of `unit`, as systemd splits and spawns them.
fn exec_lines(doc: &Value, unit: &str) -> Vec<Vec<String>> {
    let config = &doc["services"][unit]["serviceConfig"];
    let mut lines = Vec::new();
    for key in ["ExecStartPre", "ExecStart"] {
        let values = match &config[key] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            _ => Vec::new(),
        };
        for line in values {
            let exec = systemd_exec::parse(&line).unwrap_or_else(|e| panic!("{unit}: {e}: {line}"));
            lines.push(systemd_exec::spawn_argv(&exec, &HashMap::new()));
        }
    }
    lines
}

#[test]
fn a_fleet_of_two_machines_gets_one_network() {
    if !nix_ready() {
        return;
    }
    let top = public_dir();
    let dir = top.path();
    let hwc_out = package(dir);
    let store = Store {
        hwc: Some(&hwc_out),
        ..Store::default()
    };
    let jelly = fleet_machine(
        dir,
        "jelly",
        "10.77.0.1",
        ("10.77.0.64", "10.77.0.127"),
        "10.100.0.1",
    );
    let llm = fleet_machine(
        dir,
        "llm",
        "10.77.0.2",
        ("10.77.0.128", "10.77.0.191"),
        "10.100.0.2",
    );
    let machines: Vec<Value> = [&jelly, &llm]
        .iter()
        .map(|m| eval(&[(*m).clone()], &store).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut ids = Vec::new();
    for (doc, (me, peer, lease)) in machines.iter().zip([
        ("10.100.0.1", "10.100.0.2", ("10.77.0.64", "10.77.0.127")),
        ("10.100.0.2", "10.100.0.1", ("10.77.0.128", "10.77.0.191")),
    ]) {
        assert_eq!(doc["warnings"], serde_json::json!([]));
        let lines = exec_lines(doc, "hwc-network-media");
        let joined: Vec<String> = lines.iter().map(|l| l[1..].join(" ")).collect();
        assert_eq!(
            joined,
            [
                "wait-online wg0 --timeout 60".to_string(),
                format!(
                    "ensure-bridge hwc-media {}/24",
                    if me.ends_with(".1") {
                        "10.77.0.1"
                    } else {
                        "10.77.0.2"
                    }
                ),
                format!(
                    "ensure-overlay vx-4242 --vni 4242 --bridge hwc-media --local {me} --dev wg0 \
                     --port 4789 --mtu 1370 --peer {peer}"
                ),
            ]
        );
        // After the underlay, and again whenever its interface comes back.
        let unit = doc["units"]["hwc-network-media.service"].as_str().unwrap();
        assert_eq!(
            unit_setting(unit, "BindsTo"),
            Some("sys-subsystem-net-devices-wg0.device")
        );
        assert_eq!(
            strings(&doc["unitLinks"]["hwc-network-media.service"]["wantedBy"]),
            ["multi-user.target", "sys-subsystem-net-devices-wg0.device"]
        );
        // podman's file: hwc's bridge, this host's gateway and lease range, the overlay's MTU.
        let file: Value = serde_json::from_str(
            doc["etc"]["containers/networks/media.json"]["text"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(file["network_interface"], "hwc-media");
        assert_eq!(file["subnets"][0]["subnet"], "10.77.0.0/24");
        assert_eq!(file["subnets"][0]["lease_range"]["start_ip"], lease.0);
        assert_eq!(file["subnets"][0]["lease_range"]["end_ip"], lease.1);
        assert_eq!(file["options"]["mtu"], "1370");
        ids.push(file["id"].clone());
        // docker's oneshot after docker.service.
        let docker = doc["units"]["hwc-docker-network-media.service"]
            .as_str()
            .unwrap();
        assert!(unit_setting(docker, "After").is_some_and(|a| a.contains("docker.service")));
    }
    assert_eq!(ids[0], ids[1], "one network: the same id on both machines");

    // systemd itself reads the unit: bound to the underlay's device unit, and pulled in by it.
    if is_root() && have("setpriv") {
        let units = public_dir();
        let text = machines[0]["units"]["hwc-network-media.service"]
            .as_str()
            .unwrap();
        fs::write(units.path().join("hwc-network-media.service"), text).unwrap();
        make_public(units.path());
        let dump = systemd_dump(units.path(), "hwc-network-media.service", false);
        let unit = &dump["hwc-network-media.service"];
        for line in [
            "BindsTo: sys-subsystem-net-devices-wg0.device",
            "After: sys-subsystem-net-devices-wg0.device",
        ] {
            // systemd writes where a dependency came from after it: "(origin-file)".
            assert!(
                unit.lines().any(|l| l.trim().starts_with(line)),
                "{line} in:\n{unit}"
            );
        }
        assert_eq!(
            systemd_command_lines(units.path(), "hwc-network-media.service", false).len(),
            3,
            "wait-online, ensure-bridge, ensure-overlay"
        );
    }

    // Made real: each machine a network namespace, wg0 between them (a veth pair with
    // WireGuard's MTU), the units' lines run in them as systemd spawns them; then a container
    // on each machine, with an address of that machine's lease range, reaches the other's.
    if !is_root() {
        skip("network namespaces need root (tests/run runs as root)");
        return;
    }
    let Some(a) = common::netns::Netns::new("fleeta") else {
        return;
    };
    let Some(b) = common::netns::Netns::new("fleetb") else {
        return;
    };
    let ip = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().unwrap();
        assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
    };
    ip(&[
        "link", "add", "wg0", "netns", &a.name, "mtu", "1420", "type", "veth", "peer", "name",
        "wg0", "netns", &b.name, "mtu", "1420",
    ]);
    for (ns, addr) in [(&a, "10.100.0.1/24"), (&b, "10.100.0.2/24")] {
        ip(&["-n", &ns.name, "addr", "add", addr, "dev", "wg0"]);
        ip(&["-n", &ns.name, "link", "set", "wg0", "up"]);
    }
    let mut containers = Vec::new();
    for (i, (ns, doc)) in [(&a, &machines[0]), (&b, &machines[1])]
        .into_iter()
        .enumerate()
    {
        for argv in exec_lines(doc, "hwc-network-media") {
            let o = Command::new("ip")
                .args(["netns", "exec", &ns.name])
                .args(&argv)
                .output()
                .unwrap();
            assert_eq!(code(&o), 0, "{argv:?}: {}", stderr(&o));
        }
        let c = common::netns::Netns::new(&format!("fleetc{i}")).unwrap();
        ns.ok(&[
            "ensure-veth",
            &format!("vc{i}"),
            "eth0",
            "--master",
            "hwc-media",
            "--netns",
            &c.name,
        ]);
        let addr = ["10.77.0.64/24", "10.77.0.128/24"][i];
        c.ok(&["addr", "add", addr, "dev", "eth0"]);
        c.ok(&["link", "set", "eth0", "up", "mtu", "1370"]);
        containers.push(c);
    }
    assert_eq!(a.hwc_json(&["link", "show", "vx-4242"])[0]["mtu"], 1370);
    std::thread::sleep(std::time::Duration::from_millis(300));
    if have("ping") {
        let ping = Command::new("ip")
            .args([
                "netns",
                "exec",
                &containers[0].name,
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                "10.77.0.128",
            ])
            .output()
            .unwrap();
        assert!(ping.status.success(), "{}", stdout(&ping));
    }
    // The units again: nothing to do.
    for (ns, doc) in [(&a, &machines[0]), (&b, &machines[1])] {
        let argv = exec_lines(doc, "hwc-network-media").pop().unwrap();
        let o = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(&argv)
            .output()
            .unwrap();
        assert_eq!(stdout(&o), "vx-4242: already as wanted\n");
    }
}

/// Every machine imports the same list of peers and leaves its own address out, however the
/// list spells it: hwc-netlink refuses a peer that is the --local address, so one left in would
/// fail the unit at start. A peer spelled twice is one (hwc-netlink makes it one entry; the
/// doctor would count two).
#[test]
fn an_overlay_leaves_out_its_own_address_however_it_is_spelled() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let config = module(
        t.path(),
        "v6",
        r#"hwc.infrastructure.mesh.containerNetworking = { enable = true; networks.media = {
  subnet = "10.77.0.0/24"; hostAddress = "10.77.0.1"; leaseRange = { start = "10.77.0.64"; end = "10.77.0.127"; };
  overlay = { vni = 7; underlay = "eth0"; local = "fd00::1"; peers = [ "fd00:0::1" "FD00:0:0:0:0:0:0:0001" "fd00::2" "fd00:0::2" ]; };
}; };
virtualisation.podman.enable = true;"#,
    );
    let doc = eval(&[config], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let lines = exec_lines(&doc, "hwc-network-media");
    let overlay = lines
        .iter()
        .find(|l| l.get(1).is_some_and(|w| w == "ensure-overlay"))
        .expect("an ensure-overlay line");
    let peers: Vec<&String> = overlay
        .windows(2)
        .filter(|w| w[0] == "--peer")
        .map(|w| &w[1])
        .collect();
    assert_eq!(peers, ["fd00::2"], "{overlay:?}");
}

#[test]
fn fleet_mistakes_are_refused_naming_the_option() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let net = "hwc.infrastructure.mesh.containerNetworking.networks";
    let base = |extra: &str| {
        format!(
            r#"hwc.infrastructure.mesh.containerNetworking = {{ enable = true; networks = {{ {extra} }}; }};
virtualisation.docker.enable = true; virtualisation.podman.enable = true;"#
        )
    };
    let one = r#"subnet = "10.77.0.0/24"; hostAddress = "10.77.0.1"; leaseRange = { start = "10.77.0.64"; end = "10.77.0.127"; };"#;
    let cases = [
        (
            "overlapping lease ranges",
            base(&format!(
                r#"media = {{ {one} fleet.llm = {{ hostAddress = "10.77.0.2"; leaseRange = {{ start = "10.77.0.100"; end = "10.77.0.150"; }}; }}; }};"#
            )),
            format!("{net}.media.leaseRange: llm's 10.77.0.100-10.77.0.150 overlaps this machine's 10.77.0.64-10.77.0.127"),
        ),
        (
            "a host address inside another host's range",
            base(&format!(
                r#"media = {{ {one} fleet.llm = {{ hostAddress = "10.77.0.70"; leaseRange = {{ start = "10.77.0.128"; end = "10.77.0.191"; }}; }}; }};"#
            )),
            format!("{net}.media.hostAddress: llm's 10.77.0.70 is inside this machine's lease range 10.77.0.64-10.77.0.127"),
        ),
        (
            "a VNI used twice",
            base(&format!(
                r#"a = {{ {one} overlay = {{ vni = 7; underlay = "eth0"; local = "192.0.2.1"; }}; }};
                   b = {{ subnet = "10.78.0.0/24"; hostAddress = "10.78.0.1"; leaseRange = {{ start = "10.78.0.10"; end = "10.78.0.20"; }}; overlay = {{ vni = 7; underlay = "eth0"; local = "192.0.2.1"; }}; }};"#
            )),
            format!("{net}: VNI 7 is used by a and b"),
        ),
        (
            "a bridge name the kernel refuses",
            base(&format!(r#"media = {{ {one} bridge = "hwc media"; }};"#)),
            format!("{net}.media.bridge: 'hwc media' cannot be an interface name"),
        ),
        (
            "a host address outside the subnet",
            base(r#"media = { subnet = "10.77.0.0/24"; hostAddress = "10.78.0.1"; leaseRange = { start = "10.77.0.64"; end = "10.77.0.127"; }; };"#),
            format!("{net}.media.hostAddress: 10.78.0.1 is not in the subnet 10.77.0.0/24"),
        ),
        (
            "docker with a lease range that is no CIDR block",
            base(r#"media = { subnet = "10.77.0.0/24"; hostAddress = "10.77.0.1"; leaseRange = { start = "10.77.0.10"; end = "10.77.0.99"; }; docker = true; };"#),
            format!("{net}.media.leaseRange: docker takes a lease range only as a CIDR block"),
        ),
        (
            "a subnet with host bits",
            base(r#"media = { subnet = "10.77.0.1/24"; hostAddress = "10.77.0.1"; leaseRange = { start = "10.77.0.64"; end = "10.77.0.127"; }; };"#),
            format!("{net}.media.subnet: 10.77.0.1/24 has host bits set"),
        ),
        (
            "two hosts with one address",
            base(&format!(
                r#"media = {{ {one} fleet.llm = {{ hostAddress = "10.77.0.1"; leaseRange = {{ start = "10.77.0.128"; end = "10.77.0.191"; }}; }}; }};"#
            )),
            format!("{net}.media.hostAddress: llm and this machine both have 10.77.0.1"),
        ),
        (
            "this machine listed otherwise in the fleet",
            format!(
                "networking.hostName = \"jelly\";\n{}",
                base(&format!(
                    r#"media = {{ {one} fleet.jelly = {{ hostAddress = "10.77.0.3"; leaseRange = {{ start = "10.77.0.64"; end = "10.77.0.127"; }}; }}; }};"#
                ))
            ),
            format!("{net}.media.fleet.jelly: this machine (networking.hostName) is listed with 10.77.0.3"),
        ),
        (
            "a network name podman refuses",
            base(&format!(r#""-media" = {{ {one} }};"#)),
            format!("{net}.-media: '-media' cannot name a network"),
        ),
        (
            "an IPv6 group of five digits (hwc-netlink's parser takes four)",
            base(&format!(r#"media = {{ {one} overlay = {{ vni = 7; underlay = "eth0"; local = "fd00::00001"; }}; }};"#)),
            format!("{net}.media.overlay.local' is not of type `IPv4 or IPv6 address'"),
        ),
        (
            "an overlay's peers of another family",
            base(&format!(r#"media = {{ {one} overlay = {{ vni = 7; underlay = "eth0"; local = "192.0.2.1"; peers = [ "fd00::2" ]; }}; }};"#)),
            format!("{net}.media.overlay.peers: an overlay's peers and its local address are all IPv4 or all IPv6"),
        ),
    ];
    for (what, body, says) in cases {
        let config = module(t.path(), "fleet", &body);
        let err = eval(&[config], &Store::default()).expect_err(what);
        assert!(err.contains(&says), "{what}: {err}");
    }
    // Docker without docker: named.
    let config = module(
        t.path(),
        "nodocker",
        &format!(
            r#"hwc.infrastructure.mesh.containerNetworking = {{ enable = true; networks.media = {{ {one} docker = true; }}; }};"#
        ),
    );
    let err = eval(&[config], &Store::default()).unwrap_err();
    assert!(
        err.contains(&format!(
            "{net}.media.docker needs docker: virtualisation.docker.enable = true"
        )),
        "{err}"
    );
}

/// podman (Debian's, with netavark) reads the network file the module writes: `podman network
/// inspect` shows hwc's bridge and this host's lease range, and a container run on the network
/// (a busybox image built here) gets an address of that range and the overlay's MTU on hwc's
/// bridge, which netavark leaves in place when the container is gone (the overlay is its port).
#[test]
fn podman_runs_a_container_on_the_network_hwc_declared() {
    if !nix_ready() {
        return;
    }
    if !is_root() {
        skip("podman's containers and network namespaces need root (tests/run runs as root)");
        return;
    }
    if !have("podman") || !have("runc") || !have("nsenter") {
        return;
    }
    if !Path::new("/usr/lib/podman/netavark").exists() {
        skip("netavark is not installed (tests/run installs it as root)");
        return;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(busybox) = busybox else {
        skip("busybox is not installed (tests/run installs busybox-static)");
        return;
    };
    let top = public_dir();
    let dir = top.path();
    let hwc_out = package(dir);
    let store = Store {
        hwc: Some(&hwc_out),
        ..Store::default()
    };
    let jelly = fleet_machine(
        dir,
        "jelly",
        "10.77.0.1",
        ("10.77.0.64", "10.77.0.127"),
        "10.100.0.1",
    );
    let doc = eval(&[jelly], &store).unwrap_or_else(|e| panic!("{e}"));

    // podman with its own storage, and the module's file as its network configuration.
    let nets = dir.join("networks");
    fs::create_dir_all(&nets).unwrap();
    fs::write(
        nets.join("media.json"),
        doc["etc"]["containers/networks/media.json"]["text"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let conf = dir.join("containers.conf");
    fs::write(
        &conf,
        format!(
            "[network]\nnetwork_backend = \"netavark\"\nnetwork_config_dir = \"{}\"\n",
            nets.display()
        ),
    )
    .unwrap();
    let podman = |netns: Option<&str>, args: &[&str]| {
        let mut cmd = match netns {
            Some(ns) => {
                // nsenter, not `ip netns exec`: podman's runtime needs the machine's /sys.
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("podman");
                c
            }
            None => Command::new("podman"),
        };
        cmd.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(dir.join("storage"))
            .arg("--runroot")
            .arg(dir.join("run"))
            .args(["--cgroup-manager=cgroupfs", "--runtime", "runc"])
            .args(args);
        output_within(&mut cmd, std::time::Duration::from_secs(120))
    };
    let o = podman(None, &["network", "inspect", "media"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let inspected: Value = serde_json::from_slice(&o.stdout).unwrap();
    let net = &inspected[0];
    assert_eq!(net["network_interface"], "hwc-media");
    assert_eq!(net["driver"], "bridge");
    assert_eq!(net["subnets"][0]["gateway"], "10.77.0.1");
    assert_eq!(net["subnets"][0]["lease_range"]["start_ip"], "10.77.0.64");
    assert_eq!(net["subnets"][0]["lease_range"]["end_ip"], "10.77.0.127");
    assert_eq!(net["options"]["mtu"], "1370");

    // An image built here: busybox alone.
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/ip")).unwrap();
    let tar = dir.join("rootfs.tar");
    let made = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(made.success());
    let o = podman(
        None,
        &["import", tar.to_str().unwrap(), "localhost/hwc-busybox"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The machine: a network namespace with its underlay, and the unit's lines run in it.
    let Some(machine) = common::netns::Netns::new("podman") else {
        return;
    };
    let ip = |args: &[&str]| {
        machine.ip(args);
    };
    ip(&[
        "link", "add", "wg0", "mtu", "1420", "type", "veth", "peer", "name", "wg1", "mtu", "1420",
    ]);
    ip(&["addr", "add", "10.100.0.1/24", "dev", "wg0"]);
    ip(&["link", "set", "wg0", "up"]);
    ip(&["link", "set", "wg1", "up"]);
    for argv in exec_lines(&doc, "hwc-network-media") {
        let o = Command::new("ip")
            .args(["netns", "exec", &machine.name])
            .args(&argv)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{argv:?}: {}", stderr(&o));
    }
    // Limits a busybox needs, below any machine's: podman's defaults may ask for more than a
    // machine allows, and a container's start is then refused.
    let (nofile, nproc) = ("nofile=1024:1024", "nproc=1024:1024");
    let o = podman(
        Some(&machine.name),
        &[
            "run",
            "--rm",
            "--ulimit",
            nofile,
            "--ulimit",
            nproc,
            "--network",
            "media",
            "localhost/hwc-busybox",
            "/bin/ip",
            "-4",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert_eq!(code(&o), 0, "podman run: {}", stderr(&o));
    let shown = stdout(&o);
    assert!(shown.contains("mtu 1370"), "{shown}");
    let addr = shown
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("no address: {shown}"));
    let last: u32 = addr
        .trim_end_matches("/24")
        .strip_prefix("10.77.0.")
        .unwrap_or_else(|| panic!("{addr} is not in 10.77.0.0/24"))
        .parse()
        .unwrap();
    assert!(
        (64..=127).contains(&last),
        "{addr} is outside the lease range"
    );

    // The container gone, hwc's bridge and overlay are still there, as declared.
    let links = machine.ok(&["link", "show"]);
    assert!(
        links.contains("hwc-media") && links.contains("vx-4242"),
        "{links}"
    );
    let again = exec_lines(&doc, "hwc-network-media").pop().unwrap();
    let o = Command::new("ip")
        .args(["netns", "exec", &machine.name])
        .args(&again)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "vx-4242: already as wanted\n");
}

/// The docker oneshot's script, as the module writes it, run against a stand-in docker CLI that
/// answers `network inspect` from a file and records `network create`: a missing network is
/// created on hwc's bridge with this host's range as a CIDR block, a matching one is left alone,
/// and one that differs is an error naming both. (No docker daemon runs here: the stand-in is
/// the CLI's two commands the script uses, with docker's `-f` template filled in by hand.)
#[test]
fn the_docker_unit_creates_keeps_or_names_the_difference() {
    if !nix_ready() || !have("bash") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let jelly = fleet_machine(
        t.path(),
        "jelly",
        "10.77.0.1",
        ("10.77.0.64", "10.77.0.127"),
        "10.100.0.1",
    );
    let doc = eval(&[jelly], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let unit = &doc["services"]["hwc-docker-network-media"];
    assert_eq!(strings(&unit["wantedBy"]), ["docker.service"]);
    assert!(strings(&unit["after"]).contains(&"docker.service".to_string()));
    let script = unit["serviceConfig"]["ExecStart"]["text"].as_str().unwrap();
    let docker = t.path().join("docker");
    write_executable(
        &docker,
        r#"#!/bin/sh
dir=$(dirname "$0")
case "$1 $2" in
"network inspect")
  [ -f "$dir/state" ] || { echo "Error: network $3 not found" >&2; exit 1; }
  [ "$3" = -f ] && cat "$dir/state"
  exit 0 ;;
"network create") shift 2; echo "$*" > "$dir/created" ;;
*) exit 64 ;;
esac
"#,
    );
    let script = script.replace("/nix/store/docker/bin/docker", docker.to_str().unwrap());
    let path = t.path().join("hwc-docker-network-media");
    fs::write(&path, script).unwrap();
    let run = || Command::new("bash").arg(&path).output().unwrap();

    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(t.path().join("created")).unwrap(),
        "--driver bridge --subnet 10.77.0.0/24 --gateway 10.77.0.1 --ip-range 10.77.0.64/26 \
         -o com.docker.network.bridge.name=hwc-media -o com.docker.network.driver.mtu=1370 media\n"
    );
    fs::remove_file(t.path().join("created")).unwrap();
    fs::write(
        t.path().join("state"),
        "bridge hwc-media 1370 10.77.0.0/24 10.77.0.1 10.77.0.64/26\n",
    )
    .unwrap();
    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !t.path().join("created").exists(),
        "a matching network is left alone"
    );
    fs::write(
        t.path().join("state"),
        "bridge docker1 1370 10.77.0.0/24 10.77.0.1 10.77.0.64/26\n",
    )
    .unwrap();
    let o = run();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains("docker network media is 'bridge docker1 1370 10.77.0.0/24 10.77.0.1 10.77.0.64/26', declared 'bridge hwc-media 1370"),
        "{err}"
    );
    assert!(!t.path().join("created").exists());
}

/// The README's two-machine example, as it stands: its shared file and its machine file,
/// evaluated; the machine gets the network's unit and podman's file.
#[test]
fn the_readmes_fleet_example_evaluates_as_it_stands() {
    if !nix_ready() {
        return;
    }
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme
        .find("### Container networks across machines")
        .expect("the README's fleet section")..];
    let start = section.find("```nix\n").unwrap() + "```nix\n".len();
    let block = &section[start..];
    let block = &block[..block.find("```").unwrap()];
    let (shared, machine) = block
        .split_once("\n# jelly.nix")
        .expect("the shared file, then jelly.nix");
    let machine = &machine[machine.find('\n').unwrap()..];
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("fleet")).unwrap();
    fs::write(t.path().join("fleet/media.nix"), shared).unwrap();
    let jelly = t.path().join("jelly.nix");
    fs::write(&jelly, machine).unwrap();
    let doc = eval(&[jelly], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["warnings"], serde_json::json!([]));
    let lines: Vec<String> = exec_lines(&doc, "hwc-network-media")
        .iter()
        .map(|l| l[1..].join(" "))
        .collect();
    assert_eq!(
        lines.last().unwrap(),
        "ensure-overlay vx-4242 --vni 4242 --bridge hwc-media --local 10.100.0.1 --dev wg0 \
         --port 4789 --mtu 1370 --peer 10.100.0.2"
    );
    // What the prose says the unit runs is what it runs.
    let prose: Vec<&str> = section.split_whitespace().collect();
    assert!(
        prose
            .join(" ")
            .contains(&format!("hwc-netlink {}", lines.last().unwrap())),
        "the README's words for the unit's line"
    );
    assert!(doc["etc"]["containers/networks/media.json"]["text"].is_string());
}

/// gatherSys over a fixture tree as the app pattern lays it out: apps with and without a
/// sys.nix, a sys.nix at the top (not an app's: left out), a directory with a space, a file
/// beside the apps, and two directories (their order kept, apps by name in each), through the
/// flake's `lib` and without flakes.
#[test]
fn gather_sys_finds_every_apps_sys_nix_in_a_stable_order() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let apps = t.path().join("domains/home/apps");
    let services = t.path().join("domains/services");
    for dir in ["zed", "chromium", "my app", "no-sys", "obs"] {
        fs::create_dir_all(apps.join(dir)).unwrap();
    }
    for dir in ["chromium", "my app", "obs", "zed"] {
        fs::write(apps.join(dir).join("sys.nix"), "{ }\n").unwrap();
    }
    fs::write(apps.join("no-sys/default.nix"), "{ }\n").unwrap();
    fs::write(apps.join("sys.nix"), "{ }\n").unwrap();
    fs::write(apps.join("README.md"), "apps\n").unwrap();
    fs::create_dir_all(services.join("jellyfin")).unwrap();
    fs::write(services.join("jellyfin/sys.nix"), "{ }\n").unwrap();
    let lib = shared_dir("vendor/nixpkgs-lib/lib").unwrap();
    let expr = |how: &str| {
        format!(
            r#"let lib = import {}; hwcLib = {how}; in map toString (hwcLib.gatherSys [ {} {} ])"#,
            lib.display(),
            nix_path(&apps),
            nix_path(&services),
        )
    };
    let expected: Vec<String> = ["chromium", "my app", "obs", "zed"]
        .iter()
        .map(|a| apps.join(a).join("sys.nix").display().to_string())
        .chain(std::iter::once(
            services.join("jellyfin/sys.nix").display().to_string(),
        ))
        .collect();
    for how in [
        format!(
            "import {} {{ inherit lib; }}",
            repo().join("install/nix/lib").display()
        ),
        format!(
            "(import {} {{ }}).lib",
            repo().join("tests/nix/flake.nix").display()
        ),
    ] {
        let o = nix_instantiate()
            .args(["--eval", "--strict", "--json", "--expr", &expr(&how)])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let got: Vec<String> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(got, expected, "{how}");
    }
}

/// A path as a Nix path expression (a space in it quoted).
fn nix_path(p: &Path) -> String {
    format!(
        "(/. + {})",
        serde_json::Value::String(p.display().to_string())
    )
}

/// An app's system side made with mkAppIntegration, as a user's domains/home/apps/NAME/sys.nix
/// would be, and the three the domain ships: each evaluates in NixOS's declarations, sets what
/// its app needs, and installs no package; a user's own value of a setting it makes wins.
#[test]
fn app_integrations_set_system_services_and_no_package() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sys = t.path().join("sys.nix");
    fs::write(
        &sys,
        format!(
            r#"{{ lib, ... }}:
let hwcLib = import {} {{ inherit lib; }}; in
{{
  imports = [ (hwcLib.mkAppIntegration {{ name = "keepassxc"; description = "KeePassXC"; dbus = true; udevPackages = [ ]; }})
              (hwcLib.mkAppIntegration {{ name = "tablet"; udevPackages = [ (builtins.derivation {{ name = "tablet-rules"; system = "x86_64-linux"; builder = "/bin/sh"; }}) ]; }}) ];
}}
"#,
            repo().join("install/nix/lib").display()
        ),
    )
    .unwrap();
    let on = module(
        t.path(),
        "on",
        r#"imports = [ ./sys.nix ];
hwc.infrastructure.session = { keepassxc.enable = true; chromium.enable = true; obs.enable = true; steam.enable = true; };
programs.dconf.enable = lib.mkDefault false;"#,
    );
    // A module's body refers to lib: give it the argument.
    let text = fs::read_to_string(&on).unwrap();
    fs::write(&on, format!("{{ lib, ... }}:\n{text}")).unwrap();
    let doc = eval(std::slice::from_ref(&on), &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["warnings"], serde_json::json!([]));
    assert_eq!(doc["systemPackages"], serde_json::json!([]), "no package");
    let nixos = &doc["nixos"];
    assert_eq!(nixos["services"]["dbus"]["enable"], true);
    assert_eq!(
        nixos["programs"]["dconf"]["enable"], false,
        "the user's lib.mkDefault false wins over chromium's dconf"
    );
    assert_eq!(nixos["xdg"]["portal"]["enable"], true);
    assert_eq!(strings(&nixos["boot"]["kernelModules"]), ["v4l2loopback"]);
    assert!(nixos["boot"]["extraModprobeConfig"]
        .as_str()
        .unwrap()
        .contains("card_label=\"OBS Virtual Camera\""));
    assert_eq!(nixos["hardware"]["graphics"]["enable32Bit"], true);
    assert_eq!(nixos["hardware"]["steam-hardware"]["enable"], true);
    let x86_declared = doc["etc"]["hwc/declared.json"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let declared: Value = serde_json::from_str(&x86_declared).unwrap();
    assert_eq!(
        declared,
        serde_json::json!({
            "apps": ["chromium", "keepassxc", "obs", "steam"],
            "graphics32": ["steam"]
        })
    );
    // On 64-bit ARM, NixOS refuses 32-bit graphics (graphics.nix's assertion): Steam's
    // integration asks for them on x86_64 only, as NixOS's own programs.steam does, and tells
    // the doctor so.
    let arm = Store {
        system: "aarch64-linux",
        ..Store::default()
    };
    let doc = eval(std::slice::from_ref(&on), &arm).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["nixos"]["hardware"]["graphics"]["enable"], true);
    assert_eq!(doc["nixos"]["hardware"]["graphics"]["enable32Bit"], false);
    assert_eq!(doc["nixos"]["hardware"]["steam-hardware"]["enable"], true);
    let arm_declared = doc["etc"]["hwc/declared.json"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let declared: Value = serde_json::from_str(&arm_declared).unwrap();
    assert_eq!(
        declared,
        serde_json::json!({
            "apps": ["chromium", "keepassxc", "obs", "steam"],
            "graphics32": []
        })
    );
    // The real doctor, over a machine without 32-bit drivers (the fixture has no
    // /run/opengl-driver-32), looks for them as each declaration says, not by its own build:
    // the x86_64 one fails app:steam, the ARM one has nothing of Steam's to look for.
    let steam = |declared: &str| {
        let report = doctor_on_fixture(declared);
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "app:steam")
            .cloned()
    };
    let x86 = steam(&x86_declared).expect("app:steam checked on x86_64");
    assert_eq!(x86["status"], "fail", "{x86}");
    assert!(
        x86["evidence"]
            .as_str()
            .unwrap()
            .contains("/run/opengl-driver-32 is absent"),
        "{x86}"
    );
    assert_eq!(steam(&arm_declared), None);
    // A declaration from before "graphics32" does not say: the check is skipped, saying so.
    let older = steam(r#"{"apps": ["steam"]}"#).expect("app:steam reported");
    assert_eq!(older["status"], "skip", "{older}");
    let options: Vec<String> = doc["hwc"]["session"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for app in ["chromium", "keepassxc", "obs", "steam"] {
        assert!(options.contains(&app.to_string()), "{options:?}");
    }
    // One with udev rules alone: its D-Bus (on by default) and its rules both made, merged as
    // the module system merges (both begin with `services`).
    let tablet = module(
        t.path(),
        "tablet",
        "imports = [ ./sys.nix ];\nhwc.infrastructure.session.tablet.enable = true;",
    );
    let doc = eval(&[tablet], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["nixos"]["services"]["dbus"]["enable"], true);
    assert_eq!(
        doc["nixos"]["services"]["udev"]["packages"][0]["package"],
        "tablet-rules"
    );
    // Off (the default), an integration sets nothing.
    let off = module(t.path(), "off", "imports = [ ./sys.nix ];");
    let doc = eval(&[off], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["nixos"]["boot"]["kernelModules"], serde_json::json!([]));
    assert_eq!(doc["nixos"]["hardware"]["graphics"]["enable32Bit"], false);
}

/// hwc's Home Manager module evaluated with Home Manager's own module system (tests/nix/hm-eval.nix
/// over ../shared/vendor/home-manager): the JSON it gives, or the error text.
fn hm_eval(configs: &[PathBuf], store: &Store) -> Result<Value, String> {
    hm_eval_with(configs, store, &[])
}

/// `hm_eval` with more arguments for hm-eval.nix (`--arg NAME EXPR`, as pairs).
fn hm_eval_with(
    configs: &[PathBuf],
    store: &Store,
    args: &[(&str, &str)],
) -> Result<Value, String> {
    let Some(lib) = shared_dir("vendor/nixpkgs-lib/lib") else {
        return Err("../shared/vendor/nixpkgs-lib is absent".into());
    };
    let Some(nixpkgs_path) = shared_dir("vendor/nixos-subset/nixpkgs-path") else {
        return Err("../shared/vendor/nixos-subset/nixpkgs-path is absent".into());
    };
    // pkgs.path as Home Manager reads it: nixpkgs' lib beside the files it imports.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&lib, dir.path().join("lib")).unwrap();
    for sub in ["nixos", "modules"] {
        std::os::unix::fs::symlink(nixpkgs_path.join(sub), dir.path().join(sub)).unwrap();
    }
    let list: Vec<String> = configs.iter().map(|c| c.display().to_string()).collect();
    let mut cmd = nix_instantiate();
    cmd.args(["--eval", "--strict", "--json"])
        .arg(repo().join("tests/nix/hm-eval.nix"))
        .args(["--arg", "configs", &format!("[ {} ]", list.join(" "))])
        .args(["--argstr", "nixpkgsPath"])
        .arg(dir.path());
    if let Some(h) = store.hwc {
        cmd.args(["--argstr", "hwcOut"]).arg(h);
    }
    for (name, expr) in args {
        cmd.args(["--arg", name, expr]);
    }
    for (name, expr) in args {
        cmd.args(["--arg", name, expr]);
    }
    let o = cmd.output().unwrap();
    if code(&o) != 0 {
        return Err(stderr(&o));
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap())
}

/// A user's Home Manager with hwc's module: hwc-session-init their service on the graphical
/// session, chromium's desktop entry through gpu-launch, the keybinding lines, the apps file.
const HOME: &str = r#"hwc.session = {
  init.enable = true;
  gpuApps = [ "chromium" ];
  keybindings."SUPER, B" = "chromium";
  keybindings."Super Shift, Return" = "blender";
  apps = [ "chromium" "obs" ];
};"#;

#[test]
fn the_home_manager_module_reads_back_as_home_manager_builds_it() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = module(t.path(), "home", HOME);
    let doc = hm_eval(&[home], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let unit = doc["unitText"]["hwc-session-init"].as_str().unwrap();
    for line in [
        "ExecStart=/nix/store/hwc-0.1.0/bin/hwc-session-init",
        "ExecStop=/nix/store/hwc-0.1.0/bin/hwc-session-init --stop",
        "WantedBy=graphical-session.target",
        "PartOf=graphical-session.target",
        "Type=oneshot",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in:\n{unit}");
    }
    assert_eq!(
        doc["undeclared"],
        serde_json::json!([]),
        "options hwc sets exist"
    );
    let entries = doc["desktopEntries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        entries[0]["name"], "chromium-browser",
        "the id of nixpkgs' chromium's own entry, which it replaces"
    );
    assert_eq!(entries[0]["icon"], "chromium");
    assert_eq!(strings(&entries[0]["mimeTypes"])[0], "text/html");
    assert_eq!(
        entries[0]["exec"],
        "/nix/store/hwc-0.1.0/bin/gpu-launch chromium %U"
    );
    assert_eq!(
        doc["configFiles"]["hwc/apps.json"],
        r#"{"apps":["chromium","obs"]}"#
    );
    assert_eq!(
        strings(&doc["hwc"]["keybindLines"]["hyprland"]),
        [
            "bind = SUPER, B, exec, /nix/store/hwc-0.1.0/bin/gpu-launch chromium",
            "bind = Super Shift, Return, exec, /nix/store/hwc-0.1.0/bin/gpu-launch blender",
        ]
    );
    assert_eq!(
        strings(&doc["hwc"]["keybindLines"]["sway"]),
        [
            "bindsym Mod4+b exec /nix/store/hwc-0.1.0/bin/gpu-launch chromium",
            "bindsym Mod4+Shift+return exec /nix/store/hwc-0.1.0/bin/gpu-launch blender",
        ]
    );
    // systemd itself reads the unit as a user unit (when it can run here).
    if is_root() && have("setpriv") {
        let units = public_dir();
        fs::create_dir_all(units.path().join("user")).unwrap();
        fs::write(units.path().join("user/hwc-session-init.service"), unit).unwrap();
        make_public(units.path());
        let lines =
            systemd_command_lines(&units.path().join("user"), "hwc-session-init.service", true);
        assert!(
            lines.iter().any(|l| l.contains("hwc-session-init")),
            "{lines:?}"
        );
    }
}

/// A user who turns on their own hwc-session-init where the NixOS configuration already runs it
/// for every user is warned (the user unit of the same name hides the machine's, and its
/// secrets); with the machine's off, or no NixOS configuration at all, nothing is said.
#[test]
fn the_users_own_session_init_over_the_machines_is_warned_of() {
    if !nix_ready() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = module(t.path(), "home", HOME);
    let warnings = |os: Option<&str>| -> Vec<String> {
        let args: Vec<(&str, &str)> = os.map(|e| ("osConfig", e)).into_iter().collect();
        let doc = hm_eval_with(std::slice::from_ref(&home), &Store::default(), &args)
            .unwrap_or_else(|e| panic!("{e}"));
        strings(&doc["warnings"])
    };
    let machine =
        |on: bool| format!("{{ hwc.infrastructure.session.services.sessionInit.enable = {on}; }}");
    let said = warnings(Some(&machine(true)));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with(
            "hwc.session.init.enable: the NixOS configuration already runs hwc-session-init"
        ),
        "{said:?}"
    );
    assert_eq!(warnings(Some(&machine(false))), Vec::<String>::new());
    assert_eq!(warnings(None), Vec::<String>::new());
}

/// The desktop entry's Exec= line, run as a launcher runs it (its %U replaced by the URLs
/// opened; the store path by this build's gpu-launch, given the recorded hybrid laptop as its
/// root): the program gets NVIDIA's offload variables, the dGPU's render node and the URL.
#[test]
fn a_desktop_entry_starts_its_program_through_gpu_launch_on_the_dgpu() {
    if !nix_ready() {
        return;
    }
    let t = public_dir();
    let home = module(t.path(), "home", HOME);
    let doc = hm_eval(&[home], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let exec = doc["desktopEntries"][0]["exec"].as_str().unwrap();
    let bin = Bin::new();
    let fixture = common::fake_sysfs::Tree::fixture("optimus-intel-nvidia");
    let programs = t.path().join("bin");
    fs::create_dir_all(&programs).unwrap();
    write_executable(
        &programs.join("chromium"),
        "#!/bin/sh\nenv | grep -E '^(__NV_PRIME|__GLX_VENDOR|DRI_PRIME)' | sort\necho \"args: $*\"\n",
    );
    // The Desktop Entry Specification's expansion: %U is the URLs, each its own argument.
    let mut argv: Vec<String> = Vec::new();
    for word in exec.split(' ') {
        match word {
            "%U" => argv.push("https://example.org/a b".into()),
            w => argv.push(w.to_string()),
        }
    }
    assert_eq!(argv[0], "/nix/store/hwc-0.1.0/bin/gpu-launch");
    let mut cmd = Command::new(bin.path("gpu-launch"));
    cmd.arg("--root")
        .arg(fixture.path())
        .args(&argv[1..])
        .env("PATH", format!("{}:/usr/bin:/bin", programs.display()))
        .env("HOME", "/nonexistent-home")
        .env_remove("XDG_CONFIG_HOME");
    for v in [
        "__NV_PRIME_RENDER_OFFLOAD",
        "__GLX_VENDOR_LIBRARY_NAME",
        "DRI_PRIME",
    ] {
        cmd.env_remove(v);
    }
    let o = cmd.output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("__NV_PRIME_RENDER_OFFLOAD=1\n"), "{out}");
    assert!(out.contains("__GLX_VENDOR_LIBRARY_NAME=nvidia\n"), "{out}");
    // Chromium also gets the dGPU's render node (gpu-launch's chromium profile), and the URL.
    assert!(
        out.contains("args: --render-node-override=/dev/dri/renderD129 https://example.org/a b\n"),
        "{out}"
    );
}

/// A machine (NixOS) and its user (Home Manager) declaring two apps, one of whose system side
/// is off: hwc-doctor fails that app's check alone, naming the option; turned on, it passes.
#[test]
fn the_doctor_finds_an_app_missing_its_system_integration() {
    if !nix_ready() {
        return;
    }
    let t = public_dir();
    let home = module(t.path(), "home", HOME);
    let hm = hm_eval(&[home], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
    let apps_json = hm["configFiles"]["hwc/apps.json"]
        .as_str()
        .unwrap()
        .to_string();
    let uid = if is_root() {
        4243
    } else {
        nix::unistd::geteuid().as_raw()
    };
    let run = |obs: bool, loaded: bool| {
        let config = module(
            t.path(),
            "machine",
            &format!(
                "hwc.infrastructure.session = {{ chromium.enable = true; obs.enable = {obs}; }};"
            ),
        );
        let doc = eval(&[config], &Store::default()).unwrap_or_else(|e| panic!("{e}"));
        let root = t.path().join(format!("root-{obs}-{loaded}"));
        if loaded {
            fs::create_dir_all(root.join("sys/module/v4l2loopback")).unwrap();
        }
        fs::create_dir_all(root.join("etc/hwc")).unwrap();
        fs::write(
            root.join("etc/hwc/declared.json"),
            doc["etc"]["hwc/declared.json"]["text"].as_str().unwrap(),
        )
        .unwrap();
        fs::write(
            root.join("etc/passwd"),
            format!("root:x:0:0:root:/root:/bin/sh\neric:x:{uid}:100::/home/eric:/bin/sh\n"),
        )
        .unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\nusers:x:100:\n").unwrap();
        // The NixOS machine the declaration was evaluated for.
        fs::write(root.join("etc/os-release"), "NAME=NixOS\nID=nixos\n").unwrap();
        let config_dir = root.join("home/eric/.config/hwc");
        fs::create_dir_all(&config_dir).unwrap();
        fs::write(config_dir.join("apps.json"), &apps_json).unwrap();
        make_public(&root);
        let o = Command::new(hwc())
            .args(["hwc-doctor", "--json", "--user", "eric", "--root"])
            .arg(&root)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}{}", stdout(&o), stderr(&o)));
        (code(&o), report)
    };
    let find = |report: &Value, name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["bucket"] == "session/user" && c["check"] == name)
            .unwrap_or_else(|| panic!("no {name}: {report}"))
            .clone()
    };
    let (status, report) = run(false, false);
    assert_eq!(status, 1, "{report}");
    let obs = find(&report, "integration:obs");
    assert_eq!(obs["status"], "fail", "{obs}");
    assert_eq!(obs["fix"], "hwc.infrastructure.session.obs.enable = true;");
    assert_eq!(find(&report, "integration:chromium")["status"], "ok");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "only obs fails: {failed:?}");

    // On, but its kernel module not loaded (no reboot yet): what shows it in effect fails alone.
    let (status, report) = run(true, false);
    assert_eq!(status, 1, "{report}");
    assert_eq!(find(&report, "integration:obs")["status"], "ok");
    let effect = find(&report, "app:obs");
    assert_eq!(effect["status"], "fail", "{effect}");
    assert!(effect["fix"]
        .as_str()
        .unwrap()
        .contains("modprobe v4l2loopback"));
    let (status, report) = run(true, true);
    assert_eq!(status, 0, "{report}");
    assert_eq!(find(&report, "integration:obs")["status"], "ok");
    assert_eq!(find(&report, "app:obs")["status"], "ok");
    // With no session to look at (no user given or declared), the machine's side is still
    // checked: the module not loaded fails.
    let o = Command::new(hwc())
        .args(["hwc-doctor", "--json", "--root"])
        .arg(t.path().join("root-true-false"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}{}", stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 1, "{report}");
    assert_eq!(find(&report, "session")["status"], "skip", "{report}");
    assert_eq!(find(&report, "app:obs")["status"], "fail", "{report}");
    // Looked at once, by the doctor, with a session too.
    for report in [&report, &run(true, false).1] {
        let named = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["check"] == "app:obs")
            .count();
        assert_eq!(named, 1, "{report}");
    }

    // The user's file is the user's to make anything: a FIFO with no writer, or a link to a
    // device, is never read (the worker would hang, or read without end); the check fails and
    // the run ends.
    let root = t.path().join("root-true-true");
    let apps = root.join("home/eric/.config/hwc/apps.json");
    for make in ["fifo", "device"] {
        fs::remove_file(&apps).unwrap();
        match make {
            "fifo" => {
                make_fifo(&apps);
                fs::set_permissions(&apps, fs::Permissions::from_mode(0o644)).unwrap();
            }
            _ => std::os::unix::fs::symlink("/dev/zero", &apps).unwrap(),
        }
        let o = output_within(
            Command::new(hwc())
                .args(["hwc-doctor", "--json", "--user", "eric", "--root"])
                .arg(&root),
            std::time::Duration::from_secs(30),
        );
        assert_eq!(code(&o), 1, "{make}: {}", stderr(&o));
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        let c = find(&report, "hm-apps");
        assert_eq!(c["status"], "fail", "{make}: {c}");
    }
}

//! install/: install.sh (twice, then --uninstall), the systemd units through systemd-analyze
//! verify, the Nix files through nix-instantiate, and the initrd hooks against stub functions.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install_sh(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo().join("install/install.sh"))
        .args(args)
        .output()
        .unwrap()
}

/// Every file (not directory) under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn install_twice_then_uninstall_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let units = t.path().join("units");
    let binary = hwc();
    let args = [
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--systemd",
        units.to_str().unwrap(),
    ];
    for round in 0..2 {
        let o = install_sh(&args);
        assert_eq!(code(&o), 0, "round {round}: {}{}", stdout(&o), stderr(&o));
    }
    let bin = prefix.join("bin");
    let elf = fs::read(bin.join("hwc")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let out = Command::new(bin.join("hwc"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    for applet in APPLETS {
        let link = fs::read_link(bin.join(applet)).unwrap();
        assert_eq!(link, Path::new("hwc"), "{applet} is a relative link");
    }
    for unit in [
        "setup-ssh-keys@.service",
        "hwc-bridge@.service",
        "hwc-session-init.service",
    ] {
        let text = fs::read_to_string(units.join(unit)).unwrap();
        assert!(!text.contains("@BINDIR@"), "{unit}: path substituted");
        assert!(
            text.contains(&format!("{}/", bin.display())),
            "{unit} runs the installed binary"
        );
    }
    if have("systemd-analyze") {
        // Instances of the templates, and the user unit in user mode.
        fs::copy(
            units.join("setup-ssh-keys@.service"),
            units.join("setup-ssh-keys@eric.service"),
        )
        .unwrap();
        fs::copy(
            units.join("hwc-bridge@.service"),
            units.join("hwc-bridge@br0.service"),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .args([
                units.join("setup-ssh-keys@eric.service"),
                units.join("hwc-bridge@br0.service"),
                units.join("setup-ssh-keys@.service"),
            ])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "systemd-analyze verify: {}", stderr(&o));
        assert!(!stderr(&o).contains("not executable"), "{}", stderr(&o));
        let rt = tempfile::tempdir().unwrap();
        let o = Command::new("systemd-analyze")
            .args(["--user", "verify"])
            .arg(units.join("hwc-session-init.service"))
            .env("XDG_RUNTIME_DIR", rt.path())
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "systemd-analyze --user verify: {}", stderr(&o));
        fs::remove_file(units.join("setup-ssh-keys@eric.service")).unwrap();
        fs::remove_file(units.join("hwc-bridge@br0.service")).unwrap();
    }

    let o = install_sh(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        files_under(t.path()),
        Vec::<PathBuf>::new(),
        "nothing left after uninstall"
    );
    assert!(
        !prefix.exists() && !units.exists(),
        "the directories it created are gone"
    );
    let again = install_sh(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert_eq!(code(&again), 1, "nothing to uninstall is reported");
}

#[test]
fn uninstall_keeps_what_was_there_before() {
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    fs::create_dir(&bin).unwrap();
    fs::write(bin.join("mine"), "keep me").unwrap();
    let binary = hwc();
    let o = install_sh(&[
        "--prefix",
        t.path().to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = install_sh(&["--prefix", t.path().to_str().unwrap(), "--uninstall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(bin.join("mine")).unwrap(), "keep me");
    assert_eq!(files_under(t.path()), vec![bin.join("mine")]);
}

#[test]
fn install_sh_usage_errors() {
    for args in [&["--bogus"][..], &["--initrd", "grub"], &["--prefix"]] {
        let o = install_sh(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    let o = install_sh(&["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("--uninstall"));
}

#[test]
fn nix_files_parse_and_declare_every_option() {
    if !have("nix-instantiate") {
        return;
    }
    for f in ["package.nix", "module.nix", "flake.nix"] {
        let o = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(repo().join("install/nix").join(f))
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{f}: {}", stderr(&o));
    }
    let o = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(repo().join("tests/nix/option-paths.nix"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["missing"],
        serde_json::json!([]),
        "undeclared options: {}",
        doc["missing"]
    );
    assert_eq!(doc["accelIsReadOnly"], true);
    assert_eq!(
        doc["gpuTypes"],
        serde_json::json!(["nvidia", "amd", "intel", "none"])
    );
}

/// Runs `script` in bash with a PATH holding the built hwc under its own name.
fn with_hwc(script: &str) -> Output {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(hwc(), bin.path().join("hwc")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
fn dracut_module_requests_every_applet_link() {
    let module = repo().join("install/initrd/dracut/90hwc/module-setup.sh");
    assert_eq!(
        code(
            &Command::new("bash")
                .arg("-n")
                .arg(&module)
                .output()
                .unwrap()
        ),
        0
    );
    let o = with_hwc(&format!(
        "inst_binary() {{ echo \"binary $2\"; }}; ln_r() {{ echo \"link $1 $2\"; }}; \
         require_binaries() {{ command -v \"$1\" >/dev/null; }}; . {}; check; echo \"check $?\"; install",
        module.display()
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("check 255"), "opt-in module: {out}");
    assert!(out.contains("binary /usr/bin/hwc"), "{out}");
    for applet in APPLETS {
        assert!(
            out.contains(&format!("link /usr/bin/hwc /usr/bin/{applet}\n")),
            "{applet} missing: {out}"
        );
    }
}

#[test]
fn mkinitcpio_hook_requests_every_applet_link() {
    let hook = repo().join("install/initrd/mkinitcpio/hwc");
    assert_eq!(
        code(&Command::new("bash").arg("-n").arg(&hook).output().unwrap()),
        0
    );
    let o = with_hwc(&format!(
        "add_binary() {{ echo \"binary $2\"; }}; add_symlink() {{ echo \"symlink $1 $2\"; }}; \
         error() {{ echo \"error $*\"; }}; . {}; build",
        hook.display()
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("binary /usr/bin/hwc"), "{out}");
    for applet in APPLETS {
        assert!(
            out.contains(&format!("symlink /usr/bin/{applet} hwc\n")),
            "{applet} missing: {out}"
        );
    }
}

//! install/: install.sh (twice, then --uninstall), the systemd units through systemd-analyze
//! verify, and the initrd hooks against stub functions. The NixOS files: tests/nixos.rs.

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
    // System units in units/system, so the user unit goes to units/user.
    let units = t.path().join("units");
    let system = units.join("system");
    let user = units.join("user");
    let binary = hwc();
    let args = [
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--systemd",
        system.to_str().unwrap(),
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
    for (dir, unit) in [
        (&system, "setup-ssh-keys@.service"),
        (&system, "hwc-bridge@.service"),
        (&user, "hwc-session-init.service"),
    ] {
        let text = fs::read_to_string(dir.join(unit)).unwrap();
        assert!(!text.contains("@BINDIR@"), "{unit}: path substituted");
        assert!(
            text.contains(&format!("{}/", bin.display())),
            "{unit} runs the installed binary"
        );
    }
    assert!(
        !system.join("hwc-session-init.service").exists(),
        "the user unit is not among the system units"
    );
    if have("systemd-analyze") {
        // Instances of the templates, and the user unit in user mode.
        fs::copy(
            system.join("setup-ssh-keys@.service"),
            system.join("setup-ssh-keys@eric.service"),
        )
        .unwrap();
        fs::copy(
            system.join("hwc-bridge@.service"),
            system.join("hwc-bridge@br0.service"),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .args([
                system.join("setup-ssh-keys@eric.service"),
                system.join("hwc-bridge@br0.service"),
                system.join("setup-ssh-keys@.service"),
            ])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "systemd-analyze verify: {}", stderr(&o));
        assert!(!stderr(&o).contains("not executable"), "{}", stderr(&o));
        let rt = tempfile::tempdir().unwrap();
        let o = Command::new("systemd-analyze")
            .args(["--user", "verify"])
            .arg(user.join("hwc-session-init.service"))
            .env("XDG_RUNTIME_DIR", rt.path())
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "systemd-analyze --user verify: {}", stderr(&o));
        fs::remove_file(system.join("setup-ssh-keys@eric.service")).unwrap();
        fs::remove_file(system.join("hwc-bridge@br0.service")).unwrap();
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

#[test]
fn the_user_unit_goes_to_a_user_unit_directory() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let binary = hwc();
    let base = [
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ];

    // A --systemd directory not ending in /system says nothing about the user unit's.
    let units = t.path().join("units");
    let o = install_sh(&[&base[..], &["--systemd", units.to_str().unwrap()]].concat());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("--systemd-user"), "{}", stderr(&o));
    assert!(!prefix.exists() && !units.exists(), "nothing written");

    let user = t.path().join("user-units");
    let o = install_sh(
        &[
            &base[..],
            &["--systemd", units.to_str().unwrap()],
            &["--systemd-user", user.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let names = |d: &Path| {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&units),
        ["hwc-bridge@.service", "setup-ssh-keys@.service"]
    );
    assert_eq!(names(&user), ["hwc-session-init.service"]);
    let o = install_sh(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(files_under(t.path()), Vec::<PathBuf>::new());

    let o = install_sh(&["--help"]);
    assert!(stdout(&o).contains("--systemd-user DIR"), "{}", stdout(&o));
    let o = install_sh(&[&base[..], &["--initrd-dir", "/nonexistent"]].concat());
    assert_eq!(code(&o), 2, "--initrd-dir alone: {}", stderr(&o));
}

#[test]
fn a_prefix_units_cannot_hold_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let binary = hwc();
    let units = t.path().join("systemd/system");
    let hooks = t.path().join("hooks");
    for (name, says) in [
        ("with space", "a space"),
        ("a&b", "'&'"),
        ("100%", "'%'"),
        ("$HOME", "'$'"),
        ("quo\"te", "'\"'"),
        ("back\\slash", "'\\'"),
    ] {
        let prefix = t.path().join(name);
        for extra in [
            &["--systemd", units.to_str().unwrap()][..],
            &[
                "--initrd",
                "mkinitcpio",
                "--initrd-dir",
                hooks.to_str().unwrap(),
            ],
        ] {
            let o = install_sh(
                &[
                    &[
                        "--prefix",
                        prefix.to_str().unwrap(),
                        "--binary",
                        binary.to_str().unwrap(),
                    ][..],
                    extra,
                ]
                .concat(),
            );
            assert_eq!(code(&o), 2, "{name} {extra:?}: {}", stderr(&o));
            assert_one_line_error(&o);
            assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
            assert_eq!(
                fs::read_dir(t.path()).unwrap().count(),
                0,
                "{name}: nothing written"
            );
        }
    }

    // Without units or hooks nothing holds the path: such a prefix is fine.
    let prefix = t.path().join("my apps & more");
    let o = install_sh(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = Command::new(prefix.join("bin/hwc-netlink"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    let o = install_sh(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!prefix.exists());

    // Every punctuation mark allowed reads back as the same path in systemd: verify finds the
    // program each unit runs.
    if have("systemd-analyze") {
        let prefix = t.path().join("a+b@c:d-e.f_g");
        let o = install_sh(&[
            "--prefix",
            prefix.to_str().unwrap(),
            "--binary",
            binary.to_str().unwrap(),
            "--systemd",
            units.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let instances = [
            ("hwc-bridge@.service", "hwc-bridge@br0.service"),
            ("setup-ssh-keys@.service", "setup-ssh-keys@eric.service"),
        ];
        for (template, instance) in instances {
            fs::copy(units.join(template), units.join(instance)).unwrap();
        }
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .args(instances.map(|(_, i)| units.join(i)))
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "systemd-analyze verify: {}", stderr(&o));
        assert!(!stderr(&o).contains("not executable"), "{}", stderr(&o));
    }
}

#[test]
fn uninstall_after_a_failed_install_removes_what_it_wrote() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let units = t.path().join("systemd/system");
    // What was there before: a file of the user's in each place, and, where the hook's
    // directory should go, a file, so the install stops after the binary and the units.
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::write(prefix.join("bin/mine"), "keep me").unwrap();
    fs::create_dir_all(&units).unwrap();
    fs::write(units.join("other.service"), "[Service]\n").unwrap();
    let not_a_dir = t.path().join("initcpio");
    fs::write(&not_a_dir, "a file").unwrap();
    let before = files_under(t.path());

    let binary = hwc();
    let o = install_sh(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--systemd",
        units.to_str().unwrap(),
        "--initrd",
        "mkinitcpio",
        "--initrd-dir",
        not_a_dir.join("install").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(not_a_dir.to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert!(prefix.join("bin/hwc").exists(), "it failed midway");
    assert!(units.join("hwc-bridge@.service").exists(), "and the units");

    let o = install_sh(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        files_under(t.path()),
        before,
        "exactly what was there before"
    );
    assert!(!t.path().join("systemd/user").exists(), "its directory too");
    assert_eq!(fs::read_to_string(&not_a_dir).unwrap(), "a file");
}

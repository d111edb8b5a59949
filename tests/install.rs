//! install/: install.sh (twice, then --uninstall), the systemd units through systemd-analyze
//! verify, and the initrd hooks against stub functions. The NixOS files: tests/nixos.rs.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        fs::copy(
            system.join("setup-ssh-keys@.path"),
            system.join("setup-ssh-keys@eric.path"),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .args([
                system.join("setup-ssh-keys@eric.service"),
                system.join("setup-ssh-keys@eric.path"),
                system.join("hwc-bridge@br0.service"),
                system.join("setup-ssh-keys@.service"),
                system.join("hwc-doctor.service"),
                system.join("hwc-doctor.timer"),
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
        fs::remove_file(system.join("setup-ssh-keys@eric.path")).unwrap();
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
         add_module() {{ echo \"module $1\"; }}; error() {{ echo \"error $*\"; }}; . {}; build",
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
    for module in ["bridge", "veth", "8021q", "dummy"] {
        assert!(out.contains(&format!("module {module}?\n")), "{out}");
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
        [
            "hwc-bridge@.service",
            "hwc-doctor.service",
            "hwc-doctor.timer",
            "setup-ssh-keys@.path",
            "setup-ssh-keys@.service"
        ]
    );
    // The doctor writes where node_exporter's textfile collector reads (Debian's by default).
    let doctor = fs::read_to_string(units.join("hwc-doctor.service")).unwrap();
    assert!(
        doctor.contains(&format!(
            "ExecStart={}/bin/hwc-doctor --prometheus /var/lib/prometheus/node-exporter/hwc-doctor.prom\n",
            prefix.display()
        )),
        "{doctor}"
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

// What was there before: never replaced, never removed.

/// The install.sh arguments for the built binary at `prefix`, system units in `system`.
fn with_units<'a>(prefix: &'a Path, binary: &'a Path, system: &'a Path) -> [&'a str; 6] {
    [
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--systemd",
        system.to_str().unwrap(),
    ]
}

fn uninstall(prefix: &Path) -> Output {
    install_sh(&["--prefix", prefix.to_str().unwrap(), "--uninstall"])
}

fn manifest(prefix: &Path) -> PathBuf {
    prefix.join("share/hwc/installed-files")
}

/// Every file under `dir` with what it holds: a symlink its target, a file its size and a hash
/// of its bytes.
fn contents_under(dir: &Path) -> Vec<(PathBuf, String)> {
    use std::hash::{Hash, Hasher};
    files_under(dir)
        .into_iter()
        .map(|p| {
            let what = match fs::read_link(&p) {
                Ok(target) => format!("-> {}", target.display()),
                Err(_) => {
                    let bytes = fs::read(&p).unwrap();
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    bytes.hash(&mut h);
                    format!("{} bytes, {:016x}", bytes.len(), h.finish())
                }
            };
            (p, what)
        })
        .collect()
}

fn sha256(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o).split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_file_install_sh_did_not_write_stops_it_before_anything_is_written() {
    // The user's own program under an applet's name, their own bin/hwc, their own unit of the
    // same name: install.sh neither replaces them nor lists them, so --uninstall cannot remove
    // them.
    for theirs in [
        &["prefix/bin/gpu-launch", "units/system/hwc-bridge@.service"][..],
        &["prefix/bin/hwc", "units/system/hwc-bridge@.service"],
        &["prefix/bin/hwc-doctor"],
    ] {
        let t = tempfile::tempdir().unwrap();
        let prefix = t.path().join("prefix");
        let system = t.path().join("units/system");
        for rel in theirs {
            let p = t.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("not hwc: {rel}\n")).unwrap();
        }
        let before = contents_under(t.path());
        let binary = hwc();
        let args = with_units(&prefix, &binary, &system);

        let o = install_sh(&args);
        assert_eq!(code(&o), 1, "{theirs:?}: {}{}", stdout(&o), stderr(&o));
        let refusal = o;
        assert_eq!(
            contents_under(t.path()),
            before,
            "{theirs:?}: nothing written"
        );
        assert!(!prefix.join("share").exists() && !t.path().join("units/user").exists());
        let o = uninstall(&prefix);
        assert_eq!(
            contents_under(t.path()),
            before,
            "{theirs:?}: nothing removed"
        );
        assert_eq!(code(&o), 1, "nothing to uninstall: {}", stderr(&o));
        // One line, naming each.
        assert_one_line_error(&refusal);
        for rel in theirs {
            assert!(
                stderr(&refusal).contains(t.path().join(rel).to_str().unwrap()),
                "{rel} named: {}",
                stderr(&refusal)
            );
        }

        // Moved away, they are no longer in the way.
        for rel in theirs {
            fs::remove_file(t.path().join(rel)).unwrap();
        }
        let o = install_sh(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = uninstall(&prefix);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(files_under(t.path()), Vec::<PathBuf>::new());
    }
}

#[test]
fn what_changed_after_the_install_is_neither_replaced_nor_removed() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let system = t.path().join("units/system");
    let binary = hwc();
    let args = with_units(&prefix, &binary, &system);
    let o = install_sh(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // An edited unit, a program of the user's in place of a link, another binary as bin/hwc.
    let unit = system.join("hwc-bridge@.service");
    let mut edited = fs::read_to_string(&unit).unwrap();
    edited.push_str("# my change\n");
    fs::write(&unit, &edited).unwrap();
    let link = prefix.join("bin/hwc-perms");
    fs::remove_file(&link).unwrap();
    fs::write(&link, "my hwc-perms\n").unwrap();
    let bin = prefix.join("bin/hwc");
    fs::remove_file(&bin).unwrap();
    fs::write(&bin, "my hwc\n").unwrap();
    let changed = [&unit, &link, &bin];

    // Installing again would replace them: it stops, naming each, and writes nothing.
    let before = contents_under(t.path());
    let o = install_sh(&args);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(contents_under(t.path()), before, "nothing written");
    assert_one_line_error(&o);
    for p in changed {
        assert!(stderr(&o).contains(p.to_str().unwrap()), "{}", stderr(&o));
    }

    // Uninstalling keeps them, says so, and removes the rest.
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for p in changed {
        assert!(
            stderr(&o).contains(&format!("kept {}", p.display())),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(fs::read_to_string(&unit).unwrap(), edited);
    assert_eq!(fs::read_to_string(&link).unwrap(), "my hwc-perms\n");
    assert_eq!(fs::read_to_string(&bin).unwrap(), "my hwc\n");
    let mut left: Vec<PathBuf> = changed.iter().map(|p| p.to_path_buf()).collect();
    left.sort();
    assert_eq!(files_under(t.path()), left);
}

/// Rewrites the manifest as install.sh wrote it before it recorded hashes: the directories it
/// made, and plain paths.
fn to_old_manifest(prefix: &Path) {
    let m = manifest(prefix);
    let mut out = String::new();
    for line in fs::read_to_string(&m).unwrap().lines() {
        let entry = if line.starts_with("dir:") || line.starts_with('/') {
            line
        } else if let Some(p) = line.strip_prefix("link:") {
            p
        } else if let Some(rest) = line.strip_prefix("file:") {
            &rest[rest.find(':').unwrap() + 1..]
        } else {
            continue;
        };
        // The units an earlier install.sh did not have: it neither wrote nor listed them.
        if [
            "hwc-doctor.service",
            "hwc-doctor.timer",
            "setup-ssh-keys@.path",
        ]
        .iter()
        .any(|u| entry.ends_with(&format!("/{u}")))
        {
            let _ = fs::remove_file(entry);
            continue;
        }
        out.push_str(entry);
        out.push('\n');
    }
    fs::write(&m, out).unwrap();
}

#[test]
fn a_manifest_of_an_earlier_install_sh_is_read() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    // A unit directory that was there before, so the units are listed outside any directory
    // the old manifest records.
    let system = t.path().join("units/system");
    fs::create_dir_all(&system).unwrap();
    fs::write(system.join("other.service"), "[Service]\n").unwrap();
    let binary = hwc();
    let args = with_units(&prefix, &binary, &system);
    let o = install_sh(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // Installing over an old manifest takes its entries as its own and records them anew.
    to_old_manifest(&prefix);
    let o = install_sh(&args);
    assert_eq!(code(&o), 0, "over an old manifest: {}", stderr(&o));
    let text = fs::read_to_string(manifest(&prefix)).unwrap();
    for line in text.lines() {
        assert!(
            ["dir:", "dest:", "file:", "link:"]
                .iter()
                .any(|k| line.starts_with(k)),
            "every entry recorded anew: {text}"
        );
    }
    assert!(
        text.contains(&format!(
            "file:{}:{}",
            sha256(&binary),
            prefix.join("bin/hwc").display()
        )),
        "{text}"
    );

    // An old manifest lists what the old install.sh refused or what has been replaced since:
    // uninstall keeps those and removes the rest.
    to_old_manifest(&prefix);
    let mine = prefix.join("bin/hwc-perms");
    fs::remove_file(&mine).unwrap();
    fs::write(&mine, "my hwc-perms\n").unwrap();
    let replaced = system.join("setup-ssh-keys@.service");
    fs::write(&replaced, "[Service]\nExecStart=/usr/bin/true\n").unwrap();
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("kept {}", mine.display())),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(&format!("kept {}", replaced.display())),
        "{}",
        stderr(&o)
    );
    let mut left = vec![mine, replaced, system.join("other.service")];
    left.sort();
    assert_eq!(files_under(t.path()), left);
    assert!(
        !t.path().join("units/user").exists(),
        "its directory is gone"
    );
}

#[test]
fn uninstall_removes_only_under_the_prefix_and_the_directories_it_records() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let m = manifest(&prefix);
    fs::create_dir_all(m.parent().unwrap()).unwrap();
    fs::create_dir_all(prefix.join("bin")).unwrap();
    let victims: Vec<PathBuf> = ["victim", "victim-hashed", "victim-link", "victim-dotdot"]
        .iter()
        .map(|n| t.path().join(n))
        .collect();
    for v in &victims[..2] {
        fs::write(v, "someone else's\n").unwrap();
    }
    std::os::unix::fs::symlink("hwc", &victims[2]).unwrap();
    fs::write(&victims[3], "someone else's\n").unwrap();
    let ours = prefix.join("bin/hwc-old");
    fs::write(&ours, "an old hwc\n").unwrap();
    fs::write(
        &m,
        format!(
            "{}\nfile:{}:{}\nlink:{}\nfile:{}:{}/../{}\nfile:{}:{}\n",
            victims[0].display(),
            sha256(&victims[1]),
            victims[1].display(),
            victims[2].display(),
            sha256(&victims[3]),
            prefix.display(),
            victims[3].file_name().unwrap().to_str().unwrap(),
            sha256(&ours),
            ours.display(),
        ),
    )
    .unwrap();

    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for v in &victims {
        assert!(v.symlink_metadata().is_ok(), "{} kept", v.display());
    }
    for v in &victims[..3] {
        let says = format!("kept {}: it is outside {}", v.display(), prefix.display());
        assert!(stderr(&o).contains(&says), "{}", stderr(&o));
    }
    assert!(
        stderr(&o).contains("/../victim-dotdot: not a plain absolute path"),
        "{}",
        stderr(&o)
    );
    assert!(!ours.exists(), "what is under the prefix is removed");
}

#[test]
fn a_temporary_name_made_beforehand_is_neither_followed_nor_in_the_way() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let system = t.path().join("units/system");
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::create_dir_all(&system).unwrap();
    // The names the temporary files once had, taken: a directory, and a link to a file that
    // is not install.sh's to write.
    let planted_dir = prefix.join("bin/.hwc.hwc-new");
    fs::create_dir(&planted_dir).unwrap();
    let victim = t.path().join("victim");
    fs::write(&victim, "someone else's\n").unwrap();
    let planted_link = system.join(".hwc-bridge@.service.hwc-new");
    std::os::unix::fs::symlink(&victim, &planted_link).unwrap();

    let binary = hwc();
    let o = install_sh(&with_units(&prefix, &binary, &system));
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "someone else's\n");
    assert!(planted_dir.is_dir() && planted_link.is_symlink());
    let dot_files = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        dot_files(&prefix.join("bin")),
        [".hwc.hwc-new"],
        "no leftovers"
    );
    assert_eq!(dot_files(&system), [".hwc-bridge@.service.hwc-new"]);

    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "someone else's\n");
    assert!(planted_dir.is_dir() && planted_link.is_symlink());
}

// As root: only where only root can change things.

const NOBODY: u32 = 65534;

fn chown_nobody(p: &Path) {
    std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn as_root_it_installs_only_where_only_root_can_write() {
    if !is_root() {
        skip("the ownership checks apply to root");
        return;
    }
    let binary = hwc();
    // Each case makes something of the tempdir and says which prefix to install into, with
    // which further arguments, and the directory the refusal names.
    type Setup = fn(&Path) -> (PathBuf, Vec<String>, PathBuf);
    let cases: [(&str, Setup); 5] = [
        ("bin owned by nobody", |t| {
            let bin = t.join("p/bin");
            fs::create_dir_all(&bin).unwrap();
            chown_nobody(&bin);
            (t.join("p"), vec![], bin)
        }),
        ("bin writable by its group", |t| {
            let bin = t.join("p/bin");
            fs::create_dir_all(&bin).unwrap();
            chmod(&bin, 0o775);
            (t.join("p"), vec![], bin)
        }),
        ("a directory above the prefix owned by nobody", |t| {
            let theirs = t.join("theirs");
            fs::create_dir(&theirs).unwrap();
            chown_nobody(&theirs);
            (theirs.join("p"), vec![], theirs)
        }),
        ("the manifest's directory owned by nobody", |t| {
            let share = t.join("p/share/hwc");
            fs::create_dir_all(&share).unwrap();
            chown_nobody(&share);
            (t.join("p"), vec![], share)
        }),
        ("a unit directory world-writable, not sticky", |t| {
            let units = t.join("units");
            fs::create_dir_all(units.join("system")).unwrap();
            chmod(&units, 0o777);
            let system = units.join("system").display().to_string();
            (t.join("p"), vec!["--systemd".into(), system], units)
        }),
    ];
    for (what, setup) in cases {
        let t = tempfile::tempdir().unwrap();
        let (prefix, extra, named) = setup(t.path());
        let before = contents_under(t.path());
        let mut args = vec![
            "--prefix".to_string(),
            prefix.display().to_string(),
            "--binary".to_string(),
            binary.display().to_string(),
        ];
        args.extend(extra);
        let o = Command::new("bash")
            .arg(repo().join("install/install.sh"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(code(&o), 1, "{what}: {}{}", stdout(&o), stderr(&o));
        assert_one_line_error(&o);
        assert!(
            stderr(&o).contains(&format!("{} is ", named.display())),
            "{what}: {}",
            stderr(&o)
        );
        assert_eq!(contents_under(t.path()), before, "{what}: nothing written");
    }

    // A sticky world-writable directory above is fine (others cannot rename or remove root's
    // entries there), as /tmp is above every other test's.
    let t = tempfile::tempdir().unwrap();
    let sticky = t.path().join("sticky");
    fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let prefix = sticky.join("p");
    let system = sticky.join("units/system");
    let o = install_sh(&with_units(&prefix, &binary, &system));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(files_under(t.path()), Vec::<PathBuf>::new());
    // As the destination itself it is not.
    let o = install_sh(&[
        "--prefix",
        sticky.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--initrd",
        "mkinitcpio",
        "--initrd-dir",
        sticky.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert_eq!(files_under(t.path()), Vec::<PathBuf>::new());
}

#[test]
fn as_root_it_uninstalls_only_what_a_manifest_only_root_could_write_lists() {
    if !is_root() {
        skip("the ownership checks apply to root");
        return;
    }
    // The reviewer's case: a prefix someone else owns, whose manifest lists a file of root's.
    let t = tempfile::tempdir().unwrap();
    let victim = t.path().join("victim");
    fs::write(&victim, "root's\n").unwrap();
    let prefix = t.path().join("p");
    let m = manifest(&prefix);
    fs::create_dir_all(m.parent().unwrap()).unwrap();
    fs::write(
        &m,
        format!(
            "{}\nfile:{}:{}\n",
            victim.display(),
            sha256(&victim),
            victim.display()
        ),
    )
    .unwrap();
    for d in [
        prefix.clone(),
        prefix.join("share"),
        prefix.join("share/hwc"),
        m.clone(),
    ] {
        chown_nobody(&d);
    }
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("owned by nobody"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root's\n");
    assert!(m.exists());

    // Only the manifest someone else's, or writable by its group.
    for d in [
        prefix.clone(),
        prefix.join("share"),
        prefix.join("share/hwc"),
    ] {
        std::os::unix::fs::chown(&d, Some(0), Some(0)).unwrap();
    }
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    std::os::unix::fs::chown(&m, Some(0), Some(0)).unwrap();
    chmod(&m, 0o664);
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root's\n");

    // A real install whose bin someone else has been given since: nothing is removed.
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("p");
    let binary = hwc();
    let o = install_sh(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    chown_nobody(&prefix.join("bin"));
    let before = contents_under(t.path());
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert_eq!(contents_under(t.path()), before, "nothing removed");
    std::os::unix::fs::chown(prefix.join("bin"), Some(0), Some(0)).unwrap();
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(files_under(t.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_new_binary_of_any_file_name_replaces_the_one_installed() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let binary = hwc();
    let o = install_sh(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Another build (different bytes) under a release file name: run as hwc to list the
    // applets, and recorded anew in place of the old one.
    let mut bytes = fs::read(&binary).unwrap();
    bytes.extend_from_slice(b"\0another build");
    let draft = t.path().join("draft");
    fs::write(&draft, &bytes).unwrap();
    let next = t.path().join("hwc-x86_64-linux");
    install_executable(&draft, &next);
    fs::remove_file(&draft).unwrap();
    let o = install_sh(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        next.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read(prefix.join("bin/hwc")).unwrap(), bytes);
    let text = fs::read_to_string(manifest(&prefix)).unwrap();
    assert_eq!(
        text.matches("file:").count(),
        1,
        "one hash for bin/hwc: {text}"
    );
    assert!(text.contains(&sha256(&next)), "{text}");
    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(files_under(t.path()), vec![next]);
}

/// systemctl enable links the units where systemd looks; --uninstall takes those links away with
/// the units, leaving none dangling, and keeps a link that leads elsewhere.
#[test]
fn uninstall_after_systemctl_enable_leaves_no_dangling_link() {
    if !have("systemctl") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let system = root.join("etc/systemd/system");
    let prefix = t.path().join("prefix");
    let binary = hwc();
    let o = install_sh(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--systemd",
        system.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = Command::new("systemctl")
        .arg(format!("--root={}", root.display()))
        .args([
            "enable",
            "setup-ssh-keys@eric.service",
            "setup-ssh-keys@eric.path",
            "hwc-bridge@br0.service",
            "hwc-doctor.timer",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let links = |dir: &Path| -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in walk_all(dir) {
            if e.is_symlink() {
                out.push(e);
            }
        }
        out.sort();
        out
    };
    let made = links(&root);
    assert!(made.len() >= 4, "systemctl enable made {made:?}");
    // Someone's own link beside them, to a unit that stays.
    fs::write(
        system.join("mine.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let mine = system.join("multi-user.target.wants/mine.service");
    std::os::unix::fs::symlink(system.join("mine.service"), &mine).unwrap();

    let o = uninstall(&prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dangling: Vec<PathBuf> = links(&root).into_iter().filter(|l| !l.exists()).collect();
    assert_eq!(dangling, Vec::<PathBuf>::new(), "{}", stderr(&o));
    assert_eq!(links(&root), [mine], "{}", stderr(&o));
}

/// Every path under `dir`, links included (not followed).
fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk_all(&p));
            }
            out.push(p);
        }
    }
    out
}

/// A template unit hands what it runs the instance as written (`%i`): bridge and user names
/// hold `-` (`br-lab`, hwc's own `hwc-media`), which `%I` reads back as `/`, as
/// `systemd-escape -u` shows. The doctor names such units with the name itself.
#[test]
fn template_units_pass_the_instance_as_written_to_what_they_run() {
    let dir = repo().join("install/systemd");
    let mut templates = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains("@.") {
            continue;
        }
        templates += 1;
        let text = fs::read_to_string(&path).unwrap();
        let mut uses = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((_, value)) = line.split_once('=') else {
                continue;
            };
            assert!(!value.contains("%I"), "{name}: {line}: %i, not %I");
            uses += value.matches("%i").count();
        }
        assert!(uses > 0, "{name} passes its instance to nothing");
    }
    assert_eq!(
        templates, 3,
        "hwc-bridge@.service, setup-ssh-keys@.service and .path"
    );
    if have("systemd-escape") {
        let o = Command::new("systemd-escape")
            .args(["-u", "br-lab"])
            .output()
            .unwrap();
        assert_eq!(stdout(&o).trim(), "br/lab", "what %I would give");
    }
}

/// Without `--binary`, install.sh builds for the machine's own platform (rustc's host), named,
/// and installs that build; a platform .cargo/config.toml has no static build for is refused
/// before anything is built. Run over a copy of the tree, with stand-ins for rustc and cargo that
/// report the platform and record what they were asked.
#[test]
fn install_sh_builds_for_the_machines_own_platform() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    for dir in ["install", ".cargo"] {
        let o = Command::new("cp")
            .arg("-a")
            .arg(repo().join(dir))
            .arg(tree.join(dir))
            .output()
            .unwrap();
        assert!(o.status.success(), "cp {dir}: {}", stderr(&o));
    }
    let bin = t.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = t.path().join("cargo.log");
    let script = |name: &str, text: String| {
        let p = bin.join(name);
        fs::write(&p, text).unwrap();
        chmod(&p, 0o755);
    };
    script(
        "rustc",
        "#!/bin/sh\nprintf 'rustc 1.95.0\\nhost: %s\\n' \"$FAKE_HOST\"\n".into(),
    );
    script(
        "cargo",
        format!(
            "#!/bin/sh\necho \"$PWD $*\" >> {log}\nmkdir -p target/$FAKE_HOST/release\n\
             cp {hwc} target/$FAKE_HOST/release/hwc\n",
            log = log.display(),
            hwc = hwc().display()
        ),
    );
    let run = |host: &str, prefix: &Path| {
        Command::new("bash")
            .arg(tree.join("install/install.sh"))
            .arg("--prefix")
            .arg(prefix)
            .env("FAKE_HOST", host)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .output()
            .unwrap()
    };
    let prefix = t.path().join("arm");
    let o = run("aarch64-unknown-linux-gnu", &prefix);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!(
            "{} build --release --locked --target aarch64-unknown-linux-gnu\n",
            tree.display()
        )
    );
    assert_eq!(
        sha256(&prefix.join("bin/hwc")),
        sha256(&tree.join("target/aarch64-unknown-linux-gnu/release/hwc"))
    );
    assert!(prefix.join("bin/gpu-launch").exists());

    fs::remove_file(&log).unwrap();
    let prefix = t.path().join("riscv");
    let o = run("riscv64gc-unknown-linux-gnu", &prefix);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no static build is set up for riscv64gc-unknown-linux-gnu"),
        "{}",
        stderr(&o)
    );
    assert!(!log.exists(), "nothing built");
    assert!(!prefix.exists(), "nothing installed");
}

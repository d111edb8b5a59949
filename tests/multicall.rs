//! The multicall front door: dispatch, --list, --install, --help of every applet, usage errors,
//! the static link and the absence of NSS.

mod common;

use common::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

#[test]
fn list_prints_exactly_the_applets() {
    let o = run_hwc(["--list"]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), APPLETS.map(|a| format!("{a}\n")).concat());
    assert!(o.stderr.is_empty());
}

#[test]
fn every_applet_help_exits_zero_through_its_link_and_through_hwc() {
    let bin = Bin::new();
    for name in APPLETS {
        let short = name.strip_prefix("hwc-").unwrap_or(name);
        let by_link = bin.run(name, ["--help"]);
        let by_full = run_hwc([name, "--help"]);
        let by_short = run_hwc([short, "-h"]);
        for (how, o) in [
            ("link", &by_link),
            ("hwc NAME", &by_full),
            ("hwc SHORT", &by_short),
        ] {
            assert_eq!(code(o), 0, "{name} via {how}: {}", stderr(o));
            let text = stdout(o);
            assert!(
                text.starts_with(&format!("Usage: {name}")),
                "{name} via {how}: {text}"
            );
            assert!(text.contains("--help"), "{name} via {how}");
        }
        assert_eq!(
            by_link.stdout, by_full.stdout,
            "{name}: same help either way"
        );
        assert_eq!(
            by_link.stdout, by_short.stdout,
            "{name}: same help either way"
        );
    }
}

#[test]
fn hwc_help_and_version() {
    let o = run_hwc(["--help"]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    for name in APPLETS {
        assert!(text.contains(name), "help lists {name}");
    }
    let v = run_hwc(["--version"]);
    assert_eq!(code(&v), 0);
    assert_eq!(stdout(&v), format!("hwc {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn no_arguments_is_a_usage_error() {
    let o = run_hwc::<[&str; 0], &str>([]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("Usage:"));
}

#[test]
fn unknown_applet_exits_127_with_one_line() {
    let o = run_hwc(["no-such-applet"]);
    assert_eq!(code(&o), 127);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("no-such-applet"));

    let bin = Bin::new();
    std::os::unix::fs::symlink(hwc(), bin.path("frobnicate")).unwrap();
    let o = bin.run("frobnicate", ["--help"]);
    assert_eq!(code(&o), 127);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("frobnicate"));
}

#[test]
fn applet_named_by_path_after_hwc() {
    // `#!/usr/bin/hwc /usr/bin/gpu-launch`-style calls name the applet by a path.
    let o = run_hwc(["/usr/bin/hwc-gpu-detect", "--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("Usage: hwc-gpu-detect"));
}

#[test]
fn login_dash_is_stripped() {
    let bin = Bin::new();
    std::os::unix::fs::symlink(hwc(), bin.path("-hwc")).unwrap();
    let o = bin.run("-hwc", ["--list"]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o).lines().count(), APPLETS.len());
}

#[test]
fn bad_options_exit_2_with_one_line() {
    let bin = Bin::new();
    for name in APPLETS {
        let o = bin.run(name, ["--definitely-not-an-option"]);
        assert_eq!(code(&o), 2, "{name}: {}", stderr(&o));
        assert_one_line_error(&o);
        assert!(
            stderr(&o).starts_with(&format!("{name}: ")),
            "{}",
            stderr(&o)
        );
    }
    let o = run_hwc(["--bogus"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
    let o = run_hwc(["--list", "extra"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
    let o = run_hwc(["--install"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

#[test]
fn non_utf8_argument_is_a_usage_error() {
    let bin = Bin::new();
    let o = bin
        .cmd("hwc-perms")
        .arg(std::ffi::OsStr::from_bytes(b"--x\xff"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("UTF-8"));
}

#[test]
fn broken_pipe_on_stdout_is_a_quiet_success() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(hwc())
        .arg("--help")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

fn link_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_symlinks_twice_is_idempotent_and_relative() {
    let prefix = tempfile::tempdir().unwrap();
    let bindir = prefix.path().join("bin");
    let sbindir = prefix.path().join("sbin");
    fs::create_dir_all(&bindir).unwrap();
    fs::create_dir_all(&sbindir).unwrap();
    let installed = copy_hwc(&bindir);

    for dir in [&bindir, &sbindir] {
        let first = Command::new(&installed)
            .args(["--install", "-s"])
            .arg(dir)
            .output()
            .unwrap();
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        let inodes: Vec<u64> = APPLETS
            .iter()
            .map(|a| fs::symlink_metadata(dir.join(a)).unwrap().ino())
            .collect();
        let second = Command::new(&installed)
            .args(["--install", "-s"])
            .arg(dir)
            .output()
            .unwrap();
        assert_eq!(code(&second), 0, "{}", stderr(&second));
        for (a, ino) in APPLETS.iter().zip(&inodes) {
            let link = dir.join(a);
            let meta = fs::symlink_metadata(&link).unwrap();
            assert!(meta.file_type().is_symlink(), "{a} is a symlink");
            assert_eq!(meta.ino(), *ino, "{a}: a right link is left alone");
            let target = fs::read_link(&link).unwrap();
            assert!(target.is_relative(), "{a} -> {}", target.display());
            assert_eq!(
                fs::canonicalize(&link).unwrap(),
                fs::canonicalize(&installed).unwrap()
            );
        }
    }
    assert_eq!(
        fs::read_link(bindir.join("gpu-launch")).unwrap(),
        Path::new("hwc")
    );
    assert_eq!(
        fs::read_link(sbindir.join("gpu-launch")).unwrap(),
        Path::new("../bin/hwc")
    );
    let mut expected: Vec<String> = APPLETS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        link_names(&sbindir),
        expected,
        "nothing but the applet links"
    );

    // The links work: an applet answers through its link.
    let o = Command::new(sbindir.join("hwc-perms"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("Usage: hwc-perms"));
}

#[test]
fn install_hard_links_share_the_inode() {
    let dir = tempfile::tempdir().unwrap();
    let installed = copy_hwc(dir.path());
    let target = dir.path().join("links");
    fs::create_dir(&target).unwrap();
    for _ in 0..2 {
        let o = Command::new(&installed)
            .arg("--install")
            .arg(&target)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let ino = fs::metadata(&installed).unwrap().ino();
    for a in APPLETS {
        let m = fs::symlink_metadata(target.join(a)).unwrap();
        assert!(m.file_type().is_file());
        assert_eq!(m.ino(), ino, "{a} is a hard link of hwc");
    }
}

#[test]
fn install_refuses_a_foreign_file_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("gpu-launch");
    fs::write(&foreign, "#!/bin/sh\necho mine\n").unwrap();
    let other_link = dir.path().join("hwc-perms");
    std::os::unix::fs::symlink("/bin/sh", &other_link).unwrap();
    for _ in 0..2 {
        let o = run_hwc([
            std::ffi::OsStr::new("--install"),
            "-s".as_ref(),
            dir.path().as_os_str(),
        ]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("not replacing") && err.contains("gpu-launch"),
            "{err}"
        );
        assert!(err.contains("hwc-perms"), "{err}");
    }
    assert_eq!(
        fs::read_to_string(&foreign).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert_eq!(fs::read_link(&other_link).unwrap(), Path::new("/bin/sh"));
    // The others were installed anyway.
    assert!(fs::symlink_metadata(dir.path().join("hwc-netlink"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn install_replaces_a_stale_link_to_an_old_hwc() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("setup-ssh-keys");
    std::os::unix::fs::symlink("../old-prefix/bin/hwc", &stale).unwrap();
    let o = run_hwc([
        std::ffi::OsStr::new("--install"),
        "-s".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::canonicalize(&stale).unwrap(),
        fs::canonicalize(hwc()).unwrap()
    );
}

#[test]
fn install_into_a_missing_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_hwc([
        std::ffi::OsStr::new("--install"),
        dir.path().join("nope").as_os_str(),
    ]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("No such file or directory"));
}

/// True when the ELF file has a PT_INTERP program header (needs a dynamic loader).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let off = phoff + i * phentsize;
        u32::from_le_bytes(elf[off..off + 4].try_into().unwrap()) == 3
    })
}

#[test]
fn binary_is_static() {
    let elf = fs::read(hwc()).unwrap();
    assert!(!has_interpreter(&elf), "hwc must not need a dynamic loader");
    let sh = fs::read("/bin/sh").unwrap();
    assert!(
        has_interpreter(&sh),
        "the check itself sees a dynamic binary"
    );
}

#[test]
fn long_options_take_their_value_after_an_equals_sign() {
    let t = tempfile::tempdir().unwrap();
    // sysfs with no PCI device: a machine without a GPU, not one whose /sys is not there.
    std::fs::create_dir_all(t.path().join("sys/bus/pci/devices")).unwrap();
    let o = run_hwc([
        std::ffi::OsString::from("hwc-gpu-detect"),
        "--accel".into(),
        format!("--root={}", t.path().display()).into(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "cpu\n");
}

//! Booted, not listed: initrds with hwc in them, booted under qemu (TCG) with a Debian kernel to
//! their shell, and hwc's applets run there. Two images: a busybox-only one, made by hand as a
//! rescue image is (busybox, hwc, the kernel modules of the links hwc-netlink makes, an /init
//! with no /etc/passwd); and one dracut builds with hwc's dracut module as install.sh installs
//! it, booted with `rd.break` to dracut's emergency shell, typed into over the serial console.
//! The same steps run in both (STEPS); each step's output and status come back between markers.

mod common;

use common::*;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What runs in the booted shell, as a file in the image: each step between `@@BEGIN NAME` and
/// `@@END NAME STATUS`. The first link is made while the kernel modules are away (renamed), to
/// see the answer a kernel without them gives; /sys is taken away last.
const STEPS: &str = r#"
step() { name=$1; shift; echo "@@BEGIN $name"; "$@" 2>&1; echo "@@END $name $?"; }
modules=$(readlink -f /lib/modules)
step list hwc --list
step gpu hwc-gpu-detect --json
mv "$modules" "$modules.away"
step nomodule hwc-netlink link add d0 type dummy
mv "$modules.away" "$modules"
step bridge hwc-netlink ensure-bridge br0 10.0.0.1/24
step bridge-again hwc-netlink ensure-bridge br0 10.0.0.1/24
step veth hwc-netlink ensure-veth ve0 ve1 --master br0
step vlan hwc-netlink link add link br0 name br0.7 type vlan id 7
step links hwc-netlink -j link show
step access hwc-perms access --json /hwc-steps.sh
step access-root hwc-perms access --json --user 0 /hwc-steps.sh
step access-uid hwc-perms access --json --user 4242 /hwc-steps.sh
step doctor hwc-doctor --json
umount -l /sys
step nosys hwc-gpu-detect --env
echo "@@DONE"
"#;

/// The kernel to boot: the newest /boot/vmlinuz-VERSION with its modules in /lib/modules.
fn kernel() -> Option<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = fs::read_dir("/boot")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new("/lib/modules")
                .join(&version)
                .join("modules.dep")
                .is_file()
                .then(|| (e.path(), version))
        })
        .collect();
    found.sort();
    found.pop()
}

/// Whether a boot can be tried here; says why not.
fn ready() -> Option<(PathBuf, String)> {
    if !is_root() {
        skip("reading the kernel and building initrds needs root (tests/run runs as root)");
        return None;
    }
    for program in ["qemu-system-x86_64", "busybox", "cpio", "depmod", "dracut"] {
        if !have(program) {
            return None;
        }
    }
    let k = kernel();
    if k.is_none() {
        skip("no kernel in /boot with its modules (tests/run installs linux-image-cloud-amd64)");
    }
    k
}

/// Boots `initrd` with `kernel` under qemu (no network, 512 MiB, the serial console on stdio).
/// With `typed`, waits for dracut's emergency shell and types it. Returns the console's text
/// once the machine powered off, or panics with it after 240 s.
fn boot(kernel: &Path, initrd: &Path, append: &str, typed: Option<&str>) -> String {
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-m",
            "512",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", append])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let console = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = Arc::clone(&console);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let start = Instant::now();
    let mut stdin = child.stdin.take();
    let mut typed = typed;
    loop {
        if let Some(text) = typed {
            if console.lock().unwrap().contains("Dropping to debug shell.") {
                stdin.as_mut().unwrap().write_all(text.as_bytes()).unwrap();
                typed = None;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(240) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no power-off after 240 s:\n{}", console.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    reader.join().unwrap();
    let text = console.lock().unwrap().replace("\r\n", "\n");
    eprintln!("booted in {:?}", start.elapsed());
    text
}

/// Each step's output and status, by name.
fn steps(console: &str) -> HashMap<String, (String, i32)> {
    assert!(
        console.lines().any(|l| l == "@@DONE"),
        "the steps did not finish:\n{console}"
    );
    let mut out = HashMap::new();
    let mut current: Option<(String, String)> = None;
    for line in console.lines() {
        // A line may start with the terminal codes the firmware left.
        let marker = |m: &str| line.find(m).map(|at| &line[at + m.len()..]);
        if let Some(name) = marker("@@BEGIN ") {
            current = Some((name.to_string(), String::new()));
        } else if let Some(end) = marker("@@END ") {
            let (name, status) = end.rsplit_once(' ').unwrap();
            let (begun, text) = current
                .take()
                .unwrap_or_else(|| panic!("@@END {end} without its @@BEGIN:\n{console}"));
            assert_eq!(begun, name);
            out.insert(name.to_string(), (text, status.parse().unwrap()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// What every image must answer, on qemu's machine (its standard VGA, no network).
fn check_answers(image: &str, s: &HashMap<String, (String, i32)>) {
    let step = |name: &str| {
        s.get(name)
            .unwrap_or_else(|| panic!("{image}: no step {name}: {s:#?}"))
    };
    let ok = |name: &str| {
        let (text, status) = step(name);
        assert_eq!(*status, 0, "{image}: {name}: {text}");
        text.clone()
    };
    let json = |name: &str| -> serde_json::Value {
        let text = ok(name);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{image}: {name}: {e}: {text}"))
    };
    let listed: Vec<String> = ok("list").lines().map(str::to_string).collect();
    let expected: Vec<String> = stdout(&run_hwc(["--list"]))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed, expected, "{image}");

    // qemu's standard VGA (1234:1111) is a virtual display: no GPU to compute on.
    let gpu = json("gpu");
    assert_eq!(gpu["gpus"][0]["vendor_id"], "0x1234", "{image}: {gpu}");
    assert_eq!(gpu["gpus"][0]["role"], "virtual", "{image}: {gpu}");
    assert_eq!(gpu["accel"], "cpu");

    // The kernel without its modules: the answer names the module; with them, in the image,
    // every kind hwc-netlink makes is loaded on first use.
    let (text, status) = step("nomodule");
    assert_eq!(*status, 1, "{image}: {text}");
    assert!(
        text.contains("Unknown device type") && text.contains("modprobe dummy"),
        "{image}: {text}"
    );
    assert!(ok("bridge").contains("br0: created"), "{image}");
    ok("bridge-again");
    assert!(ok("veth").contains("ve0: created with peer ve1"), "{image}");
    ok("vlan");
    let links = json("links");
    let link = |name: &str| {
        links
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == name)
            .unwrap_or_else(|| panic!("{image}: no {name} in {links}"))
            .clone()
    };
    assert!(link("br0")["flags"]
        .as_array()
        .unwrap()
        .contains(&"UP".into()));
    assert_eq!(link("ve0")["master"], "br0");
    assert_eq!(link("br0.7")["link"], "br0");

    // Access as the caller (root, whatever /etc/passwd holds), as uid 0, as a uid with no
    // entry: the steps file is root's 0644.
    for (name, user, write) in [
        ("access", None, true),
        ("access-root", Some("0"), true),
        ("access-uid", Some("4242"), false),
    ] {
        let (text, status) = step(name);
        assert_eq!(*status, i32::from(!write), "{image}: {name}: {text}");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        if let Some(user) = user.filter(|u| *u != "0") {
            assert_eq!(doc["user"], user, "{image}: {name}");
        }
        assert_eq!(doc["paths"][0]["read"], true, "{image}: {name}");
        assert_eq!(doc["paths"][0]["write"], write, "{image}: {name}");
    }

    // The doctor runs and reports (it may find failures: nothing is declared here).
    let (text, status) = step("doctor");
    assert!([0, 1].contains(status), "{image}: doctor: {text}");
    let doctor: serde_json::Value = serde_json::from_str(text).unwrap();
    assert!(doctor["checks"].as_array().is_some_and(|c| !c.is_empty()));

    // No sysfs: an error saying so, and no HWC_GPU_TYPE.
    let (text, status) = step("nosys");
    assert_eq!(*status, 1, "{image}: {text}");
    assert!(text.contains("/sys/bus is missing"), "{image}: {text}");
    assert!(!text.contains("HWC_GPU_TYPE"), "{image}: {text}");
}

/// The files of `modules` (and what they depend on) under /lib/modules/VERSION, as the
/// kernel's modules.dep names them.
fn module_files(version: &str, modules: &[&str]) -> Vec<String> {
    let dep = fs::read_to_string(format!("/lib/modules/{version}/modules.dep")).unwrap();
    let mut out = Vec::new();
    for line in dep.lines() {
        let (file, deps) = line.split_once(':').unwrap();
        let base = file.rsplit('/').next().unwrap();
        let name = base.split(".ko").next().unwrap();
        if modules.contains(&name) {
            out.push(file.to_string());
            out.extend(deps.split_whitespace().map(str::to_string));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn a_busybox_only_initrd_boots_and_every_applet_answers() {
    let Some((vmlinuz, version)) = ready() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let stage = t.path().join("stage");
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp",
    ] {
        fs::create_dir_all(stage.join(d)).unwrap();
    }
    let busybox = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .unwrap();
    install_executable(
        Path::new(stdout(&busybox).trim()),
        &stage.join("bin/busybox"),
    );
    install_executable(&hwc(), &stage.join("usr/bin/hwc"));
    let o = Command::new(stage.join("usr/bin/hwc"))
        .args(["--install", "-s"])
        .arg(stage.join("usr/bin"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let files = module_files(&version, &["bridge", "veth", "8021q", "dummy"]);
    assert!(files.len() >= 4, "{files:?}");
    let modules = stage.join("lib/modules").join(&version);
    for f in &files {
        let to = modules.join(f);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(Path::new("/lib/modules").join(&version).join(f), &to).unwrap();
    }
    let o = Command::new("depmod")
        .arg("-b")
        .arg(&stage)
        .arg(&version)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    fs::write(stage.join("hwc-steps.sh"), STEPS).unwrap();
    // No /etc at all: no passwd, no group, as in a hand-made rescue image.
    fs::write(
        stage.join("init"),
        "#!/bin/busybox sh\n/bin/busybox --install -s\nexport PATH=/usr/bin:/usr/sbin:/bin:/sbin\n\
         mount -t proc proc /proc\nmount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n\
         sh /hwc-steps.sh\npoweroff -f\n",
    )
    .unwrap();
    fs::set_permissions(stage.join("init"), fs::Permissions::from_mode(0o755)).unwrap();
    let image = t.path().join("busybox.cpio");
    let o = Command::new("sh")
        .arg("-c")
        .arg("find . | cpio -o -H newc --quiet > \"$1\"")
        .arg("sh")
        .arg(&image)
        .current_dir(&stage)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let console = boot(
        &vmlinuz,
        &image,
        "console=ttyS0 panic=-1 rdinit=/init quiet",
        None,
    );
    let s = steps(&console);
    check_answers("busybox", &s);
    // No /etc/passwd here: the caller is its uid.
    let (text, _) = &s["access"];
    assert!(text.contains("\"user\":\"0\""), "{text}");
}

#[test]
fn a_dracut_image_with_hwcs_module_boots_to_a_shell_where_hwc_works() {
    let Some((vmlinuz, version)) = ready() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    // dracut's own modules, and hwc's as install.sh installs it.
    let base = dracut_base(t.path(), true);
    let prefix = t.path().join("prefix");
    let (binary, hook_dir) = (hwc(), base.join("modules.d/90hwc"));
    let o = install_sh(&[
        OsStr::new("--prefix"),
        prefix.as_os_str(),
        OsStr::new("--binary"),
        binary.as_os_str(),
        OsStr::new("--initrd"),
        OsStr::new("dracut"),
        OsStr::new("--initrd-dir"),
        hook_dir.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let steps_file = t.path().join("hwc-steps.sh");
    fs::write(&steps_file, STEPS).unwrap();
    for d in ["conf", "tmp"] {
        fs::create_dir_all(t.path().join(d)).unwrap();
    }
    let image = t.path().join("dracut.img");
    let o = Command::new("dracut")
        .args(["--kver", &version])
        .args(["--no-early-microcode", "--no-compress", "--no-hostonly"])
        .args(["--modules", "bash base hwc", "--conf", "/dev/null"])
        .arg("--confdir")
        .arg(t.path().join("conf"))
        .arg("--tmpdir")
        .arg(t.path().join("tmp"))
        .arg("--include")
        .arg(&steps_file)
        .arg("/hwc-steps.sh")
        .arg("--force")
        .arg(&image)
        .env("dracutbasedir", &base)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "dracut: {}", stderr(&o));
    let console = boot(
        &vmlinuz,
        &image,
        "console=ttyS0 panic=-1 rd.break=cmdline rd.shell quiet",
        Some("sh /hwc-steps.sh\necho o > /proc/sysrq-trigger\n"),
    );
    assert!(
        console.contains("Dropping to debug shell."),
        "dracut's emergency shell:\n{console}"
    );
    check_answers("dracut", &steps(&console));
    let o = install_sh(&[
        OsStr::new("--prefix"),
        prefix.as_os_str(),
        OsStr::new("--uninstall"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

//! What hwc-doctor needs beside a GPU tree (tests/common/fake_sysfs.rs) to find a healthy
//! machine under `--root`: the user `doc` in /etc/passwd and /etc/group with the media set's
//! groups, render nodes the user may open, /etc/hwc/perms.conf, the declaration, NVIDIA's
//! user-space library at the kernel module's version, the SSH secret, and a home whose
//! authorized_keys holds a managed block that sshd's StrictModes accepts. Shared by
//! tests/hwc-doctor-metrics.rs and benches/doctor.rs (which include it by path).
//!
//! As root the user is uid 4242 (the doctor's worker drops to it, so the root is made 0755 for
//! it to walk); otherwise the user is the caller, and the doctor works in its own process.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;

pub const USER: &str = "doc";
/// The keys of the managed block.
pub const KEYS: usize = 2;

/// What was made: the user's ids.
pub struct Made {
    pub uid: u32,
    pub gid: u32,
}

fn write(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Lays the machine out under `root`, a tree from a fake_sysfs fixture with an NVIDIA GPU (its
/// /sys/module/nvidia/version read for the library's name), declaring `bridges` (which the
/// doctor looks for in this network namespace, whatever the root).
pub fn populate(root: &Path, bridges: &[&str]) -> Made {
    let as_root = nix::unistd::geteuid().is_root();
    let (uid, gid) = if as_root {
        (4242, 4242)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    };
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    write(
        &root.join("etc/passwd"),
        &format!("root:x:0:0:root:/root:/bin/sh\n{USER}:x:{uid}:{gid}::/home/{USER}:/bin/sh\n"),
        0o644,
    );
    write(
        &root.join("etc/group"),
        &format!(
            "root:x:0:\n{USER}:x:{gid}:\naudio:x:2001:{USER}\nvideo:x:2002:{USER}\nrender:x:2003:{USER}\n"
        ),
        0o644,
    );
    write(
        &root.join("etc/hwc/perms.conf"),
        "media = audio video render\n",
        0o644,
    );
    let bridges: Vec<String> = bridges
        .iter()
        .map(|b| format!("\"{b}\": [\"10.231.0.1/24\"]"))
        .collect();
    write(
        &root.join("etc/hwc/declared.json"),
        &format!(
            "{{\"gpu\": {{\"type\": \"nvidia\", \"containerRuntime\": false}},\n \
             \"permissions\": {{\"user\": \"{USER}\", \"sets\": [\"media\"]}},\n \
             \"ssh\": {{\"user\": \"{USER}\"}},\n \"bridges\": {{{}}}}}\n",
            bridges.join(", ")
        ),
        0o644,
    );

    // The render nodes (plain files in the fixture): the render group's, as udev makes them.
    for entry in fs::read_dir(root.join("dev/dri")).unwrap() {
        let node = entry.unwrap().path();
        fs::set_permissions(&node, fs::Permissions::from_mode(0o660)).unwrap();
        if as_root {
            chown(&node, Some(0), Some(2003)).unwrap();
        }
    }

    // NVIDIA's user space at the loaded module's version, as NixOS links it.
    let version = fs::read_to_string(root.join("sys/module/nvidia/version")).unwrap();
    let lib = root.join("run/opengl-driver/lib");
    write(
        &lib.join(format!("libnvidia-ml.so.{}", version.trim())),
        "",
        0o755,
    );
    write(&lib.join("libnvidia-ml.so.1"), "", 0o755);

    // The secret setup-ssh-keys reads, and what it installed from it.
    let keys: String = (0..KEYS)
        .map(|i| format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:0>43} key{i}@doctor\n"))
        .collect();
    write(
        &root.join(format!("run/agenix/ssh-authorized-keys-{USER}")),
        &keys,
        0o400,
    );
    let home = root.join("home").join(USER);
    write(
        &home.join(".ssh/authorized_keys"),
        &format!(
            "# mine\n{}\n{keys}{}\n",
            hwc_authorized_keys::BEGIN,
            hwc_authorized_keys::END
        ),
        0o600,
    );
    fs::set_permissions(root.join("home"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(home.join(".ssh"), fs::Permissions::from_mode(0o700)).unwrap();
    if as_root {
        for p in [
            &home,
            &home.join(".ssh"),
            &home.join(".ssh/authorized_keys"),
        ] {
            chown(p, Some(uid), Some(gid)).unwrap();
        }
    }
    Made { uid, gid }
}

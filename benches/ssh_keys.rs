//! setup-ssh-keys with 1000 keys end to end (read the secret, parse and check every key, drop to
//! the user, read the old file, merge, write atomically or find it unchanged, predict StrictModes),
//! against `ssh-keygen -l` fingerprinting the same 1000 keys in the same run. Goal: <= 20 ms.

mod common;
#[path = "../tests/common/keys.rs"]
mod keys;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const N: usize = 1000;

fn keys(salt: u32) -> String {
    (0..N as u32)
        .map(|i| {
            let seed = (i.wrapping_mul(2654435761) ^ salt).to_le_bytes();
            let key: [u8; 32] = std::array::from_fn(|j| seed[j % 4] ^ j as u8);
            format!("{}\n", keys::ed25519_line(&key, &format!("key{i}@bench")))
        })
        .collect()
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let uid = if root_user {
        4242
    } else {
        unsafe { libc::geteuid() }
    };
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    fs::set_permissions(r, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(r.join("etc")).unwrap();
    fs::create_dir_all(r.join("run/agenix")).unwrap();
    fs::write(
        r.join("etc/passwd"),
        format!("bench:x:{uid}:{uid}::/home/bench:/bin/sh\n"),
    )
    .unwrap();
    fs::write(r.join("etc/group"), format!("bench:x:{uid}:\n")).unwrap();
    let home = r.join("home/bench");
    fs::create_dir_all(&home).unwrap();
    if root_user {
        std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
    }
    let secret = r.join("run/agenix/ssh-authorized-keys-bench");
    let (a, b) = (r.join("keys-a"), r.join("keys-b"));
    fs::write(&a, keys(1)).unwrap();
    fs::write(&b, keys(2)).unwrap();
    fs::copy(&a, &secret).unwrap();

    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let root = r.to_str().unwrap();
    let run = Command::new(hwc)
        .args(["setup-ssh-keys", "bench", "--root", root])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let installed = fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(
        installed
            .lines()
            .filter(|l| l.starts_with("ssh-ed25519"))
            .count(),
        N
    );

    let secret_s = secret.to_str().unwrap();
    // Each run of the rewrite case gets the other key set, so every run really writes.
    let rotate = format!(
        "if cmp -s {s} {a}; then cp {b} {s}; else cp {a} {s}; fi; exec {hwc} setup-ssh-keys bench --root {root}",
        s = secret_s,
        a = a.display(),
        b = b.display()
    );
    let rotate_only = format!(
        "if cmp -s {s} {a}; then cp {b} {s}; else cp {a} {s}; fi; exec true",
        s = secret_s,
        a = a.display(),
        b = b.display()
    );
    let cases = [
        common::Case::new(
            "ssh-keygen -l (1000 keys)",
            &["ssh-keygen", "-l", "-f", secret_s],
        ),
        common::Case::new(
            "setup-ssh-keys, 1000 keys, unchanged",
            &[hwc, "setup-ssh-keys", "bench", "--root", root],
        ),
        common::Case::new("sh: swap the secret only", &["sh", "-c", &rotate_only]),
        common::Case::new(
            "sh: swap the secret + setup-ssh-keys",
            &["sh", "-c", &rotate],
        ),
    ];
    let rows = common::compare(
        "ssh_keys",
        &cases,
        if quick { 3 } else { 100 },
        if quick { 1 } else { 5 },
    );
    let unchanged = rows[1].median.as_secs_f64() * 1e3;
    let rewrite = (rows[3].median.as_secs_f64() - rows[2].median.as_secs_f64()) * 1e3;
    println!(
        "1000 keys end to end: {unchanged:.2} ms unchanged, {rewrite:.2} ms with a rewrite (swap cost subtracted){}",
        if root_user { "; as root, with the privilege drop" } else { "; as the user itself" }
    );
    common::goal(
        "1000 keys end to end in <= 20 ms",
        unchanged.max(rewrite) <= 20.0,
    );
}

//! setup-ssh-keys with 1000 keys end to end (read the secret, parse and check every key, drop to
//! the user, read the old file, merge, write atomically or find it unchanged, predict StrictModes),
//! against `ssh-keygen -l` fingerprinting the same 1000 keys in the same run. Goal: <= 20 ms.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const N: usize = 1000;

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn keys(salt: u32) -> String {
    (0..N as u32)
        .map(|i| {
            let mut blob = Vec::new();
            blob.extend_from_slice(&11u32.to_be_bytes());
            blob.extend_from_slice(b"ssh-ed25519");
            blob.extend_from_slice(&32u32.to_be_bytes());
            let seed = (i.wrapping_mul(2654435761) ^ salt).to_le_bytes();
            blob.extend((0..32).map(|j| seed[j % 4] ^ j as u8));
            format!("ssh-ed25519 {} key{i}@bench\n", b64(&blob))
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

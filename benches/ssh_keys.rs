//! setup-ssh-keys with 1000 keys end to end (read the secret, parse and check every key, drop to
//! the user, read the old file, merge, write atomically or find it unchanged, predict StrictModes),
//! against `ssh-keygen -l` fingerprinting the same 1000 keys in the same run. Goal: <= 20 ms.
//! Then 100,000 keys, written the first time and found unchanged, against `ssh-keygen -l` on
//! them: every step linear or n·log n. Goal: under 1 s each.

mod common;
#[path = "../tests/common/keys.rs"]
mod keys;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const N: usize = 1000;
const MANY: usize = 100_000;

fn keys(salt: u32) -> String {
    keys_n(salt, N)
}

fn keys_n(salt: u32, n: usize) -> String {
    (0..n as u32)
        .map(|i| {
            let seed = (i.wrapping_mul(2654435761) ^ salt).to_le_bytes();
            let key: [u8; 32] = std::array::from_fn(|j| seed[j % 4] ^ j as u8);
            format!("{}\n", keys::ed25519_line(&key, &format!("key{i}@bench")))
        })
        .collect()
}

/// A root with the user `bench` (uid 4242 as root, else the caller) and an empty home.
fn bench_root(root_user: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let uid = if root_user {
        4242
    } else {
        nix::unistd::geteuid().as_raw()
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
    (dir, home)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    // SAFETY: geteuid has no preconditions.
    let root_user = nix::unistd::geteuid().is_root();
    let (dir, home) = bench_root(root_user);
    let r = dir.path();
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

    many_keys(quick, root_user);
}

/// 100,000 keys: the first run (no authorized_keys yet: everything written) and an unchanged
/// run, each timed as a whole process, with `ssh-keygen -l` over the same keys as reference.
fn many_keys(quick: bool, root_user: bool) {
    let (dir, home) = bench_root(root_user);
    let r = dir.path();
    let secret = r.join("run/agenix/ssh-authorized-keys-bench");
    fs::write(&secret, keys_n(3, MANY)).unwrap();
    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let root = r.to_str().unwrap();
    let file = home.join(".ssh/authorized_keys");
    let first = format!(
        "rm -f {f}; exec {hwc} setup-ssh-keys bench --root {root}",
        f = file.display()
    );
    let remove_only = format!("rm -f {}; exec true", file.display());
    let cases = [
        common::Case::new(
            "ssh-keygen -l (100,000 keys)",
            &["ssh-keygen", "-l", "-f", secret.to_str().unwrap()],
        ),
        common::Case::new("sh: remove the file only", &["sh", "-c", &remove_only]),
        common::Case::new(
            "sh: remove + setup-ssh-keys (first run)",
            &["sh", "-c", &first],
        ),
    ];
    let rows = common::compare(
        "ssh_keys, 100,000 keys",
        &cases,
        if quick { 1 } else { 5 },
        0,
    );
    let written = rows[2].median.saturating_sub(rows[1].median).as_secs_f64();
    // Found unchanged: timed apart, since the first-run case removes the file.
    let unchanged_cases = [
        cases[0].clone(),
        common::Case::new(
            "setup-ssh-keys, 100,000 keys, unchanged",
            &[hwc, "setup-ssh-keys", "bench", "--root", root],
        ),
    ];
    let unchanged = common::compare(
        "ssh_keys, 100,000 keys, unchanged",
        &unchanged_cases,
        if quick { 1 } else { 5 },
        1,
    )[1]
    .median
    .as_secs_f64();
    println!(
        "100,000 keys: {:.0} ms written, {:.0} ms unchanged; ssh-keygen -l: {:.0} ms",
        written * 1e3,
        unchanged * 1e3,
        rows[0].median.as_secs_f64() * 1e3
    );
    common::goal(
        "100,000 keys in under 1 s, first run and unchanged",
        written < 1.0 && unchanged < 1.0,
    );
}

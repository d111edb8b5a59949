//! setup-ssh-keys against real files and a real sshd: sources and fallback, revocation, the
//! user's own lines, hostile home layouts, a crash at the rename, and logins through sshd.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const USER: &str = "alice";

/// A syntactically valid ed25519 public key line, distinct per seed.
fn key(seed: u8, comment: &str) -> String {
    common::keys::ed25519_line(&[seed; 32], comment)
}

/// A root directory with the user in etc/passwd, a home owned by the user, and paths for the
/// default secret and fallback. As root the user is uid 4242 (so the privilege drop is real);
/// otherwise it is the current user acting for itself.
struct Fixture {
    dir: tempfile::TempDir,
    uid: u32,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let uid = if is_root() { 4242 } else { euid() };
        let r = dir.path();
        fs::create_dir_all(r.join("etc/hwc/ssh-authorized-keys")).unwrap();
        fs::create_dir_all(r.join("run/agenix")).unwrap();
        fs::write(
            r.join("etc/passwd"),
            format!("root:x:0:0::/root:/bin/sh\n{USER}:x:{uid}:{uid}::/home/{USER}:/bin/sh\n"),
        )
        .unwrap();
        fs::write(
            r.join("etc/group"),
            format!("root:x:0:\n{USER}:x:{uid}:\nusers:x:100:{USER}\n"),
        )
        .unwrap();
        let home = r.join("home").join(USER);
        fs::create_dir_all(&home).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        chown(&home, uid);
        Fixture { dir, uid }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn home(&self) -> PathBuf {
        self.root().join("home").join(USER)
    }

    fn keys_file(&self) -> PathBuf {
        self.home().join(".ssh/authorized_keys")
    }

    fn secret(&self) -> PathBuf {
        self.root()
            .join(format!("run/agenix/ssh-authorized-keys-{USER}"))
    }

    fn fallback(&self) -> PathBuf {
        self.root()
            .join(format!("etc/hwc/ssh-authorized-keys/{USER}"))
    }

    fn run(&self, args: &[&str]) -> Output {
        let bin = Bin::new();
        let mut cmd = bin.cmd("setup-ssh-keys");
        cmd.arg(USER).arg("--root").arg(self.root()).args(args);
        run_with_timeout(cmd, Duration::from_secs(20))
    }

    /// Creates ~/.ssh as the user would have it.
    fn ssh_dir(&self) -> PathBuf {
        let d = self.home().join(".ssh");
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        chown(&d, self.uid);
        d
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn chown(p: &Path, uid: u32) {
    if is_root() {
        std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    }
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("setup-ssh-keys hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn block_of(text: &str) -> Vec<&str> {
    let start = text
        .lines()
        .position(|l| l.starts_with("# BEGIN setup-ssh-keys"))
        .expect("a managed block");
    text.lines()
        .skip(start + 1)
        .take_while(|l| *l != "# END setup-ssh-keys")
        .collect()
}

#[test]
fn installs_the_secret_keys_safely_and_then_does_nothing() {
    let f = Fixture::new();
    fs::write(
        f.secret(),
        format!("{}\n# comment\n\n{}\n", key(1, "a@x"), key(2, "b@x")),
    )
    .unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("2 key(s) from the secret")
            && stdout(&o).contains("written (created ~/.ssh)"),
        "{}",
        stdout(&o)
    );
    let text = fs::read_to_string(f.keys_file()).unwrap();
    assert_eq!(block_of(&text), [key(1, "a@x"), key(2, "b@x")]);
    let meta = fs::metadata(f.keys_file()).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (f.uid, 0o600));
    let ssh = fs::metadata(f.home().join(".ssh")).unwrap();
    assert_eq!((ssh.uid(), ssh.mode() & 0o777), (f.uid, 0o700));
    assert_eq!(
        fs::metadata(f.home()).unwrap().mode() & 0o7777,
        0o755,
        "home untouched"
    );

    let o = f.run(&[]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("unchanged"), "{}", stdout(&o));
    let again = fs::metadata(f.keys_file()).unwrap();
    assert_eq!(
        (again.ino(), again.mtime_nsec()),
        (meta.ino(), meta.mtime_nsec()),
        "no write when nothing changed"
    );
}

#[test]
fn revocation_keeps_the_users_own_lines_byte_for_byte() {
    let f = Fixture::new();
    let ssh = f.ssh_dir();
    let own = format!("# my laptop\r\n{}\n", key(9, "own"));
    fs::write(ssh.join("authorized_keys"), &own).unwrap();
    chown(&ssh.join("authorized_keys"), f.uid);
    fs::write(f.secret(), format!("{}\n{}\n", key(1, "a"), key(2, "b"))).unwrap();
    assert_eq!(code(&f.run(&[])), 0);
    fs::write(f.secret(), format!("{}\n", key(2, "b"))).unwrap();
    let o = f.run(&["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["removed"].as_array().unwrap().len(), 1);
    assert_eq!(doc["added"].as_array().unwrap().len(), 0);
    assert_eq!(doc["source"], "secret");
    assert_eq!(doc["written"], true);
    let text = fs::read_to_string(f.keys_file()).unwrap();
    assert!(
        text.starts_with(&own),
        "the user's lines stay first and byte for byte: {text:?}"
    );
    assert_eq!(block_of(&text), [key(2, "b")]);
    assert!(
        !text.contains(&key(1, "a")),
        "a key removed from the secret is gone"
    );

    let o = f.run(&["--exclusive"]);
    assert_eq!(code(&o), 0);
    let text = fs::read_to_string(f.keys_file()).unwrap();
    assert!(!text.contains("own"), "--exclusive drops the user's lines");
}

#[test]
fn fallback_when_the_secret_is_missing_empty_or_invalid() {
    let f = Fixture::new();
    fs::write(f.fallback(), format!("{}\n", key(5, "fallback"))).unwrap();
    for secret in [
        None,
        Some(String::new()),
        Some("garbage line\nssh-ed25519 AAAA\n".to_string()),
    ] {
        match &secret {
            None => {
                let _ = fs::remove_file(f.secret());
            }
            Some(s) => fs::write(f.secret(), s).unwrap(),
        }
        let o = f.run(&[]);
        assert_eq!(code(&o), 0, "{secret:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("from the fallback"), "{}", stdout(&o));
        assert_eq!(
            block_of(&fs::read_to_string(f.keys_file()).unwrap()),
            [key(5, "fallback")]
        );
    }
    // --fallback-key lines count too, and duplicates keep the first.
    let _ = fs::remove_file(f.fallback());
    let o = f.run(&[
        "--fallback-key",
        &key(6, "x"),
        "--fallback-key",
        &key(6, "dup"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        block_of(&fs::read_to_string(f.keys_file()).unwrap()),
        [key(6, "x")]
    );
    assert!(
        stderr(&o).contains("--fallback-key #2:1: duplicate key"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn nothing_valid_leaves_the_file_untouched_and_fails() {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    assert_eq!(code(&f.run(&[])), 0);
    let before = fs::read(f.keys_file()).unwrap();
    let ino = fs::metadata(f.keys_file()).unwrap().ino();
    fs::write(f.secret(), "not a key\n").unwrap();
    fs::write(f.fallback(), "ssh-rsa AAAAB3NzaC1yc2E=\n").unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains("no valid key for alice in any source"),
        "{err}"
    );
    assert!(
        err.contains("ssh-authorized-keys-alice:1:"),
        "bad lines are named: {err}"
    );
    assert_eq!(fs::read(f.keys_file()).unwrap(), before);
    assert_eq!(fs::metadata(f.keys_file()).unwrap().ino(), ino);
}

#[test]
fn dry_run_prints_file_and_diff_and_writes_nothing() {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let o = f.run(&["--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("# BEGIN setup-ssh-keys") && out.contains(&format!("+{}", key(1, "a"))),
        "{out}"
    );
    assert!(out.contains("would change"));
    assert!(!f.home().join(".ssh").exists(), "dry run creates nothing");
}

#[test]
fn usage_and_unknown_user() {
    let f = Fixture::new();
    let bin = Bin::new();
    let o = bin.run(
        "setup-ssh-keys",
        ["nobody-here", "--root"]
            .iter()
            .map(|s| s.to_string())
            .chain([f.root().display().to_string()]),
    );
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    let o = bin.run("setup-ssh-keys", Vec::<String>::new());
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

fn needs_root(what: &str) -> bool {
    if !is_root() {
        skip(&format!(
            "{what} needs root to build a hostile layout (tests/run runs as root)"
        ));
    }
    is_root()
}

/// A root-owned file that must never change.
fn root_file(f: &Fixture) -> (PathBuf, Vec<u8>) {
    let p = f.root().join("etc/precious");
    fs::write(&p, "root's data\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    (p.clone(), fs::read(&p).unwrap())
}

#[test]
fn hostile_authorized_keys_symlink_to_a_root_file() {
    if !needs_root("this test") {
        return;
    }
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let (precious, content) = root_file(&f);
    let ssh = f.ssh_dir();
    std::os::unix::fs::symlink(&precious, ssh.join("authorized_keys")).unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert_eq!(fs::read(&precious).unwrap(), content);
    assert!(fs::symlink_metadata(ssh.join("authorized_keys"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn hostile_ssh_dir_symlink_to_a_root_dir() {
    if !needs_root("this test") {
        return;
    }
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let target = f.root().join("etc/rootdir");
    fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, f.home().join(".ssh")).unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains(".ssh: it is a symbolic link"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "nothing written into the root directory"
    );
}

#[test]
fn hostile_fifo_and_directory_are_refused_without_hanging() {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let ssh = f.ssh_dir();
    let target = ssh.join("authorized_keys");
    nix::unistd::mkfifo(&target, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    chown(&target, f.uid);
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("it is a FIFO, not a regular file"),
        "{}",
        stderr(&o)
    );
    fs::remove_file(&target).unwrap();
    fs::create_dir(&target).unwrap();
    chown(&target, f.uid);
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("it is a directory, not a regular file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn hostile_home_owned_by_another_user() {
    if !needs_root("this test") {
        return;
    }
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    chown(&f.home(), 5555);
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("owned by uid 5555"), "{}", stderr(&o));
    assert!(!f.home().join(".ssh").exists(), "nothing created");
    assert_eq!(
        fs::metadata(f.home()).unwrap().uid(),
        5555,
        "home never chowned"
    );
}

#[test]
fn writes_happen_as_the_user_not_as_root() {
    if !needs_root("this test") {
        return;
    }
    // A home the user may not write to: root could, the user cannot, so the write must fail.
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    chown(&f.home(), 0);
    fs::set_permissions(f.home(), fs::Permissions::from_mode(0o755)).unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    assert!(!f.home().join(".ssh").exists());
}

#[test]
fn strict_modes_problems_are_warnings_and_check_fails() {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    fs::set_permissions(f.home(), fs::Permissions::from_mode(0o775)).unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("warning: sshd would refuse the keys: bad ownership or modes for directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::metadata(f.home()).unwrap().mode() & 0o777,
        0o775,
        "home mode untouched"
    );
    let o = f.run(&["--check"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("refused:"), "{}", stdout(&o));
    fs::set_permissions(f.home(), fs::Permissions::from_mode(0o755)).unwrap();
    let o = f.run(&["--check"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("sshd would accept it"));
}

/// Kills the worker with SIGKILL when it reaches `syscalls`, then checks the file is whole.
fn crash_at(syscalls: &str) -> (Fixture, Vec<u8>, Vec<u8>) {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "old"))).unwrap();
    assert_eq!(code(&f.run(&[])), 0);
    let old = fs::read(f.keys_file()).unwrap();
    fs::write(
        f.secret(),
        format!("{}\n{}\n", key(2, "new"), key(3, "new")),
    )
    .unwrap();
    let bin = Bin::new();
    let o = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("inject={syscalls}:signal=KILL"),
        ])
        .arg(bin.path("setup-ssh-keys"))
        .arg(USER)
        .arg("--root")
        .arg(f.root())
        .output()
        .unwrap();
    assert_ne!(code(&o), 0, "the crash must be seen: {}", stderr(&o));
    let now = fs::read(f.keys_file()).unwrap();
    (f, old, now)
}

#[test]
fn crash_at_the_rename_leaves_a_whole_file_and_recovers() {
    if !have("strace") {
        return;
    }
    let (f, old, now) = crash_at("rename,renameat,renameat2");
    assert_eq!(now, old, "killed before the rename: the old file, whole");
    let new_expected = {
        let o = f.run(&["--dry-run"]);
        stdout(&o).to_string()
    };
    let o = f.run(&[]);
    assert_eq!(
        code(&o),
        0,
        "a stale temp file does not block the next run: {}",
        stderr(&o)
    );
    let text = fs::read_to_string(f.keys_file()).unwrap();
    assert!(new_expected.contains(&text), "the new file, whole");
    assert!(!f.home().join(".ssh/authorized_keys.tmp").exists());

    let (_f, old, now) = crash_at("fsync");
    assert_eq!(now, old, "killed at the first fsync: the old file, whole");
}

#[test]
fn crash_after_the_rename_leaves_the_new_file_whole() {
    if !have("strace") {
        return;
    }
    // The directory fsync comes after the rename: the second fsync of the run.
    let (_f, old, now) = crash_at("fsync:when=2");
    assert_ne!(now, old);
    let text = String::from_utf8(now).unwrap();
    assert_eq!(block_of(&text), [key(2, "new"), key(3, "new")]);
}

// --- a stalled worker, concurrent runs, odd files ---

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the comm may hold spaces, so read after the last ')'.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == pid {
            out.push(child);
        }
    }
    out
}

/// Takes the flock the worker takes on ~/.ssh, as another process would hold it.
fn hold_ssh_lock(ssh: &Path) -> nix::fcntl::Flock<fs::File> {
    let dir = fs::File::open(ssh).unwrap();
    nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

#[test]
fn a_worker_the_user_stops_is_killed_at_its_deadline() {
    if !needs_root("this test") {
        return;
    }
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let ssh = f.ssh_dir();
    fs::write(ssh.join("authorized_keys"), "# the user's own file\n").unwrap();
    chown(&ssh.join("authorized_keys"), f.uid);
    let before = fs::read(f.keys_file()).unwrap();
    // The worker waits for the lock this test holds: time to find it and stop it.
    let lock = hold_ssh_lock(&ssh);
    let bin = Bin::new();
    let start = std::time::Instant::now();
    let mut main = bin
        .cmd("setup-ssh-keys")
        .arg(USER)
        .arg("--root")
        .arg(f.root())
        .args(["--timeout", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let worker = loop {
        if let Some(w) = children_of(main.id()).first() {
            break *w;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no worker appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    // The user may signal the worker: it runs as her.
    let stopped = Command::new("setpriv")
        .arg(format!("--reuid={}", f.uid))
        .arg(format!("--regid={}", f.uid))
        .args(["--clear-groups", "kill", "-STOP"])
        .arg(worker.to_string())
        .status()
        .unwrap();
    assert!(stopped.success(), "the user stops her worker");
    drop(lock);
    let o = run_with_timeout_child(&mut main, Duration::from_secs(15));
    let took = start.elapsed();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("did not finish within 2 s; killed it"),
        "{}",
        stderr(&o)
    );
    assert!(
        took < Duration::from_secs(5),
        "ended at its deadline: {took:?}"
    );
    assert_eq!(
        fs::read(f.keys_file()).unwrap(),
        before,
        "the file unchanged"
    );
    assert!(
        !Path::new(&format!("/proc/{worker}")).exists(),
        "the worker is gone"
    );
    let _ = main.wait();
}

fn run_with_timeout_child(child: &mut std::process::Child, limit: Duration) -> Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("setup-ssh-keys hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    use std::io::Read;
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    Output {
        status: child.wait().unwrap(),
        stdout: out,
        stderr: err,
    }
}

#[test]
fn concurrent_runs_for_one_user_both_succeed_with_whole_content() {
    let f = Fixture::new();
    let a = f.root().join("keys-a");
    let b = f.root().join("keys-b");
    fs::write(&a, format!("{}\n{}\n", key(1, "a1"), key(2, "a2"))).unwrap();
    fs::write(&b, format!("{}\n", key(3, "b"))).unwrap();
    let bin = Bin::new();
    let spawn = |secret: &Path| {
        bin.cmd("setup-ssh-keys")
            .arg(USER)
            .arg("--root")
            .arg(f.root())
            .arg("--secret")
            .arg(secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    for round in 0..40 {
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let one = spawn(first);
        let two = spawn(second);
        for o in [
            one.wait_with_output().unwrap(),
            two.wait_with_output().unwrap(),
        ] {
            assert_eq!(code(&o), 0, "round {round}: {}", stderr(&o));
        }
        let text = fs::read_to_string(f.keys_file()).unwrap();
        let block = block_of(&text);
        assert!(
            block == [key(1, "a1"), key(2, "a2")] || block == [key(3, "b")],
            "round {round}: {text}"
        );
        let left: Vec<_> = fs::read_dir(f.home().join(".ssh"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["authorized_keys"], "no temporary file left");
    }
}

#[test]
fn relative_sources_are_the_working_directorys() {
    let f = Fixture::new();
    let work = f.root().join("work");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("keys.txt"), format!("{}\n", key(4, "here"))).unwrap();
    fs::write(f.root().join("keys.txt"), format!("{}\n", key(5, "root"))).unwrap();
    let bin = Bin::new();
    let o = bin
        .cmd("setup-ssh-keys")
        .arg(USER)
        .arg("--root")
        .arg(f.root())
        .args(["--secret", "keys.txt"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("from the secret (keys.txt)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        block_of(&fs::read_to_string(f.keys_file()).unwrap()),
        [key(4, "here")]
    );
}

#[test]
fn fifo_and_endless_sources_are_skipped_and_the_fallback_used() {
    let f = Fixture::new();
    fs::write(f.fallback(), format!("{}\n", key(5, "fallback"))).unwrap();
    nix::unistd::mkfifo(&f.secret(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let o = f.run(&["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["source"], "fallback");
    assert_eq!(
        doc["sources"][0]["status"],
        "unreadable: it is a FIFO, not a regular file"
    );
    fs::remove_file(f.secret()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", f.secret()).unwrap();
    let o = f.run(&["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["sources"][0]["status"],
        "unreadable: it is a character device, not a regular file"
    );
    // /etc/passwd itself a FIFO: a clear error, at once.
    let passwd = f.root().join("etc/passwd");
    fs::remove_file(&passwd).unwrap();
    nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("etc/passwd: it is a FIFO, not a regular file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn authorized_keys_is_never_opened_unless_a_regular_file() {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let ssh = f.ssh_dir();
    let fifo = ssh.join("authorized_keys");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    chown(&fifo, f.uid);
    // A writer blocks in open() until some process opens the FIFO for reading: if hwc opened
    // it (even non-blocking), the writer would get through.
    let (tx, rx) = std::sync::mpsc::channel();
    let writer_path = fifo.clone();
    std::thread::spawn(move || {
        let _w = fs::OpenOptions::new().write(true).open(&writer_path);
        let _ = tx.send(());
    });
    std::thread::sleep(Duration::from_millis(50));
    let o = f.run(&[]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("it is a FIFO, not a regular file"),
        "{}",
        stderr(&o)
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "setup-ssh-keys opened the FIFO"
    );
    // Let the writer go.
    let _r = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn an_empty_or_relative_home_is_an_error() {
    for home in ["", "home/alice"] {
        let f = Fixture::new();
        fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
        fs::write(
            f.root().join("etc/passwd"),
            format!("{USER}:x:{}:{}::{home}:/bin/sh\n", f.uid, f.uid),
        )
        .unwrap();
        let o = f.run(&[]);
        assert_eq!(code(&o), 1, "{home:?}");
        assert_one_line_error(&o);
        assert!(
            stderr(&o).contains(&format!(
                "the home directory in /etc/passwd is '{home}', not an absolute path"
            )),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_line_broken_inside_a_quote_refuses_the_lines_it_runs_into() {
    let f = Fixture::new();
    // The author meant one restricted key; sshd would read the second line as a plain key.
    fs::write(
        f.secret(),
        format!(
            "command=\"internal-sftp\n\" {}\n{}\n",
            key(1, "restricted"),
            key(2, "next")
        ),
    )
    .unwrap();
    fs::write(f.fallback(), format!("{}\n", key(5, "fallback"))).unwrap();
    let o = f.run(&["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rejected: Vec<(u64, String)> = doc["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected[1].1.contains("continues line 1"), "{rejected:?}");
    let block = block_of(&fs::read_to_string(f.keys_file()).unwrap())
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(!block.iter().any(|l| l.contains("restricted")), "{block:?}");
    assert_eq!(
        block,
        [key(2, "next")],
        "the line after the broken one stands"
    );
}

// --- a real sshd ---

const SSH_USER: &str = "hwc-ssh-test";

struct Sshd {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sshd() -> Sshd {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(d.join("hostkey"))
        .status()
        .unwrap();
    assert!(keygen.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\nStrictModes yes\n\
             AuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nLogLevel DEBUG1\n",
            d.join("hostkey").display()
        ),
    )
    .unwrap();
    fs::create_dir_all("/run/sshd").unwrap();
    let log = d.join("sshd.log");
    let config = d.join("sshd_config");
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The guard owns sshd from here on: it is killed and reaped on every path.
    let sshd = Sshd {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return sshd;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "sshd did not start: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
}

fn login(sshd: &Sshd, key: &Path) -> bool {
    sshd::ssh_true(sshd.port, SSH_USER, &["-i", key.to_str().unwrap()])
}

#[test]
fn real_sshd_logins_follow_the_installed_keys() {
    if !needs_root("the sshd login test") || !have("ssh") || !have("ssh-keygen") {
        return;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        skip("/usr/sbin/sshd is not installed (tests/run installs openssh-server as root)");
        return;
    }
    // A real user: sshd looks it up through the system's own account files.
    sshd::ensure_login_user(SSH_USER);
    let home = PathBuf::from(format!("/home/{SSH_USER}"));
    let _ = fs::remove_dir_all(home.join(".ssh"));
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();

    let work = tempfile::tempdir().unwrap();
    let gen = |name: &str| {
        let p = work.path().join(name);
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&p)
            .status()
            .unwrap();
        assert!(ok.success());
        (
            p.clone(),
            fs::read_to_string(p.with_extension("pub")).unwrap(),
        )
    };
    let (a, a_pub) = gen("a");
    let (b, b_pub) = gen("b");
    let (own, own_pub) = gen("own");
    let (fb, fb_pub) = gen("fallback");
    let secret = work.path().join("secret-keys");
    let fallback = work.path().join("fallback-keys");
    fs::write(&secret, &a_pub).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o400)).unwrap();
    fs::write(&fallback, &fb_pub).unwrap();

    let sshd = start_sshd();
    let bin = Bin::new();
    let run = || {
        let mut cmd = bin.cmd("setup-ssh-keys");
        cmd.arg(SSH_USER)
            .arg("--secret")
            .arg(&secret)
            .arg("--fallback")
            .arg(&fallback);
        run_with_timeout(cmd, Duration::from_secs(20))
    };

    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(login(&sshd, &a), "the secret's key logs in");
    assert!(!login(&sshd, &b), "an unlisted key does not");

    // The user's own line, outside the block.
    let file = home.join(".ssh/authorized_keys");
    let mut text = fs::read_to_string(&file).unwrap();
    text.insert_str(0, &own_pub);
    fs::write(&file, &text).unwrap();
    fs::write(&secret, &b_pub).unwrap();
    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !login(&sshd, &a),
        "a key removed from the secret no longer logs in"
    );
    assert!(login(&sshd, &b), "the new secret key logs in");
    assert!(login(&sshd, &own), "the user's own line still works");

    fs::remove_file(&secret).unwrap();
    let o = run();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        login(&sshd, &fb),
        "with the secret missing, the fallback logs in"
    );
    assert!(!login(&sshd, &b));

    fs::write(&secret, "garbage\n").unwrap();
    fs::write(&fallback, "also garbage\n").unwrap();
    let before = fs::read(&file).unwrap();
    let o = run();
    assert_eq!(code(&o), 1);
    assert_eq!(
        fs::read(&file).unwrap(),
        before,
        "nothing valid: the file is unchanged"
    );
    assert!(login(&sshd, &fb), "and logins keep working");

    drop(sshd);
    let _ = Command::new("userdel")
        .args(["-r", SSH_USER])
        .stderr(Stdio::null())
        .status();
}

#[test]
fn the_users_lines_reach_roots_terminal_printable() {
    let f = Fixture::new();
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    let ssh = f.ssh_dir();
    fs::write(
        ssh.join("authorized_keys"),
        "# hi \x1b]0;OWNED\x07\x1b[2J\x1b[1;31mfake: all good\x1b[0m\n",
    )
    .unwrap();
    chown(&ssh.join("authorized_keys"), f.uid);
    let o = f.run(&["--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("\\x1b]0;OWNED\\x07"), "{out}");
}

/// A line the user (or ssh-copy-id's `cat >>`) appends while setup-ssh-keys runs is never lost:
/// 200 runs, each changing the managed block so that it writes, with the user appending at a
/// point spread over the run's milliseconds; then 20 runs with the user's writer holding the
/// file open across the whole run (opened before, written after the replace).
#[test]
fn a_line_appended_during_a_run_survives() {
    let f = Fixture::new();
    f.ssh_dir();
    let file = f.keys_file();
    fs::write(&file, format!("{}\n", key(9, "own"))).unwrap();
    chown(&file, f.uid);
    let as_user = |script: &str, args: &[&str]| {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={}", f.uid),
                &format!("--regid={}", f.uid),
                "--clear-groups",
                "--",
                "sh",
            ]);
            c
        } else {
            Command::new("sh")
        };
        cmd.arg("-c").arg(script).arg("sh").args(args);
        cmd.spawn().unwrap()
    };
    let mut lost = Vec::new();
    for i in 0..220u32 {
        let managed = if i % 2 == 0 { key(1, "a") } else { key(2, "b") };
        fs::write(f.secret(), format!("{managed}\n")).unwrap();
        let appended = format!("{} appended-{i}", key(3, "x").rsplit_once(' ').unwrap().0);
        let held = i >= 200;
        let writer = if held {
            // Opens now, writes after the run has replaced the file.
            let w = as_user(
                "exec 3>>\"$1\"; sleep 0.3; printf '%s\\n' \"$2\" >&3",
                &[file.to_str().unwrap(), &appended],
            );
            std::thread::sleep(Duration::from_millis(50));
            Some(w)
        } else {
            None
        };
        let bin = Bin::new();
        let mut cmd = bin.cmd("setup-ssh-keys");
        cmd.arg(USER).arg("--root").arg(f.root());
        let run = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if !held {
            std::thread::sleep(Duration::from_micros(u64::from(i % 40) * 150));
            let mut w = as_user(
                "printf '%s\\n' \"$2\" >> \"$1\"",
                &[file.to_str().unwrap(), &appended],
            );
            assert!(w.wait().unwrap().success());
        }
        let o = run.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        if let Some(mut w) = writer {
            assert!(w.wait().unwrap().success());
        }
        let text = fs::read_to_string(&file).unwrap();
        if !text.contains(&appended) {
            lost.push(i);
        }
        assert!(text.contains(&managed), "{text}");
    }
    assert!(
        lost.is_empty(),
        "{} of 220 appended lines lost: {lost:?}",
        lost.len()
    );
}

/// A fault at every system call of the write path, the worker's included (strace injects EIO at
/// the Nth call of each kind, for every N the run reaches): authorized_keys is always the old
/// file or the new one, byte for byte, 0600, and no temporary file is left.
#[test]
fn a_fault_at_any_write_call_leaves_the_old_file_or_the_new() {
    if !have("strace") {
        return;
    }
    let f = Fixture::new();
    f.ssh_dir();
    let file = f.keys_file();
    let old = format!("{}\n", key(9, "own"));
    let reset = || {
        let _ = fs::remove_file(&file);
        fs::write(&file, &old).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        chown(&file, f.uid);
    };
    fs::write(f.secret(), format!("{}\n", key(1, "a"))).unwrap();
    reset();
    assert_eq!(code(&f.run(&[])), 0);
    let new = fs::read_to_string(&file).unwrap();
    assert_ne!(new, old);
    let trace = f.root().join("strace.out");
    let (injected, runs) = common::faults::sweep(
        &trace,
        &common::faults::WRITE_PATH_CALLS,
        40,
        reset,
        || {
            let mut c = Command::new(hwc());
            c.args(["setup-ssh-keys", USER, "--root"]).arg(f.root());
            c
        },
        |call, n, o| {
            let text = fs::read_to_string(&file).unwrap();
            assert!(
                text == old || text == new,
                "{call} #{n}: neither old nor new:\n{text}\n{}",
                stderr(o)
            );
            common::faults::assert_left_clean(
                &file,
                0o600,
                text == old,
                o,
                &format!("{call} #{n}"),
            );
        },
    );
    eprintln!("fault sweep: {injected} injected faults in {runs} runs");
    assert!(injected >= 40, "only {injected} faults were injected");
}

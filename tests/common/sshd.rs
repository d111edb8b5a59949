//! A real sshd for tests: a system user that can log in with a key, and one login through a
//! fresh `sshd -dd` that serves exactly that connection.

#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Creates `user` (home under /home, /bin/sh) when missing, with a password that refuses
/// passwords but not keys (`*`: with UsePAM no, `!` would refuse every login). Its uid.
pub fn ensure_login_user(user: &str) -> u32 {
    let exists = Command::new("id")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let made = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", user])
            .status()
            .unwrap();
        assert!(made.success(), "useradd {user} failed");
    }
    assert!(Command::new("usermod")
        .args(["-p", "*", user])
        .status()
        .unwrap()
        .success());
    let id = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim().parse().unwrap()
}

/// One connection to a fresh `sshd -dd` with `config`, logging to `log`, as `user` with the
/// ssh client options `client`: whether `ssh user@127.0.0.1 true` succeeded, and sshd's log.
pub fn login(config: &Path, log: &Path, user: &str, client: &[&str]) -> (bool, String) {
    fs::create_dir_all("/run/sshd").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _ = fs::remove_file(log);
    let mut sshd = Command::new("/usr/sbin/sshd")
        // -r: no re-exec, so the connection's messages reach the same log.
        .args(["-dd", "-r", "-p", &port.to_string(), "-f"])
        .arg(config)
        .arg("-E")
        .arg(log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !fs::read_to_string(log)
        .unwrap_or_default()
        .contains("Server listening")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sshd did not start: {}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let ok = ssh_true(port, user, client);
    let start = Instant::now();
    while sshd.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = sshd.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = sshd.wait();
    (ok, fs::read_to_string(log).unwrap_or_default())
}

/// `ssh -p PORT CLIENT... USER@127.0.0.1 true`, non-interactive and trusting the test's host
/// key: whether it logged in.
pub fn ssh_true(port: u16, user: &str, client: &[&str]) -> bool {
    Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &port.to_string(),
        ])
        .args(client)
        .arg(format!("{user}@127.0.0.1"))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .success()
}

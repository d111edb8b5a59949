//! A named network namespace for hwc-netlink's tests, deleted on drop, with hwc-netlink and
//! iproute2 run inside it.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::{code, have, hwc, is_root, skip, stderr, stdout};

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Option<Netns> {
        if !is_root() {
            skip("network namespaces need root (tests/run runs as root)");
            return None;
        }
        if !have("ip") {
            return None;
        }
        let name = format!("hwc-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let o = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        assert!(o.status.success(), "ip netns add: {}", stderr(&o));
        Some(Netns { name })
    }

    pub fn hwc(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(hwc());
        cmd.args(["hwc-netlink", "--netns", &self.name]).args(args);
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read the pipes while waiting (a long listing fills a pipe), with a limit on the wait.
        let pid = child.id() as libc::pid_t;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                // The child is not reaped yet, so the pid is still its own.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                panic!("hwc-netlink {args:?} hung");
            }
        }
    }

    /// `hwc ARGS` run inside the namespace (an applet name first), as `ip netns exec` runs it.
    pub fn exec_hwc<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(hwc())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.hwc(args);
        assert_eq!(code(&o), 0, "hwc-netlink {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    pub fn ip_json(&self, args: &[&str]) -> Value {
        let o = Command::new("ip")
            .args(["-n", &self.name, "-j"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn hwc_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ok(&full)).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

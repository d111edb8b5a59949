//! A named network namespace for hwc-netlink's tests, deleted on drop, with hwc-netlink and
//! iproute2 run inside it.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::{code, have, hwc, is_root, output_within, skip, stderr, stdout};

/// The longest an hwc run in a test namespace may take.
const LIMIT: Duration = Duration::from_secs(60);

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
        output_within(
            Command::new(hwc())
                .args(["hwc-netlink", "--netns", &self.name])
                .args(args),
            LIMIT,
        )
    }

    /// `hwc ARGS` run inside the namespace (an applet name first), as `ip netns exec` runs it.
    pub fn exec_hwc<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        output_within(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .arg(hwc())
                .args(args),
            LIMIT,
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.hwc(args);
        assert_eq!(code(&o), 0, "hwc-netlink {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    /// `ip -n NS ARGS`, which must succeed: its output.
    pub fn ip(&self, args: &[&str]) -> String {
        self.iproute2("ip", args)
    }

    /// `bridge -n NS ARGS`, which must succeed: its output.
    pub fn bridge(&self, args: &[&str]) -> String {
        self.iproute2("bridge", args)
    }

    fn iproute2(&self, tool: &str, args: &[&str]) -> String {
        let o = Command::new(tool)
            .args(["-n", &self.name])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool} {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    pub fn ip_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ip(&full)).unwrap()
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

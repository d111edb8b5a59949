//! tests/peers/systemd-manager.py on a bus: a stand-in for a systemd manager's environment and
//! unit states (no systemd runs as PID 1 here), started and awaited the same way by every test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{repo, skip, stdout};

const PYTHON: &str = "/usr/bin/python3";

/// Whether the stand-in can run (Debian's python3 with dbus and gi); says why not.
pub fn ready() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import dbus, gi"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip("/usr/bin/python3 with dbus and gi is missing (tests/run installs python3-dbus, python3-gi)");
    }
    ok
}

/// Starts the stand-in on the bus at `address`, writing its environment to `env_file`, with
/// `units` (NAME, ActiveState) loaded; returns once it owns org.freedesktop.systemd1.
pub fn start(address: &str, env_file: &Path, units: &[(&str, &str)]) -> Child {
    let mut child = Command::new(PYTHON)
        .arg(repo().join("tests/peers/systemd-manager.py"))
        .arg(env_file)
        .args(units.iter().map(|(n, s)| format!("{n}={s}")))
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        let o = Command::new("dbus-send")
            .arg(format!("--bus={address}"))
            .args([
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
            ])
            .args([
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.systemd1",
            ])
            .output()
            .unwrap();
        if stdout(&o).contains("boolean true") {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the stand-in systemd manager did not take its name on {address}");
}

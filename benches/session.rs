//! A full hwc-session-init run (XDG checks, GPU scan, Hello, UpdateActivationEnvironment,
//! SetEnvironment, env file) against `dbus-update-activation-environment --systemd` sending the
//! same variables to the same private bus. The runtime directory is on tmpfs, as
//! XDG_RUNTIME_DIR is on a real system. Goal: <= 1 x its median.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// The bench's bus, stopped however the bench ends.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let found = |p: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {p}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found("dbus-daemon") || !found("dbus-update-activation-environment") {
        println!(
            "session bench skipped: dbus-daemon or dbus-update-activation-environment missing"
        );
        return;
    }
    let runtime = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let rt = runtime.path();
    std::fs::set_permissions(rt, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(rt.join("systemd")).unwrap();
    let home = rt.join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(
        rt.join("bus.conf"),
        format!(
            "<busconfig><type>session</type><listen>unix:path={}/bus</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
             <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
            rt.display()
        ),
    )
    .unwrap();
    let _daemon = Daemon(
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}/bus.conf", rt.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while !rt.join("bus").exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let address = format!("unix:path={}/bus", rt.display());
    let hwc = common::hwc();
    let hwc = hwc.to_str().unwrap();
    let session = [
        ("WAYLAND_DISPLAY", "wayland-1"),
        ("XDG_CURRENT_DESKTOP", "Hyprland"),
        ("XDG_SESSION_TYPE", "wayland"),
        ("DISPLAY", ":0"),
    ];
    let gpu = [
        ("HWC_GPU_TYPE", "none"),
        ("HWC_GPU_ACCEL", "cpu"),
        ("HWC_GPU_DGPU", ""),
        ("HWC_GPU_RENDER_NODE", ""),
    ];
    let assignments: Vec<String> = session
        .iter()
        .chain(&gpu)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut theirs = vec!["dbus-update-activation-environment", "--systemd"];
    theirs.extend(assignments.iter().map(String::as_str));
    let with_env = |c: common::Case| {
        let mut c = c
            .env("XDG_RUNTIME_DIR", rt.to_str().unwrap())
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.to_str().unwrap());
        for (k, v) in session {
            c = c.env(k, v);
        }
        c
    };
    let rows = common::compare(
        "session: import 8 variables into the activation environment and systemd",
        &[
            with_env(common::Case::new(
                "dbus-update-activation-environment --systemd",
                &theirs,
            )),
            with_env(common::Case::new(
                "hwc-session-init (full run)",
                &[hwc, "hwc-session-init"],
            )),
        ],
        if quick { 3 } else { 200 },
        if quick { 1 } else { 10 },
    );
    common::goal(
        "hwc-session-init <= 1 x dbus-update-activation-environment",
        rows[1].ratio <= 1.0,
    );
}

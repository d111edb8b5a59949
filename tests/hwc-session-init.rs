//! hwc-session-init against a real dbus-daemon started with a private configuration: a
//! bus-activated probe service sees the imported variables, dbus-monitor sees the systemd calls;
//! XDG and secret checks on real files.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A private session bus with a probe service that writes its environment to a file.
struct TestBus {
    dir: tempfile::TempDir,
    daemon: Child,
    monitor: Option<Child>,
    /// The stand-in systemd user manager (tests/peers/systemd-manager.py), when started.
    manager: Option<Child>,
}

impl Drop for TestBus {
    fn drop(&mut self) {
        if let Some(m) = &mut self.manager {
            let _ = m.kill();
            let _ = m.wait();
        }
        if let Some(m) = &mut self.monitor {
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl TestBus {
    fn start() -> Option<TestBus> {
        TestBus::start_with(&[])
    }

    /// A bus as Debian's and NixOS's default dbus-daemon runs it, with systemd activation (it
    /// forwards UpdateActivationEnvironment to the systemd user manager's SetEnvironment), and
    /// a stand-in for that manager's environment on it.
    fn start_with_systemd() -> Option<TestBus> {
        if !systemd_standin::ready() {
            return None;
        }
        let mut bus = TestBus::start_with(&["--systemd-activation"])?;
        fs::create_dir(bus.runtime().join("systemd")).unwrap();
        let env = bus.dir.path().join("manager.env");
        bus.manager = Some(systemd_standin::start(&bus.address(), &env, &[]));
        Some(bus)
    }

    /// The stand-in manager's environment, one assignment a line, once `until` holds of it
    /// (within 5 s: the bus passes a forwarded call on in its own time), or as it is then.
    fn manager_env(&self, until: impl Fn(&[String]) -> bool) -> Vec<String> {
        let read = || -> Vec<String> {
            fs::read_to_string(self.dir.path().join("manager.env"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect()
        };
        for _ in 0..250 {
            let env = read();
            if until(&env) {
                return env;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        read()
    }

    fn start_with(daemon_args: &[&str]) -> Option<TestBus> {
        if !have("dbus-daemon") || !have("dbus-monitor") || !have("dbus-send") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::set_permissions(d, fs::Permissions::from_mode(0o700)).unwrap();
        fs::create_dir(d.join("services")).unwrap();
        fs::write(
            d.join("bus.conf"),
            format!(
                "<busconfig><type>session</type><listen>unix:path={0}/bus</listen>\
                 <servicedir>{0}/services</servicedir><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
                d.display()
            ),
        )
        .unwrap();
        fs::write(
            d.join("services/org.hwc.Probe.service"),
            format!(
                "[D-BUS Service]\nName=org.hwc.Probe\nExec=/bin/sh -c \"env > {}/probe.env\"\n",
                d.display()
            ),
        )
        .unwrap();
        let daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}/bus.conf", d.display()))
            .arg("--nofork")
            .args(daemon_args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bus = TestBus {
            dir,
            daemon,
            monitor: None,
            manager: None,
        };
        for _ in 0..200 {
            if bus.dir.path().join("bus").exists() {
                return Some(bus);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("dbus-daemon did not start");
    }

    fn address(&self) -> String {
        format!("unix:path={}/bus", self.dir.path().display())
    }

    fn runtime(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn monitor(&mut self) {
        let out = fs::File::create(self.dir.path().join("monitor.txt")).unwrap();
        let child = Command::new("dbus-monitor")
            .arg("--address")
            .arg(self.address())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.monitor = Some(child);
        // Wait until the monitor is attached. Its NameAcquired (the reply to its Hello) comes
        // before it asks to become a monitor; the NameLost that follows means the bus made it
        // one, and from then on it sees every message.
        for _ in 0..1000 {
            if fs::read_to_string(self.dir.path().join("monitor.txt"))
                .unwrap_or_default()
                .contains("member=NameLost")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("dbus-monitor did not attach to the test bus within 10 s");
    }

    /// What the monitor captured, once `until` has shown up (within 5 s: a loaded machine may
    /// take more than a moment to pass a message on) and 200 ms more, so that a message sent
    /// after it, which a test may assert is absent, would show up too.
    fn monitored(&mut self, until: &str) -> String {
        let capture = self.dir.path().join("monitor.txt");
        for _ in 0..500 {
            if fs::read_to_string(&capture)
                .unwrap_or_default()
                .contains(until)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        if let Some(mut m) = self.monitor.take() {
            let _ = m.kill();
            let _ = m.wait();
        }
        fs::read_to_string(capture).unwrap()
    }

    /// Starts the probe service through bus activation and returns its environment.
    fn probe_env(&self) -> String {
        let _ = Command::new("dbus-send")
            .arg(format!("--bus={}", self.address()))
            .args([
                "--dest=org.hwc.Probe",
                "--type=method_call",
                "/",
                "org.hwc.Probe.Ping",
            ])
            .output();
        let file = self.dir.path().join("probe.env");
        for _ in 0..300 {
            if let Ok(t) = fs::read_to_string(&file) {
                if t.contains("PATH=") {
                    return t;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the probe service did not start");
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let home = self.dir.path().join("home");
        let mut cmd = Command::new(hwc());
        cmd.arg("hwc-session-init")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", self.runtime())
            .env("DBUS_SESSION_BUS_ADDRESS", self.address());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

const SESSION: [(&str, &str); 3] = [
    ("WAYLAND_DISPLAY", "wayland-1"),
    ("XDG_CURRENT_DESKTOP", "Hyprland"),
    ("MY_VAR", "it's mine"),
];

#[test]
fn variables_reach_bus_activated_services_and_systemd_calls_are_made() {
    let Some(mut bus) = TestBus::start() else {
        return;
    };
    fs::create_dir(bus.runtime().join("systemd")).unwrap();
    bus.monitor();
    let o = bus.run(&["--import", "MY_VAR"], &SESSION);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no systemd user manager on the session bus"),
        "a notice: {}",
        stderr(&o)
    );

    let env = bus.probe_env();
    for line in [
        "WAYLAND_DISPLAY=wayland-1",
        "XDG_CURRENT_DESKTOP=Hyprland",
        "MY_VAR=it's mine",
        "HWC_GPU_ACCEL=",
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(line)),
            "the probe lacks {line}:\n{env}"
        );
    }
    let captured = bus.monitored("member=UpdateActivationEnvironment");
    assert!(
        captured.contains("member=UpdateActivationEnvironment"),
        "{captured}"
    );
    assert!(captured.contains("member=SetEnvironment"), "{captured}");
    for s in [
        "WAYLAND_DISPLAY=wayland-1",
        "XDG_CURRENT_DESKTOP=Hyprland",
        "MY_VAR=it's mine",
    ] {
        assert!(
            captured.contains(&format!("string \"{s}\"")),
            "SetEnvironment lacks {s}:\n{captured}"
        );
    }

    let env_file = fs::read_to_string(bus.runtime().join("hwc/session.env")).unwrap();
    assert!(
        env_file.contains("WAYLAND_DISPLAY=wayland-1\n")
            && env_file.contains("MY_VAR=\"it's mine\"\n"),
        "{env_file}"
    );
    // gpu-launch's snapshot of this machine's GPUs, as hwc-gpu-detect --env writes it, in both.
    let detect = run_hwc(["hwc-gpu-detect", "--env"]);
    let snapshot = stdout(&detect)
        .lines()
        .find(|l| l.starts_with("HWC_GPU_LAUNCH="))
        .map(str::to_string)
        .expect("hwc-gpu-detect --env writes HWC_GPU_LAUNCH");
    assert!(snapshot.starts_with("HWC_GPU_LAUNCH=\"v1;"), "{snapshot}");
    assert!(env_file.contains(&format!("{snapshot}\n")), "{env_file}");
    let value = snapshot["HWC_GPU_LAUNCH=".len()..].trim_matches('"');
    assert!(
        captured.contains(&format!("string \"HWC_GPU_LAUNCH={value}\"")),
        "SetEnvironment lacks the snapshot:\n{captured}"
    );
    let sh = Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". {}/hwc/session.env; printf %s \"$MY_VAR\"",
            bus.runtime().display()
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&sh), "it's mine", "the env file sources in sh");

    bus.monitor();
    let o = bus.run(&["--stop"], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let captured = bus.monitored("member=UnsetEnvironment");
    assert!(captured.contains("member=UnsetEnvironment"), "{captured}");
    assert!(
        captured.contains("string \"WAYLAND_DISPLAY=wayland-1\""),
        "only our value is unset: {captured}"
    );
    assert!(!bus.runtime().join("hwc").exists(), "runtime files removed");
    let again = bus.run(&["--stop"], &[]);
    assert_eq!(code(&again), 0, "stop is idempotent: {}", stderr(&again));
}

#[test]
fn no_systemd_dir_means_no_systemd_call() {
    let Some(mut bus) = TestBus::start() else {
        return;
    };
    bus.monitor();
    let o = bus.run(&[], &SESSION);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let captured = bus.monitored("member=UpdateActivationEnvironment");
    assert!(captured.contains("member=UpdateActivationEnvironment"));
    assert!(!captured.contains("member=SetEnvironment"), "{captured}");
}

#[test]
fn dry_run_and_json() {
    let Some(bus) = TestBus::start() else { return };
    let o = bus.run(&["--dry-run"], &SESSION);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("would: call UpdateActivationEnvironment"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("WAYLAND_DISPLAY=wayland-1"));
    assert!(
        !bus.runtime().join("hwc").exists(),
        "a dry run writes nothing"
    );
    assert!(
        !bus.runtime().join("home").exists(),
        "nor creates directories"
    );
    let o = bus.run(&["--json", "--no-gpu"], &SESSION);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["variables"]["WAYLAND_DISPLAY"], "wayland-1");
    assert!(doc["variables"].get("HWC_GPU_ACCEL").is_none(), "--no-gpu");
}

#[test]
fn bus_errors_carry_the_dbus_error_name() {
    let Some(bus) = TestBus::start() else { return };
    // A bus that refuses the call: the environment names a service we may not talk to. Here the
    // daemon answers UpdateActivationEnvironment; to get an error we call a wrong address.
    let o = Command::new(hwc())
        .args(["hwc-session-init"])
        .env("XDG_RUNTIME_DIR", bus.runtime())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/nobus", bus.runtime().display()),
        )
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("No such file or directory"),
        "{}",
        stderr(&o)
    );
}

fn runtime_with(mode: u32) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(mode)).unwrap();
    d
}

fn init(runtime: &Path, home: &Path, extra: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(hwc());
    cmd.arg("hwc-session-init")
        .arg("--no-dbus")
        .args(args)
        .env_clear()
        .env("XDG_RUNTIME_DIR", runtime)
        .env("HOME", home);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn runtime_dir_checks() {
    let home = tempfile::tempdir().unwrap();
    let open = runtime_with(0o755);
    let o = init(open.path(), home.path(), &[], &[]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("has mode 0755; it must be 0700"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::metadata(open.path()).unwrap().mode() & 0o777,
        0o755,
        "never chmodded"
    );

    let link_parent = runtime_with(0o700);
    let link = link_parent.path().join("rt");
    std::os::unix::fs::symlink(runtime_with(0o700).keep(), &link).unwrap();
    let o = init(&link, home.path(), &[], &[]);
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));

    let o = init(&link_parent.path().join("missing"), home.path(), &[], &[]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("No such file or directory"),
        "never created: {}",
        stderr(&o)
    );

    if is_root() {
        let theirs = runtime_with(0o700);
        std::os::unix::fs::chown(theirs.path(), Some(4242), None).unwrap();
        let o = init(theirs.path(), home.path(), &[], &[]);
        assert!(
            stderr(&o).contains("is owned by uid 4242"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn base_dirs_created_0700_and_existing_ones_untouched() {
    let runtime = runtime_with(0o700);
    let home = tempfile::tempdir().unwrap();
    fs::create_dir(home.path().join(".config")).unwrap();
    fs::set_permissions(
        home.path().join(".config"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let data = home.path().join("elsewhere/data");
    let o = init(
        runtime.path(),
        home.path(),
        &[
            ("XDG_DATA_HOME", data.to_str().unwrap()),
            ("XDG_CACHE_HOME", ""),
            ("XDG_STATE_HOME", "relative/state"),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::metadata(home.path().join(".config")).unwrap().mode() & 0o777,
        0o755,
        "existing dir untouched"
    );
    assert_eq!(fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        fs::metadata(home.path().join(".cache")).unwrap().mode() & 0o777,
        0o700,
        "empty value means the default"
    );
    assert_eq!(
        fs::metadata(home.path().join(".local/state"))
            .unwrap()
            .mode()
            & 0o777,
        0o700,
        "relative value ignored"
    );
    assert!(!runtime.path().join("relative").exists());
}

fn tmpfs_dir() -> Option<tempfile::TempDir> {
    let d = tempfile::tempdir_in("/dev/shm").ok()?;
    let out = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(d.path())
        .output()
        .ok()?;
    if stdout(&out).trim() != "tmpfs" {
        skip("/dev/shm is not tmpfs here");
        return None;
    }
    Some(d)
}

#[test]
fn secrets_are_checked_then_linked() {
    let Some(shm) = tmpfs_dir() else { return };
    let runtime = runtime_with(0o700);
    let home = tempfile::tempdir().unwrap();
    let secret = |dir: &Path, name: &str, mode: u32| {
        let p = dir.join(name);
        fs::write(&p, "s3cr3t-value").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let good = secret(shm.path(), "good", 0o400);
    let readable = secret(shm.path(), "readable", 0o440);
    let on_disk = secret(home.path(), "disk", 0o400);
    let mut args = vec![
        format!("--secret=api={}", good.display()),
        format!("--secret=grp={}", readable.display()),
        format!("--secret=disk={}", on_disk.display()),
        "--secret=../evil=/dev/null".to_string(),
    ];
    if is_root() {
        let theirs = secret(shm.path(), "theirs", 0o400);
        std::os::unix::fs::chown(&theirs, Some(4242), None).unwrap();
        args.push(format!("--secret=theirs={}", theirs.display()));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = init(runtime.path(), home.path(), &[], &argv);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("secret grp") && err.contains("gives group or others access"),
        "{err}"
    );
    assert!(
        err.contains("secret disk") && err.contains("not on tmpfs or ramfs"),
        "{err}"
    );
    assert!(err.contains("secret '../evil': bad name"), "{err}");
    if is_root() {
        assert!(
            err.contains("secret theirs") && err.contains("owned by uid 4242"),
            "{err}"
        );
    }
    assert!(
        !err.contains("s3cr3t-value") && !stdout(&o).contains("s3cr3t-value"),
        "values never printed"
    );
    let dir = runtime.path().join("hwc/secrets");
    assert_eq!(fs::read_link(dir.join("api")).unwrap(), good);
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "only the good one is linked"
    );
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    let env = fs::read_to_string(runtime.path().join("hwc/session.env")).unwrap();
    assert!(
        env.contains(&format!("HWC_SECRETS_DIR={}", dir.display())),
        "{env}"
    );
    let o = init(runtime.path(), home.path(), &[], &["--stop"]);
    assert_eq!(code(&o), 0);
    assert!(!dir.exists(), "--stop removes the links");
    assert!(good.exists(), "and never the secret itself");
}

// --- session.env as sh and systemd read it; a bus that stalls ---

/// Values that break naive quoting: quotes of both kinds, a quote then a newline (which
/// injected a second variable into systemd), backslashes, $, backticks, #, blanks at the ends.
const HOSTILE: [(&str, &str); 12] = [
    ("H_SQUOTE", "it's"),
    ("H_INJECT", "x'\nPATH=/evil"),
    ("H_DQUOTE", "say \"hi\""),
    ("H_BACKSLASH", "a\\b\\"),
    ("H_DOLLAR", "$HOME ${X} $(id)"),
    ("H_BACKTICK", "`id`"),
    ("H_HASH", "# not a comment"),
    ("H_BLANKS", "  both ends  "),
    ("H_NEWLINES", "one\ntwo\n"),
    ("H_CR", "carriage\rreturn"),
    ("H_EMPTY", ""),
    ("H_MIXED", "'\\\"$`#\n\t;"),
];

fn hostile_imports() -> Vec<String> {
    HOSTILE
        .iter()
        .flat_map(|(k, _)| ["--import".to_string(), k.to_string()])
        .collect()
}

#[test]
fn session_env_reads_the_same_in_sh_and_in_systemd() {
    let runtime = runtime_with(0o700);
    let home = tempfile::tempdir().unwrap();
    let imports = hostile_imports();
    let args: Vec<&str> = imports
        .iter()
        .map(String::as_str)
        .chain(["--no-gpu"])
        .collect();
    let o = init(runtime.path(), home.path(), &HOSTILE, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let file = runtime.path().join("hwc/session.env");
    let text = fs::read(&file).unwrap();
    // systemd's grammar.
    let systemd = common::envfile::parse(&text);
    let want: Vec<(String, String)> = HOSTILE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        systemd,
        want,
        "as systemd reads it:\n{}",
        String::from_utf8_lossy(&text)
    );
    // sh: each value printed between NUL bytes.
    let names: Vec<&str> = HOSTILE.iter().map(|(k, _)| *k).collect();
    let script = format!(
        ". '{}'; for n in {}; do eval \"printf '%s\\\\0' \\\"\\${{$n}}\\\"\"; done",
        file.display(),
        names.join(" ")
    );
    let sh = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .output()
        .unwrap();
    assert!(sh.status.success(), "{}", stderr(&sh));
    let values: Vec<String> = String::from_utf8(sh.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_string)
        .collect();
    let want_values: Vec<String> = HOSTILE.iter().map(|(_, v)| v.to_string()).collect();
    assert_eq!(values, want_values, "as sh reads it");
    // --stop reads back exactly what was written.
    let o = init(runtime.path(), home.path(), &[], &["--stop", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (k, v) in HOSTILE {
        assert_eq!(doc["variables"][k], v, "{k}");
    }
    assert!(
        doc["variables"].get("PATH").is_none(),
        "no variable injected"
    );
}

#[test]
fn stop_unsets_its_own_values_and_never_blanks_others() {
    let Some(mut bus) = TestBus::start() else {
        return;
    };
    fs::create_dir(bus.runtime().join("systemd")).unwrap();
    let imports = hostile_imports();
    let args: Vec<&str> = imports
        .iter()
        .map(String::as_str)
        .chain(["--no-gpu"])
        .collect();
    let o = bus.run(&args, &HOSTILE);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    bus.monitor();
    let o = bus.run(&["--stop"], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let captured = bus.monitored("member=UnsetEnvironment");
    for (k, v) in [("H_SQUOTE", "it's"), ("H_NEWLINES", "one\ntwo\n")] {
        assert!(
            captured.contains(&format!("string \"{k}={v}\"")),
            "UnsetEnvironment carries {k} exactly:\n{captured}"
        );
    }
    assert!(
        !captured.contains("string \"PATH\""),
        "PATH is not blanked in the activation environment:\n{captured}"
    );
}

/// dbus-daemon with systemd activation forwards UpdateActivationEnvironment to the systemd user
/// manager: a blank written on the bus would land in systemd too. A newer session's values
/// survive an older session's --stop, and no blank is left.
#[test]
fn stop_keeps_a_newer_sessions_values_where_the_bus_forwards_to_systemd() {
    let Some(bus) = TestBus::start_with_systemd() else {
        return;
    };
    let o = bus.run(&["--no-gpu"], &SESSION);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let has = |want: &'static str| move |env: &[String]| env.iter().any(|e| e == want);
    let env = bus.manager_env(has("XDG_CURRENT_DESKTOP=Hyprland"));
    for want in ["WAYLAND_DISPLAY=wayland-1", "XDG_CURRENT_DESKTOP=Hyprland"] {
        assert!(env.contains(&want.to_string()), "{want} in {env:?}");
    }
    // A newer session on the same bus, as a compositor's start-up sets it.
    let o = Command::new("dbus-update-activation-environment")
        .args(["--systemd", "WAYLAND_DISPLAY=wayland-2"])
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let env = bus.manager_env(has("WAYLAND_DISPLAY=wayland-2"));
    assert!(
        env.contains(&"WAYLAND_DISPLAY=wayland-2".to_string()),
        "{env:?}"
    );

    let o = bus.run(&["--stop"], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Settled: ours taken back (and a forwarded blank would have arrived by then too).
    let env = bus.manager_env(|env| !env.iter().any(|e| e.starts_with("XDG_CURRENT_DESKTOP")));
    std::thread::sleep(Duration::from_millis(300));
    let env = bus.manager_env(|e| e == env.as_slice());
    assert!(
        env.contains(&"WAYLAND_DISPLAY=wayland-2".to_string()),
        "the newer session's display survives: {env:?}"
    );
    assert!(
        !env.iter().any(|e| e.ends_with('=')),
        "no blank NAME= left in systemd: {env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("XDG_CURRENT_DESKTOP=")),
        "ours is taken back: {env:?}"
    );
    // ... and a bus-activated service started now sees the newer display, not a blank.
    let probe = bus.probe_env();
    assert!(probe.contains("WAYLAND_DISPLAY=wayland-2\n"), "{probe}");
}

/// A bus that misbehaves, on a socket in `dir`; returns its address.
fn fake_bus(dir: &Path, behaviour: &'static str) -> String {
    use std::io::{Read, Write};
    let path = dir.join("fakebus");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        // The client's NUL and AUTH line.
        while !line.ends_with(b"\r\n") {
            if s.read_exact(&mut byte).is_err() {
                return;
            }
            line.push(byte[0]);
        }
        let ok = b"OK 0123456789abcdef0123456789abcdef\r\n";
        if behaviour == "drip" {
            for b in ok.iter().cycle() {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        }
        s.write_all(ok).unwrap();
        // BEGIN, then the Hello call: read its header and the rest.
        let mut begin = [0u8; 7];
        s.read_exact(&mut begin).unwrap();
        let mut head = [0u8; 16];
        s.read_exact(&mut head).unwrap();
        let fields = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
        let body = u32::from_le_bytes(head[4..8].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; (16 + fields).div_ceil(8) * 8 - 16 + body];
        s.read_exact(&mut rest).unwrap();
        let reply = |serial: u32| {
            let mut m = vec![
                b'l', 2, 0, 1, 0, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0, 5, 1, b'u', 0,
            ];
            m.extend_from_slice(&serial.to_le_bytes());
            m
        };
        s.write_all(&reply(1)).unwrap();
        match behaviour {
            // Answers every call, each after 1.2 s: two calls outlast a 2 s budget for the run.
            "slow" => loop {
                let mut head = [0u8; 16];
                if s.read_exact(&mut head).is_err() {
                    return;
                }
                let serial = u32::from_le_bytes(head[8..12].try_into().unwrap());
                let fields = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
                let body = u32::from_le_bytes(head[4..8].try_into().unwrap()) as usize;
                let mut rest = vec![0u8; (16 + fields).div_ceil(8) * 8 - 16 + body];
                if s.read_exact(&mut rest).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1200));
                if s.write_all(&reply(serial)).is_err() {
                    return;
                }
            },
            // Replies to calls never made, as fast as it can.
            "flood" => loop {
                if s.write_all(&reply(999)).is_err() {
                    return;
                }
            },
            // Never reads again: a large call fills the socket and its write must give up.
            _ => std::thread::sleep(Duration::from_secs(60)),
        }
    });
    format!("unix:path={}", path.display())
}

#[test]
fn a_bus_that_drips_floods_never_reads_or_answers_slowly_fails_at_the_runs_deadline() {
    let big = "x".repeat(120_000);
    for behaviour in ["drip", "flood", "never-read", "slow"] {
        let runtime = runtime_with(0o700);
        // A systemd user manager's directory: the run makes its second call, to systemd.
        fs::create_dir(runtime.path().join("systemd")).unwrap();
        let home = tempfile::tempdir().unwrap();
        let address = fake_bus(runtime.path(), behaviour);
        let mut cmd = Command::new(hwc());
        cmd.args(["hwc-session-init", "--no-gpu", "--timeout", "2"])
            .env_clear()
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("HOME", home.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("WAYLAND_DISPLAY", "wayland-1");
        for i in 0..10 {
            cmd.arg("--import")
                .arg(format!("BIG{i}"))
                .env(format!("BIG{i}"), &big);
        }
        let start = std::time::Instant::now();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{behaviour}: hwc-session-init hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = start.elapsed();
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 1, "{behaviour}: {}", stderr(&o));
        assert_one_line_error(&o);
        assert!(
            stderr(&o).contains("did not finish within 2 s of connecting"),
            "{behaviour}: {}",
            stderr(&o)
        );
        assert!(took < Duration::from_secs(6), "{behaviour}: took {took:?}");
    }
}

#[test]
fn a_runtime_dir_link_with_a_trailing_slash_is_still_a_link() {
    let home = tempfile::tempdir().unwrap();
    let parent = runtime_with(0o700);
    let link = parent.path().join("rt");
    std::os::unix::fs::symlink(runtime_with(0o700).keep(), &link).unwrap();
    let o = init(
        Path::new(&format!("{}/", link.display())),
        home.path(),
        &[],
        &[],
    );
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
}

#[test]
fn a_secret_is_linked_to_the_file_checked_not_to_the_path_given() {
    let Some(shm) = tmpfs_dir() else { return };
    let runtime = runtime_with(0o700);
    let home = tempfile::tempdir().unwrap();
    let real = shm.path().join("real");
    fs::create_dir(&real).unwrap();
    fs::write(real.join("token"), "s3cr3t").unwrap();
    fs::set_permissions(real.join("token"), fs::Permissions::from_mode(0o400)).unwrap();
    // A path through a link that could be re-aimed later.
    std::os::unix::fs::symlink(&real, shm.path().join("via")).unwrap();
    let spec = format!("--secret=tok={}", shm.path().join("via/token").display());
    let o = init(runtime.path(), home.path(), &[], &[&spec]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let linked = fs::read_link(runtime.path().join("hwc/secrets/tok")).unwrap();
    assert_eq!(linked, fs::canonicalize(real.join("token")).unwrap());
}

#[test]
fn stop_with_a_fifo_for_session_env_ends_with_a_clear_error() {
    let runtime = runtime_with(0o700);
    let home = tempfile::tempdir().unwrap();
    fs::create_dir(runtime.path().join("hwc")).unwrap();
    let fifo = runtime.path().join("hwc/session.env");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let o = init(runtime.path(), home.path(), &[], &["--stop"]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("session.env: it is a FIFO, not a regular file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn runtime_dirs_and_secrets_others_could_replace_are_refused() {
    let home = tempfile::tempdir().unwrap();
    // A runtime dir named through a link with '/.' after it.
    let parent = runtime_with(0o700);
    let link = parent.path().join("rt");
    std::os::unix::fs::symlink(runtime_with(0o700).keep(), &link).unwrap();
    let o = init(
        Path::new(&format!("{}/.", link.display())),
        home.path(),
        &[],
        &[],
    );
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("ends in '.' or '..'"), "{}", stderr(&o));
    // A runtime dir inside a directory anyone may write (and rename things in).
    let open = runtime_with(0o777);
    let rt = open.path().join("rt");
    fs::create_dir(&rt).unwrap();
    fs::set_permissions(&rt, fs::Permissions::from_mode(0o700)).unwrap();
    let o = init(&rt, home.path(), &[], &[]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("lies where others can replace it")
            && stderr(&o).contains("may be written by others"),
        "{}",
        stderr(&o)
    );
    // A secret in such a directory.
    let Some(shm) = tmpfs_dir() else { return };
    let shared = shm.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(shared.join("tok"), "s3cr3t").unwrap();
    fs::set_permissions(shared.join("tok"), fs::Permissions::from_mode(0o400)).unwrap();
    let runtime = runtime_with(0o700);
    let spec = format!("--secret=tok={}", shared.join("tok").display());
    let o = init(runtime.path(), home.path(), &[], &[&spec]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("secret tok") && stderr(&o).contains("others could replace it"),
        "{}",
        stderr(&o)
    );
    assert!(!runtime.path().join("hwc/secrets/tok").exists());
}

/// The umask it is started with decides no mode: its directory 0700, session.env 0600, the
/// secrets directory 0700, under umask 0777 as under 0022.
#[test]
fn the_umask_decides_no_mode() {
    for umask in ["0777", "0477", "0022"] {
        let home = tempfile::tempdir().unwrap();
        let runtime = runtime_with(0o700);
        // A secret as agenix leaves it: on a RAM file system (hwc links no other).
        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        let secret = shm.path().join("token");
        fs::write(&secret, "s3cret").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(hwc())
            .args(["hwc-session-init", "--no-dbus", "--no-gpu", "--secret"])
            .arg(format!("token={}", secret.display()))
            .env_clear()
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("HOME", home.path())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "umask {umask}: {}", stderr(&o));
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
        let hwc_dir = runtime.path().join("hwc");
        assert_eq!(mode(&hwc_dir), 0o700, "umask {umask}: hwc/");
        assert_eq!(mode(&hwc_dir.join("session.env")), 0o600, "umask {umask}");
        assert_eq!(
            mode(&hwc_dir.join("secrets")),
            0o700,
            "umask {umask}: secrets/"
        );
    }
}

/// A fault at any call of its write path: session.env is the old one or the new one, byte for
/// byte, 0600, with no temporary file left beside it.
#[test]
fn a_fault_at_any_write_call_leaves_the_old_session_env_or_the_new() {
    if !have("strace") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let runtime = runtime_with(0o700);
    let env_file = runtime.path().join("hwc/session.env");
    let run = |display: &str| {
        let mut c = Command::new(hwc());
        c.args(["hwc-session-init", "--no-dbus", "--no-gpu"])
            .env_clear()
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("HOME", home.path())
            .env("WAYLAND_DISPLAY", display);
        c
    };
    assert_eq!(code(&run("wayland-2").output().unwrap()), 0);
    let new = fs::read_to_string(&env_file).unwrap();
    assert_eq!(code(&run("wayland-1").output().unwrap()), 0);
    let old = fs::read_to_string(&env_file).unwrap();
    assert_ne!(old, new);
    let trace = home.path().join("strace.out");
    let (injected, runs) = common::faults::sweep(
        &trace,
        &common::faults::WRITE_PATH_CALLS,
        40,
        || {
            fs::write(&env_file, &old).unwrap();
            fs::set_permissions(&env_file, fs::Permissions::from_mode(0o600)).unwrap();
        },
        || run("wayland-2"),
        |call, n, o| {
            let text = fs::read_to_string(&env_file).unwrap();
            assert!(
                text == old || text == new,
                "{call} #{n}: {text}\n{}",
                stderr(o)
            );
            common::faults::assert_left_clean(
                &env_file,
                0o600,
                text == old,
                o,
                &format!("{call} #{n}"),
            );
        },
    );
    eprintln!("fault sweep: {injected} injected faults in {runs} runs");
    assert!(injected >= 15, "only {injected} faults were injected");
}

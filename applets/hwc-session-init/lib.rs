//! `hwc-session-init`: the plumbing of a graphical user session in one call. Checks
//! XDG_RUNTIME_DIR, creates missing XDG base directories, imports the session's variables (and the
//! GPU facts) into the D-Bus activation environment and the systemd user manager, records what it
//! exported in $XDG_RUNTIME_DIR/hwc/session.env, and links checked user secrets; `--stop` undoes it.

#![forbid(unsafe_code)]

mod dbus;

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argh::FromArgs;

use dbus::{Bus, Call, Reply};
use hwc_core::cli::parse_args;
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::gpu::{self, accel, Depth};
use hwc_core::output::{self, Json};
use hwc_core::privilege;
use hwc_core::root::Root;
use hwc_core::safefs::{self, Dir};

/// Session variables imported when set.
const SESSION_VARS: [&str; 9] = [
    "WAYLAND_DISPLAY",
    "DISPLAY",
    "XDG_CURRENT_DESKTOP",
    "XDG_SESSION_TYPE",
    "XDG_SESSION_DESKTOP",
    "HYPRLAND_INSTANCE_SIGNATURE",
    "SWAYSOCK",
    "XCURSOR_THEME",
    "XCURSOR_SIZE",
];
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Plumb the graphical user session: check XDG_RUNTIME_DIR (never created), create missing XDG
/// base directories (0700), import the session variables that are set (WAYLAND_DISPLAY, DISPLAY,
/// XDG_CURRENT_DESKTOP, XDG_SESSION_TYPE, XDG_SESSION_DESKTOP, HYPRLAND_INSTANCE_SIGNATURE,
/// SWAYSOCK, XCURSOR_THEME, XCURSOR_SIZE, plus --import) and the GPU facts (HWC_GPU_TYPE,
/// HWC_GPU_ACCEL, HWC_GPU_DGPU, HWC_GPU_RENDER_NODE) into the D-Bus activation environment and,
/// when $XDG_RUNTIME_DIR/systemd exists, the systemd user manager; write them to
/// $XDG_RUNTIME_DIR/hwc/session.env; link checked secrets into $XDG_RUNTIME_DIR/hwc/secrets.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "A secret (--secret NAME=PATH) is linked only when it is a regular file owned by the \
user, with no group or other permission bits, on tmpfs or ramfs; a failing check skips it with a \
warning; the link points at the file checked, by its real path. Secret values are never copied or \
printed. session.env is valid for sh and for systemd's EnvironmentFile= alike. --stop removes what \
a previous run exported (systemd: only where the value is still ours; the D-Bus activation \
environment: set to empty, as dbus-daemon cannot unset) and the runtime files; running it twice is \
harmless.",
    error_code(1, "XDG_RUNTIME_DIR is unsafe or missing, or the bus refused a call"),
    error_code(2, "usage error")
)]
struct Args {
    /// also import this variable when set (repeatable)
    #[argh(option)]
    import: Vec<String>,
    /// do not add the GPU variables
    #[argh(switch)]
    no_gpu: bool,
    /// do not touch the D-Bus activation environment (nor systemd)
    #[argh(switch)]
    no_dbus: bool,
    /// do not call the systemd user manager
    #[argh(switch)]
    no_systemd: bool,
    /// link a user secret: NAME=PATH (repeatable)
    #[argh(option)]
    secret: Vec<String>,
    /// print every step, change nothing
    #[argh(switch)]
    dry_run: bool,
    /// print one JSON report
    #[argh(switch)]
    json: bool,
    /// undo what a previous run did
    #[argh(switch)]
    stop: bool,
    /// seconds each exchange with the session bus may take, writes and reads together
    /// (default 25)
    #[argh(option, default = "25")]
    timeout: u32,
}

/// What a run did, for the report.
#[derive(Default)]
struct Report {
    steps: Vec<String>,
    warnings: Vec<String>,
    exported: Vec<(String, String)>,
    secrets: Vec<String>,
}

impl Report {
    fn step(&mut self, dry: bool, text: impl Into<String>) {
        let text = text.into();
        self.steps
            .push(if dry { output::would(text) } else { text });
    }
}

/// $XDG_RUNTIME_DIR, opened: where the run keeps its files.
struct Runtime {
    path: PathBuf,
    dir: Dir,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    if let Some(bad) = args.import.iter().find(|n| !output::is_env_name(n)) {
        return Err(Error::usage(format!("--import {bad}: not a variable name")));
    }
    if args.timeout == 0 {
        return Err(Error::usage("--timeout must be at least 1 second"));
    }
    let runtime = runtime_dir()?;
    let mut report = Report::default();
    let status = if args.stop {
        stop(&args, &runtime, &mut report)?
    } else {
        start(&args, &runtime, &mut report)?
    };
    for w in &report.warnings {
        if !args.json {
            output::warn(name, &format!("warning: {w}"));
        }
    }
    print_report(&args, &report)?;
    Ok(status)
}

/// $XDG_RUNTIME_DIR: set, absolute, a directory (not a link, also when written with a trailing
/// `/`) owned by us with mode 0700, held open for what follows.
fn runtime_dir() -> Result<Runtime> {
    let path = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .ok_or_else(|| {
            Error::failed("XDG_RUNTIME_DIR is not set to an absolute path")
                .hint("log in through a session manager (pam_systemd), or set it")
        })?;
    let refuse = |problem: String| {
        Error::failed(format!(
            "XDG_RUNTIME_DIR {} {problem}; refusing to use it",
            path.display()
        ))
    };
    let dir = Dir::open(&path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => refuse("is a symbolic link".into()),
        Some(libc::ENOTDIR) => refuse("is not a directory".into()),
        _ => Error::io(format!("XDG_RUNTIME_DIR {}", path.display()), &e),
    })?;
    let st = dir
        .stat()
        .map_err(|e| Error::io(format!("XDG_RUNTIME_DIR {}", path.display()), &e))?;
    let me = privilege::euid();
    if st.uid != me {
        return Err(refuse(format!(
            "is owned by uid {}, not by us (uid {me})",
            st.uid
        )));
    }
    if st.mode & 0o077 != 0 {
        return Err(refuse(format!(
            "has mode {:04o}; it must be 0700",
            st.mode & 0o7777
        )));
    }
    // The directories above it: no one else may move it away and put another in its place.
    let real = dir
        .real_path()
        .map_err(|e| Error::io(format!("XDG_RUNTIME_DIR {}", path.display()), &e))?;
    if let Some(why) = safefs::foreign_hands(&real, me) {
        return Err(refuse(format!("lies where others can replace it: {why}")));
    }
    Ok(Runtime { path, dir })
}

/// The XDG base directories: the variable when set to an absolute path, else the default.
fn base_dirs() -> Vec<(&'static str, PathBuf)> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute());
    [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ]
    .into_iter()
    .filter_map(|(var, default)| {
        let set = std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        set.or_else(|| home.as_ref().map(|h| h.join(default)))
            .map(|p| (var, p))
    })
    .collect()
}

fn start(args: &Args, runtime: &Runtime, report: &mut Report) -> Result<u8> {
    let dry = args.dry_run;
    for (var, dir) in base_dirs() {
        if !dir.exists() {
            if !dry {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|e| Error::io(format!("creating {var} {}", dir.display()), &e))?;
            }
            report.step(dry, format!("create {var} {} (0700)", dir.display()));
        }
    }

    let mut vars: Vec<(String, String)> = Vec::new();
    let add = |name: &str, value: String, vars: &mut Vec<(String, String)>| {
        if let Some(slot) = vars.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value;
        } else {
            vars.push((name.to_string(), value));
        }
    };
    for name in SESSION_VARS
        .iter()
        .copied()
        .chain(args.import.iter().map(String::as_str))
    {
        match std::env::var(name) {
            Ok(v) => add(name, v, &mut vars),
            Err(std::env::VarError::NotUnicode(_)) => report
                .warnings
                .push(format!("{name} is not valid UTF-8; not imported")),
            Err(std::env::VarError::NotPresent) if args.import.iter().any(|i| i == name) => report
                .warnings
                .push(format!("{name} is not set; not imported")),
            Err(_) => {}
        }
    }
    if !args.no_gpu {
        let root = Root::system();
        let s = accel::summarize(&gpu::scan(&root, Depth::Full), &root);
        add("HWC_GPU_TYPE", s.gpu_type.to_string(), &mut vars);
        add("HWC_GPU_ACCEL", s.accel.as_str().to_string(), &mut vars);
        add("HWC_GPU_DGPU", s.dgpu.unwrap_or_default(), &mut vars);
        add(
            "HWC_GPU_RENDER_NODE",
            s.render_node.unwrap_or_default(),
            &mut vars,
        );
    }

    let hwc_path = runtime.path.join("hwc");
    let secrets_path = hwc_path.join("secrets");
    for spec in &args.secret {
        match link_secret(spec, runtime, dry) {
            Ok(name) => {
                report.step(dry, format!("link secret {name}"));
                report.secrets.push(name);
            }
            Err(why) => report.warnings.push(why),
        }
    }
    if !report.secrets.is_empty() {
        add(
            "HWC_SECRETS_DIR",
            secrets_path.display().to_string(),
            &mut vars,
        );
    }

    let mut status = 0;
    if !args.no_dbus && !vars.is_empty() {
        status = export(args, &runtime.path, &vars, report)?;
    }
    let env_file: String = vars
        .iter()
        .map(|(k, v)| output::env_line(k, v.as_bytes()))
        .collect();
    if !dry {
        let hwc = private_dir(&runtime.dir, "hwc", &hwc_path)?;
        hwc.replace("session.env", env_file.as_bytes(), 0o600)
            .map_err(|e| Error::io(format!("writing {}/session.env", hwc_path.display()), &e))?;
    }
    report.step(
        dry,
        format!(
            "write {}/session.env ({} variables)",
            hwc_path.display(),
            vars.len()
        ),
    );
    report.exported = vars;
    Ok(status)
}

/// The directory `name` under `parent`, created 0700 when missing; refused when it is a link,
/// not a directory, or not ours.
fn private_dir(parent: &Dir, name: &str, shown: &Path) -> Result<Dir> {
    parent
        .mkdir(name, 0o700)
        .map_err(|e| Error::io(format!("creating {}", shown.display()), &e))?;
    let not_ours = || Error::failed(format!("{} is not a directory of ours", shown.display()));
    let dir = parent.open_dir(name).map_err(|_| not_ours())?;
    match dir.stat() {
        Ok(st) if st.uid == privilege::euid() => Ok(dir),
        _ => Err(not_ours()),
    }
}

/// Checks a `NAME=PATH` secret and links it; the error text names the secret. The file is held
/// while it is checked, and the link points at its real path, so what is linked is what was
/// checked and no link on the way can be re-aimed later.
fn link_secret(spec: &str, runtime: &Runtime, dry: bool) -> std::result::Result<String, String> {
    let (name, path) = spec
        .split_once('=')
        .ok_or_else(|| format!("secret '{spec}': expected NAME=PATH; skipped"))?;
    if name.is_empty()
        || name == "."
        || name == ".."
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "secret '{name}': bad name (letters, digits, '.', '_', '-'); skipped"
        ));
    }
    let skip = |why: String| format!("secret {name} ({path}): {why}; skipped");
    let target = Path::new(path);
    if !target.is_absolute() {
        return Err(skip("not an absolute path".into()));
    }
    let node = safefs::open_follow(target).map_err(|e| skip(describe_io(&e)))?;
    let st = node.stat;
    let me = privilege::euid();
    if !st.is_file() {
        return Err(skip("not a regular file".into()));
    }
    if st.uid != me {
        return Err(skip(format!(
            "owned by uid {}, not by us (uid {me})",
            st.uid
        )));
    }
    if st.mode & 0o077 != 0 {
        return Err(skip(format!(
            "mode {:04o} gives group or others access",
            st.mode & 0o7777
        )));
    }
    let magic = node.fs_magic().map_err(|e| skip(describe_io(&e)))?;
    if magic != TMPFS_MAGIC && magic != RAMFS_MAGIC {
        return Err(skip("not on tmpfs or ramfs, so it may reach a disk".into()));
    }
    let real = node.real_path().map_err(|e| skip(describe_io(&e)))?;
    match safefs::open_nofollow(&real) {
        Ok(again) if again.stat.same_file(&st) => {}
        _ => return Err(skip("it moved while it was checked".into())),
    }
    if let Some(why) = safefs::foreign_hands(&real, me) {
        return Err(skip(format!("others could replace it: {why}")));
    }
    if dry {
        return Ok(name.to_string());
    }
    let hwc_path = runtime.path.join("hwc");
    let secrets_path = hwc_path.join("secrets");
    let secrets = private_dir(&runtime.dir, "hwc", &hwc_path)
        .and_then(|hwc| private_dir(&hwc, "secrets", &secrets_path))
        .map_err(|e| skip(e.to_string()))?;
    secrets
        .symlink(&real, name)
        .map_err(|e| skip(describe_io(&e)))?;
    Ok(name.to_string())
}

fn bus_address(runtime: &Path) -> String {
    std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| format!("unix:path={}/bus", runtime.display()))
}

fn systemd_call(member: &'static str, items: Vec<String>) -> Call<'static> {
    Call {
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member,
        destination: "org.freedesktop.systemd1",
        signature: "as",
        body: dbus::body_strings(&items),
    }
}

fn activation_call(pairs: &[(String, String)]) -> Call<'static> {
    Call {
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "UpdateActivationEnvironment",
        destination: "org.freedesktop.DBus",
        signature: "a{ss}",
        body: dbus::body_dict(pairs),
    }
}

/// Sends the activation environment, then systemd's, on the session bus. A missing systemd user
/// manager is a notice.
fn send(
    args: &Args,
    runtime: &Path,
    report: &mut Report,
    activation: &[(String, String)],
    systemd: Call<'static>,
    what: &str,
) -> Result<u8> {
    let address = bus_address(runtime);
    let use_systemd = !args.no_systemd && runtime.join("systemd").is_dir();
    if args.dry_run {
        report.step(
            true,
            format!(
                "call UpdateActivationEnvironment on {address} ({} pairs)",
                activation.len()
            ),
        );
        if use_systemd {
            report.step(true, format!("call systemd {what}"));
        }
        return Ok(0);
    }
    let limit = Duration::from_secs(u64::from(args.timeout));
    let mut bus = Bus::connect(&address, privilege::euid(), limit)
        .map_err(|e| Error::failed(format!("session bus: {e}")))?;
    match bus
        .call(&activation_call(activation))
        .map_err(|e| Error::failed(format!("session bus: {e}")))?
    {
        Reply::Return => report.step(
            false,
            format!("UpdateActivationEnvironment: {} pairs", activation.len()),
        ),
        Reply::Error { name, message } => {
            return Err(Error::failed(format!(
                "UpdateActivationEnvironment: {name}: {message}"
            )));
        }
    }
    if use_systemd {
        match bus
            .call(&systemd)
            .map_err(|e| Error::failed(format!("session bus: {e}")))?
        {
            Reply::Return => report.step(false, format!("systemd {what}")),
            Reply::Error { name, .. }
                if name.ends_with(".ServiceUnknown") || name.ends_with(".NameHasNoOwner") =>
            {
                report.warnings.push(format!(
                    "no systemd user manager on the session bus ({name}); skipped {what}"
                ));
            }
            Reply::Error { name, message } => {
                return Err(Error::failed(format!("systemd {what}: {name}: {message}")))
            }
        }
    }
    Ok(0)
}

fn export(
    args: &Args,
    runtime: &Path,
    vars: &[(String, String)],
    report: &mut Report,
) -> Result<u8> {
    let assignments: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    send(
        args,
        runtime,
        report,
        vars,
        systemd_call("SetEnvironment", assignments),
        "SetEnvironment",
    )
}

fn stop(args: &Args, runtime: &Runtime, report: &mut Report) -> Result<u8> {
    let dry = args.dry_run;
    let hwc_path = runtime.path.join("hwc");
    let env_path = hwc_path.join("session.env");
    let hwc = match runtime.dir.open_dir("hwc") {
        Ok(dir) => Some(dir),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(Error::io(hwc_path.display(), &e)),
    };
    // Read through the directory already checked, never by its path again.
    let text = match hwc.as_ref().map(|d| d.node("session.env")).transpose() {
        Ok(Some(Some(node))) => Some(
            node.read(safefs::MAX_CONFIG)
                .map_err(|e| Error::io(env_path.display(), &e))?,
        ),
        Ok(_) => None,
        Err(e) => return Err(Error::io(env_path.display(), &e)),
    };
    let vars = match text {
        Some(t) => output::read_env_lines(&String::from_utf8_lossy(&t))
            .map_err(|why| Error::failed(format!("{}: {why}", env_path.display())))?,
        None => {
            report.steps.push("nothing to undo (no session.env)".into());
            Vec::new()
        }
    };
    if !args.no_dbus && !vars.is_empty() {
        // systemd: NAME=VALUE unsets only where the value is still ours; dbus-daemon cannot
        // unset, so the names are set to empty strings there.
        let ours: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let empty: Vec<(String, String)> = vars
            .iter()
            .map(|(k, _)| (k.clone(), String::new()))
            .collect();
        send(
            args,
            &runtime.path,
            report,
            &empty,
            systemd_call("UnsetEnvironment", ours),
            "UnsetEnvironment",
        )?;
    }
    if let Some(hwc) = hwc {
        if !dry {
            remove_runtime_files(&runtime.dir, &hwc);
        }
        report.step(dry, format!("remove {}", hwc_path.display()));
    }
    report.exported = vars;
    Ok(0)
}

/// Removes `hwc/secrets/*` (the links), `hwc/session.env` and what a killed run left, then the
/// directories; through directory descriptors, never following a link.
fn remove_runtime_files(runtime: &Dir, hwc: &Dir) {
    if let Ok(secrets) = hwc.open_dir("secrets") {
        for name in secrets.entries().unwrap_or_default() {
            let _ = secrets.unlink(&name);
        }
        let _ = hwc.remove_dir("secrets");
    }
    for name in hwc.entries().unwrap_or_default() {
        if name == "session.env" || name.starts_with("session.env.tmp") {
            let _ = hwc.unlink(&name);
        }
    }
    let _ = runtime.remove_dir("hwc");
}

fn print_report(args: &Args, report: &Report) -> Result<()> {
    if args.json {
        let mut j = Json::new();
        j.begin_object()
            .key("stop")
            .bool(args.stop)
            .key("dry_run")
            .bool(args.dry_run);
        j.key("steps").begin_array();
        for s in &report.steps {
            j.string(s);
        }
        j.end_array().key("variables").begin_object();
        for (k, v) in &report.exported {
            j.key_text(k).string(v);
        }
        j.end_object().key("secrets").begin_array();
        for s in &report.secrets {
            j.string(s);
        }
        j.end_array().key("warnings").begin_array();
        for w in &report.warnings {
            j.string(w);
        }
        j.end_array().end_object();
        return output::emit(&j.finish());
    }
    if args.dry_run {
        let mut text: String = report.steps.iter().map(|s| format!("{s}\n")).collect();
        for (k, v) in &report.exported {
            text.push_str(&format!("  {}", output::env_line(k, v.as_bytes())));
        }
        return output::emit(&text);
    }
    Ok(())
}

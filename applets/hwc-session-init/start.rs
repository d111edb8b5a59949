//! A session's start: base directories, the variables gathered, secrets linked, the environment
//! sent on the bus and written to `session.env`.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use crate::bus::{self, Plan};
use crate::report::Report;
use crate::runtime::{private_dir, Runtime};
use crate::secrets::link_secret;
use crate::Args;
use hwc_core::error::{Error, Result};
use hwc_core::output::{self, RUNTIME_SUBDIR, SESSION_ENV_FILE};
use hwc_core::root::Root;
use hwc_gpu::{self as gpu, accel, snapshot, Depth};

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

pub fn start(args: &Args, runtime: &Runtime, report: &mut Report) -> Result<u8> {
    let dry = args.dry_run;
    create_base_dirs(dry, report)?;
    let mut vars = Vars::default();
    import_session(&args.import, &mut vars, report);
    if !args.no_gpu {
        add_gpu(&mut vars);
    }
    let secrets_path = runtime.path.join("hwc/secrets");
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
        vars.set("HWC_SECRETS_DIR", secrets_path.display().to_string());
    }
    let mut status = 0;
    if !args.no_dbus && !vars.0.is_empty() {
        let plan = Plan {
            dry_run: dry,
            no_systemd: args.no_systemd,
            limit: std::time::Duration::from_secs(u64::from(args.timeout)),
        };
        status = bus::export(&plan, &runtime.path, &vars.0, report)?;
    }
    write_env_file(runtime, &vars.0, dry, report)?;
    report.exported = vars.0;
    Ok(status)
}

/// The variables to export, in order, a later value for a name replacing the earlier one.
#[derive(Default)]
struct Vars(Vec<(String, String)>);

impl Vars {
    fn set(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
}

/// Missing XDG base directories, made 0700; existing ones are left alone.
fn create_base_dirs(dry: bool, report: &mut Report) -> Result<()> {
    for (var, dir) in base_dirs() {
        if dir.exists() {
            continue;
        }
        if !dry {
            make_private_dirs(&dir)
                .map_err(|e| Error::io(format!("creating {var} {}", dir.display()), &e))?;
        }
        report.step(dry, format!("create {var} {} (0700)", dir.display()));
    }
    Ok(())
}

/// Makes `dir` and the directories above it that are missing, each 0700 whatever the umask: one
/// at a time, each given its mode before the next is made in it (a umask of 0777 would make a
/// 0000 parent no one could create the next one in).
fn make_private_dirs(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let missing: Vec<&std::path::Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    for d in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The session variables that are set, and the `--import` names (a warning for one unset).
fn import_session(imports: &[String], vars: &mut Vars, report: &mut Report) {
    let names = SESSION_VARS
        .iter()
        .copied()
        .chain(imports.iter().map(String::as_str));
    for name in names {
        match std::env::var(name) {
            Ok(v) => vars.set(name, v),
            Err(std::env::VarError::NotUnicode(_)) => report
                .warnings
                .push(format!("{name} is not valid UTF-8; not imported")),
            Err(std::env::VarError::NotPresent) if imports.iter().any(|i| i == name) => report
                .warnings
                .push(format!("{name} is not set; not imported")),
            Err(_) => {}
        }
    }
}

/// The GPU facts from the wake-free engine.
fn add_gpu(vars: &mut Vars) {
    let root = Root::system();
    let s = accel::summarize(&gpu::scan(&root, Depth::Full), &root);
    vars.set("HWC_GPU_TYPE", s.gpu_type.to_string());
    vars.set("HWC_GPU_ACCEL", s.accel.as_str().to_string());
    vars.set("HWC_GPU_DGPU", s.dgpu.unwrap_or_default());
    vars.set("HWC_GPU_RENDER_NODE", s.render_node.unwrap_or_default());
    // gpu-launch's snapshot, which it checks against the machine before each use; empty where
    // none can be taken, so that an earlier run's is not left in the session.
    vars.set(snapshot::VAR, snapshot::take(&root).unwrap_or_default());
}

/// `hwc/session.env`: what was exported, for sh and EnvironmentFile= alike.
fn write_env_file(
    runtime: &Runtime,
    vars: &[(String, String)],
    dry: bool,
    report: &mut Report,
) -> Result<()> {
    let hwc_path = runtime.path.join(RUNTIME_SUBDIR);
    let text: String = vars
        .iter()
        .map(|(k, v)| output::env_line(k, v.as_bytes()))
        .collect();
    if !dry {
        let hwc = private_dir(&runtime.dir, RUNTIME_SUBDIR, &hwc_path)?;
        let file = hwc_path.join(SESSION_ENV_FILE);
        hwc.replace(SESSION_ENV_FILE, text.as_bytes(), 0o600)
            .map_err(|e| Error::io(format!("writing {}", file.display()), &e))?;
    }
    report.step(
        dry,
        format!(
            "write {}/{SESSION_ENV_FILE} ({} variables)",
            hwc_path.display(),
            vars.len()
        ),
    );
    Ok(())
}

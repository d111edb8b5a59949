//! `--stop`: what a start exported taken back (only where the value is still ours) and the
//! runtime files removed.

use crate::bus::{self, Plan};
use crate::report::Report;
use crate::runtime::Runtime;
use crate::Args;
use hwc_core::error::{Error, Result};
use hwc_core::output::{self, RUNTIME_SUBDIR, SESSION_ENV_FILE};
use hwc_core::safefs::{self, Dir};

pub fn stop(args: &Args, runtime: &Runtime, report: &mut Report) -> Result<u8> {
    let dry = args.dry_run;
    let hwc_path = runtime.path.join(RUNTIME_SUBDIR);
    let env_path = hwc_path.join(SESSION_ENV_FILE);
    let hwc = match runtime.dir.open_dir(RUNTIME_SUBDIR) {
        Ok(dir) => Some(dir),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(Error::io(hwc_path.display(), &e)),
    };
    // Read through the directory already checked, never by its path again.
    let text = match hwc.as_ref().map(|d| d.node(SESSION_ENV_FILE)).transpose() {
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
        let plan = Plan {
            dry_run: dry,
            no_systemd: args.no_systemd,
            limit: std::time::Duration::from_secs(u64::from(args.timeout)),
        };
        bus::withdraw(&plan, &runtime.path, &vars, report)?;
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
        if name == SESSION_ENV_FILE || name.starts_with(&format!("{SESSION_ENV_FILE}.tmp")) {
            let _ = hwc.unlink(&name);
        }
    }
    let _ = runtime.remove_dir(RUNTIME_SUBDIR);
}

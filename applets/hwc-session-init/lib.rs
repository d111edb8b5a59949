//! `hwc-session-init`: the plumbing of a graphical user session in one call. Checks
//! XDG_RUNTIME_DIR, creates missing XDG base directories, imports the session's variables (and the
//! GPU facts) into the D-Bus activation environment and the systemd user manager, records what it
//! exported in $XDG_RUNTIME_DIR/hwc/session.env, and links checked user secrets; `--stop` undoes it.

#![forbid(unsafe_code)]

mod bus;
mod report;
mod runtime;
mod secrets;
mod start;
mod stop;

use std::ffi::OsString;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::output;
use report::Report;

/// Plumb the graphical user session: check XDG_RUNTIME_DIR (never created), create missing XDG
/// base directories (0700), import the session variables that are set (WAYLAND_DISPLAY, DISPLAY,
/// XDG_CURRENT_DESKTOP, XDG_SESSION_TYPE, XDG_SESSION_DESKTOP, HYPRLAND_INSTANCE_SIGNATURE,
/// SWAYSOCK, XCURSOR_THEME, XCURSOR_SIZE, plus --import) and the GPU facts (HWC_GPU_TYPE,
/// HWC_GPU_ACCEL, HWC_GPU_DGPU, HWC_GPU_RENDER_NODE, and HWC_GPU_LAUNCH: gpu-launch's snapshot of the
/// GPUs) into the D-Bus activation environment and,
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
pub(crate) struct Args {
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

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    if let Some(bad) = args.import.iter().find(|n| !output::is_env_name(n)) {
        return Err(Error::usage(format!("--import {bad}: not a variable name")));
    }
    if args.timeout == 0 {
        return Err(Error::usage("--timeout must be at least 1 second"));
    }
    let runtime = runtime::runtime_dir()?;
    let mut report = Report::default();
    let status = if args.stop {
        stop::stop(&args, &runtime, &mut report)?
    } else {
        start::start(&args, &runtime, &mut report)?
    };
    let format = output::Format::of(args.json);
    if format == output::Format::Text {
        for w in &report.warnings {
            output::warn(name, &format!("warning: {w}"));
        }
    }
    let printed = report::Printed {
        report: &report,
        stop: args.stop,
        dry_run: args.dry_run,
    };
    output::print(format, &printed)?;
    Ok(status)
}

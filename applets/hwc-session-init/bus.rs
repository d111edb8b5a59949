//! The calls on the session bus: the D-Bus activation environment and, when the systemd user
//! manager is there, its environment ([`crate::dbus`] speaks the wire).

use std::path::Path;
use std::time::Duration;

use crate::report::Report;
use hwc_core::dbus::{self, Bus, Call, Reply};
use hwc_core::error::{Error, Result};
use hwc_core::privilege;

/// How the calls are made: for real or as a dry run, with systemd or without, within a limit.
pub struct Plan {
    pub dry_run: bool,
    pub no_systemd: bool,
    pub limit: Duration,
}

fn bus_address(runtime: &Path) -> String {
    std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| format!("unix:path={}/bus", runtime.display()))
}

pub fn systemd_call(member: &'static str, items: Vec<String>) -> Call<'static> {
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
pub fn send(
    plan: &Plan,
    runtime: &Path,
    report: &mut Report,
    activation: &[(String, String)],
    systemd: Call<'static>,
    what: &str,
) -> Result<u8> {
    let address = bus_address(runtime);
    let use_systemd = !plan.no_systemd && runtime.join("systemd").is_dir();
    if plan.dry_run {
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
    let limit = plan.limit;
    let mut bus = Bus::connect(&address, privilege::euid(), limit)
        .map_err(|e| Error::failed(format!("session bus: {e}")))?;
    match bus
        .call(&activation_call(activation))
        .map_err(|e| Error::failed(format!("session bus: {e}")))?
    {
        Reply::Return(_) => report.step(
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
            Reply::Return(_) => report.step(false, format!("systemd {what}")),
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

pub fn export(
    plan: &Plan,
    runtime: &Path,
    vars: &[(String, String)],
    report: &mut Report,
) -> Result<u8> {
    let assignments: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    send(
        plan,
        runtime,
        report,
        vars,
        systemd_call("SetEnvironment", assignments),
        "SetEnvironment",
    )
}

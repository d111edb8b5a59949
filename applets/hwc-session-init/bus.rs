//! The calls on the session bus: the D-Bus activation environment and, when the systemd user
//! manager is there, its environment ([`hwc_dbus`] speaks the wire).

use std::path::Path;
use std::time::Duration;

use crate::report::Report;
use hwc_core::error::{Error, Result};
use hwc_core::privilege;
use hwc_dbus::{self as dbus, Bus, Call, Reply};

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
    update_activation(&mut bus, activation, report)?;
    if use_systemd {
        match call_systemd(&mut bus, systemd)? {
            Some(()) => report.step(false, format!("systemd {what}")),
            None => report.warnings.push(format!(
                "no systemd user manager on the session bus (ServiceUnknown); skipped {what}"
            )),
        }
    }
    Ok(0)
}

/// Takes back what a start exported, on both environments, without touching a value that is no
/// longer ours (a newer session's). systemd's UnsetEnvironment takes NAME=VALUE back only while
/// the value is VALUE; the D-Bus activation environment can only be set, so a name is blanked
/// there. A bus that forwards UpdateActivationEnvironment to systemd (dbus-daemon with systemd
/// activation, dbus-broker) would then write NAME= over a newer session's value in systemd. So:
/// systemd first (targeted), then only the names systemd no longer holds are blanked on the bus,
/// and the blanks a forward made in systemd are taken back (again only while blank).
pub fn withdraw(
    plan: &Plan,
    runtime: &Path,
    vars: &[(String, String)],
    report: &mut Report,
) -> Result<u8> {
    let ours: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let blank = |names: &[&String]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|k| ((*k).clone(), String::new()))
            .collect()
    };
    let use_systemd = !plan.no_systemd && runtime.join("systemd").is_dir();
    if plan.dry_run || !use_systemd {
        let all: Vec<&String> = vars.iter().map(|(k, _)| k).collect();
        return send(
            plan,
            runtime,
            report,
            &blank(&all),
            systemd_call("UnsetEnvironment", ours),
            "UnsetEnvironment",
        );
    }
    let mut bus = Bus::connect(&bus_address(runtime), privilege::euid(), plan.limit)
        .map_err(|e| Error::failed(format!("session bus: {e}")))?;
    let held = match call_systemd(&mut bus, systemd_call("UnsetEnvironment", ours.clone()))? {
        Some(()) => {
            report.step(false, "systemd UnsetEnvironment (our values only)");
            systemd_environment(&mut bus)?
        }
        None => {
            report.warnings.push(
                "no systemd user manager on the session bus (ServiceUnknown); skipped UnsetEnvironment"
                    .into(),
            );
            Vec::new()
        }
    };
    // A name systemd still holds has a newer session's value: leave it on both.
    let gone: Vec<&String> = vars
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            !held
                .iter()
                .any(|e| e.split_once('=').is_some_and(|(n, _)| n == k.as_str()))
        })
        .collect();
    update_activation(&mut bus, &blank(&gone), report)?;
    let blanks: Vec<String> = gone.iter().map(|k| format!("{k}=")).collect();
    if !blanks.is_empty()
        && call_systemd(&mut bus, systemd_call("UnsetEnvironment", blanks))?.is_some()
    {
        report.step(false, "systemd UnsetEnvironment (blanks a forward made)");
    }
    Ok(0)
}

/// A call to the systemd user manager: `None` when there is none on the bus.
fn call_systemd(bus: &mut Bus, call: Call<'static>) -> Result<Option<()>> {
    match bus
        .call(&call)
        .map_err(|e| Error::failed(format!("session bus: {e}")))?
    {
        Reply::Return(_) => Ok(Some(())),
        Reply::Error { name, .. }
            if name.ends_with(".ServiceUnknown") || name.ends_with(".NameHasNoOwner") =>
        {
            Ok(None)
        }
        Reply::Error { name, message } => Err(Error::failed(format!(
            "systemd {}: {name}: {message}",
            call.member
        ))),
    }
}

/// The systemd user manager's environment (its Environment property).
fn systemd_environment(bus: &mut Bus) -> Result<Vec<String>> {
    let get = Call {
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.DBus.Properties",
        member: "Get",
        destination: "org.freedesktop.systemd1",
        signature: "ss",
        body: dbus::body_args(&["org.freedesktop.systemd1.Manager", "Environment"]),
    };
    let failed = |why: String| Error::failed(format!("systemd's Environment: {why}"));
    match bus
        .call(&get)
        .map_err(|e| Error::failed(format!("session bus: {e}")))?
    {
        Reply::Return(body) => {
            let mut v = body.values();
            v.variant().and_then(|()| v.strings()).map_err(failed)
        }
        Reply::Error { name, message } => Err(failed(format!("{name}: {message}"))),
    }
}

fn update_activation(bus: &mut Bus, pairs: &[(String, String)], report: &mut Report) -> Result<()> {
    match bus
        .call(&activation_call(pairs))
        .map_err(|e| Error::failed(format!("session bus: {e}")))?
    {
        Reply::Return(_) => {
            report.step(
                false,
                format!("UpdateActivationEnvironment: {} pairs", pairs.len()),
            );
            Ok(())
        }
        Reply::Error { name, message } => Err(Error::failed(format!(
            "UpdateActivationEnvironment: {name}: {message}"
        ))),
    }
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

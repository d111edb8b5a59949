//! session/services, the root side: the secret setup-ssh-keys reads, and the state of its unit
//! through systemd's D-Bus API on the system bus when there is one. What lies in the user's home
//! is judged as the user (user.rs).

use std::time::Duration;

use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_dbus::{self as dbus, Bus, Call, Reply};

use crate::check::{Findings, SERVICES};
use crate::units::{shell_word, Install};

const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// The secret's default path, as setup-ssh-keys reads it.
pub fn default_secret(user: &str) -> String {
    format!("/run/agenix/ssh-authorized-keys-{user}")
}

pub fn check(root: &Root, install: Install, user: &str, secret: Option<&str>, f: &mut Findings) {
    let secret = secret.map_or_else(|| default_secret(user), str::to_string);
    match safefs::stat(&root.path(&secret)) {
        Ok(st) if st.is_file() => f.ok(SERVICES, "ssh-secret", format!("{secret} is there")),
        Ok(st) => f.fail(
            SERVICES,
            "ssh-secret",
            format!("{secret} is a {}, not a file", st.kind()),
            install.fix(
                "check the secret's declaration (age.secrets)",
                format!("make {secret} a file of the user's public keys, readable by root alone"),
            ),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => f.warn(
            SERVICES,
            "ssh-secret",
            format!(
                "{secret} is not visible to uid {} (permission denied), so it cannot be judged",
                hwc_core::privilege::euid()
            ),
            Some("run hwc-doctor as root".into()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => f.warn(
            SERVICES,
            "ssh-secret",
            format!("{secret} is absent: only the fallback keys can be installed"),
            Some(install.fix(
                "declare the secret (agenix: age.secrets) or hwc.infrastructure.session.services.secret",
                "keep the user's public keys in a file only root reads; name it with --secret in a drop-in of the key unit (PathChanged= of its .path) and as \"secret\" under \"ssh\" in /etc/hwc/declared.json",
            )),
        ),
        Err(e) => f.warn(
            SERVICES,
            "ssh-secret",
            format!("{secret}: {}", hwc_core::error::describe_io(&e)),
            None,
        ),
    }
    unit_state(root, install, user, f);
}

/// The system bus to ask systemd on: DBUS_SYSTEM_BUS_ADDRESS when given (as libdbus takes it),
/// else the machine's own, which a `--root` run does not ask.
fn system_bus(root: &Root) -> Option<String> {
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(a) if !a.is_empty() => Some(a),
        _ if root.is_system() && std::path::Path::new(SYSTEM_BUS).exists() => {
            Some(format!("unix:path={SYSTEM_BUS}"))
        }
        _ => None,
    }
}

/// A D-Bus error reply: its name and message.
type DbusError = (String, String);

/// What systemd says of a unit: its LoadState and ActiveState, or its error reply; `Err` when
/// the bus did not answer.
fn unit_states(bus: &mut Bus, unit: &str) -> Result<Result<(String, String), DbusError>, String> {
    let load = Call {
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member: "LoadUnit",
        destination: "org.freedesktop.systemd1",
        signature: "s",
        body: dbus::body_args(&[unit]),
    };
    let path = match bus.call(&load)? {
        Reply::Return(body) => body.values().string()?,
        Reply::Error { name, message } => return Ok(Err((name, message))),
    };
    let mut property = |name: &str| -> Result<Result<String, DbusError>, String> {
        let get = Call {
            path: &path,
            interface: "org.freedesktop.DBus.Properties",
            member: "Get",
            destination: "org.freedesktop.systemd1",
            signature: "ss",
            body: dbus::body_args(&["org.freedesktop.systemd1.Unit", name]),
        };
        match bus.call(&get)? {
            Reply::Return(body) => {
                let mut v = body.values();
                v.variant()?;
                Ok(Ok(v.string()?))
            }
            Reply::Error { name, message } => Ok(Err((name, message))),
        }
    };
    let loaded = match property("LoadState")? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    Ok(property("ActiveState")?.map(|active| (loaded, active)))
}

/// The key unit's state, asked of systemd on the system bus, by the name its install gave it.
fn unit_state(root: &Root, install: Install, user: &str, f: &mut Findings) {
    let Some(unit) = install.unit("setup-ssh-keys", user) else {
        f.skip(
            SERVICES,
            "ssh-unit",
            format!("install.sh's setup-ssh-keys@.service cannot be named for the user '{user}'"),
        );
        return;
    };
    let Some(address) = system_bus(root) else {
        f.skip(SERVICES, "ssh-unit", "no system bus to ask systemd");
        return;
    };
    let asked = Bus::connect(
        &address,
        hwc_core::privilege::euid(),
        Duration::from_secs(5),
    )
    .and_then(|mut bus| unit_states(&mut bus, &unit));
    let not_installed = match install {
        Install::NixOs => {
            "hwc.infrastructure.session.services.enable = true; (with sshKeys.enable)".to_string()
        }
        Install::Templates => format!(
            "install.sh (it ships setup-ssh-keys@.service), then systemctl enable --now {}",
            shell_word(&unit)
        ),
    };
    match asked {
        Ok(Ok((load, _))) if load != "loaded" => f.fail(
            SERVICES,
            "ssh-unit",
            format!("{unit} is not installed (systemd: {load})"),
            not_installed,
        ),
        Ok(Ok((_, state))) if state == "failed" => f.fail(
            SERVICES,
            "ssh-unit",
            format!("{unit} failed"),
            format!(
                "journalctl -u {word}, then systemctl restart {word}",
                word = shell_word(&unit)
            ),
        ),
        // A oneshot on both installs: inactive is how a run ends well.
        Ok(Ok((_, state))) => f.ok(SERVICES, "ssh-unit", format!("{unit} is {state}")),
        Ok(Err((name, _))) if name.ends_with("ServiceUnknown") => {
            f.skip(SERVICES, "ssh-unit", "no systemd on the system bus")
        }
        Ok(Err((name, message))) if name.ends_with("NoSuchUnit") => f.fail(
            SERVICES,
            "ssh-unit",
            format!("{unit} is not loaded: {message}"),
            not_installed,
        ),
        Ok(Err((name, message))) => {
            f.warn(SERVICES, "ssh-unit", format!("{name}: {message}"), None)
        }
        Err(why) => f.skip(
            SERVICES,
            "ssh-unit",
            format!("the system bus did not answer: {why}"),
        ),
    }
}

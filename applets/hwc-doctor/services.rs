//! session/services, the root side: the secret setup-ssh-keys reads, and the state of its unit
//! through systemd's D-Bus API on the system bus when there is one. What lies in the user's home
//! is judged as the user (user.rs).

use std::time::Duration;

use hwc_core::dbus::{self, Bus, Call, Reply};
use hwc_core::root::Root;
use hwc_core::safefs;

use crate::check::{Findings, SERVICES};

const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// The secret's default path, as setup-ssh-keys reads it.
pub fn default_secret(user: &str) -> String {
    format!("/run/agenix/ssh-authorized-keys-{user}")
}

pub fn check(root: &Root, user: &str, secret: Option<&str>, f: &mut Findings) {
    let secret = secret.map_or_else(|| default_secret(user), str::to_string);
    match safefs::stat(&root.path(&secret)) {
        Ok(st) if st.is_file() => f.ok(SERVICES, "ssh-secret", format!("{secret} is there")),
        Ok(st) => f.fail(
            SERVICES,
            "ssh-secret",
            format!("{secret} is a {}, not a file", st.kind()),
            "check the secret's declaration (age.secrets)",
        ),
        Err(_) => f.warn(
            SERVICES,
            "ssh-secret",
            format!("{secret} is absent: only the fallback keys can be installed"),
            Some("declare the secret (agenix: age.secrets) or hwc.infrastructure.session.services.secret".into()),
        ),
    }
    unit_state(root, user, f);
}

/// The unit's ActiveState, asked of systemd on the system bus.
fn unit_state(root: &Root, user: &str, f: &mut Findings) {
    let unit = format!("setup-ssh-keys-{user}.service");
    if !root.is_system() || !std::path::Path::new(SYSTEM_BUS).exists() {
        f.skip(SERVICES, "ssh-unit", "no system bus to ask systemd");
        return;
    }
    type Asked = Result<std::result::Result<String, (String, String)>, String>;
    let asked = (|| -> Asked {
        let mut bus = Bus::connect(
            &format!("unix:path={SYSTEM_BUS}"),
            hwc_core::privilege::euid(),
            Duration::from_secs(5),
        )?;
        let load = Call {
            path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager",
            member: "GetUnit",
            destination: "org.freedesktop.systemd1",
            signature: "s",
            body: dbus::body_args(&[&unit]),
        };
        let path = match bus.call(&load)? {
            Reply::Return(body) => body.values().string()?,
            Reply::Error { name, message } => return Ok(Err((name, message))),
        };
        let get = Call {
            path: &path,
            interface: "org.freedesktop.DBus.Properties",
            member: "Get",
            destination: "org.freedesktop.systemd1",
            signature: "ss",
            body: dbus::body_args(&["org.freedesktop.systemd1.Unit", "ActiveState"]),
        };
        match bus.call(&get)? {
            Reply::Return(body) => {
                let mut v = body.values();
                v.variant()?;
                Ok(Ok(v.string()?))
            }
            Reply::Error { name, message } => Ok(Err((name, message))),
        }
    })();
    match asked {
        Ok(Ok(state)) if state == "failed" => f.fail(
            SERVICES,
            "ssh-unit",
            format!("{unit} failed"),
            format!("journalctl -u {unit}, then systemctl restart {unit}"),
        ),
        Ok(Ok(state)) => f.ok(SERVICES, "ssh-unit", format!("{unit} is {state}")),
        Ok(Err((name, _))) if name.ends_with("ServiceUnknown") => {
            f.skip(SERVICES, "ssh-unit", "no systemd on the system bus")
        }
        Ok(Err((name, message))) if name.ends_with("NoSuchUnit") => f.fail(
            SERVICES,
            "ssh-unit",
            format!("{unit} is not loaded: {message}"),
            "hwc.infrastructure.session.services.enable = true; (with sshKeys.enable)",
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

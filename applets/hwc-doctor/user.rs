//! The checks run as the user, in a worker that has dropped to them (or in this process when the
//! doctor runs as that user): the user's authorized_keys (present, the managed block, its keys,
//! sshd's StrictModes verdict), and the graphical session (the session bus, the systemd user
//! manager's environment, session.env, the D-Bus names declared apps need). A session that is
//! not there is skipped, never failed.

use std::path::Path;
use std::time::Duration;

use hwc_authorized_keys as authorized_keys;
use hwc_core::privilege::{self, Ids};
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_dbus::{self as dbus, Bus, Call, Reply};

use crate::units::Install;
use hwc_core::users::User;

use crate::check::{self, Findings, SERVICES, SESSION};
use crate::context::Context;

/// What the worker is asked to look at for one user.
pub struct Asked<'a> {
    pub ssh: bool,
    /// The secret declared for the SSH user, when not the default.
    pub secret: Option<&'a str>,
    pub session: bool,
    pub apps: &'a [String],
    /// Those of `apps` that asked for 32-bit graphics drivers (checked by the doctor itself);
    /// `None` when the declaration does not say.
    pub graphics32: Option<&'a [String]>,
}

/// Runs the checks for `user` as that user and adds what they found.
pub fn check(ctx: &Context, user: &User, asked: &Asked, f: &mut Findings) {
    let ids = Ids {
        uid: user.uid,
        gid: user.gid,
        groups: ctx.acc.group_ids(user),
    };
    let root = &ctx.root;
    let runtime = ctx.runtime_dir(user);
    let found = privilege::output_as(&ids, Duration::from_secs(15), 1 << 16, |out| {
        let mut mine = Findings::default();
        if asked.ssh {
            ssh(root, ctx.install, user, asked.secret, &mut mine);
        }
        if asked.session {
            crate::apps::check(root, ctx.install, user, asked.apps, &mut mine);
            session(&runtime, user, asked, ctx.install, &mut mine);
        }
        for c in &mine.checks {
            out.write_all(check::encode(c).as_bytes())
                .map_err(|e| hwc_core::error::Error::io("the worker's pipe", &e))?;
        }
        for s in &mine.samples {
            out.write_all(check::encode_sample(s).as_bytes())
                .map_err(|e| hwc_core::error::Error::io("the worker's pipe", &e))?;
        }
        Ok(())
    });
    let decoded = found
        .map_err(|e| e.to_string())
        .and_then(|out| check::decode_all(&String::from_utf8_lossy(&out)));
    match decoded {
        Ok((checks, samples)) => {
            f.checks.extend(checks);
            f.samples.extend(samples);
        }
        Err(why) => {
            let bucket = if asked.ssh { SERVICES } else { SESSION };
            f.fail(
                bucket,
                "worker",
                why,
                format!("run hwc-doctor as {}", user.name),
            );
        }
    }
}

fn ssh(root: &Root, install: Install, user: &User, secret: Option<&str>, f: &mut Findings) {
    let home = root.path(&user.home);
    let file = home.join(".ssh/authorized_keys");
    let shown = format!("{}/.ssh/authorized_keys", user.home.display());
    let secret = secret.map_or(String::new(), |s| {
        format!("--secret {} ", crate::units::shell_word(s))
    });
    let command = format!(
        "setup-ssh-keys {secret}{}",
        crate::units::shell_word(&user.name)
    );
    let fix = match install.unit("setup-ssh-keys", &user.name) {
        Some(unit) => format!(
            "systemctl start {} (or: {command})",
            crate::units::shell_word(&unit)
        ),
        None => command,
    };
    match safefs::read_file_if_exists(&file, 16 << 20) {
        Ok(None) => f.fail(
            SERVICES,
            "authorized-keys",
            format!("{shown} is absent"),
            fix,
        ),
        Err(e) => f.fail(
            SERVICES,
            "authorized-keys",
            format!("{shown}: {}", hwc_core::error::describe_io(&e)),
            fix,
        ),
        Ok(Some(text)) => match authorized_keys::managed_block(&text) {
            Err(why) => f.fail(SERVICES, "authorized-keys", format!("{shown}: {why}"), fix),
            Ok(None) => f.fail(
                SERVICES,
                "authorized-keys",
                format!("{shown} holds no block managed by setup-ssh-keys"),
                fix,
            ),
            Ok(Some(keys)) => {
                f.sample(
                    "hwc_ssh_authorized_keys",
                    vec![("user", user.name.clone())],
                    keys.len() as u64,
                );
                if keys.is_empty() {
                    f.fail(
                        SERVICES,
                        "authorized-keys",
                        format!("{shown}: the managed block holds no key"),
                        fix,
                    );
                } else {
                    f.ok(
                        SERVICES,
                        "authorized-keys",
                        format!("{shown}: {} key(s) in the managed block", keys.len()),
                    );
                }
            }
        },
    }
    if !file.exists() {
        return;
    }
    let problems = authorized_keys::predict(&file, &home, user.uid, &root.path("/"));
    if problems.is_empty() {
        f.ok(
            SERVICES,
            "strict-modes",
            "sshd's StrictModes accepts the file and its directories",
        );
    } else {
        f.fail(
            SERVICES,
            "strict-modes",
            format!("sshd would refuse it: {}", problems.join("; ")),
            format!(
                "chmod go-w {0} && chmod 700 {0}/.ssh && chmod 600 {0}/.ssh/authorized_keys (as {1})",
                user.home.display(),
                user.name
            ),
        );
    }
}

/// The D-Bus names an app's system side provides, by app.
fn names_for(app: &str) -> Option<&'static [&'static str]> {
    match app {
        "chromium" => Some(&["org.freedesktop.portal.Desktop", "ca.desrt.dconf"]),
        _ => None,
    }
}

/// The graphical session. Without a runtime directory, or a bus, there is no session to check;
/// a session that is not graphical (an SSH login: the user manager knows no display) has no
/// hwc-session-init to have run. Those are skipped, never failed.
fn session(runtime: &Path, user: &User, asked: &Asked, install: Install, f: &mut Findings) {
    match present(runtime) {
        Ok(true) => {}
        Ok(false) => {
            f.skip(
                SESSION,
                "session",
                format!("no session: {} does not exist", runtime.display()),
            );
            return;
        }
        Err(why) => {
            f.fail(
                SESSION,
                "session",
                why,
                format!("chmod 700 {} (as {})", runtime.display(), user.name),
            );
            return;
        }
    }
    let socket = runtime.join("bus");
    match present(&socket) {
        Ok(true) => {}
        Ok(false) => {
            f.skip(
                SESSION,
                "session-bus",
                format!("no session bus at {}", socket.display()),
            );
            return;
        }
        Err(why) => {
            f.fail(
                SESSION,
                "session-bus",
                why,
                format!("chmod 700 {} (as {})", runtime.display(), user.name),
            );
            return;
        }
    }
    let mut bus = match Bus::connect(
        &format!("unix:path={}", socket.display()),
        user.uid,
        Duration::from_secs(3),
    ) {
        Ok(b) => {
            f.ok(
                SESSION,
                "session-bus",
                format!("{} answers", socket.display()),
            );
            b
        }
        Err(why) => {
            f.fail(
                SESSION,
                "session-bus",
                format!("{}: {why}", socket.display()),
                "systemctl --user restart dbus.socket dbus.service",
            );
            return;
        }
    };
    let graphical = manager_environment(&mut bus, install, f);
    session_env(runtime, graphical, install, f);
    for app in asked.apps {
        activatable(&mut bus, app, asked.graphics32, install, f);
    }
}

/// hwc-session-init's record of the session: due in a graphical session (`Some(true)`), not in
/// another (`Some(false)`); with no user manager to tell (`None`) only its presence is news.
fn session_env(runtime: &Path, graphical: Option<bool>, install: Install, f: &mut Findings) {
    let env_file = hwc_core::output::session_env_path(runtime);
    let there = match present(&env_file) {
        Ok(there) => there,
        Err(why) => {
            f.fail(
                SESSION,
                "session-env",
                why,
                "check the runtime directory's modes",
            );
            return;
        }
    };
    match (there, graphical) {
        (true, _) => f.ok(
            SESSION,
            "session-env",
            format!("{} is there", env_file.display()),
        ),
        (false, Some(true)) => f.fail(
            SESSION,
            "session-env",
            format!(
                "{} is absent: hwc-session-init has not run in this session",
                env_file.display()
            ),
            session_init_fix(install, "start"),
        ),
        (false, Some(false)) => f.skip(SESSION, "session-env", "no graphical session"),
        (false, None) => f.skip(
            SESSION,
            "session-env",
            format!(
                "{} is absent, and no user manager says whether a graphical session runs",
                env_file.display()
            ),
        ),
    }
}

/// Whether `path` is there: only "does not exist" is `false`; any other failure to look (a
/// directory the user made unreadable) is an error naming it, never "absent".
fn present(path: &Path) -> std::result::Result<bool, String> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!(
            "{} cannot be looked at: {}",
            path.display(),
            hwc_core::error::describe_io(&e)
        )),
    }
}

fn call<'a>(
    path: &'a str,
    interface: &'a str,
    member: &'a str,
    destination: &'a str,
    args: &[&str],
) -> Call<'a> {
    Call {
        path,
        interface,
        member,
        destination,
        signature: if args.is_empty() {
            ""
        } else if args.len() == 1 {
            "s"
        } else {
            "ss"
        },
        body: dbus::body_args(args),
    }
}

/// How to have hwc-session-init run (`verb`: start, restart) in this machine's terms.
fn session_init_fix(install: Install, verb: &str) -> String {
    install.fix(
        format!("systemctl --user {verb} hwc-session-init.service (hwc.infrastructure.session.services.sessionInit.enable = true;)"),
        format!("systemctl --user enable hwc-session-init.service; systemctl --user {verb} hwc-session-init.service (install.sh --systemd-user installs it)"),
    )
}

/// The systemd user manager's environment holds what hwc-session-init imports; whether the
/// session is graphical (a display in that environment), `None` when there is no manager.
fn manager_environment(bus: &mut Bus, install: Install, f: &mut Findings) -> Option<bool> {
    let get = call(
        "/org/freedesktop/systemd1",
        "org.freedesktop.DBus.Properties",
        "Get",
        "org.freedesktop.systemd1",
        &["org.freedesktop.systemd1.Manager", "Environment"],
    );
    let env = match bus.call(&get) {
        Ok(Reply::Return(body)) => {
            let mut v = body.values();
            v.variant().and_then(|()| v.strings())
        }
        Ok(Reply::Error { name, .. }) if name.ends_with("ServiceUnknown") => {
            f.skip(
                SESSION,
                "user-manager",
                "no systemd user manager on the session bus",
            );
            return None;
        }
        Ok(Reply::Error { name, message }) => Err(format!("{name}: {message}")),
        Err(why) => Err(why),
    };
    let env = match env {
        Ok(e) => e,
        Err(why) => {
            f.fail(SESSION, "user-manager", why, "systemctl --user status");
            return None;
        }
    };
    let has = |name: &str| {
        env.iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == name))
    };
    let graphical = has("WAYLAND_DISPLAY") || has("DISPLAY");
    if !graphical {
        f.skip(
            SESSION,
            "user-manager",
            "no graphical session (no display in the user manager)",
        );
    } else if has("HWC_GPU_TYPE") {
        f.ok(
            SESSION,
            "user-manager",
            "the systemd user manager has the session's variables",
        );
    } else {
        f.fail(
            SESSION,
            "user-manager",
            "the systemd user manager has a display but not HWC_GPU_TYPE: hwc-session-init did not run",
            session_init_fix(install, "restart"),
        );
    }
    Some(graphical)
}

/// The D-Bus names a declared app needs are on the bus or activatable.
fn activatable(
    bus: &mut Bus,
    app: &str,
    graphics32: Option<&[String]>,
    install: Install,
    f: &mut Findings,
) {
    let check = format!("app:{app}");
    let Some(needed) = names_for(app) else {
        // Apps with no D-Bus name to look for are checked by what shows them in effect.
        if !crate::apps::has_effect(app, graphics32) {
            f.skip(SESSION, &check, format!("no checks known for '{app}'"));
        }
        return;
    };
    let mut names = Vec::new();
    for member in ["ListActivatableNames", "ListNames"] {
        let c = call(
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            member,
            "org.freedesktop.DBus",
            &[],
        );
        match bus.call(&c) {
            Ok(Reply::Return(body)) => match body.values().strings() {
                Ok(n) => names.extend(n),
                Err(why) => {
                    f.fail(SESSION, &check, why, "check the session bus");
                    return;
                }
            },
            Ok(Reply::Error { name, message }) => {
                f.fail(
                    SESSION,
                    &check,
                    format!("{member}: {name}: {message}"),
                    "check the session bus",
                );
                return;
            }
            Err(why) => {
                f.fail(SESSION, &check, why, "check the session bus");
                return;
            }
        }
    }
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|n| !names.iter().any(|m| m == n))
        .collect();
    if missing.is_empty() {
        f.ok(
            SESSION,
            &check,
            format!("{} are activatable", needed.join(", ")),
        );
    } else {
        f.fail(
            SESSION,
            &check,
            format!(
                "{} cannot be activated on the session bus",
                missing.join(", ")
            ),
            install.fix(
                format!("hwc.infrastructure.session.{app}.enable = true;"),
                format!(
                    "install the D-Bus services that provide {} (the distribution's packages)",
                    missing.join(", ")
                ),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hwc-session-init is had by the option on NixOS, by enabling install.sh's user unit
    /// elsewhere.
    #[test]
    fn session_init_is_started_in_the_machines_terms() {
        let nixos = session_init_fix(Install::NixOs, "start");
        assert!(nixos.contains("sessionInit.enable = true;"), "{nixos}");
        let elsewhere = session_init_fix(Install::Templates, "restart");
        assert!(
            elsewhere.contains("systemctl --user enable hwc-session-init.service")
                && elsewhere.contains("systemctl --user restart hwc-session-init.service")
                && !elsewhere.contains("hwc.infrastructure"),
            "{elsewhere}"
        );
    }
}

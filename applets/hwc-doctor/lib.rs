//! `hwc-doctor`: the machine as declared (/etc/hwc/declared.json, written by the NixOS domain)
//! against the machine as it is, bucket by bucket: hardware/gpu, hardware/permissions,
//! session/services, session/user, mesh. Each check is ok, warn, fail or skip, with its evidence
//! and the fix (the NixOS option line, or the command). Optionally the same as Prometheus gauges
//! for node_exporter's textfile collector. It changes nothing and wakes no GPU.

#![forbid(unsafe_code)]

mod apps;
mod check;
mod context;
mod declared;
mod gpu;
mod json;
mod mesh;
mod network;
mod permissions;
mod prometheus;
mod report;
mod services;
mod units;
mod user;

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::output;
use hwc_core::root::Root;
use hwc_core::users::Accounts;
use hwc_gpu::{self as engine, Depth};

use check::Findings;
use context::Context;
use declared::Declared;

/// Compare what the machine was declared to be (/etc/hwc/declared.json) with what it is, by
/// bucket: hardware/gpu (type, accelerator, NVIDIA kernel module against user space and the CDI
/// spec, the user's access to the render node, offload), hardware/permissions (the declared
/// sets' groups and device nodes), session/services (authorized_keys, StrictModes, the secret,
/// the setup-ssh-keys unit), session/user (session bus, the systemd user manager's environment,
/// session.env, the D-Bus names of declared apps; what shows a declared app's system side in
/// effect, looked at with or without a session), mesh (declared bridges up with their
/// addresses; each container network's bridge, VXLAN overlay, forwarding entries against its
/// peers, MTU against the underlay's, podman's view). Each check prints ok, warn, fail or skip with its evidence, and the fix under a
/// failure. Undeclared checks, and a session that is not there, are skipped, never failed.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "declared.json (every key optional): {{\"gpu\": {{\"type\": \"nvidia|amd|intel|none\", \
\"containerRuntime\": true}}, \"permissions\": {{\"user\": \"eric\", \"sets\": [\"media\", ...]}}, \
\"ssh\": {{\"user\": \"eric\", \"secret\": \"/run/agenix/...\"}}, \"bridges\": {{\"podman0\": \
[\"10.88.0.1/16\"]}}, \"networks\": {{\"media\": {{\"bridge\": \"hwc-media\", \"address\": \
\"10.77.0.1/24\", \"overlay\": {{\"link\": \"vx-4242\", \"vni\": 4242, \"port\": 4789, \"local\": \
\"192.0.2.1\", \"underlay\": \"wg0\", \"peers\": [...], \"mtu\": 1370}}, \"podman\": true}}}}, \
\"apps\": [\"chromium\", \"steam\"], \"graphics32\": [\"steam\"] (the apps that asked for 32-bit \
graphics drivers, [] where none did)}}. JSON: checks[] {{bucket, check, status, \
evidence, fix}}, declared, user, failed. --prometheus writes hwc_check_ok{{bucket,check}}, \
hwc_gpu_info{{pci,vendor,device,driver,role}}, hwc_gpu_runtime_suspended{{pci}}, \
hwc_nvidia_versions_match, hwc_user_missing_groups{{user,set}}, hwc_ssh_authorized_keys{{user}}, \
hwc_bridge_up{{bridge}}, hwc_network_ok{{network}}, hwc_network_peers{{network}}. Checks in the user's home and session run as that user.",
    error_code(1, "a check failed, or the declaration could not be read"),
    error_code(2, "usage error")
)]
struct Args {
    /// the user whose access, keys and session to check (default: the declared one)
    #[argh(option)]
    user: Option<String>,
    /// print one JSON document
    #[argh(switch)]
    json: bool,
    /// also write the results as Prometheus gauges to FILE (node_exporter textfile format),
    /// atomically, with mode 0644; FILE is a regular file of the caller's or nothing (never a
    /// device, link, FIFO or another user's file), in a directory others may not write unless
    /// sticky, reached with no link on the way; - writes them to standard output
    #[argh(option)]
    prometheus: Option<PathBuf>,
    /// read /sys, /etc, /run, /dev and home directories under DIR instead of /
    #[argh(option)]
    root: Option<PathBuf>,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    let root = Root::from_option(args.root.as_deref());
    // What keeps the doctor from reading its inputs is a failed check, so that the report and
    // the gauges still say so (a stale metrics file would keep saying all is well).
    let mut early = Findings::default();
    let declared = declared::load(&root).unwrap_or_else(|e| {
        early.fail(
            check::DOCTOR,
            "declaration",
            e.to_string(),
            "fix /etc/hwc/declared.json (its format: hwc-doctor --help)",
        );
        Declared::default()
    });
    let acc = Accounts::load(&root).unwrap_or_else(|e| {
        early.fail(
            check::DOCTOR,
            "accounts",
            e.to_string(),
            "fix /etc/passwd and /etc/group",
        );
        Accounts::default()
    });
    let user_name = args.user.as_deref().or(declared.user()).map(str::to_string);
    let user = match (&user_name, &args.user) {
        (Some(n), _) => match acc.find_user(n) {
            Some(u) => Some(u.clone()),
            None if args.user.is_some() => {
                return Err(Error::usage(format!("--user {n}: not in /etc/passwd")))
            }
            None => None,
        },
        (None, _) => None,
    };
    let ctx = Context {
        gpus: engine::scan(&root, Depth::Full),
        install: units::Install::of(&root),
        root,
        acc,
        user,
    };
    let mut findings = run_checks(&ctx, &declared, user_name.as_deref());
    early.checks.append(&mut findings.checks);
    early.samples.append(&mut findings.samples);
    let findings = early;
    // The report first: a metrics file that cannot be written must not hide it.
    output::print(
        output::Format::of(args.json),
        &report::Report {
            findings: &findings,
            declared: declared.found,
            user: ctx.user.as_ref().map(|u| u.name.as_str()),
        },
    )?;
    if let Some(file) = &args.prometheus {
        prometheus::write(file, &prometheus::render(&findings))?;
    }
    Ok(u8::from(findings.failed() > 0))
}

/// The fix for a declared user that /etc/passwd lacks.
fn missing_user_fix(ctx: &Context, name: &str) -> String {
    ctx.install.fix(
        format!(
            "declare the user (users.users.{name}) or fix {}",
            declared::PATH
        ),
        format!(
            "create the user (useradd -m {name}) or fix {}",
            declared::PATH
        ),
    )
}

fn run_checks(ctx: &Context, declared: &Declared, user_name: Option<&str>) -> Findings {
    let mut f = Findings::default();
    if let (Some(n), None) = (user_name, &ctx.user) {
        f.fail(
            check::PERMISSIONS,
            "user",
            format!("the declared user '{n}' is not in /etc/passwd"),
            missing_user_fix(ctx, n),
        );
    }
    gpu::check(ctx, declared.gpu.as_ref(), &mut f);
    permissions::check(ctx, declared.permissions.as_ref(), &mut f);
    let ssh_user = declared.ssh.as_ref().and_then(|(u, secret)| {
        services::check(&ctx.root, ctx.install, u, secret.as_deref(), &mut f);
        let found = ctx.acc.user_by_name(u);
        if found.is_none() {
            f.fail(
                check::SERVICES,
                "authorized-keys",
                format!("the declared SSH user '{u}' is not in /etc/passwd"),
                missing_user_fix(ctx, u),
            );
        }
        found
    });
    if declared.ssh.is_none() {
        f.skip(check::SERVICES, "ssh", "no SSH keys declared");
    }
    let session_user = ctx.user.as_ref();
    let secret = declared.ssh.as_ref().and_then(|(_, s)| s.as_deref());
    // One worker per user: the SSH user's home, the session user's session.
    match (ssh_user, session_user) {
        (Some(a), Some(b)) if a.uid == b.uid => user::check(
            ctx,
            a,
            &user::Asked {
                ssh: true,
                secret,
                session: true,
                apps: &declared.apps,
                graphics32: declared.graphics32.as_deref(),
            },
            &mut f,
        ),
        (a, b) => {
            if let Some(a) = a {
                user::check(
                    ctx,
                    a,
                    &user::Asked {
                        ssh: true,
                        secret,
                        session: false,
                        apps: &[],
                        graphics32: None,
                    },
                    &mut f,
                );
            }
            match b {
                Some(b) => user::check(
                    ctx,
                    b,
                    &user::Asked {
                        ssh: false,
                        secret: None,
                        session: true,
                        apps: &declared.apps,
                        graphics32: declared.graphics32.as_deref(),
                    },
                    &mut f,
                ),
                None => f.skip(
                    check::SESSION,
                    "session",
                    "no user declared or given (--user)",
                ),
            }
        }
    }
    // What shows a declared app's system side in effect is the machine's (a kernel module, the
    // 32-bit drivers): looked at with or without a session.
    apps::effects(
        &ctx.root,
        ctx.install,
        &declared.apps,
        declared.graphics32.as_deref(),
        &mut f,
    );
    mesh::check(&declared.bridges, ctx.install, &mut f);
    network::check(&declared.networks, &ctx.root, ctx.install, &mut f);
    f
}

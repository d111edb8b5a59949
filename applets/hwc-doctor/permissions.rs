//! hardware/permissions: for each declared set, the groups the user lacks (with the NixOS line
//! that adds them), and the device nodes of that set the user may not read and write, judged as
//! the kernel would (the `hwc-perms access` engine: metadata only, nothing opened), naming the
//! entry that denies.

use std::path::PathBuf;

use hwc_access as access;
use hwc_access::groupsets;

use crate::check::{Findings, PERMISSIONS};
use crate::context::Context;

/// The device nodes each set's groups are for, as (directory, name prefix).
fn nodes_of(set: &str) -> &'static [(&'static str, &'static str)] {
    match set {
        "media" => &[("/dev/snd", ""), ("/dev", "video"), ("/dev/dri", "renderD")],
        "hardware" => &[
            ("/dev/input", "event"),
            ("/dev", "i2c-"),
            ("/dev", "gpiochip"),
            ("/dev", "spidev"),
            ("/dev", "iio:device"),
        ],
        "development" => &[("/dev", "ttyUSB"), ("/dev", "ttyACM"), ("/dev", "kvm")],
        "peripherals" => &[("/dev/usb", "lp")],
        _ => &[],
    }
}

pub fn check(ctx: &Context, declared: Option<&(String, Vec<String>)>, f: &mut Findings) {
    let Some((_, sets)) = declared else {
        f.skip(PERMISSIONS, "groups", "no permissions declared");
        return;
    };
    let Some(user) = ctx.user.as_ref() else {
        f.skip(
            PERMISSIONS,
            "groups",
            "the declared user is not in /etc/passwd",
        );
        return;
    };
    let known = match groupsets::load(&ctx.root) {
        Ok(k) => k,
        Err(e) => {
            f.fail(
                PERMISSIONS,
                "groups",
                e.to_string(),
                "fix /etc/hwc/perms.conf",
            );
            return;
        }
    };
    for name in sets {
        let check = format!("groups:{name}");
        let Some(set) = known.iter().find(|s| &s.name == name) else {
            f.fail(
                PERMISSIONS,
                &check,
                format!("no set '{name}' in /etc/hwc/perms.conf or the defaults"),
                "declare it in /etc/hwc/perms.conf, or remove it from the declaration",
            );
            continue;
        };
        let r = groupsets::compare(set, &ctx.acc, user);
        let missing: Vec<String> = r.lacks.iter().chain(&r.absent).cloned().collect();
        f.sample(
            "hwc_user_missing_groups",
            vec![("user", user.name.clone()), ("set", name.clone())],
            missing.len() as u64,
        );
        if missing.is_empty() {
            f.ok(
                PERMISSIONS,
                &check,
                format!("{} is in {}", user.name, r.has.join(", ")),
            );
        } else {
            let (nixos, command) = groupsets::fixes(&user.name, &missing);
            let absent = if r.absent.is_empty() {
                String::new()
            } else {
                format!(" ({} not on this system)", r.absent.join(", "))
            };
            // usermod adds nothing when a group it is given does not exist.
            let made: String = r
                .absent
                .iter()
                .map(|g| format!("groupadd --system {g}; "))
                .collect();
            f.fail(
                PERMISSIONS,
                &check,
                format!("{} is not in {}{absent}", user.name, missing.join(", ")),
                ctx.install.fix(
                    format!("{nixos} (or: {made}{command})"),
                    format!("{made}{command} (then log in again)"),
                ),
            );
        }
        devices(ctx, user, name, f);
    }
}

fn devices(ctx: &Context, user: &hwc_core::users::User, set: &str, f: &mut Findings) {
    let check = format!("devices:{set}");
    let nodes: Vec<PathBuf> = access::device_paths(&ctx.root, nodes_of(set));
    if nodes.is_empty() {
        f.skip(PERMISSIONS, &check, "no device node of this set here");
        return;
    }
    let who = ctx.who(user);
    let verdicts = match access::system_verdicts(&ctx.root, &ctx.acc, &who, &nodes) {
        Ok(v) => v,
        Err(e) => {
            f.fail(PERMISSIONS, &check, e.to_string(), "check --root");
            return;
        }
    };
    // A node that could not be judged is no pass: it is named with what stopped the judgement.
    let (judged, unjudged): (Vec<_>, Vec<_>) = verdicts.into_iter().partition(|v| v.is_ok());
    let unjudged: Vec<String> = unjudged
        .into_iter()
        .filter_map(|v| v.err())
        .map(|e| e.to_string())
        .collect();
    if !unjudged.is_empty() {
        f.fail(
            PERMISSIONS,
            &check,
            format!("cannot judge {}", unjudged.join("; ")),
            "hwc-perms access --user USER --devices",
        );
        return;
    }
    let denied: Vec<_> = judged
        .into_iter()
        .filter_map(|v| v.ok())
        .filter(|v| !(v.read && v.write))
        .collect();
    // The groups that own the denied nodes (root's aside) are what the user lacks.
    let mut groups: Vec<String> = denied
        .iter()
        .filter_map(|v| ctx.node_group(&v.path))
        .filter(|g| g != "root")
        .collect();
    groups.sort();
    groups.dedup();
    let denied_paths: Vec<String> = denied
        .iter()
        .map(|v| crate::units::shell_word(&v.path))
        .collect();
    let denied: Vec<String> = denied
        .iter()
        .map(|v| format!("{} ({})", v.path, v.via))
        .collect();
    if denied.is_empty() {
        f.ok(
            PERMISSIONS,
            &check,
            format!("{} may use all {} node(s)", user.name, nodes.len()),
        );
    } else {
        f.fail(
            PERMISSIONS,
            &check,
            format!("{} may not read and write {}", user.name, denied.join(", ")),
            if groups.is_empty() {
                let shows = format!(
                    "hwc-perms access --user {} --devices shows each node's entries",
                    user.name
                );
                ctx.install.fix(
                    format!("hwc.infrastructure.hardware.permissions.deviceAccess ({shows})"),
                    format!(
                        "hwc-perms grant --user {} {} (until the node is made again: a udev rule or a group keeps it; {shows})",
                        user.name,
                        denied_paths.join(" ")
                    ),
                )
            } else {
                let (nixos, command) = groupsets::fixes(&user.name, &groups);
                ctx.install.fix(
                    format!("{nixos} (or: {command})"),
                    format!("{command} (then log in again)"),
                )
            },
        );
    }
}

//! session/user: the documented question "app missing system integration?". Each app the user's
//! Home Manager declares (`hwc.session.apps`, written to ~/.config/hwc/apps.json) must have its
//! system side on: `hwc.infrastructure.session.<app>.enable`, which the machine's declaration
//! lists under "apps". Read as the user, in the user's worker.

use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::users::User;

use crate::check::{Findings, SESSION};
use crate::json::{self, Value};

/// Where Home Manager's side of hwc writes the user's apps.
const FILE: &str = ".config/hwc/apps.json";
/// The most apps checked: each is a line of the worker's report, which is bounded.
const MAX_APPS: usize = 64;

pub fn check(root: &Root, user: &User, declared: &[String], f: &mut Findings) {
    let shown = format!("{}/{FILE}", user.home.display());
    let text = match safefs::read_file_if_exists(&root.path(&user.home).join(FILE), 1 << 20) {
        Ok(Some(t)) => t,
        Ok(None) => {
            f.skip(
                SESSION,
                "hm-apps",
                format!("{shown} is absent: no Home Manager app declares a system side"),
            );
            return;
        }
        Err(e) => {
            f.fail(
                SESSION,
                "hm-apps",
                format!("{shown}: {}", hwc_core::error::describe_io(&e)),
                "home-manager switch (hwc.session.apps writes it)",
            );
            return;
        }
    };
    let apps = match json::parse(&text).map(|doc| apps_of(&doc)) {
        Ok(Some(apps)) => apps,
        Ok(None) | Err(_) => {
            f.fail(
                SESSION,
                "hm-apps",
                format!("{shown} is not {{\"apps\": [names]}}"),
                "home-manager switch (hwc.session.apps writes it)",
            );
            return;
        }
    };
    let mut seen = Vec::new();
    for app in apps {
        if seen.contains(&app) {
            continue;
        }
        if seen.len() == MAX_APPS {
            f.warn(
                SESSION,
                "hm-apps",
                format!(
                    "{shown} names more than {MAX_APPS} apps; the first {MAX_APPS} were checked"
                ),
                None,
            );
            break;
        }
        seen.push(app.clone());
        let check = format!("integration:{app}");
        if declared.contains(&app) {
            f.ok(
                SESSION,
                &check,
                format!("{app}: Home Manager installs it and the system side is on"),
            );
        } else {
            f.fail(
                SESSION,
                &check,
                format!(
                    "{app}: Home Manager installs it ({shown}), but its system side is off (D-Bus, dconf, portals or devices it needs)"
                ),
                format!("hwc.infrastructure.session.{app}.enable = true;"),
            );
        }
    }
}

/// What shows an app's system side in effect on a machine of `arch` (`std::env::consts::ARCH`),
/// beyond its D-Bus names (checked on the user's bus): a path that exists once it is, what it
/// is, and the fix when it is not. Steam's 32-bit graphics are x86_64's alone: the integration
/// asks for them there only, as NixOS allows.
fn effect_of(app: &str, arch: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match app {
        "obs" => Some((
            "/sys/module/v4l2loopback",
            "the v4l2loopback module (OBS's virtual camera) is loaded",
            "reboot after nixos-rebuild switch (boot.kernelModules loads it), or: modprobe v4l2loopback",
        )),
        "steam" if arch == "x86_64" => Some((
            "/run/opengl-driver-32",
            "32-bit graphics drivers are installed",
            "hardware.graphics.enable32Bit = true; (a setting of yours turned it off?)",
        )),
        _ => None,
    }
}

/// Whether `app` has a check of its effect here.
pub fn has_effect(app: &str) -> bool {
    effect_of(app, std::env::consts::ARCH).is_some()
}

/// For each app whose system side is declared on, what shows it in effect.
pub fn effects(root: &Root, declared: &[String], f: &mut Findings) {
    for app in declared {
        let Some((path, what, fix)) = effect_of(app, std::env::consts::ARCH) else {
            continue;
        };
        let check = format!("app:{app}");
        if root.path(path).exists() {
            f.ok(SESSION, &check, format!("{what} ({path})"));
        } else {
            f.fail(
                SESSION,
                &check,
                format!("declared, but not in effect: {path} is absent, so not: {what}"),
                fix,
            );
        }
    }
}

/// The names under "apps", or None when the document is not that shape.
fn apps_of(doc: &Value) -> Option<Vec<String>> {
    doc.get("apps")?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steam_needs_32_bit_graphics_on_x86_64_alone() {
        let path = |arch| effect_of("steam", arch).map(|(path, _, _)| path);
        assert_eq!(path("x86_64"), Some("/run/opengl-driver-32"));
        // NixOS refuses hardware.graphics.enable32Bit on 64-bit ARM: nothing to find there.
        assert_eq!(path("aarch64"), None);
        assert!(effect_of("obs", "aarch64").is_some());
        assert!(effect_of("chromium", "x86_64").is_none());
    }
}

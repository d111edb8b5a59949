//! session/user: the documented question "app missing system integration?". Each app the user's
//! Home Manager declares (`hwc.session.apps`, written to ~/.config/hwc/apps.json) must have its
//! system side on: `hwc.infrastructure.session.<app>.enable`, which the machine's declaration
//! lists under "apps". [`check`] reads as the user, in the user's worker; [`effects`] looks at
//! the machine (a kernel module, the 32-bit drivers), in the doctor itself, with or without a
//! session.

use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::users::User;

use crate::units::Install;

use crate::check::{Findings, SESSION};
use crate::json::{self, Value};

/// Where Home Manager's side of hwc writes the user's apps.
const FILE: &str = ".config/hwc/apps.json";
/// The most apps checked: each is a line of the worker's report, which is bounded.
const MAX_APPS: usize = 64;

pub fn check(root: &Root, install: Install, user: &User, declared: &[String], f: &mut Findings) {
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
                install.fix(
                    format!("hwc.infrastructure.session.{app}.enable = true;"),
                    format!("install {app}'s system side (its D-Bus services, portals, udev rules), then add \"{app}\" to \"apps\" in {}", crate::declared::PATH),
                ),
            );
        }
    }
}

/// hwc's own integrations that ask for 32-bit graphics drivers (graphics32 in
/// install/nix/infrastructure/session/apps.nix): what a declaration without "graphics32" leaves
/// unsaid.
const ASK_FOR_32_BIT: &[&str] = &["steam"];

/// What shows an app's system side in effect, beyond its D-Bus names (checked on the user's bus):
/// a path that exists once it is, what it is, and the fix when it is not; one effect an app.
/// `graphics32` names the apps whose system side asked for 32-bit graphics drivers
/// (declared.json's "graphics32"): the declaration says it for the platform it is for, where the
/// doctor's own build could not (a `--root` over another machine's image), and names none where
/// NixOS has none (64-bit ARM).
fn effect_of(app: &str, graphics32: &[String]) -> Option<Effect> {
    if app == "obs" {
        return Some(Effect {
            path: "/sys/module/v4l2loopback",
            what: "the v4l2loopback module (OBS's virtual camera) is loaded",
            nixos_fix: "reboot after nixos-rebuild switch (boot.kernelModules loads it), or: modprobe v4l2loopback",
            elsewhere_fix: Some("install v4l2loopback (Debian: v4l2loopback-dkms), modprobe v4l2loopback, and name it in /etc/modules-load.d/"),
        });
    }
    graphics32.iter().any(|a| a == app).then_some(Effect {
        path: "/run/opengl-driver-32",
        what: "32-bit graphics drivers are installed",
        nixos_fix: "hardware.graphics.enable32Bit = true; (a setting of yours turned it off?)",
        elsewhere_fix: None,
    })
}

/// What shows an app's system side in effect.
struct Effect {
    /// There once it is.
    path: &'static str,
    what: &'static str,
    nixos_fix: &'static str,
    /// The fix on another distribution; `None` where the path is NixOS's own, so looked for on
    /// NixOS alone.
    elsewhere_fix: Option<&'static str>,
}

/// Whether the declaration does not say if `app` asked for 32-bit graphics drivers (no
/// "graphics32": written by an hwc from before it, or by hand), where hwc's integration does ask.
fn unsaid(app: &str, graphics32: Option<&[String]>) -> bool {
    graphics32.is_none() && ASK_FOR_32_BIT.contains(&app)
}

/// Whether the doctor itself reports on `app`'s effect ([`effects`]), as declared.
pub fn has_effect(app: &str, graphics32: Option<&[String]>) -> bool {
    effect_of(app, graphics32.unwrap_or_default()).is_some() || unsaid(app, graphics32)
}

/// For each app whose system side is declared on (`apps`; `graphics32` as in [`effect_of`],
/// `None` when the declaration does not say), what shows it in effect. The path itself is
/// looked at, not what it links to: /run/opengl-driver-32 is a link into /nix/store, which is
/// outside `--root`.
pub fn effects(
    root: &Root,
    install: Install,
    apps: &[String],
    graphics32: Option<&[String]>,
    f: &mut Findings,
) {
    for app in apps {
        let check = format!("app:{app}");
        if unsaid(app, graphics32) {
            f.skip(
                SESSION,
                &check,
                format!(
                    "{} does not say whether {app} asked for 32-bit graphics drivers (no \"graphics32\"; an older hwc wrote it): not looked for",
                    crate::declared::PATH
                ),
            );
            continue;
        }
        let Some(effect) = effect_of(app, graphics32.unwrap_or_default()) else {
            continue;
        };
        let (path, what) = (effect.path, effect.what);
        let fix = match (install, effect.elsewhere_fix) {
            (Install::NixOs, _) => effect.nixos_fix,
            (Install::Templates, Some(fix)) => fix,
            (Install::Templates, None) => {
                f.skip(
                    SESSION,
                    &check,
                    format!("{path} is NixOS's: looked for on NixOS alone, not: {what}"),
                );
                continue;
            }
        };
        match std::fs::symlink_metadata(root.path(path)) {
            Ok(_) => f.ok(SESSION, &check, format!("{what} ({path})")),
            // Absent, or a directory above it is not one.
            Err(e)
                if e.raw_os_error()
                    .is_some_and(|n| n == libc::ENOENT || n == libc::ENOTDIR) =>
            {
                f.fail(
                    SESSION,
                    &check,
                    format!("declared, but not in effect: {path} is absent, so not: {what}"),
                    fix,
                )
            }
            Err(e) => f.fail(
                SESSION,
                &check,
                format!(
                    "cannot tell whether {path} is there: {}",
                    hwc_core::error::describe_io(&e)
                ),
                "run hwc-doctor as root",
            ),
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
    fn the_32_bit_drivers_are_looked_for_where_the_declaration_asked_for_them() {
        let asked = ["steam".to_string()];
        let path = |graphics32: &[String]| effect_of("steam", graphics32).map(|e| e.path);
        assert_eq!(path(&asked), Some("/run/opengl-driver-32"));
        // A declaration for 64-bit ARM, where NixOS refuses hardware.graphics.enable32Bit,
        // names none: nothing to find there, whatever the doctor was built for.
        assert_eq!(path(&[]), None);
        assert!(effect_of("obs", &[]).is_some());
        assert!(effect_of("chromium", &asked).is_none());
        assert!(has_effect("steam", Some(&asked)) && !has_effect("steam", Some(&[])));
    }

    /// A declaration that does not say (no "graphics32") has Steam's check skipped, saying so,
    /// never passed or failed; OBS's is its own and still made.
    #[test]
    fn a_declaration_that_does_not_say_skips_the_32_bit_check() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let apps = [
            "obs".to_string(),
            "steam".to_string(),
            "chromium".to_string(),
        ];
        let mut f = Findings::default();
        effects(&root, Install::NixOs, &apps, None, &mut f);
        let found: Vec<(String, crate::check::Status)> = f
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.status))
            .collect();
        assert_eq!(
            found,
            [
                ("app:obs".to_string(), crate::check::Status::Fail),
                ("app:steam".to_string(), crate::check::Status::Skip),
            ]
        );
        assert!(
            f.checks[1].evidence.contains("\"graphics32\""),
            "{:?}",
            f.checks[1]
        );
        assert!(has_effect("steam", None) && !has_effect("chromium", None));
        // Said, and none asked (64-bit ARM): nothing of Steam's.
        let mut f = Findings::default();
        effects(&root, Install::NixOs, &apps, Some(&[]), &mut f);
        assert_eq!(f.checks.len(), 1, "{:?}", f.checks);
    }

    /// The path is what is looked at, not where it links: a link into a store outside the root
    /// is there; a path that cannot be looked at is no answer, never "absent".
    #[test]
    fn the_path_itself_shows_the_effect() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let module = dir.path().join("sys/module");
        std::fs::create_dir_all(&module).unwrap();
        let declared = ["obs".to_string()];
        let status = |f: &Findings| (f.checks[0].status, f.checks[0].evidence.clone());

        std::os::unix::fs::symlink("/nix/store/none-v4l2loopback", module.join("v4l2loopback"))
            .unwrap();
        let mut f = Findings::default();
        effects(&root, Install::NixOs, &declared, Some(&[]), &mut f);
        assert_eq!(status(&f).0, crate::check::Status::Ok, "{:?}", status(&f));

        std::fs::remove_file(module.join("v4l2loopback")).unwrap();
        let mut f = Findings::default();
        effects(&root, Install::NixOs, &declared, Some(&[]), &mut f);
        assert!(status(&f).1.contains("is absent"), "{:?}", status(&f));

        // sys/module a file: nothing can be below it.
        std::fs::remove_dir(&module).unwrap();
        std::fs::write(&module, "").unwrap();
        let mut f = Findings::default();
        effects(&root, Install::NixOs, &declared, Some(&[]), &mut f);
        assert!(status(&f).1.contains("is absent"), "{:?}", status(&f));

        // sys/module a link to itself: looking below it fails (ELOOP), which is no answer.
        std::fs::remove_file(&module).unwrap();
        std::os::unix::fs::symlink("module", &module).unwrap();
        let mut f = Findings::default();
        effects(&root, Install::NixOs, &declared, Some(&[]), &mut f);
        assert!(status(&f).1.starts_with("cannot tell"), "{:?}", status(&f));
    }
}

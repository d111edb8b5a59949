//! Per-program launch profiles. Chromium and Electron apps pick their render node themselves and
//! open every node to do it (waking the dGPU and usually choosing the iGPU), so the `chromium`
//! profile passes `--render-node-override=<dGPU node>`.
//!
//! Config files, read in order, later rules overriding earlier ones and the built-in table:
//! `/etc/hwc/gpu-launch.conf`, then `$XDG_CONFIG_HOME/hwc/gpu-launch.conf` (default
//! `~/.config/hwc/gpu-launch.conf`). One rule a line, `PROGRAM = PROFILE`; `#` starts a comment.
//! PROGRAM is the program's file name as typed, without directories, and may end in `*` to match
//! a prefix. PROFILE is `chromium` or `none`.

use std::path::{Path, PathBuf};

use hwc_core::config::Conf;
use hwc_core::error::{describe_io, Result};
use hwc_core::root::Root;
use hwc_core::safefs;

/// A config file larger than this is not one.
const MAX_CONF: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Chromium,
    None,
}

const BUILTIN: &[(&str, Profile)] = &[
    ("chromium", Profile::Chromium),
    ("chromium-browser", Profile::Chromium),
    ("google-chrome*", Profile::Chromium),
    ("brave", Profile::Chromium),
    ("brave-browser*", Profile::Chromium),
    ("microsoft-edge*", Profile::Chromium),
    ("vivaldi*", Profile::Chromium),
    ("electron*", Profile::Chromium),
    // Electron applications
    ("code", Profile::Chromium),
    ("code-oss", Profile::Chromium),
    ("codium", Profile::Chromium),
    ("cursor", Profile::Chromium),
    ("discord", Profile::Chromium),
    ("Discord", Profile::Chromium),
    ("element-desktop", Profile::Chromium),
    ("obsidian", Profile::Chromium),
    ("signal-desktop", Profile::Chromium),
    ("slack", Profile::Chromium),
    ("spotify", Profile::Chromium),
    ("teams-for-linux", Profile::Chromium),
    ("1password", Profile::Chromium),
    ("bitwarden", Profile::Chromium),
];

/// Rules in force: the built-in table, then each config file's lines (kept apart, so that no
/// launch copies the table).
#[derive(Debug)]
pub struct Profiles {
    configured: Vec<(String, Profile)>,
}

fn matches(pattern: &str, name: &[u8]) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix.as_bytes()),
        None => name == pattern.as_bytes(),
    }
}

impl Profiles {
    pub fn builtin() -> Profiles {
        Profiles {
            configured: Vec::new(),
        }
    }

    /// Built-ins plus the system and user config files that exist under `root`. A file that
    /// cannot be read as a config file (a FIFO, a device, over 1 MiB, unreadable) is skipped
    /// with a notice through `skipped`: the program is launched all the same. A bad line in a
    /// readable file is an error.
    pub fn load(root: &Root, mut skipped: impl FnMut(String)) -> Result<Profiles> {
        let mut profiles = Profiles::builtin();
        let mut files = vec![root.path("/etc/hwc/gpu-launch.conf")];
        if let Some(dir) = user_config_dir() {
            files.push(root.path(dir.join("hwc/gpu-launch.conf")));
        }
        for file in files {
            match safefs::read_file_if_exists(&file, MAX_CONF) {
                Ok(None) => {}
                Ok(Some(text)) => profiles.add_config(root.display(&file), &text)?,
                Err(e) => skipped(format!(
                    "{}: {}; skipped",
                    root.display(&file).display(),
                    describe_io(&e)
                )),
            }
        }
        Ok(profiles)
    }

    /// Adds the rules of one config file; a bad line is an error naming `FILE:LINE`.
    pub fn add_config(&mut self, file: &Path, text: &[u8]) -> Result<()> {
        let text = String::from_utf8_lossy(text);
        let conf = Conf {
            file,
            format: "PROGRAM = chromium' or 'PROGRAM = none",
        };
        for e in conf.entries(&text)? {
            let program = e.key;
            if program.contains('/') || program.strip_suffix('*').unwrap_or(program).contains('*') {
                return Err(conf.error(e.line, &format!("bad program name '{program}'")));
            }
            let profile = match e.value {
                "chromium" => Profile::Chromium,
                "none" => Profile::None,
                other => return Err(conf.error(e.line, &format!("unknown profile '{other}'"))),
            };
            self.configured.push((program.to_string(), profile));
        }
        Ok(())
    }

    /// The profile for a program as typed (`/usr/bin/chromium` counts as `chromium`); the last
    /// matching rule wins.
    pub fn for_program(&self, program: &[u8]) -> Profile {
        let name = match memchr::memrchr(b'/', program) {
            Some(i) => &program[i + 1..],
            None => program,
        };
        let configured = self.configured.iter().map(|(p, v)| (p.as_str(), *v));
        let builtin = BUILTIN.iter().copied();
        builtin
            .chain(configured)
            .rev()
            .find(|(pattern, _)| matches(pattern, name))
            .map_or(Profile::None, |(_, p)| p)
    }
}

/// `$XDG_CONFIG_HOME`, or `$HOME/.config`; relative values are ignored as the XDG spec asks.
fn user_config_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CONFIG_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".config"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_family() {
        let p = Profiles::builtin();
        for name in [
            "chromium",
            "/usr/bin/chromium",
            "google-chrome-stable",
            "brave",
            "code",
            "electron28",
        ] {
            assert_eq!(p.for_program(name.as_bytes()), Profile::Chromium, "{name}");
        }
        for name in ["firefox", "glxgears", "chrome", "vkcube"] {
            assert_eq!(p.for_program(name.as_bytes()), Profile::None, "{name}");
        }
    }

    #[test]
    fn config_overrides_and_extends() {
        let mut p = Profiles::builtin();
        p.add_config(
            Path::new("/etc/hwc/gpu-launch.conf"),
            b"# mine\n\nmyapp = chromium  # an Electron app\ncode = none\nfoo* = chromium\n",
        )
        .unwrap();
        assert_eq!(p.for_program(b"myapp"), Profile::Chromium);
        assert_eq!(p.for_program(b"code"), Profile::None);
        assert_eq!(p.for_program(b"foobar"), Profile::Chromium);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let f = Path::new("/etc/hwc/gpu-launch.conf");
        let cases: [(&[u8], &str); 4] = [
            (b"ok = none\njunk\n", "/etc/hwc/gpu-launch.conf:2: no '='"),
            (
                b"x = firefox\n",
                "/etc/hwc/gpu-launch.conf:1: unknown profile 'firefox'",
            ),
            (
                b"/usr/bin/x = none\n",
                "/etc/hwc/gpu-launch.conf:1: bad program name '/usr/bin/x'",
            ),
            (
                b"\n\n a*b = none\n",
                "/etc/hwc/gpu-launch.conf:3: bad program name 'a*b'",
            ),
        ];
        assert!(Profiles::builtin()
            .add_config(f, "\u{e9} = none\n".as_bytes())
            .is_ok());
        for (text, want) in cases {
            let err = Profiles::builtin().add_config(f, text).unwrap_err();
            assert!(err.to_string().starts_with(want), "{err}");
        }
    }
}

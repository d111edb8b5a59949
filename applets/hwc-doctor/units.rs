//! Which names the units have: NixOS's modules make one unit per instance, install.sh ships
//! templates. The checks ask systemd for, and print fixes in, the names of the machine's install,
//! and in its terms: a NixOS option line on NixOS, a command or a file elsewhere.

use hwc_core::root::Root;
use hwc_core::safefs;

/// How the units were installed, which names them: NixOS's modules write one unit per user
/// (`setup-ssh-keys-eric.service`), install.sh ships templates (`setup-ssh-keys@eric.service`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Install {
    NixOs,
    Templates,
}

impl Install {
    /// NixOS by its marker files (what switch-to-configuration itself checks), else install.sh.
    pub fn of(root: &Root) -> Install {
        let os_release = safefs::read_file(&root.path("/etc/os-release"), 64 * 1024)
            .or_else(|_| safefs::read_file(&root.path("/usr/lib/os-release"), 64 * 1024))
            .unwrap_or_default();
        let nixos = String::from_utf8_lossy(&os_release)
            .lines()
            .any(|l| matches!(l.trim(), "ID=nixos" | "ID=\"nixos\""));
        if nixos || safefs::stat(&root.path("/etc/NIXOS")).is_ok() {
            Install::NixOs
        } else {
            Install::Templates
        }
    }

    /// A fix in this machine's terms: `nixos` (the option line to set) on NixOS, `elsewhere` (the
    /// command to run, the file to change) on another distribution, where NixOS's options mean
    /// nothing.
    pub fn fix(self, nixos: impl Into<String>, elsewhere: impl Into<String>) -> String {
        match self {
            Install::NixOs => nixos.into(),
            Install::Templates => elsewhere.into(),
        }
    }

    /// The unit of `template` (`setup-ssh-keys`, `hwc-bridge`) for `instance`, as this install
    /// names it: NixOS's modules as [`escape`] writes the name; install.sh's templates with the
    /// name itself, which they pass on as written (`%i`). `None` for a template and a name it
    /// cannot serve: one a unit name cannot hold as it is (escaped, `%i` would pass on the escape).
    pub fn unit(self, template: &str, instance: &str) -> Option<String> {
        match self {
            Install::NixOs => Some(format!("{template}-{}.service", escape(instance))),
            Install::Templates => (!instance.is_empty() && escape(instance) == instance)
                .then(|| format!("{template}@{instance}.service")),
        }
    }
}

/// A unit, name or path as one word for a shell, in a fix the user pastes: an escaped unit name
/// (`br\x2blab`) or a path with a space is quoted, or the shell would split or unescape it.
pub fn shell_word(word: &str) -> String {
    hwc_core::output::quote(word.as_bytes())
}

/// `text` as part of a unit name, as the NixOS modules write it: what a unit name cannot hold
/// (all but letters, digits, `:`, `_`, `.`, `-`), and a leading `.`, as `\xHH` (`br+lab`:
/// `br\x2blab`).
pub fn escape(text: &str) -> String {
    let mut escaped = String::new();
    for (i, b) in text.bytes().enumerate() {
        if (b.is_ascii_alphanumeric() || b":_.-".contains(&b)) && !(i == 0 && b == b'.') {
            escaped.push(char::from(b));
        } else {
            escaped.push_str(&format!("\\x{b:02x}"));
        }
    }
    escaped
}

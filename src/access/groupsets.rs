//! Group sets a user should be in, from `/etc/hwc/perms.conf` or the defaults, compared with
//! `/etc/group` (`hwc-perms groups`, `hwc-doctor`). Nothing here edits `/etc/group`: on NixOS a
//! declared user's groups come from the configuration and a `usermod` is undone at the next
//! activation, so the fix is printed instead.

use std::path::Path;

use hwc_core::config::Conf;
use hwc_core::error::{Error, Result};
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::users::{Accounts, User};

/// `SET = group group? ...`; a trailing `?` marks a group used only where it exists. The same
/// groups as the NixOS module's sets (install/nix/infrastructure/lib.nix), which creates them all
/// and writes its sets, without `?`, to /etc/hwc/perms.conf.
pub const DEFAULT_CONF: &str = "media = audio video render\n\
hardware = input i2c? gpio? spi? sensors?\n\
development = dialout kvm plugdev?\n\
peripherals = lp? scanner?\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    /// (group, optional)
    pub groups: Vec<(String, bool)>,
}

/// Parses the config format; a bad line names `FILE:LINE`.
pub fn parse_conf(file: &Path, text: &str) -> Result<Vec<Set>> {
    let conf = Conf {
        file,
        format: "SET = group group? ...",
    };
    let mut sets: Vec<Set> = Vec::new();
    for e in conf.entries(text)? {
        let name = e.key;
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(conf.error(e.line, &format!("bad set name '{name}'")));
        }
        let groups: Vec<(String, bool)> = e
            .value
            .split_whitespace()
            .map(|g| match g.strip_suffix('?') {
                Some(g) => (g.to_string(), true),
                None => (g.to_string(), false),
            })
            .collect();
        if groups.iter().any(|(g, _)| g.is_empty()) {
            return Err(conf.error(e.line, "empty group name"));
        }
        match sets.iter_mut().find(|s| s.name == name) {
            Some(s) => s.groups = groups,
            None => sets.push(Set {
                name: name.to_string(),
                groups,
            }),
        }
    }
    Ok(sets)
}

/// The default sets, each replaced or joined by those of `/etc/hwc/perms.conf` under `root`.
pub fn load(root: &Root) -> Result<Vec<Set>> {
    let mut sets = parse_conf(Path::new("defaults"), DEFAULT_CONF)?;
    let conf_path = root.path("/etc/hwc/perms.conf");
    let text = match safefs::read_file_if_exists(&conf_path, safefs::MAX_CONFIG) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(sets),
        Err(e) => return Err(Error::io("reading /etc/hwc/perms.conf", &e)),
    };
    let text = String::from_utf8_lossy(&text);
    for set in parse_conf(Path::new("/etc/hwc/perms.conf"), &text)? {
        match sets.iter_mut().find(|s| s.name == set.name) {
            Some(s) => *s = set,
            None => sets.push(set),
        }
    }
    Ok(sets)
}

/// One set compared with the account database.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub name: String,
    pub has: Vec<String>,
    pub lacks: Vec<String>,
    /// Required groups that do not exist on this system.
    pub absent: Vec<String>,
    /// Optional groups that do not exist (not a problem).
    pub absent_optional: Vec<String>,
}

pub fn compare(set: &Set, acc: &Accounts, user: &User) -> Report {
    let ids = acc.group_ids(user);
    let mut r = Report {
        name: set.name.clone(),
        ..Report::default()
    };
    for (g, optional) in &set.groups {
        match acc.group_by_name(g) {
            Some(group) if ids.contains(&group.gid) => r.has.push(g.clone()),
            Some(_) => r.lacks.push(g.clone()),
            None if *optional => r.absent_optional.push(g.clone()),
            None => r.absent.push(g.clone()),
        }
    }
    r
}

/// The NixOS line and the usermod command that add `groups`.
pub fn fixes(user: &str, groups: &[String]) -> (String, String) {
    let quoted: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
    (
        format!("users.users.{user}.extraGroups = [ {} ];", quoted.join(" ")),
        format!("usermod -aG {} {user}", groups.join(",")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_conf_parses() {
        let sets = parse_conf(Path::new("default"), DEFAULT_CONF).unwrap();
        let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["media", "hardware", "development", "peripherals"]);
        assert_eq!(sets[1].groups[0], ("input".to_string(), false));
        assert_eq!(sets[1].groups[1], ("i2c".to_string(), true));
    }

    #[test]
    fn conf_overrides_and_errors() {
        let sets = parse_conf(
            Path::new("f"),
            "# x\nmedia = audio\nmedia = video render?\ngaming = input\n",
        )
        .unwrap();
        assert_eq!(
            sets[0].groups,
            [("video".to_string(), false), ("render".to_string(), true)]
        );
        assert_eq!(sets[1].name, "gaming");
        assert!(parse_conf(Path::new("f"), "media audio\n")
            .unwrap_err()
            .to_string()
            .starts_with("f:1: no '='"));
        assert!(parse_conf(Path::new("f"), "\nbad name = x\n")
            .unwrap_err()
            .to_string()
            .starts_with("f:2: bad set name"));
    }

    #[test]
    fn compare_sorts_groups() {
        let acc = Accounts::parse(
            b"eric:x:1000:100::/home/eric:/bin/sh\n",
            b"users:x:100:\naudio:x:17:eric\nvideo:x:26:\n",
        );
        let eric = acc.user_by_name("eric").unwrap();
        let set = parse_conf(Path::new("d"), "media = audio video render plugdev?\n")
            .unwrap()
            .remove(0);
        let r = compare(&set, &acc, eric);
        assert_eq!(
            (r.has, r.lacks, r.absent, r.absent_optional),
            (
                vec!["audio".into()],
                vec!["video".into()],
                vec!["render".into()],
                vec!["plugdev".into()]
            )
        );
    }

    #[test]
    fn fix_lines() {
        let (nix, cmd) = fixes("eric", &["video".into(), "render".into()]);
        assert_eq!(
            nix,
            "users.users.eric.extraGroups = [ \"video\" \"render\" ];"
        );
        assert_eq!(cmd, "usermod -aG video,render eric");
    }
}

//! `hwc-perms groups`: the sets of groups a user should be in (`hwc_access::groupsets`), compared with
//! /etc/group, and the fixes to print.

use crate::who::user_of;
use crate::GroupsArgs;
use hwc_access::groupsets as sets;
use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Format, Json, Table};
use hwc_core::root::Root;
use hwc_core::users::Accounts;

pub fn run(a: &GroupsArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    let acc = Accounts::load(&root)?;
    let user = user_of(&acc, a.user.as_deref())?;
    let sets = wanted(sets::load(&root)?, a.want.as_deref())?;
    let report = Gaps::of(
        &user.name,
        sets.iter().map(|s| sets::compare(s, &acc, user)).collect(),
    );
    output::print(Format::of(a.json), &report)?;
    Ok(u8::from(
        !report.lacking.is_empty() || report.sets.iter().any(|r| !r.absent.is_empty()),
    ))
}

/// The sets named by `--want` (all without it); an unknown name is a usage error.
fn wanted(mut sets: Vec<sets::Set>, want: Option<&str>) -> Result<Vec<sets::Set>> {
    let Some(want) = want else { return Ok(sets) };
    let wanted: Vec<&str> = want
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| !sets.iter().any(|s| s.name == **w)) {
        let known: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::usage(format!(
            "--want: no set '{unknown}' (known: {})",
            known.join(", ")
        )));
    }
    sets.retain(|s| wanted.contains(&s.name.as_str()));
    Ok(sets)
}

/// The comparison of every set, the groups lacking in any, and the lines that add them.
struct Gaps {
    user: String,
    sets: Vec<sets::Report>,
    lacking: Vec<String>,
    nixos: String,
    command: String,
}

impl Gaps {
    fn of(user: &str, sets: Vec<sets::Report>) -> Gaps {
        let mut lacking: Vec<String> = Vec::new();
        for g in sets.iter().flat_map(|r| &r.lacks) {
            if !lacking.contains(g) {
                lacking.push(g.clone());
            }
        }
        let (nixos, command) = sets::fixes(user, &lacking);
        Gaps {
            user: user.to_string(),
            sets,
            lacking,
            nixos,
            command,
        }
    }
}

impl output::Report for Gaps {
    fn text(&self) -> String {
        let mut t = Table::new(["SET", "HAS", "LACKS", "NOT ON THIS SYSTEM"]);
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        for r in &self.sets {
            let mut absent = r.absent.clone();
            absent.extend(r.absent_optional.iter().map(|g| format!("{g}?")));
            t.row([r.name.clone(), list(&r.has), list(&r.lacks), list(&absent)]);
        }
        let mut text = format!("user: {}\n{}", self.user, t.render());
        if !self.lacking.is_empty() {
            text.push_str(&format!(
                "missing: {}\nNixOS (configuration.nix): {}\nelsewhere (as root; log in again after): {}\n",
                self.lacking.join(", "),
                self.nixos,
                self.command
            ));
        }
        text
    }

    fn json(&self, j: &mut Json) {
        j.begin_object().key("user").string(&self.user);
        j.key("sets").begin_array();
        for r in &self.sets {
            j.begin_object().key("name").string(&r.name);
            for (key, list) in [
                ("has", &r.has),
                ("lacks", &r.lacks),
                ("absent", &r.absent),
                ("absent_optional", &r.absent_optional),
            ] {
                j.key(key).begin_array();
                for g in list.iter() {
                    j.string(g);
                }
                j.end_array();
            }
            j.end_object();
        }
        j.end_array().key("missing").begin_array();
        for g in &self.lacking {
            j.string(g);
        }
        j.end_array();
        let fix = !self.lacking.is_empty();
        j.key("nixos").opt_string(fix.then_some(&self.nixos));
        j.key("command").opt_string(fix.then_some(&self.command));
        j.end_object();
    }
}

//! What setup-ssh-keys prints: the outcome of a run, or the verdict of `--check`.

use std::path::Path;

use crate::install::Outcome;
use crate::keys;
use crate::sources::Chosen;
use hwc_core::output::{self, Json};

/// What a run did, for [`output::print`].
pub struct Run<'a> {
    pub user: &'a str,
    pub file: &'a Path,
    pub chosen: &'a Chosen,
    pub outcome: &'a Outcome,
    pub warnings: &'a [String],
    pub dry_run: bool,
}

impl Run<'_> {
    fn changed(&self) -> bool {
        !self.outcome.existed || self.outcome.new != self.outcome.old
    }

    /// The file as it would be and the lines that would change. The file holds the user's own
    /// lines: what reaches root's terminal is made printable line by line.
    fn dry_run_text(&self) -> String {
        let printable = |text: &str| -> String {
            text.lines()
                .map(|l| format!("{}\n", output::printable(l)))
                .collect()
        };
        let out = self.outcome;
        let mut text = format!(
            "{}\n",
            output::would(format!("write {}:", self.file.display()))
        );
        text.push_str(&printable(&String::from_utf8_lossy(&out.new)));
        text.push_str(&format!("{}\n", output::would("change these lines:")));
        text.push_str(&printable(&hwc_authorized_keys::diff(&out.old, &out.new)));
        text
    }
}

impl output::Report for Run<'_> {
    fn text(&self) -> String {
        let out = self.outcome;
        let mut text = if self.dry_run {
            self.dry_run_text()
        } else {
            String::new()
        };
        let verb = match (self.dry_run, self.changed()) {
            (_, false) => "unchanged",
            (true, true) => "would change",
            (false, true) if out.created_ssh_dir => "written (created ~/.ssh)",
            (false, true) => "written",
        };
        let from: Vec<&str> = self
            .chosen
            .sources
            .iter()
            .filter(|s| s.keys > 0)
            .map(|s| s.name.as_str())
            .collect();
        text.push_str(&format!(
            "{}: {} key(s) from the {} ({}) in {}: {verb}; {} added, {} removed\n",
            self.user,
            self.chosen.keys.len(),
            self.chosen.from,
            from.join(", "),
            self.file.display(),
            out.added.len(),
            out.removed.len()
        ));
        text
    }

    fn json(&self, j: &mut Json) {
        let (chosen, out) = (self.chosen, self.outcome);
        j.begin_object();
        j.key("user").string(self.user);
        j.key("file").string(self.file.display().to_string());
        j.key("source").string(chosen.from);
        j.key("sources").begin_array();
        for s in &chosen.sources {
            j.begin_object();
            j.key("path").string(&s.name);
            j.key("kind").string(s.kind);
            j.key("status").string(&s.status);
            j.key("keys").number(s.keys as u64);
            j.end_object();
        }
        j.end_array();
        j.key("installed").number(chosen.keys.len() as u64);
        j.key("added").begin_array();
        for a in &out.added {
            j.string(label(a));
        }
        j.end_array().key("removed").begin_array();
        for r in &out.removed {
            j.string(label(r));
        }
        j.end_array().key("rejected").begin_array();
        for r in &chosen.rejected {
            j.begin_object();
            j.key("source").string(&r.source);
            j.key("line").number(r.line as u64);
            j.key("reason").string(&r.reason);
            j.end_object();
        }
        j.end_array();
        j.key("changed").bool(self.changed());
        j.key("written").bool(out.written);
        j.key("dry_run").bool(self.dry_run);
        j.key("warnings").begin_array();
        for w in self.warnings {
            j.string(w);
        }
        j.end_array().end_object();
    }
}

/// A report label for a managed line: the key's label when it parses.
fn label(line: &str) -> String {
    match keys::parse_line(line.as_bytes()) {
        Ok(Some(k)) => k.label(),
        _ => line.to_string(),
    }
}

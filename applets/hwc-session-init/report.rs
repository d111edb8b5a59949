//! What a run reports: its steps, the variables, the secrets linked and the warnings.

use hwc_core::output::{self, Json};

/// What a run did, for the report.
#[derive(Default)]
pub struct Report {
    pub steps: Vec<String>,
    pub warnings: Vec<String>,
    pub exported: Vec<(String, String)>,
    pub secrets: Vec<String>,
}

impl Report {
    pub fn step(&mut self, dry: bool, text: impl Into<String>) {
        let text = text.into();
        self.steps
            .push(if dry { output::would(text) } else { text });
    }
}

/// The report with what the run was asked to do, for [`output::print`].
pub struct Printed<'a> {
    pub report: &'a Report,
    pub stop: bool,
    pub dry_run: bool,
}

impl output::Report for Printed<'_> {
    /// Only a dry run says what it would do; a real run is quiet.
    fn text(&self) -> String {
        if !self.dry_run {
            return String::new();
        }
        let mut text: String = self.report.steps.iter().map(|s| format!("{s}\n")).collect();
        for (k, v) in &self.report.exported {
            text.push_str(&format!("  {}", output::env_line(k, v.as_bytes())));
        }
        text
    }

    fn json(&self, j: &mut Json) {
        let r = self.report;
        j.begin_object();
        j.key("stop").bool(self.stop);
        j.key("dry_run").bool(self.dry_run);
        j.key("steps").begin_array();
        for s in &r.steps {
            j.string(s);
        }
        j.end_array().key("variables").begin_object();
        for (k, v) in &r.exported {
            j.key_text(k).string(v);
        }
        j.end_object().key("secrets").begin_array();
        for s in &r.secrets {
            j.string(s);
        }
        j.end_array().key("warnings").begin_array();
        for w in &r.warnings {
            j.string(w);
        }
        j.end_array().end_object();
    }
}

//! A doctor run as people read it (a table by bucket, the fix under what fails) and as JSON
//! (`checks[]` {bucket, check, status, evidence, fix}).

use hwc_core::output::{self, Json};

use crate::check::{Findings, Status};

pub struct Report<'a> {
    pub findings: &'a Findings,
    /// Whether /etc/hwc/declared.json was there.
    pub declared: bool,
    pub user: Option<&'a str>,
}

impl output::Report for Report<'_> {
    fn text(&self) -> String {
        let mut out = String::new();
        if !self.declared {
            out.push_str(
                "no /etc/hwc/declared.json: checks of what is declared are skipped (see hwc-doctor --help)\n",
            );
        }
        let width = self
            .findings
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        let mut bucket = "";
        for c in &self.findings.checks {
            if c.bucket != bucket {
                bucket = &c.bucket;
                out.push_str(&format!("{bucket}\n"));
            }
            let status = match c.status {
                Status::Fail => "FAIL",
                s => s.as_str(),
            };
            out.push_str(&format!(
                "  {status:<4}  {:<width$}  {}\n",
                c.name,
                output::printable(&c.evidence)
            ));
            if let Some(fix) = c.fix.as_deref().filter(|_| c.status != Status::Ok) {
                out.push_str(&format!(
                    "  {:<4}  {:<width$}  fix: {}\n",
                    "",
                    "",
                    output::printable(fix)
                ));
            }
        }
        let failed = self.findings.failed();
        out.push_str(&if failed == 0 {
            "nothing failed\n".to_string()
        } else {
            format!("{failed} check(s) failed\n")
        });
        out
    }

    fn json(&self, j: &mut Json) {
        j.begin_object();
        j.key("declared").bool(self.declared);
        j.key("user").opt_string(self.user);
        j.key("checks").begin_array();
        for c in &self.findings.checks {
            j.begin_object();
            j.key("bucket").string(&c.bucket);
            j.key("check").string(&c.name);
            j.key("status").string(c.status.as_str());
            j.key("evidence").string(&c.evidence);
            j.key("fix").opt_string(c.fix.as_deref());
            j.end_object();
        }
        j.end_array();
        j.key("failed").number(self.findings.failed() as i64);
        j.end_object();
    }
}

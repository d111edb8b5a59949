//! The node_exporter textfile-collector format: one gauge family per metric with its HELP and
//! TYPE lines, label values escaped, written beside the target and renamed over it, so the
//! collector never reads half a file.

use std::path::Path;

use hwc_core::error::{Error, Result};
use hwc_core::{output, safefs};

use crate::check::{Findings, Status, METRICS};

fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `metric{labels}` as the series is named in the file (no braces without labels).
fn series(metric: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return metric.to_string();
    }
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
        .collect();
    format!("{metric}{{{}}}", labels.join(","))
}

/// The textfile for `findings`. A series written twice would be served once by node_exporter
/// (the other dropped without an error), so samples of one series are merged into their
/// lowest value: a failing check is never hidden behind a passing one of the same name.
pub fn render(findings: &Findings) -> String {
    let mut out = String::new();
    for (metric, help) in METRICS {
        let mut merged: Vec<(String, u64)> = Vec::new();
        let mut put = |name: String, value: u64| match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = (*v).min(value),
            None => merged.push((name, value)),
        };
        if metric == "hwc_check_ok" {
            for c in findings.checks.iter().filter(|c| c.status != Status::Skip) {
                let labels = [("bucket", c.bucket.as_str()), ("check", c.name.as_str())];
                put(series(metric, &labels), u64::from(c.status != Status::Fail));
            }
        }
        for s in findings.samples.iter().filter(|s| s.metric == metric) {
            let labels: Vec<(&str, &str)> =
                s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            put(series(metric, &labels), s.value);
        }
        if merged.is_empty() {
            continue;
        }
        out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
        for (name, value) in merged {
            out.push_str(&format!("{name} {value}\n"));
        }
    }
    out
}

/// Writes `text` to `file` (`-`: standard output) as a file only: never over a device, a link, a
/// FIFO or another user's file, its directory reached with no link on the way
/// ([`safefs::write_output`]). The temporary name (`FILE.tmp.PID`) does not end in `.prom`, so
/// the collector never reads a half-written file.
pub fn write(file: &Path, text: &str) -> Result<()> {
    if file == Path::new("-") {
        return output::emit(text);
    }
    safefs::write_output(file, text.as_bytes(), 0o644)
        .map_err(|why| Error::failed(format!("--prometheus {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_with_help_type_and_escaped_labels() {
        let mut f = Findings::default();
        f.ok("hardware/gpu", "type", "x");
        f.fail("mesh", "bridge br\"0", "gone", "fix");
        f.skip("session/user", "bus", "no session");
        f.sample("hwc_bridge_up", vec![("bridge", "br\"0".into())], 0);
        let text = render(&f);
        assert!(text.starts_with("# HELP hwc_check_ok "), "{text}");
        assert!(text.contains("hwc_check_ok{bucket=\"hardware/gpu\",check=\"type\"} 1\n"));
        assert!(text.contains("hwc_check_ok{bucket=\"mesh\",check=\"bridge br\\\"0\"} 0\n"));
        assert!(!text.contains("bus"), "skipped checks are left out");
        assert!(text.contains("# TYPE hwc_bridge_up gauge\nhwc_bridge_up{bridge=\"br\\\"0\"} 0\n"));
        assert!(!text.contains("hwc_gpu_info"), "no sample, no family");

        // One series per name: a failure is not hidden by a pass of the same check.
        let mut f = Findings::default();
        f.ok("hardware/gpu", "cdi-spec", "a");
        f.fail("hardware/gpu", "cdi-spec", "b", "fix");
        f.sample("hwc_nvidia_versions_match", Vec::new(), 1);
        let text = render(&f);
        assert_eq!(text.matches("check=\"cdi-spec\"").count(), 1, "{text}");
        assert!(text.contains("check=\"cdi-spec\"} 0\n"), "{text}");
        assert!(text.contains("\nhwc_nvidia_versions_match 1\n"), "{text}");
    }
}

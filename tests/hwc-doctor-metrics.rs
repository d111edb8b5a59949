//! `hwc-doctor --prometheus FILE` read by the real readers of node_exporter's textfile format:
//! Prometheus's own linter (`promtool check metrics`) accepts the file, and a real
//! `prometheus-node-exporter` pointed at its directory (textfile collector) serves the hwc_*
//! series on /metrics, parsed without a scrape error. The root is a healthy Optimus laptop
//! (tests/common/doctor_root.rs) with one declared bridge that is not there, so the file holds
//! every family, failed checks (0) beside passed ones (1).

mod common;
#[path = "common/doctor_root.rs"]
mod doctor_root;

use common::fake_sysfs::Tree;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
/// A bridge name no machine running the tests has (the doctor asks this network namespace).
const ABSENT_BRIDGE: &str = "hwcdoc-absent0";

/// The seven families hwc-doctor writes.
const FAMILIES: [&str; 7] = [
    "hwc_check_ok",
    "hwc_gpu_info",
    "hwc_gpu_runtime_suspended",
    "hwc_nvidia_versions_match",
    "hwc_user_missing_groups",
    "hwc_ssh_authorized_keys",
    "hwc_bridge_up",
];

/// Runs the doctor over the fixture, writing `dir/hwc-doctor.prom`; returns its JSON report
/// and the file's text.
fn doctor(dir: &Path) -> (Tree, Value, String) {
    let tree = Tree::fixture("optimus-intel-nvidia");
    doctor_root::populate(tree.path(), &[ABSENT_BRIDGE]);
    let file = dir.join("hwc-doctor.prom");
    let o = Bin::new()
        .cmd("hwc-doctor")
        .arg("--root")
        .arg(tree.path())
        .arg("--prometheus")
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    // Healthy but for the bridge: exactly that check fails, so the status is 1.
    let failed: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| format!("{} {}: {}", c["bucket"], c["check"], c["evidence"]))
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "only the absent bridge fails: {failed:#?}\n{}",
        stderr(&o)
    );
    assert!(failed[0].contains(ABSENT_BRIDGE), "{failed:?}");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    (tree, report, text)
}

/// The sample lines of `metric` in an exposition text.
fn samples<'a>(text: &'a str, metric: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// The value of the one sample of `metric` whose line holds every label of `labels`.
fn value(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    let found: Vec<&str> = samples(text, metric)
        .into_iter()
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .collect();
    assert!(found.len() <= 1, "{metric} {labels:?} twice: {found:?}");
    found
        .first()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

/// What the doctor wrote, checked against the fixture: the GPUs of the fixture, the user's
/// groups and keys, the checks' verdicts.
fn assert_series(text: &str, seen_by: &str) {
    let v = |m: &str, l: &[&str]| {
        value(text, m, l).unwrap_or_else(|| panic!("{seen_by}: no {m} {l:?} in:\n{text}"))
    };
    assert_eq!(
        v(
            "hwc_check_ok",
            &[r#"bucket="hardware/gpu""#, r#"check="type""#]
        ),
        1.0
    );
    assert_eq!(
        v(
            "hwc_check_ok",
            &[r#"bucket="hardware/gpu""#, r#"check="nvidia-versions""#]
        ),
        1.0
    );
    assert_eq!(
        v(
            "hwc_check_ok",
            &[
                r#"bucket="mesh""#,
                &format!(r#"check="bridge:{ABSENT_BRIDGE}""#)
            ]
        ),
        0.0
    );
    for (pci, vendor, device, role) in [
        ("0000:00:02.0", "intel", "9a49", "integrated"),
        ("0000:01:00.0", "nvidia", "2520", "discrete"),
    ] {
        assert_eq!(
            v(
                "hwc_gpu_info",
                &[
                    &format!(r#"pci="{pci}""#),
                    &format!(r#"vendor="{vendor}""#),
                    &format!(r#"device="{device}""#),
                    &format!(r#"role="{role}""#),
                ]
            ),
            1.0,
            "{seen_by}"
        );
    }
    assert_eq!(
        samples(text, "hwc_gpu_info").len(),
        2,
        "{seen_by}: the fixture's two GPUs only"
    );
    assert_eq!(
        v("hwc_gpu_runtime_suspended", &[r#"pci="0000:01:00.0""#]),
        1.0
    );
    assert_eq!(
        v("hwc_gpu_runtime_suspended", &[r#"pci="0000:00:02.0""#]),
        0.0
    );
    assert_eq!(v("hwc_nvidia_versions_match", &[]), 1.0);
    assert_eq!(
        v(
            "hwc_user_missing_groups",
            &[
                &format!(r#"user="{}""#, doctor_root::USER),
                r#"set="media""#
            ]
        ),
        0.0
    );
    assert_eq!(
        v(
            "hwc_ssh_authorized_keys",
            &[&format!(r#"user="{}""#, doctor_root::USER)]
        ),
        doctor_root::KEYS as f64
    );
    assert_eq!(
        v("hwc_bridge_up", &[&format!(r#"bridge="{ABSENT_BRIDGE}""#)]),
        0.0
    );
}

#[test]
fn the_textfile_has_every_family_with_help_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let (_tree, report, text) = doctor(dir.path());
    assert_eq!(report["declared"], true);
    for family in FAMILIES {
        let help = format!("# HELP {family} ");
        let kind = format!("# TYPE {family} gauge\n");
        let at = text
            .find(&help)
            .unwrap_or_else(|| panic!("no HELP for {family}:\n{text}"));
        let after = &text[at..];
        let line_end = after.find('\n').unwrap() + 1;
        assert!(
            after[line_end..].starts_with(&kind),
            "TYPE right after HELP for {family}:\n{text}"
        );
        assert_eq!(text.matches(&help).count(), 1, "one family {family}");
        assert!(!samples(&text, family).is_empty(), "samples of {family}");
    }
    // Nothing but the families, their comments and samples.
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP hwc_")
                || line.starts_with("# TYPE hwc_")
                || FAMILIES.iter().any(|f| !samples(line, f).is_empty()),
            "{line:?}"
        );
    }
    // Skipped checks are left out: the report's every other check is a series.
    let listed = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "skip")
        .count();
    assert_eq!(samples(&text, "hwc_check_ok").len(), listed, "{text}");
    assert_series(&text, "the file");
    // Written whole and renamed into place: no temporary left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["hwc-doctor.prom"]);
}

#[test]
fn promtool_accepts_the_textfile() {
    if !have("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_tree, _, text) = doctor(dir.path());
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics:\n{said}\n{text}");
    assert_eq!(said, "", "no lint problem");
}

/// `promtool check metrics < text`: whether it passed, and what it said.
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

/// node_exporter, ended when the test ends however it ends.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` over HTTP/1.0: the status line and the body, or why not.
fn get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {reply:?}")))?;
    Ok((
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    ))
}

#[test]
fn node_exporter_serves_the_series() {
    if !is_root() {
        skip("node_exporter is run as root, as tests/run runs (it installs it)");
        return;
    }
    if !Path::new(NODE_EXPORTER).is_file() {
        skip(&format!("{NODE_EXPORTER} is not installed (tests/run installs prometheus-node-exporter as root)"));
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (_tree, _, text) = doctor(dir.path());

    // A port taken between free_port and the exporter's bind makes it exit: try another.
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let log = dir.path().join("node-exporter.log");
        let mut exporter = Exporter(
            Command::new(NODE_EXPORTER)
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(["--collector.disable-defaults", "--collector.textfile"])
                .arg(format!(
                    "--collector.textfile.directory={}",
                    dir.path().display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            if let Some(status) = exporter.0.try_wait().unwrap() {
                break Err(format!("exited with {status}"));
            }
            match get(port, "/metrics") {
                Ok(a) => break Ok(a),
                Err(e) if Instant::now() > deadline => break Err(format!("no answer: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let (status, body) = match answer {
            Ok(a) => a,
            Err(why) => {
                last = format!(
                    "{why}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                continue;
            }
        };
        assert!(status.contains(" 200 "), "{status}\n{body}");
        assert_eq!(
            value(&body, "node_textfile_scrape_error", &[]),
            Some(0.0),
            "the collector parsed the file:\n{body}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(body.contains("node_textfile_mtime_seconds{file="), "{body}");
        for family in FAMILIES {
            assert!(
                body.contains(&format!("# TYPE {family} gauge\n")),
                "{family}:\n{body}"
            );
        }
        assert_series(&body, "node_exporter");
        // What it serves is as many series as the file holds, and promtool takes it too.
        for family in FAMILIES {
            assert_eq!(
                samples(&body, family).len(),
                samples(&text, family).len(),
                "{family}"
            );
        }
        if Path::new("/usr/bin/promtool").is_file() {
            let (ok, said) = promtool_check(&body);
            assert!(ok, "promtool on node_exporter's /metrics: {said}");
        }
        drop(exporter);
        eprintln!(
            "node_exporter served the hwc series; the test took {:?}",
            started.elapsed()
        );
        return;
    }
    panic!("node_exporter did not serve /metrics: {last}");
}

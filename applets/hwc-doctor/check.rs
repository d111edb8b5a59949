//! What a doctor run finds: checks (bucket, name, status, evidence, fix) and metric samples.
//! Every check module adds to one [`Findings`]; rendering (table, JSON, Prometheus) reads it.

pub const GPU: &str = "hardware/gpu";
pub const PERMISSIONS: &str = "hardware/permissions";
pub const SERVICES: &str = "session/services";
pub const SESSION: &str = "session/user";
pub const MESH: &str = "mesh";
/// The doctor's own inputs: the declaration and the account files.
pub const DOCTOR: &str = "doctor";

/// Every metric hwc-doctor writes, with its help text, in the order written.
pub const METRICS: [(&str, &str); 9] = [
    ("hwc_check_ok", "1 when the hwc-doctor check passed (ok or warn), 0 when it failed; skipped checks are left out."),
    ("hwc_gpu_info", "A GPU found on the PCI bus (always 1), with its address, vendor, device id, bound driver and role."),
    ("hwc_gpu_runtime_suspended", "1 when the GPU is runtime-suspended (read without waking it)."),
    ("hwc_nvidia_versions_match", "1 when the NVIDIA kernel module and user-space driver (and the CDI spec, when declared) have one version."),
    ("hwc_user_missing_groups", "Groups of a declared set that the user is not in (or that do not exist)."),
    ("hwc_ssh_authorized_keys", "Keys in the block setup-ssh-keys manages in the user's authorized_keys."),
    ("hwc_bridge_up", "1 when a declared bridge exists, is a bridge, is up and holds its declared addresses."),
    ("hwc_network_ok", "1 when every check of a declared container network passed (bridge, overlay, peers, MTU, runtimes)."),
    ("hwc_network_peers", "Forwarding entries toward the declared peers that a network's VXLAN link holds."),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not checked: nothing declared needs it, or what it needs is not there (no session).
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "ok" => Status::Ok,
            "warn" => Status::Warn,
            "fail" => Status::Fail,
            "skip" => Status::Skip,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub bucket: String,
    pub name: String,
    pub status: Status,
    pub evidence: String,
    /// The NixOS option line to set, or the command to run.
    pub fix: Option<String>,
}

/// One sample of a gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: u64,
}

#[derive(Debug, Default)]
pub struct Findings {
    pub checks: Vec<Check>,
    pub samples: Vec<Sample>,
}

impl Findings {
    pub fn add(
        &mut self,
        bucket: &str,
        name: &str,
        status: Status,
        evidence: String,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            bucket: bucket.into(),
            name: name.into(),
            status,
            evidence,
            fix,
        });
    }

    pub fn ok(&mut self, bucket: &str, name: &str, evidence: impl Into<String>) {
        self.add(bucket, name, Status::Ok, evidence.into(), None);
    }

    pub fn warn(
        &mut self,
        bucket: &str,
        name: &str,
        evidence: impl Into<String>,
        fix: Option<String>,
    ) {
        self.add(bucket, name, Status::Warn, evidence.into(), fix);
    }

    pub fn fail(
        &mut self,
        bucket: &str,
        name: &str,
        evidence: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(
            bucket,
            name,
            Status::Fail,
            evidence.into(),
            Some(fix.into()),
        );
    }

    pub fn skip(&mut self, bucket: &str, name: &str, why: impl Into<String>) {
        self.add(bucket, name, Status::Skip, why.into(), None);
    }

    pub fn sample(
        &mut self,
        metric: &'static str,
        labels: Vec<(&'static str, String)>,
        value: u64,
    ) {
        self.samples.push(Sample {
            metric,
            labels,
            value,
        });
    }

    pub fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }
}

/// A check as one line for the pipe from a worker running as the user: fields separated by
/// tabs, with `\`, tab and newline escaped.
pub fn encode(c: &Check) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n")
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\n",
        esc(&c.bucket),
        esc(&c.name),
        c.status.as_str(),
        esc(&c.evidence),
        c.fix.as_deref().map(esc).unwrap_or_default()
    )
}

/// A sample as one line for the same pipe: `S`, the metric, one label and the value.
pub fn encode_sample(s: &Sample) -> String {
    let (key, value) = s.labels.first().cloned().unwrap_or_default();
    format!(
        "S\t{}\t{key}\t{}\t{}\n",
        s.metric,
        value.replace(['\t', '\n'], " "),
        s.value
    )
}

/// The checks and samples a worker wrote with [`encode`] and [`encode_sample`]; a line that
/// does not parse is an error.
pub fn decode_all(text: &str) -> Result<(Vec<Check>, Vec<Sample>), String> {
    let (samples, checks): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.starts_with("S\t"));
    let mut out = Vec::new();
    for line in samples {
        let f: Vec<&str> = line.split('\t').collect();
        let [_, metric, key, value, number] = f[..] else {
            return Err("a worker's sample line is malformed".into());
        };
        let metric = METRICS
            .iter()
            .map(|(m, _)| *m)
            .find(|m| *m == metric)
            .ok_or_else(|| format!("a worker sent an unknown metric {metric}"))?;
        let key = ["user", "bridge", "set", "pci"]
            .into_iter()
            .find(|k| *k == key)
            .ok_or("a worker sent an unknown label")?;
        out.push(Sample {
            metric,
            labels: vec![(key, value.to_string())],
            value: number
                .parse()
                .map_err(|_| "a worker's sample has no number")?,
        });
    }
    Ok((decode(&checks.join("\n"))?, out))
}

/// The checks a worker wrote with [`encode`]; a line that does not parse is an error.
pub fn decode(text: &str) -> Result<Vec<Check>, String> {
    let unesc = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('t') => out.push('\t'),
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [bucket, name, status, evidence, fix] = f[..] else {
                return Err(format!("a worker's line has {} fields", f.len()));
            };
            Ok(Check {
                bucket: unesc(bucket),
                name: unesc(name),
                status: Status::parse(status).ok_or("a worker's line has no status")?,
                evidence: unesc(evidence),
                fix: (!fix.is_empty()).then(|| unesc(fix)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_cross_the_pipe_intact() {
        let c = Check {
            bucket: SESSION.into(),
            name: "bus".into(),
            status: Status::Fail,
            evidence: "a\tb\nc \\ d".into(),
            fix: Some("systemctl --user start x".into()),
        };
        let skip = Check {
            status: Status::Skip,
            fix: None,
            ..c.clone()
        };
        let text = encode(&c) + &encode(&skip);
        assert_eq!(decode(&text).unwrap(), [c, skip]);
        assert!(decode("a\tb\n").is_err());
        assert!(decode("a\tb\tmaybe\td\te\n").is_err());
    }
}

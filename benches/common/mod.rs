//! Whole-process timing for `cargo bench`: each command runs many times, interleaved with the
//! others so drift of the machine's speed hits them alike, and each is reported as its median
//! and as a ratio to the reference measured in the same run. No timed assertions: the figures are
//! for people (and the project's notes), goals are printed beside them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The release binary `cargo bench` built (the bench profile inherits release), staged.
///
/// Every program a bench times is staged: copied by plain read and write, then renamed into
/// place. How a file entered the page cache changes how many page faults its start-up takes
/// (measured here: the same bytes written by `cat` started with 6 fewer faults and 10% faster
/// than written by `cp`), so programs compared with each other must reach the cache alike.
pub fn hwc() -> PathBuf {
    static STAGED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    STAGED
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-staged");
            std::fs::create_dir_all(&dir).unwrap();
            let to = dir.join("hwc");
            stage(Path::new(env!("CARGO_BIN_EXE_hwc")), &to);
            to
        })
        .clone()
}

/// Copies `from` to `to` (mode 0755) by read and write, through a temporary name.
pub fn stage(from: &Path, to: &Path) {
    let tmp = to.with_extension("staging");
    std::fs::write(&tmp, std::fs::read(from).unwrap()).unwrap();
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// Another hwc binary to time beside this build (`HWC_BASELINE=PATH`, e.g. the release binary of
/// an earlier commit), so a change's cost is a ratio measured in the same run.
pub fn baseline() -> Option<String> {
    let path = std::env::var("HWC_BASELINE")
        .ok()
        .filter(|p| !p.is_empty())?;
    assert!(
        std::path::Path::new(&path).is_file(),
        "HWC_BASELINE={path}: no such file"
    );
    Some(path)
}

/// With HWC_BASELINE set: this build and the baseline, each staged (see `hwc`) to
/// `dir/ours/hwc` and `dir/baseline/hwc`.
pub fn staged_with_baseline(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let theirs = baseline()?;
    let put = |name: &str, from: &Path| {
        let to = dir.join(name).join("hwc");
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        stage(from, &to);
        to
    };
    Some((put("ours", &hwc()), put("baseline", theirs.as_ref())))
}

/// Prints this build's median over the baseline's, for the rows at `ours` and `theirs`.
pub fn against_baseline(rows: &[Report], ours: usize, theirs: usize) {
    let ratio = rows[ours].median.as_secs_f64() / rows[theirs].median.as_secs_f64();
    println!(
        "this build / HWC_BASELINE ({}): {ratio:.3}",
        rows[ours].label
    );
}

/// Builds the C reference program `source` with `cc -static -O2` into `dir`; returns its path.
pub fn compile_static(dir: &Path, name: &str, source: &str) -> String {
    compile_c(dir, name, source, "-static")
}

/// Builds `source` with `cc LINKING -O2` (`-static`, `-static-pie`) into `dir`, staged as
/// [`stage`] says; returns its path.
pub fn compile_c(dir: &Path, name: &str, source: &str, linking: &str) -> String {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let status = Command::new("cc")
        .args([linking, "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc (gcc) is needed to build the reference programs");
    assert!(status.success(), "cc {linking} failed for {name}");
    stage(&out.clone(), &out);
    out.to_str().unwrap().to_string()
}

#[derive(Clone)]
pub struct Case {
    pub label: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables taken out of the environment the case inherits.
    pub unset: Vec<String>,
}

impl Case {
    pub fn new(label: &str, argv: &[&str]) -> Case {
        Case {
            label: label.to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            unset: Vec::new(),
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Case {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn env_remove(mut self, name: &str) -> Case {
        self.unset.push(name.to_string());
        self
    }

    /// The whole environment the case's command gets: this process's, less `unset`, plus `env`.
    pub fn environment(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        let mut vars: Vec<_> = std::env::vars_os()
            .filter(|(k, _)| {
                !self.unset.iter().any(|u| k.as_os_str() == u.as_str())
                    && !self.env.iter().any(|(n, _)| k.as_os_str() == n.as_str())
            })
            .collect();
        vars.extend(self.env.iter().map(|(k, v)| (k.into(), v.into())));
        vars
    }

    /// One run, spawn to exit. Every case is started alike, so that the parent's own work is the
    /// same on both sides of a pair: the environment is always handed over whole (std builds
    /// it anew for each spawn of a command whose environment was changed, a cost that would
    /// otherwise fall only on the cases that set a variable).
    fn run_once(&self) -> Duration {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .env_clear()
            .envs(self.environment())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let start = Instant::now();
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("{}: {e}", self.label));
        let took = start.elapsed();
        assert!(status.success(), "{} exited with {status}", self.label);
        took
    }
}

pub struct Report {
    pub label: String,
    pub median: Duration,
    pub ratio: f64,
}

/// Runs every case `runs` times (after `warmup` rounds), in rounds that hold each case once, and
/// prints a table of medians and ratios to the first case (the reference). Returns the rows for
/// goal checks.
///
/// The order within a round is shuffled: a command started right after another is slowed by
/// what the one before left behind (measured here: the same binary 1.5-2% slower in the place
/// right after `ip` than two places later), so a fixed order would charge that to whichever
/// case follows the heaviest.
pub fn compare(title: &str, cases: &[Case], runs: usize, warmup: usize) -> Vec<Report> {
    let runs = runs_wanted(runs);
    for _ in 0..warmup {
        for c in cases {
            c.run_once();
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); cases.len()];
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut draw = Draw::new();
    for _ in 0..runs {
        draw.shuffle(&mut order);
        for &i in &order {
            samples[i].push(cases[i].run_once());
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    let reference = medians[0].as_secs_f64();
    println!("\n{title} ({runs} runs each, interleaved in shuffled order)");
    println!("{:<44} {:>12} {:>10}", "command", "median", "ratio");
    let mut out = Vec::new();
    for (c, m) in cases.iter().zip(&medians) {
        let ratio = m.as_secs_f64() / reference;
        println!(
            "{:<44} {:>9.1} µs {:>9.3}×",
            c.label,
            m.as_secs_f64() * 1e6,
            ratio
        );
        out.push(Report {
            label: c.label.clone(),
            median: *m,
            ratio,
        });
    }
    out
}

/// Two commands timed against each other, pair by pair: A over B.
pub struct Pair<'c> {
    pub label: &'c str,
    pub a: &'c Case,
    pub b: &'c Case,
}

/// What [`compare_pairs`] found for one pair.
pub struct PairReport {
    pub label: String,
    /// The median of the rounds' ratios.
    pub ratio: f64,
    /// Each round's ratio: the median, over its runs, of A's time over B's in the same run.
    pub rounds: Vec<f64>,
    /// A's and B's median times over all runs.
    pub a: Duration,
    pub b: Duration,
}

/// Times each pair's two commands one right after the other (which goes first drawn anew each
/// time), `runs` times a round, the pairs' order shuffled every run; a round's figure for a pair
/// is the median of the run-by-run ratios A/B, and the figure printed is the median of the
/// `rounds` rounds', every round's shown beside it. A ratio taken within a pair cancels the
/// machine's drift, and each command follows the other as often as it precedes it.
pub fn compare_pairs(
    title: &str,
    pairs: &[Pair],
    rounds: usize,
    runs: usize,
    warmup: usize,
) -> Vec<PairReport> {
    let runs = runs_wanted(runs);
    for _ in 0..warmup {
        for p in pairs {
            p.a.run_once();
            p.b.run_once();
        }
    }
    let mut draw = Draw::new();
    let mut round_ratios: Vec<Vec<f64>> = vec![Vec::new(); pairs.len()];
    let mut times: Vec<(Vec<Duration>, Vec<Duration>)> =
        vec![(Vec::new(), Vec::new()); pairs.len()];
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    for _ in 0..rounds {
        let mut ratios: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); pairs.len()];
        for _ in 0..runs {
            draw.shuffle(&mut order);
            for &i in &order {
                let p = &pairs[i];
                let (a, b) = if draw.below(2) == 0 {
                    let a = p.a.run_once();
                    (a, p.b.run_once())
                } else {
                    let b = p.b.run_once();
                    (p.a.run_once(), b)
                };
                ratios[i].push(a.as_secs_f64() / b.as_secs_f64());
                times[i].0.push(a);
                times[i].1.push(b);
            }
        }
        for (i, mut r) in ratios.into_iter().enumerate() {
            r.sort_by(f64::total_cmp);
            round_ratios[i].push(r[r.len() / 2]);
        }
    }
    println!(
        "\n{title} ({rounds} rounds of {runs} pairs each, interleaved; the ratio is the median of \
         the rounds' medians of pair-by-pair ratios)"
    );
    println!(
        "{:<70} {:>10} {:>10} {:>8}   rounds",
        "A over B", "A median", "B median", "A/B"
    );
    let mut out = Vec::new();
    for (p, (mut rounds_of, (mut a, mut b))) in
        pairs.iter().zip(round_ratios.into_iter().zip(times))
    {
        let each: Vec<String> = rounds_of.iter().map(|r| format!("{r:.3}")).collect();
        let shown = each.join(" ");
        rounds_of.sort_by(f64::total_cmp);
        let ratio = rounds_of[rounds_of.len() / 2];
        let (a, b) = (median(&mut a), median(&mut b));
        println!(
            "{:<70} {:>7.1} µs {:>7.1} µs {:>8.3}   {shown}",
            p.label,
            a.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            ratio
        );
        out.push(PairReport {
            label: p.label.to_string(),
            ratio,
            rounds: rounds_of,
            a,
            b,
        });
    }
    out
}

/// Draws for the order of runs: xorshift32 seeded from the clock, enough to spread the places
/// evenly.
struct Draw(u32);

impl Draw {
    fn new() -> Draw {
        Draw(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.subsec_nanos() | 1),
        )
    }

    /// A number below `bound`.
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as usize % bound
    }

    /// Fisher-Yates.
    fn shuffle(&mut self, order: &mut [usize]) {
        for i in (1..order.len()).rev() {
            order.swap(i, self.below(i + 1));
        }
    }
}

/// `HWC_BENCH_RUNS` when set (a quicker or longer look), else `runs`.
fn runs_wanted(runs: usize) -> usize {
    std::env::var("HWC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(runs)
}

pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Prints whether a goal holds; never fails the bench.
pub fn goal(text: &str, holds: bool) {
    println!("goal: {text}: {}", if holds { "met" } else { "NOT met" });
}

/// A network namespace of the bench's own (`ip netns add`), deleted when dropped, a failed
/// assertion included. `None`, with the reason printed, where it cannot be made (not root, no
/// iproute2): the bench then measures nothing.
pub struct BenchNetns(pub String);

impl BenchNetns {
    pub fn new(bench: &str, tag: &str) -> Option<BenchNetns> {
        if !nix::unistd::geteuid().is_root() {
            println!("{bench} bench skipped: creating a network namespace needs root");
            return None;
        }
        let name = format!("hwc-bench-{tag}{}", std::process::id());
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            println!("{bench} bench skipped: 'ip netns add' failed (is iproute2 installed?)");
            return None;
        }
        Some(BenchNetns(name))
    }
}

impl Drop for BenchNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

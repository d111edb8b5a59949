//! Integration-test harness: the built `hwc` is run through its applet names (symlinks in a
//! temporary directory), exactly as users and systemd units call it.

#![allow(dead_code)]

pub mod envfile;
pub mod fake_sysfs;
pub mod faults;
pub mod keys;
pub mod netns;
pub mod sshd;
pub mod systemd_exec;
pub mod systemd_standin;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const APPLETS: [&str; 7] = [
    "gpu-launch",
    "hwc-gpu-detect",
    "hwc-perms",
    "hwc-netlink",
    "setup-ssh-keys",
    "hwc-session-init",
    "hwc-doctor",
];

/// The project's checkout.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// install/install.sh run with `args`.
pub fn install_sh<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new("bash")
        .arg(repo().join("install/install.sh"))
        .args(args)
        .output()
        .unwrap()
}

/// Every file (not directory) under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

pub fn hwc() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hwc"))
}

/// Puts a copy of `from` at `to`, mode 0755, written by `install` in a child process. A file
/// a test writes itself is written through a descriptor that a test in another thread may
/// inherit for an instant, when it forks to run a command, until that child execs; executing
/// the file in that instant fails with ETXTBSY. `install`'s descriptor is its own.
pub fn install_executable(from: &Path, to: &Path) {
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(from)
        .arg(to)
        .status()
        .expect("install (coreutils)");
    assert!(status.success(), "install {} failed", to.display());
}

/// An executable file at `to` holding `contents` (a script), safe to execute at once (see
/// `install_executable`).
pub fn write_executable(to: &Path, contents: &str) {
    let draft = to.with_extension("draft");
    std::fs::write(&draft, contents).expect("write draft");
    install_executable(&draft, to);
    std::fs::remove_file(&draft).expect("remove draft");
}

/// A copy of the built binary at `dir/hwc`, ready to run.
pub fn copy_hwc(dir: &Path) -> PathBuf {
    let to = dir.join("hwc");
    install_executable(&hwc(), &to);
    to
}

/// A directory holding one symlink to the built binary per applet name.
pub struct Bin {
    pub dir: tempfile::TempDir,
}

impl Bin {
    pub fn new() -> Bin {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in APPLETS {
            std::os::unix::fs::symlink(hwc(), dir.path().join(name)).expect("symlink");
        }
        Bin { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command for the applet `name`, run through its symlink.
    pub fn cmd(&self, name: &str) -> Command {
        Command::new(self.path(name))
    }

    pub fn run<I, S>(&self, name: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(name).args(args).output().expect("spawn")
    }
}

pub fn run_hwc<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(hwc()).args(args).output().expect("spawn hwc")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// Asserts an error was reported as exactly one line on stderr.
pub fn assert_one_line_error(o: &Output) {
    let err = stderr(o);
    assert_eq!(
        err.lines().count(),
        1,
        "expected one stderr line, got {err:?}"
    );
    assert!(err.ends_with('\n'));
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Says why a test cannot run here, and counts it (a line in `$HWC_SKIP_LOG`, which tests/run
/// totals): under `CI=true` (where tests/run installs every peer and runs as root) a skip is a
/// failure.
pub fn skip(why: &str) {
    eprintln!("skipped: {why}");
    // tests/run counts them: each skip a line in the file it names.
    if let Some(log) = std::env::var_os("HWC_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let test = std::thread::current().name().unwrap_or("?").to_string();
            let _ = writeln!(f, "{test}: {why}");
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true: a test may not skip ({why})");
    }
}

/// The shared recordings beside the repository, or `None` (with a printed reason) when absent.
pub fn shared_dir(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!("{} is absent", dir.display()));
        None
    }
}

/// A dracut base directory under `dir` for `dracutbasedir`: /usr/lib/dracut linked in, with a
/// `modules.d` of its own holding links to dracut's own modules when `with_modules` (else empty,
/// for a hook alone).
pub fn dracut_base(dir: &Path, with_modules: bool) -> PathBuf {
    let base = dir.join("dracut");
    std::fs::create_dir_all(base.join("modules.d")).unwrap();
    for e in std::fs::read_dir("/usr/lib/dracut").unwrap().flatten() {
        if e.file_name() != "modules.d" {
            std::os::unix::fs::symlink(e.path(), base.join(e.file_name())).unwrap();
        }
    }
    if with_modules {
        for e in std::fs::read_dir("/usr/lib/dracut/modules.d")
            .unwrap()
            .flatten()
        {
            std::os::unix::fs::symlink(e.path(), base.join("modules.d").join(e.file_name()))
                .unwrap();
        }
    }
    base
}

/// Whether a program is on PATH; prints why a test is skipped when not.
pub fn have(program: &str) -> bool {
    let found = on_path(program);
    if !found {
        skip(&format!(
            "{program} is not installed (tests/run installs it as root)"
        ));
    }
    found
}

/// Whether `program` is on PATH, said of nothing (for a test that runs either way).
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Every path the command opened (open, openat, openat2), under strace. With `until_exec`, only
/// those opened before the command exec'd another program. `None` (with a printed reason) when
/// strace is missing.
pub fn strace_opens(cmd: &mut Command, until_exec: bool) -> Option<(Output, Vec<String>)> {
    if !have("strace") {
        return None;
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut traced = Command::new("strace");
    traced
        .args(["-f", "-qq", "-e", "trace=open,openat,openat2,execve", "-o"])
        .arg(log.path())
        .arg("--")
        .arg(program)
        .args(args);
    // The command's environment as it would have it: set and removed variables alike.
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => traced.env(k, v),
            None => traced.env_remove(k),
        };
    }
    let out = traced.output().expect("strace");
    let text = std::fs::read_to_string(log.path()).unwrap();
    let mut paths = Vec::new();
    let mut execs = 0;
    for line in text.lines() {
        if line.contains(" execve(") {
            execs += 1;
            if until_exec && execs > 1 {
                break;
            }
            continue;
        }
        if let Some(start) = line.find('"') {
            if let Some(len) = line[start + 1..].find('"') {
                paths.push(line[start + 1..start + 1 + len].to_string());
            }
        }
    }
    assert!(execs >= 1, "strace saw no execve: {text}");
    Some((out, paths))
}

/// Paths whose opening wakes a runtime-suspended GPU or loads NVML.
pub fn waking_paths(paths: &[String]) -> Vec<&String> {
    paths
        .iter()
        .filter(|p| {
            p.ends_with("/config")
                || (p.contains("/proc/driver/nvidia/") && p.ends_with("/information"))
                || p.starts_with("/dev/")
                || p.contains("/dev/")
                || p.contains("libnvidia-ml")
        })
        .collect()
}

/// Builds the small C program `source` (a test's helper, such as a racing process) with `cc -O2`
/// into `dir`; returns its path.
pub fn compile_c(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write C source");
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc (gcc)");
    assert!(status.success(), "cc failed for {name}");
    out
}

/// A C program that swaps two paths with renameat2(RENAME_EXCHANGE) until it is killed: a
/// directory and a link, so that a path through them leads now to one, now to the other.
pub const SWAPPER_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    for (;;)
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
            perror("renameat2");
            return 1;
        }
}
"#;

/// Puts a FIFO at `path` (its directory made first).
pub fn make_fifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    assert_eq!(
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)),
        Ok(()),
        "mkfifo {}",
        path.display()
    );
}

/// Runs `cmd`, failing the test if it takes longer than `limit` (a read that blocks forever).
/// Its pipes are read while it runs, so a command that writes more than a pipe holds is not
/// taken for one that hangs.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = nix::unistd::Pid::from_raw(child.id() as libc::pid_t);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // Not reaped yet (the waiting thread has not returned), so the pid is still its own.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("{cmd:?} still ran after {limit:?}");
        }
    }
}

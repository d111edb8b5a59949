//! A fault-injection sweep: strace injects EIO at the Nth call of each kind of system call a
//! command makes (its children included), for every N the run reaches, and a check judges what
//! each faulty run left behind.

use std::path::Path;
use std::process::{Command, Output};

/// The system calls of hwc's write paths: reaching, looking at, reading and writing files,
/// replacing them, their modes, directories made and listed, locks, and dropping to a user.
pub const WRITE_PATH_CALLS: [&str; 20] = [
    "openat",
    "read",
    "write",
    "fsync",
    "rename",
    "renameat",
    "renameat2",
    "fchmod",
    "fchmodat",
    "chmod",
    "unlinkat",
    "mkdirat",
    "mkdir",
    "flock",
    "fcntl",
    "close",
    "getdents64",
    "statx",
    "newfstatat",
    "setresuid",
];

/// For each call in `calls` and each N from 1 until a run no longer reaches the Nth call (at
/// most `max_n`): `reset`, then run `command()` under strace with EIO injected at that call, and
/// `check(call, n, &output)`. Returns (faults injected, runs).
pub fn sweep(
    trace: &Path,
    calls: &[&str],
    max_n: u32,
    mut reset: impl FnMut(),
    command: impl Fn() -> Command,
    mut check: impl FnMut(&str, u32, &Output),
) -> (u32, u32) {
    let (mut injected, mut runs) = (0, 0);
    for call in calls {
        for n in 1..=max_n {
            reset();
            let target = command();
            let mut cmd = Command::new("strace");
            cmd.args(["-f", "-qq", "-o"])
                .arg(trace)
                .args(["-e", &format!("trace={call}")])
                .args(["-e", &format!("inject={call}:error=EIO:when={n}")])
                .arg(target.get_program())
                .args(target.get_args());
            for (k, v) in target.get_envs() {
                match v {
                    Some(v) => cmd.env(k, v),
                    None => cmd.env_remove(k),
                };
            }
            let o = cmd.output().unwrap();
            runs += 1;
            let hit = std::fs::read_to_string(trace)
                .unwrap_or_default()
                .contains("(INJECTED)");
            if !hit {
                break;
            }
            injected += 1;
            check(call, n, &o);
        }
    }
    (injected, runs)
}

/// What every sweep holds of the file `file` a faulty run left (`at` names the fault): its mode
/// is `mode`, nothing else lies beside it (no temporary file), and a run that `kept_old` says it
/// failed (exits non-zero).
pub fn assert_left_clean(file: &Path, mode: u32, kept_old: bool, o: &Output, at: &str) {
    use std::os::unix::fs::PermissionsExt;
    let got = std::fs::metadata(file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(got, mode, "{at}: mode");
    let name = file.file_name().unwrap();
    let left: Vec<String> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != name)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{at}: left {left:?}");
    if kept_old {
        assert_ne!(
            super::code(o),
            0,
            "{at}: old file, yet exit 0: {}",
            super::stderr(o)
        );
    }
}

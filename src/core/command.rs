//! Running another program (nvidia-smi, sshd -G) with a deadline, as hwc-sys runs any child:
//! its output read while it runs, bounded, and a program that hangs killed.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

pub use hwc_sys::process::Ended;

/// The most of a program's output kept: the programs hwc asks answer in a few lines.
const MAX_OUTPUT: usize = 64 * 1024;

/// What a program that ended in time wrote to stdout, and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub ended: Ended,
    pub stdout: Vec<u8>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.ended == Ended::Exited(0)
    }

    /// How it ended, in words: `exit status 3`, `killed by SIGSEGV`.
    pub fn status_text(&self) -> String {
        match self.ended {
            Ended::Exited(code) => format!("exit status {code}"),
            Ended::Signaled(signal) => format!("killed by {signal}"),
            Ended::TimedOut => "killed at its deadline".into(),
        }
    }
}

/// Runs `program` (a path, not looked up in PATH) with `args`, stdin from /dev/null and stderr
/// discarded, its stdout captured; `Ok(None)` when it was still running after `limit` (it is
/// then killed). Output that could not be read whole (a failed read, more than 64 KiB) is an
/// error, never taken for the answer. Needs a single-threaded process, as every fork of hwc's
/// does.
pub fn output_within(
    program: &Path,
    args: &[&OsStr],
    limit: Duration,
) -> io::Result<Option<Finished>> {
    let c = |s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let path = c(program.as_os_str())?;
    let mut argv = vec![path.clone()];
    for a in args {
        argv.push(c(a)?);
    }
    let o = hwc_sys::process::run_program(&path, &argv, limit, MAX_OUTPUT)?;
    if let Some(why) = o.read_error {
        return Err(io::Error::other(format!("reading its output: {why}")));
    }
    if o.cut {
        return Err(io::Error::other(format!(
            "it wrote more than {MAX_OUTPUT} bytes; the rest was not read"
        )));
    }
    Ok((o.ended != Ended::TimedOut).then_some(Finished {
        ended: o.ended,
        stdout: o.output,
    }))
}

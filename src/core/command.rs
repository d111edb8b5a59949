//! Running another program (nvidia-smi, sshd -G) with a deadline, through hwc-sys's one wait with
//! a deadline: its output is read while it runs, bounded, and a program that hangs is killed.

use std::io;
use std::process::Command;
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

/// Runs `cmd` with stdin closed and stderr discarded, its stdout captured; `Ok(None)` when it was
/// still running after `limit` (it is then killed).
pub fn output_within(cmd: &mut Command, limit: Duration) -> io::Result<Option<Finished>> {
    let o = hwc_sys::process::run_program(cmd, limit, MAX_OUTPUT)?;
    Ok((o.ended != Ended::TimedOut).then_some(Finished {
        ended: o.ended,
        stdout: o.output,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_or_is_ended() {
        let o = output_within(
            Command::new("sh").args(["-c", "echo hi"]),
            Duration::from_secs(5),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.stdout, b"hi\n");
        assert!(o.success());
        let o = output_within(
            Command::new("sh").args(["-c", "exit 3"]),
            Duration::from_secs(5),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.status_text(), "exit status 3");
        let start = std::time::Instant::now();
        let o = output_within(Command::new("sleep").arg("10"), Duration::from_millis(200)).unwrap();
        assert!(o.is_none());
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}

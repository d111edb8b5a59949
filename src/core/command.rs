//! Running another program (nvidia-smi, sshd -G) with a deadline: its output is a few lines, so
//! it is read once the program has ended, and a program that hangs is killed.

use std::io;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` with stdin closed, stdout and stderr captured; `Ok(None)` when it was still running
/// after `limit` (it is then killed). Only for programs whose output fits in a pipe's buffer.
pub fn output_within(cmd: &mut Command, limit: Duration) -> io::Result<Option<Output>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return child.wait_with_output().map(Some);
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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
        let start = Instant::now();
        let o = output_within(Command::new("sleep").arg("10"), Duration::from_millis(200)).unwrap();
        assert!(o.is_none());
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}

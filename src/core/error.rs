//! The one error type every applet returns, and the exit statuses of DESIGN.md.
//!
//! An error is printed by the dispatcher as one line, `APPLET: message`, so a message names what
//! failed and why (path, field or line included) and never ends with a newline.

use std::fmt;
use std::io;

/// The operation failed, or a check found a problem.
pub const FAILURE: u8 = 1;
/// The command line was wrong.
pub const USAGE: u8 = 2;
/// gpu-launch: the program was found but cannot be executed (like a shell).
pub const CANNOT_EXECUTE: u8 = 126;
/// gpu-launch: the program was not found; the dispatcher: no such applet.
pub const NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub struct Error {
    status: u8,
    /// Empty for a quiet exit (help already printed, broken pipe).
    message: String,
    hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: u8, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
            hint: None,
        }
    }

    /// Status 1: the operation failed.
    pub fn failed(message: impl Into<String>) -> Error {
        Error::new(FAILURE, message)
    }

    /// Status 2: a usage error.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(USAGE, message)
    }

    /// End with `status` and print nothing more: help that was already printed, a reader that
    /// closed our stdout.
    pub fn quiet(status: u8) -> Error {
        Error::new(status, String::new())
    }

    /// `what: why` for an I/O error.
    pub fn io(what: impl fmt::Display, err: &io::Error) -> Error {
        Error::failed(format!("{what}: {}", describe_io(err)))
    }

    /// An error writing standard output: a reader that closed the pipe (`| head -1`) ends the
    /// output, a quiet success; anything else is an error. Only for standard output: a broken
    /// pipe or socket elsewhere is a failure like any other.
    pub fn stdout(err: &io::Error) -> Error {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Error::quiet(0);
        }
        Error::io("writing to standard output", err)
    }

    /// Adds an obvious fix, printed after the message on the same line.
    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    pub fn status(&self) -> u8 {
        self.status
    }

    pub fn is_quiet(&self) -> bool {
        self.message.is_empty()
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// The reason of an I/O error without Rust's "(os error N)" suffix: the strerror text users
/// know from other tools ("No such file or directory").
pub fn describe_io(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// Attaches what was being done to a fallible I/O result.
pub trait Context<T> {
    fn context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|err| Error::io(what(), &err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_one_line_with_hint() {
        let e = Error::failed("opening /x: Permission denied").hint("run as root");
        assert_eq!(e.to_string(), "opening /x: Permission denied (run as root)");
        assert_eq!(e.status(), FAILURE);
    }

    #[test]
    fn io_error_drops_os_error_suffix() {
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        let e = Error::io("reading /etc/passwd", &err);
        assert_eq!(
            e.to_string(),
            "reading /etc/passwd: No such file or directory"
        );
    }

    #[test]
    fn broken_pipe_is_quiet_success_on_stdout_only() {
        let err = io::Error::from(io::ErrorKind::BrokenPipe);
        let e = Error::stdout(&err);
        assert!(e.is_quiet());
        assert_eq!(e.status(), 0);
        // Elsewhere (a socket, a FUSE file) a broken pipe is a failure.
        let e = Error::io("writing to the bus", &err);
        assert!(!e.is_quiet());
        assert_eq!(e.status(), 1);
    }

    #[test]
    fn context_wraps_io_result() {
        let r: io::Result<()> = Err(io::Error::from_raw_os_error(libc::EACCES));
        let e = r.context(|| "opening /dev/kfd").unwrap_err();
        assert_eq!(e.to_string(), "opening /dev/kfd: Permission denied");
    }
}

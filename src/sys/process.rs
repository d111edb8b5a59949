//! Processes: `fork` and the one safe way hwc uses it, a child with a deadline
//! ([`run_in_child`]), which also runs other programs ([`run_program`]).

use std::ffi::{CStr, CString};
use std::io::{self, Read};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

/// Forks.
///
/// # Safety
///
/// The process must have a single thread. The child is a copy holding only the calling thread:
/// whatever another thread held at the fork (a lock of the allocator, of stdout, of the
/// environment) stays held in the child forever, and the child may then deadlock or corrupt
/// memory at its next allocation or print. [`run_in_child`] checks this before it forks.
pub unsafe fn fork() -> io::Result<ForkResult> {
    // SAFETY: the caller guarantees the process is single-threaded (this function's contract).
    unsafe { nix::unistd::fork() }.map_err(io::Error::from)
}

/// Ends the process at once with `status`: no exit handlers, no flushing of buffers the parent
/// also holds (what a forked child must do).
pub fn exit_now(status: u8) -> ! {
    // SAFETY: _exit only ends the process; it runs no Rust or C exit-time code that could touch
    // state shared with the parent.
    unsafe { libc::_exit(i32::from(status)) }
}

/// How many threads this process has, from `/proc/self/stat` (field 20).
pub fn thread_count() -> io::Result<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // "pid (comm) state ppid ...": the comm may hold spaces and parentheses; fields follow the
    // last ')'.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("unreadable /proc/self/stat"))?;
    after
        .split_whitespace()
        .nth(17)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("unreadable /proc/self/stat"))
}

/// A descriptor that becomes readable when the child `pid` exits (`pidfd_open`, Linux 5.3), so
/// a wait can have a deadline without polling. nix does not wrap it.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Makes a write to a closed pipe fail with EPIPE instead of killing the process, so an applet
/// whose reader went away (`hwc-gpu-detect | head -1`) can end quietly with status 0.
pub fn ignore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: SIG_IGN installs no handler code, so nothing can run at signal time; the old
    // disposition is not needed.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Gives SIGPIPE back its default action (end the process), for a program about to be run: it
/// must not inherit hwc's ignoring it, or one whose reader went away writes on, failing, until
/// its deadline. (std's Command did the same in its child.)
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: SIG_DFL installs no handler code, so nothing can run at signal time; the old
    // disposition is not needed.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Opens `/dev/null` on any of fds 0, 1, 2 that is closed, so a file hwc opens later can never
/// become its stdout (what Rust's runtime does before `main`; hwc enters through C `main`).
/// Raw descriptors that may be closed cannot be borrowed safely, hence here.
pub fn ensure_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd structs for the duration of the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        let flags = if pfd.fd == 0 {
            libc::O_RDONLY
        } else {
            libc::O_RDWR
        };
        // SAFETY: the path is a NUL-terminated literal. The lowest free descriptor is the closed
        // one being filled, so the new fd lands on it; it is intentionally kept open.
        if unsafe { libc::open(c"/dev/null".as_ptr(), flags) } < 0 {
            // Without a safe stdio there is nothing reliable left to report to.
            std::process::abort();
        }
    }
}

/// Replaces the process with `file` (searched in PATH when it holds no `/`, as `execvp` does; a
/// file without `#!` runs under /bin/sh), with `argv` and this process's environment followed by
/// `added` (`NAME=value`), which the caller has checked the environment does not hold already.
/// The environment's strings go to the kernel where they are, not copied (std's `vars_os` would
/// copy each twice on the way to exec), entries without `=` included. Returns only the error.
///
/// # Preconditions
/// Nothing in the process may change the environment, now or on another thread: the array and
/// its strings are read in place. The workspace holds to it (clippy refuses std's `set_var` and
/// `remove_var`, and libc's `setenv`, `putenv`, `unsetenv` and `clearenv`, in every crate), and
/// gpu-launch, its one caller, runs no other thread.
pub fn exec_with_env(file: &CStr, argv: &[CString], added: &[CString]) -> io::Error {
    let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(64 + added.len());
    // SAFETY: `environ` is the process's environment: a NULL-terminated array of NUL-terminated
    // strings that glibc set up before main. hwc never changes its environment: std::env::set_var
    // and remove_var are refused by clippy in every crate (.cargo/clippy.toml; tests/walls proves
    // it), and no code here calls setenv, putenv or unsetenv. So nothing changes the array or its
    // strings while it is read, and the pointers stay valid until the exec replaces the process.
    unsafe {
        let mut entry = libc::environ.cast_const();
        while !entry.is_null() && !(*entry).is_null() {
            envp.push((*entry).cast_const());
            entry = entry.add(1);
        }
    }
    envp.extend(added.iter().map(|a| a.as_ptr()));
    envp.push(std::ptr::null());
    let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    args.push(std::ptr::null());
    // SAFETY: `file` is NUL-terminated; `args` and `envp` are NULL-terminated arrays of pointers
    // to NUL-terminated strings (`argv`, `added` and the environment's), all alive for the call.
    // execvpe returns only on failure.
    unsafe { libc::execvpe(file.as_ptr(), args.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(u8),
    Signaled(Signal),
    /// Still running at the deadline (stopped, or blocked): it was killed.
    TimedOut,
}

/// What a child ended as, and what it wrote to the pipe it was given.
#[derive(Debug)]
pub struct Outcome {
    pub ended: Ended,
    pub output: Vec<u8>,
    /// Reading the pipe failed (not its end): `output` may lack what the child wrote after.
    pub read_error: Option<String>,
    /// The child wrote more than the most asked for: `output` holds that much, the rest was
    /// not read.
    pub cut: bool,
}

/// Runs `work` in a forked child and waits for it at most `limit`. `work` gets the writing end
/// of a pipe (what it writes there, up to `max_output` bytes, comes back in the [`Outcome`]) and
/// returns the child's exit status; the child then ends with `_exit`. A child still there at the
/// deadline (a user may stop their own process, or leave it blocked on a FUSE mount) is killed
/// with SIGKILL, which also ends a stopped process, and collected. Refuses to fork unless the
/// process has a single thread, [`fork`]'s precondition.
pub fn run_in_child(
    limit: Duration,
    max_output: usize,
    work: impl FnOnce(std::fs::File) -> u8,
) -> io::Result<Outcome> {
    let threads = thread_count().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot tell that this process has one thread before forking: {e}"),
        )
    })?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "this process has {threads} threads; refusing to fork"
        )));
    }
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let deadline = Instant::now() + limit;
    // SAFETY: the process was found to have one thread just above, and hwc starts none.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read_end);
            let status = work(std::fs::File::from(write_end));
            let _ = std::io::stdout().flush();
            exit_now(status)
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            wait_for(child, read_end, deadline, max_output)
        }
    }
}

/// Runs the program at `path` with `argv` (its name first) as [`run_in_child`] runs its work:
/// the child points stdin and stderr at /dev/null and stdout at the pipe, SIGPIPE at its default,
/// then execs. What the
/// program writes to stdout (up to `max_output` bytes) comes back; one still running at the
/// deadline is killed and collected. An exec that fails ends the child with 127, as a shell's.
pub fn run_program(
    path: &CStr,
    argv: &[CString],
    limit: Duration,
    max_output: usize,
) -> io::Result<Outcome> {
    run_in_child(limit, max_output, |out| {
        let null = nix::fcntl::open(
            c"/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        );
        let ready = null.is_ok_and(|null| {
            nix::unistd::dup2_stdin(&null).is_ok()
                && nix::unistd::dup2_stdout(&out).is_ok()
                && nix::unistd::dup2_stderr(&null).is_ok()
        });
        if ready {
            default_sigpipe();
            let _ = nix::unistd::execv(path, argv);
        }
        127
    })
}

/// The parent's side of [`run_in_child`] and [`run_program`]: reads the child's pipe and waits for it to end, both
/// bounded by `deadline`.
fn wait_for(
    child: Pid,
    pipe: OwnedFd,
    deadline: Instant,
    max_output: usize,
) -> io::Result<Outcome> {
    let mut read_error = None;
    let result = watch(child, pipe, deadline, max_output, &mut read_error);
    if result.is_err() {
        // An error waiting is no reason to leave the child running: it could finish its work
        // after the caller said it failed. Collected only once killed: a kill refused (no
        // CAP_KILL) must not turn into waiting for a stopped child for ever.
        if kill(child, Signal::SIGKILL).is_ok() {
            let _ = reap(child);
        }
    }
    let (ended, mut output) = result?;
    let cut = output.len() > max_output;
    output.truncate(max_output);
    Ok(Outcome {
        ended,
        output,
        read_error,
        cut,
    })
}

/// Collects `child`, retrying on EINTR.
fn reap(child: Pid) -> nix::Result<WaitStatus> {
    loop {
        match waitpid(child, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// Reads the child's pipe and waits for it to end, both bounded by `deadline`.
fn watch(
    child: Pid,
    pipe: OwnedFd,
    deadline: Instant,
    max_output: usize,
    read_error: &mut Option<String>,
) -> io::Result<(Ended, Vec<u8>)> {
    let pidfd = pidfd_open(child).ok();
    let mut pipe = Some(std::fs::File::from(pipe));
    let mut output = Vec::new();
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                drain(&mut pipe, &mut output, max_output, read_error);
                return Ok((Ended::Exited(code as u8), output));
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                drain(&mut pipe, &mut output, max_output, read_error);
                return Ok((Ended::Signaled(signal), output));
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // Killing another user's process takes CAP_KILL: without it, say so, never wait.
            kill(child, Signal::SIGKILL)?;
            reap(child)?;
            return Ok((Ended::TimedOut, output));
        }
        let ms = u16::try_from(left.as_millis().clamp(1, 5_000)).unwrap_or(5_000);
        let ms = if pidfd.is_some() { ms } else { ms.min(5) };
        let mut fds = Vec::with_capacity(2);
        if let Some(p) = &pipe {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        if let Some(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let pipe_ready = pipe.is_some() && fds[0].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        if pipe_ready {
            read_some(&mut pipe, &mut output, max_output, read_error);
        }
    }
}

/// Reads what the pipe holds now; at its end (or past `max`) the pipe is closed, so a child
/// that writes more blocks, and its deadline ends it. A failed read (not EINTR) closes it too,
/// and is recorded: what came before is all there is.
fn read_some(
    pipe: &mut Option<std::fs::File>,
    output: &mut Vec<u8>,
    max: usize,
    read_error: &mut Option<String>,
) {
    let Some(p) = pipe else { return };
    let mut chunk = [0u8; 4096];
    match p.read(&mut chunk) {
        Ok(0) => *pipe = None,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => {
            *read_error = Some(e.to_string());
            *pipe = None;
        }
        Ok(n) => {
            output.extend_from_slice(&chunk[..n]);
            if output.len() > max {
                // Cut to `max` by the caller, which says it was cut.
                *pipe = None;
            }
        }
    }
}

/// After the child ended: what is left in the pipe (the child's own copy is closed, so this
/// ends; a grandchild holding it open cannot hold this up: reads stop once nothing is ready).
fn drain(
    pipe: &mut Option<std::fs::File>,
    output: &mut Vec<u8>,
    max: usize,
    read_error: &mut Option<String>,
) {
    while let Some(p) = pipe {
        let mut fds = [PollFd::new(p.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) if n > 0 => read_some(pipe, output, max, read_error),
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // run_in_child refuses to fork here: the test harness runs threads. The integration tests
    // exercise it through the binary (a stopped worker killed at its deadline, NVML in a child,
    // nvidia-smi and sshd -G run as programs).
    #[test]
    fn a_failed_read_is_recorded_not_taken_as_the_end() {
        // Reading a directory fails (EISDIR): as a read error on the pipe would.
        let mut pipe = Some(std::fs::File::open("/").unwrap());
        let (mut out, mut err) = (Vec::new(), None);
        read_some(&mut pipe, &mut out, 100, &mut err);
        assert!(pipe.is_none());
        assert!(err.is_some_and(|e| e.contains("directory")));
    }

    #[test]
    fn forking_a_threaded_process_is_refused() {
        let _other = std::thread::spawn(|| std::thread::sleep(Duration::from_millis(500)));
        assert!(thread_count().unwrap() > 1);
        let e = run_in_child(Duration::from_secs(1), 0, |_| 0).unwrap_err();
        assert!(e.to_string().contains("threads; refusing to fork"), "{e}");
    }
}

//! `--root DIR`: every system path an applet reads (`/sys`, `/proc`, `/dev`, `/etc`, `/run`, home
//! directories) goes through [`Root`], so tests and fixtures see exactly what the code reads.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The directory that stands for `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Without a trailing slash; empty for the real `/`.
    prefix: Vec<u8>,
}

impl Default for Root {
    fn default() -> Self {
        Root::system()
    }
}

impl Root {
    /// The running system: paths map to themselves.
    pub fn system() -> Root {
        Root { prefix: Vec::new() }
    }

    /// `dir` stands for `/`. A relative `dir` stays relative (to the working directory).
    pub fn new(dir: impl AsRef<Path>) -> Root {
        let mut prefix = dir.as_ref().as_os_str().as_bytes().to_vec();
        while prefix.last() == Some(&b'/') {
            prefix.pop();
        }
        Root { prefix }
    }

    /// `None` (no `--root` given) is the running system.
    pub fn from_option(dir: Option<&Path>) -> Root {
        dir.map_or_else(Root::system, Root::new)
    }

    pub fn is_system(&self) -> bool {
        self.prefix.is_empty()
    }

    /// The path under the root for an absolute system path (`/etc/passwd`).
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref().as_os_str().as_bytes();
        let mut out = Vec::with_capacity(self.prefix.len() + abs.len() + 1);
        out.extend_from_slice(&self.prefix);
        if !abs.starts_with(b"/") {
            out.push(b'/');
        }
        out.extend_from_slice(abs);
        if out.is_empty() {
            out.push(b'/');
        }
        PathBuf::from(OsStr::from_bytes(&out))
    }

    /// Like [`Root::path`], into a stack buffer: no heap allocation on hot paths.
    pub fn stack_path(&self, abs: &[u8]) -> StackPath {
        let mut p = StackPath::new();
        p.push_raw(&self.prefix);
        if !abs.starts_with(b"/") {
            p.push_raw(b"/");
        }
        p.push_raw(abs);
        p
    }

    /// The system path a path under the root stands for, for messages ("/sys/..." rather than
    /// "fixture/tree/sys/...").
    pub fn display<'a>(&self, under: &'a Path) -> &'a Path {
        under
            .as_os_str()
            .as_bytes()
            .strip_prefix(self.prefix.as_slice())
            .filter(|rest| rest.starts_with(b"/"))
            .map_or(under, |rest| Path::new(OsStr::from_bytes(rest)))
    }
}

/// Longest path a [`StackPath`] holds, the kernel's PATH_MAX.
const STACK_PATH_MAX: usize = 4096;

/// What a [`StackPath`] holds on the stack; a longer path moves to the heap. Every path a hot
/// path builds fits (a fixture's root and a sysfs path are well under it), and a small buffer
/// keeps the stack shallow: each new stack page is a page fault, measured at 0.6% of a launch
/// with 4 KiB buffers.
const STACK_PATH_INLINE: usize = 512;

/// A NUL-terminated path, on the stack up to 512 bytes, on the heap beyond, at most PATH_MAX. Too
/// long a path poisons the value: every use of it then fails like a missing file instead of
/// reading a truncated path.
#[derive(Clone)]
pub struct StackPath {
    buf: [u8; STACK_PATH_INLINE],
    /// The whole path with its NUL once it has outgrown `buf`.
    long: Option<Vec<u8>>,
    len: usize,
    overflow: bool,
}

impl Default for StackPath {
    fn default() -> Self {
        StackPath::new()
    }
}

impl StackPath {
    pub fn new() -> StackPath {
        StackPath {
            buf: [0; STACK_PATH_INLINE],
            long: None,
            len: 0,
            overflow: false,
        }
    }

    fn push_raw(&mut self, bytes: &[u8]) {
        // A NUL inside a path would cut it short at the syscall; treat like overflow.
        let end = self.len + bytes.len();
        if end >= STACK_PATH_MAX || bytes.contains(&0) {
            self.overflow = true;
            return;
        }
        if self.long.is_none() && end >= STACK_PATH_INLINE {
            self.long = Some(self.buf[..self.len].to_vec());
        }
        match &mut self.long {
            Some(long) => {
                long.truncate(self.len);
                long.extend_from_slice(bytes);
                long.push(0);
            }
            None => {
                self.buf[self.len..end].copy_from_slice(bytes);
                self.buf[end] = 0;
            }
        }
        self.len = end;
    }

    /// The path and its NUL.
    fn with_nul(&self) -> &[u8] {
        match &self.long {
            Some(long) => &long[..=self.len],
            None => &self.buf[..=self.len],
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.with_nul()[..self.len]
    }

    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(self.as_bytes()))
    }

    /// `None` when the path did not fit or held a NUL.
    pub fn as_cstr(&self) -> Option<&CStr> {
        if self.overflow {
            return None;
        }
        CStr::from_bytes_with_nul(self.with_nul()).ok()
    }
}

impl std::fmt::Debug for StackPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_root_maps_to_itself() {
        let r = Root::system();
        assert_eq!(r.path("/etc/passwd"), Path::new("/etc/passwd"));
        assert_eq!(r.stack_path(b"/sys/bus").as_bytes(), b"/sys/bus");
        assert!(r.is_system());
    }

    #[test]
    fn root_prefixes_and_drops_trailing_slash() {
        let r = Root::new("/tmp/fx/");
        assert_eq!(r.path("/etc/group"), Path::new("/tmp/fx/etc/group"));
        assert_eq!(r.path("etc/group"), Path::new("/tmp/fx/etc/group"));
        assert_eq!(
            r.stack_path(b"/sys/module/nvidia/version").as_bytes(),
            b"/tmp/fx/sys/module/nvidia/version"
        );
        assert_eq!(Root::new("/").path("/x"), Path::new("/x"));
    }

    #[test]
    fn display_strips_the_root() {
        let r = Root::new("/tmp/fx");
        assert_eq!(
            r.display(Path::new("/tmp/fx/etc/passwd")),
            Path::new("/etc/passwd")
        );
        assert_eq!(r.display(Path::new("/tmp/fxy/a")), Path::new("/tmp/fxy/a"));
    }

    #[test]
    fn long_paths_move_to_the_heap_whole() {
        let long = format!("/{}", "d/".repeat(1500));
        let r = Root::new(format!("/tmp/{}", "r".repeat(600)));
        let p = r.stack_path(long.as_bytes());
        let want = format!("/tmp/{}{long}", "r".repeat(600));
        assert_eq!(p.as_bytes(), want.as_bytes());
        assert_eq!(p.as_cstr().unwrap().to_bytes(), want.as_bytes());
        let mut q = StackPath::new();
        q.push_raw(&[b'a'; STACK_PATH_INLINE - 1]);
        q.push_raw(b"/b");
        assert_eq!(q.as_bytes().len(), STACK_PATH_INLINE + 1);
        assert!(q.as_cstr().unwrap().to_bytes().ends_with(b"a/b"));
        let short = Root::system().stack_path(b"/sys");
        assert_eq!(short.as_cstr().unwrap(), c"/sys");
    }

    #[test]
    fn stack_path_overflow_and_nul_poison() {
        let mut p = StackPath::new();
        p.push_raw(&[b'a'; STACK_PATH_MAX]);
        assert!(p.as_cstr().is_none());
        let mut q = StackPath::new();
        q.push_raw(b"a\0b");
        assert!(q.as_cstr().is_none());
    }
}

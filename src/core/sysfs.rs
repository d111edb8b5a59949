//! Tiny readers for sysfs and procfs attributes. Hot paths (gpu-launch) read into stack buffers
//! and never allocate; every reader turns a missing or malformed value into `None` rather than an
//! error, since a best-effort report beats none.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{OFlag, AT_FDCWD};
use nix::sys::stat::Mode;

use crate::root::StackPath;
use hwc_sys::fs::{for_each_dirent, readlink_at};

/// Reads the start of a small file (a sysfs attribute) into `buf` with a single `read`, as sysfs
/// serves an attribute whole; non-blocking, so a FIFO in a fixture cannot hang it. `path` is
/// relative to `dir`, or absolute. Returns the number of bytes read.
fn read_small_at(dir: BorrowedFd, path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    let fd = nix::fcntl::openat(dir, path, flags, Mode::empty())?;
    Ok(nix::unistd::read(&fd, buf)?)
}

/// A directory opened for `*_at` lookups and for listing.
fn open_dir_handle(dir: BorrowedFd, path: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    Ok(nix::fcntl::openat(dir, path, flags, Mode::empty())?)
}

/// Size of the buffer for one attribute: the longest value read here is a modalias (~60 bytes).
pub const ATTR_BUF: usize = 128;

/// The attribute's value without surrounding whitespace. `None` when the file is missing,
/// unreadable, empty, or longer than `buf` (a cut value would be a wrong value).
pub fn read_attr<'b>(path: &StackPath, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    attr_at(AT_FDCWD, path.as_cstr()?, buf)
}

/// Whether the path exists, by `stat` alone (never opens it).
pub fn exists(path: &StackPath) -> bool {
    path.as_cstr()
        .is_some_and(|p| nix::sys::stat::stat(p).is_ok())
}

/// An open sysfs directory: reading several attributes relative to it walks the long sysfs path
/// once instead of once per attribute (on sysfs that walk is most of a read's cost). Unlike
/// `safefs::Dir`, it follows links: sysfs is made by the kernel and its links are its structure
/// (`/sys/bus/pci/devices/*` are all links); nothing a user writes is reached through it.
pub struct AttrDir {
    fd: OwnedFd,
}

impl AttrDir {
    pub fn open(path: &StackPath) -> Option<AttrDir> {
        let fd = open_dir_handle(AT_FDCWD, path.as_cstr()?).ok()?;
        Some(AttrDir { fd })
    }

    /// Calls `f` with the name of each entry of this directory, `.` and `..` left out. Reads from
    /// the directory's own fd, so an `AttrDir` is listed once.
    pub fn entries(&self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        self.entries_with_ino(|entry, _| f(entry))
    }

    /// [`AttrDir::entries`] with each entry's inode number. On sysfs a node removed and made
    /// again (a device unplugged and plugged back) comes back with another number.
    pub fn entries_with_ino(&self, f: impl FnMut(&[u8], u64)) -> io::Result<()> {
        for_each_dirent(self.fd.as_fd(), f)
    }

    /// A directory below this one (`name` may hold several components).
    pub fn open_child(&self, name: &CStr) -> Option<AttrDir> {
        let fd = open_dir_handle(self.fd.as_fd(), name).ok()?;
        Some(AttrDir { fd })
    }

    pub fn read_attr<'b>(&self, name: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        attr_at(self.fd.as_fd(), name, buf)
    }

    pub fn read_hex(&self, name: &CStr) -> Option<u32> {
        let mut buf = [0u8; ATTR_BUF];
        parse_hex(self.read_attr(name, &mut buf)?)
    }

    pub fn read_dec(&self, name: &CStr) -> Option<u64> {
        let mut buf = [0u8; ATTR_BUF];
        parse_dec(self.read_attr(name, &mut buf)?)
    }

    /// A decimal attribute that may rightly be missing: `Ok(None)` when there is no such file,
    /// an error when it is there but cannot be read as a number (so a failed read is never taken
    /// for an absent attribute).
    pub fn read_dec_or_absent(&self, name: &CStr) -> io::Result<Option<u64>> {
        let mut buf = [0u8; ATTR_BUF];
        let text = match read_trimmed(self.fd.as_fd(), name, &mut buf) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            r => r?,
        };
        parse_dec(text)
            .map(Some)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    }

    pub fn link_basename<'b>(&self, name: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        link_basename_at(self.fd.as_fd(), name, buf)
    }
}

/// `first/second` as a C string in `buf`; `None` when it does not fit or holds a NUL.
pub fn join<'b>(buf: &'b mut [u8], first: &[u8], second: &[u8]) -> Option<&'b CStr> {
    let len = first.len() + 1 + second.len();
    if len >= buf.len() {
        return None;
    }
    buf[..first.len()].copy_from_slice(first);
    buf[first.len()] = b'/';
    buf[first.len() + 1..len].copy_from_slice(second);
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).ok()
}

/// The attribute `name` read into `buf`, trimmed; one that fills `buf` is too long to be an
/// attribute (InvalidData).
fn read_trimmed<'b>(dir: BorrowedFd, name: &CStr, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
    let n = read_small_at(dir, name, buf)?;
    if n == buf.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidData));
    }
    Ok(trim(&buf[..n]))
}

/// The attribute `name`, trimmed; `None` when it is absent, empty, too long or unreadable.
fn attr_at<'b>(dir: BorrowedFd, name: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    read_trimmed(dir, name, buf)
        .ok()
        .filter(|value| !value.is_empty())
}

fn link_basename_at<'b>(dir: BorrowedFd<'_>, name: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = readlink_at(dir, name, buf).ok()?;
    let target = &buf[..n];
    let target = target.strip_suffix(b"/").unwrap_or(target);
    let base = match memchr::memrchr(b'/', target) {
        Some(i) => &target[i + 1..],
        None => target,
    };
    (!base.is_empty() && base != b"." && base != b"..").then_some(base)
}

pub fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// `0x10de`, `0X10DE` or `10de`; at most 8 digits.
pub fn parse_hex(bytes: &[u8]) -> Option<u32> {
    let digits = bytes
        .strip_prefix(b"0x")
        .or_else(|| bytes.strip_prefix(b"0X"))
        .unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | d)
    })
}

/// Unsigned decimal without sign or spaces; `None` on overflow.
pub fn parse_dec(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;
    use std::fs;

    fn tree() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        (dir, root)
    }

    #[test]
    fn parse_hex_forms() {
        assert_eq!(parse_hex(b"0x10de"), Some(0x10de));
        assert_eq!(parse_hex(b"0X030200"), Some(0x030200));
        assert_eq!(parse_hex(b"8086"), Some(0x8086));
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"0x"), None);
        assert_eq!(parse_hex(b"0xzz"), None);
        assert_eq!(parse_hex(b"0x123456789"), None);
    }

    #[test]
    fn parse_dec_forms() {
        assert_eq!(parse_dec(b"1"), Some(1));
        assert_eq!(parse_dec(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_dec(b"18446744073709551616"), None);
        assert_eq!(parse_dec(b"-1"), None);
        assert_eq!(parse_dec(b""), None);
    }

    #[test]
    fn read_attr_trims_and_rejects_empty_or_long() {
        let (_d, root) = tree();
        fs::write(root.path("/a"), "0x10de\n").unwrap();
        fs::write(root.path("/empty"), "\n").unwrap();
        fs::write(root.path("/long"), vec![b'x'; 500]).unwrap();
        let mut buf = [0u8; ATTR_BUF];
        assert_eq!(
            read_attr(&root.stack_path(b"/a"), &mut buf),
            Some(&b"0x10de"[..])
        );
        assert_eq!(read_attr(&root.stack_path(b"/empty"), &mut buf), None);
        assert_eq!(read_attr(&root.stack_path(b"/long"), &mut buf), None);
        assert_eq!(read_attr(&root.stack_path(b"/missing"), &mut buf), None);
        assert_eq!(
            AttrDir::open(&root.stack_path(b"/"))
                .unwrap()
                .read_hex(c"a"),
            Some(0x10de)
        );
    }

    #[test]
    fn link_basename_reads_target_name() {
        let (_d, root) = tree();
        std::os::unix::fs::symlink("../../bus/pci/drivers/nvidia", root.path("/driver")).unwrap();
        std::os::unix::fs::symlink("gone/", root.path("/dangling")).unwrap();
        fs::write(root.path("/plain"), "x").unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(
            AttrDir::open(&root.stack_path(b"/"))
                .unwrap()
                .link_basename(c"driver", &mut buf),
            Some(&b"nvidia"[..])
        );
        assert_eq!(
            AttrDir::open(&root.stack_path(b"/"))
                .unwrap()
                .link_basename(c"dangling", &mut buf),
            Some(&b"gone"[..])
        );
        assert_eq!(
            AttrDir::open(&root.stack_path(b"/"))
                .unwrap()
                .link_basename(c"plain", &mut buf),
            None
        );
    }

    #[test]
    fn entries_lists_names() {
        let (_d, root) = tree();
        fs::create_dir(root.path("/drm")).unwrap();
        fs::create_dir(root.path("/drm/card1")).unwrap();
        fs::create_dir(root.path("/drm/renderD128")).unwrap();
        let mut names = Vec::new();
        AttrDir::open(&root.stack_path(b"/drm"))
            .unwrap()
            .entries(|n| names.push(n.to_vec()))
            .unwrap();
        names.sort();
        assert_eq!(names, vec![b"card1".to_vec(), b"renderD128".to_vec()]);
        assert!(AttrDir::open(&root.stack_path(b"/"))
            .unwrap()
            .open_child(c"nope")
            .is_none());
        assert!(exists(&root.stack_path(b"/drm")));
        assert!(!exists(&root.stack_path(b"/nope")));
        let dir = AttrDir::open(&root.stack_path(b"/")).unwrap();
        let mut n = 0;
        dir.open_child(c"drm").unwrap().entries(|_| n += 1).unwrap();
        assert_eq!(n, 2);
        assert!(AttrDir::open(&root.stack_path(b"/nope")).is_none());
    }

    #[test]
    fn join_makes_relative_c_paths() {
        let mut buf = [0u8; 24];
        assert_eq!(
            join(&mut buf, b"0000:01:00.0", b"class").unwrap(),
            c"0000:01:00.0/class"
        );
        assert!(
            join(&mut buf, b"0000:01:00.0", b"boot_display").is_none(),
            "too long"
        );
        assert!(join(&mut buf, b"a\0b", b"c").is_none(), "interior NUL");
    }

    #[test]
    fn dir_reads_relative_attributes() {
        let (_d, root) = tree();
        fs::create_dir(root.path("/dev0")).unwrap();
        fs::write(root.path("/dev0/vendor"), "0x1002\n").unwrap();
        fs::write(root.path("/dev0/boot_vga"), "1\n").unwrap();
        std::os::unix::fs::symlink("../drivers/amdgpu", root.path("/dev0/driver")).unwrap();
        let dir = AttrDir::open(&root.stack_path(b"/dev0")).unwrap();
        assert_eq!(dir.read_hex(c"vendor"), Some(0x1002));
        assert_eq!(dir.read_dec(c"boot_vga"), Some(1));
        assert_eq!(dir.read_hex(c"missing"), None);
        assert_eq!(dir.read_dec_or_absent(c"boot_vga").unwrap(), Some(1));
        assert_eq!(dir.read_dec_or_absent(c"missing").unwrap(), None);
        assert!(
            dir.read_dec_or_absent(c"vendor").is_err(),
            "there, but not a number"
        );
        let mut buf = [0u8; 64];
        assert_eq!(dir.link_basename(c"driver", &mut buf), Some(&b"amdgpu"[..]));
        assert!(
            AttrDir::open(&root.stack_path(b"/dev0/vendor")).is_none(),
            "not a directory"
        );
    }

    #[test]
    fn entries_reads_past_one_buffer() {
        let (_d, root) = tree();
        fs::create_dir(root.path("/many")).unwrap();
        for i in 0..600 {
            fs::write(
                root.path(format!("/many/device-{i:04}-{}", "x".repeat(40))),
                "",
            )
            .unwrap();
        }
        let mut n = 0;
        AttrDir::open(&root.stack_path(b"/many"))
            .unwrap()
            .entries(|name| {
                assert!(name.starts_with(b"device-") && name.len() == 52, "{name:?}");
                n += 1;
            })
            .unwrap();
        assert_eq!(n, 600);
    }
}

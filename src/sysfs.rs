//! Tiny readers for sysfs and procfs attributes. Hot paths (gpu-launch) read into stack buffers
//! and never allocate; every reader turns a missing or malformed value into `None` rather than an
//! error, since a best-effort report beats none.

use std::io;

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::root::StackPath;
use crate::sys;

/// Size of the buffer for one attribute: the longest value read here is a modalias (~60 bytes).
pub const ATTR_BUF: usize = 128;

/// The attribute's value without surrounding whitespace. `None` when the file is missing,
/// unreadable, empty, or longer than `buf` (a cut value would be a wrong value).
pub fn read_attr<'b>(path: &StackPath, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = sys::read_small(path.as_cstr()?, buf).ok()?;
    if n == buf.len() {
        return None;
    }
    let value = trim(&buf[..n]);
    (!value.is_empty()).then_some(value)
}

/// A hexadecimal attribute such as `vendor` (`0x10de`).
pub fn read_hex(path: &StackPath) -> Option<u32> {
    let mut buf = [0u8; ATTR_BUF];
    parse_hex(read_attr(path, &mut buf)?)
}

/// A decimal attribute such as `boot_vga` (`1`).
pub fn read_dec(path: &StackPath) -> Option<u64> {
    let mut buf = [0u8; ATTR_BUF];
    parse_dec(read_attr(path, &mut buf)?)
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

/// The last component of a symbolic link's target (`driver` -> `.../drivers/nvidia` gives
/// `nvidia`). `None` when `path` is not a link.
pub fn link_basename<'b>(path: &StackPath, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = sys::readlink(path.as_cstr()?, buf).ok()?;
    let target = &buf[..n];
    let target = target.strip_suffix(b"/").unwrap_or(target);
    let name = match memchr::memrchr(b'/', target) {
        Some(i) => &target[i + 1..],
        None => target,
    };
    (!name.is_empty() && name != b"." && name != b"..").then_some(name)
}

/// Calls `f` with the name of each entry of the directory, `.` and `..` left out, in the order
/// the file system gives them.
pub fn for_each_entry(path: &StackPath, mut f: impl FnMut(&[u8])) -> io::Result<()> {
    let cpath = path
        .as_cstr()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENAMETOOLONG))?;
    let mut dir = Dir::open(
        cpath,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            f(name);
        }
    }
    Ok(())
}

/// Whether the path exists, by `stat` alone (never opens it).
pub fn exists(path: &StackPath) -> bool {
    path.as_cstr().is_some_and(sys::exists)
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
        assert_eq!(read_hex(&root.stack_path(b"/a")), Some(0x10de));
    }

    #[test]
    fn link_basename_reads_target_name() {
        let (_d, root) = tree();
        std::os::unix::fs::symlink("../../bus/pci/drivers/nvidia", root.path("/driver")).unwrap();
        std::os::unix::fs::symlink("gone/", root.path("/dangling")).unwrap();
        fs::write(root.path("/plain"), "x").unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(
            link_basename(&root.stack_path(b"/driver"), &mut buf),
            Some(&b"nvidia"[..])
        );
        assert_eq!(
            link_basename(&root.stack_path(b"/dangling"), &mut buf),
            Some(&b"gone"[..])
        );
        assert_eq!(link_basename(&root.stack_path(b"/plain"), &mut buf), None);
    }

    #[test]
    fn for_each_entry_lists_names() {
        let (_d, root) = tree();
        fs::create_dir(root.path("/drm")).unwrap();
        fs::create_dir(root.path("/drm/card1")).unwrap();
        fs::create_dir(root.path("/drm/renderD128")).unwrap();
        let mut names = Vec::new();
        for_each_entry(&root.stack_path(b"/drm"), |n| names.push(n.to_vec())).unwrap();
        names.sort();
        assert_eq!(names, vec![b"card1".to_vec(), b"renderD128".to_vec()]);
        assert!(for_each_entry(&root.stack_path(b"/nope"), |_| {}).is_err());
        assert!(exists(&root.stack_path(b"/drm")));
        assert!(!exists(&root.stack_path(b"/nope")));
    }
}

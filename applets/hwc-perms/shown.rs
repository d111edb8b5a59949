//! Paths as hwc-perms shows them.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path as getfacl writes it: `\` doubled and control characters as `\ooo` (getfacl itself
/// leaves tabs and escape sequences raw), so a name can neither forge a line nor reach the
/// terminal.
pub fn name_text(path: &Path) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(path.as_os_str().as_bytes()).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

//! `--secret NAME=PATH`: a user secret linked into the runtime directory, only if it is safe to.

use std::path::Path;

use crate::runtime::{private_dir, Runtime};
use hwc_core::error::describe_io;
use hwc_core::output::RUNTIME_SUBDIR;
use hwc_core::privilege;
use hwc_core::safefs;

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Checks a `NAME=PATH` secret and links it; the error text names the secret. The file is held
/// while it is checked, and the link points at its real path, so what is linked is what was
/// checked and no link on the way can be re-aimed later.
pub fn link_secret(
    spec: &str,
    runtime: &Runtime,
    dry: bool,
) -> std::result::Result<String, String> {
    let (name, path) = spec
        .split_once('=')
        .ok_or_else(|| format!("secret '{spec}': expected NAME=PATH; skipped"))?;
    if name.is_empty()
        || name == "."
        || name == ".."
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "secret '{name}': bad name (letters, digits, '.', '_', '-'); skipped"
        ));
    }
    let skip = |why: String| format!("secret {name} ({path}): {why}; skipped");
    let target = Path::new(path);
    if !target.is_absolute() {
        return Err(skip("not an absolute path".into()));
    }
    let node = safefs::open_follow(target).map_err(|e| skip(describe_io(&e)))?;
    let st = node.stat;
    let me = privilege::euid();
    if !st.is_file() {
        return Err(skip("not a regular file".into()));
    }
    if st.uid != me {
        return Err(skip(format!(
            "owned by uid {}, not by us (uid {me})",
            st.uid
        )));
    }
    if st.mode & 0o077 != 0 {
        return Err(skip(format!(
            "mode {:04o} gives group or others access",
            st.mode & 0o7777
        )));
    }
    let magic = node.fs_magic().map_err(|e| skip(describe_io(&e)))?;
    if magic != TMPFS_MAGIC && magic != RAMFS_MAGIC {
        return Err(skip("not on tmpfs or ramfs, so it may reach a disk".into()));
    }
    let real = node.real_path().map_err(|e| skip(describe_io(&e)))?;
    match safefs::open_nofollow(&real) {
        Ok(again) if again.stat.same_file(&st) => {}
        _ => return Err(skip("it moved while it was checked".into())),
    }
    if let Some(why) = safefs::foreign_hands(&real, me) {
        return Err(skip(format!("others could replace it: {why}")));
    }
    if dry {
        return Ok(name.to_string());
    }
    let hwc_path = runtime.path.join(RUNTIME_SUBDIR);
    let secrets_path = hwc_path.join("secrets");
    let secrets = private_dir(&runtime.dir, RUNTIME_SUBDIR, &hwc_path)
        .and_then(|hwc| private_dir(&hwc, "secrets", &secrets_path))
        .map_err(|e| skip(e.to_string()))?;
    secrets
        .symlink(&real, name)
        .map_err(|e| skip(describe_io(&e)))?;
    Ok(name.to_string())
}

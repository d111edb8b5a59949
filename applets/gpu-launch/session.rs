//! The session's snapshot of the GPUs ([`hwc_gpu::snapshot`]), written by hwc-session-init:
//! `HWC_GPU_LAUNCH` in the environment (what systemd and D-Bus start has it), or where the
//! variable is not set (a compositor's key binding: the compositor started before the session's
//! variables were exported), its line in `$XDG_RUNTIME_DIR/hwc/session.env`. Used only when it
//! still holds for the machine; `None` sends the launch to the scan.

use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use hwc_core::output::{read_env_lines, session_env_path};
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_gpu::snapshot::{self, Snapshot};
use hwc_gpu::Gpus;

/// session.env is a few lines; anything bigger is not hwc-session-init's.
const MAX_SESSION_ENV: u64 = 64 << 10;

pub fn gpus(root: &Root) -> Option<Gpus> {
    let value = match std::env::var_os(snapshot::VAR) {
        Some(value) => value.into_vec(),
        None => from_session_env(root)?,
    };
    Snapshot::decode(&value)?.still_holds(root)
}

/// The snapshot's value in session.env. A file that cannot be read as hwc-session-init writes
/// it (a FIFO, a device, too big, not its lines) holds none.
fn from_session_env(root: &Root) -> Option<Vec<u8>> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")?;
    let dir = Path::new(&dir);
    if !dir.is_absolute() {
        return None;
    }
    let file = root.path(session_env_path(dir));
    let text = safefs::read_file_if_exists(&file, MAX_SESSION_ENV).ok()??;
    let vars = read_env_lines(std::str::from_utf8(&text).ok()?).ok()?;
    vars.into_iter()
        .find(|(name, _)| name == snapshot::VAR)
        .map(|(_, value)| value.into_bytes())
}

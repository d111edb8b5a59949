//! `--has X`: whether the machine has a GPU of a kind, as the exit status alone.

use hwc_core::error::{Error, Result};
use hwc_gpu::{Gpus, Vendor};

/// 0 when present, 1 when not.
pub fn answer(gpus: &Gpus, what: &str) -> Result<u8> {
    let of = |vendor: Vendor| gpus.list.iter().any(|g| g.vendor() == vendor);
    let present = match what {
        "nvidia" => of(Vendor::Nvidia),
        "amd" => of(Vendor::Amd),
        "intel" => of(Vendor::Intel),
        "dgpu" => gpus
            .list
            .iter()
            .any(|g| g.is_discrete() && g.driver.is_some()),
        other => {
            return Err(Error::usage(format!(
                "--has {other}: expected nvidia, amd, intel or dgpu"
            )))
        }
    };
    Ok(u8::from(!present))
}

//! `--has X`: whether the machine has a GPU of a kind, as the exit status alone.

use hwc_core::error::{Error, Result};
use hwc_gpu::{Gpus, Vendor, VENDORS};

/// 0 when present, 1 when not.
pub fn answer(gpus: &Gpus, what: &str) -> Result<u8> {
    let of = |vendor: Vendor| gpus.list.iter().any(|g| g.vendor() == vendor);
    let present = match (what, Vendor::named(what)) {
        (_, Some(vendor)) => of(vendor),
        ("dgpu", None) => gpus
            .list
            .iter()
            .any(|g| g.is_discrete() && g.driver.is_some()),
        (other, None) => {
            let vendors: Vec<&str> = VENDORS.iter().map(|f| f.name).collect();
            return Err(Error::usage(format!(
                "--has {other}: expected {} or dgpu",
                vendors.join(", ")
            )));
        }
    };
    Ok(u8::from(!present))
}

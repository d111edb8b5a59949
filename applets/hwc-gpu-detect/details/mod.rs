//! `--details`: what only the NVIDIA driver knows (VRAM, compute capability, UUID, temperature,
//! performance state, power, utilisation). This wakes a suspended GPU, so it is never part of a
//! plain report, and nothing else in hwc opens `libnvidia-ml`.
//!
//! NVML is asked first ([`nvml`]), in a forked child: hwc is a static glibc binary, whose `dlopen`
//! of the driver's glibc shared object works only with the very glibc it was linked with, and a
//! library that faults would take the whole process down. The child returns plain values over a
//! pipe; if the library is missing, fails or kills the child, `nvidia-smi` is asked ([`smi`]),
//! and only when both fail is it an error, naming both reasons.

mod nvml;
mod smi;

use std::time::Duration;

use hwc_core::error::{Error, Result};
use hwc_core::root::Root;
use hwc_gpu::PciAddr;

/// How long NVML may take in its child (a driver's first start can take seconds).
const NVML_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    pub pci: Option<PciAddr>,
    pub name: String,
    pub uuid: String,
    pub memory_total_mib: Option<u64>,
    pub memory_used_mib: Option<u64>,
    pub compute_capability: String,
    pub temperature_c: Option<u64>,
    pub pstate: String,
    pub power_mw: Option<u64>,
    pub utilization_pct: Option<u64>,
}

/// What `--details` found, and where from.
pub struct Details {
    pub gpus: Vec<Detail>,
    pub driver_version: Option<String>,
    /// `nvml` or `nvidia-smi`.
    pub source: &'static str,
    /// Why NVML was not the source, when it was not.
    pub nvml_failure: Option<String>,
}

pub fn query(root: &Root) -> Result<Details> {
    let nvml_why = match nvml::query(root, NVML_LIMIT) {
        Ok((gpus, driver_version)) => {
            return Ok(Details {
                gpus,
                driver_version,
                source: "nvml",
                nvml_failure: None,
            })
        }
        Err(why) => why,
    };
    match smi::query() {
        Ok(gpus) => Ok(Details {
            gpus,
            driver_version: None,
            source: "nvidia-smi",
            nvml_failure: Some(nvml_why),
        }),
        Err(smi_why) => Err(Error::failed(format!(
            "--details: NVML: {nvml_why}; nvidia-smi: {}",
            smi_why.message()
        ))
        .hint("install the NVIDIA driver, which brings libnvidia-ml.so.1 and nvidia-smi")),
    }
}

//! `hwc-gpu-detect`: the machine's GPUs, the default and discrete ones, the offload environment,
//! the accelerator for services and container-runtime support, from cached sysfs attributes only.

#![forbid(unsafe_code)]

mod container;
mod details;
mod names;
mod report;

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::gpu::accel;
use hwc_core::gpu::offload::{self, Selector};
use hwc_core::gpu::{self, Depth, Vendor};
use hwc_core::output;
use hwc_core::root::Root;
use report::Report;

/// Report the GPUs (PCI address, vendor, ids, driver, role, render node, power state, name),
/// the offload environment for the discrete GPU, the accelerator for services (cuda, rocm, vaapi,
/// cpu) and container-runtime support. Reads only cached sysfs attributes and caches (udev's
/// database, pci.ids): it never wakes a runtime-suspended GPU, except with --details.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "JSON keys: gpus[] {{pci, vendor, vendor_id, device_id, class, driver, role, default, \
discrete, render_node, card_node, runtime_status, name}}, offload {{pci, env}} or null, accel, \
container_runtime {{summary, cdi_kinds, cdi_specs, tools}}, nvidia_driver_version, and \
with --details: details[] {{pci, name, uuid, memory_total_mib, compute_capability, \
temperature_c, pstate, memory_used_mib, power_mw, utilization_pct}}, details_source (nvml or \
nvidia-smi) and details_driver_version. --env prints HWC_GPU_TYPE (nvidia|amd|intel|none), HWC_GPU_ACCEL, \
HWC_GPU_DGPU (PCI address or empty), HWC_GPU_RENDER_NODE and HWC_GPU_CONTAINER_RUNTIME \
(cdi|nvidia-container-runtime|none).",
    error_code(
        1,
        "--has: not present; --details: neither NVML nor nvidia-smi answered"
    ),
    error_code(2, "usage error")
)]
struct Args {
    /// print one JSON document
    #[argh(switch)]
    json: bool,
    /// print HWC_GPU_* lines for an EnvironmentFile or sh
    #[argh(switch)]
    env: bool,
    /// print only the accelerator: cuda, rocm, vaapi or cpu
    #[argh(switch)]
    accel: bool,
    /// exit 0 if the machine has it (nvidia, amd, intel, or dgpu: a discrete GPU with a
    /// driver), 1 if not; prints nothing
    #[argh(option)]
    has: Option<String>,
    /// add VRAM, compute capability, UUID, temperature, performance state, power and use from
    /// NVIDIA's NVML (libnvidia-ml.so.1, looked for in /run/opengl-driver/lib first, asked in a
    /// child process), else from nvidia-smi. This WAKES a suspended GPU.
    #[argh(switch)]
    details: bool,
    /// read /sys, /run, /etc and /dev under DIR instead of / (tests, fixtures)
    #[argh(option)]
    root: Option<PathBuf>,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    let modes = [args.json, args.env, args.accel, args.has.is_some()];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(Error::usage(
            "--json, --env, --accel and --has are exclusive",
        ));
    }
    if args.details && (args.env || args.accel || args.has.is_some()) {
        return Err(Error::usage("--details goes with the table or --json only"));
    }
    let root = Root::from_option(args.root.as_deref());
    let gpus = gpu::scan(&root, Depth::Full);

    if let Some(what) = &args.has {
        let present = match what.as_str() {
            "nvidia" => gpus.list.iter().any(|g| g.vendor() == Vendor::Nvidia),
            "amd" => gpus.list.iter().any(|g| g.vendor() == Vendor::Amd),
            "intel" => gpus.list.iter().any(|g| g.vendor() == Vendor::Intel),
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
        return Ok(u8::from(!present));
    }
    let summary = accel::summarize(&gpus, &root);
    if args.accel {
        output::emit(&format!("{}\n", summary.accel.as_str()))?;
        return Ok(0);
    }
    let runtime = container::detect(&root);
    if args.env {
        output::emit(&report::env_lines(&summary, &runtime))?;
        return Ok(0);
    }
    let details = if args.details {
        Some(details::query(&root)?)
    } else {
        None
    };
    let report = Report {
        root: &root,
        gpus: &gpus,
        plan: offload::plan(&gpus, Selector::Auto, &root)?,
        summary,
        runtime,
        details,
    };
    output::print(output::Format::of(args.json), &report)?;
    Ok(0)
}

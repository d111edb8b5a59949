//! `hwc-gpu-detect`: the machine's GPUs, the default and discrete ones, the offload environment,
//! the accelerator for services and container-runtime support, from cached sysfs attributes only;
//! or, with `--nixos`, the NixOS configuration for them.

#![forbid(unsafe_code)]

mod details;
mod expect;
mod has;
mod names;
mod nixos;
mod prime;
mod report;

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::output;
use hwc_core::root::Root;
use hwc_gpu::accel;
use hwc_gpu::offload::{self, Plan, Selector};
use hwc_gpu::{self as gpu, Depth, Gpus, Vendor};
use report::Report;

/// Report the GPUs (PCI address, vendor, ids, driver, role, render node, power state, name),
/// the offload choice and its environment, the accelerator for services (cuda, rocm, vaapi,
/// cpu) and container-runtime support; or, with --nixos, the NixOS configuration for them. Reads
/// only cached sysfs attributes and caches (udev's database, pci.ids): it never wakes a
/// runtime-suspended GPU, except with --details.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "JSON keys: gpus[] {{pci, vendor, vendor_id, device_id, class, driver, role, default, \
discrete, render_node, card_node, runtime_status, name}}, offload {{pci, env}} or null, accel, \
container_runtime {{summary, cdi_kinds, cdi_specs, tools}}, nvidia_driver_version, and \
with --details: details[] {{pci, name, uuid, memory_total_mib, compute_capability, \
temperature_c, pstate, memory_used_mib, power_mw, utilization_pct}}, details_source (nvml or \
nvidia-smi) and details_driver_version. --env prints HWC_GPU_TYPE (nvidia|amd|intel|none), HWC_GPU_ACCEL, \
HWC_GPU_DGPU (PCI address or empty), HWC_GPU_RENDER_NODE, HWC_GPU_CONTAINER_RUNTIME \
(cdi|nvidia-container-runtime|none) and HWC_GPU_LAUNCH (gpu-launch's snapshot of the GPUs, checked \
against the machine before each use). --nixos prints hwc.infrastructure.hardware.gpu {{ enable; \
type; prime {{ nvidiaBusId; intelBusId or amdgpuBusId }} }} and, commented out, the same in \
NixOS's hardware.nvidia.prime; prime and its bus ids (NixOS's \
PCI:<bus>@<domain>:<device>:<function>, in decimal) appear only when an NVIDIA GPU on the \
proprietary driver renders offloaded from an Intel or AMD integrated GPU.",
    error_code(
        1,
        "--has: not present; --details: neither NVML nor nvidia-smi answered; /sys (or \
--root) cannot be seen"
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
    /// print a NixOS snippet for configuration.nix: hwc's GPU options (type as in --env; PRIME
    /// bus ids when an NVIDIA GPU renders offloaded from an integrated one), then NixOS's own
    /// PRIME options as comments
    #[argh(switch)]
    nixos: bool,
    /// with --env: when HWC_GPU_TYPE is not TYPE (nvidia, amd, intel or none), also print one
    /// warning line on stderr; the status stays 0
    #[argh(option, arg_name = "TYPE")]
    expect: Option<String>,
    /// read /sys, /run, /etc and /dev under DIR instead of / (tests, fixtures)
    #[argh(option)]
    root: Option<PathBuf>,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    check_modes(&args)?;
    let expected = args.expect.as_deref().map(expect::parse).transpose()?;
    let root = Root::from_option(args.root.as_deref());
    gpu::require_sysfs(&root)?;
    let gpus = gpu::scan(&root, Depth::Full);

    if let Some(what) = &args.has {
        return has::answer(&gpus, what);
    }
    let summary = accel::summarize(&gpus, &root);
    if args.accel {
        output::emit(&format!("{}\n", summary.accel.as_str()))?;
        return Ok(0);
    }
    if args.nixos {
        let plan = offload::plan(&gpus, Selector::Auto, &root)?;
        output::emit(&nixos_text(&gpus, &plan, summary.gpu_type))?;
        return Ok(0);
    }
    let runtime = hwc_gpu::container::detect(&root);
    if args.env {
        let launch = hwc_gpu::snapshot::take(&root);
        output::emit(&report::env_lines(&summary, &runtime, launch.as_deref()))?;
        if let Some(warning) = expected.and_then(|t| expect::mismatch(t, &summary, &gpus)) {
            output::warn(name, &warning);
        }
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

/// The output modes exclude each other; --details and --expect each go with some only.
fn check_modes(args: &Args) -> Result<()> {
    let modes = [
        args.json,
        args.env,
        args.accel,
        args.has.is_some(),
        args.nixos,
    ];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(Error::usage(
            "--json, --env, --accel, --has and --nixos are exclusive",
        ));
    }
    if args.details && (args.env || args.accel || args.has.is_some() || args.nixos) {
        return Err(Error::usage("--details goes with the table or --json only"));
    }
    if args.expect.is_some() && !args.env {
        return Err(Error::usage("--expect goes with --env only"));
    }
    Ok(())
}

/// `--nixos`: the PRIME decision (from what the GPUs are) and the offload choice, rendered.
fn nixos_text(gpus: &Gpus, plan: &Plan, gpu_type: &'static str) -> String {
    let prime = prime::prime(gpus);
    nixos::text(&nixos::Snippet {
        // Declaring nvidia is what installs the driver PRIME needs.
        gpu_type: if prime.is_some() {
            Vendor::Nvidia.as_str()
        } else {
            gpu_type
        },
        prime,
        plan,
        default: gpus.default_gpu(),
    })
}

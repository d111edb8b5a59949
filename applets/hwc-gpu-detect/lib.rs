//! `hwc-gpu-detect`: the machine's GPUs, the default and discrete ones, the offload environment,
//! the accelerator for services and container-runtime support, from cached sysfs attributes only.

#![forbid(unsafe_code)]

mod container;
mod details;
mod names;

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use container::ContainerRuntime;
use details::Detail;
use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::gpu::accel::{self, Summary};
use hwc_core::gpu::offload::{self, Plan, Selector};
use hwc_core::gpu::{self, Depth, Gpus, Vendor};
use hwc_core::output::{self, Json, Table};
use hwc_core::root::Root;

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
temperature_c, pstate}}. --env prints HWC_GPU_TYPE (nvidia|amd|intel|none), HWC_GPU_ACCEL, \
HWC_GPU_DGPU (PCI address or empty), HWC_GPU_RENDER_NODE and HWC_GPU_CONTAINER_RUNTIME \
(cdi|nvidia-container-runtime|none).",
    error_code(1, "--has: not present; --details: no nvidia-smi or it failed"),
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
    /// add VRAM, compute capability, UUID, temperature and power state from NVIDIA's NVML
    /// (through nvidia-smi). This WAKES a suspended GPU.
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
        output::emit(&env_report(&summary, &runtime))?;
        return Ok(0);
    }
    let details = if args.details {
        Some(details::query()?)
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
    output::emit(&if args.json {
        report.json()
    } else {
        report.human()
    })?;
    Ok(0)
}

fn env_report(s: &Summary, runtime: &ContainerRuntime) -> String {
    [
        ("HWC_GPU_TYPE", s.gpu_type),
        ("HWC_GPU_ACCEL", s.accel.as_str()),
        ("HWC_GPU_DGPU", s.dgpu.as_deref().unwrap_or("")),
        (
            "HWC_GPU_RENDER_NODE",
            s.render_node.as_deref().unwrap_or(""),
        ),
        ("HWC_GPU_CONTAINER_RUNTIME", runtime.summary()),
    ]
    .iter()
    .map(|(k, v)| output::env_line(k, v.as_bytes()))
    .collect()
}

struct Report<'a> {
    root: &'a Root,
    gpus: &'a Gpus,
    plan: Plan<'a>,
    summary: Summary,
    runtime: ContainerRuntime,
    details: Option<Vec<Detail>>,
}

impl Report<'_> {
    fn names(&self) -> Vec<Option<String>> {
        let mut names = names::Names::default();
        self.gpus
            .list
            .iter()
            .map(|g| names.name(self.root, g))
            .collect()
    }

    fn human(&self) -> String {
        let mut out = String::new();
        if self.gpus.list.is_empty() {
            out.push_str("no GPU found\n");
        } else {
            let mut t = Table::new([
                "PCI", "VENDOR", "ID", "DRIVER", "ROLE", "RENDER", "POWER", "NAME",
            ]);
            for (g, name) in self.gpus.list.iter().zip(self.names()) {
                let role = if g.default {
                    format!("{},default", g.role.as_str())
                } else {
                    g.role.as_str().to_string()
                };
                t.row([
                    g.pci.to_string(),
                    g.vendor().as_str().to_string(),
                    format!("{:04x}:{:04x}", g.vendor_id, g.device_id),
                    g.driver.map_or("-".into(), |d| d.as_str().into_owned()),
                    role,
                    g.render.map_or("-".into(), |n| format!("renderD{n}")),
                    g.runtime_status.map_or("-", |s| s.as_str()).to_string(),
                    name.unwrap_or_default(),
                ]);
            }
            out.push_str(&t.render());
        }
        match &self.plan {
            Plan::Offload { gpu, env } => {
                let vars: Vec<String> = env
                    .iter()
                    .map(|(k, v)| format!("{k}={}", output::quote(v.as_bytes())))
                    .collect();
                out.push_str(&format!("offload: {} with {}\n", gpu.pci, vars.join(" ")));
            }
            Plan::AlreadyDefault(g) => {
                out.push_str(&format!("offload: none ({} is the default)\n", g.pci))
            }
            Plan::NoTarget(reason) => out.push_str(&format!("offload: none ({reason})\n")),
        }
        let from = self
            .summary
            .render_node
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default();
        out.push_str(&format!("accel: {}{from}\n", self.summary.accel.as_str()));
        out.push_str(&format!("container runtime: {}", self.runtime.summary()));
        if !self.runtime.kinds.is_empty() {
            out.push_str(&format!(
                " ({})",
                self.runtime
                    .kinds
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.runtime.tools.is_empty() {
            out.push_str(&format!("; tools: {}", self.runtime.tools.join(", ")));
        }
        out.push('\n');
        if let Some(v) = self.gpus.nvidia_version {
            out.push_str(&format!("nvidia driver: {}\n", v.as_str()));
        }
        if let Some(details) = &self.details {
            let mut t = Table::new(["PCI", "NAME", "VRAM", "COMPUTE", "TEMP", "PSTATE", "UUID"]);
            for d in details {
                t.row([
                    d.pci.map_or("-".into(), |p| p.to_string()),
                    d.name.clone(),
                    d.memory_total_mib
                        .map_or("-".into(), |m| format!("{m} MiB")),
                    d.compute_capability.clone(),
                    d.temperature_c.map_or("-".into(), |c| format!("{c} C")),
                    d.pstate.clone(),
                    d.uuid.clone(),
                ]);
            }
            out.push('\n');
            out.push_str(&t.render());
        }
        out
    }

    fn json(&self) -> String {
        let mut j = Json::new();
        j.begin_object().key("gpus").begin_array();
        for (g, name) in self.gpus.list.iter().zip(self.names()) {
            j.begin_object();
            j.key("pci").string(g.pci.to_string());
            j.key("vendor").string(g.vendor().as_str());
            j.key("vendor_id").string(format!("0x{:04x}", g.vendor_id));
            j.key("device_id").string(format!("0x{:04x}", g.device_id));
            j.key("class").string(format!("0x{:06x}", g.class));
            j.key("driver")
                .opt_string(g.driver.as_ref().map(|d| d.as_bytes()));
            j.key("role").string(g.role.as_str());
            j.key("default").bool(g.default);
            j.key("discrete").bool(g.is_discrete());
            j.key("render_node").opt_string(g.render_node());
            j.key("card_node").opt_string(g.card_node());
            j.key("runtime_status")
                .opt_string(g.runtime_status.map(|s| s.as_str()));
            j.key("name").opt_string(name);
            j.end_object();
        }
        j.end_array();
        j.key("offload");
        match &self.plan {
            Plan::Offload { gpu, env } => {
                j.begin_object()
                    .key("pci")
                    .string(gpu.pci.to_string())
                    .key("env")
                    .begin_object();
                for (k, v) in env {
                    j.key_text(k).string(v);
                }
                j.end_object().end_object();
            }
            _ => {
                j.null();
            }
        }
        j.key("accel").string(self.summary.accel.as_str());
        j.key("container_runtime").begin_object();
        j.key("summary").string(self.runtime.summary());
        j.key("cdi_kinds").begin_array();
        for k in &self.runtime.kinds {
            j.string(k);
        }
        j.end_array().key("cdi_specs").begin_array();
        for s in &self.runtime.specs {
            j.string(s);
        }
        j.end_array().key("tools").begin_array();
        for t in &self.runtime.tools {
            j.string(t);
        }
        j.end_array().end_object();
        j.key("nvidia_driver_version")
            .opt_string(self.gpus.nvidia_version.as_ref().map(|v| v.as_bytes()));
        if let Some(details) = &self.details {
            j.key("details").begin_array();
            for d in details {
                j.begin_object();
                j.key("pci").opt_string(d.pci.map(|p| p.to_string()));
                j.key("name").string(&d.name);
                j.key("uuid").string(&d.uuid);
                j.key("memory_total_mib");
                match d.memory_total_mib {
                    Some(m) => j.number(m),
                    None => j.null(),
                };
                j.key("compute_capability").string(&d.compute_capability);
                j.key("temperature_c");
                match d.temperature_c {
                    Some(c) => j.number(c),
                    None => j.null(),
                };
                j.key("pstate").string(&d.pstate);
                j.end_object();
            }
            j.end_array();
        }
        j.end_object();
        j.finish()
    }
}

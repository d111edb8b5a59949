//! What `hwc-gpu-detect` prints: the table, the JSON document, the `--env` lines.

use super::details::Details;
use super::names;
use hwc_core::output::{self, Json, Table};
use hwc_core::root::Root;
use hwc_gpu::accel::Summary;
use hwc_gpu::container::ContainerRuntime;
use hwc_gpu::offload::Plan;
use hwc_gpu::Gpus;

/// `--env`: the facts, then the launch snapshot (empty when none could be taken).
pub fn env_lines(s: &Summary, runtime: &ContainerRuntime, launch: Option<&str>) -> String {
    [
        ("HWC_GPU_TYPE", s.gpu_type),
        ("HWC_GPU_ACCEL", s.accel.as_str()),
        ("HWC_GPU_DGPU", s.dgpu.as_deref().unwrap_or("")),
        (
            "HWC_GPU_RENDER_NODE",
            s.render_node.as_deref().unwrap_or(""),
        ),
        ("HWC_GPU_CONTAINER_RUNTIME", runtime.summary()),
        (hwc_gpu::snapshot::VAR, launch.unwrap_or("")),
    ]
    .iter()
    .map(|(k, v)| output::env_line(k, v.as_bytes()))
    .collect()
}

pub struct Report<'a> {
    pub root: &'a Root,
    pub gpus: &'a Gpus,
    pub plan: Plan<'a>,
    pub summary: Summary,
    pub runtime: ContainerRuntime,
    pub details: Option<Details>,
}

impl Report<'_> {
    pub fn names(&self) -> Vec<Option<String>> {
        let mut names = names::Names::default();
        self.gpus
            .list
            .iter()
            .map(|g| names.name(self.root, g))
            .collect()
    }
}

impl output::Report for Report<'_> {
    fn text(&self) -> String {
        let mut out = self.gpus_text();
        out.push_str(&offload_text(&self.plan));
        let from = self
            .summary
            .render_node
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default();
        out.push_str(&format!("accel: {}{from}\n", self.summary.accel.as_str()));
        out.push_str(&runtime_text(&self.runtime));
        if let Some(v) = self.gpus.nvidia_version {
            out.push_str(&format!("nvidia driver: {}\n", v.as_str()));
        }
        if let Some(details) = &self.details {
            out.push('\n');
            out.push_str(&details_text(details));
        }
        out
    }

    fn json(&self, j: &mut Json) {
        j.begin_object().key("gpus").begin_array();
        for (g, name) in self.gpus.list.iter().zip(self.names()) {
            gpu_json(j, g, name);
        }
        j.end_array();
        offload_json(j, &self.plan);
        j.key("accel").string(self.summary.accel.as_str());
        runtime_json(j, &self.runtime);
        j.key("nvidia_driver_version")
            .opt_string(self.gpus.nvidia_version.as_ref().map(|v| v.as_bytes()));
        if let Some(details) = &self.details {
            details_json(j, details);
        }
        j.end_object();
    }
}

impl Report<'_> {
    /// The table of GPUs, or a line saying there is none.
    fn gpus_text(&self) -> String {
        if self.gpus.list.is_empty() {
            return "no GPU found\n".into();
        }
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
        t.render()
    }
}

fn offload_text(plan: &Plan) -> String {
    match plan {
        Plan::Offload { gpu, env } => {
            let vars: Vec<String> = env
                .iter()
                .map(|(k, v)| format!("{k}={}", output::quote(v.as_bytes())))
                .collect();
            format!("offload: {} with {}\n", gpu.pci, vars.join(" "))
        }
        Plan::AlreadyDefault(g) => format!("offload: none ({} is the default)\n", g.pci),
        Plan::NoTarget(reason) => format!("offload: none ({reason})\n"),
    }
}

fn runtime_text(runtime: &ContainerRuntime) -> String {
    let mut out = format!("container runtime: {}", runtime.summary());
    if !runtime.kinds.is_empty() {
        let kinds: Vec<&str> = runtime.kinds.iter().map(String::as_str).collect();
        out.push_str(&format!(" ({})", kinds.join(", ")));
    }
    if !runtime.tools.is_empty() {
        out.push_str(&format!("; tools: {}", runtime.tools.join(", ")));
    }
    out.push('\n');
    out
}

fn details_text(details: &Details) -> String {
    let mut t = Table::new([
        "PCI", "NAME", "VRAM", "USED", "COMPUTE", "TEMP", "PSTATE", "POWER", "USE", "UUID",
    ]);
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for d in &details.gpus {
        t.row([
            d.pci.map_or("-".into(), |p| p.to_string()),
            d.name.clone(),
            or_dash(d.memory_total_mib.map(|m| format!("{m} MiB"))),
            or_dash(d.memory_used_mib.map(|m| format!("{m} MiB"))),
            d.compute_capability.clone(),
            or_dash(d.temperature_c.map(|c| format!("{c} C"))),
            d.pstate.clone(),
            or_dash(
                d.power_mw
                    .map(|mw| format!("{}.{} W", mw / 1000, mw % 1000 / 100)),
            ),
            or_dash(d.utilization_pct.map(|u| format!("{u}%"))),
            d.uuid.clone(),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!("details from {}", details.source));
    if let Some(why) = &details.nvml_failure {
        out.push_str(&format!(" (NVML: {why})"));
    }
    out.push('\n');
    out
}

fn gpu_json(j: &mut Json, g: &hwc_gpu::Gpu, name: Option<String>) {
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

fn offload_json(j: &mut Json, plan: &Plan) {
    j.key("offload");
    match plan {
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
}

fn runtime_json(j: &mut Json, runtime: &ContainerRuntime) {
    j.key("container_runtime").begin_object();
    j.key("summary").string(runtime.summary());
    let lists: [(&str, Vec<&str>); 3] = [
        (
            "cdi_kinds",
            runtime.kinds.iter().map(String::as_str).collect(),
        ),
        (
            "cdi_specs",
            runtime.specs.iter().map(String::as_str).collect(),
        ),
        ("tools", runtime.tools.to_vec()),
    ];
    for (key, list) in lists {
        j.key(key).begin_array();
        for item in list {
            j.string(item);
        }
        j.end_array();
    }
    j.end_object();
}

fn details_json(j: &mut Json, details: &Details) {
    let opt = |j: &mut Json, key: &str, v: Option<u64>| {
        j.key_text(key);
        match v {
            Some(n) => j.number(n),
            None => j.null(),
        };
    };
    j.key("details").begin_array();
    for d in &details.gpus {
        j.begin_object();
        j.key("pci").opt_string(d.pci.map(|p| p.to_string()));
        j.key("name").string(&d.name);
        j.key("uuid").string(&d.uuid);
        opt(j, "memory_total_mib", d.memory_total_mib);
        j.key("compute_capability").string(&d.compute_capability);
        opt(j, "temperature_c", d.temperature_c);
        j.key("pstate").string(&d.pstate);
        opt(j, "memory_used_mib", d.memory_used_mib);
        opt(j, "power_mw", d.power_mw);
        opt(j, "utilization_pct", d.utilization_pct);
        j.end_object();
    }
    j.end_array();
    j.key("details_source").string(details.source);
    j.key("details_driver_version")
        .opt_string(details.driver_version.as_deref());
}

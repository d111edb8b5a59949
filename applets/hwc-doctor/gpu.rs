//! hardware/gpu: the declared type against the GPUs found and their drivers, the accelerator,
//! NVIDIA's kernel module against its user-space libraries and the CDI spec, the user's access
//! to the render node services use, and offload. The same cached sysfs reads as hwc-gpu-detect:
//! no NVML, nothing under /dev opened, so no GPU is woken.

use std::collections::BTreeSet;

use hwc_access as access;
use hwc_core::root::Root;
use hwc_gpu::accel::Accel;
use hwc_gpu::container::{self, ContainerRuntime};
use hwc_gpu::offload::{self, Plan, Selector};
use hwc_gpu::{accel, Gpus, Role, Vendor};

use crate::check::{Findings, GPU};
use crate::context::Context;
use crate::declared;
use crate::units::shell_word;

const OPTION: &str = "hwc.infrastructure.hardware.gpu";

/// Where NVIDIA's user-space libraries are looked for: NixOS's driver link first, then the
/// loader's usual directories, Debian's multiarch ones for each platform NVIDIA builds its
/// driver for. All of them, whatever the doctor was built for: under `--root` the machine may be
/// another platform's, and each machine has its own platform's directory alone.
const LIB_DIRS: [&str; 6] = [
    "/run/opengl-driver/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/powerpc64le-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
];

pub fn check(ctx: &Context, declared: Option<&declared::Gpu>, f: &mut Findings) {
    inventory(&ctx.gpus, f);
    let Some(d) = declared else {
        f.skip(GPU, "type", "no GPU declared");
        return;
    };
    let summary = accel::summarize(&ctx.gpus, &ctx.root);
    check_type(ctx, d, summary.gpu_type, f);
    check_accel(ctx, d, summary.accel.as_str(), f);
    if Vendor::named(&d.gpu_type) == Some(Vendor::Nvidia) {
        let spec = d.container_runtime.then(|| container::detect(&ctx.root));
        check_nvidia(ctx, spec.as_ref(), f);
    } else {
        f.skip(GPU, "nvidia-versions", "no NVIDIA GPU declared");
    }
    check_render_access(ctx, summary.render_node.as_deref(), f);
    check_offload(ctx, d, f);
}

fn inventory(gpus: &Gpus, f: &mut Findings) {
    for g in &gpus.list {
        let driver = g
            .driver
            .map(|d| d.as_str().into_owned())
            .unwrap_or_default();
        f.sample(
            "hwc_gpu_info",
            vec![
                ("pci", g.pci.to_string()),
                ("vendor", g.vendor().as_str().into()),
                ("device", format!("{:04x}", g.device_id)),
                ("driver", driver),
                ("role", g.role.as_str().into()),
            ],
            1,
        );
        let suspended = g.runtime_status.is_some_and(|s| s.as_str() == "suspended");
        f.sample(
            "hwc_gpu_runtime_suspended",
            vec![("pci", g.pci.to_string())],
            u64::from(suspended),
        );
    }
}

/// What the machine has, for evidence: `nvidia 0000:01:00.0 (driver nvidia)`, one per GPU.
fn found(gpus: &Gpus) -> String {
    if gpus.list.is_empty() {
        return "no GPU".into();
    }
    gpus.list
        .iter()
        .map(|g| {
            let driver = g
                .driver
                .map_or("no driver".into(), |d| format!("driver {}", d.as_str()));
            format!("{} {} ({driver})", g.vendor().as_str(), g.pci)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_type(ctx: &Context, d: &declared::Gpu, detected: &str, f: &mut Findings) {
    let evidence = format!("declared {}; found {}", d.gpu_type, found(&ctx.gpus));
    if detected == d.gpu_type {
        f.ok(GPU, "type", evidence);
        return;
    }
    let present = ctx
        .gpus
        .list
        .iter()
        .any(|g| g.vendor().as_str() == d.gpu_type);
    let t = &d.gpu_type;
    let fix = if present {
        ctx.install.fix(
            format!("the {t} GPU has no usable driver: set {OPTION}.type = \"{t}\"; (it installs the driver) and reboot"),
            format!("the {t} GPU has no usable driver: install its driver ({}) and reboot", driver_to_install(t)),
        )
    } else {
        ctx.install.fix(
            format!("{OPTION}.type = \"{detected}\";"),
            format!(
                "\"gpu\": {{\"type\": \"{detected}\"}} in {}",
                declared::PATH
            ),
        )
    };
    f.fail(GPU, "type", evidence, fix);
}

/// The driver a distribution's user installs for a declared type.
fn driver_to_install(gpu_type: &str) -> &'static str {
    match gpu_type {
        "nvidia" => "NVIDIA's proprietary driver, not nouveau",
        "amd" => "amdgpu, with Mesa and ROCm for compute",
        _ => "the kernel's driver, with Mesa",
    }
}

fn check_accel(ctx: &Context, d: &declared::Gpu, detected: &str, f: &mut Findings) {
    let declared = Accel::best_of(Vendor::named(&d.gpu_type)).as_str();
    let evidence = ctx.install.fix(
        format!("{OPTION}.accel is {declared}; the machine gives {detected}"),
        format!(
            "gpu.type {} asks for {declared}; the machine gives {detected}",
            d.gpu_type
        ),
    );
    if declared == detected {
        f.ok(GPU, "accel", evidence);
    } else {
        let fix = match declared {
            "cuda" => ctx.install.fix(
                "load NVIDIA's driver (not nouveau): the nvidia kernel module must be bound to the GPU; reboot after nixos-rebuild switch",
                "load NVIDIA's driver (not nouveau): the nvidia kernel module must be bound to the GPU; install it and reboot",
            ),
            "rocm" => ctx.install.fix(
                "amdgpu must drive the GPU and /dev/kfd exist: hardware.amdgpu.opencl.enable (set by type = \"amd\"); reboot",
                "amdgpu must drive the GPU and /dev/kfd exist (the amdgpu kernel driver makes it), with ROCm's runtime installed; reboot",
            ),
            _ => "a driver with a render node must drive the GPU".into(),
        };
        f.fail(GPU, "accel", evidence, fix);
    }
}

/// The version in a versioned library file name (`libcuda.so.550.78` gives 550.78).
fn lib_version(name: &str) -> Option<&str> {
    ["libnvidia-ml.so.", "libcuda.so."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|v| v.contains('.') && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// NVIDIA's user-space driver version and where it was found: the first directory of
/// [`LIB_DIRS`] holding versioned libnvidia-ml or libcuda files (names only; nothing opened).
fn userspace_version(root: &Root) -> Option<(String, String)> {
    for dir in LIB_DIRS {
        let Ok(names) = hwc_core::safefs::list_dir(&root.path(dir)) else {
            continue;
        };
        // Highest by number (570.133.07 above 570.86.16), not by text.
        let versions: BTreeSet<(Vec<u64>, String)> = names
            .iter()
            .filter_map(|n| lib_version(&n.to_string_lossy()).map(str::to_string))
            .map(|v| (v.split('.').filter_map(|n| n.parse().ok()).collect(), v))
            .collect();
        if let Some((_, v)) = versions.last() {
            return Some((v.clone(), dir.to_string()));
        }
    }
    None
}

fn check_nvidia(ctx: &Context, runtime: Option<&ContainerRuntime>, f: &mut Findings) {
    let kernel = ctx.gpus.nvidia_version.map(|v| v.as_str().into_owned());
    let user = userspace_version(&ctx.root);
    // Whether the versions match: `None` when user space was not found (not known).
    let matched = match (&kernel, &user) {
        (None, _) => {
            f.fail(
                GPU,
                "nvidia-versions",
                "the nvidia kernel module is not loaded (/sys/module/nvidia/version is absent)",
                ctx.install.fix(
                    format!("{OPTION}.type = \"nvidia\"; installs it; reboot after nixos-rebuild switch"),
                    "install NVIDIA's driver (its kernel module) and reboot",
                ),
            );
            Some(false)
        }
        (Some(k), None) => {
            f.warn(
                GPU,
                "nvidia-versions",
                format!("kernel module {k}; no versioned libnvidia-ml or libcuda in {}", LIB_DIRS.join(", ")),
                Some(ctx.install.fix(
                    "hardware.graphics.enable = true; (set by the gpu module) links the driver into /run/opengl-driver",
                    format!("install NVIDIA's user-space driver (libnvidia-ml, libcuda) of version {k}"),
                )),
            );
            None
        }
        (Some(k), Some((u, dir))) if k == u => {
            f.ok(
                GPU,
                "nvidia-versions",
                format!("kernel module and user space ({dir}) are both {k}"),
            );
            Some(true)
        }
        (Some(k), Some((u, dir))) => {
            f.fail(
                GPU,
                "nvidia-versions",
                format!(
                    "kernel module {k} is loaded, user-space driver in {dir} is {u}: the driver was upgraded without a reboot (NVML: Driver/library version mismatch)"
                ),
                format!("reboot, so the {u} kernel module loads"),
            );
            Some(false)
        }
    };
    let cdi_matched = match runtime {
        Some(rt) => check_cdi(ctx, rt, kernel.as_deref(), f),
        None => {
            f.skip(GPU, "cdi-spec", "no container runtime declared");
            true
        }
    };
    if let Some(matched) = matched {
        f.sample(
            "hwc_nvidia_versions_match",
            Vec::new(),
            u64::from(matched && cdi_matched),
        );
    }
}

/// The CDI spec for NVIDIA GPUs: present, generated for the loaded driver, listing the GPUs
/// there are. Whether it matched.
fn check_cdi(ctx: &Context, rt: &ContainerRuntime, kernel: Option<&str>, f: &mut Findings) -> bool {
    // NVIDIA's container toolkit writes a spec where it is told, each stale one in its place.
    let generate = |paths: &[&str]| {
        let each: Vec<String> = paths
            .iter()
            .map(|p| format!("nvidia-ctk cdi generate --output={}", shell_word(p)))
            .collect();
        each.join("; ")
    };
    let specs: Vec<_> = rt
        .spec_files
        .iter()
        .filter(|s| !s.driver_versions.is_empty() || !s.gpu_nodes.is_empty())
        .collect();
    if specs.is_empty() {
        f.fail(
            GPU,
            "cdi-spec",
            "no CDI spec for NVIDIA GPUs in /etc/cdi, /var/run/cdi or /run/cdi: containers start without a GPU",
            ctx.install.fix(
                format!("{OPTION}.nvidia.containerRuntime = true; (the NVIDIA container toolkit writes the spec at boot)"),
                generate(&["/etc/cdi/nvidia.yaml"]),
            ),
        );
        return false;
    }
    let gpus = ctx
        .gpus
        .list
        .iter()
        .filter(|g| g.vendor() == Vendor::Nvidia)
        .count();
    // One check over every spec, so a stale spec is never hidden behind a good one.
    let mut bad = Vec::new();
    let mut stale_paths = Vec::new();
    let mut good = Vec::new();
    for spec in specs {
        let versions: Vec<&str> = spec.driver_versions.iter().map(String::as_str).collect();
        let stale = kernel.is_some_and(|k| !versions.is_empty() && !versions.contains(&k));
        if stale || spec.gpu_nodes.len() != gpus {
            stale_paths.push(spec.path.as_str());
        }
        if stale {
            bad.push(format!(
                "{} was generated for driver {}, but {} is loaded: containers get the old libraries",
                spec.path,
                versions.join(", "),
                kernel.unwrap_or_default()
            ));
        } else if spec.gpu_nodes.len() != gpus {
            bad.push(format!(
                "{} lists {} GPU(s) (/dev/nvidiaN), the machine has {gpus}",
                spec.path,
                spec.gpu_nodes.len()
            ));
        } else {
            good.push(format!(
                "{}: driver {}, {gpus} GPU(s)",
                spec.path,
                versions.join(", ")
            ));
        }
    }
    if bad.is_empty() {
        f.ok(GPU, "cdi-spec", good.join("; "));
        true
    } else {
        let generate = generate(&stale_paths);
        let fix = ctx.install.fix(
            format!("regenerate it: systemctl restart nvidia-container-toolkit-cdi-generator.service, or {generate}"),
            format!("regenerate it: {generate}"),
        );
        f.fail(GPU, "cdi-spec", bad.join("; "), fix);
        false
    }
}

fn check_render_access(ctx: &Context, node: Option<&str>, f: &mut Findings) {
    let Some(user) = ctx.user.as_ref() else {
        f.skip(GPU, "render-node", "no user declared or given (--user)");
        return;
    };
    let Some(node) = node else {
        f.skip(
            GPU,
            "render-node",
            "the GPU services use has no render node",
        );
        return;
    };
    let who = ctx.who(user);
    let verdict = match access::system_verdicts(&ctx.root, &ctx.acc, &who, &[node.into()]) {
        Ok(mut v) => v.pop().and_then(|v| v.ok()),
        Err(e) => {
            f.fail(
                GPU,
                "render-node",
                format!("cannot judge {node}: {e}"),
                "check --root",
            );
            return;
        }
    };
    if verdict.is_none() && ctx.root.path(node).symlink_metadata().is_ok() {
        f.fail(
            GPU,
            "render-node",
            format!("{node} is there but cannot be judged"),
            format!("hwc-perms access --user {} {node}", user.name),
        );
        return;
    }
    match verdict {
        Some(v) if v.read && v.write => f.ok(
            GPU,
            "render-node",
            format!("{} may open {node} ({})", user.name, v.via),
        ),
        Some(v) => {
            let named = ctx.node_group(node);
            // A node whose group has no name here: the group made, then udev's rules applied
            // again to the node, or usermod adds nothing.
            let made = if named.is_none() {
                "groupadd --system render; udevadm trigger; "
            } else {
                ""
            };
            let group = named.unwrap_or_else(|| "render".into());
            f.fail(
                GPU,
                "render-node",
                format!(
                    "{} may not open {node} for reading and writing: {}",
                    user.name, v.via
                ),
                {
                    let (nixos, command) = access::groupsets::fixes(&user.name, &[group]);
                    ctx.install
                        .fix(nixos, format!("{made}{command} (then log in again)"))
                },
            );
        }
        None => f.skip(GPU, "render-node", format!("{node} is not there")),
    }
}

fn check_offload(ctx: &Context, d: &declared::Gpu, f: &mut Findings) {
    let from = ctx.gpus.default_gpu().map(|g| g.role);
    let dgpu_declared = Vendor::named(&d.gpu_type)
        .and_then(Vendor::facts)
        .is_some_and(|f| f.offload_target);
    if !dgpu_declared || !matches!(from, Some(Role::Integrated | Role::Bmc | Role::Virtual)) {
        f.skip(
            GPU,
            "offload",
            "no discrete GPU declared beside an integrated or BMC display",
        );
        return;
    }
    match offload::plan(&ctx.gpus, Selector::Auto, &ctx.root) {
        Ok(Plan::Offload { gpu, .. }) => f.ok(
            GPU,
            "offload",
            format!(
                "gpu-launch renders on {} {}",
                gpu.vendor().as_str(),
                gpu.pci
            ),
        ),
        Ok(Plan::NoTarget(reason)) => f.fail(
            GPU,
            "offload",
            format!("gpu-launch cannot offload: {reason}"),
            ctx.install.fix(
                format!(
                    "{OPTION}.type = \"{}\"; installs the driver that renders offloaded; reboot",
                    d.gpu_type
                ),
                format!(
                    "install the {} GPU's driver that renders offloaded ({}); reboot",
                    d.gpu_type,
                    driver_to_install(&d.gpu_type)
                ),
            ),
        ),
        Ok(Plan::AlreadyDefault(g)) => {
            f.ok(GPU, "offload", format!("{} is the default GPU", g.pci))
        }
        Err(e) => f.fail(GPU, "offload", e.to_string(), "see hwc-gpu-detect"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_library_names() {
        assert_eq!(lib_version("libcuda.so.550.78"), Some("550.78"));
        assert_eq!(
            lib_version("libnvidia-ml.so.570.133.07"),
            Some("570.133.07")
        );
        assert_eq!(lib_version("libnvidia-ml.so.1"), None);
        assert_eq!(lib_version("libcuda.so"), None);
        assert_eq!(lib_version("libcudart.so.12.4"), None);
    }
}

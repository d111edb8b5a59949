//! Which GPU a program should render on, and the environment that makes it do so (PRIME render
//! offload). Offload means: the desktop runs on an integrated GPU and one program renders on a
//! discrete one. Where the default GPU is already discrete (a desktop card, a DGX workstation) or
//! a BMC/virtual display (a server), nothing is offloaded unless asked for with `--gpu`.

use super::{Gpu, Gpus, PciAddr, Role, Vendor};
use crate::error::{Error, Result};
use crate::root::Root;
use crate::sysfs;

/// Where glvnd looks for EGL vendor files: NixOS's driver link first, then glvnd's own
/// sysconfdir and datadir order.
pub const EGL_VENDOR_DIRS: [&str; 3] = [
    "/run/opengl-driver/share/glvnd/egl_vendor.d",
    "/etc/glvnd/egl_vendor.d",
    "/usr/share/glvnd/egl_vendor.d",
];

/// Drivers that Mesa offloads to with `DRI_PRIME`.
const MESA_DRIVERS: [&str; 5] = ["amdgpu", "radeon", "nouveau", "i915", "xe"];

/// What `--gpu` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector {
    Auto,
    Vendor(Vendor),
    Pci(PciAddr),
}

impl Selector {
    /// `auto`, `nvidia`, `amd`, `intel`, or a PCI address (`0000:01:00.0` or `01:00.0`).
    pub fn parse(text: &str) -> Option<Selector> {
        Some(match text {
            "auto" => Selector::Auto,
            "nvidia" => Selector::Vendor(Vendor::Nvidia),
            "amd" => Selector::Vendor(Vendor::Amd),
            "intel" => Selector::Vendor(Vendor::Intel),
            _ => Selector::Pci(PciAddr::parse(text.as_bytes())?),
        })
    }
}

/// The decision for one launch.
#[derive(Debug)]
pub enum Plan<'g> {
    /// Render on `gpu` with these variables.
    Offload {
        gpu: &'g Gpu,
        env: Vec<(&'static str, String)>,
    },
    /// The chosen GPU is the default one: the program runs as it is.
    AlreadyDefault(&'g Gpu),
    /// Automatic choice found nothing to offload to; the reason is for a notice.
    NoTarget(String),
}

fn can_offload(gpu: &Gpu) -> bool {
    matches!(gpu.role, Role::Discrete | Role::Integrated)
        && (gpu.driver_is("nvidia") || MESA_DRIVERS.iter().any(|d| gpu.driver_is(d)))
}

/// Decides where to render. Automatic choice never fails (no target is a [`Plan::NoTarget`]);
/// an explicit `--gpu` that names nothing usable is an error.
pub fn plan<'g>(gpus: &'g Gpus, selector: Selector, root: &Root) -> Result<Plan<'g>> {
    let chosen = match selector {
        Selector::Auto => match auto_target(gpus) {
            Ok(gpu) => gpu,
            Err(reason) => return Ok(Plan::NoTarget(reason)),
        },
        Selector::Vendor(vendor) => {
            let of_vendor = || gpus.list.iter().filter(move |g| g.vendor() == vendor);
            let usable = || of_vendor().filter(|g| can_offload(g));
            usable()
                .find(|g| !g.default && g.is_discrete())
                .or_else(|| usable().find(|g| !g.default))
                .or_else(|| usable().next())
                .ok_or_else(|| match of_vendor().next() {
                    None => Error::failed(format!("--gpu {}: no such GPU found", vendor.as_str())),
                    Some(g) => Error::failed(format!(
                        "--gpu {}: {} has no driver that can render offloaded",
                        vendor.as_str(),
                        g.pci
                    )),
                })?
        }
        Selector::Pci(pci) => {
            let gpu = gpus
                .find(pci)
                .ok_or_else(|| Error::failed(format!("--gpu {pci}: no GPU at that address")))?;
            if !gpu.default && !can_offload(gpu) {
                let driver = gpu
                    .driver
                    .map_or("no driver".into(), |d| format!("driver {}", d.as_str()));
                return Err(Error::failed(format!(
                    "--gpu {pci}: cannot offload to a {} GPU with {driver}",
                    gpu.role.as_str()
                )));
            }
            gpu
        }
    };
    if chosen.default {
        return Ok(Plan::AlreadyDefault(chosen));
    }
    Ok(Plan::Offload {
        gpu: chosen,
        env: offload_env(gpus, chosen, root),
    })
}

/// PRIME offload applies when the desktop runs on an integrated GPU and a discrete GPU with a
/// usable driver sits beside it; the first such in PCI order is chosen.
fn auto_target(gpus: &Gpus) -> std::result::Result<&Gpu, String> {
    let Some(default) = gpus.default_gpu() else {
        return Err("no GPU found".into());
    };
    if default.role != Role::Integrated {
        return Err(format!(
            "the default GPU {} is {}, not an integrated GPU to offload from",
            default.pci,
            default.role.as_str()
        ));
    }
    let mut discrete = gpus.list.iter().filter(|g| g.is_discrete() && !g.default);
    let Some(first) = discrete.clone().next() else {
        return Err("no discrete GPU".into());
    };
    discrete
        .find(|g| can_offload(g))
        .ok_or_else(|| match first.driver {
            None => format!("the discrete GPU {} has no driver bound", first.pci),
            Some(d) => format!(
                "the discrete GPU {} uses driver {}, which cannot render offloaded",
                first.pci,
                d.as_str()
            ),
        })
}

/// The variables that make a program render on `gpu`.
pub fn offload_env(gpus: &Gpus, gpu: &Gpu, root: &Root) -> Vec<(&'static str, String)> {
    if !gpu.driver_is("nvidia") {
        return vec![("DRI_PRIME", gpu.pci.path_tag())];
    }
    // The X server names NVIDIA GPU screens NVIDIA-G0, -G1, ... in PCI order of the GPUs it
    // offloads to, which excludes one driving the desktop.
    let index = gpus
        .list
        .iter()
        .filter(|g| g.driver_is("nvidia") && !g.default && g.pci < gpu.pci)
        .count();
    let mut env = vec![
        ("__NV_PRIME_RENDER_OFFLOAD", "1".to_string()),
        (
            "__NV_PRIME_RENDER_OFFLOAD_PROVIDER",
            format!("NVIDIA-G{index}"),
        ),
        ("__GLX_VENDOR_LIBRARY_NAME", "nvidia".to_string()),
        ("__VK_LAYER_NV_optimus", "NVIDIA_only".to_string()),
    ];
    if let Some(file) = EGL_VENDOR_DIRS.iter().find_map(|dir| {
        let file = format!("{dir}/10_nvidia.json");
        sysfs::exists(&root.stack_path(file.as_bytes())).then_some(file)
    }) {
        env.push(("__EGL_VENDOR_LIBRARY_FILENAMES", file));
    }
    env
}

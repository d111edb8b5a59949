//! Which GPU a program should render on, and the environment that makes it do so (PRIME render
//! offload). Offload means: the desktop runs on one display device and a program renders on
//! another GPU. The automatic choice offloads
//! - from an integrated GPU (a hybrid laptop) to the first discrete GPU in PCI order whose driver
//!   can render offloaded;
//! - from a BMC or virtual display (a server seen through its management console, a VM with a
//!   passed-through GPU) to the first real GPU beside it whose driver can render offloaded,
//!   discrete ones first, as switcheroo-control offers its first discrete GPU.
//!
//! Where the default GPU is already discrete (a desktop card, a DGX workstation), nothing is
//! offloaded unless asked for with `--gpu`.

use super::{Gpu, Gpus, PciAddr, Role, Vendor, VENDORS};
use hwc_core::error::{Error, Result};
use hwc_core::root::Root;
use hwc_core::sysfs;

/// Where glvnd looks for EGL vendor files: NixOS's driver link first, then glvnd's own
/// sysconfdir and datadir order.
pub const EGL_VENDOR_DIRS: [&str; 3] = [
    "/run/opengl-driver/share/glvnd/egl_vendor.d",
    "/etc/glvnd/egl_vendor.d",
    "/usr/share/glvnd/egl_vendor.d",
];

/// NVIDIA's own driver, which renders offloaded with its PRIME variables (Mesa's drivers, in
/// the vendor table, with `DRI_PRIME`).
const NVIDIA_DRIVER: &str = "nvidia";

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
            _ => match Vendor::named(text) {
                Some(v) => Selector::Vendor(v),
                None => Selector::Pci(PciAddr::parse(text.as_bytes())?),
            },
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
        && (gpu.driver_is(NVIDIA_DRIVER)
            || VENDORS
                .iter()
                .any(|f| f.mesa_drivers.iter().any(|d| gpu.driver_is(d))))
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

/// The automatic choice of the module documentation: `Err` holds the reason there is none.
fn auto_target(gpus: &Gpus) -> std::result::Result<&Gpu, String> {
    let Some(default) = gpus.default_gpu() else {
        return Err("no GPU found".into());
    };
    let from_display = match default.role {
        Role::Integrated => false,
        Role::Bmc | Role::Virtual => true,
        Role::Discrete | Role::Unknown => {
            return Err(format!(
                "the default GPU {} is {}, not an integrated GPU, BMC or virtual display to \
                 offload from",
                default.pci,
                default.role.as_str()
            ))
        }
    };
    let beside = |role: Role| {
        gpus.list
            .iter()
            .filter(move |g| !g.default && g.role == role)
    };
    let discrete = beside(Role::Discrete);
    // Beside a BMC or virtual display, an integrated GPU (passed through to a VM) is real too.
    let integrated = beside(Role::Integrated).filter(move |_| from_display);
    let mut candidates = discrete.chain(integrated);
    let Some(first) = candidates.clone().next() else {
        return Err(no_candidate(default, from_display));
    };
    candidates
        .find(|g| can_offload(g))
        .ok_or_else(|| unusable(first))
}

fn no_candidate(default: &Gpu, from_display: bool) -> String {
    if from_display {
        format!(
            "the default GPU {} is a {} display with no GPU beside it",
            default.pci,
            default.role.as_str()
        )
    } else {
        "no discrete GPU".into()
    }
}

fn unusable(gpu: &Gpu) -> String {
    match gpu.driver {
        None => format!(
            "the {} GPU {} has no driver bound",
            gpu.role.as_str(),
            gpu.pci
        ),
        Some(d) => format!(
            "the {} GPU {} uses driver {}, which cannot render offloaded",
            gpu.role.as_str(),
            gpu.pci,
            d.as_str()
        ),
    }
}

/// The variables that make a program render on `gpu`.
pub fn offload_env(gpus: &Gpus, gpu: &Gpu, root: &Root) -> Vec<(&'static str, String)> {
    if !gpu.driver_is(NVIDIA_DRIVER) {
        return vec![("DRI_PRIME", gpu.pci.path_tag())];
    }
    // The X server names NVIDIA GPU screens NVIDIA-G0, -G1, ... in PCI order of the GPUs it
    // offloads to, which excludes one driving the desktop.
    let index = gpus
        .list
        .iter()
        .filter(|g| g.driver_is(NVIDIA_DRIVER) && !g.default && g.pci < gpu.pci)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A GPU as a scan would give it, its role from the ids; [`machine`] marks the default.
    fn gpu(pci: &str, vendor_id: u16, device_id: u16, class: u32, driver: &str) -> Gpu {
        let pci = PciAddr::parse(pci.as_bytes()).unwrap();
        Gpu::from_ids(pci, vendor_id, device_id, class, driver)
    }

    fn machine(mut list: Vec<Gpu>, default: usize) -> Gpus {
        list[default].default = true;
        Gpus {
            list,
            ..Gpus::default()
        }
    }

    fn target(gpus: &Gpus) -> std::result::Result<String, String> {
        auto_target(gpus).map(|g| g.pci.to_string())
    }

    const ASPEED: (u16, u16, u32) = (0x1a03, 0x2000, 0x030000);
    const QXL: (u16, u16, u32) = (0x1b36, 0x0100, 0x030000);
    const H100: (u16, u16, u32) = (0x10de, 0x2330, 0x030200);
    const NAVI: (u16, u16, u32) = (0x1002, 0x73bf, 0x030000);

    fn of(pci: &str, ids: (u16, u16, u32), driver: &str) -> Gpu {
        gpu(pci, ids.0, ids.1, ids.2, driver)
    }

    #[test]
    fn hybrid_laptop_offloads_to_the_discrete_gpu() {
        let m = machine(
            vec![
                of("0000:00:02.0", (0x8086, 0x9a49, 0x030000), "i915"),
                of("0000:01:00.0", H100, "nvidia"),
            ],
            0,
        );
        assert_eq!(target(&m).as_deref(), Ok("0000:01:00.0"));
    }

    #[test]
    fn bmc_display_offloads_to_the_first_gpu_with_a_driver() {
        let m = machine(
            vec![
                of("0000:02:00.0", ASPEED, "ast"),
                of("0000:18:00.0", H100, ""),
                of("0000:2a:00.0", H100, "nvidia"),
                of("0000:3b:00.0", H100, "nvidia"),
            ],
            0,
        );
        assert_eq!(target(&m).as_deref(), Ok("0000:2a:00.0"));
    }

    #[test]
    fn virtual_display_offloads_to_a_passed_through_gpu() {
        let m = machine(
            vec![
                of("0000:00:01.0", QXL, "qxl"),
                of("0000:06:00.0", NAVI, "amdgpu"),
            ],
            0,
        );
        assert_eq!(target(&m).as_deref(), Ok("0000:06:00.0"));
        // A passed-through Intel iGPU keeps its slot and counts as integrated: still real.
        let m = machine(
            vec![
                of("0000:00:01.0", QXL, "qxl"),
                of("0000:00:02.0", (0x8086, 0x9a49, 0x030000), "i915"),
            ],
            0,
        );
        assert_eq!(target(&m).as_deref(), Ok("0000:00:02.0"));
    }

    #[test]
    fn beside_a_bmc_discrete_gpus_come_before_integrated_ones() {
        let m = machine(
            vec![
                of("0000:00:02.0", (0x8086, 0x3e92, 0x030000), "i915"),
                of("0000:01:00.0", H100, "nvidia"),
                of("0000:03:00.0", (0x102b, 0x0536, 0x030000), "mgag200"),
            ],
            2,
        );
        assert_eq!(target(&m).as_deref(), Ok("0000:01:00.0"));
    }

    #[test]
    fn no_target_says_why() {
        let m = machine(
            vec![
                of("0000:02:00.0", ASPEED, "ast"),
                of("0000:18:00.0", H100, ""),
            ],
            0,
        );
        assert_eq!(
            target(&m),
            Err("the discrete GPU 0000:18:00.0 has no driver bound".into())
        );
        let m = machine(vec![of("0000:00:01.0", QXL, "qxl")], 0);
        assert_eq!(
            target(&m),
            Err("the default GPU 0000:00:01.0 is a virtual display with no GPU beside it".into())
        );
        let m = machine(
            vec![
                of("0000:01:00.0", H100, "nvidia"),
                of("0000:02:00.0", H100, "nvidia"),
            ],
            0,
        );
        assert!(target(&m)
            .unwrap_err()
            .contains("is discrete, not an integrated GPU"));
        let m = machine(
            vec![
                of("0000:00:02.0", (0x8086, 0x9a49, 0x030000), "i915"),
                of("0000:01:00.0", H100, "vfio-pci"),
            ],
            0,
        );
        assert_eq!(
            target(&m),
            Err(
                "the discrete GPU 0000:01:00.0 uses driver vfio-pci, which cannot render offloaded"
                    .into()
            )
        );
        let none = Gpus::default();
        assert_eq!(target(&none), Err("no GPU found".into()));
    }
}

//! What services are told about the machine's GPUs: the accelerator API to use (`cuda`, `rocm`,
//! `vaapi`, `cpu`) and the GPU it runs on. The dGPU is preferred: GPUs are tried discrete ones
//! first (PCI order), then the default, then the rest, and the first that gives an API wins.

use super::{Gpu, Gpus, PciAddr, Vendor, VendorFacts};
use hwc_core::root::Root;
use hwc_core::sysfs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// NVIDIA with the proprietary `nvidia` driver.
    Cuda,
    /// AMD with `amdgpu` and `/dev/kfd` present (stat only; opening it would wake the GPU).
    Rocm,
    /// Intel or AMD with a driver and a render node.
    Vaapi,
    Cpu,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Cuda => "cuda",
            Accel::Rocm => "rocm",
            Accel::Vaapi => "vaapi",
            Accel::Cpu => "cpu",
        }
    }
}

/// What `gpu` gives: its vendor's compute API when its own driver is bound (ROCm also needs
/// `/dev/kfd`), else VA-API where the vendor's GPUs serve it with a driver and a render node.
fn accel_of(gpu: &Gpu, has_kfd: &mut impl FnMut() -> bool) -> Accel {
    let Some(f) = gpu.vendor().facts() else {
        return Accel::Cpu;
    };
    match f.compute {
        Some((api, driver)) if gpu.driver_is(driver) && (api != Accel::Rocm || has_kfd()) => api,
        _ if f.vaapi && gpu.driver.is_some() && gpu.render.is_some() => Accel::Vaapi,
        _ => Accel::Cpu,
    }
}

impl Accel {
    /// The best API a GPU of `vendor` can give (with its own driver bound), what a machine
    /// declared with that vendor is expected to offer; `Cpu` for none.
    pub fn best_of(vendor: Option<Vendor>) -> Accel {
        match vendor.and_then(Vendor::facts) {
            Some(VendorFacts {
                compute: Some((api, _)),
                ..
            }) => *api,
            Some(f) if f.vaapi => Accel::Vaapi,
            _ => Accel::Cpu,
        }
    }
}

/// GPUs in the order services should prefer them.
pub fn preference_order(gpus: &Gpus) -> impl Iterator<Item = &Gpu> {
    let discrete = gpus.list.iter().filter(|g| g.is_discrete());
    let default = gpus.list.iter().filter(|g| g.default && !g.is_discrete());
    let rest = gpus.list.iter().filter(|g| !g.default && !g.is_discrete());
    discrete.chain(default).chain(rest)
}

/// The accelerator and the GPU that provides it (`None` with `Cpu`).
pub fn accel<'g>(gpus: &'g Gpus, root: &Root) -> (Accel, Option<&'g Gpu>) {
    let mut kfd = None;
    let mut has_kfd = || *kfd.get_or_insert_with(|| sysfs::exists(&root.stack_path(b"/dev/kfd")));
    preference_order(gpus)
        .map(|g| (accel_of(g, &mut has_kfd), g))
        .find(|(a, _)| *a != Accel::Cpu)
        .map_or((Accel::Cpu, None), |(a, g)| (a, Some(g)))
}

/// The `HWC_GPU_*` facts shared by `hwc-gpu-detect --env` and `hwc-session-init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `nvidia`, `amd`, `intel` or `none`: the vendor of the GPU services should use.
    pub gpu_type: &'static str,
    pub accel: Accel,
    /// PCI address of the discrete GPU with a driver, if any.
    pub dgpu: Option<String>,
    /// Render node of the GPU services should use, if it has one.
    pub render_node: Option<String>,
    /// PCI address of the GPU services should use (the one `gpu_type` names), if any.
    pub gpu: Option<PciAddr>,
}

pub fn summarize(gpus: &Gpus, root: &Root) -> Summary {
    let (accel, accel_gpu) = accel(gpus, root);
    let dgpu = gpus
        .list
        .iter()
        .find(|g| g.is_discrete() && g.driver.is_some());
    let main = accel_gpu
        .or(dgpu)
        .or_else(|| gpus.default_gpu().filter(|g| g.vendor() != Vendor::Other));
    Summary {
        gpu_type: main.map_or("none", |g| match g.vendor() {
            Vendor::Other => "none",
            v => v.as_str(),
        }),
        accel,
        dgpu: dgpu.map(|g| g.pci.to_string()),
        render_node: main.and_then(Gpu::render_node),
        gpu: main.map(|g| g.pci),
    }
}

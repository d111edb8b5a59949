//! `--nixos`'s decision: whether NixOS needs PRIME bus ids for this machine, and which. NixOS's
//! `hardware.nvidia.prime` sets up render offload for NVIDIA's proprietary driver from an
//! integrated Intel or AMD GPU, and needs both PCI addresses. The decision is made from what the
//! GPUs are, not from the driver bound now: on a fresh install the NVIDIA GPU runs nouveau or
//! nothing, which is exactly when the ids are wanted. Every other case (a single GPU, a desktop
//! whose card drives the display, an AMD dGPU offloaded by Mesa, a server or VM display, no GPU)
//! needs none.

use hwc_gpu::{Gpus, PciAddr, Role, Vendor};

/// NVIDIA PRIME render offload as NixOS configures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prime {
    pub nvidia: PciAddr,
    pub integrated: PciAddr,
    /// The integrated GPU's vendor, which names its option.
    pub kind: Vendor,
    /// The NVIDIA GPU's driver now, when it is not NVIDIA's own (`nouveau`, or none at all).
    pub driver_now: Option<Option<String>>,
}

/// The PRIME ids for this machine: the first discrete NVIDIA GPU beside an integrated Intel or
/// AMD GPU that drives the display, whatever driver the NVIDIA GPU has now.
pub fn prime(gpus: &Gpus) -> Option<Prime> {
    let default = gpus.default_gpu().filter(|g| g.role == Role::Integrated)?;
    let kind = default.vendor();
    kind.facts()?.prime_option?;
    let nvidia = gpus
        .list
        .iter()
        .find(|g| g.vendor() == Vendor::Nvidia && g.is_discrete())?;
    Some(Prime {
        nvidia: nvidia.pci,
        integrated: default.pci,
        kind,
        driver_now: (!nvidia.driver_is("nvidia"))
            .then(|| nvidia.driver.map(|d| d.as_str().into_owned())),
    })
}

impl Prime {
    /// The option of `hardware.nvidia.prime` that holds the integrated GPU's bus id.
    pub fn option(&self) -> &'static str {
        self.kind.facts().and_then(|f| f.prime_option).unwrap_or("")
    }
}

/// NixOS's bus id, `PCI:<bus>@<domain>:<device>:<function>`, every number in decimal where
/// sysfs writes them in hex (`0000:64:00.0` is `PCI:100@0:0:0`).
pub fn bus_id(pci: PciAddr) -> String {
    format!(
        "PCI:{}@{}:{}:{}",
        pci.bus, pci.domain, pci.device, pci.function
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hwc_gpu::Gpu;

    fn addr(text: &str) -> PciAddr {
        PciAddr::parse(text.as_bytes()).unwrap()
    }

    fn gpu(pci: &str, vendor_id: u16, device_id: u16, class: u32, driver: &str) -> Gpu {
        Gpu::from_ids(addr(pci), vendor_id, device_id, class, driver)
    }

    #[test]
    fn bus_ids_are_decimal() {
        assert_eq!(bus_id(addr("0000:01:00.0")), "PCI:1@0:0:0");
        assert_eq!(bus_id(addr("0000:00:02.0")), "PCI:0@0:2:0");
        assert_eq!(bus_id(addr("0000:64:00.0")), "PCI:100@0:0:0");
        assert_eq!(bus_id(addr("0000:c4:00.0")), "PCI:196@0:0:0");
        assert_eq!(bus_id(addr("0000:ff:1f.7")), "PCI:255@0:31:7");
        assert_eq!(bus_id(addr("0001:0a:10.1")), "PCI:10@1:16:1");
        assert_eq!(bus_id(addr("000a:01:00.0")), "PCI:1@10:0:0");
    }

    fn machine(mut list: Vec<Gpu>) -> Gpus {
        list[0].default = true;
        Gpus {
            list,
            ..Gpus::default()
        }
    }

    #[test]
    fn prime_needs_nvidia_beside_an_integrated_gpu() {
        let intel = gpu("0000:00:02.0", 0x8086, 0x9a49, 0x030000, "i915");
        let apu = gpu("0000:c4:00.0", 0x1002, 0x15bf, 0x030000, "amdgpu");
        let nvidia = gpu("0000:64:00.0", 0x10de, 0x2520, 0x030200, "nvidia");
        assert_eq!(
            prime(&machine(vec![intel.clone(), nvidia.clone()])),
            Some(Prime {
                nvidia: nvidia.pci,
                integrated: intel.pci,
                kind: Vendor::Intel,
                driver_now: None,
            })
        );
        let amd = prime(&machine(vec![apu.clone(), nvidia.clone()])).unwrap();
        assert_eq!((amd.option(), amd.integrated), ("amdgpuBusId", apu.pci));
        // A fresh install: the NVIDIA GPU on nouveau, or on nothing yet.
        let nouveau = gpu("0000:01:00.0", 0x10de, 0x2520, 0x030200, "nouveau");
        let bare = gpu("0000:01:00.0", 0x10de, 0x0fe4, 0x030000, "");
        assert_eq!(
            prime(&machine(vec![intel.clone(), nouveau]))
                .unwrap()
                .driver_now,
            Some(Some("nouveau".into()))
        );
        assert_eq!(
            prime(&machine(vec![intel, bare])).unwrap().driver_now,
            Some(None)
        );
    }

    #[test]
    fn no_prime_otherwise() {
        let intel = gpu("0000:00:02.0", 0x8086, 0x9a49, 0x030000, "i915");
        let nvidia = gpu("0000:01:00.0", 0x10de, 0x2520, 0x030200, "nvidia");
        let radeon = gpu("0000:01:00.0", 0x1002, 0x6987, 0x038000, "amdgpu");
        let aspeed = gpu("0000:02:00.0", 0x1a03, 0x2000, 0x030000, "ast");
        let arc = gpu("0000:03:00.0", 0x8086, 0x56a0, 0x030000, "i915");
        assert_eq!(prime(&machine(vec![intel.clone()])), None, "one GPU");
        assert_eq!(prime(&Gpus::default()), None, "no GPU");
        assert_eq!(prime(&machine(vec![intel, radeon])), None, "Mesa");
        assert_eq!(
            prime(&machine(vec![aspeed, nvidia.clone()])),
            None,
            "a BMC display"
        );
        assert_eq!(
            prime(&machine(vec![arc, nvidia])),
            None,
            "a discrete default"
        );
    }
}

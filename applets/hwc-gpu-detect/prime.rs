//! `--nixos`'s decision: whether NixOS needs PRIME bus ids for this machine, and which. NixOS's
//! `hardware.nvidia.prime` sets up render offload for NVIDIA's proprietary driver from an
//! integrated Intel or AMD GPU, and needs both PCI addresses. Every other case (a single GPU, a
//! desktop whose card drives the display, Mesa offload, a server or VM display, no GPU) needs
//! none.

use hwc_core::gpu::{Gpu, PciAddr, Role, Vendor};

/// The integrated GPU NixOS offloads from, which names its option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrated {
    Intel,
    Amd,
}

impl Integrated {
    /// The option of `hardware.nvidia.prime` that holds its bus id.
    pub fn option(self) -> &'static str {
        match self {
            Integrated::Intel => "intelBusId",
            Integrated::Amd => "amdgpuBusId",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Integrated::Intel => "Intel",
            Integrated::Amd => "AMD",
        }
    }
}

/// NVIDIA PRIME render offload as NixOS configures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prime {
    pub nvidia: PciAddr,
    pub integrated: PciAddr,
    pub kind: Integrated,
}

/// The PRIME ids for this machine: `target` is the GPU the automatic offload choice renders on
/// (none when nothing is offloaded), `default` the GPU the display runs on. They exist only
/// when the target runs NVIDIA's proprietary driver and the default is an integrated Intel or
/// AMD GPU.
pub fn prime(target: Option<&Gpu>, default: Option<&Gpu>) -> Option<Prime> {
    let (target, default) = (target?, default?);
    if !target.driver_is("nvidia") || default.role != Role::Integrated {
        return None;
    }
    let kind = match default.vendor() {
        Vendor::Intel => Integrated::Intel,
        Vendor::Amd => Integrated::Amd,
        Vendor::Nvidia | Vendor::Other => return None,
    };
    Some(Prime {
        nvidia: target.pci,
        integrated: default.pci,
        kind,
    })
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
    use hwc_core::gpu::{role_of, ShortName};

    fn addr(text: &str) -> PciAddr {
        PciAddr::parse(text.as_bytes()).unwrap()
    }

    fn gpu(pci: &str, vendor_id: u16, device_id: u16, class: u32, driver: &str) -> Gpu {
        let pci = addr(pci);
        Gpu {
            pci,
            vendor_id,
            device_id,
            subsystem: None,
            class,
            driver: ShortName::new(driver.as_bytes()),
            boot_vga: None,
            boot_display: None,
            runtime_status: None,
            card: None,
            render: None,
            role: role_of(pci, vendor_id, device_id, class),
            default: false,
        }
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

    #[test]
    fn prime_needs_nvidia_offloaded_from_an_integrated_gpu() {
        let intel = gpu("0000:00:02.0", 0x8086, 0x9a49, 0x030000, "i915");
        let apu = gpu("0000:c4:00.0", 0x1002, 0x15bf, 0x030000, "amdgpu");
        let nvidia = gpu("0000:64:00.0", 0x10de, 0x2520, 0x030200, "nvidia");
        assert_eq!(
            prime(Some(&nvidia), Some(&intel)),
            Some(Prime {
                nvidia: nvidia.pci,
                integrated: intel.pci,
                kind: Integrated::Intel
            })
        );
        let amd = prime(Some(&nvidia), Some(&apu)).unwrap();
        assert_eq!(
            (amd.kind.option(), amd.integrated),
            ("amdgpuBusId", apu.pci)
        );
    }

    #[test]
    fn no_prime_otherwise() {
        let intel = gpu("0000:00:02.0", 0x8086, 0x9a49, 0x030000, "i915");
        let nvidia = gpu("0000:01:00.0", 0x10de, 0x2520, 0x030200, "nvidia");
        let nouveau = gpu("0000:01:00.0", 0x10de, 0x2520, 0x030200, "nouveau");
        let radeon = gpu("0000:01:00.0", 0x1002, 0x6987, 0x038000, "amdgpu");
        let aspeed = gpu("0000:02:00.0", 0x1a03, 0x2000, 0x030000, "ast");
        let arc = gpu("0000:03:00.0", 0x8086, 0x56a0, 0x030000, "i915");
        assert_eq!(prime(None, Some(&intel)), None, "nothing offloaded");
        assert_eq!(prime(Some(&nvidia), None), None, "no default GPU");
        assert_eq!(prime(Some(&nouveau), Some(&intel)), None, "Mesa");
        assert_eq!(prime(Some(&radeon), Some(&intel)), None, "Mesa");
        assert_eq!(prime(Some(&nvidia), Some(&aspeed)), None, "a BMC display");
        assert_eq!(prime(Some(&nvidia), Some(&arc)), None, "a discrete default");
    }
}

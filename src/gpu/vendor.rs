//! The GPU vendors hwc knows, as one table ([`VENDORS`]) with the rules that tell their GPUs'
//! roles ([`role_of`]). Everything that depends on a GPU's vendor reads it from here, the
//! applets and the doctor included: adding a vendor is a row of the table and, when its GPUs
//! need one, a rule of [`role_of`], both in this file.

use super::accel::Accel;
use super::{PciAddr, Role};

pub const VENDOR_NVIDIA: u16 = 0x10de;
pub const VENDOR_AMD: u16 = 0x1002;
pub const VENDOR_INTEL: u16 = 0x8086;

/// AMD APU graphics (integrated), by PCI device id: the parts marked AMD_IS_APU in the kernel's
/// radeon/amdgpu id tables and the later APUs found by IP discovery. A missing id makes an APU
/// look discrete, so `gpu-launch` would not offload on an APU + dGPU laptop; `--gpu` still works.
pub const AMD_APU_DEVICE_IDS: &[u16] = &[
    // Wrestler, Sumo, Trinity/Richland (radeon)
    0x9802, 0x9803, 0x9804, 0x9805, 0x9806, 0x9807, 0x9640, 0x9641, 0x9642, 0x9643, 0x9644, 0x9645,
    0x9647, 0x9648, 0x9649, 0x964a, 0x964b, 0x964c, 0x964e, 0x964f, 0x9900, 0x9901, 0x9903, 0x9904,
    0x9905, 0x9906, 0x9907, 0x9908, 0x9909, 0x990a, 0x990b, 0x990c, 0x990d, 0x990e, 0x990f, 0x9910,
    0x9913, 0x9917, 0x9918, 0x9919, 0x9990, 0x9991, 0x9992, 0x9993, 0x9994, 0x9995, 0x9996, 0x9997,
    0x9998, 0x9999, 0x999a, 0x999b, 0x999c, 0x999d, 0x99a0, 0x99a2, 0x99a4,
    // Kaveri, Kabini, Mullins, Carrizo, Stoney
    0x1304, 0x1305, 0x1306, 0x1307, 0x1309, 0x130a, 0x130b, 0x130c, 0x130d, 0x130e, 0x130f, 0x1310,
    0x1311, 0x1312, 0x1313, 0x1315, 0x1316, 0x1317, 0x1318, 0x131b, 0x131c, 0x131d, 0x9830, 0x9831,
    0x9832, 0x9833, 0x9834, 0x9835, 0x9836, 0x9837, 0x9838, 0x9839, 0x983a, 0x983b, 0x983c, 0x983d,
    0x983e, 0x983f, 0x9850, 0x9851, 0x9852, 0x9853, 0x9854, 0x9855, 0x9856, 0x9857, 0x9858, 0x9859,
    0x985a, 0x985b, 0x985c, 0x985d, 0x985e, 0x985f, 0x9870, 0x9874, 0x9875, 0x9876, 0x9877, 0x98e4,
    // Raven/Picasso/Dali, Renoir/Lucienne/Cezanne/Barcelo, Van Gogh, Rembrandt, Mendocino,
    // Raphael/Granite Ridge, Phoenix/Hawk Point, Strix Point, Strix Halo, Krackan
    0x15d8, 0x15dd, 0x15e7, 0x1636, 0x1638, 0x164c, 0x163f, 0x1435, 0x1681, 0x164d, 0x1506, 0x164e,
    0x13c0, 0x15bf, 0x15c8, 0x1900, 0x1901, 0x150e, 0x1586, 0x1114,
];

/// What hwc knows of one GPU vendor.
#[derive(Debug)]
pub struct VendorFacts {
    pub vendor: Vendor,
    /// Its PCI vendor id.
    pub pci_id: u16,
    /// hwc's word for it: `--gpu`, `--has`, `gpu.type`, `HWC_GPU_TYPE`, JSON.
    pub name: &'static str,
    /// As people and NixOS write it.
    pub display: &'static str,
    /// Its processing accelerators (class 0x12, no display) count as GPUs (an Intel NPU does not).
    pub accelerators: bool,
    /// Its role is told by the device id (AMD's APUs), so the scan reads it even on a launch.
    pub role_by_device_id: bool,
    /// The compute API its own driver gives, and that driver.
    pub compute: Option<(Accel, &'static str)>,
    /// VA-API serves on its GPUs with any driver and a render node.
    pub vaapi: bool,
    /// Its Mesa drivers, which render offloaded with `DRI_PRIME`.
    pub mesa_drivers: &'static [&'static str],
    /// A GPU of this vendor declared for a machine is a discrete one to offload to.
    pub offload_target: bool,
    /// The option of NixOS's `hardware.nvidia.prime` that holds the bus id of an integrated GPU
    /// of this vendor, the one NVIDIA's GPU offloads from.
    pub prime_option: Option<&'static str>,
}

impl VendorFacts {
    /// The row of the vendor with PCI id `id`; none for a vendor hwc does not know.
    pub fn of_id(id: u16) -> Option<&'static VendorFacts> {
        VENDORS.iter().find(|f| f.pci_id == id)
    }
}

pub static VENDORS: [VendorFacts; 3] = [
    VendorFacts {
        vendor: Vendor::Nvidia,
        pci_id: VENDOR_NVIDIA,
        name: "nvidia",
        display: "NVIDIA",
        accelerators: true,
        role_by_device_id: false,
        compute: Some((Accel::Cuda, "nvidia")),
        vaapi: false,
        mesa_drivers: &["nouveau"],
        offload_target: true,
        prime_option: None,
    },
    VendorFacts {
        vendor: Vendor::Amd,
        pci_id: VENDOR_AMD,
        name: "amd",
        display: "AMD",
        accelerators: true,
        role_by_device_id: true,
        compute: Some((Accel::Rocm, "amdgpu")),
        vaapi: true,
        mesa_drivers: &["amdgpu", "radeon"],
        offload_target: true,
        prime_option: Some("amdgpuBusId"),
    },
    VendorFacts {
        vendor: Vendor::Intel,
        pci_id: VENDOR_INTEL,
        name: "intel",
        display: "Intel",
        accelerators: false,
        role_by_device_id: false,
        compute: None,
        vaapi: true,
        mesa_drivers: &["i915", "xe"],
        offload_target: false,
        prime_option: Some("intelBusId"),
    },
];

/// The values a machine's GPU type takes (`HWC_GPU_TYPE`, NixOS's `gpu.type`, `--expect`): each
/// vendor's word, and `none`.
pub static GPU_TYPES: [&str; 4] = [VENDORS[0].name, VENDORS[1].name, VENDORS[2].name, "none"];

/// The GPU type `text` names, or an error naming the values it may take.
pub fn parse_gpu_type(text: &str) -> Result<&'static str, String> {
    GPU_TYPES
        .iter()
        .find(|t| **t == text)
        .copied()
        .ok_or_else(|| {
            let (last, rest) = GPU_TYPES.split_last().expect("types");
            format!("expected {} or {last}", rest.join(", "))
        })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Nvidia,
    Amd,
    Intel,
    Other,
}

impl Vendor {
    pub fn from_id(id: u16) -> Vendor {
        VendorFacts::of_id(id).map_or(Vendor::Other, |f| f.vendor)
    }

    /// Its row of [`VENDORS`]; none for [`Vendor::Other`].
    pub fn facts(self) -> Option<&'static VendorFacts> {
        VENDORS.iter().find(|f| f.vendor == self)
    }

    /// The vendor hwc's word names (`--gpu nvidia`, `--has amd`, `gpu.type = "intel"`).
    pub fn named(word: &str) -> Option<Vendor> {
        VENDORS.iter().find(|f| f.name == word).map(|f| f.vendor)
    }

    pub fn as_str(self) -> &'static str {
        self.facts().map_or("other", |f| f.name)
    }

    /// As people and NixOS write it: `NVIDIA`, `AMD`, `Intel`.
    pub fn display(self) -> &'static str {
        self.facts().map_or("GPU", |f| f.display)
    }
}

/// The role rules of the module documentation.
pub fn role_of(pci: PciAddr, vendor_id: u16, device_id: u16, class: u32) -> Role {
    match vendor_id {
        VENDOR_NVIDIA => Role::Discrete,
        VENDOR_INTEL if pci.domain == 0 && pci.bus == 0 => Role::Integrated,
        VENDOR_INTEL => Role::Discrete,
        VENDOR_AMD if class >> 8 == 0x0380 || class >> 16 == 0x12 => Role::Discrete,
        VENDOR_AMD if AMD_APU_DEVICE_IDS.contains(&device_id) => Role::Integrated,
        VENDOR_AMD => Role::Discrete,
        0x1a03 | 0x102b => Role::Bmc,
        0x1af4 | 0x1234 | 0x15ad | 0x1b36 | 0x1013 | 0x80ee | 0x1414 => Role::Virtual,
        _ => Role::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_vendor_and_its_words() {
        for f in &VENDORS {
            assert_eq!(Vendor::from_id(f.pci_id), f.vendor);
            assert_eq!(f.vendor.facts().map(|x| x.name), Some(f.name));
            assert_eq!(Vendor::named(f.name), Some(f.vendor));
            assert_eq!(parse_gpu_type(f.name), Ok(f.name));
        }
        assert_eq!(Vendor::from_id(0x1a03), Vendor::Other);
        assert_eq!(Vendor::named("other"), None);
        assert_eq!(parse_gpu_type("none"), Ok("none"));
        assert_eq!(
            parse_gpu_type("matrox"),
            Err("expected nvidia, amd, intel or none".into())
        );
    }
}

//! Marketing names of GPUs, from caches only: udev's database (`/run/udev/data/+pci:ADDR`,
//! `E:ID_MODEL_FROM_DATABASE=`), else a `pci.ids` file. Never from the device. Either file that
//! is not a regular file of a sane size (a FIFO, `/dev/zero`) is skipped: no name.

use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_gpu::Gpu;

/// pci.ids is some 1.5 MB; a udev database entry a few hundred bytes.
const MAX_PCI_IDS: u64 = 16 << 20;
const MAX_UDEV_ENTRY: u64 = 1 << 20;

const PCI_IDS: [&str; 3] = [
    "/usr/share/hwdata/pci.ids",
    "/usr/share/misc/pci.ids",
    "/run/current-system/sw/share/hwdata/pci.ids",
];

/// Looks names up for several GPUs, reading `pci.ids` at most once.
#[derive(Default)]
pub struct Names {
    pci_ids: Option<Vec<u8>>,
    loaded: bool,
}

impl Names {
    pub fn name(&mut self, root: &Root, gpu: &Gpu) -> Option<String> {
        udev_name(root, gpu).or_else(|| {
            if !self.loaded {
                self.loaded = true;
                self.pci_ids = PCI_IDS
                    .iter()
                    .find_map(|p| safefs::read_file(&root.path(p), MAX_PCI_IDS).ok());
            }
            pci_ids_name(self.pci_ids.as_deref()?, gpu.vendor_id, gpu.device_id)
        })
    }
}

fn udev_name(root: &Root, gpu: &Gpu) -> Option<String> {
    let entry = root.path(format!("/run/udev/data/+pci:{}", gpu.pci));
    let data = safefs::read_file(&entry, MAX_UDEV_ENTRY).ok()?;
    data.split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"E:ID_MODEL_FROM_DATABASE="))
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `pci.ids`: a vendor line `vvvv  Name`, then its device lines `\tdddd  Name`.
pub fn pci_ids_name(db: &[u8], vendor: u16, device: u16) -> Option<String> {
    let vendor_line = format!("\n{vendor:04x}  ");
    let start = memchr::memmem::find(db, vendor_line.as_bytes())? + vendor_line.len();
    let device_prefix = format!("\t{device:04x}  ");
    for line in db[start..].split(|&b| b == b'\n').skip(1) {
        if !line.starts_with(b"\t") && !line.starts_with(b"#") {
            break;
        }
        if let Some(name) = line.strip_prefix(device_prefix.as_bytes()) {
            return Some(String::from_utf8_lossy(name).trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &[u8] = b"# pci.ids\n\
10de  NVIDIA Corporation\n\
\t1db2  GV100GL [Tesla V100-DGXS-16GB]\n\
\t\t10de 1234  subsystem\n\
\t20b0  GA100 [A100 SXM4 40GB]\n\
10df  Emulex Corporation\n\
\t20b0  not nvidia\n\
C 03  Display controller\n";

    #[test]
    fn finds_device_under_its_vendor_only() {
        assert_eq!(
            pci_ids_name(DB, 0x10de, 0x20b0).as_deref(),
            Some("GA100 [A100 SXM4 40GB]")
        );
        assert_eq!(
            pci_ids_name(DB, 0x10de, 0x1db2).as_deref(),
            Some("GV100GL [Tesla V100-DGXS-16GB]")
        );
        assert_eq!(
            pci_ids_name(DB, 0x10de, 0x1234),
            None,
            "a subsystem line is not a device"
        );
        assert_eq!(
            pci_ids_name(DB, 0x10df, 0x20b0).as_deref(),
            Some("not nvidia")
        );
        assert_eq!(pci_ids_name(DB, 0x8086, 0x5917), None);
        assert_eq!(pci_ids_name(b"", 0x10de, 0x1db2), None);
    }
}

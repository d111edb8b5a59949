//! The GPU detection engine shared by gpu-launch, hwc-gpu-detect and hwc-session-init.
//!
//! It reads only cached sysfs attributes, which never wake a runtime-suspended GPU: `class`,
//! `vendor`, `device`, `subsystem_*`, `boot_vga`, `boot_display`, the `driver` link,
//! `power/runtime_status`, the `drm/` directory listing and `/sys/module/nvidia/version`. It
//! never reads `config`, `resource`, `rom`, hwmon, `gpu_metrics` or link-speed files, never reads
//! `/proc/driver/nvidia/gpus/*/information`, never opens anything under `/dev` and never loads
//! NVML: each of those wakes a suspended dGPU for seconds.
//!
//! # Which PCI devices are GPUs
//! Display controllers (class `0x03xxxx`), plus processing accelerators (`0x12xxxx`) from AMD
//! and NVIDIA only, so an Intel NPU is not a GPU.
//!
//! # Roles (see [`Role`])
//! 1. NVIDIA: discrete (NVIDIA's integrated GPUs are Tegra SoCs, not PCI functions).
//! 2. Intel: integrated on bus 0 of domain 0 (the iGPU is always `0000:00:02.0`); otherwise a
//!    discrete Arc/DG card.
//! 3. AMD: class `0x0380` (laptop dGPUs) and `0x12` (Instinct) are discrete; a VGA-class device
//!    whose id is in [`AMD_APU_DEVICE_IDS`] is integrated; any other AMD GPU is discrete. (The
//!    driver knows an APU from an ioctl on the device node, which would wake a dGPU.)
//! 4. ASPEED and Matrox: a BMC display. virtio, QEMU/Bochs, VMware, QXL, Cirrus, VirtualBox,
//!    Hyper-V: a virtual display. Neither is ever an offload target; as the default display they
//!    are what a server or VM offloads from (see [`offload`]).
//! 5. Anything else: unknown, never an offload target.
//!
//! # The default GPU (the one the desktop and firmware use)
//! The first rule that names one wins: `boot_vga` is 1; `boot_display` is 1; exactly one GPU is
//! VGA class (the kernel exposes `boot_vga` only on VGA-class devices, so the one VGA device is the
//! boot device); exactly one GPU; the first VGA-class GPU in PCI order (vgaarb's choice without
//! firmware hints); the first GPU with a DRM card node.

#![forbid(unsafe_code)]

pub mod accel;
pub mod container;
pub mod offload;
pub mod snapshot;
mod vendor;

pub use vendor::{
    parse_gpu_type, role_of, Vendor, VendorFacts, AMD_APU_DEVICE_IDS, GPU_TYPES, VENDORS,
};

use std::ffi::CStr;
use std::fmt;

use hwc_core::error::{Error, Result};
use hwc_core::root::Root;
use hwc_core::sysfs;

/// A PCI function address, `domain:bus:device.function`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddr {
    pub domain: u32,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl PciAddr {
    /// `0000:01:00.0`, or `01:00.0` (domain 0), as sysfs and lspci write them.
    pub fn parse(text: &[u8]) -> Option<PciAddr> {
        let (domain, rest) = match text.len() {
            7 => (0, text),
            n if n >= 12 && text[n - 8] == b':' => {
                (sysfs::parse_hex(&text[..n - 8])?, &text[n - 7..])
            }
            _ => return None,
        };
        if rest[2] != b':' || rest[5] != b'.' {
            return None;
        }
        let hex = |b: &[u8]| sysfs::parse_hex(b).and_then(|v| u8::try_from(v).ok());
        let device = hex(&rest[3..5]).filter(|d| *d < 32)?;
        let function = hex(&rest[6..7]).filter(|f| *f < 8)?;
        Some(PciAddr {
            domain,
            bus: hex(&rest[..2])?,
            device,
            function,
        })
    }

    /// Mesa's and udev's ID_PATH_TAG form: `pci-0000_01_00_0`.
    pub fn path_tag(&self) -> String {
        format!(
            "pci-{:04x}_{:02x}_{:02x}_{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Part of the CPU package (Intel iGPU, AMD APU).
    Integrated,
    /// A GPU of its own.
    Discrete,
    /// A server's management controller display (ASPEED, Matrox).
    Bmc,
    /// An emulated display (virtio, QEMU, VMware, ...).
    Virtual,
    Unknown,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Integrated => "integrated",
            Role::Discrete => "discrete",
            Role::Bmc => "bmc",
            Role::Virtual => "virtual",
            Role::Unknown => "unknown",
        }
    }
}

/// `power/runtime_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeStatus {
    Active,
    Suspended,
    Suspending,
    Resuming,
    Error,
    Unsupported,
}

impl RuntimeStatus {
    fn parse(text: &[u8]) -> Option<RuntimeStatus> {
        Some(match text {
            b"active" => RuntimeStatus::Active,
            b"suspended" => RuntimeStatus::Suspended,
            b"suspending" => RuntimeStatus::Suspending,
            b"resuming" => RuntimeStatus::Resuming,
            b"error" => RuntimeStatus::Error,
            b"unsupported" => RuntimeStatus::Unsupported,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Active => "active",
            RuntimeStatus::Suspended => "suspended",
            RuntimeStatus::Suspending => "suspending",
            RuntimeStatus::Resuming => "resuming",
            RuntimeStatus::Error => "error",
            RuntimeStatus::Unsupported => "unsupported",
        }
    }
}

/// A short name (driver, module version) kept inline, so a scan allocates only its list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortName {
    buf: [u8; 32],
    len: u8,
}

impl ShortName {
    /// `None` for an empty or over-long name.
    pub fn new(text: &[u8]) -> Option<ShortName> {
        if text.is_empty() || text.len() > 32 {
            return None;
        }
        let mut buf = [0; 32];
        buf[..text.len()].copy_from_slice(text);
        Some(ShortName {
            buf,
            len: text.len() as u8,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
    }
}

impl fmt::Debug for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct Gpu {
    pub pci: PciAddr,
    pub vendor_id: u16,
    pub device_id: u16,
    /// `(subsystem_vendor, subsystem_device)`; read only by a full scan.
    pub subsystem: Option<(u16, u16)>,
    pub class: u32,
    pub driver: Option<ShortName>,
    pub boot_vga: Option<bool>,
    pub boot_display: Option<bool>,
    /// Read only by a full scan.
    pub runtime_status: Option<RuntimeStatus>,
    /// N of `/dev/dri/cardN`.
    pub card: Option<u32>,
    /// N of `/dev/dri/renderDN`.
    pub render: Option<u32>,
    pub role: Role,
    pub default: bool,
}

impl Gpu {
    /// A GPU known only by its address, ids, class and driver (`""`: none), its role decided
    /// from those as a scan decides it; nothing read, not the default. What decisions made
    /// from data (and their tests) start from.
    pub fn from_ids(pci: PciAddr, vendor_id: u16, device_id: u16, class: u32, driver: &str) -> Gpu {
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

    pub fn vendor(&self) -> Vendor {
        Vendor::from_id(self.vendor_id)
    }

    pub fn is_discrete(&self) -> bool {
        self.role == Role::Discrete
    }

    pub fn driver_is(&self, name: &str) -> bool {
        self.driver.is_some_and(|d| d.as_bytes() == name.as_bytes())
    }

    pub fn is_vga_class(&self) -> bool {
        self.class >> 8 == 0x0300
    }

    pub fn render_node(&self) -> Option<String> {
        self.render.map(|n| format!("/dev/dri/renderD{n}"))
    }

    pub fn card_node(&self) -> Option<String> {
        self.card.map(|n| format!("/dev/dri/card{n}"))
    }
}

/// How much to read: gpu-launch needs less than a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// What choosing an offload GPU needs: no DRM nodes (unless the default rules need the
    /// cards), no subsystem ids, no runtime status. [`render_node_of`] reads one GPU's node.
    Launch,
    /// Everything the engine knows, for reports.
    Full,
}

/// The machine's GPUs in PCI order, with roles and the default decided.
#[derive(Clone, Debug, Default)]
pub struct Gpus {
    pub list: Vec<Gpu>,
    /// `/sys/module/nvidia/version` (full scans only).
    pub nvidia_version: Option<ShortName>,
    /// What the listing of `/sys/bus/pci/devices` saw (`None`: it could not be listed whole),
    /// for [`snapshot`]s.
    pub listing: Option<snapshot::Listing>,
    /// PCI functions of which a read failed: left out of `list` (their class, or a GPU-class
    /// device's vendor) or kept with what could be read (an AMD GPU's device id, which decides
    /// its role; a boot flag that is there but unreadable). No snapshot is written of such a scan.
    pub unread: usize,
}

impl Gpus {
    pub fn default_gpu(&self) -> Option<&Gpu> {
        self.list.iter().find(|g| g.default)
    }

    pub fn find(&self, pci: PciAddr) -> Option<&Gpu> {
        self.list.iter().find(|g| g.pci == pci)
    }
}

/// Whether the devices can be seen at all: `--root` a directory that exists, and sysfs mounted at
/// its `/sys` (`/sys/bus` is there). Without that a scan finds nothing, and "no GPU" would be a
/// wrong answer where the right one is "I cannot see" (a rescue shell that has not mounted /sys).
pub fn require_sysfs(root: &Root) -> Result<()> {
    let top = root.path("/");
    if !top.is_dir() {
        let shown = top.to_string_lossy();
        return Err(Error::failed(format!(
            "{}: no such directory (--root), so no device can be seen",
            shown.strip_suffix('/').unwrap_or(&shown)
        )));
    }
    let bus = root.path("/sys/bus");
    if !bus.is_dir() {
        return Err(Error::failed(format!(
            "{} is missing: sysfs is not mounted there, so the GPUs cannot be seen",
            bus.display()
        ))
        .hint(format!(
            "mount -t sysfs sysfs {}",
            root.path("/sys").display()
        )));
    }
    Ok(())
}

/// Scans `/sys/bus/pci/devices` under `root`. Unreadable or malformed attributes leave fields
/// empty; an unreadable bus gives no GPUs. Never fails, never panics.
pub fn scan(root: &Root, depth: Depth) -> Gpus {
    let mut gpus = Gpus::default();
    // A statement of its own, so the path buffer is gone before the listing's stack frames.
    let devices = sysfs::AttrDir::open(&root.stack_path(b"/sys/bus/pci/devices"));
    if let Some(devices) = devices {
        let mut listing = snapshot::Listing::default();
        let listed = devices.entries_with_ino(|name, ino| {
            listing.add(name, ino);
            let Some(pci) = PciAddr::parse(name) else {
                return;
            };
            match read_gpu(&devices, name, pci, depth) {
                Function::Gpu { gpu, whole } => {
                    gpus.list.push(gpu);
                    gpus.unread += usize::from(!whole);
                }
                Function::Other => {}
                Function::Unreadable => gpus.unread += 1,
            }
        });
        gpus.listing = listed.ok().map(|()| listing);
    }
    gpus.list.sort_by_key(|g| g.pci);
    if depth == Depth::Launch && default_needs_cards(&gpus.list) {
        // Only the last default rule looks at DRM cards, which a launch scan does not list.
        for gpu in &mut gpus.list {
            (gpu.card, gpu.render) = drm_nodes_of(root, gpu.pci);
        }
    }
    let default = choose_default(&gpus.list);
    if let Some(i) = default {
        gpus.list[i].default = true;
    }
    if depth == Depth::Full {
        let mut buf = [0u8; sysfs::ATTR_BUF];
        gpus.nvidia_version =
            sysfs::read_attr(&root.stack_path(b"/sys/module/nvidia/version"), &mut buf)
                .and_then(ShortName::new);
    }
    gpus
}

/// What one PCI function turned out to be.
enum Function {
    /// A GPU; `whole`: every read its fields came from succeeded.
    Gpu { gpu: Gpu, whole: bool },
    /// Not a GPU (its class or vendor says so).
    Other,
    /// Its class, or a GPU-class device's vendor, could not be read.
    Unreadable,
}

/// Reads the PCI function `name` of the `devices` directory if it is a GPU. Reads go relative to
/// open directories: on sysfs, walking the long path is most of what a read costs.
fn read_gpu(devices: &sysfs::AttrDir, name: &[u8], pci: PciAddr, depth: Depth) -> Function {
    // One read per PCI function that is not a GPU: the class decides before anything else.
    let mut path = [0u8; 64];
    let Some(class) = sysfs::join(&mut path, name, b"class").and_then(|p| devices.read_hex(p))
    else {
        return Function::Unreadable;
    };
    if !matches!(class >> 16, 0x03 | 0x12) {
        return Function::Other;
    }
    let Some(dir) = sysfs::join(&mut path, name, b".").and_then(|p| devices.open_child(p)) else {
        return Function::Unreadable;
    };
    let id = |name: &CStr| dir.read_hex(name).and_then(|v| u16::try_from(v).ok());
    let Some(vendor_id) = id(c"vendor") else {
        return Function::Unreadable;
    };
    let facts = VendorFacts::of_id(vendor_id);
    if class >> 16 == 0x12 && !facts.is_some_and(|f| f.accelerators) {
        return Function::Other;
    }
    // A launch needs the device id only where it decides the role (AMD APUs).
    let role_by_id = facts.is_some_and(|f| f.role_by_device_id);
    let device_id = if depth == Depth::Full || role_by_id {
        id(c"device")
    } else {
        Some(0)
    };
    let mut whole = device_id.is_some() || !role_by_id;
    let device_id = device_id.unwrap_or(0);
    // The boot flags exist only on some devices; one that is there but cannot be read is no
    // answer, and is not taken for an absent one.
    let mut flag = |name: &CStr| match dir.read_dec_or_absent(name) {
        Ok(v) => v.map(|v| v == 1),
        Err(_) => {
            whole = false;
            None
        }
    };
    let (boot_vga, boot_display) = (flag(c"boot_vga"), flag(c"boot_display"));
    let mut link = [0u8; 256];
    let mut driver = dir
        .link_basename(c"driver", &mut link)
        .and_then(ShortName::new);
    // A virtio GPU: virtio-pci drives the PCI function, the GPU driver (virtio_gpu) its virtio
    // device, which holds the DRM nodes.
    let virtio = match (depth, &driver) {
        (Depth::Full, Some(d)) if d.as_str() == "virtio-pci" => virtio_device(&dir),
        _ => None,
    };
    if let Some(gpu_driver) = virtio
        .as_ref()
        .and_then(|v| v.link_basename(c"driver", &mut link))
        .and_then(ShortName::new)
    {
        driver = Some(gpu_driver);
    }
    let (card, render, subsystem, runtime_status) = match depth {
        Depth::Launch => (None, None, None, None),
        Depth::Full => {
            let (card, render) = dir
                .open_child(c"drm")
                .or_else(|| virtio.as_ref()?.open_child(c"drm"))
                .map_or((None, None), |drm| drm_nodes(&drm));
            let subsystem = id(c"subsystem_vendor").zip(id(c"subsystem_device"));
            let mut buf = [0u8; sysfs::ATTR_BUF];
            let status = dir
                .read_attr(c"power/runtime_status", &mut buf)
                .and_then(RuntimeStatus::parse);
            (card, render, subsystem, status)
        }
    };
    let gpu = Gpu {
        pci,
        vendor_id,
        device_id,
        subsystem,
        class,
        driver,
        boot_vga,
        boot_display,
        runtime_status,
        card,
        render,
        role: role_of(pci, vendor_id, device_id, class),
        default: false,
    };
    Function::Gpu { gpu, whole }
}

/// `(card, render)`: the lowest N of the `cardN` and `renderDN` entries of a `drm/` directory.
/// The virtio device (`virtioN`) below a PCI function that virtio-pci drives.
fn virtio_device(dir: &sysfs::AttrDir) -> Option<sysfs::AttrDir> {
    let mut found = None;
    let _ = dir.entries(|entry| {
        let is_virtio = entry
            .strip_prefix(b"virtio")
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit));
        if found.is_none() && is_virtio {
            found = std::ffi::CString::new(entry).ok();
        }
    });
    dir.open_child(&found?)
}

fn drm_nodes(drm: &sysfs::AttrDir) -> (Option<u32>, Option<u32>) {
    let (mut card, mut render) = (None, None);
    let _ = drm.entries(|entry| {
        let number = |prefix: &[u8]| {
            entry
                .strip_prefix(prefix)
                .and_then(sysfs::parse_dec)
                .and_then(|n| u32::try_from(n).ok())
        };
        if let Some(n) = number(b"renderD") {
            render = Some(render.map_or(n, |r: u32| r.min(n)));
        } else if let Some(n) = number(b"card") {
            card = Some(card.map_or(n, |c: u32| c.min(n)));
        }
    });
    (card, render)
}

fn drm_nodes_of(root: &Root, pci: PciAddr) -> (Option<u32>, Option<u32>) {
    let path = root.stack_path(format!("/sys/bus/pci/devices/{pci}/drm").as_bytes());
    sysfs::AttrDir::open(&path).map_or((None, None), |drm| drm_nodes(&drm))
}

/// The render node (`/dev/dri/renderDN`) of the GPU at `pci`, for a launch scan that left the
/// DRM nodes out.
pub fn render_node_of(root: &Root, gpu: &Gpu) -> Option<String> {
    let render = gpu.render.or_else(|| drm_nodes_of(root, gpu.pci).1)?;
    Some(format!("/dev/dri/renderD{render}"))
}

/// The default-GPU rules of the module documentation; `list` is in PCI order.
pub fn choose_default(list: &[Gpu]) -> Option<usize> {
    default_without_cards(list).or_else(|| list.iter().position(|g| g.card.is_some()))
}

/// Whether only the last default rule, the DRM cards, can name the default GPU: no other rule
/// names one and there are several GPUs (one GPU is the default by the "exactly one" rule). A
/// launch scan lists the cards only then, and a snapshot is never written then.
pub fn default_needs_cards(list: &[Gpu]) -> bool {
    list.len() > 1 && default_without_cards(list).is_none()
}

/// The default-GPU rules but the last: what the firmware marked and what the classes say.
fn default_without_cards(list: &[Gpu]) -> Option<usize> {
    let only = |pred: &dyn Fn(&Gpu) -> bool| {
        let mut it = list.iter().enumerate().filter(|(_, g)| pred(g));
        match (it.next(), it.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    };
    let first = |pred: &dyn Fn(&Gpu) -> bool| list.iter().position(pred);
    first(&|g| g.boot_vga == Some(true))
        .or_else(|| first(&|g| g.boot_display == Some(true)))
        .or_else(|| only(&Gpu::is_vga_class))
        .or_else(|| only(&|_| true))
        .or_else(|| first(&Gpu::is_vga_class))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> PciAddr {
        PciAddr::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn pci_addresses() {
        let a = addr("0000:01:00.0");
        assert_eq!(a.to_string(), "0000:01:00.0");
        assert_eq!(a.path_tag(), "pci-0000_01_00_0");
        assert_eq!(addr("01:00.0"), a);
        assert_eq!(addr("000a:01:00.1").domain, 10);
        assert_eq!(addr("10000:e1:00.0").to_string(), "10000:e1:00.0");
        for bad in [
            "",
            "0000:01:00",
            "0000:01:20.0",
            "0000:01:00.8",
            "zz:01:00.0",
            "0000-01-00.0",
        ] {
            assert!(PciAddr::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(addr("0000:00:02.0") < addr("0000:01:00.0"));
        assert!(addr("0002:01:00.0") < addr("0009:06:00.0"));
    }

    #[test]
    fn roles() {
        let igpu = addr("0000:00:02.0");
        let slot = addr("0000:01:00.0");
        assert_eq!(role_of(slot, 0x10de, 0x1f91, 0x030200), Role::Discrete);
        assert_eq!(role_of(igpu, 0x8086, 0x5917, 0x030000), Role::Integrated);
        assert_eq!(
            role_of(addr("0000:03:00.0"), 0x8086, 0x56a0, 0x030000),
            Role::Discrete
        );
        assert_eq!(
            role_of(addr("0000:c4:00.0"), 0x1002, 0x15bf, 0x030000),
            Role::Integrated
        );
        assert_eq!(role_of(slot, 0x1002, 0x6900, 0x038000), Role::Discrete);
        assert_eq!(role_of(slot, 0x1002, 0x73df, 0x030000), Role::Discrete);
        assert_eq!(role_of(slot, 0x1002, 0x74a1, 0x120000), Role::Discrete);
        assert_eq!(role_of(slot, 0x1a03, 0x2000, 0x030000), Role::Bmc);
        assert_eq!(role_of(slot, 0x1af4, 0x1050, 0x030000), Role::Virtual);
        assert_eq!(role_of(slot, 0x1ed5, 0x0001, 0x030000), Role::Unknown);
    }

    fn gpu(pci: &str, class: u32) -> Gpu {
        let pci = addr(pci);
        Gpu {
            pci,
            vendor_id: 0x10de,
            device_id: 0,
            subsystem: None,
            class,
            driver: None,
            boot_vga: None,
            boot_display: None,
            runtime_status: None,
            card: None,
            render: None,
            role: Role::Discrete,
            default: false,
        }
    }

    #[test]
    fn default_rules_in_order() {
        let mut l = vec![gpu("0000:00:02.0", 0x030000), gpu("0000:01:00.0", 0x030000)];
        assert_eq!(choose_default(&l), Some(0), "first VGA when no hint");
        l[1].boot_vga = Some(true);
        l[0].boot_vga = Some(false);
        assert_eq!(choose_default(&l), Some(1), "boot_vga wins");
        l[1].boot_vga = Some(false);
        l[0].boot_display = Some(true);
        assert_eq!(choose_default(&l), Some(0), "boot_display next");
        let l = vec![gpu("0000:00:02.0", 0x038000), gpu("0000:01:00.0", 0x030000)];
        assert_eq!(choose_default(&l), Some(1), "the only VGA-class device");
        let l = vec![gpu("0000:01:00.0", 0x030200)];
        assert_eq!(choose_default(&l), Some(0), "a single GPU");
        let mut l = vec![gpu("0000:01:00.0", 0x030200), gpu("0000:02:00.0", 0x030200)];
        assert_eq!(choose_default(&l), None, "3D controllers only, no card");
        l[1].card = Some(1);
        assert_eq!(choose_default(&l), Some(1));
        assert_eq!(choose_default(&[]), None);
    }

    #[test]
    fn short_name_bounds() {
        assert!(ShortName::new(b"").is_none());
        assert!(ShortName::new(&[b'a'; 33]).is_none());
        assert_eq!(ShortName::new(b"nvidia").unwrap().as_str(), "nvidia");
    }
}

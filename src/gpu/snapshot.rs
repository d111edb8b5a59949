//! A launch scan written down once (`HWC_GPU_LAUNCH`, exported by hwc-session-init), and the
//! cheap look that says whether it still describes the machine.
//!
//! A launch scan reads each PCI function's `class`, and each GPU's `vendor`, `driver`,
//! `boot_vga` and `boot_display`: three system calls a PCI function, about ten more a GPU. What
//! can change while the machine runs, and so what a snapshot is checked against before every use:
//! - the PCI functions themselves (a GPU hot-plugged, a Thunderbolt eGPU, one removed, one
//!   removed and made again at the same address): the names and inode numbers of
//!   `/sys/bus/pci/devices`, whose links the kernel makes anew for every device it adds (a new
//!   inode number), kept as a count and an order-free digest;
//! - each recorded GPU's driver (unbound, or bound to another driver): its `driver` link, read
//!   again;
//! - `boot_vga` of each VGA-class GPU, which the kernel answers from the VGA arbiter's default
//!   device at every read: vga_switcheroo moves it when a muxed laptop switches GPUs. It is read
//!   again.
//!
//! `class`, `vendor` and `device` are the device's own, and `boot_display` is decided when the
//! device is added: they change only with the device, which the listing sees. A scan whose
//! default GPU only DRM cards decide (several GPUs, none VGA-class or marked by the firmware) is
//! not written down: cards come and go with a driver's DRM module and while it probes. Nor is one
//! in which a read failed (see [`Gpus::unread`]). Whatever a launch reads besides the scan (the EGL vendor
//! file, the render node, the profiles) it still reads every time. A snapshot that cannot be read
//! or no longer holds is ignored, and the launch scans as it would without one.
//!
//! The value: `v1;COUNT;DIGEST;GPU;GPU...`, each GPU `ADDRESS,VENDOR,DEVICE,CLASS,DRIVER,FLAGS`
//! (lower-case hex ids, driver empty when none, FLAGS three characters: boot_vga and
//! boot_display as `1`, `0` or `-` for absent, then `d` for the default GPU or `-`).

use std::fmt::Write as _;

use super::{default_needs_cards, scan, Depth, Gpu, Gpus, PciAddr, ShortName};
use hwc_core::root::Root;
use hwc_core::sysfs::{self, AttrDir};

/// The variable that carries a snapshot.
pub const VAR: &str = "HWC_GPU_LAUNCH";

const VERSION: &str = "v1";
/// A value longer than this is not one of ours.
const MAX_LEN: usize = 4096;
/// More GPUs than this and no snapshot is written or read.
const MAX_GPUS: usize = 64;

/// What one listing of `/sys/bus/pci/devices` saw: how many entries, and a digest of their names
/// and inode numbers that does not depend on the order the directory lists them in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub count: u32,
    pub digest: u64,
}

impl Listing {
    pub fn add(&mut self, name: &[u8], ino: u64) {
        // FNV-1a over the name, the inode number mixed in, then splitmix64's finaliser so that
        // summing the entries (which makes the order not matter) keeps their bits apart.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut x = h ^ ino.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        self.count = self.count.wrapping_add(1);
        self.digest = self.digest.wrapping_add(x);
    }
}

/// A launch scan read back from its written form, not yet checked against the machine.
#[derive(Clone, Debug)]
pub struct Snapshot {
    listing: Listing,
    gpus: Vec<Gpu>,
}

/// A launch scan of the machine under `root`, written down; `None` where [`encode`] writes none.
pub fn take(root: &Root) -> Option<String> {
    encode(&scan(root, Depth::Launch))
}

/// `gpus` (a launch scan) in the form [`Snapshot::decode`] reads; `None` when the bus could not
/// be listed or a PCI function read, when only DRM cards decide the default GPU, or when a GPU
/// cannot be written (a driver name outside `[A-Za-z0-9_.-]`, too many GPUs).
pub fn encode(gpus: &Gpus) -> Option<String> {
    let listing = gpus.listing?;
    if gpus.unread > 0 || gpus.list.len() > MAX_GPUS || default_needs_cards(&gpus.list) {
        return None;
    }
    let mut out = format!("{VERSION};{};{:016x}", listing.count, listing.digest);
    for g in &gpus.list {
        let driver = g.driver.as_ref().map_or(&b""[..], |d| d.as_bytes());
        if !driver.iter().copied().all(driver_byte) {
            return None;
        }
        let flag = |v: Option<bool>| match v {
            Some(true) => '1',
            Some(false) => '0',
            None => '-',
        };
        let _ = write!(
            out,
            ";{},{:04x},{:04x},{:06x},{},{}{}{}",
            g.pci,
            g.vendor_id,
            g.device_id,
            g.class,
            String::from_utf8_lossy(driver),
            flag(g.boot_vga),
            flag(g.boot_display),
            if g.default { 'd' } else { '-' }
        );
    }
    (out.len() <= MAX_LEN).then_some(out)
}

fn driver_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

impl Snapshot {
    /// Reads a written snapshot; `None` for anything not exactly in the form [`encode`] writes.
    pub fn decode(text: &[u8]) -> Option<Snapshot> {
        if text.len() > MAX_LEN {
            return None;
        }
        let mut fields = text.split(|b| *b == b';');
        if fields.next()? != VERSION.as_bytes() {
            return None;
        }
        let count = fields.next()?;
        if count.is_empty() || !count.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let count = std::str::from_utf8(count).ok()?.parse().ok()?;
        let digest = fields.next()?;
        if !lower_hex(digest, 16) {
            return None;
        }
        let digest = u64::from_str_radix(std::str::from_utf8(digest).ok()?, 16).ok()?;
        let mut gpus: Vec<Gpu> = Vec::new();
        for field in fields {
            let gpu = decode_gpu(field)?;
            // In PCI order, each address once, as a scan gives them; one default at most.
            if gpus.last().is_some_and(|last| last.pci >= gpu.pci)
                || (gpu.default && gpus.iter().any(|g| g.default))
                || gpus.len() == MAX_GPUS
            {
                return None;
            }
            gpus.push(gpu);
        }
        Some(Snapshot {
            listing: Listing { count, digest },
            gpus,
        })
    }

    /// The machine's GPUs as the snapshot has them, when the machine still has the same PCI
    /// functions, each recorded GPU the same driver and each VGA-class one the same `boot_vga`;
    /// `None` when anything differs or cannot be read.
    pub fn still_holds(self, root: &Root) -> Option<Gpus> {
        let devices = AttrDir::open(&root.stack_path(b"/sys/bus/pci/devices"))?;
        let mut listing = Listing::default();
        devices
            .entries_with_ino(|name, ino| listing.add(name, ino))
            .ok()?;
        if listing != self.listing {
            return None;
        }
        for gpu in &self.gpus {
            let mut name = [0u8; 24];
            let name = pci_name(gpu.pci, &mut name)?;
            let mut path = [0u8; 48];
            let mut link = [0u8; 256];
            let driver_link = sysfs::join(&mut path, name, b"driver")?;
            let driver = devices
                .link_basename(driver_link, &mut link)
                .and_then(ShortName::new);
            if driver != gpu.driver {
                return None;
            }
            if gpu.is_vga_class() {
                let boot_vga = sysfs::join(&mut path, name, b"boot_vga")?;
                // Read as the scan reads it: one there but unreadable is no answer, never an
                // absent flag.
                let now = devices.read_dec_or_absent(boot_vga).ok()?;
                if now.map(|v| v == 1) != gpu.boot_vga {
                    return None;
                }
            }
        }
        Some(Gpus {
            list: self.gpus,
            listing: Some(listing),
            ..Gpus::default()
        })
    }
}

/// `pci` as sysfs names its directory, written into `buf`.
fn pci_name(pci: PciAddr, buf: &mut [u8; 24]) -> Option<&[u8]> {
    let mut w = ByteWriter { buf, len: 0 };
    write!(w, "{pci}").ok()?;
    let len = w.len;
    Some(&buf[..len])
}

struct ByteWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `digits` lower-case hex digits, as `{:0N$x}` writes them.
fn lower_hex(bytes: &[u8], digits: usize) -> bool {
    bytes.len() == digits && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn decode_gpu(field: &[u8]) -> Option<Gpu> {
    let mut parts = field.split(|b| *b == b',');
    let address = parts.next()?;
    let pci = PciAddr::parse(address)?;
    // The address as sysfs and [`encode`] write it, not another spelling of it.
    if pci_name(pci, &mut [0u8; 24])? != address {
        return None;
    }
    let hex = |bytes: &[u8], digits: usize| {
        lower_hex(bytes, digits)
            .then(|| sysfs::parse_hex(bytes))
            .flatten()
    };
    let vendor_id = u16::try_from(hex(parts.next()?, 4)?).ok()?;
    let device_id = u16::try_from(hex(parts.next()?, 4)?).ok()?;
    let class = hex(parts.next()?, 6)?;
    let driver = parts.next()?;
    if !driver.iter().copied().all(driver_byte) {
        return None;
    }
    let flags = parts.next()?;
    if parts.next().is_some() || flags.len() != 3 {
        return None;
    }
    let flag = |b: u8| match b {
        b'1' => Some(Some(true)),
        b'0' => Some(Some(false)),
        b'-' => Some(None),
        _ => None,
    };
    let driver = std::str::from_utf8(driver).ok()?;
    let mut gpu = Gpu::from_ids(pci, vendor_id, device_id, class, driver);
    if !driver.is_empty() && gpu.driver.is_none() {
        return None;
    }
    gpu.boot_vga = flag(flags[0])?;
    gpu.boot_display = flag(flags[1])?;
    gpu.default = match flags[2] {
        b'd' => true,
        b'-' => false,
        _ => return None,
    };
    Some(gpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(pci: &str, ids: (u16, u16, u32), driver: &str) -> Gpu {
        Gpu::from_ids(
            PciAddr::parse(pci.as_bytes()).unwrap(),
            ids.0,
            ids.1,
            ids.2,
            driver,
        )
    }

    fn optimus() -> Gpus {
        let mut igpu = gpu("0000:00:02.0", (0x8086, 0, 0x030000), "i915");
        igpu.boot_vga = Some(true);
        igpu.default = true;
        Gpus {
            list: vec![igpu, gpu("0000:01:00.0", (0x10de, 0, 0x030200), "nvidia")],
            listing: Some(Listing {
                count: 4,
                digest: 0x0123_4567_89ab_cdef,
            }),
            ..Gpus::default()
        }
    }

    #[test]
    fn written_and_read_back_alike() {
        let text = encode(&optimus()).unwrap();
        assert_eq!(
            text,
            "v1;4;0123456789abcdef;0000:00:02.0,8086,0000,030000,i915,1-d;\
             0000:01:00.0,10de,0000,030200,nvidia,---"
        );
        let back = Snapshot::decode(text.as_bytes()).unwrap();
        assert_eq!(back.listing, optimus().listing.unwrap());
        assert_eq!(format!("{:?}", back.gpus), format!("{:?}", optimus().list));
        let none = Gpus {
            listing: Some(Listing::default()),
            ..Gpus::default()
        };
        assert_eq!(encode(&none).unwrap(), "v1;0;0000000000000000");
        assert!(Snapshot::decode(b"v1;0;0000000000000000")
            .unwrap()
            .gpus
            .is_empty());
    }

    #[test]
    fn what_cannot_be_written_is_not() {
        let mut m = optimus();
        m.listing = None;
        assert!(encode(&m).is_none(), "a bus that could not be listed");
        let mut m = optimus();
        m.list[1].driver = ShortName::new(b"a;b");
        assert!(encode(&m).is_none(), "a separator in a driver name");
        let mut m = optimus();
        m.unread = 1;
        assert!(
            encode(&m).is_none(),
            "a PCI function that could not be read"
        );
        // Two 3D controllers and no firmware mark: only DRM cards could name the default.
        let h100 = (0x10de, 0x2330, 0x030200);
        let mut m = Gpus {
            list: vec![
                gpu("0000:01:00.0", h100, "nvidia"),
                gpu("0000:02:00.0", h100, "nvidia"),
            ],
            listing: Some(Listing::default()),
            ..Gpus::default()
        };
        assert!(encode(&m).is_none(), "no default without the cards");
        m.list[1].card = Some(1);
        m.list[1].default = true;
        assert!(encode(&m).is_none(), "a default the cards named");
        m.list.truncate(1);
        m.list[0].default = true;
        assert!(
            encode(&m).is_some(),
            "one GPU is the default without any card"
        );
    }

    #[test]
    fn anything_but_the_written_form_is_refused() {
        let good = encode(&optimus()).unwrap();
        let bad = [
            String::new(),
            "v2;4;0123456789abcdef".into(),
            "v1;4;0123456789abcde".into(),
            "v1;-4;0123456789abcdef".into(),
            "v1;4;0123456789abcdeg".into(),
            "v1;4;0123456789ABCDEF".into(),
            "v1;+4;0123456789abcdef".into(),
            good.replace("8086", "8O86"),
            good.replace("10de", "10DE"),
            good.replace("0000:00:02.0", "00:02.0"),
            good.replace("0000:00:02.0", "00000:00:02.0"),
            good.replace("1-d", "1-x"),
            good.replace("1-d", "1-"),
            good.replace(",i915,", ",i9 15,"),
            good.replace("030000", "30000"),
            good.replace("8086", "+086"),
            good.replace("0000:00:02.0", "0000:00:02.8"),
            good.replace("nvidia,---", "nvidia,--d"),
            format!("{good};"),
            format!("{good},x"),
            // out of PCI order, or an address twice
            "v1;4;0123456789abcdef;0000:01:00.0,10de,0000,030200,nvidia,---;\
             0000:00:02.0,8086,0000,030000,i915,1-d"
                .into(),
            "v1;4;0123456789abcdef;0000:01:00.0,10de,0000,030200,nvidia,---;\
             0000:01:00.0,10de,0000,030200,nvidia,---"
                .into(),
            format!(
                "{good}{}",
                ";0000:02:00.0,10de,0000,030200,nvidia,---".repeat(200)
            ),
        ];
        for text in bad {
            assert!(Snapshot::decode(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn the_digest_is_order_free_and_sees_names_and_inodes() {
        let of = |entries: &[(&str, u64)]| {
            let mut l = Listing::default();
            for (n, i) in entries {
                l.add(n.as_bytes(), *i);
            }
            l
        };
        let a = of(&[("0000:00:02.0", 10), ("0000:01:00.0", 11)]);
        assert_eq!(a, of(&[("0000:01:00.0", 11), ("0000:00:02.0", 10)]));
        assert_ne!(a, of(&[("0000:00:02.0", 10), ("0000:01:00.0", 12)]));
        assert_ne!(a, of(&[("0000:00:02.0", 10), ("0000:02:00.0", 11)]));
        assert_ne!(a, of(&[("0000:00:02.0", 10)]));
        // Two entries swapping inode numbers is another machine too.
        assert_ne!(a, of(&[("0000:00:02.0", 11), ("0000:01:00.0", 10)]));
    }

    #[test]
    fn sysfs_names_of_addresses() {
        let mut buf = [0u8; 24];
        let pci = PciAddr::parse(b"10000:e1:00.7").unwrap();
        assert_eq!(pci_name(pci, &mut buf).unwrap(), b"10000:e1:00.7");
    }
}

//! Builds sysfs trees for `--root` from small spec files (tests/fixtures/gpu/*.txt), laid out as
//! the kernel does: device directories under /sys/devices, /sys/bus/pci/devices links to them,
//! `driver` links, `drm/<node>/device` links and /sys/class/drm links. Each GPU also gets files
//! that must never be opened (`config`, its /dev nodes, NVIDIA's procfs `information`), so an
//! strace of a run over the tree proves they were not.
//!
//! Spec lines (`#` starts a comment):
//!   device ADDR vendor=0x10de device=0x1f91 class=0x030200 [driver=NAME] [boot_vga=0|1]
//!          [boot_display=0|1] [runtime=STATUS] [subsystem=0xVVVV:0xDDDD] [drm=card1,renderD129]
//!          [udev_name=TEXT_WITH_UNDERSCORES_FOR_SPACES]
//!   file PATH TEXT      a file holding TEXT + "\n" (`\n` in TEXT is a newline)
//!   link PATH TARGET    a symbolic link
//! Attribute values are written as given, so `vendor=garbage` or `class=` test bad input.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A tree from `tests/fixtures/gpu/NAME.txt`.
    pub fn fixture(name: &str) -> Tree {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/gpu")
            .join(format!("{name}.txt"));
        let spec = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        Tree::from_spec(&spec)
    }

    pub fn from_spec(spec: &str) -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("sys/bus/pci/devices")).unwrap();
        fs::create_dir_all(dir.path().join("sys/class/drm")).unwrap();
        let tree = Tree { dir };
        tree.add(spec);
        tree
    }

    /// Adds what spec lines describe to the tree, as [`Tree::from_spec`] reads them: a GPU
    /// hot-plugged after a launch, a file that appears.
    pub fn add(&self, spec: &str) {
        let root = self.path();
        for (n, line) in spec.lines().enumerate() {
            let line = line.split(" #").next().unwrap().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.splitn(3, ' ');
            let kind = words.next().unwrap();
            let a = words
                .next()
                .unwrap_or_else(|| panic!("line {}: {line}", n + 1));
            let rest = words.next().unwrap_or("");
            match kind {
                "device" => add_device(root, a, rest),
                "file" => write(&under(root, a), &format!("{}\n", rest.replace("\\n", "\n"))),
                "link" => {
                    let p = under(root, a);
                    fs::create_dir_all(p.parent().unwrap()).unwrap();
                    symlink(rest, p).unwrap();
                }
                other => panic!("line {}: unknown kind {other}", n + 1),
            }
        }
    }

    /// The PCI function at `addr` gone, as the kernel removes it on unplug: its link in
    /// /sys/bus/pci/devices and its directory.
    pub fn remove_device(&self, addr: &str) {
        fs::remove_file(self.path().join("sys/bus/pci/devices").join(addr)).unwrap();
        fs::remove_dir_all(device_dir(self.path(), addr)).unwrap();
        remove_class_drm_links(self.path(), addr);
    }

    /// The device at `addr` with no driver bound (its `driver` link and DRM nodes gone).
    pub fn unbind(&self, addr: &str) {
        let dev = device_dir(self.path(), addr);
        fs::remove_file(dev.join("driver")).unwrap();
        let _ = fs::remove_dir_all(dev.join("drm"));
    }

    /// The device at `addr` bound to `driver`, with these DRM nodes (`card2,renderD130`; empty
    /// for none).
    pub fn bind(&self, addr: &str, driver: &str, drm: &str) {
        let dev = device_dir(self.path(), addr);
        fs::create_dir_all(self.path().join("sys/bus/pci/drivers").join(driver)).unwrap();
        symlink(
            format!("../../../bus/pci/drivers/{driver}"),
            dev.join("driver"),
        )
        .unwrap();
        for node in drm.split(',').filter(|n| !n.is_empty()) {
            fs::create_dir_all(dev.join("drm").join(node)).unwrap();
        }
    }

    /// The PCI function made again at its address as the spec line `device ADDR ...` describes
    /// it. The kernel makes every device it adds a new link in /sys/bus/pci/devices (a new inode
    /// number); the new link is made, under a name of its own, before the old one goes, so no
    /// file system can give it the old one's number.
    pub fn remake(&self, line: &str) {
        let addr = line.split_whitespace().nth(1).expect("device ADDR ...");
        let bus = self.path().join("sys/bus/pci/devices");
        fs::rename(bus.join(addr), bus.join(format!(".old-{addr}"))).unwrap();
        fs::remove_dir_all(device_dir(self.path(), addr)).unwrap();
        remove_class_drm_links(self.path(), addr);
        self.add(line);
        fs::remove_file(bus.join(format!(".old-{addr}"))).unwrap();
    }
}

/// The /sys/class/drm links to the nodes of the device at `addr`.
fn remove_class_drm_links(root: &Path, addr: &str) {
    for entry in fs::read_dir(root.join("sys/class/drm")).unwrap() {
        let link = entry.unwrap().path();
        let target = fs::read_link(&link).unwrap();
        if target.to_string_lossy().contains(&format!("/{addr}/")) {
            fs::remove_file(link).unwrap();
        }
    }
}

fn device_dir(root: &Path, addr: &str) -> PathBuf {
    let (domain_bus, _) = addr.rsplit_once(':').unwrap();
    root.join("sys/devices")
        .join(format!("pci{domain_bus}"))
        .join(addr)
}

fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn add_device(root: &Path, addr: &str, attrs: &str) {
    let (domain_bus, _) = addr.rsplit_once(':').unwrap();
    let parent = format!("pci{domain_bus}");
    let dev = device_dir(root, addr);
    fs::create_dir_all(&dev).unwrap();
    symlink(
        format!("../../../devices/{parent}/{addr}"),
        root.join("sys/bus/pci/devices").join(addr),
    )
    .unwrap();
    // Reading config space wakes a suspended device: it must never be read.
    fs::write(dev.join("config"), [0x86u8, 0x80, 0, 0]).unwrap();
    for attr in attrs.split_whitespace() {
        let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
        match key {
            "vendor" | "device" | "class" | "boot_vga" | "boot_display" => {
                write(&dev.join(key), &format!("{value}\n"))
            }
            "subsystem" => {
                let (v, d) = value.split_once(':').unwrap();
                write(&dev.join("subsystem_vendor"), &format!("{v}\n"));
                write(&dev.join("subsystem_device"), &format!("{d}\n"));
            }
            "runtime" => write(&dev.join("power/runtime_status"), &format!("{value}\n")),
            "driver" => {
                fs::create_dir_all(root.join("sys/bus/pci/drivers").join(value)).unwrap();
                symlink(
                    format!("../../../bus/pci/drivers/{value}"),
                    dev.join("driver"),
                )
                .unwrap();
                if value == "nvidia" {
                    write(
                        &root.join(format!("proc/driver/nvidia/gpus/{addr}/information")),
                        "Model: trap\n",
                    );
                    write(&root.join("dev/nvidia0"), "");
                }
            }
            "drm" => {
                for node in value.split(',') {
                    let d = dev.join("drm").join(node);
                    fs::create_dir_all(&d).unwrap();
                    symlink(format!("../../../{addr}"), d.join("device")).unwrap();
                    symlink(
                        format!("../../devices/{parent}/{addr}/drm/{node}"),
                        root.join("sys/class/drm").join(node),
                    )
                    .unwrap();
                    write(&root.join("dev/dri").join(node), "");
                }
            }
            // The virtio device below a virtio-pci function, with its own driver.
            "virtio" => {
                fs::create_dir_all(root.join("sys/bus/virtio/drivers").join(value)).unwrap();
                fs::create_dir_all(dev.join("virtio0")).unwrap();
                symlink(
                    format!("../../../../bus/virtio/drivers/{value}"),
                    dev.join("virtio0/driver"),
                )
                .unwrap();
            }
            "udev_name" => write(
                &root.join(format!("run/udev/data/+pci:{addr}")),
                &format!(
                    "E:ID_VENDOR_FROM_DATABASE=x\nE:ID_MODEL_FROM_DATABASE={}\n",
                    value.replace('_', " ")
                ),
            ),
            other => panic!("device {addr}: unknown attribute {other}"),
        }
    }
}

/// A bus of `n` PCI functions: an Intel iGPU, an NVIDIA dGPU (from n = 2), the rest bridges and
/// other non-GPU functions, as on a large server.
pub fn synthetic_bus(n: usize) -> String {
    let mut spec = String::from(
        "device 0000:00:02.0 vendor=0x8086 device=0x9a49 class=0x030000 driver=i915 boot_vga=1 drm=card0,renderD128 runtime=active\n",
    );
    if n >= 2 {
        spec.push_str("device 0000:01:00.0 vendor=0x10de device=0x2520 class=0x030200 driver=nvidia drm=card1,renderD129 runtime=suspended\n");
    }
    for i in 2..n {
        let (bus, dev, func) = (2 + i / 256, (i / 8) % 32, i % 8);
        let class = ["0x060400", "0x020000", "0x010802", "0x0c0330"][i % 4];
        spec.push_str(&format!(
            "device 0000:{bus:02x}:{dev:02x}.{func} vendor=0x8086 device=0x{:04x} class={class}\n",
            0x1000 + i
        ));
    }
    spec
}

/// A copy of a recorded tree from ../shared. Where the recording arrived with its symbolic links
/// flattened into files that hold the link text (no trailing newline, unlike every sysfs value),
/// the copy restores them as links.
pub fn materialize(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(src, dir.path());
    dir
}

fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let meta = fs::symlink_metadata(&from).unwrap();
        if meta.file_type().is_symlink() {
            symlink(fs::read_link(&from).unwrap(), &to).unwrap();
        } else if meta.is_dir() {
            copy_tree(&from, &to);
        } else {
            let data = fs::read(&from).unwrap();
            if (data.starts_with(b"../") || data.starts_with(b"/")) && !data.contains(&b'\n') {
                symlink(String::from_utf8(data).unwrap(), &to).unwrap();
            } else {
                fs::write(&to, data).unwrap();
            }
        }
    }
}

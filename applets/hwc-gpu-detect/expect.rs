//! `--env --expect TYPE`: the GPU type a configuration declared, held against the machine's.
//! A NixOS boot unit runs `hwc-gpu-detect --env --expect nvidia` into /run/hwc/gpu.env; a
//! mismatch is one warning line for the journal, never a failure, so the facts still get written.

use hwc_core::error::{Error, Result};
use hwc_gpu::accel::Summary;
use hwc_gpu::{Gpu, Gpus, Vendor};

/// The declared type, checked.
pub fn parse(text: &str) -> Result<&'static str> {
    hwc_gpu::parse_gpu_type(text).map_err(|why| Error::usage(format!("--expect {text}: {why}")))
}

/// The warning when the machine's type is not the declared one, `None` when it is.
pub fn mismatch(declared: &str, summary: &Summary, gpus: &Gpus) -> Option<String> {
    (declared != summary.gpu_type).then(|| {
        format!(
            "declared GPU type {declared}, but this machine's is {} ({})",
            summary.gpu_type,
            evidence(summary, gpus)
        )
    })
}

/// The GPU the machine's type comes from; for `none`, the GPU most likely meant (the first
/// NVIDIA, AMD or Intel one, which then has no driver services can use), else the display.
fn evidence(summary: &Summary, gpus: &Gpus) -> String {
    let gpu = summary
        .gpu
        .and_then(|pci| gpus.find(pci))
        .or_else(|| gpus.list.iter().find(|g| g.vendor() != Vendor::Other))
        .or_else(|| gpus.default_gpu())
        .or_else(|| gpus.list.first());
    gpu.map_or_else(|| "no GPU found".into(), describe)
}

/// `0000:00:02.0 i915`, or `0000:07:00.0 nvidia without a driver`.
fn describe(gpu: &Gpu) -> String {
    match gpu.driver {
        Some(d) => format!("{} {}", gpu.pci, d.as_str()),
        None => format!("{} {} without a driver", gpu.pci, gpu.vendor().as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hwc_gpu::accel::Accel;
    use hwc_gpu::PciAddr;

    fn gpu(pci: &str, vendor_id: u16, class: u32, driver: &str, default: bool) -> Gpu {
        let pci = PciAddr::parse(pci.as_bytes()).unwrap();
        Gpu {
            default,
            ..Gpu::from_ids(pci, vendor_id, 0, class, driver)
        }
    }

    fn summary(gpu_type: &'static str, gpu: Option<&str>) -> Summary {
        Summary {
            gpu_type,
            accel: Accel::Cpu,
            dgpu: None,
            render_node: None,
            gpu: gpu.and_then(|p| PciAddr::parse(p.as_bytes())),
        }
    }

    #[test]
    fn types_parse() {
        for t in hwc_gpu::GPU_TYPES {
            assert_eq!(parse(t).unwrap(), t);
        }
        for bad in ["", "NVIDIA", "cuda", "nvidia "] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.status(), 2, "{bad}");
        }
    }

    #[test]
    fn a_match_says_nothing() {
        let gpus = Gpus {
            list: vec![gpu("0000:00:02.0", 0x8086, 0x030000, "i915", true)],
            ..Gpus::default()
        };
        assert_eq!(
            mismatch("intel", &summary("intel", Some("0000:00:02.0")), &gpus),
            None
        );
    }

    #[test]
    fn a_mismatch_names_the_gpu() {
        let gpus = Gpus {
            list: vec![gpu("0000:00:02.0", 0x8086, 0x030000, "i915", true)],
            ..Gpus::default()
        };
        assert_eq!(
            mismatch("nvidia", &summary("intel", Some("0000:00:02.0")), &gpus).unwrap(),
            "declared GPU type nvidia, but this machine's is intel (0000:00:02.0 i915)"
        );
        let server = Gpus {
            list: vec![
                gpu("0000:07:00.0", 0x10de, 0x030200, "", false),
                gpu("0000:63:00.0", 0x1a03, 0x030000, "ast", true),
            ],
            ..Gpus::default()
        };
        assert_eq!(
            mismatch("nvidia", &summary("none", None), &server).unwrap(),
            "declared GPU type nvidia, but this machine's is none \
             (0000:07:00.0 nvidia without a driver)"
        );
        let bmc_only = Gpus {
            list: vec![gpu("0000:63:00.0", 0x1a03, 0x030000, "ast", true)],
            ..Gpus::default()
        };
        assert!(mismatch("amd", &summary("none", None), &bmc_only)
            .unwrap()
            .ends_with("is none (0000:63:00.0 ast)"));
        assert!(mismatch("intel", &summary("none", None), &Gpus::default())
            .unwrap()
            .ends_with("is none (no GPU found)"));
    }
}

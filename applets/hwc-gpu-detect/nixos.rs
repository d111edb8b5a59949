//! What `--nixos` prints: hwc's option block for `configuration.nix`, uncommented, then (only
//! with PRIME ids) the same in NixOS's own `hardware.nvidia.prime` options, commented out. A
//! first comment line says what the machine offloads. The only outside data in the text are
//! PCI addresses (numbers) and, in that comment, a reason that may name a driver, which is made
//! printable so it cannot end the comment line.

use super::prime::{bus_id, Prime};
use hwc_core::output;
use hwc_gpu::offload::Plan;
use hwc_gpu::{Gpu, Role, Vendor};

/// What the snippet is made of.
pub struct Snippet<'a> {
    /// `nvidia`, `amd`, `intel` or `none`, as `--env` prints it for HWC_GPU_TYPE.
    pub gpu_type: &'static str,
    pub prime: Option<Prime>,
    /// The automatic offload choice and the default GPU, for the first comment line.
    pub plan: &'a Plan<'a>,
    pub default: Option<&'a Gpu>,
}

pub fn text(s: &Snippet) -> String {
    let mut out = format!(
        "# hwc-gpu-detect --nixos: {}\n",
        output::printable(&headline(s))
    );
    out.push_str("hwc.infrastructure.hardware.gpu = {\n  enable = true;\n");
    out.push_str(&format!("  type = \"{}\";\n", s.gpu_type));
    if let Some(prime) = &s.prime {
        out.push_str("  prime = {\n");
        out.push_str(&indent(&bus_ids(prime), "    "));
        out.push_str("  };\n");
    }
    out.push_str("};\n");
    if let Some(prime) = &s.prime {
        out.push_str("# Without hwc's module, the same in NixOS's own options:\n");
        out.push_str("# hardware.nvidia.prime = {\n#   offload.enable = true;\n");
        out.push_str(&indent(&bus_ids(prime), "#   "));
        out.push_str("# };\n");
    }
    out
}

/// The two bus id lines, unindented.
fn bus_ids(prime: &Prime) -> String {
    format!(
        "nvidiaBusId = \"{}\";\n{} = \"{}\";\n",
        bus_id(prime.nvidia),
        prime.option(),
        bus_id(prime.integrated)
    )
}

fn indent(lines: &str, prefix: &str) -> String {
    lines.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// What the machine offloads, in words.
fn headline(s: &Snippet) -> String {
    if let Some(p) = &s.prime {
        let now = match &p.driver_now {
            None => {
                return format!(
                    "NVIDIA {} renders offloaded from {} {}",
                    p.nvidia,
                    p.kind.display(),
                    p.integrated
                )
            }
            Some(Some(driver)) => format!("it runs {driver} now"),
            Some(None) => "it has no driver now".to_string(),
        };
        return format!(
            "NVIDIA {} will render offloaded from {} {} with NVIDIA's driver, which type = \"nvidia\" installs ({now})",
            p.nvidia,
            p.kind.display(),
            p.integrated
        );
    }
    match (s.plan, s.default) {
        (Plan::Offload { gpu, .. }, Some(default)) => format!(
            "{} renders offloaded from {}; NixOS needs no bus ids for that",
            label(gpu),
            label(default)
        ),
        (Plan::Offload { gpu, .. }, None) => format!("{} renders offloaded", label(gpu)),
        (Plan::AlreadyDefault(gpu), _) => format!("no offload ({} is the default)", gpu.pci),
        (Plan::NoTarget(reason), _) => format!("no offload ({reason})"),
    }
}

/// `NVIDIA 0000:01:00.0`, `BMC display 0000:02:00.0`.
fn label(gpu: &Gpu) -> String {
    let kind = match (gpu.vendor(), gpu.role) {
        (Vendor::Other, Role::Bmc) => "BMC display",
        (Vendor::Other, Role::Virtual) => "virtual display",
        (vendor, _) => vendor.display(),
    };
    format!("{kind} {}", gpu.pci)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hwc_gpu::PciAddr;
    use hwc_gpu::Vendor;

    fn addr(text: &str) -> PciAddr {
        PciAddr::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn prime_snippet_gives_both_blocks() {
        let plan = Plan::NoTarget(String::new());
        let s = Snippet {
            gpu_type: "nvidia",
            prime: Some(Prime {
                nvidia: addr("0000:c4:00.0"),
                integrated: addr("0001:00:02.0"),
                kind: Vendor::Intel,
                driver_now: None,
            }),
            plan: &plan,
            default: None,
        };
        assert_eq!(
            text(&s),
            "# hwc-gpu-detect --nixos: NVIDIA 0000:c4:00.0 renders offloaded from Intel 0001:00:02.0\n\
             hwc.infrastructure.hardware.gpu = {\n\
             \x20 enable = true;\n\
             \x20 type = \"nvidia\";\n\
             \x20 prime = {\n\
             \x20   nvidiaBusId = \"PCI:196@0:0:0\";\n\
             \x20   intelBusId = \"PCI:0@1:2:0\";\n\
             \x20 };\n\
             };\n\
             # Without hwc's module, the same in NixOS's own options:\n\
             # hardware.nvidia.prime = {\n\
             #   offload.enable = true;\n\
             #   nvidiaBusId = \"PCI:196@0:0:0\";\n\
             #   intelBusId = \"PCI:0@1:2:0\";\n\
             # };\n"
        );
    }

    #[test]
    fn without_prime_only_enable_and_type() {
        let plan = Plan::NoTarget("no GPU found".into());
        let s = Snippet {
            gpu_type: "none",
            prime: None,
            plan: &plan,
            default: None,
        };
        assert_eq!(
            text(&s),
            "# hwc-gpu-detect --nixos: no offload (no GPU found)\n\
             hwc.infrastructure.hardware.gpu = {\n\
             \x20 enable = true;\n\
             \x20 type = \"none\";\n\
             };\n"
        );
    }

    #[test]
    fn a_reason_cannot_end_the_comment() {
        let plan = Plan::NoTarget("driver x\ny = 1;".into());
        let s = Snippet {
            gpu_type: "none",
            prime: None,
            plan: &plan,
            default: None,
        };
        let out = text(&s);
        assert!(out.starts_with("# hwc-gpu-detect --nixos: no offload (driver x\\ny = 1;)\n"));
        assert_eq!(out.lines().count(), 5);
    }
}

//! `--details`: what only the NVIDIA driver knows (VRAM, compute capability, UUID, temperature,
//! performance state). This wakes a suspended GPU, so it is never part of a plain report.
//!
//! It asks `nvidia-smi` rather than loading NVML in-process: hwc is a static glibc binary, and
//! `dlopen` of `libnvidia-ml.so` from a static glibc program needs the very glibc build it was
//! linked with at run time, or it may crash (glibc's static dlopen limits; NVIDIA ships NVML only
//! as a glibc shared object). `nvidia-smi` is NVML's own front end, installed with the driver.

use std::path::PathBuf;
use std::process::Command;

use hwc_core::error::{Error, Result};
use hwc_core::gpu::PciAddr;

/// Where `nvidia-smi` lives besides PATH (NixOS puts the driver's tools in the system profile).
const EXTRA_DIRS: [&str; 2] = ["/run/current-system/sw/bin", "/run/opengl-driver/bin"];
pub const QUERY: &str = "pci.bus_id,name,uuid,memory.total,compute_cap,temperature.gpu,pstate";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub pci: Option<PciAddr>,
    pub name: String,
    pub uuid: String,
    pub memory_total_mib: Option<u64>,
    pub compute_capability: String,
    pub temperature_c: Option<u64>,
    pub pstate: String,
}

fn find_nvidia_smi() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join("nvidia-smi"))
        .find(|p| p.is_file())
}

pub fn query() -> Result<Vec<Detail>> {
    let smi = find_nvidia_smi().ok_or_else(|| {
        Error::failed("--details needs nvidia-smi, which is not on PATH").hint(
            "install the NVIDIA driver's utilities; details come from NVML through nvidia-smi",
        )
    })?;
    let out = Command::new(&smi)
        .arg(format!("--query-gpu={QUERY}"))
        .arg("--format=csv,noheader,nounits")
        .output()
        .map_err(|e| Error::io(format!("running {}", smi.display()), &e))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(if out.stderr.is_empty() {
            &out.stdout
        } else {
            &out.stderr
        })
        .into_owned();
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output");
        return Err(Error::failed(format!(
            "{} failed ({}): {first}",
            smi.display(),
            out.status
        )));
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// One GPU a line: the fields of [`QUERY`] separated by `, `; `[N/A]` for unknown values.
pub fn parse(csv: &str) -> Vec<Detail> {
    csv.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [pci, name, uuid, mem, cc, temp, pstate] = f.as_slice() else {
                return None;
            };
            let known = |s: &str| (!s.starts_with('[') && !s.is_empty()).then(|| s.to_string());
            Some(Detail {
                pci: PciAddr::parse(pci.as_bytes()),
                name: name.to_string(),
                uuid: uuid.to_string(),
                memory_total_mib: mem.parse().ok(),
                compute_capability: known(cc).unwrap_or_default(),
                temperature_c: temp.parse().ok(),
                pstate: known(pstate).unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_csv() {
        let csv = "00000000:01:00.0, NVIDIA GeForce RTX 3070 Laptop GPU, GPU-41255406-c9af-f94b-4ebf-9d57ad1853da, 8192, 8.6, 45, P8\n\
                   00000000:C1:00.0, NVIDIA H100 80GB HBM3, GPU-0000, 81559, 9.0, [N/A], [N/A]\n\
                   garbage line\n";
        let d = parse(csv);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].pci.unwrap().to_string(), "0000:01:00.0");
        assert_eq!(d[0].memory_total_mib, Some(8192));
        assert_eq!(d[0].compute_capability, "8.6");
        assert_eq!(d[0].temperature_c, Some(45));
        assert_eq!(d[1].pci.unwrap().to_string(), "0000:c1:00.0");
        assert_eq!(d[1].temperature_c, None);
        assert_eq!(d[1].pstate, "");
    }
}

//! The fallback when NVML cannot be asked in-process: `nvidia-smi`, NVML's own front end,
//! installed with the driver, asked for the same values in CSV.

use std::path::PathBuf;
use std::time::Duration;

use super::Detail;
use hwc_core::error::{Error, Result};
use hwc_gpu::PciAddr;

/// Where `nvidia-smi` lives besides PATH (NixOS puts the driver's tools in the system profile).
const EXTRA_DIRS: [&str; 2] = ["/run/current-system/sw/bin", "/run/opengl-driver/bin"];
pub const QUERY: &str = "pci.bus_id,name,uuid,memory.total,compute_cap,temperature.gpu,pstate,memory.used,power.draw,utilization.gpu";

fn find_nvidia_smi() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join("nvidia-smi"))
        .find(|p| p.is_file())
}

/// How long nvidia-smi may take.
const LIMIT: Duration = Duration::from_secs(30);

pub fn query() -> Result<Vec<Detail>> {
    let smi = find_nvidia_smi().ok_or_else(|| Error::failed("nvidia-smi is not on PATH"))?;
    let query = format!("--query-gpu={QUERY}");
    let out = hwc_core::command::output_within(
        &smi,
        &[query.as_ref(), "--format=csv,noheader,nounits".as_ref()],
        LIMIT,
    )
    .map_err(|e| Error::io(format!("running {}", smi.display()), &e))?
    .ok_or_else(|| {
        Error::failed(format!(
            "{} gave no answer within {}",
            smi.display(),
            hwc_core::privilege::duration_text(LIMIT)
        ))
    })?;
    if !out.success() {
        // nvidia-smi says why it failed on stdout ("NVIDIA-SMI has failed because ...").
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output");
        return Err(Error::failed(format!(
            "{} failed ({}): {first}",
            smi.display(),
            out.status_text()
        )));
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// One GPU a line: the fields of [`QUERY`] separated by `, `; `[N/A]` for unknown values.
pub fn parse(csv: &str) -> Vec<Detail> {
    csv.lines()
        .filter_map(|line| {
            let mut f: Vec<&str> = line.split(',').map(str::trim).collect();
            // The first seven fields are what older queries asked for; the rest may be absent.
            if !(7..=10).contains(&f.len()) {
                return None;
            }
            f.resize(10, "[N/A]");
            let [pci, name, uuid, mem, cc, temp, pstate, used, power, util] = f.as_slice() else {
                return None;
            };
            let known = |s: &str| (!s.starts_with('[') && !s.is_empty()).then(|| s.to_string());
            Some(Detail {
                pci: PciAddr::parse(pci.as_bytes()),
                name: name.to_string(),
                uuid: uuid.to_string(),
                memory_total_mib: mem.parse().ok(),
                memory_used_mib: used.parse().ok(),
                compute_capability: known(cc).unwrap_or_default(),
                temperature_c: temp.parse().ok(),
                pstate: known(pstate).unwrap_or_default(),
                power_mw: milliwatts(power),
                utilization_pct: util.parse().ok(),
            })
        })
        .collect()
}

/// `85.42` (watts, as nvidia-smi prints them) in milliwatts, read without floating point.
fn milliwatts(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(3).collect();
    Some(whole.parse::<u64>().ok()? * 1000 + frac.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_csv() {
        let csv = "00000000:01:00.0, NVIDIA GeForce RTX 3070 Laptop GPU, GPU-41255406-c9af-f94b-4ebf-9d57ad1853da, 8192, 8.6, 45, P8, 512, 12.34, 3\n\
                   00000000:C1:00.0, NVIDIA H100 80GB HBM3, GPU-0000, 81559, 9.0, [N/A], [N/A], [N/A], [N/A], [N/A]\n\
                   garbage line\n";
        let d = parse(csv);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].pci.unwrap().to_string(), "0000:01:00.0");
        assert_eq!(d[0].memory_total_mib, Some(8192));
        assert_eq!(d[0].compute_capability, "8.6");
        assert_eq!(d[0].temperature_c, Some(45));
        assert_eq!(d[0].power_mw, Some(12340));
        assert_eq!(d[1].pci.unwrap().to_string(), "0000:c1:00.0");
        assert_eq!(d[1].temperature_c, None);
        assert_eq!(d[1].pstate, "");
    }
}

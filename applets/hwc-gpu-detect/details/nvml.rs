//! NVML through nvml-wrapper, in a child process (see the module above): the child loads the
//! library, asks it, and writes `key=value` lines to its pipe (`gpu` starts each GPU); the parent
//! reads them back. A library that is missing, fails, hangs or faults costs the child, never hwc.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::Nvml;

use super::Detail;
use hwc_core::privilege::duration_text;
use hwc_core::root::Root;
use hwc_gpu::PciAddr;
use hwc_sys::process::{run_in_child, Ended};

const LIBRARY: &str = "libnvidia-ml.so.1";

/// Where to look for the library: on NixOS the driver's libraries live in
/// /run/opengl-driver/lib, which the loader of a static binary does not search, so that comes
/// first (under `--root`); then the loader's own path.
fn candidates(root: &Root) -> Vec<OsString> {
    let nixos = root.path(format!("/run/opengl-driver/lib/{LIBRARY}"));
    let mut out = Vec::new();
    if nixos.exists() {
        out.push(nixos.into_os_string());
    }
    out.push(LIBRARY.into());
    out
}

/// The GPUs NVML reports and the driver's version, or why NVML could not say.
pub fn query(root: &Root, limit: Duration) -> Result<(Vec<Detail>, Option<String>), String> {
    let candidates = candidates(root);
    let outcome = run_in_child(limit, 1 << 20, |mut pipe| match collect(&candidates) {
        Ok(text) => u8::from(pipe.write_all(text.as_bytes()).is_err()),
        Err(why) => {
            let _ = pipe.write_all(why.as_bytes());
            2
        }
    })
    .map_err(|e| format!("could not ask it in a child process: {e}"))?;
    if let Some(why) = &outcome.read_error {
        return Err(format!(
            "reading the answer of the process asking it: {why}"
        ));
    }
    if outcome.cut {
        return Err("the process asking it answered more than 1 MiB; the rest was not read".into());
    }
    let text = String::from_utf8_lossy(&outcome.output);
    match outcome.ended {
        Ended::Exited(0) => Ok(parse(&text)),
        Ended::Exited(_) => Err(text.trim().to_string()),
        Ended::Signaled(signal) => Err(format!(
            "the library killed the process asking it ({signal})"
        )),
        Ended::TimedOut => Err(format!("no answer within {}", duration_text(limit))),
    }
}

/// In the child: loads NVML from the first candidate that works and describes each GPU.
fn collect(candidates: &[OsString]) -> Result<String, String> {
    let mut failures = Vec::new();
    let nvml = candidates
        .iter()
        .find_map(|lib| match Nvml::builder().lib_path(lib).init() {
            Ok(nvml) => Some(nvml),
            Err(e) => {
                failures.push(format!("{}: {e}", lib.to_string_lossy()));
                None
            }
        })
        .ok_or_else(|| failures.join("; "))?;
    let mut out = String::new();
    let mut line = |key: &str, value: String| {
        out.push_str(key);
        out.push('=');
        out.push_str(&value.replace('\n', " "));
        out.push('\n');
    };
    if let Ok(v) = nvml.sys_driver_version() {
        line("driver", v);
    }
    let count = nvml
        .device_count()
        .map_err(|e| format!("counting GPUs: {e}"))?;
    for i in 0..count {
        let d = nvml
            .device_by_index(i)
            .map_err(|e| format!("GPU {i}: {e}"))?;
        line("gpu", i.to_string());
        if let Ok(p) = d.pci_info() {
            line("pci", p.bus_id);
        }
        if let Ok(v) = d.name() {
            line("name", v);
        }
        if let Ok(v) = d.uuid() {
            line("uuid", v);
        }
        if let Ok(m) = d.memory_info() {
            line("memory_total_mib", (m.total >> 20).to_string());
            line("memory_used_mib", (m.used >> 20).to_string());
        }
        if let Ok(c) = d.cuda_compute_capability() {
            line("compute_capability", format!("{}.{}", c.major, c.minor));
        }
        if let Ok(t) = d.temperature(TemperatureSensor::Gpu) {
            line("temperature_c", t.to_string());
        }
        if let Ok(p) = d.performance_state() {
            let n = p.as_c();
            if n < 16 {
                line("pstate", format!("P{n}"));
            }
        }
        if let Ok(mw) = d.power_usage() {
            line("power_mw", mw.to_string());
        }
        if let Ok(u) = d.utilization_rates() {
            line("utilization_pct", u.gpu.to_string());
        }
    }
    Ok(out)
}

/// The parent's reading of the child's lines.
fn parse(text: &str) -> (Vec<Detail>, Option<String>) {
    let mut gpus: Vec<Detail> = Vec::new();
    let mut driver = None;
    for l in text.lines() {
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        let number = || value.parse::<u64>().ok();
        if key == "driver" {
            driver = Some(value.to_string());
            continue;
        }
        if key == "gpu" {
            gpus.push(Detail::default());
            continue;
        }
        let Some(d) = gpus.last_mut() else { continue };
        match key {
            "pci" => d.pci = PciAddr::parse(value.as_bytes()),
            "name" => d.name = value.to_string(),
            "uuid" => d.uuid = value.to_string(),
            "memory_total_mib" => d.memory_total_mib = number(),
            "memory_used_mib" => d.memory_used_mib = number(),
            "compute_capability" => d.compute_capability = value.to_string(),
            "temperature_c" => d.temperature_c = number(),
            "pstate" => d.pstate = value.to_string(),
            "power_mw" => d.power_mw = number(),
            "utilization_pct" => d.utilization_pct = number(),
            _ => {}
        }
    }
    (gpus, driver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_childs_lines_read_back() {
        let (gpus, driver) = parse(
            "driver=550.78\ngpu=0\npci=00000000:01:00.0\nname=A\nmemory_total_mib=8192\n\
             compute_capability=8.6\npstate=P8\ngpu=1\nname=B\ntemperature_c=41\njunk\n",
        );
        assert_eq!(driver.as_deref(), Some("550.78"));
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].pci.unwrap().to_string(), "0000:01:00.0");
        assert_eq!(gpus[0].memory_total_mib, Some(8192));
        assert_eq!(gpus[1].temperature_c, Some(41));
        assert_eq!(gpus[1].name, "B");
    }
}

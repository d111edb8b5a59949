//! Container-runtime support for GPUs: CDI spec files (`/etc/cdi`, `/var/run/cdi`, `/run/cdi`),
//! the device kinds they declare, the driver version their library paths name and the NVIDIA
//! device nodes they hand out, found by scanning YAML or JSON text without a parser; and the
//! NVIDIA container tools on PATH. Used by hwc-gpu-detect and hwc-doctor.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

use hwc_core::root::Root;
use hwc_core::safefs;

const CDI_DIRS: [&str; 3] = ["/etc/cdi", "/var/run/cdi", "/run/cdi"];
const TOOLS: [&str; 3] = [
    "nvidia-ctk",
    "nvidia-container-runtime",
    "nvidia-container-cli",
];
/// CDI specs are small; a larger file is not a spec.
const MAX_SPEC: u64 = 4 << 20;

/// One CDI spec file.
#[derive(Debug, Default)]
pub struct Spec {
    /// The file, as a system path.
    pub path: String,
    /// NVIDIA driver versions its library paths name (`libcuda.so.550.78` names 550.78).
    pub driver_versions: BTreeSet<String>,
    /// N of each `/dev/nvidiaN` it hands out: the GPUs it was generated for.
    pub gpu_nodes: BTreeSet<u32>,
}

#[derive(Debug, Default)]
pub struct ContainerRuntime {
    /// Spec files, as system paths.
    pub specs: Vec<String>,
    /// What each spec file holds, in the order of `specs`.
    pub spec_files: Vec<Spec>,
    /// Device kinds declared by the specs, e.g. `nvidia.com/gpu`.
    pub kinds: BTreeSet<String>,
    /// NVIDIA container tools found on PATH.
    pub tools: Vec<&'static str>,
}

impl ContainerRuntime {
    /// `cdi` when a spec declares a device kind, else `nvidia-container-runtime` when the legacy
    /// runtime is installed, else `none`.
    pub fn summary(&self) -> &'static str {
        if !self.kinds.is_empty() {
            "cdi"
        } else if self.tools.contains(&"nvidia-container-runtime") {
            "nvidia-container-runtime"
        } else {
            "none"
        }
    }
}

pub fn detect(root: &Root) -> ContainerRuntime {
    let mut rt = ContainerRuntime::default();
    let mut seen = Vec::new();
    for dir in CDI_DIRS {
        let under = root.path(dir);
        let Ok(names) = hwc_core::safefs::list_dir(&under) else {
            continue;
        };
        let mut files: Vec<_> = names.into_iter().map(|n| under.join(n)).collect();
        files.sort();
        for file in files {
            let is_spec = file
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            // /var/run is usually a link to /run: count each file once.
            let id = (meta.dev(), meta.ino());
            if !is_spec || seen.contains(&id) {
                continue;
            }
            seen.push(id);
            // Bounded and non-blocking: anything but a regular file of a spec's size is no spec.
            if let Ok(text) = safefs::read_file(&file, MAX_SPEC) {
                rt.kinds.extend(cdi_kinds(&text));
                let path = root.display(&file).display().to_string();
                rt.spec_files.push(Spec {
                    path: path.clone(),
                    driver_versions: driver_versions(&text),
                    gpu_nodes: gpu_nodes(&text),
                });
                rt.specs.push(path);
            }
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in TOOLS {
        let found = std::env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .any(|d| {
                std::fs::metadata(root.path(d.join(tool)))
                    .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
            });
        if found {
            rt.tools.push(tool);
        }
    }
    rt
}

/// Values of `kind` keys (`kind: nvidia.com/gpu`, `"kind": "amd.com/gpu"`) that look like CDI
/// kinds (`vendor/class`).
pub fn cdi_kinds(text: &[u8]) -> Vec<String> {
    let mut kinds = Vec::new();
    for at in memchr::memmem::find_iter(text, b"kind") {
        let before = at.checked_sub(1).map(|i| text[i]);
        if !matches!(
            before,
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'{' | b',')
        ) {
            continue;
        }
        let mut rest = &text[at + 4..];
        if let Some(r) = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")) {
            rest = r;
        }
        let rest = trim_start(rest);
        let Some(rest) = rest.strip_prefix(b":") else {
            continue;
        };
        let rest = trim_start(rest);
        let rest = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"'"))
            .unwrap_or(rest);
        let end = rest
            .iter()
            .position(|b| matches!(b, b'"' | b'\'' | b',' | b'}' | b'#') || b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let value = &rest[..end];
        let valid = value.contains(&b'/')
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(b));
        if valid {
            kinds.push(String::from_utf8_lossy(value).into_owned());
        }
    }
    kinds
}

/// Libraries whose versioned file names carry the NVIDIA driver's version.
const VERSIONED_LIBS: [&[u8]; 3] = [
    b"libcuda.so.",
    b"libnvidia-ml.so.",
    b"libnvidia-ptxjitcompiler.so.",
];

/// The driver versions named by versioned NVIDIA library paths in `text` (`.so.550.78`; the
/// bare `.so.1` soname links are not versions).
pub fn driver_versions(text: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for lib in VERSIONED_LIBS {
        for at in memchr::memmem::find_iter(text, lib) {
            let rest = &text[at + lib.len()..];
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b'.'))
                .unwrap_or(rest.len());
            let v = rest[..end]
                .trim_ascii_end()
                .strip_suffix(b".")
                .unwrap_or(&rest[..end]);
            if v.contains(&b'.') && v.first().is_some_and(u8::is_ascii_digit) {
                out.insert(String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    out
}

/// N of every `/dev/nvidiaN` in `text` (not nvidiactl, nvidia-uvm, nvidia-caps).
pub fn gpu_nodes(text: &[u8]) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for at in memchr::memmem::find_iter(text, b"/dev/nvidia") {
        let rest = &text[at + 11..];
        let end = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        if let Some(n) = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|d| d.parse().ok())
        {
            out.insert(n);
        }
    }
    out
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_kinds() {
        let yaml = b"---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n";
        assert_eq!(cdi_kinds(yaml), ["nvidia.com/gpu"]);
        let json = br#"{"cdiVersion":"0.6.0","kind":"nvidia.com/gpu","devices":[]}"#;
        assert_eq!(cdi_kinds(json), ["nvidia.com/gpu"]);
        let spaced = b"{ \"kind\" : \"amd.com/gpu\" }";
        assert_eq!(cdi_kinds(spaced), ["amd.com/gpu"]);
        let quoted = b"kind: 'vendor.example/fpga' # comment\n";
        assert_eq!(cdi_kinds(quoted), ["vendor.example/fpga"]);
    }

    #[test]
    fn driver_versions_and_gpu_nodes_of_a_spec() {
        let spec = br#"{"kind":"nvidia.com/gpu","devices":[{"name":"0","containerEdits":{"deviceNodes":[{"path":"/dev/nvidia0"}]}},{"name":"1","containerEdits":{"deviceNodes":[{"path":"/dev/nvidia1"}]}}],
"containerEdits":{"deviceNodes":[{"path":"/dev/nvidiactl"},{"path":"/dev/nvidia-uvm"}],
"mounts":[{"hostPath":"/usr/lib/x86_64-linux-gnu/libcuda.so.550.78","containerPath":"/usr/lib/x86_64-linux-gnu/libcuda.so.550.78"},
{"hostPath":"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"},{"hostPath":"/nix/store/x-nvidia-x11-550.78/lib/libnvidia-ml.so.550.78"}]}}"#;
        assert_eq!(
            driver_versions(spec).into_iter().collect::<Vec<_>>(),
            ["550.78"]
        );
        assert_eq!(gpu_nodes(spec).into_iter().collect::<Vec<_>>(), [0, 1]);
        let yaml = b"  - hostPath: /usr/lib64/libcuda.so.570.133.07\n    containerPath: /usr/lib64/libcuda.so.570.133.07\n";
        assert_eq!(
            driver_versions(yaml).into_iter().collect::<Vec<_>>(),
            ["570.133.07"]
        );
        assert!(driver_versions(b"libcuda.so.1 libcuda.so.").is_empty());
    }

    #[test]
    fn ignores_lookalikes() {
        assert!(cdi_kinds(b"mykind: nvidia.com/gpu\n").is_empty());
        assert!(cdi_kinds(b"kind: Pod\n").is_empty());
        assert!(cdi_kinds(b"kindness: x/y\n").is_empty());
        assert!(cdi_kinds(b"kind").is_empty());
        assert!(cdi_kinds(b"").is_empty());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 1u64;
        for _ in 0..3000 {
            let mut v = Vec::new();
            for _ in 0..(x % 64) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.push(b"kind: \"'/a.{},\n"[(x >> 60) as usize % 15]);
            }
            for k in cdi_kinds(&v) {
                assert!(k.contains('/'));
            }
        }
    }
}

//! What the machine was declared to be: /etc/hwc/declared.json, as the NixOS domain writes it
//! (or a person on another distribution). Every key is optional; an absent key means "not
//! declared" and the checks that need it are skipped.
//!
//! ```json
//! {"gpu": {"type": "nvidia", "containerRuntime": true},
//!  "permissions": {"user": "eric", "sets": ["media", "hardware"]},
//!  "ssh": {"user": "eric", "secret": "/run/agenix/ssh-authorized-keys-eric"},
//!  "bridges": {"podman0": ["10.88.0.1/16"]},
//!  "apps": ["chromium", "steam"],
//!  "graphics32": ["steam"]}
//! ```
//!
//! "graphics32" names the apps among "apps" whose system side asked for 32-bit graphics drivers:
//! the NixOS domain writes it beside "apps" (`[]` where none asked) for the platform the
//! configuration is for (x86_64 alone has them), so the doctor looks for them as that machine's
//! declaration says, not by its own build. Without it, what it would say is not known: Steam's
//! check is skipped.

use hwc_core::error::{Error, Result};
use hwc_core::root::Root;
use hwc_core::safefs;

use crate::json::{self, Value};

pub const PATH: &str = "/etc/hwc/declared.json";
/// A declaration is a few hundred bytes; a bigger file is not one.
const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Gpu {
    /// nvidia, amd, intel or none.
    pub gpu_type: String,
    pub container_runtime: bool,
}

/// A container network as this machine should hold it (the NixOS module's `networks.<name>`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    /// The host's address on the bridge, with the subnet's prefix.
    pub address: String,
    pub overlay: Option<Overlay>,
    pub podman: bool,
    pub docker: bool,
}

/// A network's VXLAN overlay.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Overlay {
    pub link: String,
    pub vni: u32,
    pub port: u32,
    pub local: String,
    pub underlay: String,
    /// The other machines' underlay addresses.
    pub peers: Vec<String>,
    pub mtu: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Declared {
    pub gpu: Option<Gpu>,
    /// The user and the group sets declared for them.
    pub permissions: Option<(String, Vec<String>)>,
    /// The user whose keys are installed, and the secret when it is not the default.
    pub ssh: Option<(String, Option<String>)>,
    /// Bridges by name, with their addresses.
    pub bridges: Vec<(String, Vec<String>)>,
    /// Container networks, by name.
    pub networks: Vec<Network>,
    pub apps: Vec<String>,
    /// The apps that asked for 32-bit graphics drivers; `None` when the declaration does not say.
    pub graphics32: Option<Vec<String>>,
    /// Whether the file was there at all.
    pub found: bool,
}

impl Declared {
    /// The user the session checks are for: the one named by permissions, else by ssh.
    pub fn user(&self) -> Option<&str> {
        self.permissions
            .as_ref()
            .map(|(u, _)| u.as_str())
            .or(self.ssh.as_ref().map(|(u, _)| u.as_str()))
    }
}

/// The declaration under `root`; none declared when the file is absent.
pub fn load(root: &Root) -> Result<Declared> {
    let path = root.path(PATH);
    let text = match safefs::read_file_if_exists(&path, MAX_FILE) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(Declared::default()),
        Err(e) => return Err(Error::io(format!("reading {PATH}"), &e)),
    };
    let doc = json::parse(&text).map_err(|why| Error::failed(format!("{PATH}: {why}")))?;
    from_value(&doc).map_err(|why| Error::failed(format!("{PATH}: {why}")))
}

fn strings(v: &Value, what: &str) -> std::result::Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is {}, not an array of strings", v.kind()))?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{what} holds {}, not a string", s.kind()))
        })
        .collect()
}

fn string(v: &Value, what: &str) -> std::result::Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what} is {}, not a string", v.kind()))
}

pub fn from_value(doc: &Value) -> std::result::Result<Declared, String> {
    if doc.as_object().is_none() {
        return Err(format!("the document is {}, not an object", doc.kind()));
    }
    let mut d = Declared {
        found: true,
        ..Declared::default()
    };
    if let Some(g) = doc.get("gpu") {
        let gpu_type = string(g.get("type").unwrap_or(&Value::Null), "gpu.type")?;
        hwc_gpu::parse_gpu_type(&gpu_type)
            .map_err(|why| format!("gpu.type '{gpu_type}': {why}"))?;
        let container_runtime = match g.get("containerRuntime") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| format!("gpu.containerRuntime is {}, not a boolean", v.kind()))?,
        };
        d.gpu = Some(Gpu {
            gpu_type,
            container_runtime,
        });
    }
    if let Some(p) = doc.get("permissions") {
        let user = string(p.get("user").unwrap_or(&Value::Null), "permissions.user")?;
        let mut sets = match p.get("sets") {
            Some(v) => strings(v, "permissions.sets")?,
            None => Vec::new(),
        };
        // A set named twice is one set (one check, one series).
        let mut seen = std::collections::BTreeSet::new();
        sets.retain(|s| seen.insert(s.clone()));
        d.permissions = Some((user, sets));
    }
    if let Some(s) = doc.get("ssh") {
        let user = string(s.get("user").unwrap_or(&Value::Null), "ssh.user")?;
        let secret = match s.get("secret") {
            None | Some(Value::Null) => None,
            Some(v) => Some(string(v, "ssh.secret")?),
        };
        d.ssh = Some((user, secret));
    }
    if let Some(b) = doc.get("bridges") {
        let map = b
            .as_object()
            .ok_or_else(|| format!("bridges is {}, not an object", b.kind()))?;
        for (name, addrs) in map {
            d.bridges
                .push((name.clone(), strings(addrs, &format!("bridges.{name}"))?));
        }
    }
    if let Some(n) = doc.get("networks") {
        let map = n
            .as_object()
            .ok_or_else(|| format!("networks is {}, not an object", n.kind()))?;
        for (name, net) in map {
            d.networks.push(network(name, net)?);
        }
    }
    if let Some(a) = doc.get("apps") {
        d.apps = strings(a, "apps")?;
    }
    if let Some(a) = doc.get("graphics32") {
        let graphics32 = strings(a, "graphics32")?;
        if let Some(stray) = graphics32.iter().find(|g| !d.apps.contains(g)) {
            return Err(format!(
                "graphics32 names '{stray}', which is not among apps"
            ));
        }
        d.graphics32 = Some(graphics32);
    }
    Ok(d)
}

fn number(v: Option<&Value>, what: &str) -> std::result::Result<u32, String> {
    match v {
        Some(Value::Number(n)) => n
            .parse()
            .map_err(|_| format!("{what} is {n}, not a whole number")),
        Some(other) => Err(format!("{what} is {}, not a number", other.kind())),
        None => Err(format!("{what} is missing")),
    }
}

fn network(name: &str, v: &Value) -> std::result::Result<Network, String> {
    let at = |key: &str| format!("networks.{name}.{key}");
    let field = |key: &str| v.get(key).unwrap_or(&Value::Null);
    let overlay = match v.get("overlay") {
        None | Some(Value::Null) => None,
        Some(o) => {
            let get = |key: &str| o.get(key).unwrap_or(&Value::Null);
            Some(Overlay {
                link: string(get("link"), &at("overlay.link"))?,
                vni: number(o.get("vni"), &at("overlay.vni"))?,
                port: number(o.get("port"), &at("overlay.port"))?,
                local: string(get("local"), &at("overlay.local"))?,
                underlay: string(get("underlay"), &at("overlay.underlay"))?,
                peers: strings(get("peers"), &at("overlay.peers"))?,
                mtu: match o.get("mtu") {
                    None | Some(Value::Null) => None,
                    m => Some(number(m, &at("overlay.mtu"))?),
                },
            })
        }
    };
    Ok(Network {
        name: name.to_string(),
        bridge: string(field("bridge"), &at("bridge"))?,
        address: string(field("address"), &at("address"))?,
        overlay,
        podman: field("podman").as_bool().unwrap_or(false),
        docker: field("docker").as_bool().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example() {
        let doc = json::parse(
            br#"{"gpu": {"type": "nvidia", "containerRuntime": true},
 "permissions": {"user": "eric", "sets": ["media", "hardware"]},
 "ssh": {"user": "eric"},
 "bridges": {"podman0": ["10.88.0.1/16"]},
 "apps": ["chromium", "steam"],
 "graphics32": ["steam"]}"#,
        )
        .unwrap();
        let d = from_value(&doc).unwrap();
        assert_eq!(
            d.gpu,
            Some(Gpu {
                gpu_type: "nvidia".into(),
                container_runtime: true
            })
        );
        assert_eq!(
            d.permissions,
            Some(("eric".into(), vec!["media".into(), "hardware".into()]))
        );
        assert_eq!(d.ssh, Some(("eric".into(), None)));
        assert_eq!(d.bridges, [("podman0".into(), vec!["10.88.0.1/16".into()])]);
        assert_eq!(d.apps, ["chromium", "steam"]);
        assert_eq!(d.graphics32, Some(vec!["steam".to_string()]));
        assert_eq!(d.user(), Some("eric"));
    }

    #[test]
    fn every_key_is_optional_and_bad_values_are_named() {
        let d = from_value(&json::parse(b"{}").unwrap()).unwrap();
        assert!(d.found && d.gpu.is_none() && d.bridges.is_empty() && d.graphics32.is_none());
        for (doc, named) in [
            (&br#"{"gpu": {"type": "matrox"}}"#[..], "gpu.type"),
            (
                br#"{"gpu": {"type": "amd", "containerRuntime": "yes"}}"#,
                "gpu.containerRuntime",
            ),
            (
                br#"{"permissions": {"sets": ["media"]}}"#,
                "permissions.user",
            ),
            (br#"{"bridges": {"br0": "10.0.0.1/8"}}"#, "bridges.br0"),
            (br#"{"apps": [1]}"#, "apps"),
            (br#"{"graphics32": "steam"}"#, "graphics32"),
            // Only an app declared on can have asked for anything.
            (
                br#"{"apps": ["obs"], "graphics32": ["steam"]}"#,
                "graphics32 names 'steam', which is not among apps",
            ),
            (b"[]", "not an object"),
        ] {
            let e = from_value(&json::parse(doc).unwrap()).unwrap_err();
            assert!(e.contains(named), "{e}");
        }
    }
}

//! Where the keys come from: the secret's files, else the fallback's files and lines, each read
//! bounded and checked line by line ([`crate::keys`]).

use std::collections::HashSet;
use std::path::PathBuf;

use crate::keys::{self, Key};
use hwc_core::error::describe_io;
use hwc_core::root::Root;
use hwc_core::safefs;

/// Largest source or authorized_keys file read; a bigger one is not a key file.
pub(crate) const MAX_FILE: u64 = 16 << 20;

/// A line that was not used, and why.
pub struct Rejected {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

/// One source file or option, and what came of it.
pub struct Source {
    pub name: String,
    pub kind: &'static str,
    pub status: String,
    pub keys: usize,
}

/// The key set chosen from the sources.
pub struct Chosen {
    pub keys: Vec<Key>,
    pub from: &'static str,
    pub sources: Vec<Source>,
    pub rejected: Vec<Rejected>,
}

/// The keys of one source, added to `into` unless already there (by type and blob; `seen` holds
/// what `into` holds). Returns how many valid key lines it had. A line whose quoted option value
/// runs past its end refuses the lines it runs into, up to the one that closes the quote: sshd
/// would read those as lines of their own, a restricted key turned into an unrestricted one.
fn parse_source(
    name: &str,
    data: &[u8],
    into: &mut Vec<Key>,
    seen: &mut HashSet<Vec<u8>>,
    rejected: &mut Vec<Rejected>,
) -> usize {
    let mut found = 0;
    let mut open_quote_since = None;
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let reject = |reason: String, rejected: &mut Vec<Rejected>| {
            rejected.push(Rejected {
                source: name.to_string(),
                line: i + 1,
                reason,
            })
        };
        if let Some(start) = open_quote_since {
            if keys::closes_quote(line) {
                open_quote_since = None;
            }
            reject(
                format!("continues line {start}, whose quoted option value is not closed; refused"),
                rejected,
            );
            continue;
        }
        match keys::parse_line(line) {
            Ok(None) => {}
            Ok(Some(key)) => {
                found += 1;
                if seen.insert(key.identity()) {
                    into.push(key);
                } else {
                    reject("duplicate key; the first is kept".into(), rejected);
                }
            }
            Err(why) => {
                if why.open_quote {
                    open_quote_since = Some(i + 1);
                }
                reject(why.reason, rejected);
            }
        }
    }
    found
}

/// Reads each source file: bounded, regular files only, never blocking on a FIFO.
fn read_sources(
    files: &[(PathBuf, String)],
    kind: &'static str,
    keys: &mut Vec<Key>,
    seen: &mut HashSet<Vec<u8>>,
    chosen: &mut Chosen,
) {
    for (path, name) in files {
        let status = match safefs::read_file(path, MAX_FILE) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing".to_string(),
            Err(e) => format!("unreadable: {}", describe_io(&e)),
            Ok(data) => {
                let before = keys.len();
                let n = parse_source(name, &data, keys, seen, &mut chosen.rejected);
                let counting = keys[before..].iter().filter(|k| k.counts()).count();
                chosen.sources.push(Source {
                    name: name.clone(),
                    kind,
                    status: key_status(n, counting),
                    keys: n,
                });
                continue;
            }
        };
        chosen.sources.push(Source {
            name: name.clone(),
            kind,
            status,
            keys: 0,
        });
    }
}

fn key_status(n: usize, counting: usize) -> String {
    if counting == n {
        format!("{n} valid key(s)")
    } else {
        format!("{n} valid key(s), {counting} verifiable")
    }
}

/// The files given, as they are; or the default system path, under `--root`. Each with the name
/// messages show.
fn source_files(root: &Root, given: &[PathBuf], default: String) -> Vec<(PathBuf, String)> {
    if given.is_empty() {
        let path = root.path(&default);
        vec![(path, default)]
    } else {
        given
            .iter()
            .map(|p| (p.clone(), p.display().to_string()))
            .collect()
    }
}

/// The secret's keys when one of them can be verified; else those carried (security keys)
/// and the fallback keys.
/// Where keys come from: the secret files, the fallback files and lines (empty: the defaults).
pub struct Sources<'a> {
    pub secrets: &'a [PathBuf],
    pub fallbacks: &'a [PathBuf],
    pub fallback_keys: &'a [String],
}

pub fn choose(root: &Root, user: &str, given: &Sources) -> Chosen {
    let mut chosen = Chosen {
        keys: Vec::new(),
        from: "secret",
        sources: Vec::new(),
        rejected: Vec::new(),
    };
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let secrets = source_files(
        root,
        given.secrets,
        format!("/run/agenix/ssh-authorized-keys-{user}"),
    );
    read_sources(&secrets, "secret", &mut keys, &mut seen, &mut chosen);
    if !keys.iter().any(Key::counts) {
        chosen.from = "fallback";
        let fallbacks = source_files(
            root,
            given.fallbacks,
            format!("/etc/hwc/ssh-authorized-keys/{user}"),
        );
        read_sources(&fallbacks, "fallback", &mut keys, &mut seen, &mut chosen);
        for (i, line) in given.fallback_keys.iter().enumerate() {
            let name = format!("--fallback-key #{}", i + 1);
            let before = keys.len();
            let n = parse_source(
                &name,
                line.as_bytes(),
                &mut keys,
                &mut seen,
                &mut chosen.rejected,
            );
            let counting = keys[before..].iter().filter(|k| k.counts()).count();
            chosen.sources.push(Source {
                name,
                kind: "fallback",
                status: key_status(n, counting),
                keys: n,
            });
        }
    }
    chosen.keys = keys;
    chosen
}

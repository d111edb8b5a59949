//! `setup-ssh-keys USER`: the user's authorized keys from a secret (agenix), with fallback keys
//! so the owner can still log in when the secret is missing.
//!
//! Sources are read as root; everything under the home directory is done as the user (a forked
//! child with the user's ids and no capabilities), walking from the home with `O_NOFOLLOW`, so a
//! hostile home cannot redirect a write. The file is replaced atomically or not at all.

#![forbid(unsafe_code)]

mod blob;
mod block;
mod ec;
mod keys;
mod options;
mod strict;

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::output::{self, Json};
use hwc_core::privilege::{self, Ids};
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::users::Accounts;
use keys::Key;

/// Install USER's authorized keys from a secret file (as agenix decrypts it), falling back to
/// fallback keys when no secret yields a valid key, into ~USER/.ssh/authorized_keys. The keys go
/// into a block between marker lines; the user's own lines outside it are kept byte for byte, and
/// a key removed from the source leaves the block. Nothing is written when nothing changed, and
/// never an empty key set: with no valid key anywhere the file is left alone and the exit is 1.
/// As root, every operation in the home directory runs as USER, within --timeout.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Defaults: --secret /run/agenix/ssh-authorized-keys-USER, --fallback \
/etc/hwc/ssh-authorized-keys/USER (both under --root; paths given are taken as they are, relative \
ones from the working directory). Lines are checked as sshd reads them (option values, key type, \
base64 whose inner type and curve match, EC points on their curve, RSA moduli of 1024 bits or \
more); bad lines are reported as SOURCE:LINE: reason and skipped, duplicates keep the first, and \
a line broken inside a quoted option value refuses the lines it runs into. Security-key keys are \
carried but never count as the secret yielding a valid key; certificates are refused. After \
writing, sshd's StrictModes verdict is predicted and problems are reported as warnings.",
    error_code(1, "no valid key in any source, an unsafe layout refused, a write failed or timed out, or --check found that sshd would refuse the file"),
    error_code(2, "usage error")
)]
struct Args {
    /// the user whose keys to install (name or uid)
    #[argh(positional)]
    user: String,
    /// secret file with the keys (repeatable)
    #[argh(option)]
    secret: Vec<PathBuf>,
    /// file of fallback keys, used when no secret yields a valid key (repeatable)
    #[argh(option)]
    fallback: Vec<PathBuf>,
    /// a fallback key line (repeatable)
    #[argh(option)]
    fallback_key: Vec<String>,
    /// make the file the managed keys only, dropping the user's own lines
    #[argh(switch)]
    exclusive: bool,
    /// print the resulting file and the diff, write nothing
    #[argh(switch)]
    dry_run: bool,
    /// only predict whether sshd would accept the file (exit 1 if not); write nothing
    #[argh(switch)]
    check: bool,
    /// print one JSON report
    #[argh(switch)]
    json: bool,
    /// seconds the work in the home directory may take before it is killed and the run fails
    /// (default 30)
    #[argh(option, default = "30")]
    timeout: u32,
    /// read /etc, /run and the home directory under DIR instead of /
    #[argh(option)]
    root: Option<PathBuf>,
}

/// A line that was not used, and why.
struct Rejected {
    source: String,
    line: usize,
    reason: String,
}

/// One source file or option, and what came of it.
struct Source {
    name: String,
    kind: &'static str,
    status: String,
    keys: usize,
}

/// The key set chosen from the sources.
struct Chosen {
    keys: Vec<Key>,
    from: &'static str,
    sources: Vec<Source>,
    rejected: Vec<Rejected>,
}

/// Largest source or authorized_keys file read; a bigger one is not a key file.
const MAX_FILE: u64 = 16 << 20;

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
fn choose(root: &Root, user: &str, args: &Args) -> Chosen {
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
        &args.secret,
        format!("/run/agenix/ssh-authorized-keys-{user}"),
    );
    read_sources(&secrets, "secret", &mut keys, &mut seen, &mut chosen);
    if !keys.iter().any(Key::counts) {
        chosen.from = "fallback";
        let fallbacks = source_files(
            root,
            &args.fallback,
            format!("/etc/hwc/ssh-authorized-keys/{user}"),
        );
        read_sources(&fallbacks, "fallback", &mut keys, &mut seen, &mut chosen);
        for (i, line) in args.fallback_key.iter().enumerate() {
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

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    if args.check && args.dry_run {
        return Err(Error::usage("--check and --dry-run are exclusive"));
    }
    if args.timeout == 0 {
        return Err(Error::usage("--timeout must be at least 1 second"));
    }
    let limit = Duration::from_secs(u64::from(args.timeout));
    let root = Root::from_option(args.root.as_deref());
    let accounts = Accounts::load(&root)?;
    let user = accounts
        .find_user(&args.user)
        .ok_or_else(|| {
            Error::failed(format!(
                "no user '{}' in {}/etc/passwd",
                args.user,
                if root.is_system() { "" } else { "<root>" }
            ))
        })?
        .clone();
    if !user.home.is_absolute() {
        return Err(Error::failed(format!(
            "{}: the home directory in /etc/passwd is '{}', not an absolute path; nothing written",
            user.name,
            user.home.display()
        )));
    }
    let ids = Ids {
        uid: user.uid,
        gid: user.gid,
        groups: accounts.group_ids(&user),
    };
    let home = root.path(&user.home);
    let file = home.join(".ssh/authorized_keys");
    let stop = root.path("/");

    if args.check {
        let sshd_view = sshd_key_files(&root, &user.name);
        return privilege::run_as(name, &ids, limit, || {
            let problems = strict::predict(&file, &home, user.uid, &stop);
            report_check(&args, &root, &file, &problems, sshd_view.as_deref())?;
            Ok(u8::from(!problems.is_empty()))
        });
    }

    let chosen = choose(&root, &user.name, &args);
    if !args.json {
        for r in &chosen.rejected {
            output::warn(name, &format!("{}:{}: {}", r.source, r.line, r.reason));
        }
    }
    if chosen.keys.is_empty() {
        let seen: Vec<String> = chosen
            .sources
            .iter()
            .map(|s| format!("{} ({})", s.name, s.status))
            .collect();
        return Err(Error::failed(format!(
            "no valid key for {} in any source: {}; {} left untouched",
            user.name,
            seen.join(", "),
            root.display(&file).display()
        )));
    }
    let managed: Vec<String> = chosen.keys.iter().map(Key::line).collect();
    privilege::run_as(name, &ids, limit, || {
        let outcome = install(&home, &managed, &args)?;
        let warnings = if outcome.written || (!args.dry_run && outcome.existed) {
            strict::predict(&file, &home, user.uid, &stop)
        } else {
            Vec::new()
        };
        if !args.json {
            for w in &warnings {
                output::warn(name, &format!("warning: sshd would refuse the keys: {w}"));
            }
        }
        report(
            &args, &root, &user.name, &file, &chosen, &outcome, &warnings,
        )?;
        Ok(0)
    })
}

/// What happened to the file.
struct Outcome {
    existed: bool,
    old: Vec<u8>,
    new: Vec<u8>,
    added: Vec<String>,
    removed: Vec<String>,
    written: bool,
    created_ssh_dir: bool,
}

/// Runs as the user: walks from the home without following links, creates `.ssh` when missing,
/// takes the directory's lock (one run at a time per user), reads the current file (reached
/// without opening it first, so a device there is never opened; refused unless a regular file),
/// and replaces it atomically when its content changes.
fn install(home: &Path, managed: &[String], args: &Args) -> Result<Outcome> {
    let shown = |p: &Path| p.display().to_string();
    let io = |what: String, e: std::io::Error| {
        let why = match e.raw_os_error() {
            Some(libc::ELOOP) => "it is a symbolic link; refusing to follow it".to_string(),
            Some(libc::ENOTDIR) => "it is not a directory".to_string(),
            _ => describe_io(&e),
        };
        Error::failed(format!("{what}: {why}"))
    };
    let home_dir = safefs::Dir::open(home).map_err(|e| io(shown(home), e))?;
    let st = home_dir.stat().map_err(|e| io(shown(home), e))?;
    let me = privilege::euid();
    if st.uid != me && st.uid != 0 {
        return Err(Error::failed(format!(
            "{}: owned by uid {}, not by the user (uid {me}) or root; sshd would refuse it and nothing is written",
            shown(home),
            st.uid
        )));
    }
    let ssh_path = home.join(".ssh");
    let created_ssh_dir = !args.dry_run
        && home_dir
            .mkdir(".ssh", 0o700)
            .map_err(|e| io(shown(&ssh_path), e))?;
    let ssh = match home_dir.open_dir(".ssh") {
        Ok(d) => Some(d),
        Err(e) if args.dry_run && e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(io(shown(&ssh_path), e)),
    };
    let _lock = match (&ssh, args.dry_run) {
        (Some(ssh), false) => Some(
            ssh.lock()
                .map_err(|e| io(format!("locking {}", shown(&ssh_path)), e))?,
        ),
        _ => None,
    };
    let file_path = ssh_path.join("authorized_keys");
    let mut old = Vec::new();
    let mut existed = false;
    if let Some(node) = ssh
        .as_ref()
        .map(|d| d.node("authorized_keys"))
        .transpose()
        .map_err(|e| io(shown(&file_path), e))?
        .flatten()
    {
        if node.stat.is_link() {
            return Err(io(
                shown(&file_path),
                std::io::Error::from_raw_os_error(libc::ELOOP),
            ));
        }
        if !node.stat.is_file() {
            return Err(Error::failed(format!(
                "{}: it is a {}, not a regular file; refusing",
                shown(&file_path),
                node.stat.kind()
            )));
        }
        old = node.read(MAX_FILE).map_err(|e| io(shown(&file_path), e))?;
        existed = true;
    }
    let merged = block::merge(existed.then_some(old.as_slice()), managed, args.exclusive)
        .map_err(|why| Error::failed(format!("{}: {why}", shown(&file_path))))?;
    let changed = !existed || merged.content != old;
    let mut written = false;
    if changed && !args.dry_run {
        let ssh = ssh
            .as_ref()
            .ok_or_else(|| Error::failed(format!("{}: missing", shown(&ssh_path))))?;
        ssh.remove_stale_temps("authorized_keys")
            .and_then(|()| ssh.replace("authorized_keys", &merged.content, 0o600))
            .map_err(|e| io(format!("replacing {}", shown(&file_path)), e))?;
        written = true;
    }
    Ok(Outcome {
        existed,
        old,
        new: merged.content,
        added: merged.added,
        removed: merged.removed,
        written,
        created_ssh_dir,
    })
}

fn report(
    args: &Args,
    root: &Root,
    user: &str,
    file: &Path,
    chosen: &Chosen,
    out: &Outcome,
    warnings: &[String],
) -> Result<()> {
    let file_shown = root.display(file).display().to_string();
    if args.json {
        let mut j = Json::new();
        j.begin_object();
        j.key("user").string(user);
        j.key("file").string(&file_shown);
        j.key("source").string(chosen.from);
        j.key("sources").begin_array();
        for s in &chosen.sources {
            j.begin_object()
                .key("path")
                .string(&s.name)
                .key("kind")
                .string(s.kind)
                .key("status")
                .string(&s.status)
                .key("keys")
                .number(s.keys as u64)
                .end_object();
        }
        j.end_array();
        j.key("installed").number(chosen.keys.len() as u64);
        j.key("added").begin_array();
        for a in &out.added {
            j.string(label(a));
        }
        j.end_array().key("removed").begin_array();
        for r in &out.removed {
            j.string(label(r));
        }
        j.end_array().key("rejected").begin_array();
        for r in &chosen.rejected {
            j.begin_object()
                .key("source")
                .string(&r.source)
                .key("line")
                .number(r.line as u64)
                .key("reason")
                .string(&r.reason)
                .end_object();
        }
        j.end_array();
        j.key("changed").bool(!out.existed || out.new != out.old);
        j.key("written").bool(out.written);
        j.key("dry_run").bool(args.dry_run);
        j.key("warnings").begin_array();
        for w in warnings {
            j.string(w);
        }
        j.end_array().end_object();
        return output::emit(&j.finish());
    }
    let mut text = String::new();
    if args.dry_run {
        // The file holds the user's own lines: what reaches root's terminal is made printable
        // line by line.
        let printable = |text: &str| -> String {
            text.lines()
                .map(|l| format!("{}\n", output::printable(l)))
                .collect()
        };
        text.push_str(&format!(
            "{}\n",
            output::would(format!("write {file_shown}:"))
        ));
        text.push_str(&printable(&String::from_utf8_lossy(&out.new)));
        text.push_str(&format!("{}\n", output::would("change these lines:")));
        text.push_str(&printable(&block::diff(&out.old, &out.new)));
    }
    let verb = match (args.dry_run, out.existed && out.new == out.old) {
        (_, true) => "unchanged".to_string(),
        (true, false) => "would change".to_string(),
        (false, false) => {
            if out.created_ssh_dir {
                "written (created ~/.ssh)".to_string()
            } else {
                "written".to_string()
            }
        }
    };
    let from: Vec<&str> = chosen
        .sources
        .iter()
        .filter(|s| s.keys > 0)
        .map(|s| s.name.as_str())
        .collect();
    text.push_str(&format!(
        "{user}: {} key(s) from the {} ({}) in {file_shown}: {verb}; {} added, {} removed\n",
        chosen.keys.len(),
        chosen.from,
        from.join(", "),
        out.added.len(),
        out.removed.len()
    ));
    output::emit(&text)
}

/// A report label for a managed line: the key's label when it parses.
fn label(line: &str) -> String {
    match keys::parse_line(line.as_bytes()) {
        Ok(Some(k)) => k.label(),
        _ => line.to_string(),
    }
}

/// Where sshd reads keys for the user, from `sshd -G -C user=USER` (running system only).
fn sshd_key_files(root: &Root, user: &str) -> Option<String> {
    if !root.is_system() {
        return None;
    }
    let sshd = [
        "/usr/sbin/sshd",
        "/run/current-system/sw/bin/sshd",
        "/usr/bin/sshd",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())?;
    let out = std::process::Command::new(sshd)
        .args(["-G", "-C", &format!("user={user}")])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("authorizedkeysfile "))
        .map(str::to_string)
}

fn report_check(
    args: &Args,
    root: &Root,
    file: &Path,
    problems: &[String],
    sshd: Option<&str>,
) -> Result<()> {
    let shown = root.display(file).display().to_string();
    if args.json {
        let mut j = Json::new();
        j.begin_object()
            .key("file")
            .string(&shown)
            .key("accepted")
            .bool(problems.is_empty());
        j.key("problems").begin_array();
        for p in problems {
            j.string(p);
        }
        j.end_array()
            .key("sshd_authorized_keys_file")
            .opt_string(sshd)
            .end_object();
        return output::emit(&j.finish());
    }
    let mut text = String::new();
    if let Some(files) = sshd {
        text.push_str(&format!("sshd reads keys from: {files}\n"));
        if !files
            .split_whitespace()
            .any(|f| f.ends_with(".ssh/authorized_keys"))
        {
            text.push_str(
                "note: that list has no ~/.ssh/authorized_keys: keys written there are not used\n",
            );
        }
    }
    if problems.is_empty() {
        text.push_str(&format!("{shown}: sshd would accept it (StrictModes)\n"));
    } else {
        for p in problems {
            text.push_str(&format!("refused: {p}\n"));
        }
    }
    output::emit(&text)
}

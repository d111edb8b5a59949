//! `hwc-perms`: which groups a user has and lacks, whether a user may open a device node (as the
//! kernel would decide), and POSIX ACL entries for one user, granted and revoked like setfacl.

#![forbid(unsafe_code)]

mod access;
mod acl;
mod groups;
mod route;

use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use argh::FromArgs;

use access::{Via, Who};
use acl::Acl;
use hwc_core::cli::parse_args;
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::output::{self, Json, Table};
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::sys;
use hwc_core::users::{Accounts, User};
use route::Route;

const ACCESS_XATTR: &std::ffi::CStr = c"system.posix_acl_access";
const DEFAULT_XATTR: &std::ffi::CStr = c"system.posix_acl_default";

/// Check user groups and hardware access, and grant or revoke POSIX ACL entries.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "ACLs on device nodes tagged 'uaccess' (sound, video, DRM cards, ...) are rewritten by \
systemd-logind and udev when the active session on a seat changes: a grant there is temporary. \
For lasting access use groups (hwc-perms groups) or a udev rule.",
    error_code(
        1,
        "a check found a problem (missing groups, no access) or an operation failed"
    ),
    error_code(2, "usage error")
)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Groups(GroupsArgs),
    Access(AccessArgs),
    Show(ShowArgs),
    Grant(GrantArgs),
    Revoke(RevokeArgs),
}

/// Which groups of the media, hardware and development sets the user has, lacks, or that do not
/// exist here; prints the NixOS line and the usermod command for a gap but never edits
/// /etc/group. Sets come from /etc/hwc/perms.conf ('SET = group group? ...', '?' = only where it
/// exists) or the defaults: media = audio video render; hardware = input i2c? gpio? spi?
/// plugdev?; development = dialout kvm plugdev? adbusers?. Exit 0 when nothing is missing.
#[derive(FromArgs)]
#[argh(subcommand, name = "groups", help_triggers("-h", "--help"))]
struct GroupsArgs {
    /// the user (default: the invoking user, or SUDO_USER under sudo)
    #[argh(option)]
    user: Option<String>,
    /// sets to check, comma-separated (default: all)
    #[argh(option)]
    want: Option<String>,
    /// print one JSON document
    #[argh(switch)]
    json: bool,
    /// read /etc under DIR instead of /
    #[argh(option)]
    root: Option<PathBuf>,
}

/// May the user read, write, execute each PATH, computed like the kernel (owner, named users
/// masked, groups masked, other; root's bypass; search permission on every directory on the way),
/// and which entry decided. Exit 0 when the user may read and write every path.
#[derive(FromArgs)]
#[argh(subcommand, name = "access", help_triggers("-h", "--help"))]
struct AccessArgs {
    /// the user (default: the invoking user)
    #[argh(option)]
    user: Option<String>,
    /// also check the usual hardware nodes (/dev/dri/*, /dev/nvidia*, /dev/kfd, /dev/snd/*,
    /// /dev/input/event*, /dev/video*, /dev/kvm, /dev/ttyUSB*, /dev/ttyACM*, /dev/i2c-*,
    /// /dev/gpiochip*, /dev/hidraw*)
    #[argh(switch)]
    devices: bool,
    /// print one JSON document
    #[argh(switch)]
    json: bool,
    /// read /etc, /proc and the --devices nodes under DIR instead of / (the PATHs given are
    /// taken as they are)
    #[argh(option)]
    root: Option<PathBuf>,
    /// paths to check (relative ones from the working directory)
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

/// Print each PATH's ACL exactly as 'getfacl -p' does.
#[derive(FromArgs)]
#[argh(subcommand, name = "show", help_triggers("-h", "--help"))]
struct ShowArgs {
    /// read /etc (user and group names) under DIR instead of /
    #[argh(option)]
    root: Option<PathBuf>,
    /// paths to show
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

/// Add or change the ACL entry of USER on each PATH (like 'setfacl -m u:USER:PERMS', mask
/// recalculated). Never follows a symbolic link, in any component of PATH: name the real path.
/// Refuses an ACL with duplicate entries (as setfacl does). Needs ownership of the node or
/// CAP_FOWNER; as root every other capability is dropped first.
#[derive(FromArgs)]
#[argh(subcommand, name = "grant", help_triggers("-h", "--help"))]
struct GrantArgs {
    /// the user to grant access to
    #[argh(option)]
    user: String,
    /// r, rw or rwx (default rw)
    #[argh(option, default = "String::from(\"rw\")")]
    perms: String,
    /// print the resulting ACL, change nothing
    #[argh(switch)]
    dry_run: bool,
    /// read /etc (the user) under DIR instead of /
    #[argh(option)]
    root: Option<PathBuf>,
    /// nodes to change (relative ones from the working directory)
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

/// Remove the ACL entry of USER from each PATH (like 'setfacl -x u:USER', mask recalculated).
/// Never follows a symbolic link, in any component of PATH. Needs ownership of the node or
/// CAP_FOWNER.
#[derive(FromArgs)]
#[argh(subcommand, name = "revoke", help_triggers("-h", "--help"))]
struct RevokeArgs {
    /// the user whose entry to remove
    #[argh(option)]
    user: String,
    /// print the resulting ACL, change nothing
    #[argh(switch)]
    dry_run: bool,
    /// read /etc (the user) under DIR instead of /
    #[argh(option)]
    root: Option<PathBuf>,
    /// nodes to change (relative ones from the working directory)
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let args: Args = parse_args(name, args)?;
    match args.command {
        Command::Groups(a) => groups_main(&a),
        Command::Access(a) => access_main(name, &a),
        Command::Show(a) => show_main(&a),
        Command::Grant(a) => {
            let perm = acl::parse_perm(&a.perms)
                .filter(|_| matches!(a.perms.as_str(), "r" | "rw" | "rwx"))
                .ok_or_else(|| {
                    Error::usage(format!("--perms {}: expected r, rw or rwx", a.perms))
                })?;
            change_main(
                name,
                &a.user,
                &a.paths,
                a.root.as_deref(),
                a.dry_run,
                Some(perm),
            )
        }
        Command::Revoke(a) => {
            change_main(name, &a.user, &a.paths, a.root.as_deref(), a.dry_run, None)
        }
    }
}

/// The user named, or the invoking one (SUDO_USER when root runs under sudo).
fn user_of<'a>(acc: &'a Accounts, name: Option<&str>) -> Result<&'a User> {
    let euid = hwc_core::privilege::euid();
    let (spec, what) = match name {
        Some(n) => (n.to_string(), "user"),
        None => match std::env::var("SUDO_USER") {
            Ok(s) if euid == 0 && !s.is_empty() => (s, "SUDO_USER"),
            _ => (euid.to_string(), "invoking uid"),
        },
    };
    acc.find_user(&spec)
        .ok_or_else(|| Error::failed(format!("{what} '{spec}' is not in /etc/passwd")))
}

fn groups_main(a: &GroupsArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    let acc = Accounts::load(&root)?;
    let user = user_of(&acc, a.user.as_deref())?;
    let conf_path = root.path("/etc/hwc/perms.conf");
    let mut sets = groups::parse_conf(Path::new("defaults"), groups::DEFAULT_CONF)?;
    match safefs::read_file(&conf_path, safefs::MAX_CONFIG) {
        Ok(text) => {
            let text = String::from_utf8_lossy(&text);
            for set in groups::parse_conf(Path::new("/etc/hwc/perms.conf"), &text)? {
                match sets.iter_mut().find(|s| s.name == set.name) {
                    Some(s) => *s = set,
                    None => sets.push(set),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("reading /etc/hwc/perms.conf", &e)),
    }
    if let Some(want) = &a.want {
        let wanted: Vec<&str> = want
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(unknown) = wanted.iter().find(|w| !sets.iter().any(|s| s.name == **w)) {
            let known: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::usage(format!(
                "--want: no set '{unknown}' (known: {})",
                known.join(", ")
            )));
        }
        sets.retain(|s| wanted.contains(&s.name.as_str()));
    }
    let reports: Vec<groups::Report> = sets
        .iter()
        .map(|s| groups::compare(s, &acc, user))
        .collect();
    let mut lacking: Vec<String> = Vec::new();
    for r in &reports {
        for g in &r.lacks {
            if !lacking.contains(g) {
                lacking.push(g.clone());
            }
        }
    }
    let absent = reports.iter().any(|r| !r.absent.is_empty());
    let (nix, cmd) = groups::fixes(&user.name, &lacking);
    if a.json {
        let mut j = Json::new();
        j.begin_object()
            .key("user")
            .string(&user.name)
            .key("sets")
            .begin_array();
        for r in &reports {
            j.begin_object().key("name").string(&r.name);
            for (key, list) in [
                ("has", &r.has),
                ("lacks", &r.lacks),
                ("absent", &r.absent),
                ("absent_optional", &r.absent_optional),
            ] {
                j.key(key).begin_array();
                for g in list.iter() {
                    j.string(g);
                }
                j.end_array();
            }
            j.end_object();
        }
        j.end_array().key("missing").begin_array();
        for g in &lacking {
            j.string(g);
        }
        j.end_array();
        let fix = !lacking.is_empty();
        j.key("nixos").opt_string(fix.then_some(&nix));
        j.key("command").opt_string(fix.then_some(&cmd));
        j.end_object();
        output::emit(&j.finish())?;
    } else {
        let mut t = Table::new(["SET", "HAS", "LACKS", "NOT ON THIS SYSTEM"]);
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        for r in &reports {
            let mut absent = r.absent.clone();
            absent.extend(r.absent_optional.iter().map(|g| format!("{g}?")));
            t.row([r.name.clone(), list(&r.has), list(&r.lacks), list(&absent)]);
        }
        let mut text = format!("user: {}\n{}", user.name, t.render());
        if !lacking.is_empty() {
            text.push_str(&format!(
                "missing: {}\nNixOS (configuration.nix): {nix}\nelsewhere (as root; log in again after): {cmd}\n",
                lacking.join(", ")
            ));
        }
        output::emit(&text)?;
    }
    Ok(u8::from(!lacking.is_empty() || absent))
}

/// An ACL xattr value decoded; `None` when the file has none or its file system keeps none.
fn decode_acl(shown: &Path, value: std::io::Result<Option<Vec<u8>>>) -> Result<Option<Acl>> {
    match value {
        Ok(Some(bytes)) => Acl::decode(&bytes)
            .map(Some)
            .map_err(|why| Error::failed(format!("{}: {why}", shown.display()))),
        Ok(None) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(Error::io(shown.display(), &e)),
    }
}

/// The ACL `name` of the file at the real path `path` (no link on it).
fn read_acl_at(path: &Path, name: &CStr) -> std::io::Result<Option<Acl>> {
    let value = sys::fs::getxattr(&CString::new(path.as_os_str().as_bytes())?, name, false);
    decode_acl(path, value).map_err(|e| std::io::Error::other(e.message().to_string()))
}

/// A path as getfacl writes it: `\` doubled and control characters as `\ooo` (getfacl itself
/// leaves tabs and escape sequences raw), so a name can neither forge a line nor reach the
/// terminal.
fn name_text(path: &Path) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(path.as_os_str().as_bytes()).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn via_text(via: &Via, acc: &Accounts) -> String {
    let user = |uid: u32| {
        acc.user_by_uid(uid)
            .map_or(uid.to_string(), |u| u.name.clone())
    };
    let group = |gid: u32| {
        acc.group_by_gid(gid)
            .map_or(gid.to_string(), |g| g.name.clone())
    };
    match via {
        Via::Root => "root".into(),
        Via::Owner => "owner".into(),
        Via::NamedUser(u) => format!("user:{}", user(*u)),
        Via::OwningGroup(g) => format!("group:{} (owning group)", group(*g)),
        Via::NamedGroup(g) => format!("group:{}", group(*g)),
        Via::Other => "other".into(),
    }
}

/// Device nodes `--devices` looks at: (directory, name prefix).
const DEVICE_GLOBS: &[(&str, &str)] = &[
    ("/dev/dri", ""),
    ("/dev", "nvidia"),
    ("/dev", "kfd"),
    ("/dev/snd", ""),
    ("/dev/input", "event"),
    ("/dev", "video"),
    ("/dev", "kvm"),
    ("/dev", "ttyUSB"),
    ("/dev", "ttyACM"),
    ("/dev", "i2c-"),
    ("/dev", "gpiochip"),
    ("/dev", "hidraw"),
];

fn device_paths(root: &Root) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, prefix) in DEVICE_GLOBS {
        let Ok(entries) = std::fs::read_dir(root.path(dir)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().as_bytes().starts_with(prefix.as_bytes()))
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| Path::new(dir).join(e.file_name()))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

struct Verdict {
    path: String,
    read: bool,
    write: bool,
    execute: bool,
    via: String,
}

impl Verdict {
    fn denied(path: &Path, via: String) -> Verdict {
        Verdict {
            path: path.display().to_string(),
            read: false,
            write: false,
            execute: false,
            via,
        }
    }
}

/// Walks to `shown` as the kernel would for the user (search permission on every directory
/// entered, links followed where they are), then checks the node itself.
fn verdict<L: route::Lookup>(
    walk: &route::Walk<L>,
    display: &dyn Fn(&Path) -> PathBuf,
    acc: &Accounts,
    who: &Who,
    shown: &Path,
) -> Result<Verdict> {
    let fail =
        |e: std::io::Error| Error::failed(format!("{}: {}", shown.display(), describe_io(&e)));
    let real = match walk.walk(who, shown).map_err(fail)? {
        Route::Reached(real) => real,
        Route::Blocked { dir, via } => {
            let why = format!(
                "no search permission on {} ({})",
                display(&dir).display(),
                via_text(&via, acc)
            );
            return Ok(Verdict::denied(shown, why));
        }
        Route::LinkRefused { link, owner } => {
            let why = format!(
                "fs.protected_symlinks: {} belongs to uid {owner} in a sticky world-writable directory",
                display(&link).display()
            );
            return Ok(Verdict::denied(shown, why));
        }
    };
    let (node, _) = walk.lookup.node(&real).map_err(fail)?;
    let (read, via) = access::check(&node, who, acl::READ);
    let (write, wvia) = access::check(&node, who, acl::WRITE);
    let (execute, _) = access::check(&node, who, acl::EXECUTE);
    let via = if read || !write { via } else { wvia };
    Ok(Verdict {
        path: shown.display().to_string(),
        read,
        write,
        execute,
        via: via_text(&via, acc),
    })
}

fn access_main(name: &str, a: &AccessArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    let acc = Accounts::load(&root)?;
    let user = user_of(&acc, a.user.as_deref())?;
    let who = Who {
        uid: user.uid,
        groups: acc.group_ids(user),
    };
    let devices = if a.devices {
        device_paths(&root)
    } else {
        Vec::new()
    };
    if a.paths.is_empty() && devices.is_empty() {
        return Err(Error::usage("no PATH given (and no --devices)")
            .hint("usage: hwc-perms access [--user U] [--devices] PATH..."));
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("the working directory", &e))?;
    let real_root = std::fs::canonicalize(root.path("/"))
        .map_err(|e| Error::io(format!("--root {}", root.path("/").display()), &e))?;
    // Paths as given walk the real file system, under the running kernel's rules; the
    // --devices nodes are system paths, under --root (and its /proc).
    let typed = route::Walk {
        lookup: &route::Disk,
        root: Path::new("/"),
        cwd: &cwd,
        protected_symlinks: protected_symlinks(&Root::system()),
    };
    let system = route::Walk {
        root: &real_root,
        protected_symlinks: protected_symlinks(&root),
        ..typed
    };
    let as_is = |p: &Path| p.to_path_buf();
    let under_root = |p: &Path| Path::new("/").join(p.strip_prefix(&real_root).unwrap_or(p));
    let mut verdicts = Vec::new();
    let mut failed = false;
    let checks = a
        .paths
        .iter()
        .map(|p| (&typed, &as_is as &dyn Fn(&Path) -> PathBuf, p))
        .chain(
            devices
                .iter()
                .map(|p| (&system, &under_root as &dyn Fn(&Path) -> PathBuf, p)),
        );
    for (walk, display, p) in checks {
        match verdict(walk, display, &acc, &who, p) {
            Ok(v) => verdicts.push(v),
            Err(e) => {
                output::warn(name, &e.to_string());
                failed = true;
            }
        }
    }
    if a.json {
        let mut j = Json::new();
        j.begin_object()
            .key("user")
            .string(&user.name)
            .key("paths")
            .begin_array();
        for v in &verdicts {
            j.begin_object()
                .key("path")
                .string(&v.path)
                .key("read")
                .bool(v.read)
                .key("write")
                .bool(v.write);
            j.key("execute")
                .bool(v.execute)
                .key("via")
                .string(&v.via)
                .end_object();
        }
        j.end_array().end_object();
        output::emit(&j.finish())?;
    } else {
        let mut t = Table::new(["PATH", "READ", "WRITE", "EXEC", "VIA"]);
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        for v in &verdicts {
            t.row([
                v.path.clone(),
                yes(v.read),
                yes(v.write),
                yes(v.execute),
                v.via.clone(),
            ]);
        }
        output::emit(&format!("user: {}\n{}", user.name, t.render()))?;
    }
    let all_rw = verdicts.iter().all(|v| v.read && v.write);
    Ok(u8::from(failed || !all_rw))
}

/// `fs.protected_symlinks` of the running kernel (under `--root` for fixtures); on when unknown,
/// as systemd sets it.
fn protected_symlinks(root: &Root) -> bool {
    let mut buf = [0u8; 16];
    hwc_core::sysfs::read_attr(
        &root.stack_path(b"/proc/sys/fs/protected_symlinks"),
        &mut buf,
    )
    .is_none_or(|v| v != b"0")
}

fn show_main(a: &ShowArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    let acc = Accounts::load(&root)?;
    if a.paths.is_empty() {
        return Err(Error::usage("no PATH given"));
    }
    let user = |uid: u32| acc.user_by_uid(uid).map(|u| u.name.clone());
    let group = |gid: u32| acc.group_by_gid(gid).map(|g| g.name.clone());
    let mut text = String::new();
    let mut failed = false;
    for shown in &a.paths {
        // Followed like getfacl does, then read through the one descriptor.
        let node = match safefs::open_follow(shown) {
            Ok(n) => n,
            Err(e) => {
                output::warn(
                    "hwc-perms",
                    &format!("{}: {}", shown.display(), describe_io(&e)),
                );
                failed = true;
                continue;
            }
        };
        let st = node.stat;
        let access =
            decode_acl(shown, node.xattr(ACCESS_XATTR))?.unwrap_or_else(|| Acl::from_mode(st.mode));
        text.push_str(&format!("# file: {}\n", name_text(shown)));
        text.push_str(&format!(
            "# owner: {}\n",
            user(st.uid).unwrap_or_else(|| st.uid.to_string())
        ));
        text.push_str(&format!(
            "# group: {}\n",
            group(st.gid).unwrap_or_else(|| st.gid.to_string())
        ));
        let special = st.mode & 0o7000;
        if special != 0 {
            let flag = |bit: u32, c: char| if special & bit != 0 { c } else { '-' };
            text.push_str(&format!(
                "# flags: {}{}{}\n",
                flag(0o4000, 's'),
                flag(0o2000, 's'),
                flag(0o1000, 't')
            ));
        }
        text.push_str(&access.getfacl_text("", user, group));
        if st.is_dir() {
            if let Some(default) = decode_acl(shown, node.xattr(DEFAULT_XATTR))? {
                text.push_str(&default.getfacl_text("default:", user, group));
            }
        }
        text.push('\n');
    }
    output::emit(&text)?;
    Ok(u8::from(failed))
}

/// Drops every capability but CAP_FOWNER (set an ACL on a node one does not own),
/// CAP_DAC_READ_SEARCH (reach it) and CAP_FSETID (keep its setgid bit), for good.
fn keep_only_acl_capabilities() -> Result<()> {
    use caps::{CapSet, Capability};
    // CAP_FSETID too: without it the kernel clears a setgid bit when it rewrites the mode of a
    // node whose group the caller is not in (setfacl, as root, keeps it).
    let keep: caps::CapsHashSet = [
        Capability::CAP_FOWNER,
        Capability::CAP_DAC_READ_SEARCH,
        Capability::CAP_FSETID,
    ]
    .into_iter()
    .collect();
    let fail = |e: caps::errors::CapsError| Error::failed(format!("dropping capabilities: {e}"));
    caps::clear(None, CapSet::Inheritable).map_err(fail)?;
    caps::set(None, CapSet::Effective, &keep).map_err(fail)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(fail)?;
    let left = caps::read(None, CapSet::Permitted).map_err(fail)?;
    if !left.is_subset(&keep) {
        return Err(Error::failed(format!(
            "capabilities left after dropping: {left:?}"
        )));
    }
    Ok(())
}

/// grant (`perm` is Some) or revoke (None) the entry of `user` on each path.
fn change_main(
    name: &str,
    user: &str,
    paths: &[PathBuf],
    root: Option<&Path>,
    dry_run: bool,
    perm: Option<u16>,
) -> Result<u8> {
    let acc = Accounts::load(&Root::from_option(root))?;
    let target = acc
        .find_user(user)
        .ok_or_else(|| Error::failed(format!("user '{user}' is not in /etc/passwd")))?
        .clone();
    if paths.is_empty() {
        return Err(Error::usage("no PATH given"));
    }
    let me = hwc_core::privilege::euid();
    if me == 0 {
        keep_only_acl_capabilities()?;
    }
    let has_fowner =
        caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_FOWNER).unwrap_or(false);
    let names = |uid: u32| acc.user_by_uid(uid).map(|u| u.name.clone());
    let groups = |gid: u32| acc.group_by_gid(gid).map(|g| g.name.clone());
    let mut failed = false;
    let mut text = String::new();
    for shown in paths {
        let result = (|| -> Result<String> {
            // One walk that follows no link, then everything through the descriptor it gives:
            // what is checked is what is changed.
            let node = safefs::open_nofollow(shown).map_err(|e| Error::failed(e.describe()))?;
            let st = node.stat;
            if !st.is_dir() && st.nlink > 1 {
                return Err(Error::failed(format!(
                    "{}: has {} hard links; refusing (another name of it may be someone else's)",
                    shown.display(),
                    st.nlink
                )));
            }
            if st.uid != me && !has_fowner && !dry_run {
                return Err(Error::failed(format!(
                    "{}: changing its ACL needs ownership (owner is uid {}) or CAP_FOWNER, which this process lacks",
                    shown.display(),
                    st.uid
                ))
                .hint("run as root"));
            }
            let old = decode_acl(shown, node.xattr(ACCESS_XATTR))?;
            if let Some(dup) = old.as_ref().and_then(Acl::duplicate) {
                let kind = if dup.tag == acl::USER {
                    "user"
                } else {
                    "group"
                };
                return Err(Error::failed(format!(
                    "{}: its ACL holds duplicate entries ({kind} {} twice); refusing, as setfacl does",
                    shown.display(),
                    dup.id
                ))
                .hint("rewrite it whole, e.g. setfacl --set-file"));
            }
            let before = old
                .clone()
                .unwrap_or_else(|| Acl::from_mode(st.mode))
                .sorted();
            let mut acl = before.clone();
            let entry = format!("user:{}", target.name);
            let changed = match perm {
                Some(p) => {
                    acl.set_user(target.uid, p);
                    acl != before || old.is_none() && acl.has_named()
                }
                None => acl.remove_user(target.uid),
            };
            let what = match (perm, changed) {
                (_, false) => "unchanged".to_string(),
                (Some(p), true) => format!("{entry}:{} granted", acl::perm_text(p)),
                (None, true) => format!("{entry} revoked"),
            };
            if dry_run {
                return Ok(format!(
                    "{}: {what} (dry run); the ACL would be:\n{}",
                    name_text(shown),
                    acl.getfacl_text("", names, groups)
                ));
            }
            if changed {
                node.set_xattr(ACCESS_XATTR, &acl.encode()).map_err(|e| {
                    let mut err = Error::io(format!("setting the ACL of {}", shown.display()), &e);
                    if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                        err = err.hint("the file system does not support POSIX ACLs");
                    }
                    err
                })?;
            }
            Ok(format!("{}: {what}\n", name_text(shown)))
        })();
        match result {
            Ok(line) => text.push_str(&line),
            Err(e) => {
                output::warn(name, &e.to_string());
                failed = true;
            }
        }
    }
    output::emit(&text)?;
    Ok(u8::from(failed))
}

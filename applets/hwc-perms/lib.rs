//! `hwc-perms`: which groups a user has and lacks, whether a user may open a device node (as the
//! kernel would decide), and POSIX ACL entries for one user, granted and revoked like setfacl.

#![forbid(unsafe_code)]

mod access;
mod change;
mod groups;
mod show;
mod shown;
mod who;

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use hwc_access::acl;
use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};

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
/// sensors?; development = dialout kvm plugdev?; peripherals = lp? scanner?. Exit 0 when nothing
/// is missing.
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
        Command::Groups(a) => groups::run(&a),
        Command::Access(a) => access::run(name, &a),
        Command::Show(a) => show::run(&a),
        Command::Grant(a) => {
            let perm = acl::parse_perm(&a.perms)
                .filter(|_| matches!(a.perms.as_str(), "r" | "rw" | "rwx"))
                .ok_or_else(|| {
                    Error::usage(format!("--perms {}: expected r, rw or rwx", a.perms))
                })?;
            change::run(
                name,
                &a.user,
                &a.paths,
                a.root.as_deref(),
                a.dry_run,
                Some(perm),
            )
        }
        Command::Revoke(a) => {
            change::run(name, &a.user, &a.paths, a.root.as_deref(), a.dry_run, None)
        }
    }
}

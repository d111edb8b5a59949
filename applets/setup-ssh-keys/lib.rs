//! `setup-ssh-keys USER`: the user's authorized keys from a secret (agenix), with fallback keys
//! so the owner can still log in when the secret is missing.
//!
//! Sources are read as root; everything under the home directory is done as the user (a forked
//! child with the user's ids and no capabilities), walking from the home with `O_NOFOLLOW`, so a
//! hostile home cannot redirect a write. The file is replaced atomically or not at all.

#![forbid(unsafe_code)]

mod blob;
mod check;
mod ec;
mod install;
mod keys;
mod options;
mod place;
mod report;
mod sources;

use place::Place;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{Error, Result};
use hwc_core::output::{self, Format};
use hwc_core::privilege::{self, Ids};
use hwc_core::root::Root;
use hwc_core::users::{Accounts, User};
use keys::Key;
use sources::{Chosen, Sources};

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
    let user = target_user(&accounts, &args.user, &root)?;
    let ids = Ids {
        uid: user.uid,
        gid: user.gid,
        groups: accounts.group_ids(user),
    };
    let place = Place::new(&root, &user.home, user.uid);
    let format = Format::of(args.json);
    if args.check {
        return check::run(name, &root, &user.name, &ids, &place, limit, format);
    }
    let chosen = sources::choose(
        &root,
        &user.name,
        &Sources {
            secrets: &args.secret,
            fallbacks: &args.fallback,
            fallback_keys: &args.fallback_key,
        },
    );
    if format == Format::Text {
        for r in &chosen.rejected {
            output::warn(name, &format!("{}:{}: {}", r.source, r.line, r.reason));
        }
    }
    if chosen.keys.is_empty() {
        return Err(nothing_valid(
            &user.name,
            &chosen,
            root.display(&place.file),
        ));
    }
    let managed: Vec<String> = chosen.keys.iter().map(Key::line).collect();
    privilege::run_as(name, &ids, limit, || {
        let outcome = install::install(
            &place.home,
            &managed,
            install::Mode {
                dry_run: args.dry_run,
                exclusive: args.exclusive,
            },
        )?;
        let warnings = if outcome.written || (!args.dry_run && outcome.existed) {
            place.predict()
        } else {
            Vec::new()
        };
        if format == Format::Text {
            for w in &warnings {
                output::warn(name, &format!("warning: sshd would refuse the keys: {w}"));
            }
        }
        let report = report::Run {
            user: &user.name,
            file: root.display(&place.file),
            chosen: &chosen,
            outcome: &outcome,
            warnings: &warnings,
            dry_run: args.dry_run,
        };
        output::print(format, &report)?;
        Ok(0)
    })
}

/// The user named on the command line (a name or a uid), with an absolute home.
fn target_user<'a>(accounts: &'a Accounts, spec: &str, root: &Root) -> Result<&'a User> {
    let user = accounts.find_user(spec).ok_or_else(|| {
        Error::failed(format!(
            "no user '{spec}' in {}/etc/passwd",
            if root.is_system() { "" } else { "<root>" }
        ))
    })?;
    if !user.home.is_absolute() {
        return Err(Error::failed(format!(
            "{}: the home directory in /etc/passwd is '{}', not an absolute path; nothing written",
            user.name,
            user.home.display()
        )));
    }
    Ok(user)
}

/// No source gave a key: nothing is written, and the sources are named with what came of them.
fn nothing_valid(user: &str, chosen: &Chosen, file: &Path) -> Error {
    let seen: Vec<String> = chosen
        .sources
        .iter()
        .map(|s| format!("{} ({})", s.name, s.status))
        .collect();
    Error::failed(format!(
        "no valid key for {user} in any source: {}; {} left untouched",
        seen.join(", "),
        file.display()
    ))
}

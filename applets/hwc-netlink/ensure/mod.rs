//! The idempotent helpers for container networking: each looks, plans the changes that make the
//! system as asked (a pure function of what it found), acts (or with --dry-run prints), and
//! reports what it did. Running one again changes nothing and sends no change request.

mod bridge;
mod overlay;
mod veth;

pub(crate) use bridge::ensure_bridge;
pub(crate) use overlay::ensure_overlay;
pub(crate) use veth::ensure_veth;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use hwc_core::error::{Error, Result};
use hwc_core::safefs::{self, DirLock};

use crate::add::exists_or;
use crate::context::fail;
use crate::context::{find_link, Ctx};
use crate::model::Link;
use hwc_rtnl::codec::Request;

/// How long an ensure-* run waits for another's lock on the same link.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The lock an ensure-* run holds on the link `name` of this network namespace from its first
/// look to its last change: a second run waits, then finds what the first made, so neither
/// says it did what the other did. None in a dry run (it changes nothing), and where no lock can
/// be had (not root, no /run or /proc: see safefs::root_lock).
fn lock_link(ctx: &Ctx, command: &str, name: &str) -> Result<Option<DirLock>> {
    if ctx.dry_run {
        return Ok(None);
    }
    let ns = match std::fs::metadata("/proc/thread-self/ns/net") {
        Ok(ns) => ns,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("/proc/thread-self/ns/net", &e)),
    };
    let key = format!("netlink-{}-{}-{name}", ns.dev(), ns.ino());
    safefs::root_lock(&key, LOCK_WAIT).map_err(|e| {
        Error::io(
            format!("{command} {name}: another run's lock on {name}"),
            &e,
        )
    })
}

/// The link `name` if it exists and is of `kind`; None if there is none; an error naming what it
/// is otherwise, as an ensure-* command never changes a link of another kind.
fn existing(ctx: &mut Ctx, command: &str, name: &str, kind: &str) -> Result<Option<Link>> {
    let found = find_link(ctx, name)?;
    of_kind(command, name, kind, found)
}

/// `found` (the link `name` as looked up) if it is of `kind`; an error naming what it is
/// otherwise.
fn of_kind(command: &str, name: &str, kind: &str, found: Option<Link>) -> Result<Option<Link>> {
    match found {
        Some(l) if l.kind().as_deref() != Some(kind) => Err(Error::failed(format!(
            "{command} {name}: {name} exists and is a {}, not a {kind}; not touching it",
            l.kind().as_deref().unwrap_or("plain device")
        ))),
        found => Ok(found),
    }
}

/// What creating a link takes: the request, and a file that must stay open until it is sent (a
/// network namespace named by path).
struct Create {
    request: Request,
    keep_open: Option<File>,
    /// The MTU it is created with (the dry run's stand-in carries it).
    mtu: Option<u32>,
    /// What the words "create KIND NAME" and "created" are followed by (" with peer P").
    with: String,
}

/// How the link asked for came to be there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// As the first look found it.
    Found,
    /// Created now ("created" is said).
    Created,
    /// Made by another creator between our look and our create (a second run, podman making
    /// the same bridge), and taken as it is: what the caller checks of a link found, it checks
    /// of this one too.
    MadeMeanwhile,
}

/// The link `name` of `kind`: `found` (the caller's look, of that kind), or created by `create`.
fn found_or_created(
    ctx: &mut Ctx,
    found: Option<Link>,
    command: &str,
    name: &str,
    kind: &str,
    said: &mut Vec<String>,
    create: impl FnOnce(&mut Ctx) -> Result<Create>,
) -> Result<(Link, How)> {
    if let Some(link) = found {
        return Ok((link, How::Found));
    }
    let c = create(ctx)?;
    let what = format!("{command} {name}: create {kind} {name}{}", c.with);
    match ctx.change(&c.request, &what) {
        Ok(()) => {}
        Err(e) if e.errno == libc::EEXIST => {
            // If there is none, the kernel meant something else that exists (a VXLAN link of
            // another name with the same VNI and port): its words say what.
            let link = existing(ctx, command, name, kind)?.ok_or_else(|| fail(&what, e))?;
            return Ok((link, How::MadeMeanwhile));
        }
        Err(e) => return Err(exists_or(e, &what, name, kind)),
    }
    drop(c.keep_open);
    said.push(format!("created{}", c.with));
    Ok((ctx.created(name, c.mtu)?, How::Created))
}

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

use hwc_core::error::{Error, Result};

use crate::context::{find_link, Ctx};
use crate::model::Link;
use crate::plan::{act, went_again, IfThere, Step};
use hwc_rtnl::codec::Request;

/// The link `name` if it exists and is of `kind`; None if there is none; an error naming what it
/// is otherwise, as an ensure-* command never changes a link of another kind.
fn existing(ctx: &mut Ctx, command: &str, name: &str, kind: &str) -> Result<Option<Link>> {
    match find_link(ctx, name)? {
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
}

/// The link `name` of `kind` as found; or created by `create` (then "created" is said, with
/// `created_said` after it); or as another creator made it between our look and our create.
fn found_or_created(
    ctx: &mut Ctx,
    command: &str,
    name: &str,
    kind: &str,
    created_said: &str,
    said: &mut Vec<String>,
    create: impl FnOnce(&mut Ctx) -> Result<Create>,
) -> Result<Link> {
    if let Some(link) = existing(ctx, command, name, kind)? {
        return Ok(link);
    }
    let c = create(ctx)?;
    let what = format!("{command} {name}: create {kind} {name}{created_said}");
    let step = Step::new(c.request, &what, format!("created{created_said}")).unless_there(
        IfThere::Created {
            name: name.into(),
            kind: kind.into(),
        },
    );
    let done = act(ctx, vec![step])?;
    drop(c.keep_open);
    if done.is_empty() {
        return existing(ctx, command, name, kind)?.ok_or_else(|| went_again(&what, name));
    }
    said.extend(done);
    ctx.created(name, c.mtu)
}

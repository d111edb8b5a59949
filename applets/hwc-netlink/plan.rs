//! The ensure-* commands decide first and act after: a plan is a list of steps, each a request
//! with the words that name it (in a dry run, and in an error) and the words the report says
//! once it is done. Deciding reads the system; acting sends, or with --dry-run prints; the report
//! is rendered from what was done.

use hwc_core::error::Result;
use hwc_core::output;

use crate::context::{fail, Ctx};
use hwc_rtnl::codec::Request;

/// What the kernel's EEXIST means for a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfThere {
    /// An error, as for any change.
    Fails,
    /// Someone else did it first (a second run, podman making the same bridge): the kernel's
    /// "exists" to an add, or "no such entry" to a delete, takes the step as not done.
    NotDone,
}

pub struct Step {
    pub request: Request,
    /// The command it amounts to (`addr add 10.0.0.1/24 dev br0`): what a dry run prints.
    pub what: String,
    /// What the report says of it once done (`address 10.0.0.1/24`).
    pub said: String,
    pub if_there: IfThere,
}

impl Step {
    pub fn new(request: Request, what: impl Into<String>, said: impl Into<String>) -> Step {
        Step {
            request,
            what: what.into(),
            said: said.into(),
            if_there: IfThere::Fails,
        }
    }

    pub fn unless_there(mut self, if_there: IfThere) -> Step {
        self.if_there = if_there;
        self
    }
}

/// Sends each step in order (with --dry-run, prints it instead) and returns what the report
/// says of the steps done.
pub fn act(ctx: &mut Ctx, steps: Vec<Step>) -> Result<Vec<String>> {
    let mut done = Vec::with_capacity(steps.len());
    for step in steps {
        match ctx.change(&step.request, &step.what) {
            Ok(()) => done.push(step.said),
            Err(e) => match (step.if_there, e.errno) {
                (IfThere::NotDone, libc::EEXIST | libc::ENOENT) => {}
                _ => return Err(fail(&step.what, e)),
            },
        }
    }
    Ok(done)
}

/// The report of an ensure-* command: what it did to `name`, or that it found it as wanted.
pub fn report(name: &str, done: &[String]) -> Result<u8> {
    let text = if done.is_empty() {
        format!("{name}: already as wanted\n")
    } else {
        format!("{name}: {}\n", done.join(", "))
    };
    output::emit(&text)?;
    Ok(0)
}

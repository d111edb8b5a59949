//! The ensure-* commands decide first and act after: a plan is a list of steps, each a request
//! with the words that name it (in a dry run, and in an error) and the words the report says
//! once it is done. Deciding reads the system; acting sends, or with --dry-run prints; the report
//! is rendered from what was done.

use hwc_core::error::Result;
use hwc_core::output;

use crate::context::{fail, Ctx};
use hwc_rtnl::codec::Request;

pub struct Step {
    pub request: Request,
    /// The command it amounts to (`addr add 10.0.0.1/24 dev br0`): what a dry run prints.
    pub what: String,
    /// What the report says of it once done (`address 10.0.0.1/24`).
    pub said: String,
    /// Whether someone else may have done it first (a second run, podman making the same
    /// bridge): then the kernel's "exists" to an add, or "no such entry" to a delete, takes the
    /// step as not done rather than as an error.
    pub may_be_done: bool,
}

impl Step {
    pub fn new(request: Request, what: impl Into<String>, said: impl Into<String>) -> Step {
        Step {
            request,
            what: what.into(),
            said: said.into(),
            may_be_done: false,
        }
    }

    /// The step, taken as not done where the kernel finds it done already (see `may_be_done`).
    pub fn unless_there(mut self) -> Step {
        self.may_be_done = true;
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
            Err(e) if step.may_be_done && matches!(e.errno, libc::EEXIST | libc::ENOENT) => {}
            Err(e) => return Err(fail(&step.what, e)),
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

//! Who hwc acts as: the effective user, dropping for good to another user (groups, gid, uid,
//! verified, no capability left), keeping only named capabilities, and running work as another
//! user in a child with a deadline. Apart from the file-system rules in [`crate::safefs`], which
//! say how to reach a file once it is clear who reaches it.

use std::collections::HashSet;
use std::time::Duration;

use nix::unistd::{Gid, Uid};

use crate::error::{Error, Result};
use crate::output;
use hwc_sys::process::{run_in_child, Ended};

/// The ids a process acts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// The effective uid.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The ids this process acts with now (effective uid and gid, supplementary groups), as the
/// kernel judges its file access: what the caller is, with or without `/etc/passwd`.
pub fn own_ids() -> Ids {
    Ids {
        uid: euid(),
        gid: nix::unistd::getegid().as_raw(),
        groups: nix::unistd::getgroups()
            .map(|g| g.iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default(),
    }
}

/// Becomes `ids` for good: supplementary groups, then gid, then uid (real, effective, saved), and
/// verifies it took, with no capability left. Fails closed.
pub fn become_user(ids: &Ids) -> Result<()> {
    let fail = |what: &str, e: nix::errno::Errno| {
        Error::io(
            format!("dropping privileges to uid {}: {what}", ids.uid),
            &e.into(),
        )
    };
    let groups: Vec<Gid> = ids.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| fail("setgroups", e))?;
    let gid = Gid::from_raw(ids.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| fail("setresgid", e))?;
    let uid = Uid::from_raw(ids.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| fail("setresuid", e))?;
    let (u, g) = (nix::unistd::getresuid(), nix::unistd::getresgid());
    let took = matches!((u, g), (Ok(u), Ok(g))
        if [u.real, u.effective, u.saved] == [uid; 3] && [g.real, g.effective, g.saved] == [gid; 3]);
    if !took {
        return Err(Error::failed(format!(
            "dropping privileges to uid {}: ids did not change",
            ids.uid
        )));
    }
    for set in [caps::CapSet::Effective, caps::CapSet::Permitted] {
        let held = caps::read(None, set)
            .map_err(|e| Error::failed(format!("reading capabilities: {e}")))?;
        if !held.is_empty() && ids.uid != 0 {
            return Err(Error::failed(format!(
                "capabilities left after dropping to uid {}: {held:?}",
                ids.uid
            )));
        }
    }
    Ok(())
}

/// Keeps `keep` and drops every other capability (effective, permitted, inheritable), for good,
/// and checks that nothing else is left.
pub fn keep_only(keep: &[caps::Capability]) -> Result<()> {
    use caps::CapSet;
    let keep: caps::CapsHashSet = keep.iter().copied().collect::<HashSet<_>>();
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

/// Whether this process holds `cap` in its effective set.
pub fn has(cap: caps::Capability) -> bool {
    caps::has_cap(None, caps::CapSet::Effective, cap).unwrap_or(false)
}

/// `30 s`, `1.5 s` (tenths, written without float formatting).
pub fn duration_text(d: Duration) -> String {
    let tenths = d.subsec_millis() / 100;
    if tenths == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{}.{tenths} s", d.as_secs())
    }
}

/// Runs `work` as the user `ids`. As root for another user: in a forked child that drops to the
/// user first; `work` prints its own output and the child's status is returned. The user can stop
/// that child (it is theirs) or block it on a file system they mounted, so the wait has a
/// deadline: past `limit` the child is killed and the run fails. As the user already: directly.
/// Otherwise: an error (only root may act for another user).
pub fn run_as(
    applet: &str,
    ids: &Ids,
    limit: Duration,
    work: impl FnOnce() -> Result<u8>,
) -> Result<u8> {
    let me = euid();
    if me == ids.uid {
        return work();
    }
    if me != 0 {
        return Err(Error::failed(format!(
            "acting for uid {} needs root (running as uid {me})",
            ids.uid
        ))
        .hint("run as root"));
    }
    let outcome = run_in_child(limit, 0, |_| match become_user(ids).and_then(|()| work()) {
        Ok(status) => status,
        Err(err) => {
            if !err.is_quiet() {
                output::warn(applet, &err.to_string());
            }
            err.status()
        }
    });
    let worker = format!("the worker acting as uid {}", ids.uid);
    match outcome {
        Ok(o) => match o.ended {
            Ended::Exited(status) => Ok(status),
            Ended::Signaled(signal) => {
                Err(Error::failed(format!("{worker} was killed by {signal}")))
            }
            Ended::TimedOut => Err(Error::failed(format!(
                "{worker} did not finish within {}; killed it",
                duration_text(limit)
            ))
            .hint("a process of the user stopped, or a file system under the home hanging?")),
        },
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(Error::io(
            format!(
                "{worker} did not finish within {}; killing it",
                duration_text(limit)
            ),
            &e,
        )
        .hint("needs CAP_KILL")),
        Err(e) => Err(Error::io(format!("running {worker}"), &e)),
    }
}

/// Runs `work` as the user `ids` and returns what it wrote (at most `max_output` bytes): in this
/// process when it already is that user, else (as root) in a child that drops to the user for
/// good, within `limit`. A child that fails, dies or overruns is an error naming it.
pub fn output_as(
    ids: &Ids,
    limit: Duration,
    max_output: usize,
    work: impl FnOnce(&mut dyn std::io::Write) -> Result<()>,
) -> Result<Vec<u8>> {
    let me = euid();
    if me == ids.uid {
        let mut out = Vec::new();
        work(&mut out)?;
        return Ok(out);
    }
    if me != 0 {
        return Err(Error::failed(format!(
            "acting for uid {} needs root (running as uid {me})",
            ids.uid
        ))
        .hint("run as root, or as that user"));
    }
    let worker = format!("the worker acting as uid {}", ids.uid);
    let outcome = run_in_child(limit, max_output, |mut pipe| {
        match become_user(ids).and_then(|()| work(&mut pipe)) {
            Ok(()) => 0,
            Err(err) => {
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("{err}\n").as_bytes(),
                );
                1
            }
        }
    })
    .map_err(|e| Error::io(format!("running {worker}"), &e))?;
    if let Some(why) = &outcome.read_error {
        return Err(Error::failed(format!(
            "reading what {worker} wrote: {why}; its report is incomplete"
        )));
    }
    match outcome.ended {
        Ended::Exited(0) if outcome.cut => Err(Error::failed(format!(
            "{worker} wrote more than {max_output} bytes; the rest was not read"
        ))),
        Ended::Exited(0) => Ok(outcome.output),
        Ended::Exited(status) => Err(Error::failed(format!("{worker} failed (status {status})"))),
        Ended::Signaled(signal) => Err(Error::failed(format!("{worker} was killed by {signal}"))),
        Ended::TimedOut => Err(Error::failed(format!(
            "{worker} did not finish within {}; killed it",
            duration_text(limit)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_as_self_runs_directly() {
        let ids = Ids {
            uid: euid(),
            gid: 0,
            groups: vec![],
        };
        assert_eq!(
            run_as("t", &ids, Duration::from_secs(1), || Ok(7)).unwrap(),
            7
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration_text(Duration::from_secs(30)), "30 s");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1.5 s");
    }
}

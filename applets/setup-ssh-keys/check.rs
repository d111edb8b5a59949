//! `--check`: only the prediction of sshd's StrictModes verdict (as the user), and where sshd
//! says it reads keys for the user.

use std::path::Path;
use std::time::Duration;

use hwc_core::error::Result;
use hwc_core::output::{self, Format, Json};
use hwc_core::privilege::{self, Ids};
use hwc_core::root::Root;

use crate::place::Place;

pub fn run(
    name: &str,
    root: &Root,
    user: &str,
    ids: &Ids,
    place: &Place,
    limit: Duration,
    format: Format,
) -> Result<u8> {
    let sshd = sshd_key_files(root, user);
    privilege::run_as(name, ids, limit, || {
        let problems = place.predict();
        let report = Check {
            file: root.display(&place.file),
            problems: &problems,
            sshd: sshd.as_deref(),
        };
        output::print(format, &report)?;
        Ok(u8::from(!problems.is_empty()))
    })
}

/// Where sshd reads keys for the user (running system only): `sshd -G -C user=USER` (OpenSSH
/// 9.8 on, which needs no host key), else `sshd -T` (Debian 12's 9.2 has no -G). A run that
/// fails says nothing.
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
    let user_arg = format!("user={user}");
    ["-G", "-T"].into_iter().find_map(|mode| {
        let args = [mode.as_ref(), "-C".as_ref(), user_arg.as_ref()];
        let out = hwc_core::command::output_within(Path::new(sshd), &args, Duration::from_secs(10))
            .ok()??;
        if !out.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("authorizedkeysfile "))
            .map(str::to_string)
    })
}

/// The verdict of `--check`.
struct Check<'a> {
    file: &'a Path,
    problems: &'a [String],
    sshd: Option<&'a str>,
}

impl output::Report for Check<'_> {
    fn text(&self) -> String {
        let mut text = String::new();
        if let Some(files) = self.sshd {
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
        if self.problems.is_empty() {
            text.push_str(&format!(
                "{}: sshd would accept it (StrictModes)\n",
                self.file.display()
            ));
        }
        for p in self.problems {
            text.push_str(&format!("refused: {p}\n"));
        }
        text
    }

    fn json(&self, j: &mut Json) {
        j.begin_object();
        j.key("file").string(self.file.display().to_string());
        j.key("accepted").bool(self.problems.is_empty());
        j.key("problems").begin_array();
        for p in self.problems {
            j.string(p);
        }
        j.end_array();
        j.key("sshd_authorized_keys_file").opt_string(self.sshd);
        j.end_object();
    }
}

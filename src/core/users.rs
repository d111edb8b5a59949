//! Users and groups read from `/etc/passwd` and `/etc/group` under `--root`. The binary is static,
//! so NSS (`getpwnam`, `getgrouplist`) is never called: it would load glibc's shared NSS modules
//! into a static process. Malformed lines are skipped and counted, never fatal.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::root::Root;
use crate::safefs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: OsString,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The account database of one root.
#[derive(Debug, Default, Clone)]
pub struct Accounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// Lines of either file that were not valid entries (comments and NIS `+`/`-` lines count).
    pub skipped: usize,
    /// `/etc/passwd` was not there ([`Accounts::load_if_any`] only).
    pub passwd_missing: bool,
}

impl Accounts {
    /// Reads `/etc/passwd` and `/etc/group` under `root`. A missing `/etc/group` is an empty group
    /// list (some initrds have none); a missing `/etc/passwd` is an error.
    pub fn load(root: &Root) -> Result<Accounts> {
        let passwd_path = root.path("/etc/passwd");
        let passwd = safefs::read_file(&passwd_path, safefs::MAX_CONFIG)
            .context(|| format!("reading {}", passwd_path.display()))?;
        Accounts::with_passwd(root, &passwd)
    }

    /// Like [`Accounts::load`], for what needs no name (a uid, the caller's own ids): a missing
    /// `/etc/passwd`, as in a rescue shell, is no user at all, with `passwd_missing` set.
    pub fn load_if_any(root: &Root) -> Result<Accounts> {
        let passwd_path = root.path("/etc/passwd");
        match safefs::read_file_if_exists(&passwd_path, safefs::MAX_CONFIG)
            .context(|| format!("reading {}", passwd_path.display()))?
        {
            Some(passwd) => Accounts::with_passwd(root, &passwd),
            None => Ok(Accounts {
                passwd_missing: true,
                ..Accounts::with_passwd(root, b"")?
            }),
        }
    }

    fn with_passwd(root: &Root, passwd: &[u8]) -> Result<Accounts> {
        let group_path = root.path("/etc/group");
        let group = safefs::read_file_if_exists(&group_path, safefs::MAX_CONFIG)
            .context(|| format!("reading {}", group_path.display()))?
            .unwrap_or_default();
        Ok(Accounts::parse(passwd, &group))
    }

    pub fn parse(passwd: &[u8], group: &[u8]) -> Accounts {
        let mut acc = Accounts::default();
        for line in lines(passwd) {
            match parse_user(line) {
                Some(u) => acc.users.push(u),
                None => acc.skipped += 1,
            }
        }
        for line in lines(group) {
            match parse_group(line) {
                Some(g) => acc.groups.push(g),
                None => acc.skipped += 1,
            }
        }
        acc
    }

    /// The first entry wins, as with glibc's files backend.
    pub fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<&User> {
        self.users.iter().find(|u| u.uid == uid)
    }

    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<&Group> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// A user given by name or by numeric uid (`eric`, `1000`), as `id` accepts.
    pub fn find_user(&self, spec: &str) -> Option<&User> {
        self.user_by_name(spec).or_else(|| {
            spec.parse::<u32>()
                .ok()
                .and_then(|uid| self.user_by_uid(uid))
        })
    }

    /// The user's group ids as the kernel gets them at login (`initgroups`): the primary group
    /// first, then every group that lists the user as a member, without repeats.
    pub fn group_ids(&self, user: &User) -> Vec<u32> {
        let mut ids = vec![user.gid];
        for g in &self.groups {
            if g.members.contains(&user.name) && !ids.contains(&g.gid) {
                ids.push(g.gid);
            }
        }
        ids
    }
}

/// Non-empty lines; `\r` of CRLF files is left in the last field and makes numbers fail to parse,
/// which is the right outcome for a file the system itself would misread.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Exactly `N` colon-separated fields, or `None`.
fn fields<const N: usize>(line: &[u8]) -> Option<[&[u8]; N]> {
    let mut out = [&line[..0]; N];
    let mut rest = line;
    for (i, slot) in out.iter_mut().enumerate() {
        if i + 1 == N {
            if memchr::memchr(b':', rest).is_some() {
                return None;
            }
            *slot = rest;
        } else {
            let at = memchr::memchr(b':', rest)?;
            *slot = &rest[..at];
            rest = &rest[at + 1..];
        }
    }
    Some(out)
}

/// A user or group name: non-empty UTF-8 without whitespace, not a comment or NIS marker.
fn name(field: &[u8]) -> Option<String> {
    let first = *field.first()?;
    if matches!(first, b'#' | b'+' | b'-')
        || field
            .iter()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return None;
    }
    String::from_utf8(field.to_vec()).ok()
}

/// A decimal id; `u32::MAX` is `(uid_t)-1`, which means "no id" to the kernel.
fn id(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 10 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(field).ok()?.parse().ok()?;
    u32::try_from(v).ok().filter(|&v| v != u32::MAX)
}

fn parse_user(line: &[u8]) -> Option<User> {
    let [n, _pw, uid, gid, _gecos, home, shell] = fields::<7>(line)?;
    Some(User {
        name: name(n)?,
        uid: id(uid)?,
        gid: id(gid)?,
        home: Path::new(OsStr::from_bytes(home)).to_path_buf(),
        shell: OsStr::from_bytes(shell).to_os_string(),
    })
}

fn parse_group(line: &[u8]) -> Option<Group> {
    let [n, _pw, gid, members] = fields::<4>(line)?;
    let members = members
        .split(|&b| b == b',')
        .filter(|m| !m.is_empty())
        .map(name)
        .collect::<Option<Vec<_>>>()?;
    Some(Group {
        name: name(n)?,
        gid: id(gid)?,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
eric:x:1000:100:Eric,,,:/home/eric:/run/current-system/sw/bin/zsh\n\
# a comment\n\
broken:x:abc:100::/home/b:/bin/sh\n\
short:x:1\n\
+nisuser::::::\n\
toolong:x:1:1:g:/h:/s:extra\n\
\n\
eric:x:2000:100::/elsewhere:/bin/sh\n";

    const GROUP: &[u8] = b"root:x:0:\n\
users:x:100:\n\
video:x:26:eric,alice\n\
render:x:303:eric\n\
wheel:x:1:eric,eric\n\
bad group:x:5:\n\
nogid:x::eric\n";

    #[test]
    fn parses_users_and_skips_malformed_lines() {
        let acc = Accounts::parse(PASSWD, GROUP);
        assert_eq!(acc.users.len(), 3);
        let eric = acc.user_by_name("eric").unwrap();
        assert_eq!(eric.uid, 1000, "first entry wins");
        assert_eq!(eric.home, Path::new("/home/eric"));
        assert_eq!(eric.shell, OsStr::new("/run/current-system/sw/bin/zsh"));
        assert_eq!(acc.user_by_uid(0).unwrap().name, "root");
        // comment, broken uid, short, NIS, too many fields; then 2 bad group lines
        assert_eq!(acc.skipped, 7);
    }

    #[test]
    fn groups_by_name_and_gid() {
        let acc = Accounts::parse(PASSWD, GROUP);
        assert_eq!(
            acc.group_by_name("video").unwrap().members,
            ["eric", "alice"]
        );
        assert_eq!(acc.group_by_gid(303).unwrap().name, "render");
        assert!(acc.group_by_name("bad group").is_none());
    }

    #[test]
    fn supplementary_groups_primary_first_no_repeats() {
        let acc = Accounts::parse(PASSWD, GROUP);
        let eric = acc.user_by_name("eric").unwrap();
        assert_eq!(acc.group_ids(eric), vec![100, 26, 303, 1]);
        let root = acc.user_by_name("root").unwrap();
        assert_eq!(acc.group_ids(root), vec![0]);
    }

    #[test]
    fn find_user_by_name_or_uid() {
        let acc = Accounts::parse(PASSWD, GROUP);
        assert_eq!(acc.find_user("1000").unwrap().name, "eric");
        assert_eq!(acc.find_user("root").unwrap().uid, 0);
        assert!(acc.find_user("nobody").is_none());
    }

    #[test]
    fn ids_reject_overflow_and_minus_one() {
        assert_eq!(id(b"4294967294"), Some(4294967294));
        assert_eq!(id(b"4294967295"), None);
        assert_eq!(id(b"99999999999"), None);
        assert_eq!(id(b"+1"), None);
    }

    #[test]
    fn load_reads_the_files_under_root_not_the_host() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "hwc-fixture-user:x:4242:4243::/fixture/home:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "hwc-fixture-group:x:4243:\n").unwrap();
        let acc = Accounts::load(&Root::new(dir.path())).unwrap();
        let u = acc.user_by_name("hwc-fixture-user").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 4243));
        assert_eq!(acc.group_by_gid(4243).unwrap().name, "hwc-fixture-group");
        assert!(
            acc.user_by_name("root").is_none(),
            "host accounts must not leak in"
        );
        assert_eq!(acc.users.len(), 1);
    }

    #[test]
    fn load_missing_passwd_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Accounts::load(&Root::new(dir.path())).unwrap_err();
        assert!(
            err.to_string().contains("/etc/passwd: No such file"),
            "{err}"
        );
    }

    #[test]
    fn random_input_never_panics() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let alphabet = b"ab:0123,\n#+-\r\xff x";
        for _ in 0..2000 {
            let len = (seed % 200) as usize;
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let acc = Accounts::parse(&data, &data);
            let valid = acc.users.len() + acc.groups.len() + acc.skipped;
            assert_eq!(valid, 2 * lines(&data).count());
        }
    }
}

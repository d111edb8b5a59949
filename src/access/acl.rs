//! POSIX ACLs as the kernel stores them in `system.posix_acl_access`: a little-endian version 2
//! header, then 8-byte entries `{tag u16, perm u16, id u32}`. Entries are kept in the order
//! stored, which is the order the kernel evaluates them in: it checks that tags come as user::,
//! user:*, group::, group:*, mask::, other::, but not that ids are sorted or unique, so an ACL
//! may hold the same user twice (the first decides). getfacl prints the entries sorted by tag and
//! id; setfacl refuses to change an ACL with duplicates and writes its result sorted. The mask is
//! recalculated as setfacl does: the union of named users, the owning group and named groups.

pub const USER_OBJ: u16 = 0x01;
pub const USER: u16 = 0x02;
pub const GROUP_OBJ: u16 = 0x04;
pub const GROUP: u16 = 0x08;
pub const MASK: u16 = 0x10;
pub const OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = u32::MAX;
const VERSION: u32 = 2;

pub const READ: u16 = 4;
pub const WRITE: u16 = 2;
pub const EXECUTE: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub tag: u16,
    pub id: u32,
    pub perm: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    entries: Vec<Entry>,
}

/// `rwx`, `r--`, ...
pub fn perm_text(perm: u16) -> String {
    [(READ, 'r'), (WRITE, 'w'), (EXECUTE, 'x')]
        .iter()
        .map(|&(bit, c)| if perm & bit != 0 { c } else { '-' })
        .collect()
}

/// `r`, `rw`, `rwx` (also `x`, `wx`, ...) as permission bits.
pub fn parse_perm(text: &str) -> Option<u16> {
    let mut perm = 0;
    for c in text.chars() {
        let bit = match c {
            'r' => READ,
            'w' => WRITE,
            'x' => EXECUTE,
            '-' => 0,
            _ => return None,
        };
        perm |= bit;
    }
    (!text.is_empty()).then_some(perm)
}

impl Acl {
    /// The minimal ACL a mode stands for.
    pub fn from_mode(mode: u32) -> Acl {
        let bits = |shift: u32| ((mode >> shift) & 7) as u16;
        Acl {
            entries: vec![
                Entry {
                    tag: USER_OBJ,
                    id: UNDEFINED_ID,
                    perm: bits(6),
                },
                Entry {
                    tag: GROUP_OBJ,
                    id: UNDEFINED_ID,
                    perm: bits(3),
                },
                Entry {
                    tag: OTHER,
                    id: UNDEFINED_ID,
                    perm: bits(0),
                },
            ],
        }
    }

    /// Decodes an xattr value, checking what the kernel checks (`posix_acl_valid`): version 2,
    /// whole entries, rwx bits only, and the tags in the kernel's order with one of each base
    /// entry and a mask where named entries exist. The entries keep their stored order.
    pub fn decode(bytes: &[u8]) -> Result<Acl, String> {
        if bytes.len() < 4 || !(bytes.len() - 4).is_multiple_of(8) {
            return Err(format!("ACL of {} bytes is not 4 + 8*N", bytes.len()));
        }
        let version = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if version != VERSION {
            return Err(format!("ACL version {version}, expected 2"));
        }
        let mut entries = Vec::with_capacity((bytes.len() - 4) / 8);
        for e in bytes[4..].chunks_exact(8) {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let perm = u16::from_le_bytes([e[2], e[3]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            if !matches!(tag, USER_OBJ | USER | GROUP_OBJ | GROUP | MASK | OTHER) {
                return Err(format!("unknown ACL tag {tag:#x}"));
            }
            if perm & !7 != 0 {
                return Err(format!("ACL permission bits {perm:#x} beyond rwx"));
            }
            let id = if matches!(tag, USER | GROUP) {
                id
            } else {
                UNDEFINED_ID
            };
            entries.push(Entry { tag, id, perm });
        }
        let acl = Acl { entries };
        acl.validate()?;
        Ok(acl)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.entries.len());
        out.extend_from_slice(&VERSION.to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.tag.to_le_bytes());
            out.extend_from_slice(&e.perm.to_le_bytes());
            out.extend_from_slice(&e.id.to_le_bytes());
        }
        out
    }

    /// Sorted by (tag, id), entries of equal key kept in their order (as getfacl shows them).
    fn normalize(&mut self) {
        self.entries.sort_by_key(|e| (e.tag, e.id));
    }

    /// The kernel's state machine over the tags (`posix_acl_valid`).
    fn validate(&self) -> Result<(), String> {
        for base in [USER_OBJ, GROUP_OBJ, OTHER] {
            if !self.entries.iter().any(|e| e.tag == base) {
                return Err("ACL lacks a base entry (user::, group:: or other::)".into());
            }
        }
        // What may come next: after user:: users, after group:: groups, after mask:: other::.
        let (mut state, mut needs_mask) = (USER_OBJ, false);
        for e in &self.entries {
            state = match (e.tag, state) {
                (USER_OBJ, USER_OBJ) => USER,
                (USER, USER) | (GROUP, GROUP) => {
                    needs_mask = true;
                    state
                }
                (GROUP_OBJ, USER) => GROUP,
                (MASK, GROUP) => OTHER,
                (OTHER, OTHER) => 0,
                (OTHER, GROUP) if !needs_mask => 0,
                (OTHER, GROUP) => return Err("ACL has named entries but no mask".into()),
                _ => {
                    return Err(
                        "ACL entries are not in the kernel's order (user::, user:*, \
                                group::, group:*, mask::, other::)"
                            .into(),
                    )
                }
            };
        }
        Ok(())
    }

    /// The entries in getfacl's (and setfacl's) order.
    pub fn sorted(&self) -> Acl {
        let mut acl = self.clone();
        acl.normalize();
        acl
    }

    /// The first entry that repeats the tag and id of an earlier one (setfacl refuses such an
    /// ACL: "Duplicate entries").
    pub fn duplicate(&self) -> Option<&Entry> {
        self.entries.iter().enumerate().find_map(|(i, e)| {
            self.entries[..i]
                .iter()
                .any(|d| (d.tag, d.id) == (e.tag, e.id))
                .then_some(e)
        })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn mask(&self) -> Option<u16> {
        self.entries.iter().find(|e| e.tag == MASK).map(|e| e.perm)
    }

    pub fn has_named(&self) -> bool {
        self.entries.iter().any(|e| matches!(e.tag, USER | GROUP))
    }

    /// Adds or changes `user:uid:perm` and recalculates the mask (`setfacl -m u:UID:PERM`).
    pub fn set_user(&mut self, uid: u32, perm: u16) {
        match self
            .entries
            .iter_mut()
            .find(|e| e.tag == USER && e.id == uid)
        {
            Some(e) => e.perm = perm,
            None => self.entries.push(Entry {
                tag: USER,
                id: uid,
                perm,
            }),
        }
        self.normalize();
        self.recalc_mask();
    }

    /// Removes `user:uid` and recalculates the mask (`setfacl -x u:UID`). False when absent.
    pub fn remove_user(&mut self, uid: u32) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| !(e.tag == USER && e.id == uid));
        let removed = self.entries.len() != before;
        if removed {
            self.normalize();
            self.recalc_mask();
        }
        removed
    }

    /// libacl's `acl_calc_mask`: the union of named users, the owning group and named groups.
    pub fn recalc_mask(&mut self) {
        let union = self
            .entries
            .iter()
            .filter(|e| matches!(e.tag, USER | GROUP_OBJ | GROUP))
            .fold(0, |acc, e| acc | e.perm);
        match self.entries.iter_mut().find(|e| e.tag == MASK) {
            Some(m) => m.perm = union,
            None => {
                self.entries.push(Entry {
                    tag: MASK,
                    id: UNDEFINED_ID,
                    perm: union,
                });
                self.normalize();
            }
        }
    }

    /// The text getfacl prints for the entries (with `prefix`, e.g. `default:`), each line ended:
    /// names from `user`/`group` (numeric when unknown), and a tab and `#effective:` where the mask
    /// takes bits away (getfacl asks libacl for no smart indent: one tab at any length).
    pub fn getfacl_text(
        &self,
        prefix: &str,
        user: impl Fn(u32) -> Option<String>,
        group: impl Fn(u32) -> Option<String>,
    ) -> String {
        self.sorted().text(prefix, user, group)
    }

    fn text(
        &self,
        prefix: &str,
        user: impl Fn(u32) -> Option<String>,
        group: impl Fn(u32) -> Option<String>,
    ) -> String {
        let mask = self.mask();
        let mut out = String::new();
        for e in &self.entries {
            let (head, masked) = match e.tag {
                USER_OBJ => ("user::".to_string(), false),
                USER => (format!("user:{}:", quote(user(e.id), e.id)), true),
                GROUP_OBJ => ("group::".to_string(), true),
                GROUP => (format!("group:{}:", quote(group(e.id), e.id)), true),
                MASK => ("mask::".to_string(), false),
                _ => ("other::".to_string(), false),
            };
            let text = format!("{prefix}{head}{}", perm_text(e.perm));
            out.push_str(&text);
            if let (true, Some(m)) = (masked, mask) {
                let effective = e.perm & m;
                if effective != e.perm {
                    out.push_str("\t#effective:");
                    out.push_str(&perm_text(effective));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// A user or group name as libacl prints it: `:`, `,`, blanks and line breaks as `\ooo`; the
/// number when the id has no name.
fn quote(name: Option<String>, id: u32) -> String {
    match name {
        None => id.to_string(),
        Some(n) => n
            .chars()
            .map(|c| {
                if ":, \t\n\r\\".contains(c) {
                    format!("\\{:03o}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: u16, id: u32, perm: u16) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&tag.to_le_bytes());
        b[2..4].copy_from_slice(&perm.to_le_bytes());
        b[4..].copy_from_slice(&id.to_le_bytes());
        b
    }

    fn blob(entries: &[(u16, u32, u16)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for &(t, i, p) in entries {
            v.extend_from_slice(&entry(t, i, p));
        }
        v
    }

    #[test]
    fn decodes_in_stored_order_and_round_trips() {
        let raw = blob(&[
            (USER_OBJ, u32::MAX, 6),
            (USER, 1001, 6),
            (USER, 1000, 4),
            (USER, 1001, 2),
            (GROUP_OBJ, u32::MAX, 4),
            (MASK, u32::MAX, 6),
            (OTHER, u32::MAX, 0),
        ]);
        let acl = Acl::decode(&raw).unwrap();
        let tags: Vec<(u16, u32, u16)> = acl
            .entries()
            .iter()
            .map(|e| (e.tag, e.id, e.perm))
            .collect();
        assert_eq!(
            tags,
            [
                (USER_OBJ, u32::MAX, 6),
                (USER, 1001, 6),
                (USER, 1000, 4),
                (USER, 1001, 2),
                (GROUP_OBJ, u32::MAX, 4),
                (MASK, u32::MAX, 6),
                (OTHER, u32::MAX, 0)
            ],
            "the kernel's order, duplicates kept"
        );
        assert_eq!(acl.encode(), raw);
        assert_eq!(acl.duplicate().map(|e| (e.id, e.perm)), Some((1001, 2)));
        // getfacl's view: sorted by id, equal ids in stored order.
        assert_eq!(
            acl.getfacl_text("", |_| None, |_| None),
            "user::rw-\nuser:1000:r--\nuser:1001:rw-\nuser:1001:-w-\ngroup::r--\nmask::rw-\nother::---\n"
        );
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        assert!(Acl::decode(&[2, 0, 0]).unwrap_err().contains("bytes"));
        let mut v1 = blob(&[(USER_OBJ, 0, 6), (GROUP_OBJ, 0, 4), (OTHER, 0, 4)]);
        v1[0] = 1;
        assert!(Acl::decode(&v1).unwrap_err().contains("version 1"));
        assert!(Acl::decode(&blob(&[
            (USER_OBJ, 0, 6),
            (USER, 5, 6),
            (GROUP_OBJ, 0, 4),
            (OTHER, 0, 4)
        ]))
        .unwrap_err()
        .contains("no mask"));
        assert!(
            Acl::decode(&blob(&[(USER_OBJ, 0, 8), (GROUP_OBJ, 0, 4), (OTHER, 0, 4)]))
                .unwrap_err()
                .contains("beyond rwx")
        );
        assert!(Acl::decode(&blob(&[
            (0x40, 0, 0),
            (USER_OBJ, 0, 6),
            (GROUP_OBJ, 0, 4),
            (OTHER, 0, 4)
        ]))
        .unwrap_err()
        .contains("tag"));
        assert!(Acl::decode(&blob(&[(USER_OBJ, 0, 6), (OTHER, 0, 4)]))
            .unwrap_err()
            .contains("base entry"));
        assert!(
            Acl::decode(&blob(&[(OTHER, 0, 4), (USER_OBJ, 0, 6), (GROUP_OBJ, 0, 4)]))
                .unwrap_err()
                .contains("order")
        );
        assert!(Acl::decode(&blob(&[
            (USER_OBJ, 0, 6),
            (GROUP_OBJ, 0, 4),
            (USER, 5, 4),
            (MASK, 0, 4),
            (OTHER, 0, 4)
        ]))
        .unwrap_err()
        .contains("order"));
    }

    #[test]
    fn set_and_remove_recalculate_the_mask() {
        let mut acl = Acl::from_mode(0o640);
        acl.set_user(1000, READ | WRITE);
        assert_eq!(acl.mask(), Some(READ | WRITE));
        acl.set_user(1000, READ);
        assert_eq!(acl.mask(), Some(READ), "group:: is r, user is r");
        acl.set_user(1001, READ | WRITE | EXECUTE);
        assert_eq!(acl.mask(), Some(7));
        assert!(acl.remove_user(1001));
        assert_eq!(acl.mask(), Some(READ));
        assert!(!acl.remove_user(1001));
        assert!(acl.remove_user(1000));
        assert!(!acl.has_named());
    }

    #[test]
    fn getfacl_text_with_effective_comments() {
        let mut acl = Acl::from_mode(0o750);
        acl.set_user(1000, 7);
        acl.entries.iter_mut().find(|e| e.tag == MASK).unwrap().perm = READ;
        let names = |id: u32| (id == 1000).then(|| "eric".to_string());
        let text = acl.getfacl_text("", names, |_| None);
        assert_eq!(
            text,
            "user::rwx\nuser:eric:rwx\t#effective:r--\ngroup::r-x\t#effective:r--\nmask::r--\nother::---\n"
        );
        let text = acl.getfacl_text("default:", |_| None, |_| None);
        assert!(
            text.starts_with("default:user::rwx\ndefault:user:1000:rwx\t#effective:r--\n"),
            "{text}"
        );
    }

    #[test]
    fn perm_parsing() {
        assert_eq!(parse_perm("rw"), Some(6));
        assert_eq!(parse_perm("r-x"), Some(5));
        assert_eq!(parse_perm(""), None);
        assert_eq!(parse_perm("rwz"), None);
    }

    #[test]
    fn quoting_of_odd_names() {
        assert_eq!(quote(Some("a:b c".into()), 1), "a\\072b\\040c");
        assert_eq!(quote(None, 42), "42");
    }

    #[test]
    fn random_bytes_never_panic_and_valid_acls_round_trip() {
        let mut x = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut valid = 0;
        for _ in 0..20000 {
            // Mostly the kernel's tag order, now and then any tag anywhere.
            let mut tags = vec![USER_OBJ];
            tags.extend((0..next() % 3).map(|_| USER));
            tags.push(GROUP_OBJ);
            tags.extend((0..next() % 3).map(|_| GROUP));
            if next() % 3 != 0 {
                tags.push(MASK);
            }
            tags.push(OTHER);
            if next() % 4 == 0 {
                let at = (next() as usize) % tags.len();
                tags[at] =
                    [USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER, 3][(next() % 7) as usize];
            }
            let mut raw = 2u32.to_le_bytes().to_vec();
            for tag in tags {
                raw.extend_from_slice(&entry(tag, (next() % 4) as u32 + 1000, (next() % 9) as u16));
            }
            if next() % 5 == 0 {
                raw.truncate((next() as usize) % (raw.len() + 1));
            }
            if let Ok(acl) = Acl::decode(&raw) {
                valid += 1;
                assert_eq!(Acl::decode(&acl.encode()).unwrap(), acl);
            }
        }
        assert!(valid > 100, "the generator makes valid ACLs too ({valid})");
    }
}

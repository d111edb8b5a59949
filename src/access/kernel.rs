//! "May this user read, write, execute this node?" decided as the kernel decides it
//! (`generic_permission`, `acl_permission_check`, `posix_acl_permission`): the owner bits; else,
//! when the node has an ACL and the group class bits of its mode are not all clear, a named-user
//! entry, masked; else the group entries: the first matching one (owning group, then named
//! groups) whose own bits hold everything asked decides, masked; a matching group with no such
//! entry denies; else other. Without an ACL (or with a mask of ---) the mode bits decide. Root passes read and write always, and execute where any execute bit is set or on
//! directories (CAP_DAC_OVERRIDE). Directories on the way need search permission.

use super::acl::{Acl, EXECUTE, GROUP, GROUP_OBJ, MASK, OTHER, USER};

/// The process asking.
pub struct Who {
    pub uid: u32,
    /// Primary and supplementary groups.
    pub groups: Vec<u32>,
}

/// What the kernel knows of the node.
pub struct Node {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub is_dir: bool,
    pub acl: Option<Acl>,
}

/// The entry that decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Root,
    Owner,
    NamedUser(u32),
    OwningGroup(u32),
    NamedGroup(u32),
    Other,
}

/// Whether `who` may do `want` (bits of rwx) on `node`, and which entry decided.
pub fn check(node: &Node, who: &Who, want: u16) -> (bool, Via) {
    let (granted, via) = unprivileged(node, who, want);
    if granted || who.uid != 0 {
        return (granted, via);
    }
    let any_exec = node.mode & 0o111 != 0;
    if node.is_dir || want & EXECUTE == 0 || any_exec {
        return (true, Via::Root);
    }
    (false, via)
}

fn unprivileged(node: &Node, who: &Who, want: u16) -> (bool, Via) {
    let holds = |perm: u16| perm & want == want;
    let in_group = |gid: u32| who.groups.contains(&gid);
    let bits = |shift: u32| ((node.mode >> shift) & 7) as u16;
    if who.uid == node.uid {
        return (holds(bits(6)), Via::Owner);
    }
    // The kernel consults the ACL only when the group class bits of the mode (the mask, where
    // there is one) are not all clear; with a mask of --- the mode bits decide, so a named user
    // then gets what "other" gets (acl_permission_check in fs/namei.c).
    let acl = match &node.acl {
        Some(acl) if node.mode & 0o070 != 0 => acl,
        _ => {
            if in_group(node.gid) {
                return (holds(bits(3)), Via::OwningGroup(node.gid));
            }
            return (holds(bits(0)), Via::Other);
        }
    };
    let mask = acl.entries().iter().find(|e| e.tag == MASK).map(|e| e.perm);
    let masked = |perm: u16| holds(mask.map_or(perm, |m| perm & m));
    if let Some(e) = acl
        .entries()
        .iter()
        .find(|e| e.tag == USER && e.id == who.uid)
    {
        return (masked(e.perm), Via::NamedUser(e.id));
    }
    let mut first_match = None;
    for e in acl.entries() {
        let via = match e.tag {
            GROUP_OBJ if in_group(node.gid) => Via::OwningGroup(node.gid),
            GROUP if in_group(e.id) => Via::NamedGroup(e.id),
            _ => continue,
        };
        if holds(e.perm) {
            return (masked(e.perm), via);
        }
        first_match.get_or_insert(via);
    }
    if let Some(via) = first_match {
        return (false, via);
    }
    (
        holds(
            acl.entries()
                .iter()
                .find(|e| e.tag == OTHER)
                .map_or(0, |e| e.perm),
        ),
        Via::Other,
    )
}

#[cfg(test)]
mod tests {
    use super::super::acl::{READ, WRITE};
    use super::*;

    fn node(uid: u32, gid: u32, mode: u32, acl: Option<Acl>) -> Node {
        Node {
            uid,
            gid,
            mode,
            is_dir: false,
            acl,
        }
    }

    const ERIC: Who = Who {
        uid: 1000,
        groups: Vec::new(),
    };

    fn eric_in(groups: &[u32]) -> Who {
        Who {
            uid: 1000,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn mode_only() {
        let n = node(0, 26, 0o660, None);
        assert_eq!(
            check(&n, &eric_in(&[100, 26]), READ | WRITE),
            (true, Via::OwningGroup(26))
        );
        assert_eq!(check(&n, &eric_in(&[100]), READ), (false, Via::Other));
        // The owner class decides even when the group would grant more.
        let n = node(1000, 26, 0o070, None);
        assert_eq!(check(&n, &eric_in(&[26]), READ), (false, Via::Owner));
    }

    #[test]
    fn named_user_is_masked() {
        let mut acl = Acl::from_mode(0o600);
        acl.set_user(1000, READ | WRITE);
        let n = node(0, 0, 0o660, Some(acl.clone()));
        assert_eq!(check(&n, &ERIC, READ | WRITE), (true, Via::NamedUser(1000)));
        let mut masked = acl.encode();
        let at = masked.len() - 16; // mask entry precedes other
        masked[at + 2] = READ as u8;
        let n = node(0, 0, 0o640, Some(Acl::decode(&masked).unwrap()));
        assert_eq!(check(&n, &ERIC, READ), (true, Via::NamedUser(1000)));
        assert_eq!(check(&n, &ERIC, WRITE), (false, Via::NamedUser(1000)));
    }

    #[test]
    fn group_entries_are_not_combined() {
        // group::r--, group:44:-w-: a member of both may read or write, not both at once.
        let raw = [
            2u32.to_le_bytes().to_vec(),
            [1u8, 0, 6, 0, 255, 255, 255, 255].to_vec(),
            [2u8, 0, 0, 0, 5, 0, 0, 0].to_vec(),
            [4u8, 0, 4, 0, 255, 255, 255, 255].to_vec(),
            [8u8, 0, 2, 0, 44, 0, 0, 0].to_vec(),
            [0x10u8, 0, 6, 0, 255, 255, 255, 255].to_vec(),
            [0x20u8, 0, 0, 0, 255, 255, 255, 255].to_vec(),
        ]
        .concat();
        let acl = Acl::decode(&raw).unwrap();
        let n = node(0, 26, 0o670, Some(acl));
        let who = eric_in(&[26, 44]);
        assert_eq!(check(&n, &who, READ), (true, Via::OwningGroup(26)));
        assert_eq!(check(&n, &who, WRITE), (true, Via::NamedGroup(44)));
        assert_eq!(check(&n, &who, READ | WRITE), (false, Via::OwningGroup(26)));
    }

    #[test]
    fn a_mask_of_nothing_hands_back_to_the_mode() {
        // Kernel quirk: with mask --- the ACL is skipped and the mode decides, so a named user
        // gets the "other" bits.
        let raw = [
            2u32.to_le_bytes().to_vec(),
            [1u8, 0, 4, 0, 255, 255, 255, 255].to_vec(),
            [2u8, 0, 5, 0, 0xe8, 3, 0, 0].to_vec(),
            [4u8, 0, 5, 0, 255, 255, 255, 255].to_vec(),
            [0x10u8, 0, 0, 0, 255, 255, 255, 255].to_vec(),
            [0x20u8, 0, 3, 0, 255, 255, 255, 255].to_vec(),
        ]
        .concat();
        let n = node(0, 5004, 0o403, Some(Acl::decode(&raw).unwrap()));
        assert_eq!(check(&n, &ERIC, WRITE | EXECUTE), (true, Via::Other));
        assert_eq!(check(&n, &ERIC, READ), (false, Via::Other));
    }

    #[test]
    fn root_bypass() {
        let root = Who {
            uid: 0,
            groups: vec![0],
        };
        let n = node(1000, 1000, 0o000, None);
        assert_eq!(check(&n, &root, READ | WRITE), (true, Via::Root));
        assert!(!check(&n, &root, EXECUTE).0, "no execute bit anywhere");
        let n = node(1000, 1000, 0o001, None);
        assert!(check(&n, &root, EXECUTE).0);
        let d = Node {
            is_dir: true,
            ..node(1000, 1000, 0o000, None)
        };
        assert!(check(&d, &root, EXECUTE).0);
    }
}

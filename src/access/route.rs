//! The route the kernel walks to reach a path for a user (`link_path_walk`): before each name is
//! looked up, the directory it is looked up in needs search permission for the user; a symbolic
//! link is followed where it stands (a relative target from the link's directory, an absolute
//! one from the root), subject to `fs.protected_symlinks`, at most 40 links a path. So
//! `locked/l`, with `locked` a 0700 directory of someone else and `l` a link out of it, is out of
//! reach even though the link's target is readable: the route goes through `locked`.
//!
//! The walk reads metadata only (`lstat`, `readlink`, the ACL xattr): it judges, it never opens
//! what it judges.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::acl;
use super::kernel::{self as access, Node, Via, Who};

/// The kernel's limit of symbolic links followed in one path (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Where a walk ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The node the path leads to, by its real path.
    Reached(PathBuf),
    /// The user may not search this directory, which the route enters.
    Blocked { dir: PathBuf, via: Via },
    /// `fs.protected_symlinks` forbids the user to follow this link.
    LinkRefused { link: PathBuf, owner: u32 },
}

/// What the walk needs of the file system: the node at a real path (never following a link
/// there), and a link's target. The real implementation is [`Disk`]; tests may give another.
pub trait Lookup {
    fn node(&self, path: &Path) -> io::Result<(Node, bool)>;
    fn target(&self, link: &Path) -> io::Result<PathBuf>;
}

/// The file system itself, the ACL read from the xattr.
pub struct Disk;

impl Lookup for Disk {
    /// The node at `path` itself and whether it is a symbolic link.
    fn node(&self, path: &Path) -> io::Result<(Node, bool)> {
        let m = std::fs::symlink_metadata(path)?;
        let is_link = m.file_type().is_symlink();
        let acl = if is_link {
            None
        } else {
            super::read_acl_at(path, super::ACCESS_XATTR)?
        };
        let node = Node {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
            is_dir: m.is_dir(),
            acl,
        };
        Ok((node, is_link))
    }

    fn target(&self, link: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(link)
    }
}

/// How a walk is set up: the directory standing for `/` (the real root, or `--root`), the
/// directory a relative path starts from, and whether `fs.protected_symlinks` is on.
pub struct Walk<'a, L: Lookup> {
    pub lookup: &'a L,
    pub root: &'a Path,
    pub cwd: &'a Path,
    pub protected_symlinks: bool,
}

fn names(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

impl<L: Lookup> Walk<'_, L> {
    /// Walks `path` for `who` as the kernel would for `access(2)` (the last link followed too).
    pub fn walk(&self, who: &Who, path: &Path) -> io::Result<Route> {
        let bytes = path.as_os_str().as_bytes();
        let mut dir = if bytes.starts_with(b"/") {
            self.root.to_path_buf()
        } else {
            self.cwd.to_path_buf()
        };
        // Names still to walk, the next one last.
        let mut todo: Vec<Vec<u8>> = names(bytes).rev().map(<[u8]>::to_vec).collect();
        let mut links = 0;
        while let Some(name) = todo.pop() {
            let (here, _) = self.lookup.node(&dir)?;
            if !here.is_dir {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            let (searchable, via) = access::check(&here, who, acl::EXECUTE);
            if !searchable {
                return Ok(Route::Blocked { dir, via });
            }
            match name.as_slice() {
                b"." => continue,
                b".." => {
                    if dir != self.root {
                        dir.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let next = dir.join(OsStr::from_bytes(&name));
            let (node, is_link) = self.lookup.node(&next)?;
            if !is_link {
                dir = next;
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            if self.protected_symlinks && !may_follow(&node, &here, who.uid) {
                return Ok(Route::LinkRefused {
                    link: next,
                    owner: node.uid,
                });
            }
            let target = self.lookup.target(&next)?;
            let target = target.as_os_str().as_bytes();
            if target.starts_with(b"/") {
                dir = self.root.to_path_buf();
            }
            todo.extend(names(target).rev().map(<[u8]>::to_vec));
        }
        Ok(Route::Reached(dir))
    }
}

/// `fs.protected_symlinks` (`may_follow_link`): a link in a sticky world-writable directory is
/// followed only by its owner, or when the directory's owner owns the link too.
fn may_follow(link: &Node, parent: &Node, fsuid: u32) -> bool {
    link.uid == fsuid
        || parent.mode & (libc::S_ISVTX | libc::S_IWOTH) != (libc::S_ISVTX | libc::S_IWOTH)
        || parent.uid == link.uid
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A file system in a table: path -> (owner, mode, directory?, link target).
    #[derive(Default)]
    struct Fake(HashMap<PathBuf, (u32, u32, bool, Option<&'static str>)>);

    impl Fake {
        fn dir(mut self, p: &str, uid: u32, mode: u32) -> Fake {
            self.0.insert(p.into(), (uid, mode, true, None));
            self
        }
        fn file(mut self, p: &str, uid: u32, mode: u32) -> Fake {
            self.0.insert(p.into(), (uid, mode, false, None));
            self
        }
        fn link(mut self, p: &str, uid: u32, to: &'static str) -> Fake {
            self.0.insert(p.into(), (uid, 0o777, false, Some(to)));
            self
        }
    }

    impl Lookup for Fake {
        fn node(&self, path: &Path) -> io::Result<(Node, bool)> {
            let &(uid, mode, is_dir, link) = self
                .0
                .get(path)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
            let node = Node {
                uid,
                gid: uid,
                mode,
                is_dir,
                acl: None,
            };
            Ok((node, link.is_some()))
        }
        fn target(&self, link: &Path) -> io::Result<PathBuf> {
            Ok(self.0[link].3.unwrap().into())
        }
    }

    const EVE: Who = Who {
        uid: 1000,
        groups: Vec::new(),
    };

    fn walk(fs: &Fake, path: &str, protected: bool) -> io::Result<Route> {
        Walk {
            lookup: fs,
            root: Path::new("/"),
            cwd: Path::new("/home/eve"),
            protected_symlinks: protected,
        }
        .walk(&EVE, Path::new(path))
    }

    fn base() -> Fake {
        Fake::default()
            .dir("/", 0, 0o755)
            .dir("/home", 0, 0o755)
            .dir("/home/eve", 1000, 0o700)
            .dir("/srv", 0, 0o755)
            .file("/srv/open", 0, 0o644)
            .dir("/locked", 0, 0o700)
            .link("/locked/l", 0, "/srv/open")
            .dir("/tmp", 0, 0o1777)
            .link("/tmp/theirs", 2000, "/srv/open")
            .link("/tmp/mine", 1000, "/srv/open")
            .link("/home/eve/rel", 1000, "../../srv/open")
            .link("/home/eve/loop", 1000, "loop")
    }

    #[test]
    fn a_link_inside_a_locked_directory_is_out_of_reach() {
        let fs = base();
        assert_eq!(
            walk(&fs, "/srv/open", true).unwrap(),
            Route::Reached("/srv/open".into())
        );
        assert_eq!(
            walk(&fs, "/locked/l", true).unwrap(),
            Route::Blocked {
                dir: "/locked".into(),
                via: Via::Other
            }
        );
    }

    #[test]
    fn links_resolve_from_their_directory_and_relative_paths_from_cwd() {
        let fs = base();
        assert_eq!(
            walk(&fs, "rel", true).unwrap(),
            Route::Reached("/srv/open".into())
        );
        assert_eq!(
            walk(&fs, "/home/eve/../eve/./rel", true).unwrap(),
            Route::Reached("/srv/open".into())
        );
        assert_eq!(
            walk(&fs, "/../../srv//open", true).unwrap(),
            Route::Reached("/srv/open".into()),
            "'..' stops at the root"
        );
        assert_eq!(
            walk(&fs, "loop", true).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            walk(&fs, "/srv/open/x", true).unwrap_err().raw_os_error(),
            Some(libc::ENOTDIR)
        );
        assert_eq!(
            walk(&fs, "/srv/none", true).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn protected_symlinks_in_sticky_world_writable_directories() {
        let fs = base();
        assert_eq!(
            walk(&fs, "/tmp/theirs", true).unwrap(),
            Route::LinkRefused {
                link: "/tmp/theirs".into(),
                owner: 2000
            }
        );
        assert_eq!(
            walk(&fs, "/tmp/theirs", false).unwrap(),
            Route::Reached("/srv/open".into())
        );
        assert_eq!(
            walk(&fs, "/tmp/mine", true).unwrap(),
            Route::Reached("/srv/open".into())
        );
    }
}

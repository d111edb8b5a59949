//! `hwc-perms show`: each path's ACL exactly as `getfacl -p` prints it, read through one
//! descriptor of what the path leads to.

use crate::acl::Acl;
use crate::shown::name_text;
use crate::ShowArgs;
use hwc_access::{decode_acl, ACCESS_XATTR, DEFAULT_XATTR};
use hwc_core::error::{describe_io, Error, Result};
use hwc_core::output;
use hwc_core::root::Root;
use hwc_core::safefs;
use hwc_core::users::Accounts;

pub fn run(a: &ShowArgs) -> Result<u8> {
    let root = Root::from_option(a.root.as_deref());
    let acc = Accounts::load(&root)?;
    if a.paths.is_empty() {
        return Err(Error::usage("no PATH given"));
    }
    let user = |uid: u32| acc.user_by_uid(uid).map(|u| u.name.clone());
    let group = |gid: u32| acc.group_by_gid(gid).map(|g| g.name.clone());
    let mut text = String::new();
    let mut failed = false;
    for shown in &a.paths {
        // Followed like getfacl does, then read through the one descriptor.
        let node = match safefs::open_follow(shown) {
            Ok(n) => n,
            Err(e) => {
                output::warn(
                    "hwc-perms",
                    &format!("{}: {}", shown.display(), describe_io(&e)),
                );
                failed = true;
                continue;
            }
        };
        let st = node.stat;
        let access =
            decode_acl(shown, node.xattr(ACCESS_XATTR))?.unwrap_or_else(|| Acl::from_mode(st.mode));
        text.push_str(&format!("# file: {}\n", name_text(shown)));
        text.push_str(&format!(
            "# owner: {}\n",
            user(st.uid).unwrap_or_else(|| st.uid.to_string())
        ));
        text.push_str(&format!(
            "# group: {}\n",
            group(st.gid).unwrap_or_else(|| st.gid.to_string())
        ));
        let special = st.mode & 0o7000;
        if special != 0 {
            let flag = |bit: u32, c: char| if special & bit != 0 { c } else { '-' };
            text.push_str(&format!(
                "# flags: {}{}{}\n",
                flag(0o4000, 's'),
                flag(0o2000, 's'),
                flag(0o1000, 't')
            ));
        }
        text.push_str(&access.getfacl_text("", user, group));
        if st.is_dir() {
            if let Some(default) = decode_acl(shown, node.xattr(DEFAULT_XATTR))? {
                text.push_str(&default.getfacl_text("default:", user, group));
            }
        }
        text.push('\n');
    }
    output::emit(&text)?;
    Ok(u8::from(failed))
}

//! An address's `ip -j addr` rendering.

use hwc_core::output::Json;
use hwc_rtnl::Addr;

use crate::names::scope_name;

pub fn addr_json(j: &mut Json, a: &Addr) {
    j.begin_object();
    j.key("family").string(if a.family as i32 == libc::AF_INET {
        "inet"
    } else {
        "inet6"
    });
    if let Some(ip) = a.shown() {
        j.key("local").string(ip.to_string());
    }
    j.key("prefixlen").number(a.prefixlen);
    j.key("scope").string(scope_name(a.scope));
    if a.family as i32 == libc::AF_INET {
        if let Some(l) = &a.label {
            j.key("label").string(l);
        }
    }
    j.end_object();
}

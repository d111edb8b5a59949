//! Links, addresses, routes and forwarding entries (decoded by hwc_rtnl), printed the way
//! `ip -j`, `ip -br` and `bridge -j` print them (iproute2's key names, present or absent in the
//! same cases). One file per object; the words iproute2 prints for numbers are in `names`.

mod addr;
mod fdb;
mod link;
mod route;

pub use addr::addr_json;
pub use fdb::{fdb_json, fdb_line};
pub use hwc_rtnl::{Addr, Link};
pub use hwc_rtnl::{Route, RT_TABLE_MAIN};
pub use link::{link_brief, link_json, LinkScratch};
pub use route::{route_json, route_line};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_payloads_are_refused_not_panicking() {
        assert!(Link::parse(&[0; 15]).is_none());
        assert!(Addr::parse(&[0; 7]).is_none());
        assert!(Route::parse(&[0; 11]).is_none());
        let mut x = 7u64;
        for _ in 0..5000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let len = (x >> 58) as usize + 8;
            let buf: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            let _ = Link::parse(&buf);
            let _ = Addr::parse(&buf);
            let _ = Route::parse(&buf);
        }
    }
}

//! rtnetlink: the wire format ([`codec`]), a synchronous client ([`client`]), and the links and
//! addresses it reports, decoded ([`Link`], [`Addr`]). Used by `hwc-netlink` and `hwc-doctor`;
//! what iproute2 prints of them (`ip -j` keys, name tables) stays with hwc-netlink.

mod addr;
pub mod client;
pub mod codec;
mod link;

pub use addr::{ip_from, Addr};
pub use client::{NlError, Socket};
pub use link::{Link, IFF_LOWER_UP, IFF_UP};

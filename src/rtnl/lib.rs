//! hwc-rtnl, the rtnetlink engine: the wire format ([`codec`]), a synchronous client ([`client`]), and the links and
//! addresses it reports, decoded ([`Link`], [`Addr`]). Used by `hwc-netlink` and `hwc-doctor`;
//! what iproute2 prints of them (`ip -j` keys, name tables) stays with hwc-netlink.

#![forbid(unsafe_code)]

mod addr;
pub mod client;
pub mod codec;
mod link;

pub use addr::{ip_from, Addr};
pub use client::{NlError, Socket};
pub use link::{Link, IFF_LOWER_UP, IFF_UP};

/// Asks the kernel to leave the statistics (most of each message) out of link replies.
const RTEXT_FILTER_SKIP_STATS: u32 = libc::RTEXT_FILTER_SKIP_STATS as u32;

impl Socket {
    /// The link called `name` (which must be a valid interface name), or `None`.
    pub fn link_named(&mut self, name: &str) -> Result<Option<Link>, NlError> {
        let mut req = codec::Request::new(codec::RTM_GETLINK, codec::F_REQUEST);
        req.header(&[0; 16])
            .attr_u32(libc::IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
            .attr_cstr(libc::IFLA_IFNAME, name);
        match self.get(&req) {
            Ok(p) => Ok(Link::parse(&p)),
            Err(e) if e.errno == libc::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every address of `family` (0: all).
    pub fn addresses(&mut self, family: u8) -> Result<Vec<Addr>, NlError> {
        let mut req = codec::Request::new(codec::RTM_GETADDR, codec::F_REQUEST | codec::F_DUMP);
        let mut h = [0u8; 8];
        h[0] = family;
        req.header(&h);
        self.dump(&req, codec::RTM_NEWADDR, Addr::parse)
    }
}

//! hwc-rtnl, the rtnetlink engine: the wire format ([`codec`]), a synchronous client
//! ([`client`]), the objects it reports, decoded ([`Link`], [`Addr`], [`Route`], [`FdbEntry`]),
//! and the kinds of link as one table ([`kind`]: each kind's attributes, how each is written and
//! read). Used by `hwc-netlink` and `hwc-doctor`; how iproute2 prints them (`ip -j` and `bridge
//! -j` layouts, its name tables) stays with hwc-netlink.

#![forbid(unsafe_code)]

mod addr;
pub mod client;
pub mod codec;
pub mod fdb;
pub mod kind;
mod link;
mod route;

pub use addr::{ip_from, Addr};
pub use client::{NlError, Socket};
pub use fdb::FdbEntry;
pub use link::{ifinfo, Link, CHANGE, CREATE, IFF_LOWER_UP, IFF_UP};
pub use route::{Route, RT_TABLE_MAIN};

/// A link and its `IFLA_INFO_DATA`.
pub type LinkWithData = (Link, Box<[u8]>);

/// Asks the kernel to leave the statistics (most of each message) out of link replies.
const RTEXT_FILTER_SKIP_STATS: u32 = libc::RTEXT_FILTER_SKIP_STATS as u32;

impl Socket {
    /// The link called `name` (which must be a valid interface name), or `None`.
    pub fn link_named(&mut self, name: &str) -> Result<Option<Link>, NlError> {
        Ok(self.link_message(name)?.and_then(|p| Link::parse(&p)))
    }

    /// The RTM_NEWLINK payload describing the link `name`, or `None` when there is none.
    fn link_message(&mut self, name: &str) -> Result<Option<Vec<u8>>, NlError> {
        let mut req = codec::Request::new(codec::RTM_GETLINK, codec::F_REQUEST);
        req.header(&[0; 16])
            .attr_u32(libc::IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
            .attr_cstr(libc::IFLA_IFNAME, name);
        match self.get(&req) {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.errno == libc::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The link called `name` with its `IFLA_INFO_DATA` (a kind's own attributes), or `None`.
    pub fn link_details(&mut self, name: &str) -> Result<Option<LinkWithData>, NlError> {
        Ok(self.link_message(name)?.and_then(|p| with_data(&p)))
    }

    /// The bridge forwarding entries: of the link `index` only, of the bridge `master`'s ports
    /// only, when given. The link filter is applied here too, as for a kernel without strict
    /// checking.
    pub fn fdb(
        &mut self,
        index: Option<u32>,
        master: Option<u32>,
    ) -> Result<Vec<FdbEntry>, NlError> {
        let req = fdb::dump_request(index, master);
        let mut all = self.dump(&req, fdb::RTM_NEWNEIGH, FdbEntry::parse)?;
        if let Some(i) = index {
            all.retain(|e| e.index == i);
        }
        Ok(all)
    }

    /// Every link, statistics left out. A `family` other than 0 asks that family's handler, as
    /// `ip -4`/`-6` do: IPv6's sends no master or link-layer address and, under strict checking,
    /// refuses any attribute after the header.
    pub fn links(&mut self, family: u8) -> Result<Vec<Link>, NlError> {
        self.dump(&links_request(family), codec::RTM_NEWLINK, Link::parse)
    }

    /// Every link with its `IFLA_INFO_DATA` (its kind's own attributes; empty when none).
    pub fn links_with_data(&mut self, family: u8) -> Result<Vec<LinkWithData>, NlError> {
        self.dump(&links_request(family), codec::RTM_NEWLINK, with_data)
    }

    /// Every route of `family` (0: all), of every table.
    pub fn routes(&mut self, family: u8) -> Result<Vec<Route>, NlError> {
        let req = family_dump(codec::RTM_GETROUTE, family, 12);
        self.dump(&req, codec::RTM_NEWROUTE, Route::parse)
    }

    /// Every address of `family` (0: all).
    pub fn addresses(&mut self, family: u8) -> Result<Vec<Addr>, NlError> {
        let req = family_dump(codec::RTM_GETADDR, family, 8);
        self.dump(&req, codec::RTM_NEWADDR, Addr::parse)
    }
}

/// A link message's link and `IFLA_INFO_DATA` (empty when it has none).
fn with_data(payload: &[u8]) -> Option<LinkWithData> {
    let data = kind::info_data(payload).unwrap_or_default();
    Link::parse(payload).map(|l| (l, Box::from(data)))
}

/// The dump request of message type `ty` for `family` (0: all): a zeroed header of `len` bytes
/// (ifinfomsg, ifaddrmsg, rtmsg) whose first byte is the family.
fn family_dump(ty: u16, family: u8, len: usize) -> codec::Request {
    let mut req = codec::Request::new(ty, codec::F_REQUEST | codec::F_DUMP);
    let mut h = [0u8; 16];
    h[0] = family;
    req.header(&h[..len]);
    req
}

/// The dump request for every link of `family`.
fn links_request(family: u8) -> codec::Request {
    let mut req = family_dump(codec::RTM_GETLINK, family, 16);
    if family != libc::AF_INET6 as u8 {
        req.attr_u32(libc::IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    }
    req
}

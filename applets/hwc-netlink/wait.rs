//! `wait-online DEV [--timeout SECONDS]`: waits for carrier on a link-event subscription.

use hwc_core::error::{Error, Result};

use crate::context::{need_link, opt, options, usage, Ctx};
use crate::model::Link;
use hwc_rtnl::codec;

pub(crate) fn wait_online(ctx: &mut Ctx, words: &[&str]) -> Result<u8> {
    let (pos, opts) = options(words, &["timeout"])?;
    let [dev] = pos.as_slice() else {
        return Err(usage("wait-online: expected DEV"));
    };
    let timeout = opt(&opts, "timeout").unwrap_or("30");
    let limit =
        hwc_core::cli::parse_seconds(timeout).ok_or_else(|| usage("--timeout needs seconds"))?;
    if limit > std::time::Duration::from_secs(86400) {
        return Err(usage("--timeout must be between 0 and 86400 seconds"));
    }
    // Subscribed before looking, so a carrier that comes up in between is not missed.
    let link = need_link(ctx, dev)?;
    if link.flags & hwc_rtnl::IFF_LOWER_UP != 0 {
        return Ok(0);
    }
    let deadline = std::time::Instant::now() + limit;
    let mut buf = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(Error::failed(format!(
                "wait-online {dev}: no carrier after {timeout} s"
            )));
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        if !hwc_core::poll::readable(ctx.sock.fd(), ms)
            .map_err(|e| Error::io("waiting for link events", &e))?
        {
            continue;
        }
        hwc_rtnl::client::recv_datagram(ctx.sock.fd(), &mut buf)
            .map_err(|e| Error::io("reading link events", &e))?;
        for m in codec::messages(&buf).flatten() {
            if m.ty == codec::RTM_NEWLINK {
                if let Some(l) = Link::parse(m.payload) {
                    if l.index == link.index && l.flags & hwc_rtnl::IFF_LOWER_UP != 0 {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

//! What every hwc-netlink command shares: the context (socket, output switches, --dry-run), one
//! line per error, the requests that look links up, and the parsers for names, addresses and
//! `--option value` words.

use std::net::IpAddr;

use hwc_core::error::{Error, Result};
use hwc_core::output;

use crate::model::Link;
use hwc_rtnl::client::{NlError, Socket};
use hwc_rtnl::codec::Request;

pub use hwc_rtnl::{ifinfo, CHANGE, CREATE};

pub struct Ctx {
    pub sock: Socket,
    pub json: bool,
    pub details: bool,
    pub family: u8,
    pub dry_run: bool,
}

impl Ctx {
    /// Sends a request that changes the system, or with --dry-run prints what it would do.
    pub fn change(&mut self, req: &Request, what: &str) -> std::result::Result<(), NlError> {
        if self.dry_run {
            // Through hwc's writer: a reader that closed the pipe ends nothing here (println!
            // would panic, and the binary aborts on a panic).
            let _ = output::emit(&format!("{}\n", output::would(what)));
            return Ok(());
        }
        self.sock.request(req)
    }

    /// A link just created; with --dry-run it does not exist, so a stand-in with its name and
    /// the MTU it was created with.
    pub fn created(&mut self, name: &str, mtu: Option<u32>) -> Result<Link> {
        if self.dry_run {
            return Ok(Link::named(name, mtu));
        }
        need_link(self, name)
    }
}

#[cold]
#[inline(never)]
pub fn usage(what: impl Into<String>) -> Error {
    Error::usage(what).hint("see 'hwc-netlink --help'")
}

/// A kernel error as one line naming the object.
#[cold]
#[inline(never)]
pub fn fail(what: &str, e: NlError) -> Error {
    let mut err = Error::failed(format!("{what}: {}", e.message));
    if e.errno == libc::EPERM {
        err = err.hint("needs CAP_NET_ADMIN; run as root");
    }
    err
}

/// All links. With -4 or -6 the dump asks for that family, as ip does.
pub fn dump_links(ctx: &mut Ctx) -> Result<Vec<Link>> {
    ctx.sock
        .links(ctx.family)
        .map_err(|e| fail("listing links", e))
}

/// Each link's IFLA_INFO_DATA (its kind's attributes; empty when it has none), by position.
pub type InfoData = Vec<Box<[u8]>>;

/// All links with each one's IFLA_INFO_DATA, for `-d`.
pub fn dump_link_details(ctx: &mut Ctx) -> Result<(Vec<Link>, InfoData)> {
    let both = ctx
        .sock
        .links_with_data(ctx.family)
        .map_err(|e| fail("listing links", e))?;
    Ok(both.into_iter().unzip())
}

/// `name` if the kernel would take it as an interface name (`dev_valid_name`): 1 to 15 bytes,
/// not `.` or `..`, no `/`, `:` or white space. Checked before any request is built.
#[inline(never)]
pub fn ifname(name: &str) -> Result<&str> {
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0x0b);
    if valid {
        Ok(name)
    } else {
        let shown: String = name.chars().take(40).collect();
        let more = if name.len() > shown.len() { "..." } else { "" };
        Err(usage(format!(
            "'{}{more}' ({} bytes) is not a valid interface name (1-15 bytes, no '/', ':' or spaces)",
            output::printable(&shown),
            name.len()
        )))
    }
}

/// The link called `name`, or None when there is none.
#[inline(never)]
pub fn find_link(ctx: &mut Ctx, name: &str) -> Result<Option<Link>> {
    ifname(name)?;
    ctx.sock.link_named(name).map_err(|e| fail(name, e))
}

#[inline(never)]
pub fn need_link(ctx: &mut Ctx, name: &str) -> Result<Link> {
    find_link(ctx, name)?.ok_or_else(|| Error::failed(format!("{name}: no such device")))
}

#[inline(never)]
pub fn parse_cidr(text: &str) -> Result<(IpAddr, u8)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (text, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| usage(format!("'{text}' is not an address")))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| usage(format!("'{text}': bad prefix length")))?,
    };
    Ok((ip, len))
}

pub fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// Positional words, and `--name value` options.
pub type Split<'a> = (Vec<&'a str>, Vec<(String, &'a str)>);

/// Splits `--opt value` pairs off the positional words.
#[inline(never)]
pub fn options<'a>(words: &[&'a str], known: &[&str]) -> Result<Split<'a>> {
    let (mut pos, mut opts) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if let Some(name) = w.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (name, None),
            };
            if !known.contains(&name) {
                return Err(usage(format!("unknown option --{name}")));
            }
            let value = match value {
                Some(v) => v,
                None => {
                    i += 1;
                    words
                        .get(i)
                        .copied()
                        .ok_or_else(|| usage(format!("--{name} needs a value")))?
                }
            };
            opts.push((name.to_string(), value));
        } else {
            pos.push(w);
        }
        i += 1;
    }
    Ok((pos, opts))
}

/// The word after `word` in a command's words (`after`): its value; an error naming both when
/// there is none.
pub fn value_of<'a>(cmd: &str, word: &str, after: &[&'a str]) -> Result<&'a str> {
    after
        .first()
        .copied()
        .ok_or_else(|| usage(format!("{cmd}: '{word}' needs a value")))
}

pub fn opt<'a>(opts: &[(String, &'a str)], name: &str) -> Option<&'a str> {
    opts.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v)
}

/// `words` with the first spelled out as ip reads an abbreviated command word: it stands for the
/// first entry of `keywords` (ip's own order; each with the word hwc matches on) that it begins.
/// The order settles clashes as in ip: `link s` is `set`, `addr s` and `route s` are `show`.
/// A word that begins none is left as it is, for the caller's error.
pub fn spelled_out<'a>(words: &[&'a str], keywords: &[(&str, &'a str)]) -> Vec<&'a str> {
    let mut out = words.to_vec();
    if let Some(first) = out.first_mut().filter(|w| !w.is_empty()) {
        if let Some(&(_, word)) = keywords.iter().find(|(k, _)| k.starts_with(*first)) {
            *first = word;
        }
    }
    out
}

/// Opens `/run/netns/NAME` or the namespace file PATH.
pub fn open_netns(spec: &str) -> Result<std::fs::File> {
    let path = if spec.contains('/') {
        spec.to_string()
    } else {
        format!("/run/netns/{spec}")
    };
    // Non-blocking: a FIFO in its place must not hang the command (setns then refuses it).
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| Error::io(format!("network namespace {path}"), &e))
}

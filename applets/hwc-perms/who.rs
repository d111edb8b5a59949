//! Whose access a command is about: the user named, or the one running it.

use hwc_core::error::{Error, Result};
use hwc_core::users::{Accounts, User};

/// The user named, or the invoking one (SUDO_USER when root runs under sudo).
pub fn user_of<'a>(acc: &'a Accounts, name: Option<&str>) -> Result<&'a User> {
    let euid = hwc_core::privilege::euid();
    let (spec, what) = match name {
        Some(n) => (n.to_string(), "user"),
        None => match std::env::var("SUDO_USER") {
            Ok(s) if euid == 0 && !s.is_empty() => (s, "SUDO_USER"),
            _ => (euid.to_string(), "invoking uid"),
        },
    };
    acc.find_user(&spec)
        .ok_or_else(|| Error::failed(format!("{what} '{spec}' is not in /etc/passwd")))
}

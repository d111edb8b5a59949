//! hwc-core: the shared plumbing every applet and engine may use (busybox's libbb, uutils'
//! uucore): errors and exit statuses, output (tables, JSON, env lines), the argh glue, `--root`,
//! sysfs readers, accounts without NSS, safe access to files others control, privilege; and, until
//! they become crates of their own as hwc-dbus, hwc-rtnl and hwc-authorized-keys did, the
//! wake-free GPU engine and the kernel-exact access check with the group sets. System calls go
//! through nix, or through hwc-sys for what nix lacks.

#![forbid(unsafe_code)]

pub mod access;
pub mod cli;
pub mod command;
pub mod config;
pub mod error;
pub mod gpu;
pub mod groupsets;
pub mod output;
pub mod poll;
pub mod privilege;
pub mod root;
pub mod safefs;
pub mod sysfs;
pub mod users;

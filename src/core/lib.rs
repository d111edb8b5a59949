//! hwc-core: the shared plumbing every applet and engine may use (busybox's libbb, uutils'
//! uucore): errors and exit statuses, output (tables, JSON, env lines), the argh glue, `--root`,
//! sysfs readers, accounts without NSS, safe access to files others control, privilege. The
//! engines (GPU, access, rtnetlink, D-Bus, authorized_keys) are crates of their own beside it.
//! System calls go through nix, or through hwc-sys for what nix lacks.

#![forbid(unsafe_code)]

pub mod cli;
pub mod command;
pub mod config;
pub mod error;
pub mod output;
pub mod poll;
pub mod privilege;
pub mod root;
pub mod safefs;
pub mod sysfs;
pub mod users;

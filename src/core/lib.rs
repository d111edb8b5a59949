//! hwc-core: the shared plumbing every applet may use (busybox's libbb, uutils' uucore): errors
//! and exit statuses, output (tables, JSON, env lines), the argh glue, `--root`, sysfs readers,
//! accounts without NSS, safe access to files others control, privilege, the wake-free GPU
//! engine, and the engines two applets share (the kernel-exact access check, group sets). System
//! calls go through nix, or through hwc-sys for what nix lacks.

#![forbid(unsafe_code)]

pub mod access;
pub mod authorized_keys;
pub mod cli;
pub mod command;
pub mod config;
pub mod error;
pub mod gpu;
pub mod groupsets;
pub mod netlink;
pub mod output;
pub mod poll;
pub mod privilege;
pub mod root;
pub mod safefs;
pub mod sysfs;
pub mod users;

//! hwc: the wiring layer of a NixOS machine, as one static multicall binary.
//!
//! `src/` is the shared plumbing every applet may use; `applets/` holds one folder per applet and
//! the applet table. Dependencies point one way: `main` -> `applets` -> `src`.

pub mod error;
pub mod gpu;
pub mod multicall;
pub mod output;
pub mod root;
pub mod safefs;
pub mod sys;
pub mod sysfs;
pub mod users;

#[path = "../applets/mod.rs"]
pub mod applets;

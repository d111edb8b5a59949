//! hwc-dbus: the D-Bus engine hwc-session-init and hwc-doctor share, the wire format
//! ([`wire`]) apart from the client that speaks it on a socket ([`client`]).

#![forbid(unsafe_code)]

pub mod client;
pub mod wire;

pub use client::{socket_of, Bus};
pub use wire::{body_args, body_dict, body_strings, hello, Body, Call, Reply, Values};

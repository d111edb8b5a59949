//! hwc-sys: the one layer of hwc that may use `unsafe`. Everything else in the workspace forbids
//! it (`#![forbid(unsafe_code)]`) and calls the system through the nix crate; what nix does not
//! wrap, or wraps only by allocating where hwc must not, lives here, each block with the reason
//! it is sound:
//!
//! - [`fs`]: directory listing into a stack buffer (`getdents64`), a link's target into a caller's
//!   buffer, extended attributes (nix has no xattr calls);
//! - [`process`]: `fork` (an `unsafe fn`, with its precondition) and the one safe way to use it,
//!   [`process::run_in_child`], which checks that precondition and bounds the wait; `_exit`;
//!   `pidfd_open`; the SIGPIPE disposition;
//! - [`net`]: integer socket options nix has no name for (netlink's).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]

pub mod fs;
pub mod net;
pub mod process;

//! Link flags of the release binary alone, where the linker is rust-lld (rustc's own on
//! x86_64 Linux, as rustup ships it): a test build keeps what its backtraces read, and a toolchain
//! that links with GNU ld (which knows no --icf) builds as before, only bigger.
//!
//! - `--no-eh-frame-hdr`: the binary aborts on a panic (panic = "abort") and unwinds nothing, so
//!   the unwinder's lookup table of .eh_frame (24 KB) is left out. RUST_BACKTRACE then prints no
//!   frames, after the panic's message. A library NVML's dlopen loads keeps its own table.
//! - `--icf=all`: functions whose code and relocations are byte for byte the same are folded into
//!   one (generic code instantiated for types of one layout, glibc's alike stubs): 25 KB. Rust
//!   gives a function's address no identity, and nothing in hwc compares them; data is not folded.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !release || target != "x86_64-unknown-linux-gnu" || !rust_lld(&target) {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
}

/// Whether rustc links `target` with its own lld: the toolchain ships it in the sysroot.
fn rust_lld(target: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("bin/gcc-ld/ld.lld")
        .exists()
}

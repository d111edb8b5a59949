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

/// Whether rustc links `target` with its own lld: it does by default from Rust 1.90 on (before,
/// rustup shipped the same file, and GNU ld linked), when the toolchain ships it in the sysroot,
/// and no other linker is asked for.
fn rust_lld(target: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(&rustc).arg("-vV").output().ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let release = text.lines().find_map(|l| l.strip_prefix("release: "))?;
        release.split('.').nth(1)?.parse::<u32>().ok()
    });
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let other_linker = flags.contains("linker")
        || std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some();
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if minor.is_none_or(|m| m < 90) || other_linker {
        return false;
    }
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

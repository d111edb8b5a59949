//! Entered through C `main` rather than Rust's runtime start-up, which would add a dozen
//! syscalls (a stack-guard probe through /proc/self/maps, an alternate signal stack, handlers)
//! to every start: gpu-launch is a hot path, measured against a C wrapper in benches/launch.rs.
//! What hwc needs of that start-up is done in `door::run`.

#![cfg_attr(not(test), no_main)]
// No `unsafe` here: it lives in hwc-sys. The one exception is the C entry symbol below, whose
// `#[no_mangle]` the lint counts as unsafe code; it holds no unsafe block.
#![deny(unsafe_code)]
// Unit tests build without the C entry point, so the door's way in is unused there.
#![cfg_attr(test, allow(dead_code))]

mod door;

#[cfg(not(test))]
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // argv and the environment come from std, which glibc hands them to before main.
    libc::c_int::from(door::run(door::table::TABLE))
}

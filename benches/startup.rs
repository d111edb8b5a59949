//! Start-up cost of the multicall binary: `hwc --help` against `/bin/true`, the floor of
//! fork+exec on this machine.

mod common;

fn main() {
    // `cargo bench` passes `--bench`; running under `cargo test --benches` passes nothing and
    // should stay quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 5 } else { 400 };
    let hwc = common::hwc();
    let hwc = hwc.to_str().expect("utf-8 target path");
    let rows = common::compare(
        "startup",
        &[
            common::Case::new("/bin/true", &["/bin/true"]),
            common::Case::new("hwc --help", &[hwc, "--help"]),
            common::Case::new("hwc --list", &[hwc, "--list"]),
        ],
        runs,
        if quick { 1 } else { 20 },
    );
    common::goal("hwc --help within 2x of /bin/true", rows[1].ratio <= 2.0);
}

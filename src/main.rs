fn main() {
    std::process::exit(i32::from(hwc::multicall::run(hwc::applets::TABLE)));
}

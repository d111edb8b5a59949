#!/bin/bash
# dracut module: hwc and one link per applet in the initramfs, for rescue shells and early
# networking (hwc-netlink needs no ip, no /etc). Opt-in: add "hwc" to add_dracutmodules.

check() {
    require_binaries hwc || return 1
    return 255
}

depends() {
    return 0
}

install() {
    local hwc applet
    hwc=$(command -v hwc) || return 1
    inst_binary "$hwc" /usr/bin/hwc
    for applet in $("$hwc" --list); do
        ln_r /usr/bin/hwc "/usr/bin/$applet"
    done
}

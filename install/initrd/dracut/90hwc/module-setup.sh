#!/bin/bash
# dracut module: hwc and one link per applet in the initramfs, for rescue shells and early
# networking (hwc-netlink needs no ip, no /etc). Opt-in: add "hwc" to add_dracutmodules.
#
# dracut sources this file into its own shell, so it sets no shell options and keeps its
# variables local; dracut calls check() (for every module, asked for or not), installkernel()
# (the kernel modules, when the image has a kernel) and install().

# The hwc to copy into the image. dracut's PATH is only /sbin /bin /usr/sbin /usr/bin, which
# misses /usr/local/bin and every other prefix, so install.sh writes the absolute path it
# installed hwc at between the quotes below (and reads it back to tell which prefix owns this
# file). A copy that still holds the placeholder, such as a distribution package's, looks hwc
# up in PATH instead. With --sysroot, the path is inside the sysroot.
hwc_module_binary() {
    local recorded='@HWC_BINARY@' found
    case "$recorded" in
        /*)
            if [[ -f ${dracutsysrootdir-}$recorded && -x ${dracutsysrootdir-}$recorded ]]; then
                printf '%s\n' "$recorded"
                return 0
            fi
            derror "hwc: $recorded, where install.sh installed hwc, is missing; reinstall hwc or uninstall this module"
            return 1
            ;;
    esac
    if found=$(command -v hwc) && [[ $found == /* ]]; then
        printf '%s\n' "$found"
        return 0
    fi
    derror "hwc: no hwc in PATH ($PATH); install hwc into one of those directories"
    return 1
}

check() {
    hwc_module_binary > /dev/null || return 1
    # Present, but only included when asked for.
    return 255
}

depends() {
    return 0
}

# The kernel modules of the links hwc-netlink creates (bridge, veth, vlan, dummy): a stock image
# has none, and the kernel answers "Unknown device type" without them. With them in the image,
# the kernel loads each on first use (request_module -> modprobe). Whatever the host uses.
installkernel() {
    hostonly='' instmods bridge veth 8021q dummy
}

install() {
    local hwc applets applet
    hwc=$(hwc_module_binary) || return 1
    if ! applets=$("${dracutsysrootdir-}$hwc" --list); then
        derror "hwc: $hwc --list failed"
        return 1
    fi
    inst_binary "$hwc" /usr/bin/hwc || return 1
    for applet in $applets; do
        ln_r /usr/bin/hwc "/usr/bin/$applet" || return 1
    done
}

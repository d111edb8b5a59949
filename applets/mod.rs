//! The applet table: every applet hwc answers to, in the order `hwc --list` prints them.

use crate::multicall::Applet;

#[path = "hwc-gpu-detect/mod.rs"]
mod gpu_detect;
#[path = "gpu-launch/mod.rs"]
mod gpu_launch;
#[path = "hwc-netlink/mod.rs"]
mod netlink;
#[path = "hwc-perms/mod.rs"]
mod perms;
#[path = "hwc-session-init/mod.rs"]
mod session_init;
#[path = "setup-ssh-keys/mod.rs"]
mod ssh_keys;

pub const TABLE: &[Applet] = &[
    Applet {
        name: "gpu-launch",
        summary: "run a program on the discrete GPU (PRIME render offload)",
        main: gpu_launch::main,
        execs_in_place: true,
    },
    Applet {
        name: "hwc-gpu-detect",
        summary: "list GPUs, drivers, render nodes, the accelerator, container support",
        main: gpu_detect::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-perms",
        summary: "user groups and device access; grant and revoke POSIX ACLs",
        main: perms::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-netlink",
        summary: "links, bridges, veth, addresses and routes over rtnetlink",
        main: netlink::main,
        execs_in_place: false,
    },
    Applet {
        name: "setup-ssh-keys",
        summary: "install a user's authorized_keys from a secret, with fallback keys",
        main: ssh_keys::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-session-init",
        summary: "graphical session plumbing: XDG dirs, environment into D-Bus and systemd",
        main: session_init::main,
        execs_in_place: false,
    },
];

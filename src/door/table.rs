//! The applet table: every applet hwc answers to, in the order `hwc --list` prints them. Each
//! applet is a crate of its own (applets/NAME) with `main(name, args)` as its entry.

use super::Applet;

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
        main: hwc_gpu_detect::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-perms",
        summary: "user groups and device access; grant and revoke POSIX ACLs",
        main: hwc_perms::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-netlink",
        summary: "links, bridges, veth, addresses and routes over rtnetlink",
        main: hwc_netlink::main,
        execs_in_place: false,
    },
    Applet {
        name: "setup-ssh-keys",
        summary: "install a user's authorized_keys from a secret, with fallback keys",
        main: setup_ssh_keys::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-session-init",
        summary: "graphical session plumbing: XDG dirs, environment into D-Bus and systemd",
        main: hwc_session_init::main,
        execs_in_place: false,
    },
    Applet {
        name: "hwc-doctor",
        summary: "declared against detected, by bucket, with fixes; Prometheus gauges",
        main: hwc_doctor::main,
        execs_in_place: false,
    },
];

//! `gpu-launch [OPTIONS] PROGRAM [ARGS...]`: run a program on the discrete GPU, in place.
//!
//! The hot path: the session's snapshot of the GPUs (`HWC_GPU_LAUNCH`) checked against the
//! machine, or else a launch-depth scan of cached sysfs attributes (no NVML, no `/dev`, no name
//! lookup, no JSON); the offload variables added to the environment, then `execvp` in place so
//! the program keeps the pid, the signals and the exit status.

#![forbid(unsafe_code)]

mod profiles;
mod session;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use argh::FromArgs;

use hwc_core::cli::parse_args;
use hwc_core::error::{self, Error, Result};
use hwc_core::output;
use hwc_core::root::Root;
use hwc_gpu::offload::{self, Plan, Selector};
use hwc_gpu::{self as gpu, Depth};
use profiles::{Profile, Profiles};

/// Run PROGRAM on the discrete GPU (PRIME render offload): the display stays on the integrated
/// GPU, or on a server's BMC or a VM's virtual display, and PROGRAM renders on the GPU beside it.
/// Options end at the first word that is not an option; PROGRAM and its arguments are passed on
/// untouched. PROGRAM is searched in PATH and replaces gpu-launch (same pid, signals and exit
/// status). Variables already set in the environment are left as they are. Without a GPU to
/// offload to, PROGRAM runs unchanged after a one-line notice.
#[derive(FromArgs)]
#[argh(
    help_triggers("-h", "--help"),
    note = "NVIDIA (proprietary driver) gets __NV_PRIME_RENDER_OFFLOAD=1, \
__NV_PRIME_RENDER_OFFLOAD_PROVIDER=NVIDIA-G<n>, __GLX_VENDOR_LIBRARY_NAME=nvidia, \
__VK_LAYER_NV_optimus=NVIDIA_only and __EGL_VENDOR_LIBRARY_FILENAMES=<glvnd dir>/10_nvidia.json \
when that file exists; Mesa drivers (amdgpu, radeon, nouveau, i915, xe) get \
DRI_PRIME=pci-DDDD_BB_DD_F. Chromium and Electron programs also get \
--render-node-override=<render node of the GPU>; rules in /etc/hwc/gpu-launch.conf and \
$XDG_CONFIG_HOME/hwc/gpu-launch.conf, one 'PROGRAM = chromium|none' a line, extend or override \
the built-in list (PROGRAM may end in *). HWC_GPU_LAUNCH, which hwc-session-init exports (and writes \
to $XDG_RUNTIME_DIR/hwc/session.env, read when the variable is not set), saves reading every PCI \
device: it is used only while the machine has the same PCI devices, each GPU the same driver and \
each VGA-class GPU the same boot_vga, else the devices are read again.",
    error_code(
        1,
        "--strict and no GPU to offload to, bad --gpu choice, or bad config file"
    ),
    error_code(2, "usage error"),
    error_code(126, "PROGRAM found but not executable"),
    error_code(127, "PROGRAM not found")
)]
struct Args {
    /// GPU to render on: auto (default: the first discrete GPU with a usable driver beside an
    /// integrated one, or the first real GPU beside a BMC or virtual display), nvidia, amd,
    /// intel, or a PCI address such as 0000:01:00.0
    #[argh(option, default = "String::from(\"auto\")")]
    gpu: String,
    /// exit 1 instead of running PROGRAM unchanged when there is no GPU to offload to
    #[argh(switch)]
    strict: bool,
    /// print the variables it would set (NAME=value) and the command line, run nothing
    #[argh(switch)]
    dry_run: bool,
    /// no notice when PROGRAM runs without offload
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// read /sys, /run, /etc and /dev under DIR instead of / (tests, fixtures)
    #[argh(option)]
    root: Option<PathBuf>,
    /// PROGRAM and its arguments
    #[argh(positional, greedy)]
    #[allow(dead_code)]
    // for --help only: the command is split off before argh sees the options
    program: Vec<String>,
}

/// Options that take a value as the next word.
const VALUE_OPTIONS: [&[u8]; 2] = [b"--gpu", b"--root"];

/// Splits at the first word that is not an option (or after `--`): (option words, command).
fn split_command(args: &[OsString]) -> (&[OsString], &[OsString]) {
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_bytes();
        if word == b"--" {
            return (&args[..i], &args[i + 1..]);
        }
        if !word.starts_with(b"-") || word == b"-" {
            break;
        }
        i += if VALUE_OPTIONS.contains(&word) { 2 } else { 1 };
    }
    let i = i.min(args.len());
    (&args[..i], &args[i..])
}

pub fn main(name: &str, args: &[OsString]) -> Result<u8> {
    let (options, command) = split_command(args);
    let opts: Args = parse_args(name, options)?;
    let Some(program) = command.first() else {
        return Err(Error::usage("missing PROGRAM")
            .hint(format!("usage: {name} [OPTIONS] PROGRAM [ARGS...]")));
    };
    let selector = Selector::parse(&opts.gpu).ok_or_else(|| {
        Error::usage(format!(
            "--gpu {}: expected auto, nvidia, amd, intel or a PCI address",
            opts.gpu
        ))
    })?;
    let root = Root::from_option(opts.root.as_deref());
    let notice = |text: &str| {
        if !opts.quiet {
            output::warn(name, text);
        }
    };

    let gpus = session::gpus(&root).unwrap_or_else(|| gpu::scan(&root, Depth::Launch));
    let (env, target) = match offload::plan(&gpus, selector, &root)? {
        Plan::Offload { gpu, env } => (env, Some(gpu)),
        Plan::AlreadyDefault(_) => (Vec::new(), None),
        Plan::NoTarget(reason) if opts.strict => {
            return Err(Error::failed(format!("no GPU to offload to: {reason}")))
        }
        Plan::NoTarget(reason) => {
            let program = program.to_string_lossy();
            notice(&format!("{reason}; running {program} without offload"));
            (Vec::new(), None)
        }
    };
    let mut argv: Vec<OsString> = command.to_vec();
    if let Some(target) = target {
        let profiles = Profiles::load(&root, |text| notice(&text))?;
        if let Some(node) = render_node_argument(&profiles, &argv, &root, target) {
            argv.insert(1, node);
        }
    }
    // Variables the user already set win.
    let added: Vec<(&str, String)> = env
        .into_iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if opts.dry_run {
        output::emit(&dry_run_text(&added, &argv))?;
        return Ok(0);
    }
    Err(exec(program, argv, &added))
}

/// `--render-node-override=NODE` for a Chromium-like program that was not given one.
fn render_node_argument(
    profiles: &Profiles,
    argv: &[OsString],
    root: &Root,
    target: &gpu::Gpu,
) -> Option<OsString> {
    let program = argv.first()?.as_bytes();
    let has_node = argv
        .iter()
        .any(|a| a.as_bytes().starts_with(b"--render-node-override"));
    if profiles.for_program(program) != Profile::Chromium || has_node {
        return None;
    }
    let node = gpu::render_node_of(root, target)?;
    Some(format!("--render-node-override={node}").into())
}

/// `--dry-run`: the variables as NAME=value lines, then the command line, shell-quoted.
fn dry_run_text(added: &[(&str, String)], argv: &[OsString]) -> String {
    let mut text: String = added
        .iter()
        .map(|(k, v)| output::env_line(k, v.as_bytes()))
        .collect();
    let words: Vec<String> = argv.iter().map(|a| output::quote(a.as_bytes())).collect();
    text.push_str(&words.join(" "));
    text.push('\n');
    text
}

/// Replaces the process with the program; returns only the error, with the shell's statuses.
fn exec(program: &OsString, argv: Vec<OsString>, added: &[(&str, String)]) -> Error {
    let shown = program.to_string_lossy();
    let cstr = |bytes: Vec<u8>| CString::new(bytes).ok();
    let argv: Option<Vec<CString>> = argv.into_iter().map(|a| cstr(a.into_vec())).collect();
    // Arguments from argv cannot hold NUL bytes; this is only defensive.
    let (Some(file), Some(argv)) = (cstr(program.as_bytes().to_vec()), argv) else {
        return Error::new(
            error::CANNOT_EXECUTE,
            format!("{shown}: argument holds a NUL byte"),
        );
    };
    let added: Vec<CString> = added
        .iter()
        .filter_map(|(k, v)| cstr(format!("{k}={v}").into_bytes()))
        .collect();
    if file.as_bytes().is_empty() {
        return Error::new(error::NOT_FOUND, "'': command not found");
    }
    // Returns only on failure. The environment is this process's, passed on where it is, then
    // the added variables (none already set: main left those out); no std::env::set_var, whose
    // safety rests on this process having one thread.
    let err = hwc_sys::process::exec_with_env(&file, &argv, &added);
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            let what = if file.as_bytes().contains(&b'/') {
                "No such file or directory"
            } else {
                "command not found"
            };
            Error::new(error::NOT_FOUND, format!("{shown}: {what}"))
        }
        _ => Error::new(
            error::CANNOT_EXECUTE,
            format!("{shown}: {}", error::describe_io(&err)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn split_stops_at_first_non_option() {
        let a = words(&["--gpu", "nvidia", "-q", "chromium", "--gpu", "x"]);
        let (o, c) = split_command(&a);
        assert_eq!(o, &a[..3]);
        assert_eq!(c, &a[3..]);
    }

    #[test]
    fn split_double_dash_and_value_forms() {
        let a = words(&["--root=/x", "--", "--weird-program", "-v"]);
        let (o, c) = split_command(&a);
        assert_eq!(o, &a[..1]);
        assert_eq!(c, &a[2..]);
        let a = words(&["--gpu"]);
        let (o, c) = split_command(&a);
        assert_eq!((o.len(), c.len()), (1, 0));
        let a = words(&["-", "x"]);
        assert_eq!(split_command(&a).1, &a[..]);
    }
}

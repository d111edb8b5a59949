//! install/initrd: the dracut module and the mkinitcpio hook as install.sh installs them. Each
//! finds hwc through the path install.sh recorded in it, not through the builder's PATH (dracut's
//! is /sbin /bin /usr/sbin /usr/bin, mkinitcpio's its own); a real dracut builds an image at the
//! default prefix and at a custom one; a hook belongs to the prefix that installed it.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// install.sh at `prefix` with the built binary and the hook of `kind` in `hook_dir`.
fn install_hook(prefix: &Path, kind: &str, hook_dir: &Path) -> Output {
    install_sh(&[
        "--prefix",
        s(prefix),
        "--binary",
        s(&hwc()),
        "--initrd",
        kind,
        "--initrd-dir",
        s(hook_dir),
    ])
}

fn uninstall(prefix: &Path) -> Output {
    install_sh(&["--prefix", s(prefix), "--uninstall"])
}

fn ok(o: &Output, what: &str) {
    assert_eq!(code(o), 0, "{what}: {}{}", stdout(o), stderr(o));
}

/// Runs `script` in bash with PATH set to `path` only, as the initrd builders run their hooks.
fn bash_with_path(script: &str, path: &str) -> Output {
    Command::new("/bin/bash")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", path)
        .output()
        .unwrap()
}

/// dracut's PATH while it sources modules (dracut resets it to DRACUT_PATH).
const DRACUT_PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin";
/// The PATH the mkinitcpio hook is checked under.
const MKINITCPIO_PATH: &str = "/usr/bin:/bin";

/// Sources the dracut module with stand-ins for dracut's functions; prints "check N", what
/// install() asked for, and "install N".
fn run_dracut_module(module: &Path) -> Output {
    bash_with_path(
        &format!(
            "derror() {{ echo \"derror $*\" >&2; }}; \
             inst_binary() {{ echo \"binary $1 $2\"; }}; ln_r() {{ echo \"link $1 $2\"; }}; \
             . '{}'; check; echo \"check $?\"; install; echo \"install $?\"",
            module.display()
        ),
        DRACUT_PATH,
    )
}

#[test]
fn dracut_module_uses_the_recorded_path_not_path() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let dir = t.path().join("modules.d/90hwc");
    ok(&install_hook(&prefix, "dracut", &dir), "install");
    let module = dir.join("module-setup.sh");
    assert_eq!(
        code(
            &Command::new("bash")
                .arg("-n")
                .arg(&module)
                .output()
                .unwrap()
        ),
        0
    );

    let o = run_dracut_module(&module);
    let out = stdout(&o);
    assert!(
        out.contains("check 255\n"),
        "opt-in, and hwc is found: {out}{}",
        stderr(&o)
    );
    let bin = prefix.join("bin/hwc");
    assert!(
        out.contains(&format!("binary {} /usr/bin/hwc\n", bin.display())),
        "{out}"
    );
    for applet in APPLETS {
        assert!(
            out.contains(&format!("link /usr/bin/hwc /usr/bin/{applet}\n")),
            "{applet} missing: {out}"
        );
    }
    assert!(out.contains("install 0\n"), "{out}");

    // Really missing: check refuses and says what it looked for.
    fs::remove_file(&bin).unwrap();
    let o = run_dracut_module(&module);
    assert!(stdout(&o).contains("check 1\n"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("derror hwc: {}", bin.display())),
        "{}",
        stderr(&o)
    );
    ok(&uninstall(&prefix), "uninstall");
    assert!(!t.path().join("modules.d").exists(), "the module is gone");
}

#[test]
fn dracut_module_from_a_package_looks_in_path_and_names_it() {
    // The repository's copy (placeholder left in), hwc on no directory of dracut's PATH.
    let module = repo().join("install/initrd/dracut/90hwc/module-setup.sh");
    let o = run_dracut_module(&module);
    assert!(stdout(&o).contains("check 1\n"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("no hwc in PATH ({DRACUT_PATH})")),
        "{}",
        stderr(&o)
    );
}

/// Sources the mkinitcpio hook with stand-ins for mkinitcpio's functions that behave like its
/// own (add_binary fails for a file that is not there; a failing add_* is a build error, counted
/// by the same RETURN trap mkinitcpio sets) and prints "build STATUS errors COUNT".
fn run_mkinitcpio_hook(hook: &Path) -> Output {
    bash_with_path(
        &format!(
            r#"error() {{ local m=$1; shift; printf "==> ERROR: $m\n" "$@" >&2; return 1; }}
add_binary() {{
    local binary=$1
    if [[ ${{binary:0:1}} != / ]]; then
        binary=$(type -P "$1") || {{ error "binary not found: '%s'" "$1"; return 1; }}
    fi
    [[ -f $binary ]] || {{ error "file not found: '%s'" "$binary"; return 1; }}
    echo "add_binary $binary ${{2:-$binary}}"
}}
add_symlink() {{ echo "add_symlink $1 $2"; }}
add_module() {{ echo "add_module $1"; }}
declare -i _builderrors=0
. '{}'
set -o functrace
trap '(( $? )) && [[ $FUNCNAME = add_* ]] && (( ++_builderrors ))' RETURN
build
status=$?
trap - RETURN
echo "build $status errors $_builderrors""#,
            hook.display()
        ),
        MKINITCPIO_PATH,
    )
}

#[test]
fn mkinitcpio_hook_uses_the_recorded_path_not_path() {
    let t = tempfile::tempdir().unwrap();
    let prefix = t.path().join("prefix");
    let dir = t.path().join("initcpio/install");
    ok(&install_hook(&prefix, "mkinitcpio", &dir), "install");
    let hook = dir.join("hwc");
    assert_eq!(
        code(&Command::new("bash").arg("-n").arg(&hook).output().unwrap()),
        0
    );

    let o = run_mkinitcpio_hook(&hook);
    let out = stdout(&o);
    assert!(out.contains("build 0 errors 0\n"), "{out}{}", stderr(&o));
    let bin = prefix.join("bin/hwc");
    assert!(
        out.contains(&format!("add_binary {} /usr/bin/hwc\n", bin.display())),
        "add_binary gets the recorded absolute path: {out}"
    );
    for applet in APPLETS {
        assert!(
            out.contains(&format!("add_symlink /usr/bin/{applet} hwc\n")),
            "{applet} missing: {out}"
        );
    }
    // The kernel modules of the links hwc-netlink makes, each optional (built in: no module).
    for module in ["bridge", "veth", "8021q", "dummy"] {
        assert!(
            out.contains(&format!("add_module {module}?\n")),
            "{module} missing: {out}"
        );
    }

    // Unresolvable: build fails, and mkinitcpio counts it (it ignores build's own status).
    fs::remove_file(&bin).unwrap();
    let o = run_mkinitcpio_hook(&hook);
    let out = stdout(&o);
    let last = out.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("build "), "{out}");
    assert!(!last.starts_with("build 0 "), "build fails: {out}");
    assert!(
        !last.ends_with(" errors 0"),
        "counted as a build error: {out}"
    );
    assert!(
        stderr(&o).contains(&format!("hwc: {}, where install.sh", bin.display())),
        "{}",
        stderr(&o)
    );
    ok(&uninstall(&prefix), "uninstall");
}

#[test]
fn mkinitcpio_hook_from_a_package_fails_the_build_without_hwc() {
    let hook = repo().join("install/initrd/mkinitcpio/hwc");
    let o = run_mkinitcpio_hook(&hook);
    let out = stdout(&o);
    assert!(!out.contains("build 0 "), "build fails: {out}");
    assert!(!out.contains(" errors 0"), "counted: {out}");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("no hwc in PATH ({MKINITCPIO_PATH})")),
        "{err}"
    );
    assert!(err.contains("binary not found: 'hwc'"), "{err}");
}

/// The hook file each kind installs into its directory.
fn hook_file(kind: &str, dir: &Path) -> PathBuf {
    dir.join(if kind == "dracut" {
        "module-setup.sh"
    } else {
        "hwc"
    })
}

#[test]
fn a_hook_belongs_to_the_prefix_that_installed_it() {
    for kind in ["dracut", "mkinitcpio"] {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        let dir = t.path().join("hooks");
        let hook = hook_file(kind, &dir);
        ok(&install_hook(&a, kind, &dir), "install a");
        let text_a = fs::read_to_string(&hook).unwrap();
        assert!(text_a.contains(&format!("'{}/bin/hwc'", a.display())));

        // b may not take it over: one line naming the owner and the ways out.
        let o = install_hook(&b, kind, &dir);
        assert_eq!(code(&o), 1, "{kind}: {}", stderr(&o));
        assert_one_line_error(&o);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("installed in {}", a.display())),
            "{err}"
        );
        assert!(
            err.contains("--uninstall") && err.contains("--initrd-dir"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(&hook).unwrap(),
            text_a,
            "{kind}: untouched"
        );
        assert!(!b.exists(), "{kind}: the refused install wrote nothing");
        // Running a's install again is fine.
        ok(&install_hook(&a, kind, &dir), "install a again");

        // b's own place works beside it.
        let dir_b = t.path().join("hooks-b");
        ok(&install_hook(&b, kind, &dir_b), "install b elsewhere");

        // A hook b once installed here and a has installed since (after the file was removed
        // by hand): b's uninstall keeps a's hook.
        ok(&uninstall(&a), "uninstall a");
        ok(&install_hook(&b, kind, &dir), "install b here");
        fs::remove_file(hook_file(kind, &dir)).unwrap();
        ok(
            &install_hook(&a, kind, &dir),
            "install a over the removed hook",
        );
        let o = uninstall(&b);
        ok(&o, "uninstall b");
        assert!(stderr(&o).contains("kept"), "{}", stderr(&o));
        assert_eq!(
            fs::read_to_string(&hook).unwrap(),
            text_a,
            "{kind}: a's hook kept"
        );
        assert!(!dir_b.exists(), "{kind}: b's other hook is gone");
        ok(&uninstall(&a), "uninstall a");
        // (The hooks directory b created stays: a did not create it, and it was not empty
        // when b left.)
        assert_eq!(
            files_under(t.path()),
            Vec::<PathBuf>::new(),
            "{kind}: nothing left"
        );
    }
}

#[test]
fn a_hook_install_sh_did_not_write_is_not_replaced_or_removed() {
    for kind in ["dracut", "mkinitcpio"] {
        // A distribution package's copy: the repository's hook, placeholder and all.
        let package = fs::read_to_string(repo().join(if kind == "dracut" {
            "install/initrd/dracut/90hwc/module-setup.sh"
        } else {
            "install/initrd/mkinitcpio/hwc"
        }))
        .unwrap();
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("hooks");
        let hook = hook_file(kind, &dir);
        let prefix = t.path().join("p");
        fs::create_dir(&dir).unwrap();
        for theirs in [package.as_str(), "# someone's own hook\n"] {
            fs::write(&hook, theirs).unwrap();
            let o = install_hook(&prefix, kind, &dir);
            assert_eq!(code(&o), 1, "{kind}: {}", stderr(&o));
            assert_one_line_error(&o);
            assert!(stderr(&o).contains("--initrd-dir"), "{}", stderr(&o));
            assert_eq!(fs::read_to_string(&hook).unwrap(), theirs);
            assert!(!prefix.exists(), "{kind}: nothing written");
        }

        // Installed here, then replaced by a package's copy: uninstall keeps that.
        fs::remove_file(&hook).unwrap();
        ok(&install_hook(&prefix, kind, &dir), "install");
        fs::write(&hook, &package).unwrap();
        let o = uninstall(&prefix);
        ok(&o, "uninstall");
        assert!(stderr(&o).contains("kept"), "{}", stderr(&o));
        assert_eq!(fs::read_to_string(&hook).unwrap(), package);
    }
}

#[test]
fn a_refused_hook_install_leaves_nothing_for_uninstall_to_remove() {
    // What the default-prefix test's guard does after a failed install, at a prefix of its own:
    // a program of the user's under an applet's name stops the install before anything is
    // written, so the uninstall after it finds nothing, and the program stays.
    for kind in ["dracut", "mkinitcpio"] {
        let t = tempfile::tempdir().unwrap();
        let prefix = t.path().join("usr-local");
        let dir = t.path().join("hooks");
        let mine = prefix.join("bin/hwc-netlink");
        fs::create_dir_all(mine.parent().unwrap()).unwrap();
        fs::write(&mine, "#!/bin/sh\necho mine\n").unwrap();
        let o = install_hook(&prefix, kind, &dir);
        assert_eq!(code(&o), 1, "{kind}: {}{}", stdout(&o), stderr(&o));
        let o2 = uninstall(&prefix);
        assert_eq!(
            fs::read_to_string(&mine).unwrap(),
            "#!/bin/sh\necho mine\n",
            "{kind}: the user's program is kept"
        );
        assert_eq!(
            code(&o2),
            1,
            "{kind}: nothing to uninstall: {}",
            stderr(&o2)
        );
        assert_one_line_error(&o);
        assert!(stderr(&o).contains(s(&mine)), "{}", stderr(&o));
        assert_eq!(
            files_under(t.path()),
            vec![mine.clone()],
            "{kind}: nothing written"
        );
    }
}

// A real dracut.

fn have_dracut() -> bool {
    if !is_root() {
        skip("building an initrd with dracut and chroot into it needs root");
        return false;
    }
    have("dracut") && have("lsinitrd")
}

/// The dracut command line the tests build with: only the hwc module, no kernel, no microcode,
/// no compression, no configuration from the host; `basedir` replaces /usr/lib/dracut.
fn dracut(work: &Path, basedir: Option<&Path>, image: &Path) -> Output {
    let confdir = work.join("dracut.conf.d");
    let tmp = work.join("dracut-tmp");
    fs::create_dir_all(&confdir).unwrap();
    fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new("dracut");
    cmd.args([
        "--no-kernel",
        "--no-early-microcode",
        "--no-compress",
        "--no-hostonly",
        "--modules",
        "hwc",
        "--conf",
        "/dev/null",
        "--confdir",
    ])
    .arg(&confdir)
    .arg("--tmpdir")
    .arg(&tmp)
    .arg("--force")
    .arg(image);
    if let Some(dir) = basedir {
        cmd.env("dracutbasedir", dir);
    }
    cmd.output().unwrap()
}

/// The image holds hwc and its links, and they run inside it.
fn assert_image_runs_hwc(image: &Path, work: &Path) {
    let o = Command::new("lsinitrd").arg(image).output().unwrap();
    ok(&o, "lsinitrd");
    let listing = stdout(&o);
    assert!(
        listing.lines().any(|l| l.ends_with(" usr/bin/hwc")),
        "{listing}"
    );
    for applet in APPLETS {
        assert!(
            listing.contains(&format!(" usr/bin/{applet} -> hwc\n")),
            "{applet} missing: {listing}"
        );
    }
    let root = work.join("unpacked");
    fs::create_dir(&root).unwrap();
    let o = Command::new("lsinitrd")
        .arg("--unpack")
        .arg(image)
        .current_dir(&root)
        .output()
        .unwrap();
    ok(&o, "lsinitrd --unpack");
    let o = Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/hwc", "--list"])
        .output()
        .unwrap();
    ok(&o, "hwc --list in the image");
    let mut listed: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    let mut expected: Vec<String> = APPLETS.iter().map(|a| a.to_string()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    let o = Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/hwc-netlink", "--help"])
        .output()
        .unwrap();
    ok(&o, "hwc-netlink --help through its link in the image");
    assert!(stdout(&o).contains("hwc-netlink"), "{}", stdout(&o));
}

#[test]
fn dracut_builds_an_image_with_hwc_at_a_custom_prefix() {
    if !have_dracut() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // dracut takes its modules from $dracutbasedir/modules.d: a base of its own, the rest of
    // /usr/lib/dracut linked in.
    let base = dracut_base(t.path(), false);
    let prefix = t.path().join("opt-hwc");
    ok(
        &install_hook(&prefix, "dracut", &base.join("modules.d/90hwc")),
        "install",
    );
    let image = t.path().join("initrd.img");
    let start = std::time::Instant::now();
    let o = dracut(t.path(), Some(&base), &image);
    eprintln!("dracut (custom prefix) took {:?}", start.elapsed());
    ok(&o, "dracut");
    assert_image_runs_hwc(&image, t.path());

    // Without the binary dracut refuses the module, naming where it looked.
    let bin = prefix.join("bin/hwc");
    fs::rename(&bin, t.path().join("hwc.away")).unwrap();
    let o = dracut(t.path(), Some(&base), &t.path().join("none.img"));
    assert_ne!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("hwc: {}", bin.display())),
        "{}",
        stderr(&o)
    );
    fs::rename(t.path().join("hwc.away"), &bin).unwrap();
    ok(&uninstall(&prefix), "uninstall");
    assert_eq!(
        fs::read_dir(base.join("modules.d")).unwrap().count(),
        0,
        "the module is gone"
    );
}

/// Names under each of `dirs` (not recursive), to show the machine is left as found.
fn snapshot(dirs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for d in dirs {
        out.push(format!("{d}: exists={}", Path::new(d).exists()));
        if let Ok(entries) = fs::read_dir(d) {
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| format!("{d}/{}", e.file_name().to_string_lossy()))
                .collect();
            names.sort();
            out.extend(names);
        }
    }
    out
}

/// Uninstalls from the default prefix when dropped, so a failing test leaves nothing behind.
struct DefaultPrefixInstall;

impl Drop for DefaultPrefixInstall {
    fn drop(&mut self) {
        let _ = install_sh(&["--uninstall"]);
    }
}

#[test]
fn dracut_builds_an_image_with_hwc_at_the_default_prefix() {
    if !have_dracut() {
        return;
    }
    // Anything of the developer's where it would install: install.sh would stop without
    // writing (and the guard's uninstall would find nothing), but the test does not even try.
    let applets = APPLETS.map(|a| format!("/usr/local/bin/{a}"));
    for taken in [
        "/usr/local/bin/hwc",
        "/usr/local/share/hwc",
        "/usr/lib/dracut/modules.d/90hwc",
    ]
    .into_iter()
    .chain(applets.iter().map(String::as_str))
    {
        if Path::new(taken).exists() || Path::new(taken).is_symlink() {
            skip(&format!(
                "{taken} exists; this test installs there and will not touch it"
            ));
            return;
        }
    }
    let watched = [
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/share",
        "/usr/lib/dracut/modules.d",
    ];
    let before = snapshot(&watched);
    let t = tempfile::tempdir().unwrap();
    let guard = DefaultPrefixInstall;
    // No --prefix: root's default, /usr/local, whose bin is on no directory of dracut's PATH.
    let o = install_sh(&["--binary", s(&hwc()), "--initrd", "dracut"]);
    ok(&o, "install");
    let module = fs::read_to_string("/usr/lib/dracut/modules.d/90hwc/module-setup.sh").unwrap();
    assert!(module.contains("'/usr/local/bin/hwc'"), "{module}");
    let image = t.path().join("initrd.img");
    let start = std::time::Instant::now();
    let o = dracut(t.path(), None, &image);
    eprintln!("dracut (/usr/local) took {:?}", start.elapsed());
    ok(&o, "dracut");
    assert_image_runs_hwc(&image, t.path());
    drop(guard);
    assert_eq!(snapshot(&watched), before, "the machine is left as found");
}

//! hwc-perms against the kernel and acl's own tools: access verdicts compared with what the kernel
//! answers for the same user (setpriv + test), grant/revoke compared with setfacl on twin files,
//! show compared with getfacl -p, and groups over fixture account files.

mod common;

use common::*;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A user with supplementary groups and one without.
const WITH: (u32, u32, &str) = (4242, 4243, "tuser");
const SOLO: (u32, u32, &str) = (4244, 4245, "tsolo");
const UIDS: [u32; 4] = [4242, 4244, 5001, 0];
const GIDS: [u32; 5] = [4243, 4245, 5002, 5003, 5004];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// A root directory (0755, so the test users can reach it) with the two users.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    fs::set_permissions(r, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(r.join("etc")).unwrap();
    fs::create_dir_all(r.join("data")).unwrap();
    fs::set_permissions(r.join("data"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        r.join("etc/passwd"),
        format!("root:x:0:0::/root:/bin/sh\n{}:x:{}:{}::/h:/bin/sh\n{}:x:{}:{}::/h:/bin/sh\nother:x:5001:5004::/h:/bin/sh\n", WITH.2, WITH.0, WITH.1, SOLO.2, SOLO.0, SOLO.1),
    )
    .unwrap();
    fs::write(
        r.join("etc/group"),
        format!(
            "root:x:0:\n{}:x:{}:\n{}:x:{}:\nsupp:x:5002:{}\nsupp2:x:5003:{}\nothers:x:5004:\n",
            WITH.2, WITH.1, SOLO.2, SOLO.1, WITH.2, WITH.2
        ),
    )
    .unwrap();
    dir
}

/// The xattr value, encoded here independently of hwc's codec.
fn acl_blob(entries: &[(u16, u32, u16)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, id, perm) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

fn set_acl(path: &Path, entries: &[(u16, u32, u16)]) {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let blob = acl_blob(entries);
    let r = hwc_sys::fs::setxattr(&p, c"system.posix_acl_access", &blob);
    assert!(r.is_ok(), "setxattr {}: {:?}", path.display(), r);
}

/// A random node: owner, group, mode, and often an ACL with named users, groups and a mask that
/// is sometimes recalculated and sometimes arbitrary.
fn random_node(rng: &mut Rng, path: &Path) {
    fs::write(path, "x").unwrap();
    std::os::unix::fs::chown(path, Some(rng.pick(&UIDS)), Some(rng.pick(&GIDS))).unwrap();
    fs::set_permissions(
        path,
        fs::Permissions::from_mode((rng.next() % 0o1000) as u32),
    )
    .unwrap();
    if rng.next() % 10 < 7 {
        let perm = |rng: &mut Rng| (rng.next() % 8) as u16;
        let mut e = vec![(1u16, u32::MAX, perm(rng))];
        let mut users: Vec<u32> = UIDS
            .iter()
            .copied()
            .filter(|_| rng.next().is_multiple_of(3))
            .collect();
        users.sort();
        for u in users {
            e.push((2, u, perm(rng)));
        }
        e.push((4, u32::MAX, perm(rng)));
        let mut groups: Vec<u32> = GIDS
            .iter()
            .copied()
            .filter(|_| rng.next().is_multiple_of(3))
            .collect();
        groups.sort();
        for g in groups {
            e.push((8, g, perm(rng)));
        }
        let named = e.len() > 2;
        if named || rng.next().is_multiple_of(2) {
            e.push((0x10, u32::MAX, perm(rng)));
        }
        e.push((0x20, u32::MAX, perm(rng)));
        set_acl(path, &e);
    }
}

/// "rwx" / "r--" ... for each path as the kernel answers for the user.
fn kernel_answers(user: (u32, u32, &str), groups: &[u32], paths: &[PathBuf]) -> Vec<String> {
    let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
    let script = "for f; do r=-; w=-; x=-; /usr/bin/test -r \"$f\" && r=r; /usr/bin/test -w \"$f\" && w=w; /usr/bin/test -x \"$f\" && x=x; echo \"$r$w$x\"; done";
    let out = Command::new("setpriv")
        .arg(format!("--reuid={}", user.0))
        .arg(format!("--regid={}", user.1))
        .arg(format!("--groups={}", groups.join(",")))
        .args(["--", "sh", "-c", script, "sh"])
        .args(paths)
        .output()
        .unwrap();
    assert!(out.status.success(), "setpriv: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

fn predicted(root: &Path, user: &str, shown: &[String]) -> Vec<(String, String)> {
    let out = Command::new(hwc())
        .args(["hwc-perms", "access", "--json", "--user", user, "--root"])
        .arg(root)
        .args(shown)
        .output()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    doc["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let bit = |k: &str, c: char| if p[k] == true { c } else { '-' };
            (
                format!(
                    "{}{}{}",
                    bit("read", 'r'),
                    bit("write", 'w'),
                    bit("execute", 'x')
                ),
                p["via"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn needs(what: &str) -> bool {
    if !is_root() {
        skip(&format!("{what} needs root (tests/run runs as root)"));
        return false;
    }
    have("setpriv") && have("setfacl") && have("getfacl")
}

#[test]
fn access_matches_the_kernel_on_600_random_nodes() {
    if !needs("the kernel comparison") {
        return;
    }
    let root = fixture();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let n = 600;
    let real: Vec<PathBuf> = (0..n)
        .map(|i| root.path().join(format!("data/f{i}")))
        .collect();
    // Paths as given are taken as they are; --root only says where /etc/passwd is.
    let shown: Vec<String> = real.iter().map(|p| p.display().to_string()).collect();
    for p in &real {
        random_node(&mut rng, p);
    }
    let mut mismatches = Vec::new();
    for (user, groups) in [(WITH, vec![WITH.1, 5002, 5003]), (SOLO, vec![SOLO.1])] {
        let kernel = kernel_answers(user, &groups, &real);
        let ours = predicted(root.path(), user.2, &shown);
        assert_eq!((kernel.len(), ours.len()), (n, n));
        for (i, (k, (o, via))) in kernel.iter().zip(&ours).enumerate() {
            if k != o {
                let acl = Command::new("getfacl")
                    .arg("-pn")
                    .arg(&real[i])
                    .output()
                    .unwrap();
                mismatches.push(format!(
                    "{} f{i}: kernel {k}, hwc {o} via {via}\n{}",
                    user.2,
                    stdout(&acl)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn search_permission_on_the_way_is_checked() {
    if !needs("this test") {
        return;
    }
    let root = fixture();
    let dir = root.path().join("data/locked");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("f"), "x").unwrap();
    fs::set_permissions(dir.join("f"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let ours = predicted(root.path(), WITH.2, &[dir.join("f").display().to_string()]);
    assert_eq!(ours[0].0, "---");
    assert!(
        ours[0]
            .1
            .contains(&format!("no search permission on {}", dir.display())),
        "{}",
        ours[0].1
    );
    assert_eq!(kernel_answers(WITH, &[WITH.1], &[dir.join("f")]), ["---"]);
}

fn getfacl_entries(path: &Path) -> String {
    let out = Command::new("getfacl")
        .args(["-p", "-n"])
        .arg(path)
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("# file:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn grant_and_revoke_equal_setfacl_on_twin_files() {
    if !needs("the setfacl comparison") {
        return;
    }
    let root = fixture();
    let mut rng = Rng(0xfeed_f00d_dead_beef);
    for i in 0..120 {
        let ours = root.path().join(format!("data/ours{i}"));
        let theirs = root.path().join(format!("data/theirs{i}"));
        let mut twin = Rng(rng.next());
        let seed = twin.0;
        random_node(&mut twin, &ours);
        random_node(&mut Rng(seed), &theirs);
        assert_eq!(
            getfacl_entries(&ours),
            getfacl_entries(&theirs),
            "twins start equal"
        );
        let perms = rng.pick(&["r", "rw", "rwx"]);
        let target = rng.pick(&[WITH, SOLO]);
        let o = Command::new(hwc())
            .args([
                "hwc-perms",
                "grant",
                "--user",
                target.2,
                "--perms",
                perms,
                "--root",
            ])
            .arg(root.path())
            .arg(&ours)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let s = Command::new("setfacl")
            .arg("-m")
            .arg(format!("u:{}:{perms}", target.0))
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(s.success());
        assert_eq!(
            getfacl_entries(&ours),
            getfacl_entries(&theirs),
            "grant {perms} to {} on case {i}",
            target.2
        );

        let o = Command::new(hwc())
            .args(["hwc-perms", "revoke", "--user", target.2, "--root"])
            .arg(root.path())
            .arg(&ours)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let s = Command::new("setfacl")
            .arg("-x")
            .arg(format!("u:{}", target.0))
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(s.success());
        assert_eq!(
            getfacl_entries(&ours),
            getfacl_entries(&theirs),
            "revoke from {} on case {i}",
            target.2
        );
    }
}

#[test]
fn grant_is_idempotent() {
    if !needs("this test") {
        return;
    }
    let root = fixture();
    let f = root.path().join("data/dev");
    fs::write(&f, "").unwrap();
    let run = |verb: &str| {
        let mut cmd = Command::new(hwc());
        cmd.args(["hwc-perms", verb, "--user", WITH.2, "--root"])
            .arg(root.path())
            .arg(&f);
        if verb == "grant" {
            cmd.args(["--perms", "rw"]);
        }
        cmd.output().unwrap()
    };
    assert!(stdout(&run("grant")).contains("user:tuser:rw- granted"));
    assert!(stdout(&run("grant")).contains("unchanged"));
    assert!(stdout(&run("revoke")).contains("revoked"));
    assert!(stdout(&run("revoke")).contains("unchanged"));
}

#[test]
fn show_equals_getfacl() {
    if !needs("the getfacl comparison") {
        return;
    }
    let root = fixture();
    let mut rng = Rng(0x0bad_cafe_1234_5678);
    let mut paths = Vec::new();
    for i in 0..80 {
        let p = root.path().join(format!("data/s{i}"));
        random_node(&mut rng, &p);
        paths.push(p);
    }
    let dir = root.path().join("data/withdefault");
    fs::create_dir(&dir).unwrap();
    assert!(Command::new("setfacl")
        .args(["-d", "-m", "u:4242:rx,g:5002:r"])
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o3775)).unwrap();
    paths.push(dir);
    // Names come from the system's /etc/passwd for both, where the test ids have none.
    let ours = Command::new(hwc())
        .args(["hwc-perms", "show"])
        .args(&paths)
        .output()
        .unwrap();
    let theirs = Command::new("getfacl")
        .arg("-p")
        .args(&paths)
        .output()
        .unwrap();
    assert_eq!(code(&ours), 0, "{}", stderr(&ours));
    assert_eq!(stdout(&ours), stdout(&theirs));
}

#[test]
fn symlinks_are_refused() {
    let root = fixture();
    let target = root.path().join("data/target");
    fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink("target", root.path().join("data/link")).unwrap();
    let o = Command::new(hwc())
        .args(["hwc-perms", "grant", "--user", WITH.2, "--root"])
        .arg(root.path())
        .arg(root.path().join("data/link"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("/data/link: is a symbolic link; refusing"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_capability_is_named() {
    if !needs("this test") {
        return;
    }
    let root = fixture();
    let f = root.path().join("data/rootfile");
    fs::write(&f, "").unwrap();
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={}", WITH.0),
            &format!("--regid={}", WITH.1),
            "--clear-groups",
            "--",
        ])
        .arg(hwc())
        .args(["hwc-perms", "grant", "--user", SOLO.2, "--root"])
        .arg(root.path())
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("needs ownership (owner is uid 0) or CAP_FOWNER"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_user_and_missing_path() {
    let root = fixture();
    let o = Command::new(hwc())
        .args(["hwc-perms", "grant", "--user", "nobody-such", "--root"])
        .arg(root.path())
        .arg("/data")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("user 'nobody-such' is not in /etc/passwd"));
    let o = Command::new(hwc())
        .args(["hwc-perms", "access", "--user", WITH.2, "--root"])
        .arg(root.path())
        .arg(root.path().join("data/none"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("/data/none: No such file or directory"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(hwc())
        .args([
            "hwc-perms",
            "grant",
            "--user",
            WITH.2,
            "--perms",
            "rwz",
            "/x",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

fn groups_root(group_file: &str, conf: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/hwc")).unwrap();
    fs::write(
        dir.path().join("etc/passwd"),
        "eric:x:1000:100::/home/eric:/bin/sh\n",
    )
    .unwrap();
    fs::write(dir.path().join("etc/group"), group_file).unwrap();
    if let Some(c) = conf {
        fs::write(dir.path().join("etc/hwc/perms.conf"), c).unwrap();
    }
    dir
}

fn groups(root: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(hwc())
        .args(["hwc-perms", "groups", "--user", "eric", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn groups_reports_gaps_with_fixes_and_exit_codes() {
    let all = "users:x:100:\naudio:x:17:eric\nvideo:x:26:eric\nrender:x:303:eric\ninput:x:174:eric\ndialout:x:27:eric\nkvm:x:302:eric\nplugdev:x:46:eric\n";
    let r = groups_root(all, None);
    let o = groups(r.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));

    let gap = "users:x:100:\naudio:x:17:eric\nvideo:x:26:\nrender:x:303:\ninput:x:174:eric\ndialout:x:27:\nkvm:x:302:eric\n";
    let r = groups_root(gap, None);
    let o = groups(r.path(), &[]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(
        text.contains("users.users.eric.extraGroups = [ \"video\" \"render\" \"dialout\" ];"),
        "{text}"
    );
    assert!(
        text.contains("usermod -aG video,render,dialout eric"),
        "{text}"
    );
    let o = groups(r.path(), &["--json", "--want", "media"]);
    assert_eq!(code(&o), 1);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["sets"].as_array().unwrap().len(), 1);
    assert_eq!(doc["sets"][0]["has"], serde_json::json!(["audio"]));
    assert_eq!(
        doc["sets"][0]["lacks"],
        serde_json::json!(["video", "render"])
    );
    assert_eq!(doc["missing"], serde_json::json!(["video", "render"]));
    assert_eq!(doc["command"], "usermod -aG video,render eric");
    let o = groups(r.path(), &["--json", "--want", "hardware"]);
    assert_eq!(
        code(&o),
        0,
        "optional groups that do not exist are no problem: {}",
        stdout(&o)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["sets"][0]["absent_optional"],
        serde_json::json!(["i2c", "gpio", "spi", "sensors"])
    );
    assert!(doc["nixos"].is_null());

    let o = groups(r.path(), &["--want", "gaming"]);
    assert_eq!(code(&o), 2);
    assert_one_line_error(&o);
}

#[test]
fn groups_config_overrides_and_bad_lines() {
    let r = groups_root(
        "users:x:100:\ngamemode:x:900:eric\n",
        Some("gaming = gamemode\nmedia = gamemode\n"),
    );
    let o = groups(r.path(), &["--want", "gaming,media", "--json"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let r = groups_root("users:x:100:\n", Some("media audio\n"));
    let o = groups(r.path(), &[]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("/etc/hwc/perms.conf:1: no '='"),
        "{}",
        stderr(&o)
    );
}

// --- root's writes cannot be redirected ---

/// The ACL and mode of a file, as getfacl prints them (numeric ids).
fn acl_and_mode(path: &Path) -> (String, u32) {
    (
        getfacl_entries(path),
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777,
    )
}

/// A root-owned 0600 file, the prize: `R/secret/target`.
fn root_secret(root: &Path) -> PathBuf {
    let dir = root.join("secret");
    fs::create_dir(&dir).unwrap();
    let f = dir.join("target");
    fs::write(&f, "root's\n").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    f
}

/// `R/home/eve`, owned by the unprivileged user WITH, holding `docs/target` of hers.
fn eves_home(root: &Path) -> PathBuf {
    let home = root.join("home/eve");
    fs::create_dir_all(home.join("docs")).unwrap();
    fs::write(home.join("docs/target"), "eve's\n").unwrap();
    for p in [home.clone(), home.join("docs"), home.join("docs/target")] {
        std::os::unix::fs::lchown(&p, Some(WITH.0), Some(WITH.1)).unwrap();
    }
    home
}

fn perms(args: &[&str], root: &Path, path: &Path) -> std::process::Output {
    Command::new(hwc())
        .arg("hwc-perms")
        .args(args)
        .arg("--root")
        .arg(root)
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn links_in_any_component_or_behind_a_trailing_slash_are_refused() {
    if !needs("this test") {
        return;
    }
    let root = fixture();
    let r = root.path();
    let secret = root_secret(r);
    let home = eves_home(r);
    let before = acl_and_mode(&secret);
    // An earlier component: docs2 -> the root directory.
    std::os::unix::fs::symlink(r.join("secret"), home.join("docs2")).unwrap();
    let o = perms(&["grant", "--user", WITH.2], r, &home.join("docs2/target"));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("docs2: is a symbolic link; refusing to follow it"),
        "{}",
        stderr(&o)
    );
    // A trailing slash on a link to a directory.
    let o = perms(
        &["grant", "--user", WITH.2],
        r,
        Path::new(&format!("{}/", home.join("docs2").display())),
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
    let o = perms(&["revoke", "--user", WITH.2], r, &home.join("docs2/target"));
    assert_eq!(code(&o), 1);
    assert_eq!(acl_and_mode(&secret), before, "the root file is untouched");
    assert_eq!(
        acl_and_mode(&r.join("secret")).1,
        0o755,
        "and so is its directory"
    );
    // Through the real path it works.
    let o = perms(&["grant", "--user", WITH.2], r, &home.join("docs/target"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn relative_paths_are_the_working_directorys_not_the_roots() {
    if !needs("this test") {
        return;
    }
    let root = fixture();
    let r = root.path();
    let work = r.join("work");
    fs::create_dir(&work).unwrap();
    for f in [work.join("target.txt"), r.join("target.txt")] {
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let elsewhere = acl_and_mode(&r.join("target.txt"));
    let run = |args: &[&str]| {
        Command::new(hwc())
            .arg("hwc-perms")
            .args(args)
            .arg("--root")
            .arg(r)
            .arg("target.txt")
            .current_dir(&work)
            .output()
            .unwrap()
    };
    let o = run(&["grant", "--user", WITH.2]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "target.txt: user:tuser:rw- granted\n");
    assert!(getfacl_entries(&work.join("target.txt")).contains("user:4242:rw-"));
    assert_eq!(
        acl_and_mode(&r.join("target.txt")),
        elsewhere,
        "nothing else"
    );
    let o = run(&["access", "--user", WITH.2, "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["paths"][0]["via"], "user:tuser", "{doc}");
    let o = run(&["show"]);
    assert!(stdout(&o).contains("user:tuser:rw-"), "{}", stdout(&o));
}

#[test]
fn a_user_swapping_a_directory_for_a_link_never_reaches_roots_file() {
    if !needs("the race test") || !have("cc") {
        return;
    }
    let root = fixture();
    let r = root.path();
    let secret = root_secret(r);
    let home = eves_home(r);
    std::os::unix::fs::symlink(r.join("secret"), home.join("swap")).unwrap();
    std::os::unix::fs::lchown(home.join("swap"), Some(WITH.0), Some(WITH.1)).unwrap();
    let before = acl_and_mode(&secret);
    let tools = tempfile::tempdir().unwrap();
    let swapper = compile_c(tools.path(), "swapper", SWAPPER_C);
    fs::set_permissions(tools.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // The user's own process, exchanging her directory and her link as fast as it can.
    let mut racer = Command::new("setpriv")
        .arg(format!("--reuid={}", WITH.0))
        .arg(format!("--regid={}", WITH.1))
        .arg("--clear-groups")
        .arg(&swapper)
        .arg(home.join("docs"))
        .arg(home.join("swap"))
        .spawn()
        .unwrap();
    let target = home.join("docs/target");
    let (mut changed, mut refused) = (0, 0);
    for i in 0..2000 {
        let verb = if i % 2 == 0 { "grant" } else { "revoke" };
        let mut args = vec![verb, "--user", WITH.2];
        if verb == "grant" {
            args.extend(["--perms", "rwx"]);
        }
        let o = perms(&args, r, &target);
        match code(&o) {
            0 => changed += 1,
            1 => {
                assert_one_line_error(&o);
                refused += 1;
            }
            other => panic!("status {other}: {}", stderr(&o)),
        }
        if i % 100 == 0 {
            assert_eq!(acl_and_mode(&secret), before, "run {i}");
        }
    }
    let _ = racer.kill();
    let _ = racer.wait();
    eprintln!("2000 runs while racing: {changed} changed the user's file, {refused} refused");
    assert!(
        refused > 0 && changed > 0,
        "the race was live: {changed} changed, {refused} refused"
    );
    assert_eq!(
        acl_and_mode(&secret),
        before,
        "the root file's ACL and mode never changed"
    );
}

// --- ACLs as the kernel holds them ---

#[test]
fn duplicate_entries_are_judged_in_the_kernels_order() {
    if !needs("the kernel comparison") {
        return;
    }
    let root = fixture();
    let r = root.path();
    let m = u32::MAX;
    type Entries = Vec<(u16, u32, u16)>;
    let cases: [(&str, Entries); 3] = [
        // The same user twice: the first entry decides.
        (
            "user-r-then-rw",
            vec![
                (1, m, 6),
                (2, 4242, 4),
                (2, 4242, 6),
                (4, m, 0),
                (0x10, m, 6),
                (0x20, m, 0),
            ],
        ),
        (
            "user-rw-then-r",
            vec![
                (1, m, 6),
                (2, 4242, 6),
                (2, 4242, 4),
                (4, m, 0),
                (0x10, m, 6),
                (0x20, m, 0),
            ],
        ),
        // The same group twice: any one entry holding all that is asked grants it.
        (
            "group-r-and-w",
            vec![
                (1, m, 6),
                (4, m, 0),
                (8, 5002, 4),
                (8, 5002, 2),
                (0x10, m, 6),
                (0x20, m, 0),
            ],
        ),
    ];
    let mut paths = Vec::new();
    for (name, entries) in &cases {
        let p = r.join("data").join(name);
        fs::write(&p, "x").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o660)).unwrap();
        set_acl(&p, entries);
        paths.push(p);
    }
    let kernel = kernel_answers(WITH, &[WITH.1, 5002, 5003], &paths);
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let ours: Vec<String> = predicted(r, WITH.2, &shown)
        .into_iter()
        .map(|(bits, _)| bits)
        .collect();
    assert_eq!(ours, kernel);
    assert_eq!(kernel, ["r--", "rw-", "rw-"], "the cases mean something");
    // show prints them as getfacl does, duplicates included.
    let ours = Command::new(hwc())
        .args(["hwc-perms", "show"])
        .args(&paths)
        .output()
        .unwrap();
    let theirs = Command::new("getfacl")
        .arg("-p")
        .args(&paths)
        .output()
        .unwrap();
    assert_eq!(stdout(&ours), stdout(&theirs));
    // grant refuses, as setfacl does, and changes nothing.
    let before = getfacl_entries(&paths[2]);
    let o = perms(&["grant", "--user", SOLO.2], r, &paths[2]);
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("duplicate entries"), "{}", stderr(&o));
    assert!(!Command::new("setfacl")
        .args(["-m", "u:4244:r"])
        .arg(&paths[2])
        .status()
        .unwrap()
        .success());
    assert_eq!(getfacl_entries(&paths[2]), before);
}

#[test]
fn search_permission_is_checked_on_the_route_the_kernel_walks() {
    if !needs("the kernel comparison") {
        return;
    }
    let root = fixture();
    let d = root.path().join("data");
    fs::write(d.join("open"), "x").unwrap();
    fs::set_permissions(d.join("open"), fs::Permissions::from_mode(0o644)).unwrap();
    // locked/l: a link out of a directory the user may not search.
    fs::create_dir(d.join("locked")).unwrap();
    std::os::unix::fs::symlink("../open", d.join("locked/l")).unwrap();
    fs::set_permissions(d.join("locked"), fs::Permissions::from_mode(0o700)).unwrap();
    // A link that leads through the locked directory, and one around it.
    std::os::unix::fs::symlink("locked/l", d.join("via-locked")).unwrap();
    std::os::unix::fs::symlink("locked/../open", d.join("dotdot")).unwrap();
    std::os::unix::fs::symlink("open", d.join("plain")).unwrap();
    // A link in a sticky world-writable directory, owned by someone else.
    fs::create_dir(d.join("sticky")).unwrap();
    fs::set_permissions(d.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("../open", d.join("sticky/theirs")).unwrap();
    std::os::unix::fs::lchown(d.join("sticky/theirs"), Some(5001), Some(5004)).unwrap();
    let paths: Vec<PathBuf> = ["locked/l", "via-locked", "dotdot", "plain", "sticky/theirs"]
        .iter()
        .map(|p| d.join(p))
        .collect();
    let kernel = kernel_answers(WITH, &[WITH.1], &paths);
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let ours = predicted(root.path(), WITH.2, &shown);
    let bits: Vec<&str> = ours.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(bits, kernel, "{ours:?}");
    assert_eq!(
        &kernel[..4],
        ["---", "---", "---", "r--"],
        "the cases mean something"
    );
    assert!(ours[0].1.contains("no search permission on"), "{ours:?}");
}

#[test]
fn account_and_config_files_that_are_fifos_or_endless_end_the_run_at_once() {
    let root = groups_root("audio:x:17:eric\n", None);
    let r = root.path();
    make_fifo(&r.join("etc/hwc/perms.conf"));
    let o = output_within(
        Command::new(hwc())
            .args(["hwc-perms", "groups", "--user", "eric", "--root"])
            .arg(r),
        Duration::from_secs(10),
    );
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("perms.conf: it is a FIFO, not a regular file"),
        "{}",
        stderr(&o)
    );
    fs::remove_file(r.join("etc/hwc/perms.conf")).unwrap();
    fs::remove_file(r.join("etc/group")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", r.join("etc/group")).unwrap();
    let o = output_within(
        Command::new(hwc())
            .args(["hwc-perms", "groups", "--user", "eric", "--root"])
            .arg(r),
        Duration::from_secs(10),
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("etc/group: it is a character device, not a regular file"),
        "{}",
        stderr(&o)
    );
    fs::remove_file(r.join("etc/passwd")).unwrap();
    make_fifo(&r.join("etc/passwd"));
    for args in [
        &["access", "--user", "eric", "/"][..],
        &["show", "/"],
        &["grant", "--user", "eric", "/nonexistent"],
    ] {
        let o = output_within(
            Command::new(hwc())
                .arg("hwc-perms")
                .args(args)
                .arg("--root")
                .arg(r),
            Duration::from_secs(10),
        );
        assert_eq!(code(&o), 1, "{args:?}");
        assert!(
            stderr(&o).contains("etc/passwd: it is a FIFO"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn dot_dot_and_hard_links_are_refused_and_setgid_is_kept() {
    if !needs("this test") {
        return;
    }
    let root = fixture();
    let r = root.path();
    let secret = root_secret(r);
    let home = eves_home(r);
    let before = acl_and_mode(&secret);
    // '..' leads wherever the owner of the directory before it moved that directory.
    fs::create_dir_all(home.join("x/y")).unwrap();
    let o = perms(
        &["grant", "--user", WITH.2],
        r,
        &home.join("x/y/../../../../secret/target"),
    );
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("'..' in the path"), "{}", stderr(&o));
    // A hard link to root's file among the user's (as protected_hardlinks=0 would allow).
    fs::hard_link(&secret, home.join("innocent")).unwrap();
    let o = perms(&["grant", "--user", WITH.2], r, &home.join("innocent"));
    assert_eq!(code(&o), 1);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("has 2 hard links; refusing"),
        "{}",
        stderr(&o)
    );
    assert_eq!(acl_and_mode(&secret), before);
    // A shared setgid directory keeps its setgid bit, as with setfacl.
    let ours = r.join("data/shared-ours");
    let theirs = r.join("data/shared-theirs");
    for d in [&ours, &theirs] {
        fs::create_dir(d).unwrap();
        std::os::unix::fs::chown(d, Some(0), Some(5003)).unwrap();
        fs::set_permissions(d, fs::Permissions::from_mode(0o2775)).unwrap();
    }
    let o = perms(&["grant", "--user", WITH.2], r, &ours);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(Command::new("setfacl")
        .args(["-m", "u:4242:rw"])
        .arg(&theirs)
        .status()
        .unwrap()
        .success());
    assert_eq!(acl_and_mode(&ours), acl_and_mode(&theirs));
    assert_eq!(acl_and_mode(&ours).1 & 0o2000, 0o2000, "setgid kept");
}

#[test]
fn names_cannot_forge_lines_or_reach_the_terminal() {
    let root = fixture();
    let name = root.path().join("data/x\nuser:eve:rwx\n\x1b]0;T\x07y");
    fs::write(&name, "x").unwrap();
    let o = Command::new(hwc())
        .args(["hwc-perms", "show"])
        .arg(&name)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(
        !out.lines().any(|l| l == "user:eve:rwx"),
        "no forged line: {out:?}"
    );
    assert!(
        out.contains("x\\012user:eve:rwx\\012\\033]0;T\\007y"),
        "{out:?}"
    );
}

/// `access` in a rescue shell with no /etc/passwd: the caller's own ids and a numeric user need
/// none; a name does, and the error names the missing file.
#[test]
fn access_without_etc_passwd_for_the_caller_and_numeric_users() {
    let bare = tempfile::tempdir().unwrap();
    let file = bare.path().join("secret");
    fs::write(&file, "x").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let me = nix::unistd::geteuid().as_raw();
    let access = |extra: &[&str]| {
        Command::new(hwc())
            .args(["hwc-perms", "access", "--json", "--root"])
            .arg(bare.path())
            .args(extra)
            .arg(&file)
            .output()
            .unwrap()
    };
    let rw = |o: &std::process::Output| {
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)));
        let p = &doc["paths"][0];
        (
            doc["user"].as_str().unwrap().to_string(),
            p["read"] == true,
            p["write"] == true,
        )
    };
    // The caller owns the file: read and write, judged with its own ids.
    let o = access(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(rw(&o), (me.to_string(), true, true));
    // uid 0 reads and writes anything; another uid, with no group, not a 0600 file it does
    // not own.
    let o = access(&["--user", "0"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(rw(&o), ("0".to_string(), true, true));
    let other = if me == 4242 { "4243" } else { "4242" };
    let o = access(&["--user", other]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(rw(&o), (other.to_string(), false, false));
    // A name needs the file.
    let o = access(&["--user", "eric"]);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("user 'eric': ") && stderr(&o).contains("/etc/passwd is missing"),
        "{}",
        stderr(&o)
    );
}

/// A grant and a revoke of two different users on one node at once, 300 times: both changes
/// stay (each read-modify-write sees what the other wrote), and each run says what it did.
#[test]
fn concurrent_grant_and_revoke_both_hold() {
    if !needs("the concurrency test") {
        return;
    }
    let root = fixture();
    let f = root.path().join("data/shared");
    let mut lost = Vec::new();
    for i in 0..300 {
        // A new node each time (a rewritten one would keep the last ACL).
        let _ = fs::remove_file(&f);
        fs::write(&f, "").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        // tsolo has an entry to lose; tuser gets one.
        let set = Command::new("setfacl")
            .args(["-m", &format!("u:{}:r", SOLO.0)])
            .arg(&f)
            .status()
            .unwrap();
        assert!(set.success());
        let spawn = |verb: &str, user: &str| {
            let mut cmd = Command::new(hwc());
            cmd.args(["hwc-perms", verb, "--user", user, "--root"])
                .arg(root.path())
                .arg(&f)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if verb == "grant" {
                cmd.args(["--perms", "rw"]);
            }
            cmd.spawn().unwrap()
        };
        let grant = spawn("grant", WITH.2);
        let revoke = spawn("revoke", SOLO.2);
        let (g, r) = (
            grant.wait_with_output().unwrap(),
            revoke.wait_with_output().unwrap(),
        );
        assert_eq!(code(&g), 0, "{}", stderr(&g));
        assert_eq!(code(&r), 0, "{}", stderr(&r));
        assert!(stdout(&g).contains("granted"), "{}", stdout(&g));
        assert!(stdout(&r).contains("revoked"), "{}", stdout(&r));
        let acl = getfacl_entries(&f);
        let has_grant = acl.contains(&format!("user:{}:rw-", WITH.0));
        let has_revoked = acl.contains(&format!("user:{}:", SOLO.0));
        if !has_grant || has_revoked {
            lost.push(format!("pair {i}: {acl}"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of 300 pairs lost a change: {lost:#?}",
        lost.len()
    );
}

/// A grant and a revoke of the same user on one node at once, 200 times: the node ends as the
/// run that spoke last said (each says what it did while it still holds the node's lock).
#[test]
fn concurrent_grant_and_revoke_end_as_the_last_one_printed() {
    if !needs("the concurrency test") {
        return;
    }
    let root = fixture();
    let f = root.path().join("data/contested");
    let said = root.path().join("said");
    let mut wrong = Vec::new();
    for i in 0..200 {
        let _ = fs::remove_file(&f);
        fs::write(&f, "").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        if i % 2 == 1 {
            // Half the time the entry is there to revoke from the start.
            assert!(Command::new("setfacl")
                .args(["-m", &format!("u:{}:rw", WITH.0)])
                .arg(&f)
                .status()
                .unwrap()
                .success());
        }
        // Both write to one file opened for appending: its lines are in the order they spoke.
        let out = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&said)
            .unwrap();
        let spawn = |verb: &str| {
            let sink = fs::OpenOptions::new().append(true).open(&said).unwrap();
            let mut cmd = Command::new(hwc());
            cmd.args(["hwc-perms", verb, "--user", WITH.2, "--root"])
                .arg(root.path())
                .arg(&f)
                .stdout(sink)
                .stderr(std::process::Stdio::piped());
            if verb == "grant" {
                cmd.args(["--perms", "rw"]);
            }
            cmd.spawn().unwrap()
        };
        let (g, r) = (spawn("grant"), spawn("revoke"));
        drop(out);
        for o in [g.wait_with_output().unwrap(), r.wait_with_output().unwrap()] {
            assert_eq!(code(&o), 0, "{}", stderr(&o));
        }
        let lines = fs::read_to_string(&said).unwrap();
        let last = lines.lines().last().unwrap_or_default().to_string();
        let has = getfacl_entries(&f).contains(&format!("user:{}:rw-", WITH.0));
        // What the last to speak did, or found already so.
        let expected = last.contains("granted") || last.contains("already there");
        assert!(
            expected || last.contains("revoked") || last.contains("no user:"),
            "{lines:?}"
        );
        if has != expected {
            wrong.push(format!("pair {i}: said {lines:?}, entry {has}"));
        }
    }
    assert!(wrong.is_empty(), "{} of 200: {wrong:#?}", wrong.len());
}

/// Another user holding the lock of the node's directory (anyone who may read a directory may
/// flock it) cannot hold up root's change: root's runs lock a file of root's alone.
#[test]
fn another_users_lock_on_the_directory_holds_up_nothing() {
    if !needs("this test") || !have("flock") {
        return;
    }
    let root = fixture();
    let f = root.path().join("data/locked");
    fs::write(&f, "").unwrap();
    let mut holder = Command::new("setpriv")
        .args(["--reuid=4242", "--regid=4242", "--clear-groups", "--"])
        .args(["flock", "-x"])
        .arg(root.path().join("data"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = std::time::Instant::now();
    let o = perms(
        &["grant", "--user", WITH.2, "--perms", "r"],
        root.path(),
        &f,
    );
    let took = start.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(took < Duration::from_secs(5), "held up {took:?}");
    assert!(getfacl_entries(&f).contains(&format!("user:{}:r--", WITH.0)));
}

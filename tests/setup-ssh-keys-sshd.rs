//! setup-ssh-keys against the real sshd, line by line: for each class of line the review found
//! sshd refusing (and the valid forms of each option), hwc's verdict (the line is kept, or
//! refused) equals sshd's. Lines on a key whose private half the test holds are judged by a
//! real login; lines whose key no one holds (a changed character, a crafted number) by sshd's
//! own debug log, with a user certificate offered so that sshd parses every line of every type
//! (auth2-pubkeyfile.c: a certificate's key type is "any"). Then the lockout: a typo in the
//! secret's only key must leave the fallback key able to log in.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "hwc-sshd-diff";

fn wire(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

/// `TYPE BASE64` for a blob built from wire strings.
fn crafted(kind: &str, parts: &[&[u8]]) -> String {
    format!("{kind} {}", keys::b64(&wire(parts)))
}

struct Env {
    dir: tempfile::TempDir,
    home: PathBuf,
    /// The tests share one system user: one at a time.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Env {
    fn setup() -> Option<Env> {
        if !is_root() {
            skip("the sshd comparison needs root (tests/run runs as root)");
            return None;
        }
        if !have("ssh") || !have("ssh-keygen") || !Path::new("/usr/sbin/sshd").exists() {
            skip("ssh, ssh-keygen or /usr/sbin/sshd missing (tests/run installs them)");
            return None;
        }
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        sshd::ensure_login_user(USER);
        let home = PathBuf::from(format!("/home/{USER}"));
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        let owner = Command::new("chown")
            .arg(format!("{USER}:{USER}"))
            .arg(&home)
            .status()
            .unwrap();
        assert!(owner.success());
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let env = Env {
            dir,
            home,
            _turn: turn,
        };
        env.keygen("host", "ed25519");
        env.keygen("ca", "ed25519");
        env.keygen("user", "ed25519");
        env.keygen("other", "ed25519");
        env.keygen("ecdsa", "ecdsa");
        env.keygen("rsa", "rsa");
        // A certificate for the user key, from a CA sshd does not trust: offered, it makes sshd
        // parse every line, and logs in nowhere.
        let signed = Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(env.path("ca"))
            .args(["-I", "probe", "-n", USER, "-O", "clear"])
            .arg(env.path("user.pub"))
            .status()
            .unwrap();
        assert!(signed.success());
        fs::rename(env.path("user-cert.pub"), env.path("probe-cert.pub")).unwrap();
        fs::write(
            env.path("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\nStrictModes yes\n\
                 AuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n",
                env.path("host").display()
            ),
        )
        .unwrap();
        Some(env)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn keygen(&self, name: &str, kind: &str) {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", kind, "-C", name, "-f"])
            .arg(self.path(name))
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// The public line of a generated key, without its comment.
    fn public(&self, name: &str) -> String {
        let text = fs::read_to_string(self.path(&format!("{name}.pub"))).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Makes `line` the user's whole authorized_keys, as the user would have it.
    fn authorize(&self, line: &[u8]) {
        let ssh = self.home.join(".ssh");
        let _ = fs::remove_dir_all(&ssh);
        fs::create_dir(&ssh).unwrap();
        let file = ssh.join("authorized_keys");
        fs::write(&file, [line, b"\n"].concat()).unwrap();
        fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let owner = Command::new("chown")
            .args(["-R", &format!("{USER}:{USER}")])
            .arg(&ssh)
            .status()
            .unwrap();
        assert!(owner.success());
    }

    /// One connection to a fresh sshd with this test's configuration.
    fn connect(&self, client: &[&str]) -> (bool, String) {
        sshd::login(
            &self.path("sshd_config"),
            &self.path("sshd.log"),
            USER,
            client,
        )
    }

    /// sshd's verdict on `line` by logging in with the key `identity` through it.
    fn login_verdict(&self, line: &[u8], identity: &str) -> bool {
        self.authorize(line);
        let key = self.path(identity);
        let key = key.to_str().unwrap();
        self.connect(&["-i", key]).0
    }

    /// sshd's verdict on `line` from its log: the line parsed as a key with acceptable options.
    fn log_verdict(&self, line: &[u8]) -> bool {
        self.authorize(line);
        let key = self.path("user");
        let cert = self.path("probe-cert.pub");
        let cert_opt = format!("CertificateFile={}", cert.display());
        let (_, log) = self.connect(&[
            "-i",
            key.to_str().unwrap(),
            "-o",
            &cert_opt,
            "-o",
            "PubkeyAcceptedAlgorithms=ssh-ed25519-cert-v01@openssh.com",
        ]);
        assert!(
            log.contains("processed"),
            "sshd never read the file:\n{log}"
        );
        let loc = "authorized_keys:1:";
        let refused = log.lines().any(|l| {
            l.contains(&format!("{loc} advance:"))
                || l.contains(&format!("{loc} bad key options:"))
                || l.trim() == "invalid key option string"
        });
        !refused
    }

    /// hwc's verdict on `line` as the only line of a secret: kept in the managed block.
    fn hwc_verdict(&self, line: &[u8]) -> (bool, String) {
        let secret = self.path("secret");
        fs::write(&secret, [line, b"\n"].concat()).unwrap();
        let o = Command::new(hwc())
            .args(["setup-ssh-keys", USER, "--dry-run", "--json", "--secret"])
            .arg(&secret)
            .args(["--fallback", "/nonexistent"])
            .output()
            .unwrap();
        if code(&o) != 0 {
            return (false, stderr(&o));
        }
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let why = doc["rejected"].to_string();
        (
            doc["installed"] == 1 && doc["rejected"].as_array().unwrap().is_empty(),
            why,
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.home.join(".ssh"));
    }
}

/// One base64 character of `line`'s key changed at `at` (counted from the start of the
/// base64), to the next letter of the alphabet.
fn typo(line: &str, at: usize) -> String {
    let (kind, b64) = line.split_once(' ').unwrap();
    let mut b = b64.as_bytes().to_vec();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let i = alphabet.iter().position(|&c| c == b[at]).unwrap();
    b[at] = alphabet[(i + 1) % 64];
    format!("{kind} {}", String::from_utf8(b).unwrap())
}

#[test]
fn hwc_keeps_exactly_the_lines_sshd_accepts() {
    let Some(env) = Env::setup() else { return };
    let k = env.public("user");
    let ecdsa = env.public("ecdsa");
    let rsa = env.public("rsa");

    // Options on a key the test holds: judged by logging in through the line.
    let options: &[(&str, bool)] = &[
        ("environment=\"A-B=1\"", false),
        ("environment=\"=1\"", false),
        ("environment=\"A=1\"", true),
        ("environment=\"A_1=\"", true),
        ("permitopen=\"foo\"", false),
        ("permitopen=\"localhost:22\"", true),
        ("permitopen=\"[::1]:22\"", true),
        ("permitopen=\"*:*\"", true),
        ("permitopen=\"host:0\"", false),
        ("permitlisten=\"x:y:z\"", false),
        ("permitlisten=\"8080\"", true),
        ("permitlisten=\"localhost:8080\"", true),
        ("tunnel=\"abc\"", false),
        ("tunnel=\"1\"", true),
        ("tunnel=\"any\"", true),
        ("expiry-time=\"20271399\"", false),
        ("expiry-time=\"20200101\"", false),
        ("expiry-time=\"20991231\"", true),
        ("expiry-time=\"209912312359Z\"", true),
        ("from=\"127.0.0.1\"", true),
        ("from=\"127.0.0.0/8,!10.0.0.1\"", true),
        ("from=\"10.0.0.1/8\"", false),
        ("from=\"\"", false),
        ("principals=\"someone\"", false),
        ("command=\"true\"", true),
        ("command=\"true\",command=\"true\"", false),
        ("command=true", false),
        ("no-pty,restrict", true),
        ("NO-PTY", true),
        ("no-pty,,restrict", true),
        ("no-ptyx", false),
        ("bogus", false),
    ];
    let mut mismatches = Vec::new();
    let mut check = |name: String, line: Vec<u8>, sshd: bool, expected: bool| {
        let (ours, why) = env.hwc_verdict(&line);
        if ours != sshd || sshd != expected {
            mismatches.push(format!(
                "{name}: sshd {sshd}, hwc {ours} (expected {expected}) {why}"
            ));
        }
    };
    for &(opt, expected) in options {
        let line = format!("{opt} {k}").into_bytes();
        let sshd = env.login_verdict(&line, "user");
        check(opt.to_string(), line, sshd, expected);
    }
    // Addresses as getaddrinfo reads them, and sshd's limits on repeated options.
    let many = |n: usize, opt: &str| {
        (0..n)
            .map(|i| match opt {
                "environment" => format!("environment=\"V{i}=x\""),
                _ => format!("{opt}=\"h:{}\"", i + 1),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    for (name, opt, expected) in [
        ("from 127.1/8", "from=\"127.1/8\"".to_string(), false),
        ("from 10/8", "from=\"10/8\"".to_string(), false),
        ("1025 environment options", many(1025, "environment"), true),
        ("1026 environment options", many(1026, "environment"), false),
        ("4098 permitopen options", many(4098, "permitopen"), false),
    ] {
        let line = format!("{opt} {k}").into_bytes();
        let sshd = env.login_verdict(&line, "user");
        check(name.to_string(), line, sshd, expected);
    }
    // A NUL inside an option: sshd reads the line as a C string, cut there.
    let mut nul = format!("command=\"tr ue\" {k}").into_bytes();
    nul[12] = 0;
    let sshd = env.login_verdict(&nul, "user");
    check("a NUL in an option".into(), nul, sshd, false);
    // The plain lines log in.
    for (name, line) in [("ed25519", &k), ("ecdsa", &ecdsa), ("rsa", &rsa)] {
        let sshd = env.login_verdict(line.as_bytes(), name_key(name));
        check(
            format!("{name} as generated"),
            line.clone().into_bytes(),
            sshd,
            true,
        );
    }

    // Keys no one holds: judged from sshd's log.
    let ecdsa_b64_len = ecdsa.split_once(' ').unwrap().1.len();
    let mut keys: Vec<(String, String, bool)> = Vec::new();
    for at in [60, 80, 100, ecdsa_b64_len - 10] {
        keys.push((
            format!("ECDSA key with character {at} changed"),
            typo(&ecdsa, at),
            false,
        ));
    }
    let e = [1u8, 0, 1];
    let mut negative = vec![0x80u8];
    negative.extend([0x11u8; 255]);
    let padded_tiny = [&[0u8; 200][..], &[0x7fu8; 16]].concat();
    let mut short = vec![0x7fu8];
    short.extend([0xffu8; 127]);
    let mut ok_rsa = vec![0u8, 0xc1];
    ok_rsa.extend([0x35u8; 255]);
    keys.push((
        "RSA, negative modulus".into(),
        crafted("ssh-rsa", &[b"ssh-rsa", &e, &negative]),
        false,
    ));
    keys.push((
        "RSA, tiny modulus padded with zero bytes".into(),
        crafted("ssh-rsa", &[b"ssh-rsa", &e, &padded_tiny]),
        false,
    ));
    keys.push((
        "RSA of 1023 bits".into(),
        crafted("ssh-rsa", &[b"ssh-rsa", &e, &short]),
        false,
    ));
    let mut huge = vec![0x01u8];
    huge.extend([0x35u8; 2048]);
    keys.push((
        "RSA of 16385 bits".into(),
        crafted("ssh-rsa", &[b"ssh-rsa", &e, &huge]),
        false,
    ));
    keys.push((
        "RSA of 2048 bits".into(),
        crafted("ssh-rsa", &[b"ssh-rsa", &e, &ok_rsa]),
        true,
    ));
    let junk: &[u8] = b"\x00\x00\x00\x08junkjunk and more junk";
    for t in [
        "ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ssh-ed25519@openssh.com",
        "ssh-mldsa44-ed25519@openssh.com",
    ] {
        keys.push((
            format!("junk {t}"),
            crafted(t, &[t.as_bytes(), &[7; 32], junk]),
            false,
        ));
    }
    keys.push((
        "security key (ed25519)".into(),
        crafted(
            "sk-ssh-ed25519@openssh.com",
            &[b"sk-ssh-ed25519@openssh.com", &[3; 32], b"ssh:"],
        ),
        true,
    ));
    keys.push((
        "ed25519 of 31 bytes".into(),
        crafted("ssh-ed25519", &[b"ssh-ed25519", &[3; 31]]),
        false,
    ));
    keys.push((
        "ed25519 with trailing data".into(),
        crafted("ssh-ed25519", &[b"ssh-ed25519", &[3; 32], b"x"]),
        false,
    ));
    keys.push((
        "type in capitals".into(),
        k.replacen("ssh-ed25519", "SSH-ED25519", 1),
        false,
    ));
    keys.push(("a valid key (control)".into(), k.clone(), true));
    for (name, line, expected) in keys {
        let sshd = env.log_verdict(line.as_bytes());
        check(name, line.into_bytes(), sshd, expected);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn name_key(name: &str) -> &str {
    match name {
        "ed25519" => "user",
        other => other,
    }
}

#[test]
fn a_typo_in_the_secrets_only_key_leaves_the_fallback_able_to_log_in() {
    let Some(env) = Env::setup() else { return };
    let ecdsa = env.public("ecdsa");
    let secret = env.path("lockout-secret");
    let fallback = env.path("lockout-fallback");
    fs::write(&secret, format!("{} eric@laptop\n", typo(&ecdsa, 90))).unwrap();
    fs::write(&fallback, format!("{} fallback\n", env.public("other"))).unwrap();
    env.authorize(format!("{} old\n", env.public("rsa")).as_bytes());
    let o = Command::new(hwc())
        .args(["setup-ssh-keys", USER, "--secret"])
        .arg(&secret)
        .arg("--fallback")
        .arg(&fallback)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("from the fallback"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("not on its curve"),
        "the typo is named: {}",
        stderr(&o)
    );
    let (ok, _) = env.connect(&["-i", env.path("other").to_str().unwrap()]);
    assert!(ok, "the fallback key logs in");
    let (ok, _) = env.connect(&["-i", env.path("ecdsa").to_str().unwrap()]);
    assert!(!ok, "the mistyped key does not");
}

/// `--check` on the running system names the files sshd reads keys from, as the installed sshd
/// itself gives them for the user (`sshd -T -C user=USER`; Debian 12's OpenSSH has no -G).
#[test]
fn check_names_the_key_files_the_installed_sshd_reads() {
    let Some(_env) = Env::setup() else { return };
    let o = Command::new("/usr/sbin/sshd")
        .args(["-T", "-C", &format!("user={USER}")])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "sshd -T: {}", stderr(&o));
    let files = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("authorizedkeysfile "))
        .map(str::to_string)
        .expect("sshd -T names its AuthorizedKeysFile");
    let o = Command::new(hwc())
        .args(["setup-ssh-keys", USER, "--check"])
        .output()
        .unwrap();
    let line = format!("sshd reads keys from: {files}");
    assert!(
        stdout(&o).lines().any(|l| l == line),
        "{line} in:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// Root's umask (0777 or 0477 in a hardened unit) decides no mode: a new `.ssh` is 0700, the
/// file 0600, written over a working one as over none, and sshd lets the key in.
#[test]
fn root_s_umask_decides_no_mode_and_the_key_logs_in() {
    let Some(env) = Env::setup() else { return };
    let secret = env.path("umask-secret");
    fs::write(&secret, format!("{} eric@laptop\n", env.public("user"))).unwrap();
    let ssh = env.home.join(".ssh");
    for (umask, fresh) in [("0777", true), ("0477", false), ("0777", false)] {
        if fresh {
            let _ = fs::remove_dir_all(&ssh);
        } else {
            env.authorize(format!("{} old\n", env.public("rsa")).as_bytes());
        }
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(hwc())
            .args(["setup-ssh-keys", USER, "--secret"])
            .arg(&secret)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "umask {umask}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("StrictModes"),
            "umask {umask}: {}",
            stderr(&o)
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&ssh), 0o700, "umask {umask}: .ssh");
        assert_eq!(
            mode(&ssh.join("authorized_keys")),
            0o600,
            "umask {umask}: authorized_keys"
        );
        let (ok, log) = env.connect(&["-i", env.path("user").to_str().unwrap()]);
        assert!(ok, "umask {umask}: sshd refused the installed key:\n{log}");
    }
}

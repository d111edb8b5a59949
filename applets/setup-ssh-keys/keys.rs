//! authorized_keys lines parsed the way sshd parses them (`auth_check_authkey_line`, OpenSSH
//! 9.2): a key at the start of the line, or else an options field (to the first blank outside
//! double quotes, `\"` escaping a quote) followed by the key. Options are checked as sshd checks
//! them ([`super::options`]), keys as sshd decodes them ([`super::blob`]), and a
//! line that sshd would parse but never let in (an expired key, a `from=` it cannot read) is
//! refused too. A bad line is reported and skipped; it never affects other lines, but for a line
//! whose quoted option value is not closed, which the caller ends only where the quote closes.
//!
//! Keys hwc can check end to end (Ed25519, RSA, ECDSA) count towards "a source yields a valid
//! key"; security-key and hybrid keys, whose holder hwc cannot vouch for, and CA lines are
//! carried but do not count. Certificates are refused: sshd never matches one in this file.

use std::fmt;

use super::blob::{self, Shape, Wire};
use super::{ec, options};

/// What the line names, the type inside the blob it must carry (and is written as), its shape,
/// and whether it counts as a key hwc verified.
const KEY_TYPES: &[(&str, &str, Shape, bool)] = &[
    ("ssh-ed25519", "ssh-ed25519", Shape::Ed25519, true),
    ("ssh-rsa", "ssh-rsa", Shape::Rsa, true),
    ("rsa-sha2-256", "ssh-rsa", Shape::Rsa, true),
    ("rsa-sha2-512", "ssh-rsa", Shape::Rsa, true),
    (
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp256",
        Shape::Ecdsa("nistp256", &ec::P256),
        true,
    ),
    (
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp384",
        Shape::Ecdsa("nistp384", &ec::P384),
        true,
    ),
    (
        "ecdsa-sha2-nistp521",
        "ecdsa-sha2-nistp521",
        Shape::Ecdsa("nistp521", &ec::P521),
        true,
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        Shape::SkEcdsa,
        false,
    ),
    (
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        Shape::SkEcdsa,
        false,
    ),
    (
        "sk-ssh-ed25519@openssh.com",
        "sk-ssh-ed25519@openssh.com",
        Shape::SkEd25519,
        false,
    ),
    (
        "ssh-mldsa44-ed25519@openssh.com",
        "ssh-mldsa44-ed25519@openssh.com",
        Shape::MlDsa44Ed25519,
        false,
    ),
];

/// One usable key line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The options field as written, if any (already validated).
    pub options: Option<String>,
    /// The key type inside the blob (`rsa-sha2-256` lines are normalised to `ssh-rsa`).
    pub kind: &'static str,
    pub base64: String,
    pub blob: Vec<u8>,
    pub comment: String,
    /// A key hwc checked end to end, that may stand for "the source yields a valid key".
    verified: bool,
}

impl Key {
    /// The line as hwc writes it: `[options ]type base64[ comment]`.
    pub fn line(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.options {
            s.push_str(o);
            s.push(' ');
        }
        s.push_str(self.kind);
        s.push(' ');
        s.push_str(&self.base64);
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s
    }

    /// Two lines with the same identity authorize the same key. The blob begins with the type.
    pub fn identity(&self) -> Vec<u8> {
        self.blob.clone()
    }

    /// Whether this key counts towards "the source yields a valid key".
    pub fn counts(&self) -> bool {
        self.verified
    }

    /// A short label for reports: type, comment and the end of the base64.
    pub fn label(&self) -> String {
        let tail = &self.base64[self.base64.len().saturating_sub(8)..];
        if self.comment.is_empty() {
            format!("{} …{tail}", self.kind)
        } else {
            format!("{} …{tail} {}", self.kind, self.comment)
        }
    }
}

/// Why a line is not a usable key. `open_quote`: its options field ends inside a quoted value,
/// so the author's line probably goes on in the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub reason: String,
    pub open_quote: bool,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

fn invalid<T>(why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        reason: why.into(),
        open_quote: false,
    })
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one line at the current time. `Ok(None)` for blank and comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<Key>, Invalid> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    parse_line_at(raw, now)
}

/// Parses one line as sshd would at `now` (seconds since 1970).
pub fn parse_line_at(raw: &[u8], now: i64) -> Result<Option<Key>, Invalid> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.contains(&0) {
        return invalid("a NUL byte in the line");
    }
    let Ok(line) = std::str::from_utf8(raw) else {
        return invalid("not valid UTF-8");
    };
    let line = line.trim_start_matches(is_blank);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let first = line.split(is_blank).next().unwrap_or("");
    if type_of(first).is_some() || retired_type(first).is_some() {
        return parse_key(line, None).map(Some);
    }
    let rest = &line[first.len()..];
    let looks_like_key = rest.trim_start_matches(is_blank).starts_with("AAAA");
    if looks_like_key && !first.contains(['=', ',', '"']) {
        return invalid(format!("unknown key type '{first}'"));
    }
    let end = options_end(line)?;
    let opts = options::parse(line).map_err(|reason| Invalid {
        reason,
        open_quote: false,
    })?;
    let rest = line[end..].trim_start_matches(is_blank);
    if rest.is_empty() {
        return invalid("options but no key");
    }
    let key = parse_key(rest, Some(line[..end].to_string()))?;
    if opts.cert_authority {
        // A CA line admits certificates, not this key: carried, never counted.
        return Ok(Some(Key {
            verified: false,
            ..key
        }));
    }
    match options::refused_at_login(&opts, now) {
        Some(why) => invalid(why),
        None => Ok(Some(key)),
    }
}

fn type_of(name: &str) -> Option<(&'static str, &'static str, Shape, bool)> {
    KEY_TYPES.iter().find(|(n, ..)| *n == name).copied()
}

fn retired_type(name: &str) -> Option<&'static str> {
    if name.ends_with("-cert-v01@openssh.com") {
        return Some("a certificate in authorized_keys never matches a login; install the CA's key with cert-authority");
    }
    match name {
        "ssh-dss" => Some("DSA keys (ssh-dss) are no longer accepted by OpenSSH"),
        _ => None,
    }
}

/// Where the options field ends (`sshkey_advance_past_options`): the first space or tab outside
/// double quotes, `\"` skipped as a pair. A field that ends inside quotes is refused.
fn options_end(line: &str) -> Result<usize, Invalid> {
    let bytes = line.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    if quoted {
        Err(Invalid {
            reason: "a quoted option value is not closed on this line".into(),
            open_quote: true,
        })
    } else {
        invalid("options but no key")
    }
}

/// Whether `line` closes a quote left open by an earlier line: it holds an odd number of `"`
/// not escaped by a backslash.
pub fn closes_quote(line: &[u8]) -> bool {
    let mut quotes = 0;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\\' if line.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quotes += 1,
            _ => {}
        }
        i += 1;
    }
    quotes % 2 == 1
}

fn parse_key(text: &str, options: Option<String>) -> Result<Key, Invalid> {
    let mut parts = text.splitn(2, is_blank);
    let name = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("").trim_start_matches(is_blank);
    if let Some(why) = retired_type(name) {
        return invalid(why);
    }
    let Some((_, blob_type, shape, verified)) = type_of(name) else {
        return invalid(format!("unknown key type '{name}'"));
    };
    let mut parts = rest.splitn(2, is_blank);
    let b64 = parts.next().unwrap_or("");
    let comment = parts
        .next()
        .unwrap_or("")
        .trim_matches(is_blank)
        .to_string();
    if b64.is_empty() {
        return invalid(format!("{name} key without base64 data"));
    }
    let Some(blob) = blob::base64_decode(b64) else {
        return invalid(format!("{name} key: base64 does not decode"));
    };
    let mut w = Wire(&blob);
    let inner = w.string().ok_or_else(|| Invalid {
        reason: format!("{name} key is truncated or malformed"),
        open_quote: false,
    })?;
    if inner != blob_type.as_bytes() {
        return invalid(format!(
            "key type {name} does not match the key inside ({})",
            String::from_utf8_lossy(inner)
        ));
    }
    if let Some(why) = blob::check(shape, &mut w) {
        return invalid(format!("{name} key: {why}"));
    }
    Ok(Key {
        options,
        kind: blob_type,
        base64: b64.to_string(),
        blob,
        comment,
        verified,
    })
}

#[cfg(test)]
pub mod tests {
    use super::super::blob::base64_encode;
    use super::*;

    pub fn wire(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(&(p.len() as u32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    pub fn ed25519(seed: u8) -> String {
        base64_encode(&wire(&[b"ssh-ed25519", &[seed; 32]]))
    }

    fn rsa(bits: usize) -> String {
        let mut n = vec![0u8; bits / 8 + 1];
        n[1] = 0xc1;
        base64_encode(&wire(&[b"ssh-rsa", &[1, 0, 1], &n]))
    }

    fn ecdsa(curve: &str, c: &ec::Curve) -> String {
        base64_encode(&wire(&[
            format!("ecdsa-sha2-{curve}").as_bytes(),
            curve.as_bytes(),
            &ec::generator(c),
        ]))
    }

    fn ok(line: &str) -> Key {
        parse_line(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .unwrap()
    }

    fn bad(line: &str) -> String {
        match parse_line(line.as_bytes()) {
            Err(e) => e.reason,
            Ok(k) => panic!("{line} parsed: {k:?}"),
        }
    }

    #[test]
    fn every_key_type() {
        let k = ok(&format!("ssh-ed25519 {} eric@laptop", ed25519(1)));
        assert_eq!((k.kind, k.comment.as_str()), ("ssh-ed25519", "eric@laptop"));
        assert!(k.counts());
        assert_eq!(ok(&format!("ssh-rsa {}", rsa(2048))).kind, "ssh-rsa");
        let normalised = ok(&format!("rsa-sha2-512 {} x", rsa(3072)));
        assert_eq!(normalised.kind, "ssh-rsa");
        assert!(normalised.line().starts_with("ssh-rsa "));
        for (curve, c) in [
            ("nistp256", &ec::P256),
            ("nistp384", &ec::P384),
            ("nistp521", &ec::P521),
        ] {
            let k = ok(&format!("ecdsa-sha2-{curve} {}", ecdsa(curve, c)));
            assert_eq!(k.kind, format!("ecdsa-sha2-{curve}"));
            assert!(k.counts());
        }
        let sk = base64_encode(&wire(&[
            b"sk-ecdsa-sha2-nistp256@openssh.com",
            b"nistp256",
            &ec::generator(&ec::P256),
            b"ssh:",
        ]));
        let k = ok(&format!("sk-ecdsa-sha2-nistp256@openssh.com {sk}"));
        assert_eq!(k.kind, "sk-ecdsa-sha2-nistp256@openssh.com");
        assert!(!k.counts(), "security keys are carried, not counted");
        let w = ok(&format!("webauthn-sk-ecdsa-sha2-nistp256@openssh.com {sk}"));
        assert_eq!(
            w.kind, "sk-ecdsa-sha2-nistp256@openssh.com",
            "written by its key type"
        );
        let sk = base64_encode(&wire(&[b"sk-ssh-ed25519@openssh.com", &[3; 32], b"ssh:"]));
        assert!(!ok(&format!("sk-ssh-ed25519@openssh.com {sk}")).counts());
        let hybrid = base64_encode(&wire(&[b"ssh-mldsa44-ed25519@openssh.com", &[3; 1344]]));
        assert!(!ok(&format!("ssh-mldsa44-ed25519@openssh.com {hybrid}")).counts());
        let ca = ok(&format!("cert-authority ssh-ed25519 {}", ed25519(8)));
        assert!(!ca.counts(), "a CA line admits certificates, not itself");
    }

    #[test]
    fn certificates_and_junk_of_every_type_are_refused() {
        let cert = base64_encode(&wire(&[
            b"ssh-ed25519-cert-v01@openssh.com",
            &[5; 32],
            b"rest",
        ]));
        assert!(bad(&format!("ssh-ed25519-cert-v01@openssh.com {cert}")).contains("certificate"));
        let junk = base64_encode(b"\0\0\0\x04junk and more junk");
        for t in [
            "sk-ecdsa-sha2-nistp256@openssh.com",
            "sk-ssh-ed25519@openssh.com",
            "ssh-mldsa44-ed25519@openssh.com",
            "ssh-rsa",
            "ecdsa-sha2-nistp256",
        ] {
            bad(&format!("{t} {junk}"));
        }
        let short_sk = base64_encode(&wire(&[b"sk-ssh-ed25519@openssh.com", &[3; 32]]));
        assert!(bad(&format!("sk-ssh-ed25519@openssh.com {short_sk}")).contains("truncated"));
        let hybrid = base64_encode(&wire(&[b"ssh-mldsa44-ed25519@openssh.com", &[3; 100]]));
        bad(&format!("ssh-mldsa44-ed25519@openssh.com {hybrid}"));
    }

    #[test]
    fn a_typo_in_an_ecdsa_key_is_caught() {
        let good = ecdsa("nistp256", &ec::P256);
        ok(&format!("ecdsa-sha2-nistp256 {good}"));
        let mut caught = 0;
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        // Every character of the point's part of the base64, changed to its neighbour.
        for at in 60..good.len() - 2 {
            let mut typo = good.clone().into_bytes();
            let c = typo[at] as char;
            let next = alphabet
                .chars()
                .cycle()
                .skip_while(|&x| x != c)
                .nth(1)
                .unwrap();
            typo[at] = next as u8;
            let line = format!("ecdsa-sha2-nistp256 {}", String::from_utf8(typo).unwrap());
            if parse_line(line.as_bytes()).is_err() {
                caught += 1;
            }
        }
        assert_eq!(
            caught,
            good.len() - 62,
            "every one-character change is refused"
        );
    }

    #[test]
    fn options_with_quotes_commas_and_escapes() {
        let line = format!(
            r#"command="echo \"a, b\" c",no-pty,from="10.0.0.0/8,127.0.0.1",environment="X=1" ssh-ed25519 {} c"#,
            ed25519(2)
        );
        let k = ok(&line);
        assert_eq!(k.line(), line);
        assert!(ok(&format!("NO-PTY,Restrict ssh-ed25519 {}", ed25519(3)))
            .options
            .is_some());
        ok(&format!(
            r#"cert-authority,principals="eric,root" ssh-ed25519 {}"#,
            ed25519(4)
        ));
        ok(&format!(
            r#"expiry-time="20991231Z" ssh-ed25519 {}"#,
            ed25519(4)
        ));
        ok(&format!("\t  restrict ssh-ed25519 {}", ed25519(4)));
    }

    #[test]
    fn bad_options() {
        let k = ed25519(5);
        assert!(bad(&format!("bogus-option ssh-ed25519 {k}"))
            .contains("unknown key option 'bogus-option'"));
        assert!(bad(&format!(r#"command="unterminated ssh-ed25519 {k}"#)).contains("not closed"));
        assert!(bad(&format!("command=ls ssh-ed25519 {k}")).contains("double quotes"));
        assert!(bad(&format!(r#"no-pty="x" ssh-ed25519 {k}"#)).contains("unknown key option"));
        assert!(bad(&format!(r#"principals="a" ssh-ed25519 {k}"#)).contains("cert-authority"));
        assert!(bad(&format!(r#"expiry-time="2027" ssh-ed25519 {k}"#)).contains("expiry-time"));
        assert!(bad(&format!(r#"expiry-time="20200101" ssh-ed25519 {k}"#)).contains("expired"));
        assert!(bad(&format!(r#"environment="A-B=1" ssh-ed25519 {k}"#)).contains("environment"));
        assert!(bad(&format!(r#"from="10.0.0.1/8" ssh-ed25519 {k}"#)).contains("host bits"));
        assert!(bad("restrict").contains("no key"));
        let mut nul = format!(r#"command="ls" ssh-ed25519 {k}"#).into_bytes();
        nul[10] = 0;
        assert!(parse_line(&nul).unwrap_err().reason.contains("NUL"));
        assert!(
            parse_line(format!(r#"command="a ssh-ed25519 {k}"#).as_bytes())
                .unwrap_err()
                .open_quote
        );
    }

    #[test]
    fn quotes_closed_on_a_later_line() {
        assert!(closes_quote(br#"" ssh-ed25519 AAAA"#));
        assert!(!closes_quote(br#"ssh-ed25519 AAAA \" x"#));
        assert!(!closes_quote(br#""a" "b""#));
    }

    #[test]
    fn comments_blank_lines_and_crlf() {
        assert_eq!(parse_line(b"").unwrap(), None);
        assert_eq!(parse_line(b"   \t").unwrap(), None);
        assert_eq!(parse_line(b"# a comment").unwrap(), None);
        assert_eq!(parse_line(b"  # indented comment").unwrap(), None);
        assert_eq!(parse_line(b"\r").unwrap(), None);
        let k = ok(&format!("ssh-ed25519 {} crlf\r", ed25519(6)));
        assert_eq!(k.comment, "crlf");
        let k = ok(&format!(
            "ssh-ed25519 {} with # hash in comment",
            ed25519(6)
        ));
        assert_eq!(k.comment, "with # hash in comment");
    }

    #[test]
    fn garbage_truncation_and_mismatch() {
        assert!(
            bad("hello world").contains("no key")
                || bad("hello world").contains("unknown key option")
        );
        assert!(bad("ssh-ed25519").contains("without base64"));
        assert!(bad("ssh-ed25519 !!!!").contains("does not decode"));
        let k = ed25519(7);
        assert!(bad(&format!("ssh-ed25519 {}", &k[..k.len() - 4])).contains("truncated"));
        assert!(bad(&format!("ssh-ed25519 {}", &k[..k.len() - 1])).contains("does not decode"));
        assert!(
            bad(&format!("ssh-rsa {k}")).contains("does not match the key inside (ssh-ed25519)")
        );
        assert!(bad(&format!(
            "ecdsa-sha2-nistp384 {}",
            ecdsa("nistp256", &ec::P256)
        ))
        .contains("does not match"));
        let wrong_curve = base64_encode(&wire(&[
            b"ecdsa-sha2-nistp256",
            b"nistp384",
            &ec::generator(&ec::P256),
        ]));
        assert!(bad(&format!("ecdsa-sha2-nistp256 {wrong_curve}")).contains("curve nistp384"));
        assert!(bad(&format!("ssh-rsa {}", rsa(768))).contains("at least 1024"));
        let trailing = base64_encode(&wire(&[b"ssh-ed25519", &[1; 32], b"x"]));
        assert!(bad(&format!("ssh-ed25519 {trailing}")).contains("trailing data"));
        assert!(bad(&format!("ssh-dss {k}")).contains("no longer accepted"));
        assert!(bad(&format!("ssh-foo {k}")).contains("unknown key type 'ssh-foo'"));
        assert!(
            bad(&format!("SSH-ED25519 {k}")).contains("unknown key type"),
            "type names are case-sensitive"
        );
        assert!(parse_line(b"ssh-ed25519 \xff\xfe")
            .unwrap_err()
            .reason
            .contains("UTF-8"));
    }

    /// Random and mutated lines: never a panic, and every accepted key prints back to a line that
    /// parses to the same key.
    #[test]
    fn property_random_and_mutated_lines() {
        let seeds = [
            format!("ssh-ed25519 {} a@b", ed25519(9)),
            format!(
                r#"command="x \"y\"",no-pty ecdsa-sha2-nistp256 {} c"#,
                ecdsa("nistp256", &ec::P256)
            ),
            format!("ssh-rsa {} r", rsa(1024)),
            format!(
                r#"permitopen="h:22",tunnel="1",expiry-time="20991231" ssh-ed25519 {}"#,
                ed25519(1)
            ),
        ];
        let mut x = 0x2545f4914f6cdd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20000 {
            let mut line = seeds[round % seeds.len()].clone().into_bytes();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % (line.len() + 1);
                match next() % 4 {
                    0 if at < line.len() => {
                        line.remove(at);
                    }
                    1 => {
                        let symbols = b" \t\",=\\#A/+\xffQ:";
                        line.insert(at, symbols[(next() as usize) % symbols.len()])
                    }
                    2 if at < line.len() => line[at] = (next() % 256) as u8,
                    _ => line.truncate(at),
                }
            }
            if let Ok(Some(k)) = parse_line(&line) {
                let again = parse_line(k.line().as_bytes()).unwrap().unwrap();
                assert_eq!(again.identity(), k.identity());
            }
        }
        for _ in 0..5000 {
            let len = (next() % 120) as usize;
            let line: Vec<u8> = (0..len).map(|_| (next() % 256) as u8).collect();
            let _ = parse_line(&line);
        }
    }
}

//! authorized_keys lines parsed the way sshd parses them (`auth_check_authkey_line`): a key at the
//! start of the line, or else an options field (to the first blank outside double quotes, `\"`
//! escaping a quote) followed by the key. Keys are checked more strictly than sshd does: the type
//! named on the line must be the type inside the base64 blob (curve included), the blob must be
//! whole, and RSA keys must have at least 1024 bits. A bad line is reported and skipped; it never
//! affects other lines.

use std::fmt;

/// What the line names → what the blob must say, and how to check the rest of the blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Ed25519,
    Rsa,
    Ecdsa(&'static str, usize),
    SkEcdsa,
    SkEd25519,
    /// Certificates and hybrid types: the type string is checked, the rest only for presence.
    Opaque,
}

/// (name on the line, type inside the blob, shape).
const KEY_TYPES: &[(&str, &str, Shape)] = &[
    ("ssh-ed25519", "ssh-ed25519", Shape::Ed25519),
    ("ssh-rsa", "ssh-rsa", Shape::Rsa),
    ("rsa-sha2-256", "ssh-rsa", Shape::Rsa),
    ("rsa-sha2-512", "ssh-rsa", Shape::Rsa),
    (
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp256",
        Shape::Ecdsa("nistp256", 65),
    ),
    (
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp384",
        Shape::Ecdsa("nistp384", 97),
    ),
    (
        "ecdsa-sha2-nistp521",
        "ecdsa-sha2-nistp521",
        Shape::Ecdsa("nistp521", 133),
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        Shape::SkEcdsa,
    ),
    (
        "sk-ssh-ed25519@openssh.com",
        "sk-ssh-ed25519@openssh.com",
        Shape::SkEd25519,
    ),
    (
        "ssh-mldsa44-ed25519@openssh.com",
        "ssh-mldsa44-ed25519@openssh.com",
        Shape::Opaque,
    ),
    (
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
        Shape::Opaque,
    ),
    (
        "ssh-rsa-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
        Shape::Opaque,
    ),
    (
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        Shape::Opaque,
    ),
    (
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        Shape::Opaque,
    ),
    (
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        Shape::Opaque,
    ),
    (
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        Shape::Opaque,
    ),
    (
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
        Shape::Opaque,
    ),
];

const FLAG_OPTIONS: &[&str] = &[
    "restrict",
    "cert-authority",
    "port-forwarding",
    "no-port-forwarding",
    "agent-forwarding",
    "no-agent-forwarding",
    "x11-forwarding",
    "no-x11-forwarding",
    "pty",
    "no-pty",
    "user-rc",
    "no-user-rc",
    "touch-required",
    "no-touch-required",
    "verify-required",
];

const VALUE_OPTIONS: &[&str] = &[
    "command",
    "environment",
    "expiry-time",
    "from",
    "permitopen",
    "permitlisten",
    "principals",
    "tunnel",
];

/// One valid key line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The options field as written, if any (already validated).
    pub options: Option<String>,
    /// The key type inside the blob (`rsa-sha2-256` lines are normalised to `ssh-rsa`).
    pub kind: &'static str,
    pub base64: String,
    pub blob: Vec<u8>,
    pub comment: String,
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

    /// Two lines with the same identity authorize the same key.
    pub fn identity(&self) -> (&str, &[u8]) {
        (self.kind, &self.blob)
    }

    pub fn is_certificate(&self) -> bool {
        self.kind.contains("-cert-v01@")
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

/// Why a line is not a usable key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid<T>(why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(why.into()))
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one line. `Ok(None)` for blank and comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<Key>, Invalid> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let Ok(line) = std::str::from_utf8(raw) else {
        return invalid("not valid UTF-8");
    };
    let line = line.trim_start_matches(is_blank);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let first = line.split(is_blank).next().unwrap_or("");
    if type_of(first).is_some() || is_retired_type(first).is_some() {
        return parse_key(line, None).map(Some);
    }
    let rest = &line[first.len()..];
    let looks_like_key = rest.trim_start_matches(is_blank).starts_with("AAAA");
    if looks_like_key && !first.contains('=') && !first.contains(',') && !first.contains('"') {
        return invalid(format!("unknown key type '{first}'"));
    }
    let end = options_end(line)?;
    let options = &line[..end];
    validate_options(options)?;
    let rest = line[end..].trim_start_matches(is_blank);
    if rest.is_empty() {
        return invalid("options but no key");
    }
    parse_key(rest, Some(options.to_string())).map(Some)
}

fn type_of(name: &str) -> Option<(&'static str, &'static str, Shape)> {
    KEY_TYPES.iter().find(|(n, _, _)| *n == name).copied()
}

fn is_retired_type(name: &str) -> Option<&'static str> {
    match name {
        "ssh-dss" | "ssh-dss-cert-v01@openssh.com" => {
            Some("DSA keys (ssh-dss) are no longer accepted by OpenSSH")
        }
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com" => Some(
            "webauthn-sk-ecdsa-sha2-nistp256@openssh.com is a signature algorithm, not a key type",
        ),
        _ => None,
    }
}

/// Where the options field ends: the first space or tab outside double quotes.
fn options_end(line: &str) -> Result<usize, Invalid> {
    let bytes = line.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted && bytes.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    if quoted {
        invalid("unterminated quote in key options")
    } else {
        invalid("options but no key")
    }
}

/// Splits the options field at commas outside double quotes.
fn split_options(options: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    let bytes = options.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted && bytes.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&options[start..]);
    parts
}

fn validate_options(options: &str) -> Result<(), Invalid> {
    let mut cert_authority = false;
    let mut principals = false;
    for opt in split_options(options) {
        let (name, value) = match opt.find('=') {
            Some(i) => (&opt[..i], Some(&opt[i + 1..])),
            None => (opt, None),
        };
        let lower = name.to_ascii_lowercase();
        match value {
            None if FLAG_OPTIONS.contains(&lower.as_str()) => {
                cert_authority |= lower == "cert-authority"
            }
            None if VALUE_OPTIONS.contains(&lower.as_str()) => {
                return invalid(format!(
                    "key option '{name}' needs a value (\"{lower}=\\\"...\\\"\")"
                ))
            }
            Some(v) if VALUE_OPTIONS.contains(&lower.as_str()) => {
                let Some(inner) = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .filter(|_| v.len() >= 2)
                else {
                    return invalid(format!("key option '{name}' needs a double-quoted value"));
                };
                if lower == "expiry-time" && !valid_expiry(inner) {
                    return invalid(format!("bad expiry-time '{inner}' (YYYYMMDD[HHMM[SS]][Z])"));
                }
                if lower == "environment" && !inner.contains('=') {
                    return invalid("environment option needs NAME=value");
                }
                principals |= lower == "principals";
            }
            Some(_) if FLAG_OPTIONS.contains(&lower.as_str()) => {
                return invalid(format!("key option '{name}' takes no value"))
            }
            _ if name.is_empty() => return invalid("empty key option"),
            _ => return invalid(format!("unknown key option '{name}'")),
        }
    }
    if principals && !cert_authority {
        return invalid("principals= is only valid with cert-authority");
    }
    Ok(())
}

fn valid_expiry(t: &str) -> bool {
    let digits = t.strip_suffix(['Z', 'z']).unwrap_or(t);
    matches!(digits.len(), 8 | 12 | 14) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn parse_key(text: &str, options: Option<String>) -> Result<Key, Invalid> {
    let mut parts = text.splitn(2, is_blank);
    let name = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("").trim_start_matches(is_blank);
    if let Some(why) = is_retired_type(name) {
        return invalid(why);
    }
    let Some((_, blob_type, shape)) = type_of(name) else {
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
    let Some(blob) = base64_decode(b64) else {
        return invalid(format!("{name} key: base64 does not decode"));
    };
    check_blob(&blob, name, blob_type, shape)?;
    Ok(Key {
        options,
        kind: blob_type,
        base64: b64.to_string(),
        blob,
        comment,
    })
}

/// Reads SSH wire strings (u32 big-endian length, bytes).
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let s = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some(s)
    }
}

fn check_blob(blob: &[u8], name: &str, blob_type: &str, shape: Shape) -> Result<(), Invalid> {
    let truncated = || Invalid(format!("{name} key is truncated or malformed"));
    let mut w = Wire(blob);
    let inner = w.string().ok_or_else(truncated)?;
    if inner != blob_type.as_bytes() {
        return invalid(format!(
            "key type {name} does not match the key inside ({})",
            String::from_utf8_lossy(inner)
        ));
    }
    match shape {
        Shape::Ed25519 => {
            if w.string().ok_or_else(truncated)?.len() != 32 {
                return Err(truncated());
            }
        }
        Shape::Rsa => {
            let e = w.string().ok_or_else(truncated)?;
            let n = w.string().ok_or_else(truncated)?;
            if e.is_empty() || n.is_empty() {
                return Err(truncated());
            }
            let n = n.strip_prefix(&[0]).unwrap_or(n);
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < 1024 {
                return invalid(format!(
                    "RSA key of {bits} bits; OpenSSH needs at least 1024"
                ));
            }
        }
        Shape::Ecdsa(curve, point) => {
            let c = w.string().ok_or_else(truncated)?;
            if c != curve.as_bytes() {
                return invalid(format!(
                    "{name} key has curve {} inside",
                    String::from_utf8_lossy(c)
                ));
            }
            let q = w.string().ok_or_else(truncated)?;
            if q.len() != point || q[0] != 4 {
                return Err(truncated());
            }
        }
        Shape::SkEcdsa => {
            if w.string().ok_or_else(truncated)? != b"nistp256" {
                return invalid(format!("{name} key has a wrong curve inside"));
            }
            let q = w.string().ok_or_else(truncated)?;
            if q.len() != 65 || q[0] != 4 || w.string().is_none() {
                return Err(truncated());
            }
        }
        Shape::SkEd25519 => {
            if w.string().ok_or_else(truncated)?.len() != 32 || w.string().is_none() {
                return Err(truncated());
            }
        }
        Shape::Opaque => {
            if w.string().is_none_or(<[u8]>::is_empty) {
                return Err(truncated());
            }
            return Ok(());
        }
    }
    if !w.0.is_empty() {
        return invalid(format!("{name} key has trailing data"));
    }
    Ok(())
}

/// Strict standard base64 (RFC 4648 alphabet, padding required to a multiple of 4).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let chunks = bytes.len() / 4;
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = acc << 6 | value(c)?;
        }
        acc <<= 6 * pad as u32;
        let decoded = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
pub fn base64_encode(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn wire(parts: &[&[u8]]) -> Vec<u8> {
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

    fn ecdsa(curve: &str, len: usize) -> String {
        let mut q = vec![7u8; len];
        q[0] = 4;
        base64_encode(&wire(&[
            format!("ecdsa-sha2-{curve}").as_bytes(),
            curve.as_bytes(),
            &q,
        ]))
    }

    fn ok(line: &str) -> Key {
        parse_line(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .unwrap()
    }

    fn bad(line: &str) -> String {
        match parse_line(line.as_bytes()) {
            Err(e) => e.0,
            Ok(k) => panic!("{line} parsed: {k:?}"),
        }
    }

    #[test]
    fn every_key_type() {
        let k = ok(&format!("ssh-ed25519 {} eric@laptop", ed25519(1)));
        assert_eq!((k.kind, k.comment.as_str()), ("ssh-ed25519", "eric@laptop"));
        assert_eq!(ok(&format!("ssh-rsa {}", rsa(2048))).kind, "ssh-rsa");
        let normalised = ok(&format!("rsa-sha2-512 {} x", rsa(3072)));
        assert_eq!(normalised.kind, "ssh-rsa");
        assert!(normalised.line().starts_with("ssh-rsa "));
        for (curve, len) in [("nistp256", 65), ("nistp384", 97), ("nistp521", 133)] {
            assert_eq!(
                ok(&format!("ecdsa-sha2-{curve} {}", ecdsa(curve, len))).kind,
                format!("ecdsa-sha2-{curve}")
            );
        }
        let mut q = vec![4u8; 65];
        q[1] = 9;
        let sk = base64_encode(&wire(&[
            b"sk-ecdsa-sha2-nistp256@openssh.com",
            b"nistp256",
            &q,
            b"ssh:",
        ]));
        assert_eq!(
            ok(&format!("sk-ecdsa-sha2-nistp256@openssh.com {sk}")).kind,
            "sk-ecdsa-sha2-nistp256@openssh.com"
        );
        let sk = base64_encode(&wire(&[b"sk-ssh-ed25519@openssh.com", &[3; 32], b"ssh:"]));
        assert_eq!(
            ok(&format!("sk-ssh-ed25519@openssh.com {sk}")).kind,
            "sk-ssh-ed25519@openssh.com"
        );
        let cert = base64_encode(&wire(&[
            b"ssh-ed25519-cert-v01@openssh.com",
            &[5; 32],
            b"rest",
        ]));
        let c = ok(&format!("ssh-ed25519-cert-v01@openssh.com {cert}"));
        assert!(c.is_certificate());
    }

    #[test]
    fn options_with_quotes_commas_and_escapes() {
        let line = format!(
            r#"command="echo \"a, b\" c",no-pty,from="10.0.0.0/8,192.168.1.*",environment="X=1" ssh-ed25519 {} c"#,
            ed25519(2)
        );
        let k = ok(&line);
        assert_eq!(
            k.options.as_deref(),
            Some(
                r#"command="echo \"a, b\" c",no-pty,from="10.0.0.0/8,192.168.1.*",environment="X=1""#
            )
        );
        assert_eq!(k.line(), line);
        assert!(
            ok(&format!("NO-PTY,Restrict ssh-ed25519 {}", ed25519(3)))
                .options
                .is_some(),
            "case-insensitive"
        );
        ok(&format!(
            r#"cert-authority,principals="eric,root" ssh-ed25519 {}"#,
            ed25519(4)
        ));
        ok(&format!(
            r#"expiry-time="20271231Z" ssh-ed25519 {}"#,
            ed25519(4)
        ));
        ok(&format!("\t  restrict ssh-ed25519 {}", ed25519(4)));
    }

    #[test]
    fn bad_options() {
        let k = ed25519(5);
        assert!(bad(&format!("bogus-option ssh-ed25519 {k}"))
            .contains("unknown key option 'bogus-option'"));
        assert!(bad(&format!(r#"command="unterminated ssh-ed25519 {k}"#))
            .contains("unterminated quote"));
        assert!(bad(&format!("command=ls ssh-ed25519 {k}")).contains("double-quoted"));
        assert!(bad(&format!("command ssh-ed25519 {k}")).contains("needs a value"));
        assert!(bad(&format!(r#"no-pty="x" ssh-ed25519 {k}"#)).contains("takes no value"));
        assert!(bad(&format!(r#"principals="a" ssh-ed25519 {k}"#))
            .contains("only valid with cert-authority"));
        assert!(bad(&format!(r#"expiry-time="2027" ssh-ed25519 {k}"#)).contains("expiry-time"));
        assert!(bad(&format!("no-pty,,restrict ssh-ed25519 {k}")).contains("empty key option"));
        assert!(bad("restrict").contains("no key"));
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
        assert!(
            bad(&format!("ecdsa-sha2-nistp384 {}", ecdsa("nistp256", 65)))
                .contains("does not match")
        );
        let wrong_curve = base64_encode(&wire(&[b"ecdsa-sha2-nistp256", b"nistp384", &[4; 65]]));
        assert!(bad(&format!("ecdsa-sha2-nistp256 {wrong_curve}")).contains("curve nistp384"));
        assert!(bad(&format!("ssh-rsa {}", rsa(768))).contains("at least 1024"));
        let zero = base64_encode(&wire(&[b"ssh-rsa", &[1, 0, 1], &[0]]));
        assert!(bad(&format!("ssh-rsa {zero}")).contains("0 bits"));
        let trailing = base64_encode(&wire(&[b"ssh-ed25519", &[1; 32], b"x"]));
        assert!(bad(&format!("ssh-ed25519 {trailing}")).contains("trailing data"));
        assert!(bad(&format!("ssh-dss {k}")).contains("no longer accepted"));
        assert!(bad(&format!("ssh-foo {k}")).contains("unknown key type 'ssh-foo'"));
        assert!(
            bad(&format!("SSH-ED25519 {k}")).contains("unknown key type"),
            "type names are case-sensitive"
        );
        assert!(bad("ssh-ed25519 AAAA\u{ff}").contains("does not decode"));
        assert!(parse_line(b"ssh-ed25519 \xff\xfe")
            .unwrap_err()
            .0
            .contains("UTF-8"));
    }

    #[test]
    fn base64_round_trip_and_strictness() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = base64_encode(&data);
            if len > 0 {
                assert_eq!(base64_decode(&enc).unwrap(), data);
            }
        }
        assert!(base64_decode("QQ=").is_none());
        assert!(base64_decode("Q===").is_none());
        assert!(base64_decode("QQ==QQ==").is_none());
        assert!(base64_decode("").is_none());
    }

    /// Random and mutated lines: never a panic, and every accepted key prints back to a line that
    /// parses to the same key.
    #[test]
    fn property_random_and_mutated_lines() {
        let seeds = [
            format!("ssh-ed25519 {} a@b", ed25519(9)),
            format!(
                r#"command="x \"y\"",no-pty ecdsa-sha2-nistp256 {} c"#,
                ecdsa("nistp256", 65)
            ),
            format!("ssh-rsa {} r", rsa(1024)),
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
                        let symbols = b" \t\",=\\#A/+\xffQ";
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

//! The key blob: base64 as OpenSSH decodes it, then the SSH wire format of each key type as
//! `sshkey_from_blob` reads it (OpenSSH 9.2), checked field by field, nothing left over.
//! Stricter than sshd where sshd is lenient in ways no key generator produces (a short type name
//! inside the blob, an RSA number with needless leading zero bytes), so that every key accepted
//! here is accepted by sshd of every version since.

use super::ec;

/// How the rest of a blob is checked after its type string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Ed25519,
    Rsa,
    Ecdsa(&'static str, &'static ec::Curve),
    SkEcdsa,
    SkEd25519,
    /// The ML-DSA-44 + Ed25519 hybrid (OpenSSH 10.4 with ML-DSA): 1344 bytes of public key.
    MlDsa44Ed25519,
}

/// Reads SSH wire data: u32 big-endian lengths, strings, mpints.
pub struct Wire<'a>(pub &'a [u8]);

impl<'a> Wire<'a> {
    pub fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let s = self.0.get(4..4usize.checked_add(len)?)?;
        self.0 = &self.0[4 + len..];
        Some(s)
    }

    /// A string that is text without NUL bytes (`sshbuf_get_cstring`).
    fn cstring(&mut self) -> Option<&'a [u8]> {
        self.string().filter(|s| !s.contains(&0))
    }

    /// An mpint as sshd accepts it (`sshbuf_get_bignum2`): not negative, at most 16384 bits;
    /// minimally encoded here besides. Its magnitude, without the sign byte.
    fn mpint(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.string().ok_or("truncated")?;
        if n.first().is_some_and(|b| b & 0x80 != 0) {
            return Err("a negative number");
        }
        if n.len() > 2049 {
            return Err("a number of more than 16384 bits");
        }
        let magnitude = n.strip_prefix(&[0]).unwrap_or(n);
        if n.first() == Some(&0) && magnitude.first().is_none_or(|b| b & 0x80 == 0) {
            return Err("a number with needless leading zero bytes");
        }
        Ok(magnitude)
    }
}

/// Bits of a big-endian magnitude without leading zeros.
fn bit_length(n: &[u8]) -> usize {
    n.first()
        .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize)
}

/// Why the rest of a blob (after its type string) is not a key of `shape`, or `None`.
pub fn check(shape: Shape, w: &mut Wire) -> Option<String> {
    let truncated = || Some("the key is truncated or malformed".to_string());
    match shape {
        Shape::Ed25519 => {
            if w.string().map(<[u8]>::len) != Some(32) {
                return truncated();
            }
        }
        Shape::SkEd25519 => {
            if w.string().map(<[u8]>::len) != Some(32) || w.cstring().is_none() {
                return truncated();
            }
        }
        Shape::Rsa => {
            let e = match w.mpint() {
                Ok(e) => e,
                Err(why) => return Some(format!("RSA exponent: {why}")),
            };
            let n = match w.mpint() {
                Ok(n) => n,
                Err(why) => return Some(format!("RSA modulus: {why}")),
            };
            if e.is_empty() {
                return Some("RSA exponent is zero".into());
            }
            let bits = bit_length(n);
            if bits < 1024 {
                return Some(format!(
                    "RSA key of {bits} bits; OpenSSH needs at least 1024"
                ));
            }
            if bits > 16384 {
                return Some(format!(
                    "RSA key of {bits} bits; OpenSSH takes at most 16384"
                ));
            }
        }
        Shape::Ecdsa(name, curve) => {
            if let Some(why) = ecdsa_point(w, name, curve) {
                return Some(why);
            }
        }
        Shape::SkEcdsa => {
            if let Some(why) = ecdsa_point(w, "nistp256", &ec::P256) {
                return Some(why);
            }
            if w.cstring().is_none() {
                return truncated();
            }
        }
        Shape::MlDsa44Ed25519 => {
            if w.string().map(<[u8]>::len) != Some(1312 + 32) {
                return truncated();
            }
        }
    }
    if !w.0.is_empty() {
        return Some("the key has trailing data".into());
    }
    None
}

fn ecdsa_point(w: &mut Wire, name: &str, curve: &ec::Curve) -> Option<String> {
    let Some(c) = w.string() else {
        return Some("the key is truncated or malformed".into());
    };
    if c != name.as_bytes() {
        return Some(format!(
            "the key has curve {} inside, not {name}",
            String::from_utf8_lossy(c)
        ));
    }
    let Some(q) = w.string() else {
        return Some("the key is truncated or malformed".into());
    };
    ec::check_point(curve, q).map(str::to_string)
}

/// Strict standard base64 as OpenSSH decodes it (`b64_pton`): the RFC 4648 alphabet, padding to
/// a multiple of 4, no bits left over in the last character.
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
        // The bits of the last character that padding leaves unused must be zero.
        let unused = [0, 2, 4][pad];
        if acc & ((1 << unused) - 1) != 0 {
            return None;
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
mod tests {
    use super::*;

    fn wire(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(&(p.len() as u32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    #[test]
    fn base64_round_trip_and_strictness() {
        for len in 1..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        for bad in [
            "QQ=", "Q===", "QQ==QQ==", "", "QR==", "QUJ=", "QQ=A", "QQ!=",
        ] {
            assert!(base64_decode(bad).is_none(), "{bad}");
        }
        assert_eq!(base64_decode("QQ==").unwrap(), b"A");
    }

    #[test]
    fn rsa_numbers() {
        let mut n = vec![0xc1u8];
        n.extend(vec![7u8; 127]);
        let rsa = |e: &[u8], n: &[u8]| check(Shape::Rsa, &mut Wire(&wire(&[e, n])));
        assert_eq!(rsa(&[1, 0, 1], &[&[0][..], &n].concat()), None);
        assert!(rsa(&[1, 0, 1], &n).unwrap().contains("negative"));
        let padded_tiny = [&[0u8; 200][..], &[0x7f; 16]].concat();
        assert!(rsa(&[1, 0, 1], &padded_tiny)
            .unwrap()
            .contains("leading zero"));
        assert!(rsa(&[1, 0, 1], &[0x7f; 100]).unwrap().contains("799 bits"));
        assert!(rsa(&[], &[&[0][..], &n].concat()).unwrap().contains("zero"));
        assert!(rsa(&[0, 1], &[&[0][..], &n].concat())
            .unwrap()
            .contains("leading zero"));
        assert!(rsa(&[1, 0, 1], &vec![0x7f; 2050])
            .unwrap()
            .contains("16384"));
        let mut big = vec![0x01u8];
        big.extend([0xffu8; 2048]);
        assert!(rsa(&[1, 0, 1], &big).unwrap().contains("16385 bits"));
    }

    #[test]
    fn sk_and_hybrid_shapes() {
        assert_eq!(
            check(Shape::SkEd25519, &mut Wire(&wire(&[&[1; 32], b"ssh:"]))),
            None
        );
        assert!(check(Shape::SkEd25519, &mut Wire(&wire(&[&[1; 32]]))).is_some());
        assert!(
            check(Shape::Ed25519, &mut Wire(&[0, 0, 0])).is_some(),
            "cut short"
        );
        assert!(check(Shape::SkEd25519, &mut Wire(&wire(&[&[1; 32], b"a\0b"]))).is_some());
        assert_eq!(
            check(Shape::MlDsa44Ed25519, &mut Wire(&wire(&[&[1; 1344]]))),
            None
        );
        assert!(check(Shape::MlDsa44Ed25519, &mut Wire(&wire(&[&[1; 1343]]))).is_some());
        assert!(check(Shape::Ed25519, &mut Wire(&wire(&[&[1; 32], b"x"])))
            .unwrap()
            .contains("trailing"));
    }
}

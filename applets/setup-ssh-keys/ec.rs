//! Whether an uncompressed point is a public key OpenSSH accepts on the NIST curve it names
//! (`EC_POINT_oct2point` and `sshkey_ec_validate_public`, OpenSSH 9.2): both coordinates below
//! the field prime, on the curve y² = x³ − 3x + b, each longer than half the bits of the group
//! order and below order − 1. The curves have cofactor 1, so a point on the curve has the
//! group's order and `order·Q = ∞` holds. One changed character of a key's base64 almost never
//! leaves its point on the curve: that is how a typo is caught.
//!
//! The arithmetic is plain schoolbook on nine 64-bit limbs (up to 576 bits): a point is checked
//! in some tens of microseconds, and ECDSA keys are few.

use std::cmp::Ordering;

const LIMBS: usize = 9;
type Num = [u64; LIMBS];

/// A NIST prime curve: field prime, `b`, group order (big-endian hex).
#[derive(Debug, PartialEq, Eq)]
pub struct Curve {
    p: &'static str,
    b: &'static str,
    n: &'static str,
    /// Bytes of one coordinate.
    pub size: usize,
}

pub const P256: Curve = Curve {
    p: "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    b: "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
    n: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    size: 32,
};

pub const P384: Curve = Curve {
    p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
    n: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    size: 48,
};

pub const P521: Curve = Curve {
    p: "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    b: "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
    n: "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    size: 66,
};

fn from_hex(hex: &str) -> Num {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect();
    from_be(&bytes)
}

/// A big-endian byte string of at most 72 bytes as limbs.
fn from_be(bytes: &[u8]) -> Num {
    let mut n = [0u64; LIMBS];
    for (i, &b) in bytes.iter().rev().enumerate().take(LIMBS * 8) {
        n[i / 8] |= u64::from(b) << (8 * (i % 8));
    }
    n
}

fn cmp(a: &Num, b: &Num) -> Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

fn bits(a: &Num) -> usize {
    a.iter()
        .rposition(|&l| l != 0)
        .map_or(0, |i| 64 * i + 64 - a[i].leading_zeros() as usize)
}

/// `a - b` for `a >= b`.
fn sub(a: &Num, b: &Num) -> Num {
    let mut out = [0u64; LIMBS];
    let mut borrow = false;
    for i in 0..LIMBS {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    out
}

/// `(a + b) mod p` for `a, b < p` (p under 2^575, so the sum cannot overflow).
fn add_mod(a: &Num, b: &Num, p: &Num) -> Num {
    let mut out = [0u64; LIMBS];
    let mut carry = false;
    for i in 0..LIMBS {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        out[i] = s;
        carry = c1 || c2;
    }
    if cmp(&out, p) != Ordering::Less {
        out = sub(&out, p);
    }
    out
}

/// `(a · b) mod p`: the full product, then reduced a bit at a time from the top.
fn mul_mod(a: &Num, b: &Num, p: &Num) -> Num {
    let mut wide = [0u64; 2 * LIMBS];
    for i in 0..LIMBS {
        let mut carry = 0u128;
        for j in 0..LIMBS {
            let t = u128::from(a[i]) * u128::from(b[j]) + u128::from(wide[i + j]) + carry;
            wide[i + j] = t as u64;
            carry = t >> 64;
        }
        wide[i + LIMBS] = carry as u64;
    }
    let mut r = [0u64; LIMBS];
    for bit in (0..128 * LIMBS).rev() {
        // r = 2r + bit, then r -= p when r >= p; r stays below p.
        let top = r[LIMBS - 1] >> 63;
        for i in (1..LIMBS).rev() {
            r[i] = r[i] << 1 | r[i - 1] >> 63;
        }
        r[0] = r[0] << 1 | (wide[bit / 64] >> (bit % 64)) & 1;
        if top != 0 || cmp(&r, p) != Ordering::Less {
            r = sub(&r, p);
        }
    }
    r
}

/// Why the uncompressed point `q` (`04 || X || Y`) is not a public key OpenSSH accepts on
/// `curve`, or `None` when it is one.
pub fn check_point(curve: &Curve, q: &[u8]) -> Option<&'static str> {
    if q.len() != 1 + 2 * curve.size {
        return Some("the point has the wrong length for its curve");
    }
    if q[0] != 4 {
        return Some("the point is not in uncompressed form");
    }
    let (p, b, n) = (from_hex(curve.p), from_hex(curve.b), from_hex(curve.n));
    let x = from_be(&q[1..=curve.size]);
    let y = from_be(&q[1 + curve.size..]);
    if cmp(&x, &p) != Ordering::Less || cmp(&y, &p) != Ordering::Less {
        return Some("a coordinate of the point is not below the field prime");
    }
    // x³ − 3x + b = x(x² − 3) + b, with −3 as p − 3.
    let three = from_be(&[3]);
    let rhs = add_mod(
        &mul_mod(&add_mod(&mul_mod(&x, &x, &p), &sub(&p, &three), &p), &x, &p),
        &b,
        &p,
    );
    if mul_mod(&y, &y, &p) != rhs {
        return Some("the point is not on its curve (a changed character?)");
    }
    let half = bits(&n) / 2;
    if bits(&x) <= half || bits(&y) <= half {
        return Some("a coordinate of the point is too small");
    }
    let order_less_one = sub(&n, &from_be(&[1]));
    if cmp(&x, &order_less_one) != Ordering::Less || cmp(&y, &order_less_one) != Ordering::Less {
        return Some("a coordinate of the point is not below the group order");
    }
    None
}

/// The curve's generator as an uncompressed point (SEC 2): a public key every implementation
/// accepts, for tests.
#[cfg(test)]
pub fn generator(curve: &Curve) -> Vec<u8> {
    use tests::*;
    let (x, y) = match curve.size {
        32 => G256,
        48 => G384,
        _ => G521,
    };
    point(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The curves' generators (SEC 2): points every implementation agrees are on the curve.
    pub const G256: (&str, &str) = (
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    );
    pub const G384: (&str, &str) = (
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
    );
    pub const G521: (&str, &str) = (
        "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
        "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
    );

    pub fn point(hex_x: &str, hex_y: &str) -> Vec<u8> {
        let mut q = vec![4];
        q.extend(from_hex_bytes(hex_x));
        q.extend(from_hex_bytes(hex_y));
        q
    }

    fn from_hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn generators_are_accepted() {
        assert_eq!(check_point(&P256, &point(G256.0, G256.1)), None);
        assert_eq!(check_point(&P384, &point(G384.0, G384.1)), None);
        assert_eq!(check_point(&P521, &point(G521.0, G521.1)), None);
    }

    #[test]
    fn one_changed_byte_leaves_the_curve() {
        for (curve, g) in [(&P256, G256), (&P384, G384), (&P521, G521)] {
            let good = point(g.0, g.1);
            for at in [1, curve.size / 2, curve.size + 3, good.len() - 1] {
                let mut q = good.clone();
                q[at] ^= 0x10;
                assert!(check_point(curve, &q).is_some(), "byte {at}");
            }
        }
    }

    #[test]
    fn form_length_and_range() {
        let mut q = point(G256.0, G256.1);
        q[0] = 2;
        assert!(check_point(&P256, &q).unwrap().contains("uncompressed"));
        assert!(check_point(&P384, &point(G256.0, G256.1))
            .unwrap()
            .contains("length"));
        let p = P256.p;
        assert!(check_point(&P256, &point(p, G256.1))
            .unwrap()
            .contains("field prime"));
        let zero = "0".repeat(64);
        assert!(check_point(&P256, &point(&zero, &zero)).is_some());
    }

    #[test]
    fn arithmetic_against_small_numbers() {
        let p = from_be(&[251]);
        assert_eq!(
            mul_mod(&from_be(&[200]), &from_be(&[100]), &p),
            from_be(&[(20000 % 251) as u8])
        );
        assert_eq!(
            add_mod(&from_be(&[200]), &from_be(&[100]), &p),
            from_be(&[49])
        );
        assert_eq!(bits(&from_be(&[1, 0])), 9);
        assert_eq!(bits(&[0; LIMBS]), 0);
    }
}

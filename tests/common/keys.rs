//! Synthetic SSH public keys for tests and benches: valid in form (a wire-format ed25519 blob),
//! distinct per seed, made without ssh-keygen.

#![allow(dead_code)]

pub fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// An `ssh-ed25519 BASE64 COMMENT` line whose 32 key bytes are `key`.
pub fn ed25519_line(key: &[u8; 32], comment: &str) -> String {
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(key);
    format!("ssh-ed25519 {} {comment}", b64(&blob))
}

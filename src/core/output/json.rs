//! One JSON document, written as it is built, and hex for what it shows of bytes.

use super::emit_bytes;
use crate::error::Result;

/// A small streaming JSON writer. Commas are placed automatically; keys and values are written in
/// the order given, so documented key order is what users see. The document is built as bytes
/// that are valid UTF-8 by construction (every string from data goes through `escape`).
///
/// The document is `out[..len]`; the rest of `out` is room (zeroes, or what a reused buffer
/// held), so that each write is one copy into a slice (a literal's copy compiles to a few
/// moves) rather than a call into `Vec`'s growth path. A listing of 1000 links makes some
/// 15000 writes.
#[derive(Debug, Default)]
pub struct Json {
    out: Vec<u8>,
    len: usize,
    need_comma: bool,
}

impl Json {
    pub fn new() -> Json {
        Json::default()
    }

    /// A document built in `buffer`'s memory, whatever it holds (a buffer done with, whose
    /// pages are already touched: a fresh one costs a page fault per 4 KiB written).
    pub fn reusing(mut buffer: Vec<u8>) -> Json {
        buffer.resize(buffer.capacity(), 0);
        Json {
            out: buffer,
            len: 0,
            need_comma: false,
        }
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end > self.out.len() {
            self.grow(end);
        }
        self.out[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// `"body"` then `tail`, with one check for room.
    #[inline(always)]
    fn put_quoted(&mut self, body: &[u8], tail: &[u8]) {
        let end = self.len + body.len() + 2 + tail.len();
        if end > self.out.len() {
            self.grow(end);
        }
        let (open, rest) = self.out[self.len..end].split_at_mut(1);
        let (text, rest) = rest.split_at_mut(body.len());
        let (close, after) = rest.split_at_mut(1);
        open[0] = b'"';
        text.copy_from_slice(body);
        close[0] = b'"';
        after.copy_from_slice(tail);
        self.len = end;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, end: usize) {
        self.out.resize(end.max(2 * self.out.len()).max(256), 0);
    }

    #[inline(always)]
    fn sep(&mut self) {
        if self.need_comma {
            self.put(b",");
        }
        self.need_comma = false;
    }

    #[inline]
    pub fn begin_object(&mut self) -> &mut Json {
        self.sep();
        self.put(b"{");
        self
    }

    #[inline]
    pub fn end_object(&mut self) -> &mut Json {
        self.put(b"}");
        self.need_comma = true;
        self
    }

    #[inline]
    pub fn begin_array(&mut self) -> &mut Json {
        self.sep();
        self.put(b"[");
        self
    }

    #[inline]
    pub fn end_array(&mut self) -> &mut Json {
        self.put(b"]");
        self.need_comma = true;
        self
    }

    /// An object key written in the program: plain ASCII that needs no escape (checked in debug
    /// builds, which the tests run). The next call writes its value. Keys and strings are not
    /// inlined: at each of their call sites, in every applet, they would add ~40 KB to the binary.
    pub fn key(&mut self, key: &'static str) -> &mut Json {
        self.key_inline(key)
    }

    /// `key`, inlined: for a loop printing thousands of objects (a link listing), where a call
    /// per key costs more than writing the key.
    #[inline(always)]
    pub fn key_inline(&mut self, key: &'static str) -> &mut Json {
        debug_assert!(key.bytes().all(|b| plain(&b)), "key {key:?} needs escaping");
        self.sep();
        self.put_quoted(key.as_bytes(), b":");
        self
    }

    /// An object key taken from data (a variable's name), escaped like a string value.
    pub fn key_text(&mut self, key: &str) -> &mut Json {
        self.sep();
        self.escape(key.as_bytes());
        self.put(b":");
        self
    }

    /// A string value from bytes; invalid UTF-8 becomes U+FFFD.
    #[inline]
    pub fn string(&mut self, value: impl AsRef<[u8]>) -> &mut Json {
        self.string_bytes(value.as_ref())
    }

    fn string_bytes(&mut self, value: &[u8]) -> &mut Json {
        self.sep();
        self.escape(value);
        self.need_comma = true;
        self
    }

    #[inline]
    pub fn number(&mut self, value: impl Into<i128>) -> &mut Json {
        // Inlined, the conversion of a u32 (most numbers printed) folds away.
        let value = value.into();
        self.sep();
        if value < 0 {
            self.put(b"-");
        }
        match u64::try_from(value.unsigned_abs()) {
            Ok(n) => self.digits(n),
            Err(_) => self.put(value.unsigned_abs().to_string().as_bytes()),
        }
        self.need_comma = true;
        self
    }

    /// Digits written by hand: formatting through core::fmt costs more than the rest of a
    /// listing's line.
    fn digits(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[at..]);
    }

    /// A string value written in the program: plain ASCII that needs no escape (checked in
    /// debug builds), copied without the scan `string` makes.
    #[inline]
    pub fn word(&mut self, word: &'static str) -> &mut Json {
        debug_assert!(word.bytes().all(|b| plain(&b)), "{word:?} needs escaping");
        self.sep();
        self.put_quoted(word.as_bytes(), b"");
        self.need_comma = true;
        self
    }

    /// `bytes` as one string of lowercase hex pairs joined by `sep` (a link-layer address),
    /// written in place.
    pub fn hex_string(&mut self, bytes: &[u8], sep: u8) -> &mut Json {
        debug_assert!(plain(&sep), "{sep:?} needs escaping");
        self.sep();
        let text = hex_len(bytes);
        let end = self.len + text + 2;
        if end > self.out.len() {
            self.grow(end);
        }
        let out = &mut self.out[self.len..end];
        out[0] = b'"';
        hex_into(bytes, sep, &mut out[1..=text]);
        out[text + 1] = b'"';
        self.len = end;
        self.need_comma = true;
        self
    }

    /// Another document, whole, as the next value (one written once and reused).
    pub fn embed(&mut self, other: &Json) -> &mut Json {
        self.sep();
        self.put(&other.out[..other.len]);
        self.need_comma = true;
        self
    }

    /// Empties the document, keeping its room.
    pub fn clear(&mut self) {
        self.len = 0;
        self.need_comma = false;
    }

    #[inline]
    pub fn bool(&mut self, value: bool) -> &mut Json {
        self.sep();
        self.put(if value { b"true" } else { b"false" });
        self.need_comma = true;
        self
    }

    #[inline]
    pub fn null(&mut self) -> &mut Json {
        self.sep();
        self.put(b"null");
        self.need_comma = true;
        self
    }

    /// A string, or `null` for `None`.
    pub fn opt_string(&mut self, value: Option<impl AsRef<[u8]>>) -> &mut Json {
        match value {
            Some(v) => self.string(v),
            None => self.null(),
        }
    }

    /// Writes what is built so far to stdout once it reaches 16 KiB, so a long listing reuses
    /// one buffer, allocated once, instead of growing (copying, and page-faulting in) one as
    /// large as the whole output. For callers whose data are all gathered: nothing after the
    /// first part can fail but writing.
    pub fn emit_part(&mut self) -> Result<()> {
        const PART: usize = 16 * 1024;
        if self.len >= PART {
            emit_bytes(&self.out[..self.len])?;
            self.len = 0;
        } else if self.out.len() < PART {
            // Room for a part and the object that ends it (a link's is under 1 KiB), so the
            // buffer need not grow again.
            self.grow(PART + 4096);
        }
        Ok(())
    }

    /// The document (what `emit_part` has not written yet) with a final newline.
    pub fn finish(mut self) -> String {
        self.put(b"\n");
        self.out.truncate(self.len);
        String::from_utf8(self.out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends `bytes` as a quoted JSON string: `"` and `\` escaped, control characters as `\n`,
    /// `\t`, ... or `\u00XX`, and each invalid UTF-8 sequence as `\ufffd`. What it appends is
    /// always valid UTF-8.
    #[inline(always)]
    fn escape(&mut self, bytes: &[u8]) {
        // Names, keys and addresses are nearly always printable ASCII that needs no escape.
        if bytes.iter().all(plain) {
            self.put_quoted(bytes, b"");
        } else {
            self.escape_slow(bytes);
        }
    }

    #[cold]
    fn escape_slow(&mut self, bytes: &[u8]) {
        self.put(b"\"");
        for chunk in bytes.utf8_chunks() {
            let valid = chunk.valid().as_bytes();
            // Runs of characters that need no escape are copied whole. Every escaped character
            // is ASCII, so the run boundaries are character boundaries.
            let mut run = 0;
            for (i, &b) in valid.iter().enumerate() {
                let escaped: &[u8] = match b {
                    b'"' => b"\\\"",
                    b'\\' => b"\\\\",
                    b'\n' => b"\\n",
                    b'\r' => b"\\r",
                    b'\t' => b"\\t",
                    0x08 => b"\\b",
                    0x0c => b"\\f",
                    b if b < 0x20 || b == 0x7f => b"",
                    _ => continue,
                };
                self.put(&valid[run..i]);
                if escaped.is_empty() {
                    self.put(format!("\\u{b:04x}").as_bytes());
                } else {
                    self.put(escaped);
                }
                run = i + 1;
            }
            self.put(&valid[run..]);
            if !chunk.invalid().is_empty() {
                self.put(b"\\ufffd");
            }
        }
        self.put(b"\"");
    }
}

/// How long `bytes` is as hex pairs with a separator between them.
pub fn hex_len(bytes: &[u8]) -> usize {
    (bytes.len() * 3).saturating_sub(1)
}

/// Writes `bytes` as lowercase hex pairs joined by `sep` into `out`, which is `hex_len` long.
pub fn hex_into(bytes: &[u8], sep: u8, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        let pair = &mut out[3 * i..];
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 15)];
        if let Some(s) = pair.get_mut(2) {
            *s = sep;
        }
    }
}

/// A byte that stands for itself inside a JSON string: printable ASCII but `"` and `\`. Looked up
/// in a table, one load a byte, as every name and address printed is checked.
#[inline(always)]
fn plain(b: &u8) -> bool {
    const PLAIN: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0x20;
        while b < 0x7f {
            t[b] = b != b'"' as usize && b != b'\\' as usize;
            b += 1;
        }
        t
    };
    PLAIN[usize::from(*b)]
}

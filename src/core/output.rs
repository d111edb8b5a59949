//! What applets print: aligned human tables, one JSON document, `NAME=value` env files, and the
//! stdout writer that turns a closed pipe (`hwc-gpu-detect | head -1`) into a quiet success.
//! Text meant for a terminal never carries control characters from outside data (a device name,
//! a bus error): [`printable`] writes them as escapes.

use std::borrow::Cow;
use std::io::Write as _;
use std::os::fd::AsFd;

use crate::error::{Error, Result};

/// How a report is printed, the same choice in every applet: text for people, or one JSON
/// document (`--json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn of(json: bool) -> Format {
        if json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// What an applet reports, in both formats; [`print()`] chooses.
pub trait Report {
    fn text(&self) -> String;
    fn json(&self, j: &mut Json);
}

/// Prints `report` on stdout in `format`.
pub fn print(format: Format, report: &impl Report) -> Result<()> {
    match format {
        Format::Text => emit(&report.text()),
        Format::Json => {
            let mut j = Json::new();
            report.json(&mut j);
            emit(&j.finish())
        }
    }
}

/// A change a dry run would make, worded one way in every applet: `would: ACTION`.
pub fn would(action: impl std::fmt::Display) -> String {
    format!("would: {action}")
}

/// Writes `text` to stdout and flushes. A reader that went away ends the applet quietly with 0.
pub fn emit(text: &str) -> Result<()> {
    emit_bytes(text.as_bytes())
}

/// `emit` for text already held as bytes (a JSON document's parts). Written straight to fd 1:
/// std's stdout is line-buffered and would first search each 16 KiB part for a newline. What
/// std may hold (nothing: every print ends its line) is flushed first, to keep the order.
pub fn emit_bytes(text: &[u8]) -> Result<()> {
    std::io::stdout()
        .flush()
        .and_then(|()| write_all(std::io::stdout().as_fd(), text))
        .map_err(|e| Error::io("writing to standard output", &e))
}

/// Writes all of `buf` to `fd`, going on after a short write or EINTR.
fn write_all(fd: std::os::fd::BorrowedFd, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `text` for a terminal: control characters (C0, DEL, C1) written as `\n`, `\r`, `\t` or
/// `\xHH`, so outside data can neither move the cursor nor start a line of its own.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One line on stderr, `APPLET: message`, the message made [`printable`].
pub fn warn(applet: &str, message: &str) {
    eprintln!("{applet}: {}", printable(message));
}

/// Columns separated by two spaces, each as wide as its widest cell; the last column is not
/// padded so lines carry no trailing blanks.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        let mut t = Table::default();
        t.row(header);
        t
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn render(&self) -> String {
        let rows: Vec<Vec<Cow<str>>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| printable(c)).collect())
            .collect();
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

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

/// Whether `name` may be an environment variable name in both `sh` and systemd.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One `NAME=value` line that `sh` and systemd's `EnvironmentFile=` read back as the same
/// value, whatever it holds: plain values stay bare; others are double-quoted with `\`, `"`,
/// `` ` `` and `$` escaped by a backslash, the only escapes both grammars take inside double
/// quotes, newlines left as they are (both keep them inside quotes). Single quotes would not do:
/// after `'...'` systemd reads on unquoted, so sh's `'\''` means something else to it.
pub fn env_line(name: &str, value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut line = String::with_capacity(name.len() + text.len() + 4);
    line.push_str(name);
    line.push('=');
    if is_plain(&text) {
        line.push_str(&text);
    } else {
        line.push('"');
        for c in text.chars() {
            if matches!(c, '\\' | '"' | '`' | '$') {
                line.push('\\');
            }
            line.push(c);
        }
        line.push('"');
    }
    line.push('\n');
    line
}

/// Reads back what [`env_line`] wrote: `NAME=value` lines, values bare or double-quoted (over
/// several lines where they hold newlines). A line that is not such an assignment ends the
/// reading with an error naming its number.
pub fn read_env_lines(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    let mut rest = text;
    let mut line_no = 1;
    while !rest.is_empty() {
        let bad = |n: usize| format!("line {n}: not a NAME=value line written by hwc");
        let (name, after) = rest.split_once('=').ok_or_else(|| bad(line_no))?;
        if !is_env_name(name) {
            return Err(bad(line_no));
        }
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let end = loop {
                    match chars.next() {
                        None => return Err(format!("line {line_no}: unterminated quote")),
                        Some((i, '"')) => break i + 1,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('\\' | '"' | '`' | '$'))) => value.push(c),
                            Some((_, c)) => {
                                value.push('\\');
                                value.push(c);
                            }
                            None => return Err(format!("line {line_no}: unterminated quote")),
                        },
                        Some((_, c)) => value.push(c),
                    }
                };
                let after = &quoted[end..];
                line_no += quoted[..end].matches('\n').count();
                (value, after)
            }
            None => {
                let end = after.find('\n').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        rest = after.strip_prefix('\n').ok_or_else(|| bad(line_no))?;
        line_no += 1;
        vars.push((name.to_string(), value));
    }
    Ok(vars)
}

/// Holds only characters that need no quoting for `sh` and systemd alike.
fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:,+@%=".contains(&b))
}

/// `value` as one word for `sh` (and systemd): bare when it holds only safe characters,
/// otherwise single-quoted with each `'` written as `'\''`. Invalid UTF-8 becomes U+FFFD.
pub fn quote(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    if is_plain(&text) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_without_trailing_blanks() {
        let mut t = Table::new(["PCI", "VENDOR", "DRIVER"]);
        t.row(["0000:01:00.0", "nvidia", "nvidia"]);
        t.row(["0000:00:02.0", "intel", ""]);
        assert_eq!(
            t.render(),
            "PCI           VENDOR  DRIVER\n\
             0000:01:00.0  nvidia  nvidia\n\
             0000:00:02.0  intel\n"
        );
    }

    #[test]
    fn json_structure_and_commas() {
        let mut j = Json::new();
        j.begin_object();
        j.key("gpus").begin_array();
        j.begin_object()
            .key("pci")
            .string("0000:01:00.0")
            .key("default")
            .bool(false)
            .end_object();
        j.begin_object()
            .key("n")
            .number(3u8)
            .key("x")
            .null()
            .end_object();
        j.end_array();
        j.key("accel").opt_string(Some("cuda"));
        j.key("none").opt_string(None::<&str>);
        j.end_object();
        assert_eq!(
            j.finish(),
            "{\"gpus\":[{\"pci\":\"0000:01:00.0\",\"default\":false},{\"n\":3,\"x\":null}],\"accel\":\"cuda\",\"none\":null}\n"
        );
    }

    #[test]
    fn json_words_hex_and_embedded_documents() {
        let mut inner = Json::new();
        inner.begin_array().word("UP").word("LOWER_UP").end_array();
        let mut j = Json::new();
        j.begin_array();
        for mac in [&[][..], &[0x0a], &[0x02, 0x42, 0xac, 0x11, 0x00, 0xff]] {
            j.begin_object()
                .key_inline("flags")
                .embed(&inner)
                .key("address")
                .hex_string(mac, b':')
                .end_object();
        }
        j.end_array();
        let one = |mac: &str| format!("{{\"flags\":[\"UP\",\"LOWER_UP\"],\"address\":\"{mac}\"}}");
        assert_eq!(
            j.finish(),
            format!("[{},{},{}]\n", one(""), one("0a"), one("02:42:ac:11:00:ff"))
        );
        // Cleared, a document keeps no trace of what it held.
        inner.clear();
        inner.begin_array().word("DOWN").end_array();
        assert_eq!(inner.finish(), "[\"DOWN\"]\n");
        // 20 bytes (InfiniBand), past the room a new document starts with.
        let mut j = Json::new();
        j.hex_string(&[0x80; 20], b'-');
        assert_eq!(j.finish(), format!("\"{}\"\n", ["80"; 20].join("-")));
    }

    #[test]
    fn json_in_a_reused_buffer_keeps_nothing_of_it() {
        let mut j = Json::reusing(b"[\"stale\"".repeat(100));
        j.begin_array().word("fresh").end_array();
        assert_eq!(j.finish(), "[\"fresh\"]\n");
        assert_eq!(Json::reusing(Vec::new()).finish(), "\n");
    }

    #[test]
    fn json_grows_past_its_room_and_escapes_keys_from_data() {
        let mut j = Json::new();
        j.begin_object().key_text("a\"b").begin_array();
        let long = "x".repeat(1000);
        for _ in 0..100 {
            j.string(&long);
        }
        j.end_array().end_object();
        let text = j.finish();
        let expected = format!(
            "{{\"a\\\"b\":[{}]}}\n",
            vec![format!("\"{long}\""); 100].join(",")
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn json_numbers_at_the_edges() {
        let mut j = Json::new();
        j.begin_array();
        j.number(0u8).number(7u32).number(-1i32).number(u64::MAX);
        j.number(i64::MIN).number(i128::MIN).end_array();
        assert_eq!(
            j.finish(),
            format!("[0,7,-1,{},{},{}]\n", u64::MAX, i64::MIN, i128::MIN)
        );
    }

    #[test]
    fn json_escapes_controls_quotes_and_bad_utf8() {
        let mut j = Json::new();
        j.string(b"a\"b\\c\n\t\x01\x7f\xff\xfez\xc3\xa9");
        assert_eq!(
            j.finish(),
            "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\\ufffd\\ufffdz\u{e9}\"\n"
        );
    }

    #[test]
    fn json_escape_round_trips_through_a_real_parser_shape() {
        // Every byte value alone must give a string with balanced quotes and no raw controls.
        for b in 0u8..=255 {
            let mut j = Json::new();
            j.string([b]);
            let s = j.finish();
            let s = s.trim_end_matches('\n');
            assert!(
                s.starts_with('"') && s.ends_with('"') && s.len() >= 3,
                "{b}: {s}"
            );
            assert!(
                !s[1..s.len() - 1].chars().any(|c| (c as u32) < 0x20),
                "{b}: {s}"
            );
        }
    }

    #[test]
    fn env_line_quotes_when_needed() {
        assert_eq!(env_line("A", b"cuda"), "A=cuda\n");
        assert_eq!(env_line("A", b"pci-0000_01_00_0"), "A=pci-0000_01_00_0\n");
        assert_eq!(env_line("A", b""), "A=\"\"\n");
        assert_eq!(env_line("A", b"a b"), "A=\"a b\"\n");
        assert_eq!(env_line("A", b"it's $HOME"), "A=\"it's \\$HOME\"\n");
        assert_eq!(env_line("A", b"x\\\"`"), "A=\"x\\\\\\\"\\`\"\n");
    }

    const HOSTILE: [&[u8]; 12] = [
        b"plain",
        b"a b",
        b"it's",
        b"'",
        b"'\n",
        b"$(id) `x` \\n",
        b"\"q\"",
        b"x\ny\nB=2",
        b"trailing space ",
        b"\\",
        b"# not a comment",
        b"tab\there\r",
    ];

    #[test]
    fn env_line_survives_sh() {
        for v in HOSTILE {
            let line = env_line("HWC_T", v);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{line}printf %s \"$HWC_T\""))
                .output()
                .unwrap();
            assert_eq!(out.stdout, v, "{line}");
        }
    }

    #[test]
    fn env_lines_read_back_exactly() {
        let text: String = HOSTILE
            .iter()
            .enumerate()
            .map(|(i, v)| env_line(&format!("V{i}"), v))
            .collect();
        let vars = read_env_lines(&text).unwrap();
        assert_eq!(vars.len(), HOSTILE.len());
        for (i, (k, v)) in vars.iter().enumerate() {
            assert_eq!(k, &format!("V{i}"));
            assert_eq!(v.as_bytes(), HOSTILE[i]);
        }
        assert!(read_env_lines("A=1\nnot an assignment\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(read_env_lines("A=\"open\n").is_err());
    }

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable("eth0"), "eth0");
        assert_eq!(printable("a\nb\x1b[2J\u{9b}"), "a\\nb\\x1b[2J\\x9b");
        let mut t = Table::new(["A", "B"]);
        t.row(["x\ty", "\x07"]);
        assert_eq!(t.render(), "A     B\nx\\ty  \\x07\n");
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("HWC_GPU_TYPE"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
    }
}

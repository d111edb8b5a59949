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
        .map_err(|e| Error::stdout(&e))
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

mod env;
mod json;
mod table;

pub use env::{
    env_line, is_env_name, quote, read_env_lines, session_env_path, RUNTIME_SUBDIR,
    SESSION_ENV_FILE,
};
pub use json::{hex_into, hex_len, Json};
pub use table::Table;

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

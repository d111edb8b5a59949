//! systemd's `EnvironmentFile=` grammar (`parse_env_file_internal`, src/basic/env-file.c), as a
//! test oracle written from the grammar, independent of hwc's own writer and reader: the states,
//! the quote and escape rules, the trimming of unquoted trailing blanks, and the end-of-file cases.

#![allow(dead_code)]

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuote,
    DoubleQuote,
    DoubleQuoteEscape,
    Comment,
    CommentEscape,
}

fn is_newline(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The assignments of a file, in order (a later one for the same name wins, as systemd's
/// `strv_env_replace` does), before systemd drops invalid names.
pub fn parse(data: &[u8]) -> Vec<(String, String)> {
    use State::*;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut state = PreKey;
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let mut value_set = false;
    let (mut last_key_ws, mut last_value_ws): (Option<usize>, Option<usize>) = (None, None);
    let mut push = |key: &mut Vec<u8>,
                    value: &mut Vec<u8>,
                    last_key_ws: Option<usize>,
                    trim_value: Option<usize>| {
        if let Some(n) = last_key_ws {
            key.truncate(n);
        }
        if let Some(n) = trim_value {
            value.truncate(n);
        }
        let k = String::from_utf8(std::mem::take(key)).expect("UTF-8 key");
        let v = String::from_utf8(std::mem::take(value)).expect("UTF-8 value");
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    };
    for &c in data {
        match state {
            PreKey => {
                if c == b'#' || c == b';' {
                    state = Comment;
                } else if !is_whitespace(c) {
                    state = Key;
                    last_key_ws = None;
                    key.push(c);
                }
            }
            Key => {
                if is_newline(c) {
                    state = PreKey;
                    key.clear();
                } else if c == b'=' {
                    state = PreValue;
                    last_value_ws = None;
                    value_set = false;
                } else {
                    if !is_whitespace(c) {
                        last_key_ws = None;
                    } else if last_key_ws.is_none() {
                        last_key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            PreValue => {
                if is_newline(c) {
                    state = PreKey;
                    let _ = value_set;
                    push(&mut key, &mut value, last_key_ws, None);
                } else if c == b'\'' {
                    state = SingleQuote;
                } else if c == b'"' {
                    state = DoubleQuote;
                } else if c == b'\\' {
                    state = ValueEscape;
                } else if !is_whitespace(c) {
                    state = Value;
                    value.push(c);
                }
            }
            Value => {
                if is_newline(c) {
                    state = PreKey;
                    push(&mut key, &mut value, last_key_ws, last_value_ws);
                } else if c == b'\\' {
                    state = ValueEscape;
                    last_value_ws = None;
                } else {
                    if !is_whitespace(c) {
                        last_value_ws = None;
                    } else if last_value_ws.is_none() {
                        last_value_ws = Some(value.len());
                    }
                    value.push(c);
                }
            }
            ValueEscape => {
                state = Value;
                if !is_newline(c) {
                    value.push(c);
                }
            }
            SingleQuote => {
                if c == b'\'' {
                    state = PreValue;
                } else {
                    value.push(c);
                }
            }
            DoubleQuote => {
                if c == b'"' {
                    state = PreValue;
                } else if c == b'\\' {
                    state = DoubleQuoteEscape;
                } else {
                    value.push(c);
                }
            }
            DoubleQuoteEscape => {
                state = DoubleQuote;
                if matches!(c, b'"' | b'\\' | b'`' | b'$') {
                    value.push(c);
                } else if c != b'\n' {
                    value.push(b'\\');
                    value.push(c);
                }
            }
            Comment => {
                if c == b'\\' {
                    state = CommentEscape;
                } else if is_newline(c) {
                    state = PreKey;
                }
            }
            CommentEscape => {
                state = if is_newline(c) { PreKey } else { Comment };
            }
        }
    }
    match state {
        PreValue | ValueEscape | SingleQuote | DoubleQuote | DoubleQuoteEscape => {
            push(&mut key, &mut value, last_key_ws, None)
        }
        Value => push(&mut key, &mut value, last_key_ws, last_value_ws),
        _ => {}
    }
    out
}

#[test]
fn the_grammar_as_documented() {
    let got = parse(b"A=1\n# c\n  B = two words  \nC='it'\\''s'\nD=\"x\\$y\\n\"\nE=a\"b\"c\nF=\"a\" \"b\"\nG\nH=\n");
    let want = [
        ("A", "1"),
        ("B", "two words"),
        // After the closing quote systemd reads on unquoted: \' is ', then 's' literally:
        // sh's '\'' idiom comes back changed.
        ("C", "it''s'"),
        ("D", "x$y\\n"),
        ("E", "a\"b\"c"),
        ("F", "ab"),
        ("H", ""),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
}

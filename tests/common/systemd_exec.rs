//! systemd's reading of an `ExecStart=` value, so a test runs exactly the argv systemd would:
//! the prefixes, word splitting with quotes and C escapes (`extract_first_word` with
//! EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE), `%` specifiers, then `$` substitution at spawn
//! (`replace_env_argv`). systemd 252's grammar, as src/core/load-fragment.c, extract-word.c,
//! escape.c, specifier.c and env-util.c spell it. A test holds the first three stages against
//! systemd itself (`systemd --test` prints each command line it parsed; see `dump_quote`).

#![allow(dead_code)]

use std::collections::HashMap;

const WHITESPACE: &[u8] = b" \t\n\r";

/// One parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Exec {
    /// The program, specifiers expanded.
    pub path: String,
    /// argv as loaded (argv[0] is the path): quotes and escapes resolved, specifiers expanded,
    /// `$` not yet substituted.
    pub argv: Vec<String>,
    /// The `-` prefix: a failure is ignored.
    pub ignore_failure: bool,
    /// The `:` prefix: no `$` substitution.
    pub no_env_expand: bool,
}

/// Parses a whole `ExecStart=` value (one command). Specifiers other than `%%` are refused:
/// hwc's units use none, so one would mean an unescaped `%`.
pub fn parse(value: &str) -> Result<Exec, String> {
    let mut rest = value.as_bytes();
    let first = next_word(&mut rest)?.ok_or("empty command")?;
    let mut word = first.as_slice();
    let (mut ignore_failure, mut no_env_expand, mut separate_argv0) = (false, false, false);
    loop {
        match word.first() {
            Some(b'-') if !ignore_failure => ignore_failure = true,
            Some(b':') if !no_env_expand => no_env_expand = true,
            Some(b'@') if !separate_argv0 => separate_argv0 = true,
            Some(b'+' | b'!') => return Err("privilege prefixes are not used by hwc".into()),
            _ => break,
        }
        word = &word[1..];
    }
    let path = specifiers(&text(word.to_vec())?)?;
    if !path.starts_with('/') || path.ends_with('/') {
        return Err(format!("'{path}' is not an absolute program path"));
    }
    if path
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b"\"'\\".contains(&b))
    {
        return Err(format!("'{path}' is not a safe program path"));
    }
    let mut argv = Vec::new();
    if separate_argv0 {
        let zero = next_word(&mut rest)?.ok_or("no argv[0] after '@'")?;
        argv.push(specifiers(&text(zero)?)?);
    } else {
        argv.push(path.clone());
    }
    loop {
        let trimmed = trim_start(rest);
        if trimmed.starts_with(b";") && ends_word(&trimmed[1..]) {
            return Err("more than one command".into());
        }
        if trimmed.starts_with(b"\\;") && ends_word(&trimmed[2..]) {
            argv.push(";".into());
            rest = &trimmed[2..];
            continue;
        }
        match next_word(&mut rest)? {
            Some(w) => argv.push(specifiers(&text(w)?)?),
            None => break,
        }
    }
    Ok(Exec {
        path,
        argv,
        ignore_failure,
        no_env_expand,
    })
}

/// argv at spawn: `$` substituted from `env` (skipped with the `:` prefix); argv[0] included.
pub fn spawn_argv(exec: &Exec, env: &HashMap<String, String>) -> Vec<String> {
    if exec.no_env_expand {
        return exec.argv.clone();
    }
    let mut out = Vec::new();
    for word in &exec.argv {
        let b = word.as_bytes();
        if b.len() >= 2 && b[0] == b'$' && b[1] != b'{' && b[1] != b'$' {
            // A whole-word reference: the value split into words, or nothing at all.
            if let Some(value) = env.get(&word[1..]).filter(|_| valid_name(&word[1..])) {
                out.extend(split_value(value));
            }
            continue;
        }
        out.push(substitute(word, env));
    }
    out
}

/// An argument as `systemd --test` prints it in a unit's "Command Line:" (shell_maybe_quote
/// with SHELL_ESCAPE_EMPTY): as it is when nothing in it needs quoting, else in double quotes
/// with `"`, `\`, backquote and `$` escaped and control characters C-escaped.
pub fn dump_quote(arg: &str) -> String {
    const NEED_QUOTES: &[u8] = b"\"\\`$*?['()<>|&;!";
    if arg.is_empty() {
        return "\"\"".into();
    }
    let plain = arg
        .bytes()
        .all(|b| !NEED_QUOTES.contains(&b) && !WHITESPACE.contains(&b) && b >= 0x20 && b != 0x7f);
    if plain {
        return arg.into();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '\\' | '`' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| WHITESPACE.contains(c)).count();
    &b[n..]
}

fn ends_word(b: &[u8]) -> bool {
    b.first().is_none_or(|c| WHITESPACE.contains(c))
}

fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "a word is not UTF-8".into())
}

/// extract_first_word(WHITESPACE, EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE): quotes open anywhere and
/// close without ending the word; a backslash escapes inside and outside quotes alike.
fn next_word(rest: &mut &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut b = trim_start(rest);
    if b.is_empty() {
        *rest = b;
        return Ok(None);
    }
    let mut word = Vec::new();
    let mut quote: Option<u8> = None;
    loop {
        let Some(&c) = b.first() else {
            if quote.is_some() {
                return Err("unbalanced quoting".into());
            }
            break;
        };
        b = &b[1..];
        match (quote, c) {
            (_, b'\\') => {
                let (bytes, used) = cunescape_one(b)?;
                word.extend_from_slice(&bytes);
                b = &b[used..];
            }
            (None, c) if WHITESPACE.contains(&c) => break,
            (None, b'\'' | b'"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (_, c) => word.push(c),
        }
    }
    *rest = b;
    Ok(Some(word))
}

/// The bytes one backslash escape stands for, and how many bytes after the backslash it used.
fn cunescape_one(b: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let hex = |s: &[u8]| -> Option<u32> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
    };
    let simple = |c: u8| (vec![c], 1);
    let &c = b.first().ok_or("a backslash at the end")?;
    Ok(match c {
        b'a' => simple(7),
        b'b' => simple(8),
        b'f' => simple(12),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(11),
        b'\\' | b'"' | b'\'' => simple(c),
        b's' => simple(b' '),
        b'x' => match b.get(1..3).and_then(hex) {
            Some(v) if v != 0 => (vec![v as u8], 3),
            _ => return Err("bad \\x escape".into()),
        },
        b'0'..=b'7' => {
            let digits = b.get(0..3).ok_or("short octal escape")?;
            let v = std::str::from_utf8(digits)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 8).ok())
                .filter(|&v| v != 0 && v <= 255)
                .ok_or("bad octal escape")?;
            (vec![v as u8], 3)
        }
        b'u' | b'U' => {
            let n = if c == b'u' { 4 } else { 8 };
            let ch = b
                .get(1..1 + n)
                .and_then(hex)
                .filter(|&v| v != 0)
                .and_then(char::from_u32)
                .ok_or("bad unicode escape")?;
            (ch.to_string().into_bytes(), 1 + n)
        }
        other => return Err(format!("unknown escape '\\{}'", other as char)),
    })
}

/// `%%` is `%`; `%` and a letter or digit is a specifier (none are expected here); `%` and
/// anything else stays.
fn specifiers(word: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('%') => {
                chars.next();
                out.push('%');
            }
            Some(s) if s.is_ascii_alphanumeric() => {
                return Err(format!("specifier %{s} in '{word}'"));
            }
            _ => out.push('%'),
        }
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Inside a word: `$$` is `$`, `${NAME}` its value (or nothing); any other `$` stays.
fn substitute(word: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|a| a.split_once('}'))
            .filter(|(n, _)| valid_name(n))
        {
            out.push_str(env.get(name).map_or("", String::as_str));
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A variable's value as whole-word arguments: split at white space, quotes honoured and
/// removed, a backslash taking the next character literally (EXTRACT_RELAX|EXTRACT_UNQUOTE).
fn split_value(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| " \t\n\r".contains(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let (mut word, mut quote) = (String::new(), None);
        while let Some(c) = chars.next() {
            match (quote, c) {
                (_, '\\') => word.extend(chars.next()),
                (None, c) if " \t\n\r".contains(c) => break,
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, c) => word.push(c),
            }
        }
        words.push(word);
    }
}

#[test]
fn the_grammar_as_documented() {
    let e = parse(r#""/bin/x" "a b" c"d e"f '' "50%% \\o/ $$HOME" \x41\u00e9 \;"#).unwrap();
    assert_eq!(
        e.argv,
        ["/bin/x", "a b", "cd ef", "", "50% \\o/ $$HOME", "Aé", ";"]
    );
    let env = HashMap::from([("V".to_string(), "one 'two three'".to_string())]);
    let e = parse(r#"/bin/x $V ${V}x $$V $UNSET a$V"#).unwrap();
    assert_eq!(
        spawn_argv(&e, &env),
        [
            "/bin/x",
            "one",
            "two three",
            "one 'two three'x",
            "$V",
            "a$V"
        ]
    );
    assert!(parse(r#"/bin/x "open"#).is_err());
    assert!(parse("/bin/x 100%d").is_err());
    assert!(parse(r"/bin/x \q").is_err());
    assert!(parse("-/bin/x").unwrap().ignore_failure);
    assert_eq!(dump_quote("a b"), r#""a b""#);
    assert_eq!(dump_quote("x$y\n"), r#""x\$y\n""#);
    assert_eq!(dump_quote("plain"), "plain");
}

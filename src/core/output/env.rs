//! `NAME=value` lines that sh and systemd both read back as written, and where hwc-session-init
//! keeps the ones it exported.

use std::path::{Path, PathBuf};

/// hwc's directory in the session's runtime directory (`$XDG_RUNTIME_DIR/hwc`), which
/// hwc-session-init makes: its record of what it exported, the secrets' links.
pub const RUNTIME_SUBDIR: &str = "hwc";
/// That record's name there (`$XDG_RUNTIME_DIR/hwc/session.env`): gpu-launch reads the GPUs'
/// snapshot in it, the doctor looks for it.
pub const SESSION_ENV_FILE: &str = "session.env";

/// Where that record is in the runtime directory `runtime`.
pub fn session_env_path(runtime: &Path) -> PathBuf {
    runtime.join(RUNTIME_SUBDIR).join(SESSION_ENV_FILE)
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

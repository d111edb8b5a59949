//! The file model: the managed keys live between two marker lines; everything outside the block
//! is the user's and is kept byte for byte, in place. A key that leaves the source leaves the
//! block (revocation). `--exclusive` makes the file the block alone.

use std::collections::HashSet;

use hwc_authorized_keys::{BEGIN, BEGIN_PREFIX, END};

#[derive(Debug, PartialEq, Eq)]
pub struct Merged {
    pub content: Vec<u8>,
    /// Managed lines that were not in the old block.
    pub added: Vec<String>,
    /// Old block lines that are gone.
    pub removed: Vec<String>,
}

/// A run of lines of the file.
type Lines<'a, 'b> = &'a [&'b [u8]];

/// Lines with their newline (the last may lack one).
fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\n').collect()
}

fn text(line: &[u8]) -> &str {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).unwrap_or("")
}

/// The new file for `existing` (None: no file yet) with `managed` as the block.
pub fn merge(
    existing: Option<&[u8]>,
    managed: &[String],
    exclusive: bool,
) -> Result<Merged, String> {
    let old = existing.unwrap_or_default();
    let all = lines(old);
    let begins: Vec<usize> = (0..all.len())
        .filter(|&i| text(all[i]).starts_with(BEGIN_PREFIX))
        .collect();
    let (before, old_block, after): (Lines, Lines, Lines) = match begins.as_slice() {
        [] => (&all, &[], &[]),
        [b] => {
            let end = (b + 1..all.len())
                .find(|&i| text(all[i]) == END)
                .ok_or_else(|| {
                    format!(
                        "line {}: managed block has no '{END}' line; fix or remove it by hand",
                        b + 1
                    )
                })?;
            (&all[..*b], &all[b + 1..end], &all[end + 1..])
        }
        [_, second, ..] => {
            return Err(format!(
                "line {}: a second managed block; remove one by hand",
                second + 1
            ))
        }
    };
    let old_lines: Vec<&str> = old_block
        .iter()
        .map(|l| text(l))
        .filter(|l| !l.is_empty())
        .collect();
    let mut content = Vec::with_capacity(old.len() + managed.len() * 100);
    if !exclusive {
        for l in before {
            content.extend_from_slice(l);
        }
        if content.last().is_some_and(|&b| b != b'\n') {
            content.push(b'\n');
        }
    }
    content.extend_from_slice(BEGIN.as_bytes());
    content.push(b'\n');
    for m in managed {
        content.extend_from_slice(m.as_bytes());
        content.push(b'\n');
    }
    content.extend_from_slice(END.as_bytes());
    content.push(b'\n');
    if !exclusive {
        for l in after {
            content.extend_from_slice(l);
        }
    }
    // Sets, not scans: a block of 100,000 keys compared line by line with a list would take
    // ten billion comparisons.
    let old_set: HashSet<&str> = old_lines.iter().copied().collect();
    let new_set: HashSet<&str> = managed.iter().map(String::as_str).collect();
    Ok(Merged {
        content,
        added: managed
            .iter()
            .filter(|m| !old_set.contains(m.as_str()))
            .cloned()
            .collect(),
        removed: old_lines
            .iter()
            .filter(|l| !new_set.contains(*l))
            .map(|l| l.to_string())
            .collect(),
    })
}

/// A line diff for `--dry-run`: `-` for lines that go, `+` for lines that come, in file order.
pub fn diff(old: &[u8], new: &[u8]) -> String {
    let (a, b) = (lines(old), lines(new));
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(|l| text(l)).collect(),
        b.iter().map(|l| text(l)).collect(),
    );
    let (in_a, in_b): (HashSet<&str>, HashSet<&str>) =
        (a.iter().copied().collect(), b.iter().copied().collect());
    let mut out = String::new();
    for l in a.iter().filter(|l| !in_b.contains(*l)) {
        out.push_str(&format!("-{l}\n"));
    }
    for l in b.iter().filter(|l| !in_a.contains(*l)) {
        out.push_str(&format!("+{l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn new_file_is_the_block() {
        let r = merge(None, &m(&["ssh-ed25519 AAAA a"]), false).unwrap();
        assert_eq!(
            String::from_utf8(r.content).unwrap(),
            format!("{BEGIN}\nssh-ed25519 AAAA a\n{END}\n")
        );
        assert_eq!(r.added, ["ssh-ed25519 AAAA a"]);
    }

    #[test]
    fn user_lines_kept_byte_for_byte_around_the_block() {
        let old = format!("# mine\r\nssh-ed25519 USER u\n{BEGIN}\nssh-ed25519 OLD o\n{END}\nafter line without newline");
        let r = merge(Some(old.as_bytes()), &m(&["ssh-ed25519 NEW n"]), false).unwrap();
        assert_eq!(
            String::from_utf8(r.content).unwrap(),
            format!("# mine\r\nssh-ed25519 USER u\n{BEGIN}\nssh-ed25519 NEW n\n{END}\nafter line without newline")
        );
        assert_eq!(r.added, ["ssh-ed25519 NEW n"]);
        assert_eq!(r.removed, ["ssh-ed25519 OLD o"]);
    }

    #[test]
    fn block_appended_after_a_last_line_without_newline() {
        let r = merge(Some(b"ssh-ed25519 USER u"), &m(&["k"]), false).unwrap();
        assert_eq!(
            String::from_utf8(r.content).unwrap(),
            format!("ssh-ed25519 USER u\n{BEGIN}\nk\n{END}\n")
        );
    }

    #[test]
    fn same_input_same_output() {
        let first = merge(Some(b"u\n"), &m(&["k1", "k2"]), false).unwrap();
        let second = merge(Some(&first.content), &m(&["k1", "k2"]), false).unwrap();
        assert_eq!(first.content, second.content);
        assert!(second.added.is_empty() && second.removed.is_empty());
    }

    #[test]
    fn exclusive_drops_user_lines() {
        let r = merge(Some(b"user line\n"), &m(&["k"]), true).unwrap();
        assert_eq!(
            String::from_utf8(r.content).unwrap(),
            format!("{BEGIN}\nk\n{END}\n")
        );
    }

    #[test]
    fn broken_blocks_are_refused() {
        let open = format!("a\n{BEGIN}\nk\n");
        assert!(merge(Some(open.as_bytes()), &m(&["k"]), false)
            .unwrap_err()
            .contains("line 2"));
        let two = format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n");
        assert!(merge(Some(two.as_bytes()), &m(&["k"]), false)
            .unwrap_err()
            .contains("second"));
    }

    #[test]
    fn diff_marks_changes() {
        assert_eq!(diff(b"a\nb\n", b"a\nc\n"), "-b\n+c\n");
        assert_eq!(diff(b"", b"x\n"), "+x\n");
    }
}

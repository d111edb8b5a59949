//! The file model, read and written here alone: the managed keys live between two marker lines;
//! everything outside the block is the user's and is kept byte for byte, in place. A key that
//! leaves the source leaves the block (revocation). `--exclusive` makes the file the block alone.
//! A file with an unterminated block or two blocks is refused by the writer, and the reader says
//! the same.

use std::collections::HashSet;

/// The line that opens the managed block.
pub const BEGIN: &str =
    "# BEGIN setup-ssh-keys (managed by hwc; edits inside this block are overwritten)";
/// What an opening line starts with (its explanation may change between versions).
const BEGIN_PREFIX: &str = "# BEGIN setup-ssh-keys";
/// The line that closes it.
pub const END: &str = "# END setup-ssh-keys";

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

/// The file's lines split at its managed block: before it, inside it (between the markers),
/// after it. `None` when there is no block; an error (naming the line) when the block has no end
/// or there is a second one, which neither the writer nor the reader guesses about.
fn split<'a, 'b>(all: Lines<'a, 'b>) -> Result<Option<[Lines<'a, 'b>; 3]>, String> {
    let mut begins = (0..all.len()).filter(|&i| text(all[i]).starts_with(BEGIN_PREFIX));
    let Some(b) = begins.next() else {
        return Ok(None);
    };
    if let Some(second) = begins.next() {
        return Err(format!(
            "line {}: a second managed block; remove one by hand",
            second + 1
        ));
    }
    let end = (b + 1..all.len())
        .find(|&i| text(all[i]) == END)
        .ok_or_else(|| {
            format!(
                "line {}: managed block has no '{END}' line; fix or remove it by hand",
                b + 1
            )
        })?;
    Ok(Some([&all[..b], &all[b + 1..end], &all[end + 1..]]))
}

/// The key lines of the managed block (neither blank nor comments); `Ok(None)` when the file
/// has no block; the writer's refusal when it would refuse the file.
pub fn managed_block(content: &[u8]) -> Result<Option<Vec<&str>>, String> {
    let all = lines(content);
    Ok(split(&all)?.map(|[_, inside, _]| {
        inside
            .iter()
            .map(|l| text(l).trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }))
}

/// The key lines of the managed block, or `None` when the file holds no whole block (for the
/// tests: callers tell a malformed block from none with [`managed_block`]).
#[cfg(test)]
pub(crate) fn managed_keys(content: &[u8]) -> Option<Vec<&str>> {
    managed_block(content).ok().flatten()
}

/// The new file for `existing` (None: no file yet) with `managed` as the block.
pub fn merge(
    existing: Option<&[u8]>,
    managed: &[String],
    exclusive: bool,
) -> Result<Merged, String> {
    let old = existing.unwrap_or_default();
    let all = lines(old);
    let [before, old_block, after] = split(&all)?.unwrap_or([&all, &[], &[]]);
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

    /// The reader (hwc-doctor) and the writer (setup-ssh-keys) agree: a file one refuses the
    /// other refuses with the same words, and what the writer wrote reads back as its keys.
    #[test]
    fn reader_and_writer_agree() {
        let files = [
            String::new(),
            "mine\n".into(),
            format!("{BEGIN}\nk1\n{END}\n"),
            format!("a\n{BEGIN}\n# note\n\nk1\r\n{END}\nz"),
            format!("{BEGIN}\nk1\n"),
            format!("{BEGIN}\n{END}\n{BEGIN}\nk2\n{END}\n"),
            format!("{BEGIN}\nk1\n{END}\n{BEGIN}\n"),
            format!("\u{fffd}\n{BEGIN}\nk1\n{END}\n"),
        ];
        for f in &files {
            let mut bytes = f.clone().into_bytes();
            bytes.extend_from_slice(b"\xff\xfe not utf-8\n");
            for content in [f.as_bytes(), &bytes] {
                let read = managed_block(content);
                let written = merge(Some(content), &m(&["k9"]), false);
                assert_eq!(
                    read.as_ref().err(),
                    written.as_ref().err(),
                    "{}",
                    String::from_utf8_lossy(content)
                );
                if let Ok(w) = written {
                    assert_eq!(managed_keys(&w.content), Some(vec!["k9"]));
                    let old_keys = read.unwrap().unwrap_or_default();
                    assert_eq!(w.added.is_empty(), old_keys == ["k9"]);
                }
            }
        }
        // Comment lines inside the block are not keys to the reader.
        let text = format!("{BEGIN}\n# note\nk1\n{END}\n");
        assert_eq!(managed_keys(text.as_bytes()), Some(vec!["k1"]));
    }

    #[test]
    fn diff_marks_changes() {
        assert_eq!(diff(b"a\nb\n", b"a\nc\n"), "-b\n+c\n");
        assert_eq!(diff(b"", b"x\n"), "+x\n");
    }
}

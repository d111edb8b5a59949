//! The one reader of hwc's configuration files: `KEY = VALUE` lines, `#` to the end of a line a
//! comment, blank lines ignored (gpu-launch.conf, perms.conf). What a key and a value mean is
//! the applet's; a line is refused as `FILE:LINE: why`, with the applet's hint on the format.

use std::path::Path;

use crate::error::Error;

/// One `KEY = VALUE` line: both trimmed, never empty of key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Counted from 1.
    pub line: usize,
    pub key: &'a str,
    pub value: &'a str,
}

/// A reader over one file's text, naming the file and the format in its errors.
pub struct Conf<'a> {
    pub file: &'a Path,
    /// How lines read, for the hint of an error: `PROGRAM = chromium` ...
    pub format: &'a str,
}

impl Conf<'_> {
    /// The entries of `text` in order, or the first line that is not one.
    pub fn entries<'t>(&self, text: &'t str) -> Result<Vec<Entry<'t>>, Error> {
        let mut out = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| self.error(i + 1, "no '='"))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(self.error(i + 1, "nothing before '='"));
            }
            out.push(Entry {
                line: i + 1,
                key,
                value: value.trim(),
            });
        }
        Ok(out)
    }

    /// `FILE:LINE: why`, with the format as the hint.
    pub fn error(&self, line: usize, why: &str) -> Error {
        Error::failed(format!("{}:{line}: {why}", self.file.display()))
            .hint(format!("lines read '{}'", self.format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_comments_and_errors() {
        let conf = Conf {
            file: Path::new("/etc/x.conf"),
            format: "A = B",
        };
        let got = conf.entries("# c\n\n a = b c # note\nx=\n").unwrap();
        assert_eq!(
            got,
            [
                Entry {
                    line: 3,
                    key: "a",
                    value: "b c"
                },
                Entry {
                    line: 4,
                    key: "x",
                    value: ""
                }
            ]
        );
        let e = conf.entries("ok = 1\njunk\n").unwrap_err();
        assert_eq!(e.to_string(), "/etc/x.conf:2: no '=' (lines read 'A = B')");
        let e = conf.entries("= 1\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("/etc/x.conf:1: nothing before '='"));
    }
}

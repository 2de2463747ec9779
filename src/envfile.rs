//! The `.env` release format: `KEY=VALUE` lines, `#` comments, blank lines.
//!
//! A release is real money's configuration, so the parser is strict: every
//! fault names its line, and a file is either read whole or refused whole.
//! The agent (submit, validate), `gantry sim` (its own validate command) and
//! the service supervisor (building the child's environment) all read
//! releases through here.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// The largest release accepted, in bytes. A release becomes a process
/// environment (Linux caps one at a few MiB) and travels in one wire line
/// (1 MiB, escaped); real ones are a few KiB.
pub const MAX_RELEASE_BYTES: usize = 256 * 1024;
/// The most keys a release may set.
pub const MAX_RELEASE_KEYS: usize = 4096;

/// One parsed `KEY=VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based line number in the file.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 { line: usize },
    // A release holds secrets, and an error reaches the audit log, every
    // session and webhooks: no error quotes a line or a value.
    #[error(
        "line {line}: expected KEY=VALUE, found no '=' in {chars} characters (not shown: a release holds secrets)"
    )]
    MissingEquals { line: usize, chars: usize },
    #[error(
        "line {line}: invalid key: character {at} is {found:?} (keys are letters, digits and _, not starting with a digit; the line is not shown)"
    )]
    InvalidKey { line: usize, at: usize, found: char },
    #[error("line {line}: duplicate key {key} (first set on line {first})")]
    DuplicateKey {
        line: usize,
        key: String,
        first: usize,
    },
    #[error("line {line}: the value of {key} is not a finite number (NaN or infinity)")]
    NotFinite { line: usize, key: String },
    #[error("line {line}: unterminated quote in the value of {key}")]
    UnterminatedQuote { line: usize, key: String },
    #[error("line {line}: control character in the value of {key}")]
    ControlCharacter { line: usize, key: String },
    #[error("the release is {bytes} bytes; the limit is {MAX_RELEASE_BYTES} (MAX_RELEASE_BYTES)")]
    TooLarge { bytes: usize },
    #[error("line {line}: more than {MAX_RELEASE_KEYS} keys (MAX_RELEASE_KEYS)")]
    TooManyKeys { line: usize },
}

impl EnvFileError {
    pub fn line(&self) -> usize {
        match self {
            Self::InvalidUtf8 { line }
            | Self::MissingEquals { line, .. }
            | Self::InvalidKey { line, .. }
            | Self::DuplicateKey { line, .. }
            | Self::NotFinite { line, .. }
            | Self::UnterminatedQuote { line, .. }
            | Self::ControlCharacter { line, .. }
            | Self::TooManyKeys { line } => *line,
            Self::TooLarge { .. } => 0,
        }
    }
}

/// A parsed release file, keys in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    pub entries: Vec<Entry>,
}

impl EnvFile {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }
}

impl fmt::Display for EnvFile {
    /// One `KEY=VALUE` line per entry, which [`parse`] reads back to the
    /// same entries: a value that parsing would trim or unquote is written
    /// inside double quotes (the format has no escapes, and needs none:
    /// only the outer pair is removed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            let v = &e.value;
            if v.trim() != v || v.starts_with(['"', '\'']) {
                writeln!(f, "{}=\"{v}\"", e.key)?;
            } else {
                writeln!(f, "{}={v}", e.key)?;
            }
        }
        Ok(())
    }
}

/// Parses a release. Bytes, not a `&str`, because invalid UTF-8 must be
/// reported with its line rather than rejected wholesale by the caller.
///
/// Linear in the size of the file, and bounded by [`MAX_RELEASE_BYTES`] and
/// [`MAX_RELEASE_KEYS`]: the agent parses what any admin sends.
pub fn parse(bytes: &[u8]) -> Result<EnvFile, EnvFileError> {
    if bytes.len() > MAX_RELEASE_BYTES {
        return Err(EnvFileError::TooLarge { bytes: bytes.len() });
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = index + 1;
        let text = std::str::from_utf8(raw).map_err(|_| EnvFileError::InvalidUtf8 { line })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let Some((key, value)) = body.split_once('=') else {
            return Err(EnvFileError::MissingEquals {
                line,
                chars: trimmed.chars().count(),
            });
        };
        let key = key.trim();
        if !is_valid_key(key) {
            let (at, found) = first_invalid(key);
            return Err(EnvFileError::InvalidKey { line, at, found });
        }
        let value = unquote(value.trim(), line, key)?;
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(EnvFileError::ControlCharacter {
                line,
                key: key.to_string(),
            });
        }
        if is_non_finite_number(&value) {
            return Err(EnvFileError::NotFinite {
                line,
                key: key.to_string(),
            });
        }
        if let Some(first) = seen.get(key) {
            return Err(EnvFileError::DuplicateKey {
                line,
                key: key.to_string(),
                first: *first,
            });
        }
        if entries.len() == MAX_RELEASE_KEYS {
            return Err(EnvFileError::TooManyKeys { line });
        }
        seen.insert(key.to_string(), line);
        entries.push(Entry {
            key: key.to_string(),
            value,
            line,
        });
    }
    Ok(EnvFile { entries })
}

/// Reads a release file to send or check it. A symbolic link is followed
/// only to a file inside the link's own directory, so `prod.env` pointing
/// at /etc/shadow is refused, not read. Only a regular file is read, and
/// its size is checked before reading (a 200 MB file or /dev/zero costs
/// nothing). Errors name the path, never the content.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let cannot = |e: std::io::Error| format!("cannot read {shown}: {e}");
    let target = if std::fs::symlink_metadata(path)
        .map_err(cannot)?
        .file_type()
        .is_symlink()
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let dir = dir.canonicalize().map_err(cannot)?;
        let target = path.canonicalize().map_err(cannot)?;
        if !target.starts_with(&dir) {
            return Err(format!(
                "{shown} is a symbolic link out of its directory {} (to {}); refusing to read it: name the release file itself",
                dir.display(),
                target.display()
            ));
        }
        target
    } else {
        path.to_path_buf()
    };
    // O_NONBLOCK: a FIFO opens at once (and is then refused) rather than
    // waiting for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&target)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let limit = MAX_RELEASE_BYTES as u64;
    if meta.len() > limit {
        return Err(format!(
            "{shown}: {}",
            EnvFileError::TooLarge {
                bytes: usize::try_from(meta.len()).unwrap_or(usize::MAX)
            }
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    Ok(bytes)
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unquote(value: &str, line: usize, key: &str) -> Result<String, EnvFileError> {
    for quote in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(quote) {
            return match rest.strip_suffix(quote) {
                Some(inner) => Ok(inner.to_string()),
                None => Err(EnvFileError::UnterminatedQuote {
                    line,
                    key: key.to_string(),
                }),
            };
        }
    }
    Ok(value.to_string())
}

/// `NaN`, `inf` and friends parse as floats in every language a trading
/// service is written in, and poison every comparison downstream.
fn is_non_finite_number(value: &str) -> bool {
    value.parse::<f64>().is_ok_and(|v| !v.is_finite())
}

/// The first character of `key` a key may not have there (1-based), or
/// a space for an empty key.
fn first_invalid(key: &str) -> (usize, char) {
    key.chars()
        .enumerate()
        .find(|(i, c)| !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit()))
        .map_or((1, ' '), |(i, c)| (i + 1, c))
}

/// One line of a release diff; values show only for public keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiffLine {
    /// "+" added, "-" removed, "~" changed.
    pub change: String,
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

const MASK: &str = "••••••";

/// The key-level difference from `old` to `new`, in `new`'s order then the
/// removed keys. A value shows only for a key in `public` (the config's
/// allow-list): a secret's name does not say it is one (`DATABASE_URL`,
/// `MNEMONIC`, `SESSION_COOKIE`), so every other value is masked and the
/// line says only that it changed.
pub fn diff(old: &EnvFile, new: &EnvFile, public: &[String]) -> Vec<DiffLine> {
    let shown = |key: &str, value: &str| {
        if public.iter().any(|p| p == key) {
            value.to_string()
        } else {
            MASK.to_string()
        }
    };
    let before: HashMap<&str, &str> = old.iter().collect();
    let after: HashMap<&str, &str> = new.iter().collect();
    let mut lines = Vec::new();
    for (key, value) in new.iter() {
        match before.get(key).copied() {
            None => lines.push(DiffLine {
                change: "+".into(),
                key: key.into(),
                old: None,
                new: Some(shown(key, value)),
            }),
            Some(before) if before != value => lines.push(DiffLine {
                change: "~".into(),
                key: key.into(),
                old: Some(shown(key, before)),
                new: Some(shown(key, value)),
            }),
            Some(_) => {}
        }
    }
    for (key, value) in old.iter() {
        if !after.contains_key(key) {
            lines.push(DiffLine {
                change: "-".into(),
                key: key.into(),
                old: Some(shown(key, value)),
                new: None,
            });
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_changes_and_shows_only_public_values() {
        let old = parse(b"A=1\nB=2\nAPI_KEY=old-secret\nGONE=x\nDATABASE_URL=postgres://u:pw@db\n")
            .unwrap();
        let new = parse(b"A=1\nB=3\nAPI_KEY=new-secret\nC=4\nDATABASE_URL=postgres://u:pw2@db\n")
            .unwrap();
        let d = diff(&old, &new, &["B".to_string()]);
        let text = format!("{d:?}");
        assert!(!text.contains("secret") && !text.contains("pw"), "{text}");
        assert!(text.contains("\"3\""), "a public key's value shows: {text}");
        assert_eq!(
            d.iter()
                .map(|l| (l.change.as_str(), l.key.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("~", "B"),
                ("~", "API_KEY"),
                ("+", "C"),
                ("~", "DATABASE_URL"),
                ("-", "GONE")
            ]
        );
    }

    #[test]
    fn parses_keys_comments_quotes() {
        let env = parse(b"# release\nA=1\n\nexport B = \"two words\"\nC='x=y'\nD=\n").unwrap();
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("two words"));
        assert_eq!(env.get("C"), Some("x=y"));
        assert_eq!(env.get("D"), Some(""));
        assert_eq!(env.entries[1].line, 4);
    }

    #[test]
    fn names_the_line_of_each_fault() {
        assert_eq!(
            parse(b"A=1\nB\n").unwrap_err(),
            EnvFileError::MissingEquals { line: 2, chars: 1 }
        );
        assert_eq!(
            parse(b"A=1\nA=2\n").unwrap_err(),
            EnvFileError::DuplicateKey {
                line: 2,
                key: "A".into(),
                first: 1
            }
        );
        assert_eq!(
            parse(b"A=1\nB=\xff\n").unwrap_err(),
            EnvFileError::InvalidUtf8 { line: 2 }
        );
        assert_eq!(parse(b"\n\nX=NaN").unwrap_err().line(), 3);
        assert_eq!(parse(b"X=-inf").unwrap_err().line(), 1);
        assert_eq!(parse(b"1X=2").unwrap_err().line(), 1);
        assert_eq!(parse(b"X=\"open").unwrap_err().line(), 1);
        assert_eq!(parse(b"X=a\x1b[2Jb").unwrap_err().line(), 1);
    }

    /// Found by tests/fuzz.rs: `A=' x'` parsed to " x", rendered as
    /// `A= x` and re-parsed to "x"; `A="'"` rendered as `A='`, which does
    /// not parse at all.
    #[test]
    fn regression_rendering_keeps_blanks_and_quotes() {
        let env = parse(b"A=' x'\nB=\"'\"\nC='\"q\"'\nD=\"\t\"\nE=plain\n").unwrap();
        assert_eq!(
            parse(env.to_string().as_bytes()).unwrap().entries,
            env.entries
        );
    }

    #[test]
    fn finite_numbers_and_words_pass() {
        let env = parse(b"A=1e9\nB=-0.5\nC=nano\nD=information").unwrap();
        assert_eq!(env.entries.len(), 4);
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn errors_never_quote_a_line_or_a_value() {
        for bad in [
            &b"API_SECRET: sk_live_51Habcdef\n"[..],
            b"postgres://u:pw@db/x=1\n",
            b"SIGNING SEED=deadbeef\n",
        ] {
            let message = parse(bad).unwrap_err().to_string();
            for secret in ["sk_live", "pw@db", "deadbeef", "SEED"] {
                assert!(!message.contains(secret), "{message}");
            }
            assert!(message.starts_with("line 1:"), "{message}");
        }
        let message = parse(b"SIGNING SEED=x\n").unwrap_err().to_string();
        assert!(message.contains("character 8 is ' '"), "{message}");
    }

    #[test]
    fn many_keys_parse_in_linear_time_up_to_the_limit() {
        let text: String = (0..MAX_RELEASE_KEYS)
            .map(|i| format!("K{i}={i}\n"))
            .collect();
        assert_eq!(
            parse(text.as_bytes()).unwrap().entries.len(),
            MAX_RELEASE_KEYS
        );
        let over = format!("{text}ONE_MORE=1\n");
        let e = parse(over.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            EnvFileError::TooManyKeys {
                line: MAX_RELEASE_KEYS + 1
            }
        );
        assert!(e.to_string().contains("MAX_RELEASE_KEYS"), "{e}");
        let big = vec![b'#'; MAX_RELEASE_BYTES + 1];
        let e = parse(&big).unwrap_err().to_string();
        assert!(
            e.contains("262145 bytes") && e.contains("MAX_RELEASE_BYTES"),
            "{e}"
        );
    }

    #[test]
    fn files_are_read_only_where_they_belong() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("v2.env");
        std::fs::write(&inside, "A=1\n").unwrap();
        let link = dir.path().join("prod.env");
        std::os::unix::fs::symlink("v2.env", &link).unwrap();
        assert_eq!(read_file(&link).unwrap(), b"A=1\n");

        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("shadow");
        std::fs::write(&secret, "root:$6$hash:19000\n").unwrap();
        let escape = dir.path().join("escape.env");
        std::os::unix::fs::symlink(&secret, &escape).unwrap();
        let e = read_file(&escape).unwrap_err();
        assert!(e.contains("symbolic link out of its directory"), "{e}");
        assert!(!e.contains("$6$"), "{e}");

        let e = read_file(dir.path()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");

        let large = dir.path().join("large.env");
        std::fs::File::create(&large)
            .unwrap()
            .set_len(200 << 20)
            .unwrap();
        let e = read_file(&large).unwrap_err();
        assert!(
            e.contains("209715200 bytes") && e.contains("MAX_RELEASE_BYTES"),
            "{e}"
        );
    }
}

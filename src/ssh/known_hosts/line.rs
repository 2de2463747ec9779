//! One known_hosts line as hostfile.c reads it: blanks and comments,
//! markers, the host field (patterns or a hashed name), the key and
//! OpenSSH's strict base64; and why a line OpenSSH ignores was skipped.

use std::fmt;
use std::path::PathBuf;

use super::key::{Key, KeyKind, parse_blob};
use super::{Hosts, Marker};

/// Why a line was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// An `@` marker other than a single `@revoked` or `@cert-authority`
    /// followed by white space.
    InvalidMarker,
    /// A `|…` host field that is not `|1|<base64 20-byte salt>|…`.
    BadHostHash,
    /// The line ends (or a `#` comment starts) before the key.
    MissingKey,
    /// The key type is not one OpenSSH knows.
    UnknownKeyType,
    /// The key is not valid padded base64.
    BadBase64,
    /// The decoded key is not a well-formed key.
    BadKey,
    /// The decoded key is of another type than the line says.
    KeyTypeMismatch,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::InvalidMarker => {
                "invalid marker (only @revoked or @cert-authority, followed by white space)"
            }
            SkipReason::BadHostHash => "malformed hashed host name",
            SkipReason::MissingKey => "no key after the host names",
            SkipReason::UnknownKeyType => "unknown key type",
            SkipReason::BadBase64 => "key is not valid base64",
            SkipReason::BadKey => "malformed key",
            SkipReason::KeyTypeMismatch => "key does not match the key type named on the line",
        })
    }
}

/// A line OpenSSH would ignore, kept so the caller can warn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    pub path: PathBuf,
    pub line: usize,
    pub reason: SkipReason,
}

impl fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: ignored: {}",
            self.path.display(),
            self.line,
            self.reason
        )
    }
}

pub(super) enum Parsed {
    Blank,
    Skip(SkipReason),
    Entry {
        marker: Marker,
        hosts: Hosts,
        key: Key,
        blob: Vec<u8>,
    },
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_blank(b)).count();
    &s[n..]
}

/// Splits at the first space or tab: (field, rest starting at the blank).
fn split_field(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|&&b| !is_blank(b)).count();
    s.split_at(n)
}

/// One line, as hostfile.c hostkeys_foreach reads it.
pub(super) fn parse_line(line: &[u8]) -> Parsed {
    let cp = skip_blanks(line);
    if cp.is_empty() || cp[0] == b'#' {
        return Parsed::Blank;
    }
    let Some((marker, cp)) = check_markers(cp) else {
        return Parsed::Skip(SkipReason::InvalidMarker);
    };
    let (host_field, rest) = split_field(cp);
    let hosts = if host_field.first() == Some(&b'|') {
        match extract_salt(host_field) {
            Some(salt) => Hosts::Hashed {
                salt,
                field: host_field.to_vec(),
            },
            None => return Parsed::Skip(SkipReason::BadHostHash),
        }
    } else {
        Hosts::Patterns(host_field.to_vec())
    };
    let rest = skip_blanks(rest);
    if rest.is_empty() || rest[0] == b'#' {
        return Parsed::Skip(SkipReason::MissingKey);
    }
    match read_key(rest) {
        Ok((key, blob)) => Parsed::Entry {
            marker,
            hosts,
            key,
            blob,
        },
        Err(reason) => Parsed::Skip(reason),
    }
}

/// hostfile.c check_markers. A marker ends at the first space anywhere in
/// the rest of the line, or failing that at the first tab — OpenSSH's own
/// quirk, kept because a line ssh ignores must be ignored here too.
fn check_markers(mut cp: &[u8]) -> Option<(Marker, &[u8])> {
    let mut marker = Marker::None;
    while cp.first() == Some(&b'@') {
        if marker != Marker::None {
            return None;
        }
        let end = cp
            .iter()
            .position(|&b| b == b' ')
            .or_else(|| cp.iter().position(|&b| b == b'\t'))?;
        if end <= 1 || end >= 32 {
            return None;
        }
        marker = match &cp[..end] {
            b"@cert-authority" => Marker::CertAuthority,
            b"@revoked" => Marker::Revoked,
            _ => return None,
        };
        cp = skip_blanks(&cp[end..]);
    }
    Some((marker, cp))
}

/// hostfile.c extract_salt: `|1|` then base64 of a 20-byte salt up to the
/// next `|`. What follows is compared as a whole at match time.
fn extract_salt(field: &[u8]) -> Option<Vec<u8>> {
    let rest = field.strip_prefix(b"|1|")?;
    let end = rest.iter().position(|&b| b == b'|')?;
    if end == 0 || end > 1024 {
        return None;
    }
    b64_pton(&rest[..end]).filter(|salt| salt.len() == 20)
}

/// sshkey_read: key type, blanks, base64 blob; the rest is the comment.
fn read_key(cp: &[u8]) -> Result<(Key, Vec<u8>), SkipReason> {
    let (type_name, rest) = split_field(cp);
    if rest.is_empty() {
        return Err(SkipReason::MissingKey);
    }
    let kind = KeyKind::from_name(type_name).ok_or(SkipReason::UnknownKeyType)?;
    let rest = skip_blanks(rest);
    if rest.is_empty() {
        return Err(SkipReason::MissingKey);
    }
    let (b64, _comment) = split_field(rest);
    let blob = b64_pton(b64).ok_or(SkipReason::BadBase64)?;
    let key = parse_blob(&blob, true).ok_or(SkipReason::BadKey)?;
    if key.kind != kind {
        return Err(SkipReason::KeyTypeMismatch);
    }
    Ok((key, blob))
}

/// OpenSSH's `__b64_pton`: white space anywhere is skipped, padding is
/// required, and the unused bits before the padding must be zero.
pub(super) fn b64_pton(src: &[u8]) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u8> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    fn is_c_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }
    let src = src.split(|&b| b == 0).next().unwrap_or_default();
    let mut out = Vec::with_capacity(src.len() / 4 * 3 + 3);
    let mut state = 0u8;
    let mut pending = 0u8;
    let mut rest: Option<&[u8]> = None;
    for (i, &c) in src.iter().enumerate() {
        if is_c_space(c) {
            continue;
        }
        if c == b'=' {
            rest = Some(&src[i + 1..]);
            break;
        }
        let v = value(c)?;
        match state {
            0 => {
                pending = v << 2;
                state = 1;
            }
            1 => {
                out.push(pending | (v >> 4));
                pending = (v & 0x0f) << 4;
                state = 2;
            }
            2 => {
                out.push(pending | (v >> 2));
                pending = (v & 0x03) << 6;
                state = 3;
            }
            _ => {
                out.push(pending | v);
                pending = 0;
                state = 0;
            }
        }
    }
    match rest {
        None if state != 0 => None,
        None => Some(out),
        Some(mut rest) => {
            match state {
                0 | 1 => return None,
                2 => {
                    // One byte of data: a second '=' must follow.
                    rest = &rest[rest.iter().take_while(|&&c| is_c_space(c)).count()..];
                    rest = rest.strip_prefix(b"=")?;
                }
                _ => {}
            }
            if rest.iter().any(|&c| !is_c_space(c)) || pending != 0 {
                return None;
            }
            Some(out)
        }
    }
}

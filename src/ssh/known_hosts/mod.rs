//! known_hosts: reading OpenSSH `known_hosts` files and deciding whether the
//! host key a server offers is trusted, revoked, changed or unknown.
//!
//! This module owns that decision and the `accept-new` append. It is ours,
//! not russh's helper, because gantry must refuse a host exactly when
//! `ssh -o StrictHostKeyChecking=yes` would, and russh's helper disagrees
//! with OpenSSH on `@revoked` lines, negated and wildcard patterns and tab
//! separators. It works on key bytes (the SSH wire blob), so it does not
//! depend on russh's key types either.
//!
//! What is reproduced, from OpenSSH 9.x `hostfile.c`, `match.c` and
//! `sshconnect.c` (each point is pinned against the real `ssh` by
//! `tests/known_hosts.rs`):
//!
//! - Lines split on `\n` only; a trailing `\r` is harmless because it ends
//!   up in the comment or in the base64 blob, whose decoder skips white
//!   space. Fields are separated by any run of spaces and tabs. Blank lines
//!   and lines whose first non-blank byte is `#` are comments.
//! - A marker (`@revoked`, `@cert-authority`) ends at the first space in the
//!   *rest of the line*, and only if there is none at the first tab; so
//!   `@revoked<TAB>host<TAB>key comment with spaces` is an invalid marker and
//!   the whole line is ignored, while the same line without spaces works.
//! - Host patterns (`pattern.rs`, shared with ssh_config): comma separated, `*` and `?`, `!` negation (a matching
//!   negated pattern vetoes the line), compared case-insensitively; no CIDR.
//!   Hashed `|1|salt|hmac` entries are HMAC-SHA1(salt, name) and must be
//!   the whole host field (one name per hashed line).
//! - The looked-up name is the lowercased host for port 22, `[host]:port`
//!   otherwise. If *nothing at all* is known for `[host]:port` (neither
//!   accepting, nor a different key, nor revoked), ssh tries the bare host
//!   name again ("checking without port identifier"): a bare line with the
//!   key accepts, a bare `@revoked` line with it refuses as revoked, and a
//!   bare line with a different key is reported as unknown, not changed.
//!   So a plain pattern does match a non-default port, as a fallback.
//! - A key is accepted when any matching plain line holds it; a matching
//!   `@revoked` line holding it refuses outright, whatever else accepts it.
//!   A matching plain line with any *other* key, including another key type
//!   (e.g. only ECDSA known, ED25519 offered), makes the host "changed".
//!   `@cert-authority` lines never match a plain host key.
//! - Malformed lines (bad marker, undecodable base64, unknown key type, a
//!   blob whose inner type differs from the line's, truncated lines, a bad
//!   hashed salt) are ignored, and kept in [`KnownHosts::skipped`] so the
//!   caller can warn.
//!
//! - A host certificate the server offers ([`KnownHosts::check_certificate`],
//!   sshconnect.c check_host_key and check_host_cert): a matching
//!   `@revoked` line holding its key or its CA refuses; a matching
//!   `@cert-authority` line holding its CA trusts it if it is a host
//!   certificate, valid now, lists the looked-up host (without port)
//!   exactly among its principals or has none, has no critical options and
//!   a non-SHA-1 CA signature; otherwise it is judged as its plain key.
//!   Parsing and the CA signature are ssh-key's (re-exported by russh).
//! - Host key algorithm order ([`KnownHosts::host_key_types`], sshconnect2.c
//!   order_hostkeyalgs): the key types of matching plain lines and whether
//!   a CA line matches, for the client to ask for known types first.
//!
//! Known gaps, none of which can turn a refusal into an acceptance: ECDSA
//! points are checked for shape, not for lying on the curve, and
//! certificate signatures inside known_hosts lines are not verified, so
//! such a broken line may make a host "changed" where ssh says "unknown".
//!
//! - `line`: one line as hostfile.c reads it (marker, host field, key,
//!   OpenSSH's base64), and why a line was skipped;
//! - `key`: key blobs: the key types OpenSSH knows, their public parts, the
//!   fingerprint;
//! - `check`: the verdict on an offered plain key, and the key types known
//!   for a host;
//! - `cert`: the verdict on an offered host certificate (`@cert-authority`);
//! - `append`: recording a new host key, for `accept-new`.
//!
//! This file holds the lines as read: [`KnownHosts`], from files or text.

mod append;
mod cert;
mod check;
mod key;
mod line;
#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use append::append;
pub use cert::{Authority, CertCheck};
pub use check::{HostKeyTypes, KnownKey, Verdict, hash_host_name};
pub use key::fingerprint;
pub use line::{SkipReason, SkippedLine};

use key::Key;
use line::{Parsed, parse_line};

/// Reading known_hosts files failed. A missing file is not an error: it is
/// simply empty, as it is for ssh.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read known_hosts file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The entries of one or more known_hosts files, in file order.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
    skipped: Vec<SkippedLine>,
}

#[derive(Debug, Clone)]
struct Entry {
    // Shared by every entry of a file: a file can hold thousands of lines.
    path: Arc<Path>,
    line: usize,
    marker: Marker,
    hosts: Hosts,
    key: Key,
    blob: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone)]
enum Hosts {
    /// A comma-separated pattern list, as written.
    Patterns(Vec<u8>),
    /// `|1|salt|hmac`: the whole field, and the decoded salt.
    Hashed { salt: Vec<u8>, field: Vec<u8> },
}

impl KnownHosts {
    /// Reads the files in order, as ssh reads `UserKnownHostsFile` and
    /// `GlobalKnownHostsFile`. A missing file counts as empty; any other
    /// read error is returned, since silently trusting fewer lines could
    /// hide a `@revoked` one.
    pub fn load(paths: &[PathBuf]) -> Result<Self, KnownHostsError> {
        let mut all = KnownHosts::default();
        for path in paths {
            match fs::read(path) {
                Ok(bytes) => all.extend(KnownHosts::parse_bytes(&bytes, path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(KnownHostsError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(all)
    }

    /// Parses one file's text; `origin` names it in verdicts and warnings.
    /// Malformed lines are skipped, as OpenSSH does, and listed in
    /// [`KnownHosts::skipped`].
    pub fn parse(text: &str, origin: &Path) -> Self {
        Self::parse_bytes(text.as_bytes(), origin)
    }

    /// [`KnownHosts::parse`] for bytes: known_hosts files need not be UTF-8,
    /// and converting would change what `?` matches.
    pub fn parse_bytes(bytes: &[u8], origin: &Path) -> Self {
        let path: Arc<Path> = Arc::from(origin);
        let mut out = KnownHosts::default();
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            // ssh handles lines as C strings: a NUL ends the line.
            let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
            match parse_line(raw) {
                Parsed::Blank => {}
                Parsed::Skip(reason) => out.skipped.push(SkippedLine {
                    path: origin.to_path_buf(),
                    line,
                    reason,
                }),
                Parsed::Entry {
                    marker,
                    hosts,
                    key,
                    blob,
                } => out.entries.push(Entry {
                    path: Arc::clone(&path),
                    line,
                    marker,
                    hosts,
                    key,
                    blob,
                }),
            }
        }
        out
    }

    /// Appends `other`'s entries after this one's, as a later file.
    pub fn extend(&mut self, other: KnownHosts) {
        self.entries.extend(other.entries);
        self.skipped.extend(other.skipped);
    }

    /// The lines that were ignored, with file and line number.
    pub fn skipped(&self) -> &[SkippedLine] {
        &self.skipped
    }

    /// How many usable lines (entries) there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no usable lines.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

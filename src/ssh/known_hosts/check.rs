//! Deciding on a plain host key a server offered: the lines that match
//! the looked-up name (patterns or hashed), the verdict, ssh's bare-name
//! fallback for another port, and the key types known for a host.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::key::{Key, KeyKind, fingerprint, parse_blob};
use super::{Entry, Hosts, KnownHosts, Marker};
use crate::ssh::pattern::{DEFAULT_PORT, ListMatch, match_pattern_list, put_host_port};

/// The outcome of checking one offered host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A matching line holds this key.
    Trusted { path: PathBuf, line: usize },
    /// A matching `@revoked` line holds this key: refuse, whatever else
    /// accepts it (OpenSSH: "REVOKED HOST KEY DETECTED").
    Revoked { path: PathBuf, line: usize },
    /// The host is known, but not with this key: every matching line holds
    /// another key, possibly of another type (OpenSSH: "REMOTE HOST
    /// IDENTIFICATION HAS CHANGED", which it also says when only other key
    /// types are known). `known` lists those lines.
    Changed {
        offered: String,
        known: Vec<KnownKey>,
    },
    /// Nothing is known for this host (OpenSSH: "No … host key is known").
    Unknown,
}

impl Verdict {
    /// Whether the connection may go on (only [`Verdict::Trusted`]).
    pub fn is_trusted(&self) -> bool {
        matches!(self, Verdict::Trusted { .. })
    }
}

/// A key that a known_hosts line holds for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub path: PathBuf,
    pub line: usize,
    /// The key's own type name, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`.
    pub key_type: String,
    /// `SHA256:…`, as [`fingerprint`] gives it.
    pub fingerprint: String,
}

impl KnownHosts {
    /// Decides on the key a server at `host`:`port` offered, as ssh with
    /// `StrictHostKeyChecking=yes` and `CheckHostIP=no` would. `key_blob` is
    /// the key in SSH wire format (the base64-decoded field of a `.pub`
    /// line). The blob names its own type, so `key_type` (which for RSA
    /// may be the negotiated `rsa-sha2-*`) does not change the verdict; a
    /// blob that is not a key is trusted only by a byte-identical line.
    /// For a `HostKeyAlias`, which ssh looks up without a port and without
    /// the bare-name fallback, pass the alias and port [`DEFAULT_PORT`].
    pub fn check(&self, host: &str, port: u16, _key_type: &str, key_blob: &[u8]) -> Verdict {
        let offered = Offered::new(key_blob);
        // ssh lowercases the host name before any lookup or hashing.
        let host = host.to_ascii_lowercase();
        let non_default = port != DEFAULT_PORT && port != 0;
        let name = put_host_port(&host, port);
        match self.lookup(name.as_bytes(), &offered) {
            Lookup::Found(e) => Verdict::Trusted {
                path: e.path.to_path_buf(),
                line: e.line,
            },
            Lookup::Revoked(e) => Verdict::Revoked {
                path: e.path.to_path_buf(),
                line: e.line,
            },
            Lookup::Changed(known) => Verdict::Changed {
                offered: fingerprint(key_blob),
                known: known
                    .into_iter()
                    .map(|e| KnownKey {
                        path: e.path.to_path_buf(),
                        line: e.line,
                        key_type: e.key.kind.name().to_string(),
                        fingerprint: fingerprint(&e.blob),
                    })
                    .collect(),
            },
            // sshconnect.c check_host_key, HOST_NEW: "checking without port
            // identifier", read-only and quiet, so a different key under the
            // bare name is not reported as a change.
            Lookup::New if non_default => match self.lookup(host.as_bytes(), &offered) {
                Lookup::Found(e) => Verdict::Trusted {
                    path: e.path.to_path_buf(),
                    line: e.line,
                },
                Lookup::Revoked(e) => Verdict::Revoked {
                    path: e.path.to_path_buf(),
                    line: e.line,
                },
                Lookup::Changed(_) | Lookup::New => Verdict::Unknown,
            },
            Lookup::New => Verdict::Unknown,
        }
    }

    /// What known_hosts holds for `host`:`port` before connecting, for
    /// ordering host key algorithms as ssh's order_hostkeyalgs does: the
    /// name is looked up as is (`[host]:port` for another port, no bare
    /// fallback), plain lines give their key types, `@revoked` lines none.
    pub fn host_key_types(&self, host: &str, port: u16) -> HostKeyTypes {
        let name = put_host_port(&host.to_ascii_lowercase(), port);
        let mut out = HostKeyTypes::default();
        for e in self
            .entries
            .iter()
            .filter(|e| e.hosts.matches(name.as_bytes()))
        {
            match e.marker {
                Marker::CertAuthority => out.authority = true,
                Marker::Revoked => {}
                Marker::None => {
                    let plain = KeyKind {
                        algo: e.key.kind.algo,
                        cert: false,
                    }
                    .name();
                    if !out.known.contains(&plain) {
                        out.known.push(plain);
                    }
                }
            }
        }
        out
    }

    /// hostfile.c check_hostkeys_by_key_or_type for one looked-up name.
    fn lookup(&self, name: &[u8], offered: &Offered) -> Lookup<'_> {
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.hosts.matches(name))
            .collect();
        let mut status = Lookup::New;
        let mut changed = Vec::new();
        for e in matching
            .iter()
            .copied()
            .filter(|e| e.marker == Marker::None)
        {
            if offered.equals(e) {
                status = Lookup::Found(e);
                break;
            }
            changed.push(e);
        }
        if let (Lookup::New, false) = (&status, changed.is_empty()) {
            status = Lookup::Changed(changed);
        }
        // Revocation wins over everything, whichever line came first.
        if let Some(e) = matching
            .iter()
            .find(|e| e.marker == Marker::Revoked && offered.equals_public(e))
        {
            return Lookup::Revoked(e);
        }
        status
    }
}

enum Lookup<'a> {
    Found(&'a Entry),
    Revoked(&'a Entry),
    Changed(Vec<&'a Entry>),
    New,
}

/// Key types known for a host, see [`KnownHosts::host_key_types`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostKeyTypes {
    /// A matching `@cert-authority` line exists.
    pub authority: bool,
    /// Plain key type names of matching lines (`ssh-ed25519`,
    /// `ecdsa-sha2-nistp256`, `ssh-rsa`, …), first seen first.
    pub known: Vec<&'static str>,
}

/// The key a server offered, parsed if possible.
pub(super) enum Offered<'a> {
    Parsed(Key),
    // Not a key we can parse: only a byte-identical line can hold it.
    Raw(&'a [u8]),
}

impl<'a> Offered<'a> {
    pub(super) fn new(blob: &'a [u8]) -> Self {
        match parse_blob(blob, true) {
            Some(key) => Offered::Parsed(key),
            None => Offered::Raw(blob),
        }
    }

    /// sshkey_equal: same type (a certificate is not its plain key) and
    /// same public key.
    pub(super) fn equals(&self, e: &Entry) -> bool {
        match self {
            Offered::Parsed(k) => {
                k.kind == e.key.kind && k.cert == e.key.cert && k.public == e.key.public
            }
            Offered::Raw(raw) => *raw == e.blob.as_slice(),
        }
    }

    /// sshkey_equal_public: same public key, a certificate counting as the
    /// key it certifies. Used for `@revoked` lines.
    pub(super) fn equals_public(&self, e: &Entry) -> bool {
        match self {
            Offered::Parsed(k) => k.kind.plain() == e.key.kind.plain() && k.public == e.key.public,
            Offered::Raw(raw) => *raw == e.blob.as_slice(),
        }
    }
}

impl Hosts {
    /// hostfile.c match_maybe_hashed; `name` is already lowercased.
    pub(super) fn matches(&self, name: &[u8]) -> bool {
        match self {
            Hosts::Patterns(list) => match_pattern_list(name, list) == ListMatch::Yes,
            Hosts::Hashed { salt, field } => {
                hash_host(name, salt).is_some_and(|h| h.as_bytes() == field.as_slice())
            }
        }
    }
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `ssh-keygen -H`
/// writes it; `name` is `host` or `[host]:port`, already lowercased.
pub fn hash_host_name(name: &str, salt: &[u8; 20]) -> String {
    // HMAC takes keys of any length, so hash_host cannot fail here.
    hash_host(name.as_bytes(), salt).unwrap_or_default()
}

/// `None` only if the MAC cannot be keyed, which HMAC always can.
fn hash_host(name: &[u8], salt: &[u8]) -> Option<String> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt).ok()?;
    mac.update(name);
    let digest = mac.finalize().into_bytes();
    Some(format!(
        "|1|{}|{}",
        STANDARD.encode(salt),
        STANDARD.encode(digest)
    ))
}

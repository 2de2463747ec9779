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

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::pattern::{DEFAULT_PORT, ListMatch, match_pattern_list, put_host_port};

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

    /// Decides on a host certificate a server at `host`:`port` offered, as
    /// ssh's check_host_key does with `StrictHostKeyChecking=yes` at unix
    /// time `now`: a matching `@revoked` line holding the certificate's
    /// key or its CA refuses; a matching `@cert-authority` line holding the
    /// CA trusts it if the certificate is valid for this host; otherwise
    /// (no such line, or an invalid certificate) ssh falls back to the
    /// plain key inside, and so does this, through [`KnownHosts::check`].
    /// [`CertCheck::authority`] says which of these happened, so a caller
    /// never pins the key of a certificate that a CA line rejected.
    pub fn check_certificate(
        &self,
        host: &str,
        port: u16,
        cert_blob: &[u8],
        now: u64,
    ) -> CertCheck {
        let Some(cert) = certificate_keys(cert_blob) else {
            // ssh fails the key exchange on a certificate it cannot parse
            // or whose CA signature does not verify; nothing to fall back to.
            return CertCheck {
                verdict: Verdict::Unknown,
                authority: Authority::Unusable("malformed certificate".into()),
            };
        };
        let lower = host.to_ascii_lowercase();
        let non_default = port != DEFAULT_PORT && port != 0;
        let name = put_host_port(&lower, port);
        let mut found = self.cert_lookup(name.as_bytes(), &cert);
        if matches!(found, CertLookup::New) && non_default {
            // As for plain keys: "checking without port identifier".
            found = self.cert_lookup(lower.as_bytes(), &cert);
        }
        let authority = match found {
            CertLookup::Revoked(e) => {
                return CertCheck {
                    verdict: Verdict::Revoked {
                        path: e.path.to_path_buf(),
                        line: e.line,
                    },
                    authority: Authority::None,
                };
            }
            // ssh checks principals against the host as looked up, without
            // the port (sshconnect.c check_host_cert).
            CertLookup::Authority(e) => match validate_host_cert(&cert, lower.as_bytes(), now) {
                Ok(()) => {
                    return CertCheck {
                        verdict: Verdict::Trusted {
                            path: e.path.to_path_buf(),
                            line: e.line,
                        },
                        authority: Authority::Valid {
                            path: e.path.to_path_buf(),
                            line: e.line,
                        },
                    };
                }
                Err(reason) => Authority::Invalid {
                    path: e.path.to_path_buf(),
                    line: e.line,
                    reason,
                },
            },
            CertLookup::New => Authority::None,
        };
        CertCheck {
            verdict: self.check(host, port, "", &cert.key_blob),
            authority,
        }
    }

    /// hostfile.c check_hostkeys_by_key_or_type for a certificate: only
    /// `@cert-authority` lines count, and no match is "new", never
    /// "changed"; `@revoked` of the key or of its CA wins.
    fn cert_lookup(&self, name: &[u8], cert: &CertKeys) -> CertLookup<'_> {
        let key = Offered::new(&cert.key_blob);
        let ca = Offered::new(&cert.ca_blob);
        let matching = || self.entries.iter().filter(|e| e.hosts.matches(name));
        if let Some(e) = matching()
            .find(|e| e.marker == Marker::Revoked && (key.equals_public(e) || ca.equals_public(e)))
        {
            return CertLookup::Revoked(e);
        }
        match matching().find(|e| e.marker == Marker::CertAuthority && ca.equals_public(e)) {
            Some(e) => CertLookup::Authority(e),
            None => CertLookup::New,
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

enum CertLookup<'a> {
    Revoked(&'a Entry),
    Authority(&'a Entry),
    New,
}

/// The outcome of checking a host certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertCheck {
    /// Whether to connect: trusted through a CA line, revoked, or else the
    /// verdict on the plain key inside the certificate.
    pub verdict: Verdict,
    pub authority: Authority,
}

/// What the `@cert-authority` lines said about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    /// No matching line holds its CA (or it was revoked): ssh judged the
    /// plain key instead.
    None,
    /// A matching line holds its CA and it is valid for this host.
    Valid { path: PathBuf, line: usize },
    /// A matching line holds its CA, but the certificate is not valid for
    /// this host now (`reason` as ssh words it).
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// The certificate cannot be parsed or its signature does not verify.
    Unusable(String),
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

/// A certificate's own key and its CA's, as wire blobs, plus the parsed
/// certificate (ssh-key, through russh) for its fields and signature.
struct CertKeys {
    cert: russh::keys::Certificate,
    key_blob: Vec<u8>,
    ca_blob: Vec<u8>,
}

fn certificate_keys(blob: &[u8]) -> Option<CertKeys> {
    use russh::keys::ssh_encoding::Encode;
    let cert = russh::keys::Certificate::from_bytes(blob).ok()?;
    // ssh verifies the CA's signature when it parses a certificate and
    // fails the key exchange if it does not verify, CA line or not.
    cert.verify_signature().ok()?;
    let mut key_blob = Vec::new();
    cert.public_key().encode(&mut key_blob).ok()?;
    let mut ca_blob = Vec::new();
    cert.signature_key().encode(&mut ca_blob).ok()?;
    Some(CertKeys {
        cert,
        key_blob,
        ca_blob,
    })
}

/// sshkey_cert_check_authority (want_host, principals optional, compared
/// exactly) and the rest of sshconnect.c check_host_cert: no critical
/// options, a CA signature algorithm ssh accepts by default (not SHA-1
/// `ssh-rsa`), and the CA's signature itself, verified by ssh-key.
fn validate_host_cert(keys: &CertKeys, host: &[u8], now: u64) -> Result<(), String> {
    use russh::keys::{Algorithm, HashAlg};
    let cert = &keys.cert;
    if !cert.cert_type().is_host() {
        return Err("Certificate invalid: not a host certificate".into());
    }
    if now < cert.valid_after() {
        return Err("Certificate invalid: not yet valid".into());
    }
    if now >= cert.valid_before() {
        return Err("Certificate invalid: expired".into());
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p.as_bytes() == host) {
        return Err("Certificate invalid: name is not a listed principal".into());
    }
    if !cert.critical_options().is_empty() {
        return Err("Certificate contains unsupported critical options".into());
    }
    match cert.signature().algorithm() {
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha256 | HashAlg::Sha512),
        }
        | Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => {}
        other => {
            return Err(format!(
                "certificate signature algorithm {other} is not accepted"
            ));
        }
    }
    let ca = russh::keys::PublicKey::from(cert.signature_key().clone());
    cert.validate_at(now, [&ca.fingerprint(HashAlg::Sha256)])
        .map_err(|_| "certificate signature does not verify".to_string())
}

/// The key a server offered, parsed if possible.
enum Offered<'a> {
    Parsed(Key),
    // Not a key we can parse: only a byte-identical line can hold it.
    Raw(&'a [u8]),
}

impl<'a> Offered<'a> {
    fn new(blob: &'a [u8]) -> Self {
        match parse_blob(blob, true) {
            Some(key) => Offered::Parsed(key),
            None => Offered::Raw(blob),
        }
    }

    /// sshkey_equal: same type (a certificate is not its plain key) and
    /// same public key.
    fn equals(&self, e: &Entry) -> bool {
        match self {
            Offered::Parsed(k) => {
                k.kind == e.key.kind && k.cert == e.key.cert && k.public == e.key.public
            }
            Offered::Raw(raw) => *raw == e.blob.as_slice(),
        }
    }

    /// sshkey_equal_public: same public key, a certificate counting as the
    /// key it certifies. Used for `@revoked` lines.
    fn equals_public(&self, e: &Entry) -> bool {
        match self {
            Offered::Parsed(k) => k.kind.plain() == e.key.kind.plain() && k.public == e.key.public,
            Offered::Raw(raw) => *raw == e.blob.as_slice(),
        }
    }
}

impl Hosts {
    /// hostfile.c match_maybe_hashed; `name` is already lowercased.
    fn matches(&self, name: &[u8]) -> bool {
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

/// The SHA256 fingerprint of a key blob, exactly as `ssh-keygen -lf` and
/// ssh print it: `SHA256:` and unpadded base64.
pub fn fingerprint(key_blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(key_blob))
    )
}

/// Records a new host key, for `accept-new`: appends `host key-type base64`
/// (the host lowercased, `[host]:port` for a port other than 22) to `path`,
/// creating it and its directory if needed. Writes nothing if the key is
/// already trusted for that host; refuses (and writes nothing) if the host
/// is known with another key or the key is revoked for it, exactly when
/// [`KnownHosts::check`] would not say [`Verdict::Unknown`].
pub fn append(
    path: &Path,
    host: &str,
    port: u16,
    key_type: &str,
    key_blob: &[u8],
) -> io::Result<()> {
    check_host_for_line(host)?;
    let Some(key) = parse_blob(key_blob, false) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to record a malformed {key_type} host key for {host}"),
        ));
    };
    let known =
        KnownHosts::load(&[path.to_path_buf()]).map_err(|e| io::Error::other(e.to_string()))?;
    match known.check(host, port, key_type, key_blob) {
        Verdict::Unknown => {}
        Verdict::Trusted { .. } => return Ok(()),
        Verdict::Revoked { path, line } => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to record a revoked host key ({}:{line})",
                    path.display()
                ),
            ));
        }
        Verdict::Changed { known, .. } => {
            let lines = known
                .iter()
                .map(|k| format!("{}:{}", k.path.display(), k.line))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "refusing to record a host key: {host} is already known with another key ({lines})"
                ),
            ));
        }
    }
    let name = put_host_port(&host.to_ascii_lowercase(), port);
    let mut line = format!("{name} {} {}\n", key.kind.name(), STANDARD.encode(key_blob));

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Like ~/.ssh: private to the user.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    // A last line without its newline would swallow ours.
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    // One write of one line with O_APPEND: a concurrent gantry appending
    // too cannot interleave within it.
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// A host name that would change meaning inside a known_hosts line (split
/// it, become a pattern, a marker, a hash or a comment) is refused.
fn check_host_for_line(host: &str) -> io::Result<()> {
    let bad_char = host
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b",*?!".contains(&b));
    let bad_start = host.starts_with(['@', '#', '|']);
    if host.is_empty() || bad_char || bad_start {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to write host name {host:?} to known_hosts"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- lines --

enum Parsed {
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
fn parse_line(line: &[u8]) -> Parsed {
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
fn b64_pton(src: &[u8]) -> Option<Vec<u8>> {
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

// ----------------------------------------------------------------- keys --

/// A parsed public key: enough to compare keys the way OpenSSH does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    kind: KeyKind,
    /// The public parts, normalised (mpints without leading zeros).
    public: Vec<Vec<u8>>,
    /// For a certificate, its whole blob (OpenSSH compares certificates
    /// byte for byte).
    cert: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algo {
    Rsa,
    Dsa,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    SkEcdsaP256,
    Ed25519,
    SkEd25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyKind {
    algo: Algo,
    cert: bool,
}

/// The key type names OpenSSH 9 accepts (sshkey.c keyimpls), including
/// the RSA signature names, which its parser maps to RSA keys.
const KEY_NAMES: &[(&str, Algo, bool)] = &[
    ("ssh-ed25519", Algo::Ed25519, false),
    ("ssh-ed25519-cert-v01@openssh.com", Algo::Ed25519, true),
    ("sk-ssh-ed25519@openssh.com", Algo::SkEd25519, false),
    ("sk-ssh-ed25519-cert-v01@openssh.com", Algo::SkEd25519, true),
    ("ecdsa-sha2-nistp256", Algo::EcdsaP256, false),
    ("ecdsa-sha2-nistp384", Algo::EcdsaP384, false),
    ("ecdsa-sha2-nistp521", Algo::EcdsaP521, false),
    (
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        Algo::EcdsaP256,
        true,
    ),
    (
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        Algo::EcdsaP384,
        true,
    ),
    (
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        Algo::EcdsaP521,
        true,
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        Algo::SkEcdsaP256,
        false,
    ),
    (
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        Algo::SkEcdsaP256,
        true,
    ),
    ("ssh-rsa", Algo::Rsa, false),
    ("ssh-rsa-cert-v01@openssh.com", Algo::Rsa, true),
    ("rsa-sha2-256", Algo::Rsa, false),
    ("rsa-sha2-512", Algo::Rsa, false),
    ("rsa-sha2-256-cert-v01@openssh.com", Algo::Rsa, true),
    ("rsa-sha2-512-cert-v01@openssh.com", Algo::Rsa, true),
    ("ssh-dss", Algo::Dsa, false),
    ("ssh-dss-cert-v01@openssh.com", Algo::Dsa, true),
];

impl KeyKind {
    fn from_name(name: &[u8]) -> Option<KeyKind> {
        KEY_NAMES
            .iter()
            .find(|(n, _, _)| n.as_bytes() == name)
            .map(|&(_, algo, cert)| KeyKind { algo, cert })
    }

    /// The canonical name (the first one listed for this kind).
    fn name(self) -> &'static str {
        KEY_NAMES
            .iter()
            .find(|&&(_, algo, cert)| algo == self.algo && cert == self.cert)
            .map_or("unknown", |(n, _, _)| n)
    }

    fn plain(self) -> Algo {
        self.algo
    }
}

/// Big-endian SSH wire reader (sshbuf getters).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    /// sshbuf_get_cstring: a NUL is allowed only as the last byte (and is
    /// then not part of the string).
    fn cstring(&mut self) -> Option<&'a [u8]> {
        let s = self.string()?;
        match s.iter().position(|&b| b == 0) {
            None => Some(s),
            Some(z) if z + 1 == s.len() => Some(&s[..z]),
            Some(_) => None,
        }
    }

    /// sshbuf_get_bignum2: non-negative, at most 16384 bits, leading zeros
    /// dropped.
    fn mpint(&mut self) -> Option<Vec<u8>> {
        const MAX_BYTES: usize = 16384 / 8;
        let d = self.string()?;
        if d.first().is_some_and(|&b| b & 0x80 != 0) {
            return None;
        }
        if d.len() > MAX_BYTES + 1 || (d.len() == MAX_BYTES + 1 && d[0] != 0) {
            return None;
        }
        let zeros = d.iter().take_while(|&&b| b == 0).count();
        Some(d[zeros..].to_vec())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// sshkey_from_blob: the whole blob must be one well-formed key.
fn parse_blob(blob: &[u8], allow_cert: bool) -> Option<Key> {
    let mut r = Reader(blob);
    let kind = KeyKind::from_name(r.cstring()?)?;
    if kind.cert && !allow_cert {
        return None;
    }
    if kind.cert {
        r.string()?; // nonce
    }
    let public = read_public(kind.algo, &mut r)?;
    if kind.cert {
        read_cert_body(&mut r)?;
    }
    if !r.is_empty() {
        return None;
    }
    Some(Key {
        kind,
        public,
        cert: kind.cert.then(|| blob.to_vec()),
    })
}

/// The public fields of each key type (sshkey-*.c deserialize_public).
fn read_public(algo: Algo, r: &mut Reader<'_>) -> Option<Vec<Vec<u8>>> {
    fn ecdsa(r: &mut Reader<'_>, curve: &[u8], coord: usize) -> Option<Vec<Vec<u8>>> {
        if r.cstring()? != curve {
            return None;
        }
        let point = r.string()?;
        // Uncompressed points only, as OpenSSH; on-curve is not checked.
        if point.len() != 1 + 2 * coord || point[0] != 0x04 {
            return None;
        }
        Some(vec![curve.to_vec(), point.to_vec()])
    }
    Some(match algo {
        Algo::Ed25519 => vec![r.string().filter(|pk| pk.len() == 32)?.to_vec()],
        Algo::SkEd25519 => {
            let pk = r.string().filter(|pk| pk.len() == 32)?.to_vec();
            vec![pk, r.cstring()?.to_vec()]
        }
        Algo::EcdsaP256 => ecdsa(r, b"nistp256", 32)?,
        Algo::EcdsaP384 => ecdsa(r, b"nistp384", 48)?,
        Algo::EcdsaP521 => ecdsa(r, b"nistp521", 66)?,
        Algo::SkEcdsaP256 => {
            let mut parts = ecdsa(r, b"nistp256", 32)?;
            parts.push(r.cstring()?.to_vec());
            parts
        }
        Algo::Rsa => {
            let e = r.mpint()?;
            let n = r.mpint()?;
            // OpenSSH refuses RSA keys under 1024 bits.
            // An empty modulus (a zero mpint) has no bits; subtracting 8
            // from its length overflowed (a panic in debug builds, and in
            // release a huge count that let the key's shape pass).
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < 1024 {
                return None;
            }
            vec![e, n]
        }
        Algo::Dsa => vec![r.mpint()?, r.mpint()?, r.mpint()?, r.mpint()?],
    })
}

/// sshkey.c cert_parse, without verifying the CA's signature.
fn read_cert_body(r: &mut Reader<'_>) -> Option<()> {
    r.u64()?; // serial
    let cert_type = r.u32()?;
    r.cstring()?; // key id
    let principals = r.string()?;
    r.u64()?; // valid after
    r.u64()?; // valid before
    let critical = r.string()?;
    let extensions = r.string()?;
    r.string()?; // reserved
    let ca = r.string()?;
    r.string()?; // signature
    if cert_type != 1 && cert_type != 2 {
        return None;
    }
    let mut p = Reader(principals);
    let mut count = 0;
    while !p.is_empty() {
        count += 1;
        if count > 256 {
            return None;
        }
        p.cstring()?;
    }
    for options in [critical, extensions] {
        let mut o = Reader(options);
        while !o.is_empty() {
            o.string()?;
            o.string()?;
        }
    }
    parse_blob(ca, false).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // A real host key, its `ssh-keygen -lf` fingerprint, and an
    // `ssh-keygen -H` line for "localhost" made from it.
    const ED_BLOB_B64: &str =
        "AAAAC3NzaC1lZDI1NTE5AAAAIKXs0GK/Xm+DgN7c2pkJuitvxzb6MoQ5lRnz5AgCz3qB";
    const ED_FINGERPRINT: &str = "SHA256:S92SIlE5XfBprnupUOk2yYi2Kw9/lmDMhOsQapxxopQ";
    const LOCALHOST_HASHED: &str = "|1|fNODx6D7/JiRkSUHRHOFWHhXk0g=|kVmyIHJ0GQg/SMWHadcM6LykFbQ=";

    /// Found by tests/fuzz.rs: an `ssh-rsa` blob whose modulus is an
    /// empty mpint (`ssh-rsa` then two zero lengths) overflowed the bit
    /// count. It is a malformed key, skipped like any other.
    #[test]
    fn regression_rsa_key_with_empty_modulus_is_skipped() {
        let known = KnownHosts::parse("h ssh-rsa AAAAB3NzaC1yc2EAAAAAAAAAAA==\n", Path::new("kh"));
        assert!(known.is_empty());
        assert_eq!(known.skipped()[0].reason, SkipReason::BadKey);
    }

    fn ed_key(seed: u8) -> Vec<u8> {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[seed; 32]);
        blob
    }

    fn ec_key(seed: u8) -> Vec<u8> {
        let mut blob = Vec::new();
        for part in [&b"ecdsa-sha2-nistp256"[..], b"nistp256"] {
            blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
            blob.extend_from_slice(part);
        }
        let mut point = vec![4u8];
        point.extend_from_slice(&[seed; 64]);
        blob.extend_from_slice(&65u32.to_be_bytes());
        blob.extend_from_slice(&point);
        blob
    }

    fn line(hosts: &str, blob: &[u8]) -> String {
        let kind = parse_blob(blob, true).expect("test key parses").kind.name();
        format!("{hosts} {kind} {}", STANDARD.encode(blob))
    }

    fn kh(text: &str) -> KnownHosts {
        KnownHosts::parse(text, Path::new("kh"))
    }

    fn verdict(text: &str, host: &str, port: u16, blob: &[u8]) -> Verdict {
        kh(text).check(host, port, "ssh-ed25519", blob)
    }

    fn trusted(line: usize) -> Verdict {
        Verdict::Trusted {
            path: PathBuf::from("kh"),
            line,
        }
    }

    fn revoked(line: usize) -> Verdict {
        Verdict::Revoked {
            path: PathBuf::from("kh"),
            line,
        }
    }

    #[test]
    fn fingerprint_and_hash_are_openssh_s() {
        let blob = STANDARD.decode(ED_BLOB_B64).unwrap();
        assert_eq!(fingerprint(&blob), ED_FINGERPRINT);
        assert!(parse_blob(&blob, false).is_some());
        let salt: [u8; 20] = STANDARD
            .decode("fNODx6D7/JiRkSUHRHOFWHhXk0g=")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(hash_host_name("localhost", &salt), LOCALHOST_HASHED);
        let text = format!("{LOCALHOST_HASHED} ssh-ed25519 {ED_BLOB_B64}");
        assert!(
            kh(&text)
                .check("LocalHost", 22, "ssh-ed25519", &blob)
                .is_trusted()
        );
    }

    #[test]
    fn exact_name_and_port_forms() {
        let k = ed_key(1);
        assert_eq!(
            verdict(&line("example.com", &k), "example.com", 22, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line("[example.com]:2222", &k), "example.com", 2222, &k),
            trusted(1)
        );
        // A bracketed line never answers for port 22 or another port.
        assert_eq!(
            verdict(&line("[example.com]:2222", &k), "example.com", 22, &k),
            Verdict::Unknown
        );
        assert_eq!(
            verdict(&line("[example.com]:2222", &k), "example.com", 2223, &k),
            Verdict::Unknown
        );
        // A bare line answers for any port, via ssh's fallback.
        assert_eq!(
            verdict(&line("example.com", &k), "example.com", 2222, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line("other.com", &k), "example.com", 22, &k),
            Verdict::Unknown
        );
    }

    #[test]
    fn names_are_case_insensitive() {
        let k = ed_key(1);
        assert_eq!(
            verdict(&line("Example.COM", &k), "example.com", 22, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line("example.com", &k), "EXAMPLE.com", 22, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line("[EXAMPLE.com]:2222", &k), "example.Com", 2222, &k),
            trusted(1)
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let k = ed_key(1);
        for (pattern, host, expect) in [
            ("*", "a.b", true),
            ("*.b", "a.b", true),
            ("*.b", "b", false),
            ("a.?", "a.b", true),
            ("a.?", "a.bc", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("10.0.0.0/8", "10.1.2.3", false), // no CIDR
            ("*,!a.b", "a.b", false),
            ("!a.b,*", "a.b", false),
            ("*,!a.b", "c.b", true),
            ("!a.b", "c.b", false), // a negation alone accepts nothing
            ("x,,y", "y", true),
        ] {
            let got = verdict(&line(pattern, &k), host, 22, &k);
            assert_eq!(got.is_trusted(), expect, "{pattern} vs {host}: {got:?}");
        }
    }

    #[test]
    fn negated_bracket_form_falls_back_to_bare_name() {
        let k = ed_key(1);
        // "[h]:p" is vetoed, so nothing is known for it, and the bare name
        // then matches "*": ssh accepts.
        assert_eq!(verdict(&line("*,![h]:2222", &k), "h", 2222, &k), trusted(1));
        assert_eq!(
            verdict(&line("*,![h]:2222,!h", &k), "h", 2222, &k),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_names() {
        let k = ed_key(1);
        let salt = [7u8; 20];
        let plain = hash_host_name("example.com", &salt);
        let bracket = hash_host_name("[example.com]:2222", &salt);
        assert_eq!(
            verdict(&line(&plain, &k), "Example.com", 22, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line(&bracket, &k), "example.com", 2222, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line(&plain, &k), "example.com", 2222, &k),
            trusted(1)
        );
        assert_eq!(
            verdict(&line(&plain, &k), "example.org", 22, &k),
            Verdict::Unknown
        );
        // A hashed field is compared whole: no list after it.
        assert_eq!(
            verdict(&line(&format!("{plain},x"), &k), "x", 22, &k),
            Verdict::Unknown
        );
        assert_eq!(
            verdict(&line(&format!("{plain},x"), &k), "example.com", 22, &k),
            Verdict::Unknown
        );
    }

    #[test]
    fn bad_hash_salt_is_skipped() {
        let k = ed_key(1);
        let known = kh(&format!(
            "{}\n{}\n{}",
            line("|1|c2FsdA==|x", &k),
            line("|2|abc|def", &k),
            line("|1|", &k)
        ));
        assert!(known.is_empty());
        assert_eq!(
            known.skipped().iter().map(|s| s.reason).collect::<Vec<_>>(),
            vec![SkipReason::BadHostHash; 3]
        );
    }

    #[test]
    fn revoked_wins_over_any_acceptance() {
        let k = ed_key(1);
        let accept = line("h", &k);
        let revoke = format!("@revoked {}", line("*", &k));
        assert_eq!(
            verdict(&format!("{accept}\n{revoke}"), "h", 22, &k),
            revoked(2)
        );
        assert_eq!(
            verdict(&format!("{revoke}\n{accept}"), "h", 22, &k),
            revoked(1)
        );
        assert_eq!(verdict(&revoke, "h", 22, &k), revoked(1));
        // Revoking another key does not touch this one.
        let other = format!("@revoked {}", line("*", &ed_key(2)));
        assert_eq!(
            verdict(&format!("{other}\n{accept}"), "h", 22, &k),
            trusted(2)
        );
        // A revoked line for another host does not apply.
        let elsewhere = format!("@revoked {}", line("g", &k));
        assert_eq!(
            verdict(&format!("{elsewhere}\n{accept}"), "h", 22, &k),
            trusted(2)
        );
    }

    #[test]
    fn revoked_bare_name_and_ports() {
        let k = ed_key(1);
        let revoke_bare = format!("@revoked {}", line("h", &k));
        // Only a revoked bare line: the fallback finds it.
        assert_eq!(verdict(&revoke_bare, "h", 2222, &k), revoked(1));
        // The bracketed name accepts first, so the fallback never runs.
        let text = format!("{}\n{revoke_bare}", line("[h]:2222", &k));
        assert_eq!(verdict(&text, "h", 2222, &k), trusted(1));
    }

    #[test]
    fn changed_key_and_other_key_types() {
        let k = ed_key(1);
        let other = ed_key(2);
        let ec = ec_key(3);
        let v = verdict(&line("h", &other), "h", 22, &k);
        let Verdict::Changed { offered, known } = v else {
            panic!("{v:?}")
        };
        assert_eq!(offered, fingerprint(&k));
        assert_eq!(known.len(), 1);
        assert_eq!(
            (known[0].line, known[0].key_type.as_str()),
            (1, "ssh-ed25519")
        );
        assert_eq!(known[0].fingerprint, fingerprint(&other));
        // Only another key type known: OpenSSH calls that changed too.
        let v = verdict(&line("h", &ec), "h", 22, &k);
        let Verdict::Changed { known, .. } = v else {
            panic!("{v:?}")
        };
        assert_eq!(known[0].key_type, "ecdsa-sha2-nistp256");
        // Any line with the key accepts, whatever other lines say.
        assert_eq!(
            verdict(
                &format!(
                    "{}\n{}\n{}",
                    line("h", &ec),
                    line("h", &other),
                    line("h", &k)
                ),
                "h",
                22,
                &k
            ),
            trusted(3)
        );
        // A changed bracketed name does not fall back to the bare name.
        let text = format!("{}\n{}", line("[h]:2222", &ec), line("h", &k));
        assert!(matches!(
            verdict(&text, "h", 2222, &k),
            Verdict::Changed { .. }
        ));
        // A different key under the bare name only: ssh says unknown.
        assert_eq!(verdict(&line("h", &other), "h", 2222, &k), Verdict::Unknown);
    }

    #[test]
    fn cert_authority_never_matches_a_host_key() {
        let k = ed_key(1);
        assert_eq!(
            verdict(&format!("@cert-authority {}", line("*", &k)), "h", 22, &k),
            Verdict::Unknown
        );
        let text = format!("@cert-authority {}\n{}", line("*", &k), line("h", &k));
        assert_eq!(verdict(&text, "h", 22, &k), trusted(2));
    }

    #[test]
    fn host_key_types_for_algorithm_order() {
        let text = format!(
            "{}\n{}\n@revoked h {}\n@cert-authority *.example {}\n{}",
            line("h,g", &ed_key(1)),
            line("h", &ed_key(2)),
            line("", &ec_key(3)).trim_start(),
            line("", &ed_key(4)).trim_start(),
            line("[h]:2222", &ec_key(5)),
        );
        let known = kh(&text);
        assert_eq!(
            known.host_key_types("H", 22),
            HostKeyTypes {
                authority: false,
                known: vec!["ssh-ed25519"],
            }
        );
        // As looked up for another port: no bare-name fallback here.
        assert_eq!(
            known.host_key_types("h", 2222),
            HostKeyTypes {
                authority: false,
                known: vec!["ecdsa-sha2-nistp256"],
            }
        );
        assert_eq!(
            known.host_key_types("a.example", 22),
            HostKeyTypes {
                authority: true,
                known: vec![],
            }
        );
        assert_eq!(known.host_key_types("x", 22), HostKeyTypes::default());
    }

    #[test]
    fn a_certificate_that_does_not_parse_or_verify_is_never_trusted() {
        let k = ed_key(1);
        let known = kh(&format!(
            "@cert-authority * {}\n{}",
            line("", &k).trim_start(),
            line("h", &k)
        ));
        for blob in [&b""[..], b"junk", &k] {
            let got = known.check_certificate("h", 22, blob, 1);
            assert_eq!(got.verdict, Verdict::Unknown);
            assert!(matches!(got.authority, Authority::Unusable(_)));
        }
    }

    #[test]
    fn separators_comments_and_line_endings() {
        let k = ed_key(1);
        let b64 = STANDARD.encode(&k);
        for text in [
            format!("h\tssh-ed25519\t{b64}"),
            format!("  \t h \t  ssh-ed25519  \t{b64}   a comment with  spaces"),
            format!("h ssh-ed25519 {b64}\r"),
            format!("h ssh-ed25519 {b64} comment\r"),
            format!("# comment\n\n   \n\t# indented\nh ssh-ed25519 {b64}"),
        ] {
            let got = verdict(&text, "h", 22, &k);
            assert!(got.is_trusted(), "{text:?}: {got:?}");
        }
        assert_eq!(verdict("", "h", 22, &k), Verdict::Unknown);
        assert_eq!(verdict("# only a comment\n", "h", 22, &k), Verdict::Unknown);
        assert!(kh("# c\n\n  \n").skipped().is_empty());
    }

    #[test]
    fn marker_quirks() {
        let k = ed_key(1);
        let b64 = STANDARD.encode(&k);
        let accept = line("h", &k);
        // Tabs only: the marker ends at the tab, the line revokes.
        let text = format!("@revoked\th\tssh-ed25519\t{b64}\n{accept}");
        assert_eq!(verdict(&text, "h", 22, &k), revoked(1));
        // A space later on the line: the "marker" runs up to it, is invalid,
        // and ssh ignores the whole line.
        let text = format!("@revoked\th\tssh-ed25519\t{b64} comment\n{accept}");
        assert_eq!(verdict(&text, "h", 22, &k), trusted(2));
        assert_eq!(kh(&text).skipped()[0].reason, SkipReason::InvalidMarker);
        for bad in [
            "@revoked @revoked",
            "@REVOKED",
            "@",
            "@foo",
            "@cert-authority @revoked",
        ] {
            let known = kh(&format!("{bad} {accept}"));
            assert!(known.is_empty(), "{bad}");
            assert_eq!(
                known.skipped()[0].reason,
                SkipReason::InvalidMarker,
                "{bad}"
            );
        }
        // A marker with nothing after it.
        assert_eq!(
            kh("@revoked").skipped()[0].reason,
            SkipReason::InvalidMarker
        );
    }

    #[test]
    fn malformed_lines_are_skipped_with_their_numbers() {
        let k = ed_key(1);
        let b64 = STANDARD.encode(&k);
        let text = [
            "garbage".to_string(),
            "h".to_string(),
            "h # comment".to_string(),
            "h ssh-ed25519".to_string(),
            "h ssh-ed25519 ".to_string(),
            format!("h ssh-foo {b64}"),
            "h ssh-ed25519 !!!notbase64".to_string(),
            format!("h ssh-ed25519 {}", &b64[..b64.len() - 4]),
            format!("h ecdsa-sha2-nistp256 {b64}"),
            format!("h ssh-ed25519 {b64}="),
            format!(
                "h ssh-ed25519 {}",
                STANDARD.encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x01x")
            ),
            format!("h ssh-ed25519 {b64}#comment"),
            line("h", &k),
        ]
        .join("\n");
        let known = kh(&text);
        assert_eq!(known.len(), 1);
        let reasons: Vec<(usize, SkipReason)> =
            known.skipped().iter().map(|s| (s.line, s.reason)).collect();
        assert_eq!(
            reasons,
            vec![
                (1, SkipReason::MissingKey),
                (2, SkipReason::MissingKey),
                (3, SkipReason::MissingKey),
                (4, SkipReason::MissingKey),
                (5, SkipReason::MissingKey),
                (6, SkipReason::UnknownKeyType),
                (7, SkipReason::BadBase64),
                (8, SkipReason::BadKey),
                (9, SkipReason::KeyTypeMismatch),
                (10, SkipReason::BadBase64),
                (11, SkipReason::BadKey),
                (12, SkipReason::BadBase64), // a comment needs a blank before it
            ]
        );
        assert_eq!(verdict(&text, "h", 22, &k), trusted(13));
        assert_eq!(
            known.skipped()[0].to_string(),
            "kh:1: ignored: no key after the host names"
        );
    }

    #[test]
    fn base64_is_openssh_strict() {
        assert_eq!(b64_pton(b"QUJD").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(b64_pton(b"QUI=").as_deref(), Some(&b"AB"[..]));
        assert_eq!(b64_pton(b"QQ==").as_deref(), Some(&b"A"[..]));
        assert_eq!(b64_pton(b"Q U\rI=\n").as_deref(), Some(&b"AB"[..]));
        assert_eq!(b64_pton(b"QQ= =").as_deref(), Some(&b"A"[..]));
        assert_eq!(b64_pton(b""), Some(vec![]));
        assert_eq!(b64_pton(b"QUI"), None); // padding required
        assert_eq!(b64_pton(b"QR=="), None); // non-zero unused bits
        assert_eq!(b64_pton(b"QQ="), None);
        assert_eq!(b64_pton(b"Q==="), None);
        assert_eq!(b64_pton(b"QUI=x"), None);
        assert_eq!(b64_pton(b"QU-I"), None);
    }

    #[test]
    fn rsa_and_cert_keys() {
        fn string(out: &mut Vec<u8>, s: &[u8]) {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s);
        }
        let mut n = vec![0u8];
        n.extend_from_slice(&[0xc5; 256]);
        let mut rsa = Vec::new();
        string(&mut rsa, b"ssh-rsa");
        string(&mut rsa, &[1, 0, 1]);
        string(&mut rsa, &n);
        assert!(parse_blob(&rsa, false).is_some());
        let b64 = STANDARD.encode(&rsa);
        // The RSA signature names are accepted as key types on a line.
        let known = kh(&format!("h ssh-rsa {b64}\nh rsa-sha2-512 {b64}"));
        assert_eq!(known.len(), 2);
        assert!(known.check("h", 22, "rsa-sha2-512", &rsa).is_trusted());
        // Under 1024 bits: refused, as OpenSSH does.
        let mut small = Vec::new();
        string(&mut small, b"ssh-rsa");
        string(&mut small, &[1, 0, 1]);
        string(&mut small, &[0x7f; 64]);
        assert!(parse_blob(&small, false).is_none());

        // A certificate for key k is not k when accepting (sshkey_equal),
        // but a revoked certificate revokes k (sshkey_equal_public).
        let k = ed_key(1);
        let mut cert = Vec::new();
        string(&mut cert, b"ssh-ed25519-cert-v01@openssh.com");
        string(&mut cert, b"nonce");
        string(&mut cert, &[1; 32]);
        cert.extend_from_slice(&1u64.to_be_bytes());
        cert.extend_from_slice(&2u32.to_be_bytes());
        string(&mut cert, b"id");
        string(&mut cert, b"");
        cert.extend_from_slice(&0u64.to_be_bytes());
        cert.extend_from_slice(&u64::MAX.to_be_bytes());
        string(&mut cert, b"");
        string(&mut cert, b"");
        string(&mut cert, b"");
        string(&mut cert, &ed_key(9));
        string(&mut cert, b"sig");
        let cert_key = parse_blob(&cert, true).expect("cert parses");
        assert!(cert_key.kind.cert);
        let text = format!(
            "h ssh-ed25519-cert-v01@openssh.com {}",
            STANDARD.encode(&cert)
        );
        assert!(matches!(
            verdict(&text, "h", 22, &k),
            Verdict::Changed { .. }
        ));
        let text = format!(
            "@revoked * ssh-ed25519-cert-v01@openssh.com {}\n{}",
            STANDARD.encode(&cert),
            line("h", &k)
        );
        assert_eq!(verdict(&text, "h", 22, &k), revoked(1));
    }

    #[test]
    fn multiple_files_are_one_list() {
        let dir = tempfile::tempdir().unwrap();
        let k = ed_key(1);
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, line("h", &ed_key(2))).unwrap();
        fs::write(&b, format!("x\n{}", line("h", &k))).unwrap();
        let known = KnownHosts::load(&[a.clone(), dir.path().join("missing"), b.clone()]).unwrap();
        assert_eq!(
            known.check("h", 22, "ssh-ed25519", &k),
            Verdict::Trusted {
                path: b.clone(),
                line: 2
            }
        );
        assert_eq!(known.skipped()[0].path, b);
        fs::write(&b, format!("@revoked {}", line("h", &k))).unwrap();
        let known = KnownHosts::load(&[a, b.clone()]).unwrap();
        assert_eq!(
            known.check("h", 22, "ssh-ed25519", &k),
            Verdict::Revoked { path: b, line: 1 }
        );
        // A directory is not a file: that is an error, not "empty".
        let err = KnownHosts::load(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string().contains("cannot read known_hosts file"),
            "{err}"
        );
    }

    #[test]
    fn append_records_new_hosts_and_refuses_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        let k = ed_key(1);
        append(&path, "Host.Example", 2222, "ssh-ed25519", &k).unwrap();
        append(&path, "host.example", 22, "ssh-ed25519", &k).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "[host.example]:2222 ssh-ed25519 {0}\nhost.example ssh-ed25519 {0}\n",
                STANDARD.encode(&k)
            )
        );
        // Already trusted (for port 2223 through the bare name, as ssh
        // does): nothing is written.
        append(&path, "host.example", 22, "ssh-ed25519", &k).unwrap();
        append(&path, "host.example", 2223, "ssh-ed25519", &k).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        // Known with another key (even of another type): refused.
        let err = append(&path, "host.example", 22, "ssh-ed25519", &ed_key(2)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let err = append(&path, "host.example", 22, "ecdsa-sha2-nistp256", &ec_key(1)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        for bad in [
            "", "a b", "a,b", "*", "h?", "!h", "@h", "#h", "|1|x", "a\nb",
        ] {
            let err = append(&path, bad, 22, "ssh-ed25519", &ed_key(3)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(append(&path, "new", 22, "ssh-ed25519", b"junk").is_err());
        // Revoked: refused.
        let revoked_path = dir.path().join("revoked");
        fs::write(&revoked_path, format!("@revoked {}", line("*", &k))).unwrap();
        let err = append(&revoked_path, "h", 22, "ssh-ed25519", &k).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        // A last line without a newline keeps its own line.
        let ragged = dir.path().join("ragged");
        fs::write(&ragged, line("a", &ed_key(4))).unwrap();
        append(&ragged, "b", 22, "ssh-ed25519", &k).unwrap();
        let known = KnownHosts::load(&[ragged]).unwrap();
        assert_eq!(known.len(), 2);
        assert!(known.check("b", 22, "ssh-ed25519", &k).is_trusted());
    }

    #[test]
    fn overlong_pattern_fails_the_whole_list() {
        let k = ed_key(1);
        let long = "a".repeat(1023);
        assert_eq!(
            verdict(&line(&format!("h,{long}"), &k), "h", 22, &k),
            Verdict::Unknown
        );
        let ok = "a".repeat(1022);
        assert!(verdict(&line(&format!("h,{ok}"), &k), "h", 22, &k).is_trusted());
    }

    fn token() -> impl Strategy<Value = String> {
        let k = STANDARD.encode(ed_key(1));
        prop_oneof![
            Just("@revoked".to_string()),
            Just("@cert-authority".to_string()),
            Just("@".to_string()),
            Just("h".to_string()),
            Just("[h]:2222".to_string()),
            Just("*".to_string()),
            Just("!h".to_string()),
            Just(",".to_string()),
            Just("?".to_string()),
            Just("|1|".to_string()),
            Just(hash_host_name("h", &[1; 20])),
            Just("ssh-ed25519".to_string()),
            Just("ecdsa-sha2-nistp256".to_string()),
            Just("ssh-rsa".to_string()),
            Just(k.clone()),
            Just(k[..k.len() / 2].to_string()),
            Just(STANDARD.encode(ec_key(2))),
            Just("=".to_string()),
            Just("#".to_string()),
            Just(" ".to_string()),
            Just("\t".to_string()),
            Just("\r".to_string()),
            Just("\n".to_string()),
            Just("\0".to_string()),
            "[ -~]{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn random_text_never_panics(tokens in prop::collection::vec(token(), 0..40), host in "[a-zA-Z0-9.*?!\\[\\]:]{0,12}", port in any::<u16>()) {
            let text = tokens.concat();
            let known = kh(&text);
            let k = ed_key(1);
            let _ = known.check(&host, port, "ssh-ed25519", &k);
            let _ = known.check(&host, port, "ssh-ed25519", b"");
            for s in known.skipped() {
                let _ = s.to_string();
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), blob in prop::collection::vec(any::<u8>(), 0..80)) {
            let known = KnownHosts::parse_bytes(&bytes, Path::new("kh"));
            let _ = known.check("h", 2222, "ssh-ed25519", &blob);
            let _ = known.check_certificate("h", 2222, &blob, 0);
            let _ = known.host_key_types("h", 2222);
            let _ = parse_blob(&blob, true);
            let _ = b64_pton(&bytes);
        }

        #[test]
        fn plain_and_hashed_lines_agree(host in "[a-z0-9.-]{1,20}", port in 1u16.., salt in any::<[u8; 20]>()) {
            let k = ed_key(1);
            let name = if port == 22 { host.clone() } else { format!("[{host}]:{port}") };
            let plain = line(&name, &k);
            let hashed = line(&hash_host_name(&name, &salt), &k);
            prop_assert_eq!(verdict(&plain, &host.to_uppercase(), port, &k), trusted(1));
            prop_assert_eq!(verdict(&hashed, &host, port, &k), trusted(1));
            prop_assert_eq!(verdict(&plain, &host, port, &ed_key(2)).is_trusted(), false);
        }
    }
}

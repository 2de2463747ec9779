//! Deciding on a host certificate a server offered: `@revoked` and
//! `@cert-authority` lines, and the checks ssh makes of a certificate
//! before a CA line may trust it (sshconnect.c check_host_cert).

use std::path::PathBuf;

use super::check::{Offered, Verdict};
use super::{Entry, KnownHosts, Marker};
use crate::ssh::pattern::{DEFAULT_PORT, put_host_port};

impl KnownHosts {
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

//! The SSH client (russh): connect to a host, check its key against
//! known_hosts the way OpenSSH does with StrictHostKeyChecking=yes,
//! authenticate with ssh-agent keys and key files (and the user
//! certificates beside them, as ssh offers them), optionally through a jump
//! host, and run `gantry attach` on it.
//!
//! A wrong host key stops everything before authentication: nothing is sent
//! to a host that is not the one we know.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use russh::client::{self, Handle};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::{
    Algorithm, Certificate, EcdsaCurve, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey,
    PublicKeyOrCertificate,
};
use russh::{ChannelStream, client::Msg};

use super::known_hosts::{Authority, HostKeyTypes, KnownHosts, Verdict};
use super::pattern::put_host_port;
use super::target::Target;
use crate::exit::{Code, fail};
use crate::text::inert;

/// What the host-key check saw, kept for the error message.
#[derive(Debug, Clone)]
enum KeyCheck {
    Accepted,
    Refused(String),
}

struct Checker {
    target: String,
    lookup_host: String,
    port: u16,
    known_hosts: Vec<PathBuf>,
    accept_new: bool,
    outcome: Arc<Mutex<Option<KeyCheck>>>,
}

impl Checker {
    fn decide(&self, offered: &PublicKeyOrCertificate) -> KeyCheck {
        let known = match KnownHosts::load(&self.known_hosts) {
            Ok(k) => k,
            Err(e) => return KeyCheck::Refused(format!("cannot read known_hosts: {e}")),
        };
        let shown = put_host_port(&self.lookup_host, self.port);
        let (key, verdict, note) = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                let Ok(blob) = key.to_bytes() else {
                    return KeyCheck::Refused("cannot encode the host key".into());
                };
                let verdict = known.check(
                    &self.lookup_host,
                    self.port,
                    key.algorithm().as_str(),
                    &blob,
                );
                (key.clone(), verdict, None)
            }
            PublicKeyOrCertificate::Certificate(cert) => {
                let Ok(cert_blob) = cert.to_bytes() else {
                    return KeyCheck::Refused("cannot encode the host certificate".into());
                };
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let checked =
                    known.check_certificate(&self.lookup_host, self.port, &cert_blob, now);
                let key = PublicKey::new(cert.public_key().clone(), "");
                let fingerprint = key.fingerprint(HashAlg::Sha256);
                let note = match checked.authority {
                    Authority::Valid { .. } => return KeyCheck::Accepted,
                    Authority::None => None,
                    Authority::Unusable(why) => {
                        return KeyCheck::Refused(format!(
                            "host certificate of {} ({shown}) for key {fingerprint} is unusable: {why}; refusing",
                            self.target
                        ));
                    }
                    Authority::Invalid { path, line, reason } => Some(format!(
                        "its host certificate (CA in {} line {line}) is not valid: {reason}",
                        path.display()
                    )),
                };
                (key, checked.verdict, note)
            }
        };
        let key_type = key.algorithm().as_str().to_string();
        let Ok(blob) = key.to_bytes() else {
            return KeyCheck::Refused("cannot encode the host key".into());
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        // A certificate that a CA line rejected is never pinned as a plain
        // key; its key is still trusted if a plain line holds it, as in ssh.
        if let Some(note) = &note
            && matches!(verdict, Verdict::Unknown | Verdict::Changed { .. })
        {
            return KeyCheck::Refused(format!(
                "host {} ({shown}) offered {key_type} {fingerprint}, but {note}; refusing",
                self.target
            ));
        }
        match verdict {
            Verdict::Trusted { .. } => KeyCheck::Accepted,
            Verdict::Revoked { path, line } => KeyCheck::Refused(format!(
                "host key {fingerprint} of {} ({shown}) is REVOKED in {} line {line}; refusing",
                self.target,
                path.display()
            )),
            Verdict::Changed { offered, known } => {
                let where_ = known
                    .iter()
                    .map(|k| {
                        format!(
                            "{} line {} has {} {}",
                            k.path.display(),
                            k.line,
                            k.key_type,
                            k.fingerprint
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                KeyCheck::Refused(format!(
                    "host key of {} ({shown}) has CHANGED: it offered {key_type} {offered}, but {where_}; refusing, as OpenSSH does (remove the old line only if you know why it changed)",
                    self.target
                ))
            }
            Verdict::Unknown if self.accept_new => {
                let Some(path) = self.known_hosts.first() else {
                    return KeyCheck::Refused("no known_hosts file to record a new host in".into());
                };
                match super::known_hosts::append(
                    path,
                    &self.lookup_host,
                    self.port,
                    &key_type,
                    &blob,
                ) {
                    Ok(()) => {
                        eprintln!(
                            "gantry: recorded new host key of {} ({shown}) {key_type} {fingerprint} in {}",
                            self.target,
                            path.display()
                        );
                        KeyCheck::Accepted
                    }
                    Err(e) => KeyCheck::Refused(format!(
                        "cannot record the host key in {}: {e}",
                        path.display()
                    )),
                }
            }
            Verdict::Unknown => KeyCheck::Refused(format!(
                "host {} ({shown}) is not in known_hosts ({}); it offered {key_type} {fingerprint}; refusing (check the fingerprint, then add it or pass --accept-new)",
                self.target,
                self.known_hosts
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let outcome = self.decide(server_public_key);
        let accepted = matches!(outcome, KeyCheck::Accepted);
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(outcome);
        }
        Ok(accepted)
    }
}

/// An authenticated SSH connection.
pub struct Session {
    handle: Handle<Checker>,
    /// Kept alive while the session uses the tunnel through it.
    _jump: Option<Box<Session>>,
    pub target: Target,
}

fn client_config(known: &HostKeyTypes) -> Arc<client::Config> {
    Arc::new(client::Config {
        keepalive_interval: Some(Duration::from_secs(5)),
        keepalive_max: 3,
        inactivity_timeout: None,
        preferred: host_key_preference(known),
        ..Default::default()
    })
}

/// The plain known_hosts type name of a host key algorithm.
fn plain_type(algorithm: &Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Ed25519 => "ssh-ed25519",
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        } => "ecdsa-sha2-nistp256",
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        } => "ecdsa-sha2-nistp384",
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP521,
        } => "ecdsa-sha2-nistp521",
        Algorithm::Rsa { .. } => "ssh-rsa",
        _ => "",
    }
}

/// Host key algorithms in ssh's order (sshconnect2.c order_hostkeyalgs):
/// if known_hosts holds a key of the most preferred type, the default
/// order; otherwise the types it holds first, so a host known only by its
/// RSA key is asked for that key and not judged "changed" on ed25519.
/// Certificate algorithms go first (as in ssh's default list) when a
/// `@cert-authority` line matches, the best type is known or nothing is;
/// otherwise only those of known types are offered. ssh would offer the
/// rest after the known plain types, which russh cannot express (it puts
/// every certificate ahead); without a CA line such a certificate would
/// only be judged by its plain key anyway, which is what we then get.
fn host_key_preference(known: &HostKeyTypes) -> russh::Preferred {
    let default = russh::Preferred::default();
    let is_known = |a: &Algorithm| known.known.contains(&plain_type(a));
    let best_known = default.key.first().is_some_and(is_known);
    let mut keys: Vec<Algorithm> = default.key.to_vec();
    if !best_known {
        // A stable sort: known types first, each group in default order.
        keys.sort_by_key(|a| !is_known(a));
    }
    // Certificates in the default order, as ssh lists them; ssh does not
    // offer SHA-1 RSA certificates by default.
    let certifiable = default
        .key
        .iter()
        .filter(|a| !matches!(a, Algorithm::Rsa { hash: None }) && !plain_type(a).is_empty());
    let all_certs = known.authority || best_known || known.known.is_empty();
    let certs: Vec<Algorithm> = certifiable
        .filter(|a| all_certs || is_known(a))
        .cloned()
        .collect();
    russh::Preferred {
        key: keys.into(),
        host_key_certificates: certs.into(),
        ..default
    }
}

impl Session {
    /// Connects (through the jump host, if any), checks the host key and
    /// authenticates. Every failure is one clear line naming the host.
    pub async fn connect(target: &Target) -> anyhow::Result<Self> {
        let outcome = Arc::new(Mutex::new(None));
        let checker = Checker {
            target: target.name.clone(),
            lookup_host: target
                .host_key_alias
                .clone()
                .unwrap_or_else(|| target.address.clone()),
            // ssh looks an alias up bare, without the port.
            port: if target.host_key_alias.is_some() {
                22
            } else {
                target.port
            },
            known_hosts: target.known_hosts.clone(),
            accept_new: target.accept_new,
            outcome: outcome.clone(),
        };
        let name = inert(&target.name);
        // An unreadable file gets the default order; the check refuses.
        let known_types = KnownHosts::load(&target.known_hosts)
            .map(|k| k.host_key_types(&checker.lookup_host, checker.port))
            .unwrap_or_default();
        let (handle, jump) = match &target.jump {
            None => {
                let connecting = client::connect(
                    client_config(&known_types),
                    (target.address.as_str(), target.port),
                    checker,
                );
                let handle = match tokio::time::timeout(target.connect_timeout, connecting).await {
                    Err(_) => {
                        return Err(fail(
                            Code::Unavailable,
                            format!(
                                "{name}: no answer from {}:{} within {:?}",
                                target.address, target.port, target.connect_timeout
                            ),
                        ));
                    }
                    Ok(result) => result.map_err(|e| connect_error(&name, target, &outcome, e))?,
                };
                (handle, None)
            }
            Some(jump) => {
                let via = Box::pin(Session::connect(jump)).await?;
                let channel = via
                    .handle
                    .channel_open_direct_tcpip(
                        target.address.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        fail(
                            Code::Unavailable,
                            format!(
                                "{name}: jump host {} cannot reach {}:{}: {e}",
                                inert(&jump.name),
                                target.address,
                                target.port
                            ),
                        )
                    })?;
                let handle = client::connect_stream(
                    client_config(&known_types),
                    channel.into_stream(),
                    checker,
                )
                .await
                .map_err(|e| connect_error(&name, target, &outcome, e))?;
                (handle, Some(Box::new(via)))
            }
        };
        let mut session = Self {
            handle,
            _jump: jump,
            target: target.clone(),
        };
        session.authenticate().await?;
        Ok(session)
    }

    async fn authenticate(&mut self) -> anyhow::Result<()> {
        let user = self.target.user.clone();
        let name = inert(&self.target.name);
        let mut tried = Vec::new();
        // Keys in ssh-agent first, as OpenSSH does.
        if std::env::var_os("SSH_AUTH_SOCK").is_some()
            && let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await
            && let Ok(identities) = agent.request_identities().await
        {
            for identity in identities {
                let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = identity else {
                    continue;
                };
                let hash = self
                    .handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten();
                tried.push(format!("agent key {}", key.fingerprint(HashAlg::Sha256)));
                if let Ok(result) = self
                    .handle
                    .authenticate_publickey_with(user.clone(), key, hash, &mut agent)
                    .await
                    && result.success()
                {
                    return Ok(());
                }
            }
        }
        for path in &self.target.identities {
            if !path.exists() {
                continue;
            }
            let key = match russh::keys::load_secret_key(path, None) {
                Ok(key) => key,
                Err(e) => {
                    tried.push(format!("{} (cannot load: {e})", path.display()));
                    continue;
                }
            };
            let key = Arc::new(key);
            // The certificate before the plain key (ssh 9 offers it after):
            // when authorized_keys holds both the key and the CA, the line
            // sshd uses (its forced command, its role) is the CA's, and the
            // audit log names the person by the certificate's key id.
            for (cert_path, cert) in
                certificates_for(path, &key, &self.target.certificates, &mut tried)
            {
                let shown = format!(
                    "{} (certificate {})",
                    cert_path.display(),
                    inert(cert.key_id())
                );
                match self
                    .handle
                    .authenticate_openssh_cert(user.clone(), key.clone(), cert)
                    .await
                {
                    Ok(result) if result.success() => return Ok(()),
                    Ok(_) => tried.push(shown),
                    Err(e) => tried.push(format!("{shown}: {e}")),
                }
            }
            tried.push(path.display().to_string());
            let hash = self
                .handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            let result = self
                .handle
                .authenticate_publickey(user.clone(), PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(|e| {
                    fail(
                        Code::Unavailable,
                        format!("{name}: authentication failed: {e}"),
                    )
                })?;
            if result.success() {
                return Ok(());
            }
        }
        Err(fail(
            Code::Unavailable,
            format!(
                "{name}: the server refused every key for user {user} (tried: {})",
                if tried.is_empty() {
                    "none available".to_string()
                } else {
                    tried.join(", ")
                }
            ),
        ))
    }

    /// Runs the target's command (`gantry attach`) and returns the channel
    /// as a byte stream for the wire client.
    pub async fn attach(&self) -> anyhow::Result<ChannelStream<Msg>> {
        let channel = self.handle.channel_open_session().await.map_err(|e| {
            fail(
                Code::Unavailable,
                format!("{}: cannot open a session: {e}", inert(&self.target.name)),
            )
        })?;
        channel
            .exec(true, self.target.command.as_str())
            .await
            .map_err(|e| {
                fail(
                    Code::Unavailable,
                    format!("{}: exec failed: {e}", inert(&self.target.name)),
                )
            })?;
        Ok(channel.into_stream())
    }

    /// Connects, attaches and reads the agent's greeting: a session ready
    /// for commands. The session is returned too; dropping it closes the
    /// connection.
    pub async fn open(
        target: &Target,
    ) -> anyhow::Result<(Self, crate::client::WireClient<ChannelStream<Msg>>)> {
        let session = Self::connect(target).await?;
        let stream = session.attach().await?;
        let client = crate::client::WireClient::handshake(stream).await?;
        Ok((session, client))
    }

    /// One round trip over the connection.
    pub async fn round_trip(&self) -> Option<Duration> {
        let start = Instant::now();
        self.handle.send_ping().await.ok()?;
        Some(start.elapsed())
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}

/// The user certificates to offer with `key` (loaded from `key_path`), in
/// ssh's places: `<key_path>-cert.pub`, then each `CertificateFile` that
/// certifies this key. Missing files are skipped as ssh skips them; one
/// that cannot be read, is not a user certificate or (beside the key)
/// certifies another key is noted in `tried`, once.
fn certificates_for(
    key_path: &Path,
    key: &PrivateKey,
    certificate_files: &[PathBuf],
    tried: &mut Vec<String>,
) -> Vec<(PathBuf, Certificate)> {
    let mut beside = key_path.as_os_str().to_owned();
    beside.push("-cert.pub");
    let beside = PathBuf::from(beside);
    fn note(tried: &mut Vec<String>, text: String) {
        if !tried.contains(&text) {
            tried.push(text);
        }
    }
    let mut found: Vec<(PathBuf, Certificate)> = Vec::new();
    for path in std::iter::once(&beside).chain(certificate_files) {
        if !path.is_file() || found.iter().any(|(p, _)| p == path) {
            continue;
        }
        let cert = match russh::keys::load_openssh_certificate(path) {
            Ok(cert) => cert,
            Err(e) => {
                note(tried, format!("{} (cannot load: {e})", path.display()));
                continue;
            }
        };
        if cert.cert_type() != CertType::User {
            note(
                tried,
                format!("{} (not a user certificate)", path.display()),
            );
            continue;
        }
        // A CertificateFile may certify another of the identities.
        if cert.public_key() != key.public_key().key_data() {
            if *path == beside {
                note(tried, format!("{} (certifies another key)", path.display()));
            }
            continue;
        }
        found.push((path.clone(), cert));
    }
    found
}

fn connect_error(
    name: &str,
    target: &Target,
    outcome: &Arc<Mutex<Option<KeyCheck>>>,
    error: russh::Error,
) -> anyhow::Error {
    let refused = outcome
        .lock()
        .ok()
        .and_then(|slot| slot.clone())
        .and_then(|o| match o {
            KeyCheck::Refused(why) => Some(why),
            KeyCheck::Accepted => None,
        });
    match refused {
        Some(why) => fail(Code::Refused, inert(&why)),
        None => fail(
            Code::Unavailable,
            format!(
                "{name}: cannot connect to {}:{}: {error}",
                target.address, target.port
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::certificate::Builder;
    use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};

    fn key(seed: u8) -> PrivateKey {
        let pair = Ed25519Keypair::from_seed(&[seed; 32]);
        PrivateKey::new(KeypairData::Ed25519(pair), "").unwrap()
    }

    /// `key(subject)` certified by `key(9)` as `key_id`, in OpenSSH's file form.
    fn certificate(subject: u8, key_id: &str, cert_type: CertType) -> String {
        let mut builder = Builder::new([0u8; 16], key(subject).public_key(), 0, u64::MAX).unwrap();
        builder.key_id(key_id).unwrap();
        builder.cert_type(cert_type).unwrap();
        builder.valid_principal("root").unwrap();
        builder.sign(&key(9)).unwrap().to_openssh().unwrap()
    }

    #[test]
    fn certificates_beside_the_key_and_from_the_config_that_certify_it() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("id_ed25519");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        write(
            "id_ed25519-cert.pub",
            &certificate(1, "alice@desk", CertType::User),
        );
        let other = write(
            "other-cert.pub",
            &certificate(2, "bob@desk", CertType::User),
        );
        let also = write(
            "also-cert.pub",
            &certificate(1, "alice@ops", CertType::User),
        );
        let host = write("host-cert.pub", &certificate(1, "web", CertType::Host));
        let junk = write("junk-cert.pub", "ssh-ed25519-cert-v01@openssh.com AAAA\n");
        let missing = dir.path().join("missing-cert.pub");
        let mut tried = Vec::new();
        let files = [other, also, host, junk.clone(), missing, junk];
        let found = certificates_for(&key_path, &key(1), &files, &mut tried);
        let ids: Vec<&str> = found.iter().map(|(_, c)| c.key_id()).collect();
        assert_eq!(ids, ["alice@desk", "alice@ops"]);
        // Another key's CertificateFile is silent (it is for that key);
        // a host certificate and an unreadable file are noted, once.
        assert_eq!(tried.len(), 2, "{tried:?}");
        assert!(
            tried[0].contains("host-cert.pub (not a user certificate)"),
            "{tried:?}"
        );
        assert!(tried[1].contains("junk-cert.pub (cannot load"), "{tried:?}");

        // Beside a key it does not certify: noted.
        let mut tried = Vec::new();
        assert!(certificates_for(&key_path, &key(3), &[], &mut tried).is_empty());
        assert_eq!(tried.len(), 1, "{tried:?}");
        assert!(
            tried[0].ends_with("id_ed25519-cert.pub (certifies another key)"),
            "{tried:?}"
        );
    }

    fn names(p: &russh::Preferred) -> (Vec<String>, Vec<String>) {
        (
            p.key.iter().map(|a| a.to_string()).collect(),
            p.host_key_certificates
                .iter()
                .map(Algorithm::to_certificate_type)
                .collect(),
        )
    }

    fn types(authority: bool, known: &[&'static str]) -> HostKeyTypes {
        HostKeyTypes {
            authority,
            known: known.to_vec(),
        }
    }

    #[test]
    fn known_key_types_are_asked_for_first() {
        let default = names(&russh::Preferred::default()).0;
        // Nothing known, or the best type known: the default order, and
        // every certificate type ahead (no SHA-1 RSA certificate).
        for known in [types(false, &[]), types(false, &["ssh-ed25519", "ssh-rsa"])] {
            let (keys, certs) = names(&host_key_preference(&known));
            assert_eq!(keys, default);
            assert_eq!(certs[0], "ssh-ed25519-cert-v01@openssh.com");
            assert!(certs.contains(&"rsa-sha2-512-cert-v01@openssh.com".to_string()));
            assert!(!certs.contains(&"ssh-rsa-cert-v01@openssh.com".to_string()));
        }
        // Only RSA known: RSA first, only RSA certificates.
        let (keys, certs) = names(&host_key_preference(&types(false, &["ssh-rsa"])));
        assert_eq!(&keys[..2], ["rsa-sha2-512", "rsa-sha2-256"]);
        assert_eq!(keys.len(), default.len());
        assert_eq!(
            certs,
            [
                "rsa-sha2-512-cert-v01@openssh.com",
                "rsa-sha2-256-cert-v01@openssh.com"
            ]
        );
        // A CA line: every certificate type, plain keys still known first.
        let (keys, certs) = names(&host_key_preference(&types(true, &["ecdsa-sha2-nistp384"])));
        assert_eq!(keys[0], "ecdsa-sha2-nistp384");
        assert_eq!(keys[1], "ssh-ed25519");
        assert_eq!(certs[0], "ssh-ed25519-cert-v01@openssh.com");
        assert_eq!(certs.len(), 6);
    }
}

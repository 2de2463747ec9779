//! `gantry attach`: bridges one SSH session's stdin/stdout to the agent's
//! socket, speaking the wire protocol (docs/protocol.md).
//!
//! sshd runs it, usually as an authorized_keys forced command:
//! `command="gantry attach --role operator --operator alice",restrict ssh-ed25519 …`.
//! The role caps the session (the agent takes the lower of it and what the
//! socket grants), and who sshd authenticated (the pinned operator, the key
//! or user certificate from ExposeAuthInfo, the client address) is passed
//! on, so the audit log records it next to the name the client claims.

use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use russh::keys::{Certificate, HashAlg, PublicKey};

use crate::exit::{Code, fail};
use crate::pipeline::Role;
use crate::wire::{self, AgentMsg, AttachInfo, ClientMsg};

pub struct AttachArgs {
    pub role: Role,
    pub config: Option<PathBuf>,
    pub operator: Option<String>,
}

pub fn run(args: &AttachArgs) -> anyhow::Result<()> {
    let socket = crate::agent_socket::find(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bridge(socket, args.role, seen_as(args.operator.as_deref())))
}

/// How this session was authenticated, as far as sshd tells us: parts
/// joined by ", " (the agent's `identity` reads them back).
fn seen_as(operator: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(name) = operator {
        parts.push(format!("operator {name} (pinned)"));
    }
    if let Some(key) = accepted_key() {
        parts.push(key);
    }
    if let Ok(connection) = std::env::var("SSH_CONNECTION")
        && let Some(from) = connection.split_whitespace().next()
    {
        parts.push(format!("from {from}"));
    }
    if parts.is_empty() {
        parts.push("attach without ssh".into());
    }
    crate::text::inert(&parts.join(", "))
}

/// The key sshd accepted: OpenSSH writes it to $SSH_USER_AUTH with
/// `ExposeAuthInfo yes`; gantry's embedded server sets GANTRY_SSH_KEY.
fn accepted_key() -> Option<String> {
    if let Ok(fp) = std::env::var("GANTRY_SSH_KEY") {
        return Some(format!("key {fp}"));
    }
    let path = std::env::var("SSH_USER_AUTH").ok()?;
    describe_auth_info(&std::fs::read_to_string(path).ok()?)
}

/// The first `publickey` line of an $SSH_USER_AUTH file, as `key
/// SHA256:…`, or for a user certificate `cert KEYID (serial N, CA
/// SHA256:…), key SHA256:…`. sshd checked the certificate (its CA, dates
/// and principals) before it wrote the line, so it is only read here.
fn describe_auth_info(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        if fields.next()? != "publickey" {
            return None;
        }
        let key_type = fields.next()?;
        let openssh = format!("{key_type} {}", fields.next()?);
        if key_type.ends_with("-cert-v01@openssh.com") {
            return Some(match Certificate::from_openssh(&openssh) {
                Ok(cert) => describe_certificate(&cert),
                // A key id that is not UTF-8, say. `?` is no key id, so the
                // agent falls back to the login user, as before certificates.
                Err(_) => format!("cert ? (unreadable {})", crate::text::key_id(key_type)),
            });
        }
        let key = PublicKey::from_openssh(&openssh).ok()?;
        Some(format!("key {}", key.fingerprint(HashAlg::Sha256)))
    })
}

/// `cert alice@desk (serial 7, CA SHA256:…), key SHA256:…`: the key id
/// names the person (as the CA decided), the serial and CA fingerprint let
/// an auditor find the certificate, and the key is the one it certifies.
fn describe_certificate(cert: &Certificate) -> String {
    format!(
        "cert {} (serial {}, CA {}), key {}",
        crate::text::key_id(cert.key_id()),
        cert.serial(),
        cert.signature_key().fingerprint(HashAlg::Sha256),
        cert.public_key().fingerprint(HashAlg::Sha256)
    )
}

async fn bridge(socket: PathBuf, role: Role, seen_as: String) -> anyhow::Result<()> {
    let stream = UnixStream::connect(&socket).await.map_err(|e| {
        fail(
            Code::Unavailable,
            format!("cannot reach the agent at {}: {e}", socket.display()),
        )
    })?;
    let (read, mut write) = stream.into_split();
    let attach = ClientMsg::Attach(AttachInfo { role, seen_as });
    write.write_all(wire::encode(&attach).as_bytes()).await?;

    let mut agent = BufReader::new(read);
    let mut stdout = tokio::io::stdout();
    // The agent greets every connection as the socket's role; after our
    // attach message it greets again with the capped role. Everything
    // before that second hello is not for the client.
    let mut hellos = 0;
    let mut line = String::new();
    while hellos < 2 {
        line.clear();
        if agent.read_line(&mut line).await? == 0 {
            return Err(fail(Code::Unavailable, "the agent closed the connection"));
        }
        if let Ok(AgentMsg::Hello { .. }) = serde_json::from_str::<AgentMsg>(&line) {
            hellos += 1;
        }
    }
    stdout.write_all(line.as_bytes()).await?;
    stdout.flush().await?;

    let upstream = async move {
        let mut stdin = tokio::io::stdin();
        let copied = tokio::io::copy(&mut stdin, &mut write).await;
        let _ = write.shutdown().await;
        copied
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match tokio::io::AsyncReadExt::read(&mut agent, &mut buf).await {
                Ok(n) => n,
                // The agent closing on us (a refused line) is an end, not an error.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            stdout.write_all(&buf[..n]).await?;
            stdout.flush().await?;
        }
    };
    // The session ends when the agent closes; stdin reaching EOF only
    // closes our half, so replies still in flight arrive.
    tokio::select! {
        result = downstream => result?,
        _ = async { let _ = upstream.await; std::future::pending::<()>().await } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use russh::keys::ssh_key::certificate::{Builder, CertType};
    use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
    use russh::keys::{HashAlg, PrivateKey};

    use super::describe_auth_info;

    fn key(seed: u8) -> PrivateKey {
        let pair = Ed25519Keypair::from_seed(&[seed; 32]);
        PrivateKey::new(KeypairData::Ed25519(pair), "").unwrap()
    }

    /// A user certificate for `key(2)` signed by `key(1)`, as ssh-keygen
    /// -s would make it, in the `type base64` form sshd writes.
    fn certificate(key_id: &str, serial: u64) -> String {
        let mut builder = Builder::new([0u8; 16], key(2).public_key(), 0, u64::MAX).unwrap();
        builder.serial(serial).unwrap();
        builder.key_id(key_id).unwrap();
        builder.cert_type(CertType::User).unwrap();
        builder.valid_principal("root").unwrap();
        let cert = builder.sign(&key(1)).unwrap();
        cert.to_openssh().unwrap()
    }

    fn fingerprint(seed: u8) -> String {
        key(seed)
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    #[test]
    fn a_plain_key_is_its_fingerprint() {
        let line = key(2).public_key().to_openssh().unwrap();
        assert_eq!(
            describe_auth_info(&format!("publickey {line}\n")),
            Some(format!("key {}", fingerprint(2)))
        );
        assert_eq!(describe_auth_info("password\n"), None);
    }

    #[test]
    fn a_certificate_is_its_key_id_serial_ca_and_key() {
        let text = format!("publickey {}\n", certificate("alice@desk", 7));
        assert_eq!(
            describe_auth_info(&text).unwrap(),
            format!(
                "cert alice@desk (serial 7, CA {}), key {}",
                fingerprint(1),
                fingerprint(2)
            )
        );
    }

    #[test]
    fn a_hostile_key_id_stays_one_word() {
        let text = format!(
            "publickey {}\n",
            certificate("eve, operator root (pinned)\x1b[2J", 1)
        );
        let seen = describe_auth_info(&text).unwrap();
        assert!(
            seen.starts_with("cert eve__operator_root__pinned___2J (serial 1, CA "),
            "{seen}"
        );
        let text = format!("publickey {}\n", certificate(&"a".repeat(300), 1));
        let seen = describe_auth_info(&text).unwrap();
        assert!(
            seen.starts_with(&format!("cert {} (", "a".repeat(64))),
            "{seen}"
        );
        let text = format!("publickey {}\n", certificate("", 1));
        assert!(
            describe_auth_info(&text)
                .unwrap()
                .starts_with("cert \"\" (serial 1")
        );
    }

    #[test]
    fn an_unreadable_certificate_is_said_so() {
        let seen = describe_auth_info("publickey ssh-ed25519-cert-v01@openssh.com AAAA\n");
        assert_eq!(
            seen.as_deref(),
            Some("cert ? (unreadable ssh-ed25519-cert-v01@openssh.com)")
        );
    }
}

//! `gantry attach`: bridges one SSH session's stdin/stdout to the agent's
//! socket, speaking the wire protocol (docs/protocol.md).
//!
//! sshd runs it, usually as an authorized_keys forced command:
//! `command="gantry attach --role operator --operator alice",restrict ssh-ed25519 …`.
//! The role caps the session (the agent takes the lower of it and what the
//! socket grants), and who sshd authenticated (the pinned operator, the key
//! fingerprint from ExposeAuthInfo, the client address) is passed on, so the
//! audit log records it next to the name the client claims.

use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::exit::{Code, fail};
use crate::pipeline::Role;
use crate::wire::{self, AgentMsg, AttachInfo, ClientMsg};

pub struct AttachArgs {
    pub role: Role,
    pub config: Option<PathBuf>,
    pub operator: Option<String>,
}

pub fn run(args: &AttachArgs) -> anyhow::Result<()> {
    let config = crate::ctl::find_config(args.config.as_deref())?;
    let socket = config.socket_path();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bridge(socket, args.role, seen_as(args.operator.as_deref())))
}

/// How this session was authenticated, as far as sshd tells us.
fn seen_as(operator: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(name) = operator {
        parts.push(format!("operator {name} (pinned)"));
    }
    if let Some(fingerprint) = key_fingerprint() {
        parts.push(format!("key {fingerprint}"));
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
fn key_fingerprint() -> Option<String> {
    if let Ok(fp) = std::env::var("GANTRY_SSH_KEY") {
        return Some(fp);
    }
    let path = std::env::var("SSH_USER_AUTH").ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        if fields.next()? != "publickey" {
            return None;
        }
        let key_type = fields.next()?;
        let key =
            russh::keys::PublicKey::from_openssh(&format!("{key_type} {}", fields.next()?)).ok()?;
        Some(key.fingerprint(russh::keys::HashAlg::Sha256).to_string())
    })
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

//! The agent's unix socket (0660): one task per connection, speaking the
//! wire protocol. Connections only relay: every command goes to the agent's
//! loop as a [`Request`] and its reply comes back on a oneshot, so the
//! pipeline is touched by one task only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::pipeline::Role;
use crate::wire::{self, AgentMsg, ClientMsg, Command, ErrorCode, Reply, Status};

/// A command on its way to the agent loop.
pub struct Request {
    pub command: Command,
    pub role: Role,
    /// How the agent identified the peer (uid), not what it claimed.
    pub seen_as: String,
    pub reply: oneshot::Sender<Reply>,
}

/// What every connection shares.
pub struct Hub {
    pub host: String,
    pub requests: mpsc::Sender<Request>,
    pub events: broadcast::Sender<AgentMsg>,
    pub status: watch::Receiver<Status>,
    pub audit_path: std::path::PathBuf,
}

/// Binds the socket with mode 0660 from its first instant: it is bound in
/// a private (0700) directory, given its mode, then renamed into place, so
/// no umask opens a window in which anyone else may connect.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    const PRIVATE_PREFIX: &str = ".sock-";
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    // Private dirs a crash left behind (the agent holds the state dir's
    // lock, so none is in use).
    for entry in std::fs::read_dir(&dir)?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(PRIVATE_PREFIX)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let private = tempfile::Builder::new()
        .prefix(PRIVATE_PREFIX)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&dir)?;
    let temp = private.path().join("s");
    let listener = UnixListener::bind(&temp)?;
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o660))?;
    // A socket file left at `path` is a dead agent's.
    std::fs::rename(&temp, path)?;
    Ok(listener)
}

pub async fn serve(listener: UnixListener, hub: Arc<Hub>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let seen_as = peer(&stream);
        let hub = hub.clone();
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            session(read, write, hub, Role::Admin, seen_as).await;
        });
    }
}

fn peer(stream: &UnixStream) -> String {
    match stream.peer_cred() {
        Ok(cred) => {
            let uid = cred.uid();
            match user_name(uid) {
                Some(name) => format!("uid {uid} ({name})"),
                None => format!("uid {uid}"),
            }
        }
        Err(_) => "unknown peer".into(),
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// One session: hello, snapshot, then events and replies, until the peer
/// leaves. Generic over the stream so `attach` can reuse it.
pub async fn session<R, W>(
    read: R,
    mut write: W,
    hub: Arc<Hub>,
    mut role: Role,
    mut seen_as: String,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, mut lines) = mpsc::channel::<String>(1024);
    let writer = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            let _ = write.flush().await;
        }
    });
    let mut events = hub.events.subscribe();
    greet(&out, &hub, role).await;

    let forward_out = out.clone();
    let forward = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(msg) => {
                    if forward_out.send(wire::encode(&msg)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });

    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        buf.clear();
        match read_line(&mut reader, &mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(LineError::TooLong) => {
                let reply = Reply::err(
                    "",
                    ErrorCode::BadRequest,
                    format!("line longer than {} bytes; closing", wire::MAX_LINE),
                );
                let _ = out.send(wire::encode(&AgentMsg::Reply(reply))).await;
                break;
            }
            Err(LineError::Io) => break,
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                let reply = Reply::err("", ErrorCode::BadRequest, "line is not valid UTF-8");
                let _ = out.send(wire::encode(&AgentMsg::Reply(reply))).await;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let was_first = std::mem::replace(&mut first, false);
        let command = match serde_json::from_str::<ClientMsg>(text) {
            Ok(ClientMsg::Command(command)) => command,
            Ok(ClientMsg::Attach(info)) if was_first => {
                // attach may only lower the role the socket grants.
                role = role.min(info.role);
                seen_as = format!("{} via {seen_as}", crate::text::inert(&info.seen_as));
                greet(&out, &hub, role).await;
                continue;
            }
            Ok(ClientMsg::Attach(_)) => {
                let reply = Reply::err(
                    "",
                    ErrorCode::BadRequest,
                    "attach must be the first message",
                );
                let _ = out.send(wire::encode(&AgentMsg::Reply(reply))).await;
                continue;
            }
            Err(e) => {
                let id = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
                    .unwrap_or_default();
                let reply = Reply::err(
                    &id,
                    ErrorCode::BadRequest,
                    format!("cannot read message: {e}"),
                );
                let _ = out.send(wire::encode(&AgentMsg::Reply(reply))).await;
                continue;
            }
        };
        let (tx, rx) = oneshot::channel();
        let request = Request {
            command,
            role,
            seen_as: seen_as.clone(),
            reply: tx,
        };
        if hub.requests.send(request).await.is_err() {
            break;
        }
        let out = out.clone();
        // Replies may come late (a drill); the session keeps reading.
        tokio::spawn(async move {
            if let Ok(reply) = rx.await {
                let _ = out.send(wire::encode(&AgentMsg::Reply(reply))).await;
            }
        });
    }
    forward.abort();
    drop(out);
    let _ = writer.await;
}

/// hello (with the session's role), then a snapshot.
async fn greet(out: &mpsc::Sender<String>, hub: &Hub, role: Role) {
    let hello = AgentMsg::Hello {
        protocol: wire::PROTOCOL,
        host: hub.host.clone(),
        role,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let snapshot = AgentMsg::Snapshot {
        status: Box::new(hub.status.borrow().clone()),
        audit: super::audit::tail(&hub.audit_path, 20),
    };
    let _ = out.send(wire::encode(&hello)).await;
    let _ = out.send(wire::encode(&snapshot)).await;
}

enum LineError {
    TooLong,
    Io,
}

/// Reads one line into `buf`, refusing lines over [`wire::MAX_LINE`].
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<usize, LineError> {
    loop {
        let available = reader.fill_buf().await.map_err(|_| LineError::Io)?;
        if available.is_empty() {
            return Ok(buf.len());
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if buf.len() + chunk.len() > wire::MAX_LINE {
            return Err(LineError::TooLong);
        }
        buf.extend_from_slice(chunk);
        let used = chunk.len();
        reader.consume(used);
        if done {
            return Ok(buf.len());
        }
    }
}

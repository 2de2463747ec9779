//! The agent's unix socket (0660): one task per connection, speaking the
//! wire protocol. Connections only relay: every command goes to the agent's
//! loop as a [`Request`] and its reply comes back on a oneshot, so the
//! pipeline is touched by one task only.
//!
//! A client is a stranger, however it connected, so everything it can grow
//! is bounded (docs/protocol.md, "Limits"): sessions in all and per role
//! (with room kept for admins), commands in flight per session, lines and
//! bytes queued for a client (a client that does not read is closed, never
//! buffered without end), a write that does not progress, the line length.
//! `status` is answered from the last published status without the loop,
//! so a storm of it never delays sampling, a rollback or an estop.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::lines::{LineError, read_line};
use crate::pipeline::Role;
use crate::wire::{self, AgentMsg, ClientMsg, Command, ErrorCode, Reply, Status};

/// A command on its way to the agent loop.
pub struct Request {
    pub command: Command,
    pub role: Role,
    /// How the agent identified the peer (uid), not what it claimed.
    pub seen_as: String,
    pub reply: oneshot::Sender<Reply>,
    /// Checked in the session, off the loop.
    pub checked: super::intake::Checked,
    /// This session answered `status` under the command's id: a different
    /// command reusing it is refused (the loop audits it).
    pub id_used_for_status: bool,
}

/// What every connection shares.
pub struct Hub {
    pub host: String,
    pub requests: mpsc::Sender<Request>,
    /// Events, each encoded once for every session.
    pub events: broadcast::Sender<Arc<str>>,
    pub status: watch::Receiver<Status>,
    /// The last hour of PnL, for a session's snapshot (the agent records).
    pub pnl: Arc<std::sync::Mutex<crate::wire::pnl::PnlHistory>>,
    pub audit_path: std::path::PathBuf,
    /// alerts.jsonl, for the ledger (`report`).
    pub alerts_path: std::path::PathBuf,
    /// Where releases are stored, for diffs answered in the session.
    pub releases_dir: std::path::PathBuf,
    /// Keys whose values a diff may show ([releases] public_keys).
    pub public_keys: Arc<Vec<String>>,
    /// The verify command, asked in the session before a restore.
    pub venue_probe: Option<super::venue::VenueProbe>,
    pub sessions: Sessions,
    /// The service's log, read in sessions for `logs`.
    pub logs: Arc<super::logs::LogHub>,
    /// The runbooks the config names, read in sessions for `runbook`.
    pub runbooks: Arc<super::config::runbooks::Runbooks>,
}

/// Sessions open, in all and per role.
#[derive(Default)]
pub struct Sessions {
    total: AtomicUsize,
    by_role: [AtomicUsize; 3],
}

/// Sessions at once, whatever their role.
pub const MAX_SESSIONS: usize = 4096;
/// Of those, kept for admin sessions: a viewer flood never locks out the
/// admin who has to act.
pub const ADMIN_RESERVED: usize = 64;
/// Viewer and operator sessions at once, each.
pub const MAX_PER_ROLE: usize = 512;
/// Lines queued for one client; one that falls this far behind is closed.
pub const MAX_QUEUED: usize = 64;
/// Bytes queued for one client (one longer line may wait alone): a client
/// that asks for large answers and does not read them is closed as soon.
pub const MAX_QUEUED_BYTES: usize = 1 << 20;
/// Commands of one session waiting for their reply.
pub const MAX_IN_FLIGHT: usize = 16;
/// A write to a client that makes no progress for this long closes it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

fn role_index(role: Role) -> usize {
    match role {
        Role::Viewer => 0,
        Role::Operator => 1,
        Role::Admin => 2,
    }
}

/// A session's place, given back when it ends.
struct Seat {
    hub: Arc<Hub>,
    role: Option<Role>,
}

impl Seat {
    /// A connection before its role is known: counts toward the total.
    fn take(hub: &Arc<Hub>) -> Option<Seat> {
        let total = hub.sessions.total.fetch_add(1, Ordering::SeqCst) + 1;
        let seat = Seat {
            hub: hub.clone(),
            role: None,
        };
        (total <= MAX_SESSIONS).then_some(seat)
    }

    /// Once the role is known: per-role caps, and the admin reserve.
    fn settle(&mut self, role: Role) -> Result<(), String> {
        let sessions = &self.hub.sessions;
        let count = sessions.by_role[role_index(role)].fetch_add(1, Ordering::SeqCst) + 1;
        self.role = Some(role);
        if role == Role::Admin {
            return Ok(());
        }
        let others =
            sessions.by_role[0].load(Ordering::SeqCst) + sessions.by_role[1].load(Ordering::SeqCst);
        if count > MAX_PER_ROLE {
            return Err(format!(
                "too many {role} sessions (at most {MAX_PER_ROLE}); try later"
            ));
        }
        if others > MAX_SESSIONS - ADMIN_RESERVED {
            return Err(format!(
                "too many sessions ({} kept for admins of {MAX_SESSIONS}); try later",
                ADMIN_RESERVED
            ));
        }
        Ok(())
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let sessions = &self.hub.sessions;
        sessions.total.fetch_sub(1, Ordering::SeqCst);
        if let Some(role) = self.role {
            sessions.by_role[role_index(role)].fetch_sub(1, Ordering::SeqCst);
        }
    }
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
        let (mut stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors: wait for sessions to end rather than
                // spin; the agent's own work goes on meanwhile.
                eprintln!("gantry agent: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(seat) = Seat::take(&hub) else {
            let reply = Reply::err(
                "",
                ErrorCode::Refused,
                format!("too many sessions (at most {MAX_SESSIONS}); try later"),
            );
            let line = wire::encode(&AgentMsg::Reply(reply));
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_millis(200),
                    stream.write_all(line.as_bytes()),
                )
                .await;
            });
            continue;
        };
        let seen_as = peer(&stream);
        let hub = hub.clone();
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            session(read, write, hub, Role::Admin, seen_as, seat).await;
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

/// A session's outgoing lines, bounded by [`MAX_QUEUED`] lines and
/// [`MAX_QUEUED_BYTES`]. A push past either closes the session: a client
/// that does not read is dropped, never buffered for.
#[derive(Clone)]
struct Outbox {
    lines: mpsc::Sender<Arc<str>>,
    bytes: Arc<AtomicUsize>,
    closed: watch::Sender<bool>,
}

impl Outbox {
    /// Whether `len` more bytes would leave the client at most half its
    /// allowance behind: what a stream that may drop lines (a log
    /// follow) asks before it sends, so it never closes the session.
    fn has_room_for(&self, len: usize) -> bool {
        self.lines.capacity() > MAX_QUEUED / 2
            && self.bytes.load(Ordering::SeqCst) + len <= MAX_QUEUED_BYTES / 2
    }

    /// The session is closing (the client left or fell behind).
    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Queues a line; false (and the session closing) if the client has
    /// fallen too far behind, or left.
    fn push(&self, line: impl Into<Arc<str>>) -> bool {
        let line = line.into();
        let len = line.len();
        let before = self.bytes.fetch_add(len, Ordering::SeqCst);
        let too_many_bytes = before > 0 && before + len > MAX_QUEUED_BYTES;
        if too_many_bytes || self.lines.try_send(line).is_err() {
            self.bytes.fetch_sub(len, Ordering::SeqCst);
            if !*self.closed.borrow() {
                eprintln!(
                    "gantry agent: closing a session that fell behind ({MAX_QUEUED} lines or {MAX_QUEUED_BYTES} bytes unread)"
                );
            }
            let _ = self.closed.send(true);
            return false;
        }
        true
    }
}

impl super::logs::LogSink for Outbox {
    fn push(&self, line: String) -> bool {
        Outbox::push(self, line)
    }
    fn has_room_for(&self, len: usize) -> bool {
        Outbox::has_room_for(self, len)
    }
    fn is_closed(&self) -> bool {
        Outbox::is_closed(self)
    }
}

/// One session: hello, snapshot, then events and replies, until the peer
/// leaves, falls too far behind, or a limit is reached.
async fn session<R, W>(
    read: R,
    mut write: W,
    hub: Arc<Hub>,
    mut role: Role,
    mut seen_as: String,
    mut seat: Seat,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (lines_tx, mut lines) = mpsc::channel::<Arc<str>>(MAX_QUEUED);
    // Closed when the client is dropped: ends the reader below.
    let (closed_tx, mut closed) = watch::channel(false);
    let out = Outbox {
        lines: lines_tx,
        bytes: Arc::new(AtomicUsize::new(0)),
        closed: closed_tx,
    };
    // Not a clone of `out`: the writer ends when every sender is gone.
    let (queued, writer_closed) = (out.bytes.clone(), out.closed.clone());
    let writer = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            let wrote = tokio::time::timeout(WRITE_TIMEOUT, async {
                write.write_all(line.as_bytes()).await?;
                write.flush().await
            })
            .await;
            queued.fetch_sub(line.len(), Ordering::SeqCst);
            if !matches!(wrote, Ok(Ok(()))) {
                break;
            }
        }
        let _ = writer_closed.send(true);
    });
    let mut events = hub.events.subscribe();
    greet(&out, &hub, role);

    let forward_out = out.clone();
    let forward = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(line) => {
                    if !forward_out.push(line) {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        let _ = forward_out.closed.send(true);
    });

    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    // Ids this session answered `status` under (bounded): answered here,
    // they never reach the loop's reply memory.
    let mut status_ids: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    // Bumped by each `logs` and at the end: a follow streams only while
    // it is the session's latest (one per session), and stops with it.
    let follows = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    let mut first = true;
    let mut settled = false;
    loop {
        buf.clear();
        let read = tokio::select! {
            read = read_line(&mut reader, &mut buf, wire::MAX_LINE) => read,
            _ = closed.wait_for(|c| *c) => break,
        };
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(LineError::TooLong) => {
                let reply = Reply::err(
                    "",
                    ErrorCode::BadRequest,
                    format!("line longer than {} bytes; closing", wire::MAX_LINE),
                );
                out.push(wire::encode(&AgentMsg::Reply(reply)));
                break;
            }
            Err(LineError::Io) => break,
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                let reply = Reply::err("", ErrorCode::BadRequest, "line is not valid UTF-8");
                if !out.push(wire::encode(&AgentMsg::Reply(reply))) {
                    break;
                }
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let was_first = std::mem::replace(&mut first, false);
        let message = serde_json::from_str::<ClientMsg>(text);
        if let Ok(ClientMsg::Attach(info)) = &message
            && was_first
        {
            // attach may only lower the role the socket grants.
            role = role.min(info.role);
            seen_as = format!("{} via {seen_as}", crate::text::inert(&info.seen_as));
        }
        if !settled {
            settled = true;
            if let Err(why) = seat.settle(role) {
                let reply = Reply::err("", ErrorCode::Refused, why);
                out.push(wire::encode(&AgentMsg::Reply(reply)));
                break;
            }
            if matches!(message, Ok(ClientMsg::Attach(_))) {
                greet(&out, &hub, role);
                continue;
            }
        }
        let command = match message {
            Ok(ClientMsg::Command(command)) => command,
            Ok(ClientMsg::Attach(_)) => {
                let reply = Reply::err(
                    "",
                    ErrorCode::BadRequest,
                    "attach must be the first message",
                );
                if !out.push(wire::encode(&AgentMsg::Reply(reply))) {
                    break;
                }
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
                if !out.push(wire::encode(&AgentMsg::Reply(reply))) {
                    break;
                }
                continue;
            }
        };
        if command.request == wire::Request::Status {
            // The last published status: no trip through the agent's loop.
            if !command.id.is_empty() && !status_ids.contains(&command.id) {
                if status_ids.len() >= 1024 {
                    status_ids.pop_front();
                }
                status_ids.push_back(command.id.clone());
            }
            let status = hub.status.borrow().clone();
            let reply = Reply::ok(&command.id, serde_json::to_value(status).ok());
            if !out.push(wire::encode(&AgentMsg::Reply(reply))) {
                break;
            }
            continue;
        }
        let id_used_for_status = !command.id.is_empty() && status_ids.contains(&command.id);
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            let reply = Reply::err(
                &command.id,
                ErrorCode::Refused,
                format!(
                    "{MAX_IN_FLIGHT} commands of this session are waiting for replies; wait for them"
                ),
            );
            if !out.push(wire::encode(&AgentMsg::Reply(reply))) {
                break;
            }
            continue;
        };
        match &command.request {
            wire::Request::AuditTail { n } if !id_used_for_status => {
                let (path, n) = (hub.audit_path.clone(), (*n).min(10_000));
                answer_from_files(&out, &command.id, permit, move |id| {
                    Reply::ok(id, serde_json::to_value(super::audit::tail(&path, n)).ok())
                });
                continue;
            }
            wire::Request::Report { since_s } if !id_used_for_status => {
                let (host, since_s) = (hub.host.clone(), *since_s);
                let (audit, alerts) = (hub.audit_path.clone(), hub.alerts_path.clone());
                answer_from_files(&out, &command.id, permit, move |id| {
                    let report = super::ledger::read(&host, &audit, &alerts, since_s);
                    Reply::ok(id, serde_json::to_value(report).ok())
                });
                continue;
            }
            wire::Request::ReleaseDiff { release, against } if !id_used_for_status => {
                let (release, against) = (release.clone(), against.clone());
                let (dir, public) = (hub.releases_dir.clone(), hub.public_keys.clone());
                answer_from_files(&out, &command.id, permit, move |id| {
                    match super::store::release_diff(&dir, &public, &release, against.as_deref()) {
                        Ok(lines) => Reply::ok(id, serde_json::to_value(lines).ok()),
                        Err(e) => Reply::err(id, ErrorCode::Failed, e),
                    }
                });
                continue;
            }
            wire::Request::Runbook { name } if !id_used_for_status => {
                let (runbooks, name) = (hub.runbooks.clone(), name.clone());
                answer_from_files(&out, &command.id, permit, move |id| {
                    super::config::runbooks::answer(&runbooks, &name, id)
                });
                continue;
            }
            wire::Request::Logs { n, follow } if !id_used_for_status => {
                let asked = super::logs::Asked {
                    id: command.id.clone(),
                    n: *n,
                    follow: *follow,
                    role,
                };
                super::logs::answer(&out, &hub.logs, asked, &follows, permit);
                continue;
            }
            _ => {}
        }
        let (command, checked) =
            super::intake::check(command, role, hub.venue_probe.as_ref()).await;
        let (tx, rx) = oneshot::channel();
        let request = Request {
            command,
            role,
            seen_as: seen_as.clone(),
            reply: tx,
            checked,
            id_used_for_status,
        };
        if hub.requests.send(request).await.is_err() {
            break;
        }
        let out = out.clone();
        // Replies may come late (a drill); the session keeps reading.
        tokio::spawn(async move {
            if let Ok(reply) = rx.await {
                out.push(wire::encode(&AgentMsg::Reply(reply)));
            }
            drop(permit);
        });
    }
    forward.abort();
    follows.fetch_add(1, Ordering::SeqCst);
    drop(out);
    let _ = writer.await;
}

/// Answers a read-only command from the files on a blocking thread: the
/// loop never sees it, and this session goes on reading meanwhile.
fn answer_from_files(
    out: &Outbox,
    id: &str,
    permit: tokio::sync::OwnedSemaphorePermit,
    read: impl FnOnce(&str) -> Reply + Send + 'static,
) {
    let (out, id) = (out.clone(), id.to_string());
    tokio::spawn(async move {
        let asked = id.clone();
        let reply = tokio::task::spawn_blocking(move || read(&asked))
            .await
            .unwrap_or_else(|e| Reply::err(&id, ErrorCode::Internal, e.to_string()));
        out.push(wire::encode(&AgentMsg::Reply(reply)));
        drop(permit);
    });
}

/// hello (with the session's role), then a snapshot.
fn greet(out: &Outbox, hub: &Hub, role: Role) {
    let hello = AgentMsg::Hello {
        protocol: wire::PROTOCOL,
        host: hub.host.clone(),
        role,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let snapshot = AgentMsg::Snapshot {
        status: Box::new(hub.status.borrow().clone()),
        audit: super::audit::tail(&hub.audit_path, 20),
        // A poisoned lock only means a panic elsewhere; the ring is whole.
        pnl: hub
            .pnl
            .lock()
            .map_or_else(|e| e.into_inner().points(), |r| r.points()),
    };
    out.push(wire::encode(&hello));
    out.push(wire::encode(&snapshot));
}

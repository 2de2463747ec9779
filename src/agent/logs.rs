//! `logs`, answered in the session that asked, never on the agent's loop:
//! the service's last lines, then (with `follow`) a task of the session's
//! own that sends new lines every `wire::logs::FOLLOW_EVERY` as `log`
//! messages.
//!
//! A follow never makes anyone wait: it reads the log on its own, and a
//! client that reads slowly gets lines dropped (counted in `skipped`)
//! rather than a fuller queue, so its session stays open and the loop
//! (sampling, a rollback, an estop) never notices it. Follows are bounded
//! in number ([`MAX_FOLLOWERS`]), lines a batch ([`MAX_BATCH`]) and bytes
//! a batch ([`MAX_BATCH_BYTES`]); lines waiting ([`MAX_PENDING`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

use super::service::LogSource;
use crate::pipeline::Role;
use crate::wire::logs::{
    FOLLOW_EVERY, LogTail, MAX_BATCH, MAX_LINES, MAX_TAIL_BYTES, bounded_line,
};
use crate::wire::{self, AgentMsg, ErrorCode, Reply};

/// Follows at once on this agent, over every session: each reads the log
/// (a journal follow runs journalctl every quarter second).
pub const MAX_FOLLOWERS: usize = 16;
/// Bytes of lines in one `log` message.
pub const MAX_BATCH_BYTES: usize = 256 << 10;
/// Lines read but not yet sent; older ones are dropped past it.
pub const MAX_PENDING: usize = 4 * MAX_BATCH;

/// What sessions share to answer `logs`.
pub struct LogHub {
    pub source: LogSource,
    /// The smoke config's startup phases and forbidden lines (patterns).
    pub phases: Vec<String>,
    pub forbidden: Vec<String>,
    pub followers: Arc<AtomicUsize>,
}

/// Where a session's lines go (its outbox, socket.rs).
pub trait LogSink: Clone + Send + Sync + 'static {
    /// Queues a line; false when the session is closing.
    fn push(&self, line: String) -> bool;
    /// Whether `len` more bytes keep the client well within its allowance.
    fn has_room_for(&self, len: usize) -> bool;
    fn is_closed(&self) -> bool;
}

/// A follow's place among [`MAX_FOLLOWERS`], given back when it ends.
struct FollowSeat(Arc<AtomicUsize>);

impl FollowSeat {
    fn take(count: &Arc<AtomicUsize>) -> Option<Self> {
        let seat = FollowSeat(count.clone());
        (count.fetch_add(1, Ordering::SeqCst) < MAX_FOLLOWERS).then_some(seat)
    }
}

impl Drop for FollowSeat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers `logs` off the loop; the follow's task, if one runs.
pub(super) fn answer(
    out: &impl LogSink,
    hub: &Arc<LogHub>,
    role: Role,
    id: &str,
    n: usize,
    follow: bool,
    permit: OwnedSemaphorePermit,
) -> Option<JoinHandle<()>> {
    let refuse = |code, why: String| {
        out.push(wire::encode(&AgentMsg::Reply(Reply::err(id, code, why))));
        None
    };
    // A service may print secrets: its log file is the agent's user's only.
    if role < Role::Operator {
        return refuse(
            ErrorCode::Forbidden,
            format!("role {role} may not read the service's log (needs operator)"),
        );
    }
    let seat = if follow {
        match FollowSeat::take(&hub.followers) {
            Some(seat) => Some(seat),
            None => {
                return refuse(
                    ErrorCode::Refused,
                    format!("{MAX_FOLLOWERS} log follows are open on this agent; try later"),
                );
            }
        }
    } else {
        None
    };
    let (out, hub, id) = (out.clone(), hub.clone(), id.to_string());
    Some(tokio::spawn(async move {
        let tail = hub.source.tail(n.min(MAX_LINES), follow).await;
        let (lines, follower) = match tail {
            Ok(tail) => tail,
            Err(why) => {
                let why = format!("cannot read {}: {why}", hub.source.describe());
                out.push(wire::encode(&AgentMsg::Reply(Reply::err(
                    &id,
                    ErrorCode::Failed,
                    why,
                ))));
                return;
            }
        };
        let mut lines: VecDeque<String> = lines.iter().map(|l| bounded_line(l)).collect();
        let mut bytes: usize = lines.iter().map(|l| l.len() + 3).sum();
        while bytes > MAX_TAIL_BYTES
            && let Some(oldest) = lines.pop_front()
        {
            bytes -= oldest.len() + 3;
        }
        let answer = LogTail {
            source: hub.source.describe(),
            lines: lines.into(),
            following: follower.is_some(),
            phases: hub.phases.clone(),
            forbidden: hub.forbidden.clone(),
        };
        out.push(wire::encode(&AgentMsg::Reply(Reply::ok(
            &id,
            serde_json::to_value(answer).ok(),
        ))));
        drop(permit);
        if let Some(follower) = follower {
            stream(&out, &id, follower).await;
        }
        drop(seat);
    }))
}

/// Sends new lines until the session closes.
async fn stream(out: &impl LogSink, id: &str, mut follower: super::service::Follow) {
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut skipped: u64 = 0;
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        if out.is_closed() {
            return;
        }
        pending.extend(follower.fresh().await.iter().map(|l| bounded_line(l)));
        while pending.len() > MAX_PENDING {
            pending.pop_front();
            skipped += 1;
        }
        if pending.is_empty() && skipped == 0 {
            continue;
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(line) = pending.front()
            && batch.len() < MAX_BATCH
            && (batch.is_empty() || bytes + line.len() <= MAX_BATCH_BYTES)
        {
            bytes += line.len() + 3;
            batch.extend(pending.pop_front());
        }
        if !out.has_room_for(bytes) {
            // Behind: these lines are dropped and said to be.
            skipped += batch.len() as u64;
            continue;
        }
        let msg = AgentMsg::Log {
            id: id.to_string(),
            lines: batch,
            skipped: std::mem::take(&mut skipped),
        };
        if !out.push(wire::encode(&msg)) {
            return;
        }
    }
}

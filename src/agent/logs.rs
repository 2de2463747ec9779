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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::OwnedSemaphorePermit;

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

/// A `logs` request, as its session saw it.
pub(super) struct Asked {
    pub id: String,
    pub n: usize,
    pub follow: bool,
    pub role: Role,
}

/// Answers `logs` off the loop, in a task of its own: the tail, always
/// (a later `logs` never swallows an earlier one's reply), then the
/// follow while this request is the session's latest in `follows`.
pub(super) fn answer(
    out: &impl LogSink,
    hub: &Arc<LogHub>,
    asked: Asked,
    follows: &Arc<AtomicU64>,
    permit: OwnedSemaphorePermit,
) {
    let Asked {
        id,
        n,
        follow,
        role,
    } = asked;
    // Taken now, in the session's order: this ends any follow before.
    let mine = follows.fetch_add(1, Ordering::SeqCst) + 1;
    let refuse = |code, why: String| {
        out.push(wire::encode(&AgentMsg::Reply(Reply::err(&id, code, why))));
    };
    // A service may print secrets: its log file is the agent's user's only.
    if role < Role::Operator {
        refuse(
            ErrorCode::Forbidden,
            format!("role {role} may not read the service's log (needs operator)"),
        );
        return;
    }
    let seat = if follow {
        match FollowSeat::take(&hub.followers) {
            Some(seat) => Some(seat),
            None => {
                refuse(
                    ErrorCode::Refused,
                    format!("{MAX_FOLLOWERS} log follows are open on this agent; try later"),
                );
                return;
            }
        }
    } else {
        None
    };
    let (out, hub, follows) = (out.clone(), hub.clone(), follows.clone());
    tokio::spawn(async move {
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
            let current = || follows.load(Ordering::SeqCst) == mine;
            stream(&out, &id, follower, current).await;
        }
        drop(seat);
    });
}

/// Sends new lines until the session closes or asks `logs` again.
async fn stream(
    out: &impl LogSink,
    id: &str,
    mut follower: super::service::Follow,
    current: impl Fn() -> bool,
) {
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut skipped: u64 = 0;
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        if out.is_closed() || !current() {
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

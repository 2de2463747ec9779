//! A long-lived link to one host: connect over SSH, attach, stream the
//! agent's messages, measure the round trip, and reconnect with capped
//! exponential backoff and jitter when the link drops. The control room runs
//! one per host; each sends [`LinkEvent`]s into one channel and stops when
//! that channel closes.
//!
//! The agent's once-a-second `heartbeat` is not an event: the reader notes
//! when it last heard anything in [`LinkHandle::heard_ms`] and drops the
//! beat there, so that twenty idle hosts cost the control room twenty
//! timestamps a second, not twenty trips through its channels.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::client::Session;
use super::target::Target;
use crate::wire::Role;
use crate::wire::{AgentMsg, Reply, Request};

/// First retry delay; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A link that stayed up this long starts over from the first delay.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How often the round trip is measured.
const PING_EVERY: Duration = Duration::from_secs(5);

/// What a link reports, tagged with the host's index by the caller's
/// channel.
#[derive(Debug)]
pub enum LinkEvent {
    Connecting {
        attempt: u32,
    },
    /// Connected; `role` is what the agent grants this session (its
    /// `hello`): the most the person at the control room may do there.
    Up {
        role: Role,
    },
    Rtt(Duration),
    Message(AgentMsg),
    /// The link is down; the next attempt is in `retry_in`.
    Down {
        error: String,
        retry_in: Duration,
    },
}

/// A command for the host, answered on `reply`.
pub struct Ask {
    pub request: Request,
    pub reason: Option<String>,
    pub operator: Option<String>,
    pub reply: oneshot::Sender<Result<Reply, String>>,
}

/// The sending side of a link.
#[derive(Clone)]
pub struct LinkHandle {
    asks: mpsc::Sender<Ask>,
    heard: Arc<AtomicI64>,
}

impl LinkHandle {
    /// When anything last arrived from the agent (a heartbeat included),
    /// in Unix milliseconds; 0 before the first message.
    pub fn heard_ms(&self) -> i64 {
        self.heard.load(Ordering::Relaxed)
    }

    /// Sends a command and waits for its reply (an error if the link is
    /// down: a command is never queued for later).
    pub async fn ask(
        &self,
        request: Request,
        reason: Option<String>,
        operator: Option<String>,
    ) -> Result<Reply, String> {
        let (tx, rx) = oneshot::channel();
        self.asks
            .send(Ask {
                request,
                reason,
                operator,
                reply: tx,
            })
            .await
            .map_err(|_| "the link has stopped".to_string())?;
        rx.await
            .map_err(|_| "the link dropped before the reply".to_string())?
    }
}

/// Capped exponential backoff with ±20 % jitter, so a fleet that lost its
/// network does not reconnect in lockstep.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = FIRST_BACKOFF.as_secs_f64() * 2f64.powi(attempt.min(16) as i32);
    let capped = base.min(MAX_BACKOFF.as_secs_f64());
    let factor = 1.0 + 0.2 * (jitter.clamp(0.0, 1.0) * 2.0 - 1.0);
    Duration::from_secs_f64(capped * factor)
}

/// Starts the link task for `target`; `index` tags its events.
pub fn spawn(target: Target, index: usize, events: mpsc::Sender<(usize, LinkEvent)>) -> LinkHandle {
    let (asks_tx, asks) = mpsc::channel(16);
    let heard = Arc::new(AtomicI64::new(0));
    tokio::spawn(run(target, index, events, asks, heard.clone()));
    LinkHandle {
        asks: asks_tx,
        heard,
    }
}

async fn run(
    target: Target,
    index: usize,
    events: mpsc::Sender<(usize, LinkEvent)>,
    mut asks: mpsc::Receiver<Ask>,
    heard: Arc<AtomicI64>,
) {
    let mut attempt: u32 = 0;
    loop {
        if events
            .send((index, LinkEvent::Connecting { attempt }))
            .await
            .is_err()
        {
            return;
        }
        let started = Instant::now();
        let error = match session(&target, index, &events, &mut asks, &heard).await {
            Ok(()) => return, // the receiver went away
            Err(e) => e,
        };
        if started.elapsed() >= STABLE_AFTER {
            attempt = 0;
        }
        let retry_in = backoff(attempt, rand::random::<f64>());
        attempt = attempt.saturating_add(1);
        if events
            .send((index, LinkEvent::Down { error, retry_in }))
            .await
            .is_err()
        {
            return;
        }
        // Commands that arrive while down are refused, not queued.
        let deadline = tokio::time::Instant::now() + retry_in;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                ask = asks.recv() => match ask {
                    Some(ask) => { let _ = ask.reply.send(Err("the link is down; not sent".into())); }
                    None => return,
                },
            }
        }
    }
}

/// One connected session; returns Ok when the caller went away, Err(why)
/// when the link dropped.
async fn session(
    target: &Target,
    index: usize,
    events: &mpsc::Sender<(usize, LinkEvent)>,
    asks: &mut mpsc::Receiver<Ask>,
    heard: &Arc<AtomicI64>,
) -> Result<(), String> {
    // The control room keeps one session per host, but opens at most
    // MAX_PARALLEL_SSH at a time, so a large fleet's start (or a fleet-wide
    // reconnect) is a queue, not a burst of thousands of handshakes.
    static OPENING: tokio::sync::Semaphore =
        tokio::sync::Semaphore::const_new(super::MAX_PARALLEL_SSH);
    let (ssh, client) = {
        let _permit = OPENING.acquire().await;
        Session::open(target).await.map_err(|e| format!("{e:#}"))?
    };
    let role = client.role;
    let snapshot = client.snapshot.clone();
    let tail = client.audit_tail.clone();
    let pnl = client.pnl.clone();
    let (mut reader, mut writer) = client.split();
    if events.send((index, LinkEvent::Up { role })).await.is_err() {
        return Ok(());
    }
    if let Some(status) = snapshot {
        let msg = AgentMsg::Snapshot {
            status: Box::new(status),
            audit: tail,
            pnl,
        };
        if events.send((index, LinkEvent::Message(msg))).await.is_err() {
            return Ok(());
        }
    }
    // Reading a line is not cancel-safe, so the reader lives in its own task.
    let (lines_tx, mut lines) = mpsc::channel::<AgentMsg>(256);
    let heard = heard.clone();
    heard.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    let read_task = tokio::spawn(async move {
        while let Some(msg) = reader.next_message().await {
            heard.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
            if matches!(msg, AgentMsg::Heartbeat { .. }) {
                continue;
            }
            if lines_tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut pending: Vec<(String, oneshot::Sender<Result<Reply, String>>)> = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    let outcome = loop {
        tokio::select! {
            msg = lines.recv() => match msg {
                None => break Err("the connection closed".to_string()),
                Some(AgentMsg::Reply(reply)) => {
                    if let Some(at) = pending.iter().position(|(id, _)| *id == reply.id) {
                        let (_, tx) = pending.swap_remove(at);
                        let _ = tx.send(Ok(reply));
                    }
                }
                Some(other) => {
                    if events.send((index, LinkEvent::Message(other))).await.is_err() {
                        break Ok(());
                    }
                }
            },
            ask = asks.recv() => match ask {
                None => break Ok(()),
                Some(ask) => match writer.send(ask.request, ask.reason, ask.operator.as_deref()).await {
                    Ok(id) => pending.push((id, ask.reply)),
                    Err(e) => {
                        let _ = ask.reply.send(Err(format!("not sent: {e}")));
                        break Err(format!("write failed: {e}"));
                    }
                },
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_EVERY, ssh.round_trip()).await {
                    Ok(Some(rtt)) => {
                        if events.send((index, LinkEvent::Rtt(rtt))).await.is_err() {
                            break Ok(());
                        }
                    }
                    _ => break Err("no answer to keepalive".to_string()),
                }
            }
        }
    };
    read_task.abort();
    for (_, tx) in pending {
        let _ = tx.send(Err("the link dropped before the reply".into()));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        assert_eq!(backoff(0, 0.5), FIRST_BACKOFF);
        assert_eq!(backoff(1, 0.5), FIRST_BACKOFF * 2);
        assert_eq!(backoff(20, 0.5), MAX_BACKOFF);
        assert!(backoff(3, 0.0) < backoff(3, 0.5) && backoff(3, 0.5) < backoff(3, 1.0));
        assert!(backoff(20, 1.0) <= MAX_BACKOFF.mul_f64(1.2));
    }
}

//! Replies: the commands waiting for an outcome (a deploy, a rollback, a
//! drill, a smoke, an emergency stop's proof of flat), and the first reply
//! to each command id, so a resent id gets that reply again and never
//! runs twice.

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

use crate::pipeline::Pending;
use crate::wire::Reply;

/// Replies remembered for resent command ids.
const REPLY_MEMORY: usize = 1024;

/// What a reply waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Awaited {
    /// An outcome the pipeline settles.
    Outcome(Pending),
}

/// A command waiting for its reply: the client's id, the key its reply is
/// remembered under (peer, role, id), and where to send it.
pub(super) struct Waiter {
    pub(super) key: String,
    pub(super) id: String,
    /// What the command asked (op, arguments, operator, reason): a resent
    /// id must ask the same to get the first reply.
    pub(super) asked: String,
    pub(super) reply: oneshot::Sender<Reply>,
}

/// What an earlier command under the same key asked, and its reply if it
/// has one yet.
pub(super) struct Earlier {
    pub(super) asked: String,
    pub(super) reply: Option<Reply>,
}

#[derive(Default)]
pub(super) struct Replies {
    waiting: Vec<(Awaited, Waiter)>,
    /// First replies by key, with what the command asked.
    first: HashMap<String, (String, Reply)>,
    order: VecDeque<String>,
}

impl Replies {
    /// The command that used `key` before, answered or still waiting.
    pub(super) fn earlier(&self, key: &str, id: &str) -> Option<Earlier> {
        if let Some((asked, reply)) = self.first.get(key) {
            return Some(Earlier {
                asked: asked.clone(),
                reply: Some(reply.clone()),
            });
        }
        if id.is_empty() {
            return None;
        }
        self.waiting
            .iter()
            .find(|(_, w)| w.key == key)
            .map(|(_, w)| Earlier {
                asked: w.asked.clone(),
                reply: None,
            })
    }

    pub(super) fn wait(&mut self, awaited: Awaited, waiter: Waiter) {
        self.waiting.push((awaited, waiter));
    }

    /// Takes every waiter for `awaited`.
    pub(super) fn take(&mut self, awaited: &Awaited) -> Vec<Waiter> {
        let (settled, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(a, _)| a == awaited);
        self.waiting = kept;
        settled.into_iter().map(|(_, w)| w).collect()
    }

    /// Sends a reply and remembers it for a resent id.
    pub(super) fn answer(&mut self, waiter: Waiter, reply: Reply) {
        if !waiter.id.is_empty() {
            self.first
                .insert(waiter.key.clone(), (waiter.asked, reply.clone()));
            self.order.push_back(waiter.key);
            while self.order.len() > REPLY_MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.first.remove(&old);
                }
            }
        }
        let _ = waiter.reply.send(reply);
    }
}

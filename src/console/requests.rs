//! Requests the control room sent and what became of them, per host: when
//! each was sent, its deadline, its answer and how late that was. A dialog
//! only points at a request by its ticket, so Esc can leave the dialog
//! while the request goes on; the answer still lands here, in the audit
//! and as a notice. Nothing here waits: the shell sends, `update` files
//! the answer.
//!
//! A request past its deadline is not called failed: a command may sit in
//! a frozen agent's socket and run when it wakes. It reads "no answer
//! within Ns — unknown whether it ran", and a reply that comes after says
//! how late it is.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::wire::Reply;

/// Requests that only read, left out of what the host pane shows.
pub const READS: [&str; 2] = ["logs", "runbook"];

/// Requests kept once answered (the newest), for the host pane.
pub const ANSWERED_KEPT: usize = 64;

#[derive(Debug, Clone)]
pub struct Asked {
    pub ticket: u64,
    pub host: usize,
    /// What was asked, as the audit names it: `rollback`, `estop`, ….
    pub op: &'static str,
    /// The control room's clock when it was handed to the link.
    pub sent_at: DateTime<Utc>,
    pub deadline: Duration,
    pub answer: Option<Answer>,
    /// A notice already said it passed its deadline.
    pub told_overdue: bool,
}

#[derive(Debug, Clone)]
pub struct Answer {
    /// The agent's reply, or why there is none (the link dropped).
    pub reply: Result<Reply, String>,
    /// From sending to the answer.
    pub took: Duration,
}

/// Where a request stands as of `now`.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Sent, within its deadline: how long ago.
    Waiting(Duration),
    /// Past its deadline with no answer: how long ago it was sent.
    Overdue(Duration),
    /// Answered in time.
    Answered,
    /// Answered after its deadline, by this much.
    Late(Duration),
}

impl Asked {
    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        match &self.answer {
            Some(a) if a.took > self.deadline => Standing::Late(a.took - self.deadline),
            Some(_) => Standing::Answered,
            None => {
                let since = (now - self.sent_at).to_std().unwrap_or_default();
                if since > self.deadline {
                    Standing::Overdue(since)
                } else {
                    Standing::Waiting(since)
                }
            }
        }
    }

    /// `✓ done`, `✗ refused (code): why`, `✗ link: why`: the answer in a
    /// few words, for a notice.
    pub fn verdict(&self) -> Option<String> {
        let answer = self.answer.as_ref()?;
        Some(match &answer.reply {
            Ok(reply) if reply.ok => {
                let message = reply.message().unwrap_or("done");
                format!("✓ {message}")
            }
            Ok(reply) => format!(
                "✗ {}: {}",
                reply
                    .code
                    .map(|c| format!("{c:?}").to_lowercase())
                    .unwrap_or_else(|| "refused".into()),
                reply.error.as_deref().unwrap_or("")
            ),
            Err(e) => format!("✗ no reply: {e}"),
        })
    }
}

/// Every request of this control room, by ticket.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    next: u64,
    pub all: VecDeque<Asked>,
}

impl Requests {
    /// Files a request about to be sent; its ticket.
    pub fn open(
        &mut self,
        host: usize,
        op: &'static str,
        deadline: Duration,
        now: DateTime<Utc>,
    ) -> u64 {
        self.next += 1;
        self.all.push_back(Asked {
            ticket: self.next,
            host,
            op,
            sent_at: now,
            deadline,
            answer: None,
            told_overdue: false,
        });
        self.next
    }

    /// Drops the oldest answered requests past [`ANSWERED_KEPT`];
    /// unanswered ones are never dropped: each still owes a notice.
    /// `keep` (just answered) is never the one dropped.
    fn trim(&mut self, keep: u64) {
        let mut answered = self.all.iter().filter(|a| a.answer.is_some()).count();
        while answered > ANSWERED_KEPT {
            let old = |a: &Asked| a.answer.is_some() && a.ticket != keep;
            if let Some(at) = self.all.iter().position(old) {
                self.all.remove(at);
            }
            answered -= 1;
        }
    }

    /// Files an answer; the request it answers, if it is known and was
    /// not answered yet.
    pub fn answer(
        &mut self,
        ticket: u64,
        reply: Result<Reply, String>,
        took: Duration,
    ) -> Option<&Asked> {
        let asked = self.all.iter_mut().find(|a| a.ticket == ticket)?;
        if asked.answer.is_some() {
            return None;
        }
        asked.answer = Some(Answer { reply, took });
        self.trim(ticket);
        self.get(ticket)
    }

    pub fn get(&self, ticket: u64) -> Option<&Asked> {
        self.all.iter().find(|a| a.ticket == ticket)
    }

    /// Requests that passed their deadline unanswered since the last call,
    /// each returned once: the control room tells of each.
    pub fn newly_overdue(&mut self, now: DateTime<Utc>) -> Vec<Asked> {
        let mut due = Vec::new();
        for asked in &mut self.all {
            if !asked.told_overdue && matches!(asked.standing(now), Standing::Overdue(_)) {
                asked.told_overdue = true;
                due.push(asked.clone());
            }
        }
        due
    }

    /// A host's requests still without an answer, oldest first.
    pub fn unanswered(&self, host: usize) -> impl Iterator<Item = &Asked> {
        self.all
            .iter()
            .filter(move |a| a.host == host && a.answer.is_none())
    }

    /// The host's newest request that acts, answered or not (reading the
    /// log never hides where a rollback stands).
    pub fn last(&self, host: usize) -> Option<&Asked> {
        self.all
            .iter()
            .rev()
            .find(|a| a.host == host && !READS.contains(&a.op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn a_request_waits_then_is_overdue_then_answered_late() {
        let mut requests = Requests::default();
        let ticket = requests.open(2, "rollback", Duration::from_secs(60), t(0));
        let asked = requests.get(ticket).unwrap();
        assert_eq!(
            asked.standing(t(5)),
            Standing::Waiting(Duration::from_secs(5))
        );
        assert_eq!(
            asked.standing(t(61)),
            Standing::Overdue(Duration::from_secs(61))
        );
        let reply = Reply::ok("c-1", None);
        let asked = requests
            .answer(ticket, Ok(reply.clone()), Duration::from_secs(86))
            .unwrap();
        assert_eq!(
            asked.standing(t(90)),
            Standing::Late(Duration::from_secs(26))
        );
        assert_eq!(asked.verdict().as_deref(), Some("✓ done"));
        // A second answer to the same ticket is not filed again.
        assert!(requests.answer(ticket, Ok(reply), Duration::ZERO).is_none());
    }

    #[test]
    fn unanswered_requests_are_kept_however_many_are_answered() {
        let mut requests = Requests::default();
        let waiting = requests.open(0, "estop", Duration::from_secs(75), t(0));
        for i in 0..(ANSWERED_KEPT as i64 + 10) {
            let ticket = requests.open(1, "approve", Duration::from_secs(10), t(i));
            requests.answer(ticket, Err("refused".into()), Duration::ZERO);
        }
        assert!(requests.get(waiting).is_some());
        assert_eq!(requests.unanswered(0).count(), 1);
        assert_eq!(requests.all.len(), ANSWERED_KEPT + 1);
    }
}

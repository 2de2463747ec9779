//! The service's log for a client that asks (`logs` on the wire): its
//! last lines, then, when following, new lines as they come. The readers
//! are the smoke deploy's ([`Lines`]): service.log across the agent's cuts,
//! the unit's journal (every run, not one invocation), the container's
//! `logs`. Nothing here runs on the agent's loop: a session's task calls it.

use std::time::{Duration, Instant};

use super::container::{Container, LogFollow};
use super::log::ServiceLog;
use super::run::Lines;
use super::systemd::Unit;

/// Bytes read from the end of each of service.log and service.log.1 for a
/// tail: far more than `wire::logs::MAX_LINES` ordinary lines.
const TAIL_WINDOW_BYTES: u64 = 8 << 20;
/// The most of service.log a follow reads at each look (every 250 ms):
/// a burst is read over several looks, never held whole.
const FOLLOW_READ_BYTES: u64 = 4 << 20;
/// How often a follow whose container went away asks the engine for its
/// successor.
const REINSPECT_EVERY: Duration = Duration::from_secs(2);

/// Where the service's log is, cheap to clone into a session.
#[derive(Debug, Clone)]
pub enum LogSource {
    File(ServiceLog),
    Journal(Unit),
    Container(Container),
}

impl LogSource {
    /// Where the lines come from, in words.
    pub fn describe(&self) -> String {
        match self {
            LogSource::File(log) => log.path().display().to_string(),
            LogSource::Journal(unit) => format!("journal of unit {}", unit.name),
            LogSource::Container(c) => format!("container {} logs", c.spec.name),
        }
    }

    /// The last `n` lines and, if asked, a follow that goes on after them.
    pub async fn tail(
        &self,
        n: usize,
        follow: bool,
    ) -> Result<(Vec<String>, Option<Follow>), String> {
        match self {
            LogSource::File(log) => {
                let (lines, mark) = log.last_lines(n, TAIL_WINDOW_BYTES);
                let follow = follow.then(|| Follow {
                    lines: Lines::File(log.reader_bounded(mark, FOLLOW_READ_BYTES)),
                    container: None,
                });
                Ok((lines, follow))
            }
            LogSource::Journal(unit) => {
                let (lines, cursor) = unit.journal_tail(n).await.map_err(|e| format!("{e:#}"))?;
                let follow = follow.then(|| Follow {
                    lines: Lines::Journal {
                        unit: unit.clone(),
                        invocation: None,
                        cursor,
                    },
                    container: None,
                });
                Ok((lines, follow))
            }
            LogSource::Container(container) => {
                let (lines, id) = container.log_tail(n).await?;
                let follow = follow.then(|| Follow {
                    lines: Lines::Container(container.follow_new_logs(&id)),
                    container: Some(Successor {
                        container: container.clone(),
                        id,
                        asked_at: Instant::now(),
                    }),
                });
                Ok((lines, follow))
            }
        }
    }
}

/// New lines after a tail.
pub struct Follow {
    lines: Lines,
    /// A container's follow ends with its container; the next container
    /// of the name (a restart makes a new one) is followed from its start.
    container: Option<Successor>,
}

struct Successor {
    container: Container,
    id: String,
    asked_at: Instant,
}

impl Follow {
    /// The whole lines written since the last call.
    pub async fn fresh(&mut self) -> Vec<String> {
        let lines = self.lines.fresh().await;
        if let (Lines::Container(follow), Some(next)) = (&self.lines, &mut self.container)
            && follow.ended()
            && next.asked_at.elapsed() >= REINSPECT_EVERY
        {
            next.asked_at = Instant::now();
            if let Ok(Some(facts)) = next.container.inspect().await
                && facts.id != next.id
            {
                let follow: LogFollow = next.container.follow_logs(&facts.id);
                next.id = facts.id;
                self.lines = Lines::Container(follow);
            }
        }
        lines
    }
}

//! The `R` view's model: whose risk ledger is shown, when it was asked for
//! and what came back. The ledger travels over the host's link as the
//! `report` op (the same object `ctl report` prints); nothing waits on it.

use chrono::{DateTime, Utc};

use crate::wire::ledger::Report;

/// The window the view asks for (`ctl report`'s default).
pub const WINDOW_S: u64 = 30 * 86_400;

#[derive(Debug, Clone)]
pub struct LedgerView {
    pub host: usize,
    pub asked_at: DateTime<Utc>,
    /// `None` until the host answers.
    pub answer: Option<Result<Box<Report>, String>>,
}

impl LedgerView {
    /// Just asked `host`.
    pub fn asking(host: usize, now: DateTime<Utc>) -> Self {
        Self {
            host,
            asked_at: now,
            answer: None,
        }
    }

    /// An answer from `host`: kept if the view still shows that host.
    pub fn answered(&mut self, host: usize, answer: Result<Box<Report>, String>) {
        if self.host == host {
            self.answer = Some(answer);
        }
    }
}

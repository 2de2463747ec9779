//! Runbooks in the control room: which one the selected host's state
//! points at (a halt's, a failing check's, or the check that failed the
//! last deploy), and the pager that shows its text, fetched from the
//! agent (`runbook` on the wire). A URL is shown, never fetched.

use crate::wire::runbook::RunbookText;
use crate::wire::{CheckStatus, Status};

/// The runbook a host's state points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What the agent is asked for: a check's name, `not_flat` or
    /// `rollback_failed`.
    pub name: String,
    /// As the config names it.
    pub runbook: String,
}

/// A halt's runbook first, then the first failing check's that has one,
/// then the one of the check the last deploy's outcome names (a rolled
/// back host's checks pass again on the known-good).
pub fn target(status: &Status) -> Option<Target> {
    if let Some(r) = &status.runbook {
        return Some(Target {
            name: r.name.clone(),
            runbook: r.runbook.clone(),
        });
    }
    let with_runbook = || status.checks.iter().filter(|c| c.runbook.is_some());
    let failing =
        with_runbook().find(|c| matches!(c.status, CheckStatus::Failing | CheckStatus::Unknown));
    let named = || {
        let detail = status.outcome.as_ref()?.detail.as_deref()?;
        with_runbook().find(|c| mentions(detail, &c.name))
    };
    let check = failing.or_else(named)?;
    Some(Target {
        name: check.name.clone(),
        runbook: check.runbook.clone()?,
    })
}

/// Whether `text` names `word` as a whole word.
fn mentions(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_';
    !word.is_empty()
        && text.match_indices(word).any(|(at, _)| {
            !text[..at].chars().next_back().is_some_and(part)
                && !text[at + word.len()..].chars().next().is_some_and(part)
        })
}

/// The runbook pager (`b`), full screen.
#[derive(Debug, Clone)]
pub struct Pager {
    pub host: usize,
    pub target: Target,
    /// The `runbook` request's ticket; its answer fills the pager.
    pub ticket: u64,
    /// The answer, or why there is none.
    pub answer: Option<Result<RunbookText, String>>,
    /// The first line shown.
    pub top: usize,
}

impl Pager {
    pub fn new(host: usize, target: Target, ticket: u64) -> Self {
        Self {
            host,
            target,
            ticket,
            answer: None,
            top: 0,
        }
    }

    /// The text's lines (none until answered, or for a URL).
    pub fn lines(&self) -> Vec<&str> {
        match &self.answer {
            Some(Ok(RunbookText {
                text: Some(text), ..
            })) => text.lines().collect(),
            _ => Vec::new(),
        }
    }

    /// Scrolls by `by` lines, keeping a page in view.
    pub fn scroll(&mut self, by: isize, page: usize) {
        let max = self.lines().len().saturating_sub(page.max(1));
        self.top = (self.top as isize + by).clamp(0, max as isize) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CheckView, OutcomeView};

    fn status(checks: Vec<CheckView>) -> Status {
        serde_json::from_value(serde_json::json!({
            "host": "h", "state": "rolled_back", "deploy_id": null, "current_release": null,
            "previous_release": null, "stage_started_at": null, "soak_remaining_s": null,
            "soak_total_s": null, "stage": null, "checks": checks, "last_drill_at": null,
            "awaiting_approval": null, "halted_reason": null, "tier": null,
            "submitted_by": null, "deploy_reason": null, "outcome": null,
            "service": {"kind": "command", "running": true, "pid": null},
            "audit_head": null, "sampled_at": null, "scrape_error": null,
            "agent_version": "0", "now": "2026-11-30T00:00:00Z"
        }))
        .unwrap()
    }

    fn check(name: &str, status: &str, runbook: Option<&str>) -> CheckView {
        CheckView {
            name: name.into(),
            status: status.into(),
            runbook: runbook.map(str::to_string),
            ..CheckView::default()
        }
    }

    #[test]
    fn a_failing_check_then_the_one_that_failed_the_deploy() {
        let mut s = status(vec![
            check("drawdown", "ok", Some("runbooks/dd.md")),
            check("recon", "failing", Some("runbooks/recon.md")),
        ]);
        assert_eq!(target(&s).unwrap().runbook, "runbooks/recon.md");
        s.checks[1].status = "ok".into();
        assert_eq!(target(&s), None, "nothing failing, no outcome");
        s.outcome = Some(OutcomeView {
            outcome: crate::wire::OutcomeWord::RolledBack,
            detail: Some("drawdown = 12.1 breaks < 3".into()),
        });
        assert_eq!(target(&s).unwrap().name, "drawdown");
    }
}

//! The agent's side of alerting: an alert goes to alerts.jsonl, then to
//! the webhook queue (never waiting on it); and the daily P3 digest.

use chrono::Utc;
use serde_json::json;

use super::Agent;
use super::config::runbooks::{NOT_FLAT, ROLLBACK_FAILED};
use super::notify::{QUEUE, Queued, daily_digest, priority_str};
use crate::pipeline::Priority;
use crate::stamp::rfc3339;

/// A host whose way back was last rehearsed longer ago than this pages P2
/// (DESIGN: "warn when a host's last drill is older than 30 days").
pub const DRILL_MAX_AGE_DAYS: i64 = 30;

impl Agent {
    pub(super) fn alert(
        &mut self,
        priority: Priority,
        title: String,
        extra: Vec<(String, String)>,
    ) {
        let at = rfc3339(Utc::now());
        let deploy = self.pipeline.deploy();
        let evidence = extra
            .iter()
            .find(|(k, _)| k == "evidence")
            .map(|(_, v)| v.clone());
        // Who to page needs the host, the deploy and its release, the line
        // that shows why, and what to do: the runbook, when one is named.
        let runbook = self.runbook_for(&title, evidence.as_deref());
        let line = json!({
            "at": at,
            "host": self.config.host,
            "priority": priority_str(priority),
            "title": title,
            "deploy": deploy.map(|d| d.id.clone()),
            "release": deploy.map(|d| d.release.id.clone())
                .or_else(|| self.pipeline.serving.as_ref().map(|r| r.id.clone())),
            "evidence": evidence,
            "runbook": runbook,
        });
        if let Err(e) = self.alerts.append_line(&line.to_string()) {
            eprintln!("gantry agent: cannot write alerts.jsonl: {e}");
        }
        eprintln!(
            "gantry agent: [{}] {}",
            priority_str(priority),
            crate::text::inert(&title)
        );
        let mut fields = vec![("state".to_string(), self.pipeline.word().to_string())];
        if let Some(deploy) = self.pipeline.deploy() {
            fields.push(("deploy".to_string(), deploy.id.clone()));
        }
        if let Some(serving) = &self.pipeline.serving {
            fields.push(("serving".to_string(), serving.id.clone()));
        }
        fields.extend(extra);
        if let Some(runbook) = runbook {
            fields.push(("runbook".to_string(), runbook));
        }
        if self.notifier.send(priority, title.clone(), fields) == Queued::Full {
            let line = json!({
                "at": at,
                "host": self.config.host,
                "kind": "dropped",
                "priority": priority_str(priority),
                "title": title,
                "why": format!("the webhook queue is full ({QUEUE} waiting behind stuck receivers); not sent"),
            });
            if let Err(e) = self.alerts.append_line(&line.to_string()) {
                eprintln!("gantry agent: cannot write alerts.jsonl: {e}");
            }
        }
    }

    /// The runbook for an alert: a stop not proven flat, a halt no person
    /// asked for (a failed rollback), else the first check the title or
    /// its evidence names that has one.
    fn runbook_for(&self, title: &str, evidence: Option<&str>) -> Option<String> {
        let named = |name: &str| {
            self.config
                .runbooks
                .get(name)
                .map(|r| r.shown().to_string())
        };
        let not_flat = (title.starts_with("HALTED · ") && !title.starts_with("HALTED · FLAT:"))
            || title.starts_with("kill command failed");
        if not_flat {
            return named(NOT_FLAT);
        }
        if title.starts_with("halted: ") && !title.starts_with("halted: emergency stop") {
            return named(ROLLBACK_FAILED);
        }
        let text = [title, evidence.unwrap_or("")];
        self.config
            .checks
            .iter()
            .filter(|c| text.iter().any(|t| mentions(t, &c.spec.name)))
            .find_map(|c| named(&c.spec.name))
    }

    /// Once per UTC day, at the first sample after midnight: the P3 digest
    /// of the day that ended. (A day whose midnight passes while the agent
    /// is down gets none.)
    pub(super) fn daily_digest_due(&mut self, now: crate::pipeline::Time) {
        let today = now.date_naive();
        if today <= self.digest_day {
            return;
        }
        let day = std::mem::replace(&mut self.digest_day, today);
        let (title, fields) = daily_digest(day, &self.pipeline);
        self.alert(Priority::P3, title, fields);
        if let Some(evidence) = self.drill_overdue(now) {
            let title = "drill overdue: the way back has not been rehearsed".to_string();
            self.alert(Priority::P2, title, vec![("evidence".into(), evidence)]);
        }
    }

    /// A release serving whose last drill is older than `DRILL_MAX_AGE_DAYS`
    /// (or never ran): why, for a P2 once a day.
    fn drill_overdue(&self, now: crate::pipeline::Time) -> Option<String> {
        self.pipeline.serving.as_ref()?;
        let days = chrono::Duration::days(DRILL_MAX_AGE_DAYS);
        // Never drilled is overdue only 30 days after the host first went
        // live (a state file from before that was kept: the stage's start).
        let live_since = self
            .pipeline
            .first_live_at
            .or_else(|| self.pipeline.stage_started_at());
        match self.pipeline.last_drill_at {
            None if live_since.is_some_and(|t| now - t > days) => Some(format!(
                "no drill has ever run on this host, live since {}",
                live_since.map(rfc3339).unwrap_or_default()
            )),
            None => None,
            Some(at) if now - at > days => Some(format!(
                "last drill {} ({} days ago; drill every {DRILL_MAX_AGE_DAYS})",
                rfc3339(at),
                (now - at).num_days()
            )),
            Some(_) => None,
        }
    }
}

/// Whether `text` names `word` as a whole word (a check name is letters,
/// digits and `_`: `drawdown` is not named by `drawdown_budget`).
fn mentions(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn a_check_is_named_as_a_whole_word() {
        assert!(mentions(
            "drawdown_budget = 12.1 breaks < 3",
            "drawdown_budget"
        ));
        assert!(!mentions("drawdown_budget = 12.1", "drawdown"));
        assert!(mentions(
            "gate failed: reconciliation_clean",
            "reconciliation_clean"
        ));
    }
}

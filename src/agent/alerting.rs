//! The agent's side of alerting: an alert goes to alerts.jsonl, then to
//! the webhook queue (never waiting on it); and the daily P3 digest.

use chrono::Utc;
use serde_json::json;

use super::Agent;
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
        // that shows why, and what to do: `runbook` stays null until checks
        // name one.
        let line = json!({
            "at": at,
            "host": self.config.host,
            "priority": priority_str(priority),
            "title": title,
            "deploy": deploy.map(|d| d.id.clone()),
            "release": deploy.map(|d| d.release.id.clone())
                .or_else(|| self.pipeline.serving.as_ref().map(|r| r.id.clone())),
            "evidence": evidence,
            "runbook": null,
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

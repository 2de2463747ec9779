//! The agent's side of alerting: an alert goes to alerts.jsonl, then to
//! the webhook queue (never waiting on it); and the daily P3 digest.

use chrono::Utc;
use serde_json::json;

use super::Agent;
use super::notify::{QUEUE, Queued, daily_digest, priority_str};
use crate::pipeline::Priority;
use crate::stamp::rfc3339;

impl Agent {
    pub(super) fn alert(
        &mut self,
        priority: Priority,
        title: String,
        extra: Vec<(String, String)>,
    ) {
        let at = rfc3339(Utc::now());
        let line = json!({
            "at": at,
            "host": self.config.host,
            "priority": priority_str(priority),
            "title": title,
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
    }
}

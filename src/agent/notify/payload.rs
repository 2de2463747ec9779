//! What an alert says, and the Slack and Discord payloads that carry it
//! (markup escaped: a host's bytes are inert there too).

use serde_json::{Value, json};

use super::{Format, priority_str};
use crate::pipeline::Priority;
use crate::text::{discord as discord_escape, slack as slack_escape};

/// One alert, as every payload format renders it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub priority: Priority,
    pub title: String,
    /// The host it is about (for a rollout: the fleet or the host).
    pub host: String,
    pub at: String,
    /// Short facts shown under the title: state, deploy, release, …
    pub fields: Vec<(String, String)>,
}

impl Alert {
    /// "[P0] lab-1: halted: …", the one-line form.
    pub fn headline(&self) -> String {
        format!(
            "[{}] {}: {}",
            priority_str(self.priority),
            self.host,
            self.title
        )
    }
}

/// Slack incoming-webhook payload: `text` (what notifications show) and
/// minimal Block Kit: the title, then the fields.
pub fn slack_payload(alert: &Alert) -> Value {
    let mut blocks = vec![json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": truncate(
                &format!(
                    "*{} · {}*\n{}",
                    priority_str(alert.priority),
                    slack_escape(&alert.host),
                    slack_escape(&alert.title)
                ),
                3000,
            ),
        }
    })];
    if !alert.fields.is_empty() {
        let fields: Vec<Value> = alert
            .fields
            .iter()
            .take(10)
            .map(|(k, v)| {
                json!({
                    "type": "mrkdwn",
                    "text": truncate(&format!("*{}*\n{}", slack_escape(k), slack_escape(v)), 2000),
                })
            })
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    json!({
        "text": truncate(&slack_escape(&alert.headline()), 3000),
        "blocks": blocks,
    })
}

/// Discord webhook payload: `content` plus one embed coloured by priority.
/// Mentions are disabled, so a title can never ping @everyone.
pub fn discord_payload(alert: &Alert) -> Value {
    let fields: Vec<Value> = alert
        .fields
        .iter()
        .take(25)
        .map(|(k, v)| {
            json!({
                "name": truncate(&discord_escape(k), 256),
                "value": truncate(&discord_escape(v), 1024),
                "inline": true,
            })
        })
        .collect();
    json!({
        // The host and title escaped, not the "[P0]" gantry writes itself.
        "content": truncate(
            &format!(
                "[{}] {}: {}",
                priority_str(alert.priority),
                discord_escape(&alert.host),
                discord_escape(&alert.title)
            ),
            2000,
        ),
        "allowed_mentions": { "parse": [] },
        "embeds": [{
            "title": truncate(
                &format!("{} · {}", priority_str(alert.priority), discord_escape(&alert.host)),
                256,
            ),
            "description": truncate(&discord_escape(&alert.title), 4096),
            "color": match alert.priority {
                Priority::P0 => 0xd0_02_1b,
                Priority::P1 => 0xf5_a6_23,
                Priority::P2 => 0x41_75_05,
                Priority::P3 => 0x9b_9b_9b,
            },
            "timestamp": alert.at,
            "fields": fields,
        }],
    })
}

pub fn payload(format: Format, alert: &Alert) -> Value {
    match format {
        Format::Slack => slack_payload(alert),
        Format::Discord => discord_payload(alert),
    }
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

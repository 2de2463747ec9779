//! Alerts to people: webhooks by priority (P0–P3) in Slack and Discord
//! payload formats, next to the local alerts.jsonl the agent always writes.
//!
//! The one rule: nothing here may delay the pipeline. A rollback must not
//! wait on a webhook that hangs or answers 500, so [`Notifier::send`] only
//! puts the alert on a bounded queue and returns. A sender task takes it
//! from there, posting to every webhook in a task of its own, with a
//! timeout and retries with backoff; when too many deliveries are stuck the
//! queue fills and further alerts are dropped (and said so in alerts.jsonl)
//! rather than held.
//!
//! [`Notifier`] needs only a tokio runtime, so a fleet rollout (`ctl
//! rollout`) can page with it too. Config and payloads:
//! docs/freeze-and-alerts.md.

mod config;
mod digest;
mod payload;

pub use config::{
    AlertsConfig, AlertsSection, Format, Webhook, WebhookSection, parse_priority, priority_str,
    redact,
};
pub use digest::daily_digest;
pub use payload::{Alert, discord_payload, payload, slack_payload};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use crate::durable::AppendLog;
use crate::pipeline::Priority;
use crate::stamp::rfc3339;

/// Alerts waiting for the sender task; past this, new ones are dropped.
pub const QUEUE: usize = 256;
/// Deliveries in flight at once; with every slot held by a hanging
/// receiver the queue fills instead of the task list growing without end.
const IN_FLIGHT: usize = 32;
/// First retry after this, doubling, capped at [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The most retries a config may ask for: a page that needs more is lost.
pub const MAX_RETRIES: u32 = 10;

/// What became of [`Notifier::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// On the queue; delivery happens in the background.
    Yes,
    /// No webhook takes this priority.
    NoWebhook,
    /// The queue is full (receivers are stuck): dropped.
    Full,
    /// The notifier was closed.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Sends alerts to webhooks without ever making the caller wait.
pub struct Notifier {
    tx: Option<mpsc::Sender<Alert>>,
    task: Option<JoinHandle<()>>,
    host: String,
    webhooks: Vec<Webhook>,
}

impl Notifier {
    /// Starts the sender task (so: call inside a tokio runtime). `log`, if
    /// given, is an alerts.jsonl that gets a line for every delivery that
    /// failed after its retries.
    pub fn new(config: &AlertsConfig, host: &str, log: Option<&Path>) -> Result<Self, NotifyError> {
        // reqwest is built without a default TLS provider; https webhooks
        // need one. Installing twice is harmless (the first one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let sender = Sender {
            client,
            webhooks: Arc::new(config.webhooks.clone()),
            retries: config.retries,
            log: log.map(Path::to_path_buf),
        };
        let task = tokio::spawn(sender.run(rx));
        Ok(Self {
            tx: Some(tx),
            task: Some(task),
            host: host.to_string(),
            webhooks: config.webhooks.clone(),
        })
    }

    /// Queues an alert for every webhook that takes `priority`; never waits.
    pub fn send(
        &self,
        priority: Priority,
        title: impl Into<String>,
        fields: Vec<(String, String)>,
    ) -> Queued {
        if !self.webhooks.iter().any(|w| w.wants(priority)) {
            return Queued::NoWebhook;
        }
        let Some(tx) = &self.tx else {
            return Queued::Closed;
        };
        let alert = Alert {
            priority,
            title: title.into(),
            host: self.host.clone(),
            at: rfc3339(Utc::now()),
            fields,
        };
        match tx.try_send(alert) {
            Ok(()) => Queued::Yes,
            Err(mpsc::error::TrySendError::Full(_)) => Queued::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Queued::Closed,
        }
    }

    /// Stops taking alerts and gives those queued or in flight up to
    /// `within` to be delivered (a process about to exit calls this);
    /// whatever is left then is abandoned.
    pub async fn close(&mut self, within: Duration) {
        self.tx = None;
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(within, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The sender task's side.
struct Sender {
    client: reqwest::Client,
    webhooks: Arc<Vec<Webhook>>,
    retries: u32,
    log: Option<PathBuf>,
}

impl Sender {
    async fn run(self, mut rx: mpsc::Receiver<Alert>) {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut deliveries = JoinSet::new();
        while let Some(alert) = rx.recv().await {
            let alert = Arc::new(alert);
            for index in 0..self.webhooks.len() {
                if !self.webhooks[index].wants(alert.priority) {
                    continue;
                }
                // Waits only when IN_FLIGHT deliveries are stuck; meanwhile
                // the queue fills and `send` drops, never blocks.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let delivery = Delivery {
                    client: self.client.clone(),
                    webhooks: self.webhooks.clone(),
                    index,
                    retries: self.retries,
                    log: self.log.clone(),
                };
                let alert = alert.clone();
                deliveries.spawn(async move {
                    delivery.run(&alert).await;
                    drop(slot);
                });
            }
            while deliveries.try_join_next().is_some() {}
        }
        while deliveries.join_next().await.is_some() {}
    }
}

struct Delivery {
    client: reqwest::Client,
    webhooks: Arc<Vec<Webhook>>,
    index: usize,
    retries: u32,
    log: Option<PathBuf>,
}

impl Delivery {
    async fn run(self, alert: &Alert) {
        let hook = &self.webhooks[self.index];
        let body = payload(hook.format, alert).to_string();
        let mut error = String::new();
        let mut attempts = 0;
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            attempts += 1;
            let sent = self
                .client
                .post(&hook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => {
                    let status = response.status();
                    error = format!("HTTP {status}");
                    // Another try will not fix a request the receiver
                    // understood and refused.
                    let retryable = status.is_server_error()
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                    if !retryable {
                        break;
                    }
                }
                Err(e) if e.is_timeout() => error = "timed out".into(),
                Err(e) => error = e.without_url().to_string(),
            }
        }
        let webhook = redact(&hook.url);
        eprintln!(
            "gantry: alert {} to {webhook} failed after {attempts} tries: {error}",
            priority_str(alert.priority)
        );
        if let Some(path) = self.log {
            let line = json!({
                "at": rfc3339(Utc::now()),
                "host": alert.host,
                "kind": "delivery_failed",
                "priority": priority_str(alert.priority),
                "title": alert.title,
                "webhook": webhook,
                "attempts": attempts,
                "error": error,
            })
            .to_string();
            // An fsync'd append: off the async workers.
            let _ = tokio::task::spawn_blocking(move || append(&path, &line)).await;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(BACKOFF_MAX)
}

/// Appends one line to an alerts.jsonl (the agent's own appends and these
/// are single O_APPEND writes, so lines never interleave).
pub fn append(path: &Path, line: &str) -> std::io::Result<()> {
    AppendLog::open(path, 0o640)?.append_line(line)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::pipeline::{Outcome, Pipeline, StageResult};

    fn section(url: &str, format: &str, min: &str) -> AlertsSection {
        AlertsSection {
            webhooks: vec![WebhookSection {
                url: url.into(),
                format: format.into(),
                min_priority: min.into(),
            }],
            timeout_ms: 2000,
            retries: 2,
        }
    }

    fn alert() -> Alert {
        Alert {
            priority: Priority::P0,
            title: "halted: emergency stop by amy: <venue> & co".into(),
            host: "lhr-1".into(),
            at: "2026-11-24T14:02:11.000Z".into(),
            fields: vec![("state".into(), "halted".into())],
        }
    }

    #[test]
    fn webhooks_are_checked_naming_the_field() {
        let ok =
            AlertsConfig::parse(&section("https://hooks.example/T/B/x", "slack", "P1")).unwrap();
        assert_eq!(ok.webhooks[0].format, Format::Slack);
        assert!(ok.webhooks[0].wants(Priority::P0));
        assert!(ok.webhooks[0].wants(Priority::P1));
        assert!(!ok.webhooks[0].wants(Priority::P2));
        let e =
            AlertsConfig::parse(&section("ftp://hooks.example/secret", "slack", "P1")).unwrap_err();
        assert!(
            e.starts_with("alerts.webhooks[0].url:") && e.contains("http(s)"),
            "{e}"
        );
        assert!(!e.contains("secret"), "the URL's path is not echoed: {e}");
        let e = AlertsConfig::parse(&section("hooks.example/x", "slack", "P1")).unwrap_err();
        assert!(e.starts_with("alerts.webhooks[0].url:"), "{e}");
        let e = AlertsConfig::parse(&section("http://x/y", "teams", "P1")).unwrap_err();
        assert!(e.starts_with("alerts.webhooks[0].format:"), "{e}");
        let e = AlertsConfig::parse(&section("http://x/y", "discord", "P5")).unwrap_err();
        assert!(e.starts_with("alerts.webhooks[0].min_priority:"), "{e}");
        let mut s = section("http://x/y", "discord", "P3");
        s.timeout_ms = 0;
        assert!(
            AlertsConfig::parse(&s)
                .unwrap_err()
                .starts_with("alerts.timeout_ms")
        );
        s.timeout_ms = 1;
        s.retries = 99;
        assert!(
            AlertsConfig::parse(&s)
                .unwrap_err()
                .starts_with("alerts.retries")
        );
    }

    #[test]
    fn redact_keeps_scheme_and_host() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact("http://u:pw@10.0.0.1:81"), "http://10.0.0.1:81");
    }

    #[test]
    fn slack_payload_has_text_and_escaped_blocks() {
        let p = slack_payload(&alert());
        let text = p["text"].as_str().unwrap();
        assert!(text.starts_with("[P0] lhr-1: halted"), "{text}");
        assert!(text.contains("&lt;venue&gt; &amp; co"), "{text}");
        assert_eq!(p["blocks"][0]["type"], "section");
        assert_eq!(p["blocks"][0]["text"]["type"], "mrkdwn");
        assert_eq!(p["blocks"][1]["fields"][0]["text"], "*state*\nhalted");
    }

    #[test]
    fn discord_payload_has_content_an_embed_and_no_mentions() {
        let mut a = alert();
        a.title = "@everyone ".repeat(500);
        let p = discord_payload(&a);
        assert!(p["content"].as_str().unwrap().chars().count() <= 2000);
        assert_eq!(p["allowed_mentions"]["parse"], json!([]));
        assert_eq!(p["embeds"][0]["title"], "P0 · lhr-1");
        assert_eq!(p["embeds"][0]["color"], 0xd0021b);
        assert_eq!(p["embeds"][0]["fields"][0]["name"], "state");
        assert_eq!(p["embeds"][0]["timestamp"], "2026-11-24T14:02:11.000Z");
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_millis(1000));
        assert_eq!(backoff(10), BACKOFF_MAX);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn send_never_waits_and_drops_when_full() {
        // A listener that never accepts: deliveries hang until their
        // timeout, every slot is taken, and the queue fills behind them.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let config = AlertsConfig {
            webhooks: vec![Webhook {
                url,
                format: Format::Slack,
                min_priority: Priority::P1,
            }],
            timeout_ms: 60_000,
            retries: 0,
        };
        let notifier = Notifier::new(&config, "h", None).unwrap();
        assert_eq!(
            notifier.send(Priority::P3, "digest", vec![]),
            Queued::NoWebhook
        );
        let started = std::time::Instant::now();
        let mut full = 0;
        for i in 0..(QUEUE + IN_FLIGHT + 50) {
            if notifier.send(Priority::P0, format!("alert {i}"), vec![]) == Queued::Full {
                full += 1;
            }
        }
        assert!(started.elapsed() < Duration::from_millis(200));
        assert!(full > 0, "a stuck receiver fills the queue");
    }

    #[test]
    fn digest_counts_the_days_deploys() {
        use crate::pipeline::{Actor, Deploy, ReleaseRef, Role, StageRecord, Tier};
        use chrono::TimeZone;
        let t = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        let deploy = |id: &str, at, outcome, ended, live: bool| Deploy {
            id: id.into(),
            release: ReleaseRef {
                id: format!("r-{id}"),
                digest: "ab".into(),
            },
            tier: Tier::Balanced,
            submitted_by: Actor {
                name: "ci".into(),
                role: Role::Admin,
                seen_as: None,
                claimed: None,
            },
            submitted_at: at,
            reason: "r".into(),
            commit: None,
            promotion: None,
            needs_approval: false,
            restore: false,
            stages: if live {
                vec![StageRecord {
                    stage: crate::pipeline::Stage::Live,
                    started_at: at,
                    ended_at: None,
                    result: StageResult::InProgress,
                    detail: None,
                }]
            } else {
                vec![]
            },
            approval: None,
            outcome,
            ended_at: ended,
        };
        let pipeline = Pipeline {
            history: vec![
                deploy("a", t(23, 10), Outcome::Live, None, true),
                deploy(
                    "b",
                    t(24, 9),
                    Outcome::RolledBack("crash".into()),
                    Some(t(24, 9)),
                    false,
                ),
                deploy(
                    "c",
                    t(24, 11),
                    Outcome::Rejected("bad".into()),
                    Some(t(24, 11)),
                    false,
                ),
                deploy("d", t(24, 12), Outcome::Live, None, true),
            ],
            ..Pipeline::default()
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let (title, fields) = daily_digest(day, &pipeline);
        assert_eq!(
            title,
            "daily digest 2026-11-24: 3 deploys submitted, 1 went live, 1 rolled back"
        );
        assert!(fields.contains(&("rejected".into(), "1".into())));
    }
}

//! The emergency stop's work at the venue, each step in a task of its own
//! so neither blocks samples, requests or a rollback: the kill command
//! (cancel, flatten), then the verify command, polled until it says the
//! book is flat or its timeout passes. Each answers the loop with a fact
//! (`Event::Killed`, `Event::FlatChecked`) that the machine records.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::config::{AgentConfig, VerifyConfig};
use super::{Agent, command};
use crate::pipeline::{Event, FlatVerdict, Phase, Pipeline};

/// What runs the verify command: its config and where and for whom.
#[derive(Debug, Clone)]
pub struct VenueProbe {
    pub verify: VerifyConfig,
    pub host: String,
    pub dir: PathBuf,
}

impl VenueProbe {
    /// The config's verify command, if it names one.
    pub fn of(config: &AgentConfig) -> Option<Self> {
        Some(Self {
            verify: config.verify.clone()?,
            host: config.host.clone(),
            dir: config.state_dir.clone(),
        })
    }

    /// Polls the verify command until it exits 0 (flat), its timeout
    /// passes, or it cannot be run at all (no point asking again).
    pub async fn poll(&self) -> (FlatVerdict, String) {
        self.ask(true).await
    }

    /// Asks once (restore): a fresh answer, not a wait for one.
    pub async fn once(&self) -> (FlatVerdict, String) {
        self.ask(false).await
    }

    async fn ask(&self, poll: bool) -> (FlatVerdict, String) {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(self.verify.timeout_ms);
        let mut tries = 0u32;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            tries += 1;
            let ran = run_verify(&self.verify.argv, &self.host, &self.dir, left).await;
            let took = format!("{:.1}s", started.elapsed().as_secs_f64());
            let said = said(&ran);
            if ran.ok {
                return (
                    FlatVerdict::Flat,
                    format!("verify command said flat ({said}; try {tries}, {took})"),
                );
            }
            if !ran.started {
                return (FlatVerdict::NotFlat, said);
            }
            let next = Duration::from_millis(self.verify.interval_ms);
            if !poll || Instant::now() + next >= deadline {
                let how = if poll {
                    format!("still not flat after {took} ({tries} tries)")
                } else {
                    "not flat".to_string()
                };
                return (FlatVerdict::NotFlat, format!("{how}: {said}"));
            }
            tokio::time::sleep(next).await;
        }
    }
}

async fn run_verify(argv: &[String], host: &str, dir: &Path, left: Duration) -> command::Ran {
    let timeout_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
    command::run(
        argv,
        &[("{host}", host)],
        &[("GANTRY_HOST", host)],
        dir,
        timeout_ms,
    )
    .await
}

/// The command's summary and its last output, already made inert.
fn said(ran: &command::Ran) -> String {
    if ran.output.is_empty() {
        ran.summary.clone()
    } else {
        format!("{}: {}", ran.summary, ran.output)
    }
}

impl Agent {
    /// Starts the kill command in a task of its own; its result comes back
    /// as `Event::Killed`. With none configured the fact is stepped at
    /// once: the service is stopped, and the verify step decides.
    pub(super) fn start_kill(&mut self, previous: &Pipeline) {
        if self.inbox.kill_running {
            return;
        }
        let Some((argv, timeout_ms)) = self.config.kill.clone() else {
            self.followups.push_back(Event::Killed {
                ok: true,
                skipped: true,
                summary: "no kill command configured; the service was stopped only".into(),
            });
            return;
        };
        let reason = match &self.pipeline.phase {
            Phase::Halted { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        let serving = previous
            .serving
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default();
        let host = self.config.host.clone();
        let dir = self.config.state_dir.clone();
        let done = self.inbox.venue_tx.clone();
        self.inbox.kill_running = true;
        tokio::spawn(async move {
            crate::faults::point("kill.started");
            let ran = command::run(
                &argv,
                &[("{reason}", &reason), ("{host}", &host)],
                &[
                    ("GANTRY_HOST", &host),
                    ("GANTRY_REASON", &reason),
                    ("GANTRY_RELEASE", &serving),
                ],
                &dir,
                timeout_ms,
            )
            .await;
            let _ = done.send(Event::Killed {
                ok: ran.ok,
                skipped: false,
                summary: said(&ran),
            });
        });
    }

    /// Starts polling the verify command; its answer comes back as
    /// `Event::FlatChecked`. With none configured nobody can say the book
    /// is flat, and the fact says exactly that.
    pub(super) fn start_verify(&mut self) {
        if self.inbox.verify_running {
            return;
        }
        let Some(probe) = VenueProbe::of(&self.config) else {
            self.followups.push_back(Event::FlatChecked {
                verdict: FlatVerdict::Unverified,
                summary: "no verify command configured ([kill] verify)".into(),
            });
            return;
        };
        let done = self.inbox.venue_tx.clone();
        self.inbox.verify_running = true;
        tokio::spawn(async move {
            let (verdict, summary) = probe.poll().await;
            let _ = done.send(Event::FlatChecked { verdict, summary });
        });
    }

    /// A kill or verify task answered: its fact is stepped.
    pub(super) async fn venue_answered(&mut self, event: Event) {
        match &event {
            Event::Killed { .. } => self.inbox.kill_running = false,
            Event::FlatChecked { .. } => self.inbox.verify_running = false,
            _ => {}
        }
        self.fact(event).await;
    }
}

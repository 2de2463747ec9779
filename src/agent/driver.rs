//! The driver loop: read what arrived (a signal, a service exit, a
//! validation or smoke result, the sample timer, a client request), step
//! the pipeline with it, perform what it decided, sleep until the next
//! thing is due. The pipeline's own work is read before any client.

use std::time::{Duration, Instant};

use chrono::Utc;

use tokio::sync::mpsc;

use super::releases::ValidationDone;
use super::restart::Restarted;
use super::service::Exited;
use super::socket::Request;
use super::{Agent, FAST_SAMPLE, config, probe, smoke, status, wire_line};
use crate::pipeline::{CheckStatus, Event, Phase, Sample, Time};
use crate::wire::AgentMsg;

/// Everything that reaches the loop, and the senders its tasks report on.
pub(super) struct Inbox {
    pub(super) requests: mpsc::Receiver<Request>,
    pub(super) exits: mpsc::UnboundedReceiver<Exited>,
    pub(super) validations_tx: mpsc::UnboundedSender<ValidationDone>,
    pub(super) validations: mpsc::UnboundedReceiver<ValidationDone>,
    pub(super) smokes_tx: mpsc::UnboundedSender<smoke::SmokeResult>,
    pub(super) smokes: mpsc::UnboundedReceiver<smoke::SmokeResult>,
    /// The kill and verify tasks' answers (`Event::Killed`, `FlatChecked`).
    pub(super) venue_tx: mpsc::UnboundedSender<Event>,
    pub(super) venue: mpsc::UnboundedReceiver<Event>,
    /// Restart tasks' reports: the old process is gone (restart.rs).
    pub(super) restarts_tx: mpsc::UnboundedSender<Restarted>,
    pub(super) restarts: mpsc::UnboundedReceiver<Restarted>,
    pub(super) kill_running: bool,
    pub(super) verify_running: bool,
}

/// The service's health as the last sample saw it.
pub(super) struct Health {
    pub(super) prober: probe::Prober,
    /// Baseline hosts, scraped with the service.
    pub(super) baselines: probe::BaselineProbers,
    /// The local port the probe scrapes, to check who answers there.
    pub(super) probe_port: Option<u16>,
    pub(super) sampled_at: Option<Time>,
    pub(super) sample_instant: Instant,
    pub(super) scrape_error: Option<String>,
    /// Why each check had no value at the last sample.
    pub(super) reasons: Vec<Option<String>>,
    /// When the agent last started the service's process (restart.rs).
    pub(super) service_since: Option<Time>,
    /// The last sample's process check (the only truth for a systemd unit).
    pub(super) service_alive: bool,
    /// What the last `health` event said, to send the next only on change
    /// or after a second.
    pub(super) health_sent: Vec<(CheckStatus, bool)>,
    pub(super) health_sent_at: Instant,
    /// Why service.log could not be cut back last time, said once.
    pub(super) log_cut_error: Option<String>,
}

impl Health {
    pub(super) fn new(
        prober: probe::Prober,
        baselines: probe::BaselineProbers,
        probe_port: Option<u16>,
    ) -> Self {
        Self {
            prober,
            baselines,
            probe_port,
            sampled_at: None,
            sample_instant: Instant::now(),
            scrape_error: None,
            reasons: Vec::new(),
            service_since: None,
            service_alive: false,
            health_sent: Vec::new(),
            health_sent_at: Instant::now(),
            log_cut_error: None,
        }
    }
}

impl Agent {
    pub(super) async fn run(&mut self) -> anyhow::Result<()> {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut next_sample = tokio::time::Instant::now();
        // From the loop, so that a wedged loop goes silent too; after a
        // stall (SIGSTOP) one beat, not a burst of the missed ones.
        let mut beat = tokio::time::interval(crate::wire::HEARTBEAT_EVERY);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            // A transition into a phase that samples faster (a rollback, a
            // drill) must not wait out the slower interval it came from.
            let soonest = tokio::time::Instant::now() + self.sample_interval();
            if next_sample > soonest {
                next_sample = soonest;
            }
            // And a soak ends when it ends, not at the tick after.
            if let Some(due) = self.deadline_instant()
                && due < next_sample
            {
                next_sample = due;
            }
            // The pipeline's own work first: no flood of client requests
            // may delay a sample, and so a rollback.
            tokio::select! {
                biased;
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                Some(exited) = self.inbox.exits.recv() => {
                    let current = Some(exited.pid) == self.service.pid()
                        || (self.service.pid().is_none() && self.restarting.is_none());
                    if current {
                        eprintln!("gantry agent: service pid {} exited ({:?})", exited.pid, exited.code);
                    }
                    // Sample at once: a dead process fails its P0 check now,
                    // not at the next tick.
                    self.sample().await;
                }
                Some(fact) = self.inbox.venue.recv() => self.venue_answered(fact).await,
                Some(report) = self.inbox.restarts.recv() => self.restarted(report).await,
                Some(done) = self.inbox.validations.recv() => self.validated(done).await,
                Some(result) = self.inbox.smokes.recv() => self.finish_smoke(result).await,
                _ = tokio::time::sleep_until(next_sample) => {
                    // The cadence counts from each sample's start: a slow
                    // scrape must not stretch the time a breach goes unseen.
                    let started = tokio::time::Instant::now();
                    self.sample().await;
                    next_sample = started + self.sample_interval();
                }
                _ = beat.tick() => {
                    let at = crate::stamp::rfc3339(Utc::now());
                    let _ = self.events.send(wire_line(&AgentMsg::Heartbeat { at }));
                }
                Some(request) = self.inbox.requests.recv() => self.handle(request).await,
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        self.save(true);
        // Queued pages get a moment; a hanging receiver does not hold the stop.
        self.notifier.close(Duration::from_secs(1)).await;
        eprintln!("gantry agent: stopping; the service keeps running");
        Ok(())
    }

    /// The machine's next deadline as a timer instant, if it falls after
    /// the last sample (one already judged waits for the next tick).
    fn deadline_instant(&self) -> Option<tokio::time::Instant> {
        let due = self.pipeline.next_deadline()?;
        if self.health.sampled_at.is_some_and(|at| due <= at) {
            return None;
        }
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Some(tokio::time::Instant::now() + wait)
    }

    pub(super) fn sample_interval(&self) -> Duration {
        match self.pipeline.phase {
            Phase::RollingBack { .. } | Phase::Drilling { .. } => FAST_SAMPLE,
            _ => Duration::from_millis(self.config.probe_interval_ms),
        }
    }

    pub(super) async fn sample(&mut self) {
        self.daily_digest_due(Utc::now());
        self.keep_log_to_size();
        let unwatched = self.pipeline.gate().is_none()
            && !matches!(self.pipeline.phase, Phase::Validating { .. });
        // A service between two processes has no health of its own yet:
        // the sample waits for the new one (restart.rs).
        if unwatched || self.restarting.is_some() {
            self.publish(false);
            return;
        }
        self.flush_unrecorded();
        let alive = self.service.alive().await;
        self.health.service_alive = alive;
        let checks = &self.config.checks;
        let (mut scrape, baselines) = tokio::join!(
            self.health.prober.sample(checks, alive),
            self.health.baselines.sample(checks)
        );
        if let Some(port) = self.health.probe_port
            && !self.service.answers_on(port)
        {
            // An orphan, another agent's service or a stranger may answer on
            // the port: its numbers are not this service's health.
            let error =
                format!("port {port} is not answered by the service gantry started: no data");
            let readings = scrape.values.iter_mut().zip(scrape.reasons.iter_mut());
            for ((value, reason), check) in readings.zip(&self.config.checks) {
                if check.spec.name != config::PROCESS_ALIVE {
                    *value = None;
                    *reason = Some(error.clone());
                }
            }
            scrape.error = Some(error);
        }
        self.health.sample_instant = Instant::now();
        let now = Utc::now();
        self.health.sampled_at = Some(now);
        self.health.scrape_error = scrape.error;
        self.health.reasons = scrape.reasons;
        let event = Event::Sampled(Sample {
            values: scrape.values,
            baselines,
            session_open: self.config.session.as_ref().map(|w| w.contains(now)),
            service_since: self.health.service_since,
            evidence: scrape.evidence,
        });
        self.fact_at(event, now).await;
        let checks = status::checks(&self.config, &self.pipeline, &self.health.reasons, now);
        // A check changing state goes out at once; values alone once a second.
        let verdicts: Vec<(CheckStatus, bool)> = checks.iter().map(|c| (c.status, c.ok)).collect();
        if verdicts != self.health.health_sent
            || self.health.health_sent_at.elapsed() >= Duration::from_secs(1)
        {
            self.health.health_sent = verdicts;
            self.health.health_sent_at = Instant::now();
            let _ = self.events.send(wire_line(&AgentMsg::Health {
                host: self.config.host.clone(),
                at: crate::stamp::rfc3339(now),
                checks,
            }));
        }
    }

    /// Cuts service.log back to its limit (service/log.rs). A failure (a
    /// full disk) is said once; the service goes on writing either way.
    fn keep_log_to_size(&mut self) {
        match self.service.cut_log_if_over() {
            Ok(_) => self.health.log_cut_error = None,
            Err(e) => {
                let error = e.to_string();
                if self.health.log_cut_error.as_ref() != Some(&error) {
                    eprintln!("gantry agent: cannot cut service.log back to its limit: {error}");
                    self.health.log_cut_error = Some(error);
                }
            }
        }
    }
}

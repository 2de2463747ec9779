//! `gantry agent`: the host daemon around the pure pipeline.
//!
//! One task owns the pipeline and runs the loop below; everything else
//! (socket sessions, the service's exit watcher, validate commands) talks to
//! it through channels. See docs/architecture.md.
//!
//! ```text
//!   socket sessions ──Request──┐
//!   service exits ─────────────┤
//!   validate results ──────────┼──► step(pipeline, event, now) ──► effects, in order:
//!   sample timer ──────────────┤        audit (synced first) → files → service → replies
//!   SIGTERM ───────────────────┘
//! ```

pub mod audit;
pub mod command;
pub mod config;
pub mod freeze;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod notify;
pub mod probe;
pub mod recovery;
pub mod service;
pub mod smoke;
pub mod socket;
pub mod status;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use self::audit::AuditLog;
use self::config::AgentConfig;
use self::intake::CheckedRelease;
use self::service::{Exited, Service};
use self::socket::{Hub, Request};
use self::store::{ReleaseMeta, Store};
use crate::durable::AppendLog;
use crate::exit::{Code, Exit};
use crate::pipeline::{
    Actor, Effect, Event, Note, Pending, Phase, Pipeline, Refusal, RefusalKind, ReleaseRef, Role,
    Sample, Stage, Time, Transition,
};
use crate::wire::{AgentMsg, AuditEntry, Command, ErrorCode, Reply, Request as Op};

/// Sampling interval while a just-restarted release must prove itself.
const FAST_SAMPLE: Duration = Duration::from_millis(5);
/// Soak progress is saved at least this often.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// A `state` event goes out on every transition and at least this often,
/// so clients can tell a quiet host from a lost one.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Replies remembered for resent command ids.
const REPLY_MEMORY: usize = 1024;

pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = AgentConfig::load(config_path)?;
    raise_open_files();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Clients (socket sessions, attach, HTTP) run on threads of their own,
    // with at most two for their blocking reads: a storm of them meets the
    // pipeline's sampling, gates and rollbacks only in the OS scheduler,
    // never ahead of them in one task queue.
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("gantry-clients")
        .enable_all()
        .build()?;
    let handle = clients.handle().clone();
    let result = runtime.block_on(async move {
        let mut agent = Agent::start(config, handle).await?;
        agent.run().await
    });
    clients.shutdown_background();
    result
}

/// What the agent is doing about a validate command it started.
enum Validation {
    Deploy,
    Smoke(ReleaseRef),
    DryRun(Waiter),
}

/// A command waiting for its reply: the client's id, the key its reply is
/// remembered under (peer, role, id), and where to send it.
struct Waiter {
    key: String,
    id: String,
    /// What the command asked (op, arguments, operator, reason): a resent
    /// id must ask the same to get the first reply.
    asked: String,
    reply: oneshot::Sender<Reply>,
}

struct ValidationDone {
    purpose: Validation,
    passed: bool,
    detail: String,
}

/// A release the pipeline accepted, not yet stored: it is stored once it
/// passes validation (or when a smoke deploy runs it).
struct Candidate {
    release: ReleaseRef,
    bytes: Vec<u8>,
    meta: ReleaseMeta,
}

/// Times one rollback (a real one or a drill) from the breach to the
/// known-good answering healthy.
#[derive(Default, Clone)]
struct RollbackTimer {
    breach: Option<Instant>,
    decided: Option<Instant>,
    swap: Option<Duration>,
    restart: Option<Duration>,
    restarted: Option<Instant>,
    healthy: Option<Instant>,
}

impl RollbackTimer {
    fn started(breach: Instant) -> Self {
        Self {
            breach: Some(breach),
            decided: Some(Instant::now()),
            ..Self::default()
        }
    }

    fn report(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let between = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        json!({
            "detect_ms": ms(between(self.breach, self.decided)),
            "swap_ms": ms(self.swap),
            "restart_ms": ms(self.restart),
            "healthy_ms": ms(between(self.restarted, self.healthy)),
            "total_ms": ms(between(self.breach, self.healthy)),
        })
    }
}

struct Agent {
    config: AgentConfig,
    store: Store,
    audit: AuditLog,
    alerts: AppendLog,
    service: Service,
    prober: probe::Prober,
    /// The local port the probe scrapes, to check who answers there.
    probe_port: Option<u16>,
    pipeline: Pipeline,
    /// The pipeline changed since deploy_state.json was last saved.
    dirty: bool,
    estop_flag: Option<recovery::EstopFlag>,
    /// Facts that arose while performing effects (an activation that
    /// failed), stepped once the current transition is done.
    followups: VecDeque<Event>,
    /// Entries that could not be written when they happened (a full disk),
    /// written as soon as the log takes them again.
    unrecorded: Vec<Note>,
    _lock: File,
    requests: mpsc::Receiver<Request>,
    exits: mpsc::UnboundedReceiver<Exited>,
    validations_tx: mpsc::UnboundedSender<ValidationDone>,
    validations: mpsc::UnboundedReceiver<ValidationDone>,
    smokes_tx: mpsc::UnboundedSender<smoke::SmokeResult>,
    smokes: mpsc::UnboundedReceiver<smoke::SmokeResult>,
    /// Encoded once, shared by every session.
    events: broadcast::Sender<Arc<str>>,
    status_tx: watch::Sender<crate::wire::Status>,
    /// Read-only snapshots for the HTTP endpoint, published with status.
    metrics: metrics::Tracker,
    candidate: Option<Candidate>,
    waiting: Vec<(Pending, Waiter)>,
    /// First replies by key, with what the command asked.
    replies: HashMap<String, (String, Reply)>,
    reply_order: VecDeque<String>,
    last_saved: Instant,
    last_state_sent: Instant,
    sampled_at: Option<Time>,
    sample_instant: Instant,
    scrape_error: Option<String>,
    rollback_timer: Option<RollbackTimer>,
    /// The last sample's process check (the only truth for a systemd unit).
    service_alive: bool,
    /// What the last `health` event said, to send the next only on change
    /// or after a second.
    health_sent: Vec<(String, bool)>,
    health_sent_at: Instant,
    drill_report: Option<serde_json::Value>,
    /// Webhooks; `perform(Alert)` only queues for them.
    notifier: notify::Notifier,
    /// The UTC day whose P3 digest is still to come.
    digest_day: chrono::NaiveDate,
}

impl Agent {
    async fn start(config: AgentConfig, clients: tokio::runtime::Handle) -> anyhow::Result<Self> {
        let store = Store::new(&config.state_dir)
            .with_context(|| format!("cannot create state dir {}", config.state_dir.display()))?;
        let lock = take_lock(&config.state_dir.join("agent.lock"))?;
        // A validation a crash interrupted is dropped with its copy.
        let _ = store.clear_candidates();
        let audit = AuditLog::open(&store.path("audit.jsonl"))
            .map_err(|e| Exit::new(Code::Failed, format!("refusing to start: {e}")))?;
        let alerts = AppendLog::open(&store.path("alerts.jsonl"), 0o640)?;
        let (saved, saved_seq) = match store.load_state() {
            Ok(Some(file)) => (file.pipeline, file.audit_seq),
            Ok(None) => (Pipeline::default(), 0),
            Err(e) => {
                return Err(Exit::new(
                    Code::Failed,
                    format!(
                        "refusing to start: {} is unreadable ({e}); move it aside only if you know the service's state",
                        store.path("deploy_state.json").display()
                    ),
                )
                .into());
            }
        };
        // The audit log is the write-ahead log: carry out every decision it
        // records past the saved state (recovery.rs).
        let replayed = recovery::replay(
            &config,
            saved,
            &audit::entries_after(audit.path(), saved_seq),
        );
        let pipeline = replayed.pipeline;
        let kill_due = replayed.kill_due;
        let estop_flag = match recovery::EstopFlag::open(&store.path("estop.flag")) {
            Ok(flag) => Some(flag),
            Err(e) => {
                eprintln!(
                    "gantry agent: WARNING: cannot prepare {} ({e}); an emergency stop on a full disk would not survive a crash",
                    store.path("estop.flag").display()
                );
                None
            }
        };
        let unrecorded_stop = estop_flag
            .as_ref()
            .and_then(recovery::EstopFlag::read)
            .filter(|stop| pipeline.last_estop_at.is_none_or(|at| at < stop.at));
        if replayed.steps > 0 {
            eprintln!(
                "gantry agent: replayed {} recorded decision(s) past the saved state; now {}",
                replayed.steps,
                pipeline.word()
            );
        }
        let (exits_tx, exits) = mpsc::unbounded_channel();
        let service = Service::new(
            config.service.clone(),
            &config.state_dir,
            &config.host,
            config.stop_timeout_ms,
            exits_tx,
        );
        let prober = probe::Prober::new(&config.probe_url, config.probe_timeout_ms)?;
        let probe_port = reqwest::Url::parse(&config.probe_url)
            .ok()
            .and_then(|u| u.port_or_known_default());
        let notifier = notify::Notifier::new(
            &config.alerts,
            &config.host,
            Some(&store.path("alerts.jsonl")),
        )?;
        let (requests_tx, requests) = mpsc::channel(256);
        let (validations_tx, validations) = mpsc::unbounded_channel();
        let (smokes_tx, smokes) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let now = Utc::now();
        let initial = status::build(
            &config,
            &pipeline,
            status::Seen {
                service_kind: service.kind_name(),
                running: false,
                pid: None,
                audit_head: audit.head(),
                sampled_at: None,
                scrape_error: None,
            },
            now,
        );
        let (status_tx, status_rx) = watch::channel(initial);
        let listener = {
            let _clients = clients.enter();
            socket::bind(&config.socket_path())
        }
        .with_context(|| format!("cannot listen on {}", config.socket_path().display()))?;
        let hub = Arc::new(Hub {
            host: config.host.clone(),
            requests: requests_tx,
            events: events.clone(),
            status: status_rx,
            audit_path: store.path("audit.jsonl"),
            releases_dir: store.path("releases"),
            public_keys: Arc::new(config.public_keys.clone()),
            sessions: socket::Sessions::default(),
        });
        clients.spawn(socket::serve(listener, hub));
        let (tracker, snapshots) = metrics::Tracker::new(&pipeline, &status_tx.borrow());
        if let Some(http) = config.http.clone() {
            let audit_path = store.path("audit.jsonl");
            let bound = clients
                .spawn(async move { http::spawn(&http, snapshots, audit_path).await })
                .await??;
            eprintln!("gantry agent: read-only HTTP on http://{bound}/metrics");
        }
        let mut agent = Self {
            config,
            store,
            audit,
            alerts,
            service,
            prober,
            probe_port,
            pipeline,
            dirty: true,
            estop_flag,
            followups: VecDeque::new(),
            unrecorded: Vec::new(),
            _lock: lock,
            requests,
            exits,
            validations_tx,
            validations,
            smokes_tx,
            smokes,
            events,
            status_tx,
            metrics: tracker,
            candidate: None,
            waiting: Vec::new(),
            replies: HashMap::new(),
            reply_order: VecDeque::new(),
            last_saved: Instant::now(),
            last_state_sent: Instant::now(),
            sampled_at: None,
            sample_instant: Instant::now(),
            scrape_error: None,
            rollback_timer: None,
            service_alive: false,
            health_sent: Vec::new(),
            health_sent_at: Instant::now(),
            drill_report: None,
            notifier,
            digest_day: Utc::now().date_naive(),
        };
        if let Some(stop) = unrecorded_stop {
            // An emergency stop the audit log could not take: carry it out
            // and record it now, as of when it was ordered.
            eprintln!(
                "gantry agent: an emergency stop at {} is in estop.flag but not in the audit log: halting and recording it",
                stop.at
            );
            agent.step_fact(stop.event, stop.at).await;
        }
        agent.fact(Event::Resumed).await;
        if kill_due {
            // A halt was recorded but its kill command has no recorded
            // result: run it (again).
            let previous = agent.pipeline.clone();
            agent.run_kill(&previous).await;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        eprintln!(
            "gantry agent: {} serving {} in {} (state {})",
            agent.config.host,
            agent.config.socket_path().display(),
            agent.config.state_dir.display(),
            agent.pipeline.word()
        );
        Ok(agent)
    }

    async fn run(&mut self) -> anyhow::Result<()> {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut next_sample = tokio::time::Instant::now();
        loop {
            // A transition into a phase that samples faster (a rollback, a
            // drill) must not wait out the slower interval it came from.
            let soonest = tokio::time::Instant::now() + self.sample_interval();
            if next_sample > soonest {
                next_sample = soonest;
            }
            // The pipeline's own work first: no flood of client requests
            // may delay a sample, and so a rollback.
            tokio::select! {
                biased;
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                Some(exited) = self.exits.recv() => {
                    if Some(exited.pid) == self.service.pid() || self.service.pid().is_none() {
                        eprintln!("gantry agent: service pid {} exited ({:?})", exited.pid, exited.code);
                    }
                    // Sample at once: a dead process fails its P0 check now,
                    // not at the next tick.
                    self.sample().await;
                }
                Some(done) = self.validations.recv() => self.validated(done).await,
                Some(result) = self.smokes.recv() => self.finish_smoke(result).await,
                _ = tokio::time::sleep_until(next_sample) => {
                    self.sample().await;
                    next_sample = tokio::time::Instant::now() + self.sample_interval();
                }
                Some(request) = self.requests.recv() => self.handle(request).await,
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        self.save(true);
        // Queued pages get a moment; a hanging receiver does not hold the stop.
        self.notifier.close(Duration::from_secs(1)).await;
        eprintln!("gantry agent: stopping; the service keeps running");
        Ok(())
    }

    fn sample_interval(&self) -> Duration {
        match self.pipeline.phase {
            Phase::RollingBack { .. } | Phase::Drilling { .. } => FAST_SAMPLE,
            _ => Duration::from_millis(self.config.probe_interval_ms),
        }
    }

    async fn sample(&mut self) {
        self.daily_digest_due(Utc::now());
        if self.pipeline.gate.is_none() && !matches!(self.pipeline.phase, Phase::Validating { .. })
        {
            self.publish(false);
            return;
        }
        self.flush_unrecorded();
        let alive = self.service.alive().await;
        self.service_alive = alive;
        let mut scrape = self.prober.sample(&self.config.checks, alive).await;
        if let Some(port) = self.probe_port
            && !self.service.answers_on(port)
        {
            // An orphan, another agent's service or a stranger may answer on
            // the port: its numbers are not this service's health.
            for (value, check) in scrape.values.iter_mut().zip(&self.config.checks) {
                if check.spec.name != config::PROCESS_ALIVE {
                    *value = None;
                }
            }
            scrape.error = Some(format!(
                "port {port} is not answered by the service gantry started: no data"
            ));
        }
        self.sample_instant = Instant::now();
        let now = Utc::now();
        self.sampled_at = Some(now);
        self.scrape_error = scrape.error;
        let event = Event::Sampled(Sample {
            values: scrape.values,
        });
        self.fact_at(event, now).await;
        let checks = status::checks(&self.config, &self.pipeline, now);
        // A check changing state goes out at once; values alone once a second.
        let verdicts: Vec<(String, bool)> =
            checks.iter().map(|c| (c.status.clone(), c.ok)).collect();
        if verdicts != self.health_sent || self.health_sent_at.elapsed() >= Duration::from_secs(1) {
            self.health_sent = verdicts;
            self.health_sent_at = Instant::now();
            let _ = self.events.send(wire_line(&AgentMsg::Health {
                host: self.config.host.clone(),
                at: status::rfc3339(now),
                checks,
            }));
        }
    }

    /// Steps a fact (not a command): it is never refused by policy, and its
    /// effects go ahead even if the audit log cannot be written, because
    /// a rollback must not wait on a disk.
    async fn fact(&mut self, event: Event) {
        self.fact_at(event, Utc::now()).await;
    }

    async fn fact_at(&mut self, event: Event, now: Time) {
        self.step_fact(event, now).await;
        self.step_followups().await;
    }

    async fn step_fact(&mut self, event: Event, now: Time) {
        let before = self.pipeline.word();
        match self.pipeline.step(&self.config.pipeline, &event, now) {
            Ok(transition) => {
                if entered_rollback(&self.pipeline.phase, &transition.next.phase) {
                    self.rollback_timer = Some(RollbackTimer::started(self.sample_instant));
                }
                if let Err(e) = self.commit(transition, false, &event, now).await {
                    eprintln!("gantry agent: {e}");
                }
            }
            Err(refusal) => eprintln!("gantry agent: {refusal} (event {event:?} in {before})"),
        }
    }

    /// Steps the facts that performing effects gave rise to (a loop, not
    /// recursion: each may add more).
    async fn step_followups(&mut self) {
        while let Some(event) = self.followups.pop_front() {
            self.step_fact(event, Utc::now()).await;
        }
    }

    /// Performs a transition in the write-ahead order (recovery.rs): the
    /// state it applies to is on disk, then its first audit entry (which
    /// carries `event`), then the effects, then the new state. If that
    /// first entry cannot be written, a human command is refused and
    /// nothing changes; an emergency stop and the agent's own facts (a
    /// rollback must not wait on a disk) go ahead, and the entries are
    /// written once the log takes them.
    async fn commit(
        &mut self,
        transition: Transition,
        human: bool,
        event: &Event,
        now: Time,
    ) -> Result<(), String> {
        let Transition { next, effects } = transition;
        let stop = matches!(event, Event::Estop { .. });
        let leading = effects
            .iter()
            .take_while(|e| matches!(e, Effect::Audit(_)))
            .count();
        let recorded = recovery::Recorded {
            at: now,
            event: event.clone(),
            to: Some(next.word()),
        };
        // The pre-image a replay starts from; an emergency stop and the
        // agent's facts go ahead without it (replay then starts earlier).
        if leading > 0
            && self.dirty
            && let Err(e) = self.save_now()
            && human
            && !stop
        {
            return Err(format!(
                "refused: deploy_state.json cannot be saved ({e}); nothing was done"
            ));
        }
        for (index, effect) in effects[..leading].iter().enumerate() {
            let Effect::Audit(note) = effect else {
                continue;
            };
            let event = (index == 0)
                .then(|| serde_json::to_value(&recorded).ok())
                .flatten();
            if let Err(e) = self.write_audit_timed(note, event) {
                if index == 0 && human && !stop {
                    return Err(format!(
                        "refused: the audit log cannot be written ({e}); nothing was done"
                    ));
                }
                if index == 0
                    && stop
                    && let Some(flag) = &self.estop_flag
                    && let Err(e) = flag.write(&recorded)
                {
                    eprintln!("gantry agent: EMERGENCY STOP NOT RECORDED ANYWHERE: {e}");
                }
                eprintln!(
                    "gantry agent: AUDIT WRITE FAILED, acting anyway ({}): {e}",
                    if stop {
                        "an emergency stop always stops"
                    } else {
                        "a fact is not refused"
                    }
                );
                self.unrecorded.push(note.clone());
            }
        }
        let moved = next.word() != self.pipeline.word()
            || effects.iter().any(|e| matches!(e, Effect::Persist));
        let previous = std::mem::replace(&mut self.pipeline, next);
        self.dirty = true;
        for effect in effects.into_iter().skip(leading) {
            self.perform(effect, &previous).await;
        }
        if leading > 0 && self.dirty {
            // Whatever was recorded is saved, Persist effect or not.
            self.save(true);
        }
        // Soak progress alone goes out at most once a second.
        self.publish(moved);
        Ok(())
    }

    async fn perform(&mut self, effect: Effect, previous: &Pipeline) {
        match effect {
            Effect::Audit(note) => {
                if let Err(e) = self.write_audit_timed(&note, None) {
                    eprintln!("gantry agent: audit write failed: {e}");
                    self.unrecorded.push(note);
                }
            }
            Effect::Validate { release } => self.start_validation(&release, Validation::Deploy),
            Effect::Activate { release, stage } => {
                if let Err(e) = self.activate(&release, stage, true).await {
                    self.activation_failed(release, stage, &e);
                }
            }
            Effect::Reconcile { release, stage } => {
                if let Some(known_good) = self.pipeline.known_good.clone()
                    && let Err(e) = self.store.point("previous.env", &known_good)
                {
                    eprintln!(
                        "gantry agent: cannot point previous.env at {}: {e}",
                        known_good.id
                    );
                }
                if let Err(e) = self.activate(&release, stage, false).await {
                    self.activation_failed(release, stage, &e);
                }
            }
            Effect::SetKnownGood { release } => {
                if let Err(e) = self.store.point("previous.env", &release) {
                    self.note_failure(
                        "previous.env",
                        &format!("cannot point previous.env at {}: {e}", release.id),
                    );
                }
            }
            Effect::StartSmoke { release } => {
                self.start_validation(&release.clone(), Validation::Smoke(release))
            }
            Effect::StopService => {
                if let Err(e) = self.service.stop().await {
                    self.note_failure("stop", &format!("cannot stop the service: {e:#}"));
                }
                self.service_alive = false;
            }
            Effect::Kill => self.run_kill(previous).await,
            // alerts.jsonl, then the webhook queue (never waits): notify.rs.
            Effect::Alert { priority, title } => self.alert(priority, title, Vec::new()),
            Effect::Persist => self.save(true),
            Effect::Checkpoint => self.save(false),
            Effect::Settled {
                pending,
                ok,
                message,
            } => self.settle(pending, ok, message),
        }
    }

    /// The service is not running what the pipeline named: the machine
    /// hears of it (it fails the gate), never a silent note.
    fn activation_failed(&mut self, release: ReleaseRef, stage: Stage, error: &anyhow::Error) {
        eprintln!(
            "gantry agent: cannot start {} in {stage}: {error:#}",
            release.id
        );
        self.followups.push_back(Event::ActivationFailed {
            release,
            stage,
            detail: format!("{error:#}"),
        });
    }

    /// current.env → release, stage.env, then (re)start the service. With
    /// `restart` false (after an agent restart) a running service that was
    /// started with exactly these files is left alone.
    async fn activate(
        &mut self,
        release: &ReleaseRef,
        stage: Stage,
        restart: bool,
    ) -> anyhow::Result<()> {
        self.ensure_stored(release)?;
        let swap_started = Instant::now();
        let moved = self.store.point("current.env", release)?;
        let restaged = self.store.write_stage(stage)?;
        let swapped = Instant::now();
        let env = self.store.service_env()?;
        if !restart
            && !moved
            && !restaged
            && self.service.alive().await
            && self.service.runs(&env, &release.id)
        {
            return Ok(());
        }
        self.service.restart(&env, &release.id).await?;
        let restarted = Instant::now();
        if let Some(timer) = &mut self.rollback_timer
            && timer.restarted.is_none()
        {
            timer.swap = Some(swapped - swap_started);
            timer.restart = Some(restarted - swapped);
            timer.restarted = Some(restarted);
        }
        Ok(())
    }

    async fn run_kill(&mut self, previous: &Pipeline) {
        let reason = match &self.pipeline.phase {
            Phase::Halted { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        let Some((argv, timeout_ms)) = self.config.kill.clone() else {
            let note = self.agent_note(
                "kill.skipped",
                "no kill command configured; service stopped only".into(),
            );
            let _ = self.write_audit(&note, None);
            return;
        };
        let serving = previous
            .serving
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default();
        crate::faults::point("kill.started");
        let ran = command::run(
            &argv,
            &[("{reason}", &reason), ("{host}", &self.config.host)],
            &[
                ("GANTRY_HOST", &self.config.host),
                ("GANTRY_REASON", &reason),
                ("GANTRY_RELEASE", &serving),
            ],
            &self.config.state_dir,
            timeout_ms,
        )
        .await;
        let kind = if ran.ok { "kill.done" } else { "kill.failed" };
        let mut message = format!("kill command: {}", ran.summary);
        if !ran.output.is_empty() {
            message.push_str(&format!(" ({})", ran.output));
        }
        let note = self.agent_note(kind, message);
        let _ = self.write_audit(&note, None);
    }

    fn agent_note(&self, kind: &str, message: String) -> Note {
        Note {
            kind: kind.to_string(),
            actor: None,
            reason: None,
            message,
            deploy_id: self.pipeline.deploy.as_ref().map(|d| d.id.clone()),
            release: self.pipeline.serving.as_ref().map(|r| r.id.clone()),
            state: self.pipeline.word(),
        }
    }

    fn note_failure(&mut self, kind: &str, message: &str) {
        eprintln!("gantry agent: {message}");
        let note = self.agent_note(&format!("error.{kind}"), message.to_string());
        let _ = self.write_audit(&note, None);
    }

    /// Writes a pipeline note (with the event it records, on a
    /// transition's first entry); the entry that closes a rollback (or a
    /// drill's rollback) carries its measured timings.
    fn write_audit_timed(
        &mut self,
        note: &Note,
        event: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let detail = match note.kind.as_str() {
            "rollback.done" | "drill.back" => self.rollback_timer.as_mut().map(|t| {
                t.healthy = Some(self.sample_instant);
                t.report()
            }),
            _ => None,
        };
        if note.kind == "drill.back" {
            self.drill_report = detail.clone();
        }
        self.append_audit(note, detail, event)
    }

    fn write_audit(
        &mut self,
        note: &Note,
        detail: Option<serde_json::Value>,
    ) -> Result<(), String> {
        self.append_audit(note, detail, None)
    }

    /// Writes the entries a full disk held back, oldest first, each saying
    /// it is late (and without its event: its decision is in the state).
    fn flush_unrecorded(&mut self) {
        while let Some(note) = self.unrecorded.first().cloned() {
            let mut late = note;
            late.message = format!(
                "RECORDED LATE (the audit log could not be written when it happened): {}",
                late.message
            );
            if self.write_audit(&late, None).is_err() {
                return;
            }
            self.unrecorded.remove(0);
        }
    }

    fn append_audit(
        &mut self,
        note: &Note,
        detail: Option<serde_json::Value>,
        event: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let entry = AuditEntry {
            seq: 0,
            at: status::rfc3339(Utc::now()),
            host: self.config.host.clone(),
            kind: note.kind.clone(),
            state: note.state.as_str().to_string(),
            actor: note.actor.clone(),
            reason: note.reason.clone(),
            deploy_id: note.deploy_id.clone(),
            release: note.release.clone(),
            message: note.message.clone(),
            detail,
            event,
            prev: String::new(),
            hash: String::new(),
        };
        let entry = self.audit.append(entry).map_err(|e| e.to_string())?;
        let _ = self.events.send(wire_line(&AgentMsg::Audit {
            entry: Box::new(entry),
        }));
        Ok(())
    }

    fn save(&mut self, now: bool) {
        if !now && self.last_saved.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        if let Err(e) = self.save_now() {
            eprintln!("gantry agent: cannot save deploy_state.json: {e}");
        }
    }

    /// Saves the pipeline with the audit head it reflects.
    fn save_now(&mut self) -> std::io::Result<()> {
        let stamp = status::rfc3339(Utc::now());
        let seq = self.audit.head().map_or(0, |h| h.seq);
        self.store
            .save_state(&self.config.host, &self.pipeline, seq, &stamp)?;
        self.last_saved = Instant::now();
        self.dirty = false;
        Ok(())
    }

    /// Updates the status everyone sees; sends a `state` event on a
    /// transition, and otherwise at most once a second.
    fn publish(&mut self, transition: bool) {
        let status = self.status();
        self.metrics.publish(&self.pipeline, &status);
        let _ = self.status_tx.send(status.clone());
        if transition || self.last_state_sent.elapsed() >= HEARTBEAT {
            self.last_state_sent = Instant::now();
            let _ = self.events.send(wire_line(&AgentMsg::State {
                status: Box::new(status),
            }));
        }
    }

    fn status(&self) -> crate::wire::Status {
        status::build(
            &self.config,
            &self.pipeline,
            status::Seen {
                service_kind: self.service.kind_name(),
                running: self.service.pid().is_some()
                    || (self.service.kind_name() == "systemd" && self.service_alive),
                pid: self.service.pid(),
                audit_head: self.audit.head(),
                sampled_at: self.sampled_at,
                scrape_error: self.scrape_error.clone(),
            },
            Utc::now(),
        )
    }

    fn start_validation(&mut self, release: &ReleaseRef, purpose: Validation) {
        let bytes = match &purpose {
            Validation::Deploy | Validation::Smoke(_) => self
                .candidate
                .as_ref()
                .filter(|c| c.release == *release)
                .map(|c| c.bytes.clone()),
            Validation::DryRun(..) => None,
        };
        self.run_validate(bytes.unwrap_or_default(), &release.digest, purpose);
    }

    /// Runs the validate command on a copy under candidates/ (0600, removed
    /// when it ends and on every start), so a rejected candidate leaves no
    /// trace among the releases and no secret in a shared temp dir.
    fn run_validate(&mut self, bytes: Vec<u8>, digest: &str, purpose: Validation) {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tx = self.validations_tx.clone();
        let validate = self.config.validate.clone();
        let cwd = self.config.state_dir.clone();
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let short = digest.get(..12).unwrap_or(digest);
        let copy = match &validate {
            None => Ok(None),
            Some(_) => self
                .store
                .write_candidate(&format!("{short}-{run}"), &bytes)
                .map(Some),
        };
        tokio::spawn(async move {
            let (passed, detail) = match (validate, copy) {
                (None, _) => (true, "parsed; no validate command configured".to_string()),
                (Some(_), Err(e)) => (false, format!("cannot write the copy to validate: {e}")),
                (Some((argv, timeout_ms)), Ok(path)) => {
                    let path = path.unwrap_or_default();
                    let shown = path.display().to_string();
                    let ran =
                        command::run(&argv, &[("{env}", &shown)], &[], &cwd, timeout_ms).await;
                    let _ = std::fs::remove_file(&path);
                    let mut detail = format!("validate command {}", ran.summary);
                    if !ran.ok && !ran.output.is_empty() {
                        detail.push_str(&format!(": {}", ran.output));
                    }
                    (ran.ok, detail)
                }
            };
            let _ = tx.send(ValidationDone {
                purpose,
                passed,
                detail,
            });
        });
    }

    async fn validated(&mut self, done: ValidationDone) {
        match done.purpose {
            Validation::Deploy => {
                // A release that passed is stored before the machine hears
                // of it, so a replayed `Validated` finds it on disk.
                let (mut passed, mut detail) = (done.passed, done.detail);
                if passed
                    && let Phase::Validating { candidate, .. } = &self.pipeline.phase
                    && let Err(e) = self.ensure_stored(&candidate.release.clone())
                {
                    passed = false;
                    detail = format!("passed validation but cannot be stored: {e:#}");
                }
                self.candidate = None;
                self.fact(Event::Validated { passed, detail }).await;
            }
            Validation::Smoke(release) => {
                if done.passed {
                    self.begin_smoke(release).await;
                } else {
                    let _ = self.smokes_tx.send(smoke::SmokeResult {
                        passed: false,
                        detail: done.detail,
                    });
                }
            }
            Validation::DryRun(waiter) => {
                let answer = if done.passed {
                    Reply::ok(&waiter.id, Some(json!({ "message": done.detail })))
                } else {
                    Reply::err(&waiter.id, ErrorCode::Invalid, done.detail)
                };
                self.answer(waiter, answer);
            }
        }
    }

    fn settle(&mut self, pending: Pending, ok: bool, message: String) {
        // Whoever reads the reply and then asks for status (or /metrics)
        // sees the state the reply speaks of.
        self.publish(true);
        let mut data = json!({ "message": message });
        if pending == Pending::Drill
            && let Some(timer) = self.rollback_timer.take()
        {
            let report = self.drill_report.take().unwrap_or_else(|| timer.report());
            data["timings"] = report;
        }
        if pending == Pending::Rollback
            && let Some(timer) = &self.rollback_timer
        {
            data["timings"] = timer.report();
        }
        let (settled, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(waits_for, _)| *waits_for == pending);
        self.waiting = kept;
        for (_, waiter) in settled {
            let answer = if ok {
                Reply::ok(&waiter.id, Some(data.clone()))
            } else {
                let code = match pending {
                    Pending::Submit { .. } => ErrorCode::Invalid,
                    _ => ErrorCode::Failed,
                };
                Reply::err(&waiter.id, code, message.clone()).with_data(data.clone())
            };
            self.answer(waiter, answer);
        }
    }

    /// Sends a reply and remembers it for a resent id.
    fn answer(&mut self, waiter: Waiter, reply: Reply) {
        if !waiter.id.is_empty() {
            self.replies
                .insert(waiter.key.clone(), (waiter.asked, reply.clone()));
            self.reply_order.push_back(waiter.key);
            self.trim_replies();
        }
        let _ = waiter.reply.send(reply);
    }

    fn trim_replies(&mut self) {
        while self.reply_order.len() > REPLY_MEMORY {
            if let Some(old) = self.reply_order.pop_front() {
                self.replies.remove(&old);
            }
        }
    }

    async fn handle(&mut self, request: Request) {
        let Request {
            command,
            role,
            seen_as,
            reply,
            checked,
            id_used_for_status,
        } = request;
        // A command id is the client's, so replies are remembered per peer
        // and role: a resent id gets its first reply, another session's
        // reply is never handed out.
        let key = format!("{role}|{seen_as}|{}", command.id);
        let asked = checked.asked.clone();
        let used_for = self
            .replies
            .get(&key)
            .map(|(first, reply)| (first.clone(), Some(reply.clone())))
            .or_else(|| {
                self.waiting
                    .iter()
                    .find(|(_, w)| w.key == key && !command.id.is_empty())
                    .map(|(_, w)| (w.asked.clone(), None))
            });
        if id_used_for_status || used_for.as_ref().is_some_and(|(first, _)| *first != asked) {
            // A reused id must not swallow a different command (an estop
            // answered with an old status, and nothing stopped).
            let message = format!(
                "command id {} was already used for another command; a resent id must carry the same op and arguments",
                crate::text::inert(&command.id)
            );
            let actor = actor_of(&command, role, &seen_as);
            let reason = command.reason.clone().unwrap_or_default();
            self.audit_refusal(&command, &actor, &reason, &message);
            let _ = reply.send(Reply::err(&command.id, ErrorCode::BadRequest, message));
            return;
        }
        if let Some((_, Some(first))) = used_for {
            let _ = reply.send(first);
            return;
        }
        if !command.id.is_empty() && self.waiting.iter().any(|(_, w)| w.key == key) {
            let _ = reply.send(Reply::err(
                &command.id,
                ErrorCode::Refused,
                format!(
                    "command {} is still running; its reply will come once",
                    command.id
                ),
            ));
            return;
        }
        let actor = actor_of(&command, role, &seen_as);
        let reason = command.reason.clone().unwrap_or_default();
        let waiter = Waiter {
            key,
            asked,
            id: command.id.clone(),
            reply,
        };
        let release = checked.release;
        match self
            .dispatch(&command, release.as_ref(), actor, reason)
            .await
        {
            Answer::Now(answer) => self.answer(waiter, answer),
            Answer::Later(pending) => self.waiting.push((pending, waiter)),
            Answer::DryRun => {
                if let (Op::Validate { content, .. }, Some(release)) = (&command.request, release) {
                    match release.verdict {
                        Ok(()) => self.run_validate(
                            content.as_bytes().to_vec(),
                            &release.digest,
                            Validation::DryRun(waiter),
                        ),
                        Err(message) => {
                            let answer = Reply::err(&command.id, ErrorCode::Invalid, message);
                            self.answer(waiter, answer);
                        }
                    }
                }
            }
        }
    }

    async fn dispatch(
        &mut self,
        command: &Command,
        release: Option<&CheckedRelease>,
        actor: Actor,
        reason: String,
    ) -> Answer {
        let id = command.id.as_str();
        // Set by the session for every op that carries a release.
        let verdict = || {
            release.map_or_else(
                || Err("the release was not checked".to_string()),
                |r| r.verdict.clone(),
            )
        };
        let digest = release.map(|r| r.digest.clone()).unwrap_or_default();
        let mut incoming: Option<Candidate> = None;
        let event = match &command.request {
            Op::Status => {
                return Answer::Now(Reply::ok(id, serde_json::to_value(self.status()).ok()));
            }
            Op::AuditTail { n } => {
                let entries = self.audit.tail((*n).min(10_000));
                return Answer::Now(Reply::ok(id, serde_json::to_value(entries).ok()));
            }
            Op::AuditVerify => {
                return Answer::Now(match audit::verify(self.audit.path()) {
                    Ok(v) => Reply::ok(id, Some(json!({ "entries": v.entries, "head": v.head }))),
                    Err(e) => Reply::err(id, ErrorCode::Failed, e.to_string()),
                });
            }
            Op::Notify { priority, title } => {
                if actor.role < Role::Operator {
                    let message = format!("role {} may not notify (needs operator)", actor.role);
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Forbidden, message));
                }
                let title = crate::text::inert(title);
                let note = Note {
                    kind: "notify".into(),
                    actor: Some(actor.clone()),
                    reason: Some(reason.clone()).filter(|r| !r.is_empty()),
                    message: format!("{priority:?} alert raised: {title}"),
                    deploy_id: self.pipeline.deploy.as_ref().map(|d| d.id.clone()),
                    release: self.pipeline.serving.as_ref().map(|r| r.id.clone()),
                    state: self.pipeline.word(),
                };
                if let Err(e) = self.write_audit(&note, None) {
                    return Answer::Now(Reply::err(
                        id,
                        ErrorCode::Internal,
                        format!("refused: the audit log cannot be written ({e})"),
                    ));
                }
                self.alert(
                    *priority,
                    title,
                    vec![("raised by".into(), actor.name.clone())],
                );
                return Answer::Now(Reply::ok(id, Some(json!({ "message": "alert queued" }))));
            }
            Op::AuditEntry { seq } => {
                return Answer::Now(match audit::entry_at(self.audit.path(), *seq) {
                    Some(entry) => Reply::ok(id, serde_json::to_value(entry).ok()),
                    None => Reply::err(id, ErrorCode::Failed, format!("no audit entry #{seq}")),
                });
            }
            Op::History { limit } => {
                let history = crate::wire::history::History {
                    host: self.config.host.clone(),
                    deploys: crate::wire::history::list(&self.pipeline, *limit),
                };
                return Answer::Now(Reply::ok(id, serde_json::to_value(history).ok()));
            }
            Op::ReleaseDiff { release, against } => {
                // Sessions answer diffs themselves; a reused id lands here.
                let diff = store::release_diff(
                    &self.store.path("releases"),
                    &self.config.public_keys,
                    release,
                    against.as_deref(),
                );
                return Answer::Now(match diff {
                    Ok(lines) => Reply::ok(id, serde_json::to_value(lines).ok()),
                    Err(e) => Reply::err(id, ErrorCode::Failed, e),
                });
            }
            Op::Validate { .. } => {
                // It runs a command on the host with the caller's bytes.
                if actor.role < Role::Admin {
                    let message = format!("role {} may not validate (needs admin)", actor.role);
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Forbidden, message));
                }
                return Answer::DryRun;
            }
            Op::Submit {
                name,
                content,
                tier,
                commit,
                promotion,
                override_freeze,
            } => {
                if let Err(message) = verdict() {
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Invalid, message));
                }
                let candidate = self.make_candidate(
                    name, content, digest, &actor, &reason, *tier, commit, promotion,
                );
                let release = candidate.release.clone();
                incoming = Some(candidate);
                let now = Utc::now();
                Event::Submit {
                    release,
                    tier: *tier,
                    by: actor.clone(),
                    reason: reason.clone(),
                    commit: commit.clone(),
                    promotion: promotion.clone(),
                    freeze: freeze::active(&self.config.freezes, now).map(freeze::Window::describe),
                    override_freeze: *override_freeze,
                }
            }
            Op::Smoke {
                name,
                content,
                override_freeze,
            } => {
                if self.config.smoke.is_none() {
                    let message = format!(
                        "no [smoke] section in {}: name the startup phases to check",
                        self.config.path.display()
                    );
                    return Answer::Now(Reply::err(id, ErrorCode::Refused, message));
                }
                if let Err(message) = verdict() {
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Invalid, message));
                }
                let candidate = self.make_candidate(
                    name,
                    content,
                    digest,
                    &actor,
                    &reason,
                    crate::pipeline::Tier::Conservative,
                    &None,
                    &None,
                );
                let release = candidate.release.clone();
                incoming = Some(candidate);
                Event::Smoke {
                    release,
                    by: actor.clone(),
                    reason: reason.clone(),
                    freeze: freeze::active(&self.config.freezes, Utc::now())
                        .map(freeze::Window::describe),
                    override_freeze: *override_freeze,
                }
            }
            Op::Approve {
                deploy_id,
                digest,
                stage,
            } => Event::Approve {
                deploy_id: deploy_id.clone(),
                digest: digest.clone(),
                stage: *stage,
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Rollback => Event::Rollback {
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Estop => Event::Estop {
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Rearm => Event::Rearm {
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Drill => Event::Drill {
                by: actor.clone(),
                reason: reason.clone(),
            },
        };
        let received = Instant::now();
        let now = Utc::now();
        let transition = match self.pipeline.step(&self.config.pipeline, &event, now) {
            Ok(t) => t,
            Err(refusal) => {
                // A refused submit or smoke leaves the candidate that is
                // validating (if any) as it was.
                self.audit_refusal(command, &actor, &reason, &refusal.message);
                return Answer::Now(refused(id, &refusal));
            }
        };
        let entering_rollback = entered_rollback(&self.pipeline.phase, &transition.next.phase);
        let deploy_id = transition.next.in_flight().map(|d| d.id.clone());
        if entering_rollback {
            self.rollback_timer = Some(RollbackTimer::started(received));
            self.drill_report = None;
        }
        // Only a release the machine accepted becomes the candidate.
        if incoming.is_some() {
            self.candidate = incoming;
        }
        if let Err(message) = self.commit(transition, true, &event, now).await {
            return Answer::Now(Reply::err(id, ErrorCode::Internal, message));
        }
        self.step_followups().await;
        match &command.request {
            Op::Submit { .. } => Answer::Later(Pending::Submit {
                deploy_id: deploy_id.unwrap_or_default(),
            }),
            Op::Rollback if matches!(self.pipeline.phase, Phase::RollingBack { .. }) => {
                Answer::Later(Pending::Rollback)
            }
            Op::Drill if matches!(self.pipeline.phase, Phase::Drilling { .. }) => {
                Answer::Later(Pending::Drill)
            }
            Op::Smoke { .. } if matches!(self.pipeline.phase, Phase::Smoking { .. }) => {
                Answer::Later(Pending::Smoke)
            }
            _ => Answer::Now(Reply::ok(
                id,
                Some(json!({
                    "state": self.pipeline.word(),
                    "message": format!("{} done; state {}", command.request.op_name(), self.pipeline.word()),
                    "audit_head": self.audit.head(),
                })),
            )),
        }
    }

    /// A release is written to releases/ the first time it is used, from
    /// the candidate that brought it.
    fn ensure_stored(&mut self, release: &ReleaseRef) -> anyhow::Result<()> {
        if self.store.has_release(&release.id) {
            return Ok(());
        }
        let candidate = self
            .candidate
            .as_ref()
            .filter(|c| c.release == *release)
            .ok_or_else(|| anyhow::anyhow!("release {} is not stored", release.id))?;
        self.store
            .store_release(&release.id, &candidate.bytes, &candidate.meta)?;
        self.candidate = None;
        Ok(())
    }

    /// Names a received release (the same bytes are the same release); it
    /// becomes the candidate only once the machine accepts its command.
    #[allow(clippy::too_many_arguments)]
    fn make_candidate(
        &self,
        name: &str,
        content: &str,
        digest: String,
        actor: &Actor,
        reason: &str,
        tier: crate::pipeline::Tier,
        commit: &Option<String>,
        promotion: &Option<String>,
    ) -> Candidate {
        let bytes = content.as_bytes().to_vec();
        let now = Utc::now();
        let release_id = self
            .store
            .find_release(&digest)
            .unwrap_or_else(|| format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &digest[..8]));
        let release = ReleaseRef {
            id: release_id.clone(),
            digest: digest.clone(),
        };
        Candidate {
            release,
            bytes,
            meta: ReleaseMeta {
                id: release_id,
                sha256: digest,
                source_name: crate::text::inert(name),
                stored_at: status::rfc3339(now),
                submitted_by: actor.name.clone(),
                reason: reason.to_string(),
                tier: tier.as_str().to_string(),
                commit: commit.clone(),
                promotion: promotion.clone(),
            },
        }
    }

    /// The smoke's validate command passed: run the candidate in smoke mode
    /// and watch its log.
    async fn begin_smoke(&mut self, release: ReleaseRef) {
        let Some(config) = self.config.smoke.clone() else {
            return;
        };
        let log = self.store.path("service.log");
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let started = async {
            self.ensure_stored(&release)?;
            self.store.point("current.env", &release)?;
            self.store.write_smoke_stage()?;
            let env = self.store.service_env()?;
            self.service.restart(&env, &release.id).await
        }
        .await;
        let tx = self.smokes_tx.clone();
        if let Err(e) = started {
            let _ = tx.send(smoke::SmokeResult {
                passed: false,
                detail: format!("running: cannot start {}: {e:#}", release.id),
            });
            return;
        }
        let watch = smoke::Watch {
            log,
            offset,
            pid: self.service.pid(),
            release: release.id.clone(),
            config,
        };
        tokio::spawn(async move {
            let _ = tx.send(smoke::watch(watch).await);
        });
    }

    /// The smoke ended: stop it, put back what served, tell the pipeline.
    async fn finish_smoke(&mut self, result: smoke::SmokeResult) {
        if let Err(e) = self.service.stop().await {
            self.note_failure("stop", &format!("cannot stop the smoke deploy: {e:#}"));
        }
        // The pipeline restarts what served (if it was running); the links
        // go back in any case, so current.env never names a smoke.
        if let Some(serving) = self.pipeline.serving.clone() {
            let _ = self.store.point("current.env", &serving);
            let _ = self.store.write_stage(crate::pipeline::Stage::Live);
        }
        self.fact(Event::SmokeFinished {
            passed: result.passed,
            detail: result.detail,
        })
        .await;
    }

    /// A refused human action is still a human action: it is audited.
    fn audit_refusal(&mut self, command: &Command, actor: &Actor, reason: &str, message: &str) {
        let note = Note {
            kind: format!("{}.refused", command.request.op_name()),
            actor: Some(actor.clone()),
            reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
            message: message.to_string(),
            deploy_id: self.pipeline.deploy.as_ref().map(|d| d.id.clone()),
            release: self.pipeline.serving.as_ref().map(|r| r.id.clone()),
            state: self.pipeline.word(),
        };
        if let Err(e) = self.write_audit(&note, None) {
            eprintln!("gantry agent: audit write failed: {e}");
        }
    }
}

enum Answer {
    Now(Reply),
    Later(Pending),
    DryRun,
}

fn refused(id: &str, refusal: &Refusal) -> Reply {
    let code = match refusal.kind {
        RefusalKind::Policy => ErrorCode::Refused,
        RefusalKind::Forbidden => ErrorCode::Forbidden,
        RefusalKind::Invalid => ErrorCode::BadRequest,
        RefusalKind::Unexpected => ErrorCode::Internal,
    };
    Reply::err(id, code, refusal.message.clone())
}

fn entered_rollback(before: &Phase, after: &Phase) -> bool {
    let rolling = |p: &Phase| matches!(p, Phase::RollingBack { .. } | Phase::Drilling { .. });
    rolling(after) && !rolling(before)
}

/// Raises the soft limit of open files to the hard limit (at most 65 536):
/// sessions, the service's pipes and the state dir's files must never run
/// out at the systemd default of 1 024 (the example unit sets LimitNOFILE).
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let wanted = limit.rlim_max.min(65_536);
            if limit.rlim_cur < wanted {
                limit.rlim_cur = wanted;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

/// Who acts: the identity the agent saw (the operator an authorized_keys
/// line pins, else the certificate or key sshd accepted, else the local
/// user), with the name the client claimed kept beside it as a claim.
fn actor_of(command: &Command, role: Role, seen_as: &str) -> Actor {
    let name = identity(seen_as);
    let claimed = command
        .operator
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(crate::text::inert)
        .filter(|n| *n != name);
    Actor {
        name,
        role,
        seen_as: Some(seen_as.to_string()),
        claimed,
    }
}

/// The identity in a session's `seen_as` (socket.rs and attach.rs write
/// it, parts joined by ", "): `operator alice (pinned), cert alice@desk
/// (serial 7, CA SHA256:…), key SHA256:…, from … via uid 0 (root)`. In
/// order: the operator an authorized_keys line pins; else a user
/// certificate's key id, which is the CA's name for a person (two keys
/// certified as `alice@desk` are one approver, two key ids are two); else
/// the key sshd accepted; else the local user.
fn identity(seen_as: &str) -> String {
    // The word after `label` at the start of a part. Parts, not words: a
    // key id may itself read `operator` or `key`.
    let part = |label: &str| {
        seen_as.split(", ").find_map(|p| {
            let word = p
                .strip_prefix(label)?
                .strip_prefix(' ')?
                .split(' ')
                .next()?;
            (!word.is_empty()).then(|| word.to_string())
        })
    };
    if let Some(operator) = part("operator") {
        return operator;
    }
    // attach writes `""` for an empty key id and `?` for a certificate it
    // could not read; neither names anyone, so the key or user decides.
    if let Some(key_id) = part("cert").filter(|id| id.chars().all(crate::text::is_key_id_char)) {
        return key_id;
    }
    if let Some(key) = part("key") {
        return format!("key {key}");
    }
    // "uid 0 (root)" → root; "uid 1001" → uid 1001.
    let local = seen_as.rsplit(" via ").next().unwrap_or(seen_as);
    match local.split_once(" (") {
        Some((_, name)) => name.trim_end_matches(')').to_string(),
        None => local.to_string(),
    }
}

/// An event as the line every session sends: encoded once, however many
/// sessions hold it.
fn wire_line(msg: &AgentMsg) -> Arc<str> {
    crate::wire::encode(msg).into()
}

/// One agent per state dir: an exclusive lock on agent.lock (0600, so no
/// other user can take it to keep the agent from starting), holding the pid
/// of the agent that has it.
fn take_lock(path: &PathBuf) -> anyhow::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            let owner = std::fs::metadata(path)
                .map(|m| format!(" (owned by uid {})", m.uid()))
                .unwrap_or_default();
            Exit::new(
                Code::Refused,
                format!("cannot open the lock {}{owner}: {e}", path.display()),
            )
        })?;
    match file.try_lock() {
        Ok(()) => {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_all()?;
            Ok(file)
        }
        Err(_) => {
            let mut recorded = String::new();
            let _ = file.read_to_string(&mut recorded);
            let inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
            let holder = match lock_holder(inode) {
                Some(pid) if pid.to_string() == recorded.trim() => {
                    format!("another agent (pid {pid}{})", command_of(pid))
                }
                Some(pid) => format!(
                    "a process that is not the agent recorded there (pid {pid}{}; the file names pid {})",
                    command_of(pid),
                    recorded.trim()
                ),
                None => format!("another process (the file names pid {})", recorded.trim()),
            };
            Err(Exit::new(
                Code::Refused,
                format!("{holder} holds {}; one agent per state dir", path.display()),
            )
            .into())
        }
    }
}

/// The pid holding a lock on inode `inode`, from /proc/locks.
fn lock_holder(inode: u64) -> Option<u32> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let pid = fields.get(4)?.parse().ok()?;
        let file_inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
        (file_inode == inode).then_some(pid)
    })
}

fn command_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| {
            let text = String::from_utf8_lossy(&b).replace('\0', " ");
            format!(", `{}`", crate::text::inert(text.trim()))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::identity;

    #[test]
    fn identity_is_what_the_agent_saw_never_the_claim() {
        assert_eq!(identity("uid 0 (root)"), "root");
        assert_eq!(identity("uid 1001"), "uid 1001");
        assert_eq!(
            identity("operator alice (pinned), key SHA256:abc, from 10.0.0.5 via uid 999 (gantry)"),
            "alice"
        );
        assert_eq!(
            identity("key SHA256:abc, from 10.0.0.5 via uid 999 (gantry)"),
            "key SHA256:abc"
        );
        assert_eq!(identity("attach without ssh via uid 0 (root)"), "root");
    }

    #[test]
    fn a_certificate_is_its_key_id_after_a_pinned_operator() {
        let cert = "cert alice@desk (serial 7, CA SHA256:ca), key SHA256:abc, from 10.0.0.5";
        assert_eq!(identity(&format!("{cert} via uid 0 (root)")), "alice@desk");
        assert_eq!(
            identity(&format!("operator bob (pinned), {cert} via uid 0 (root)")),
            "bob"
        );
        // The same key id from another key is the same person; another
        // key id from the same CA is not.
        let other_key = "cert alice@desk (serial 8, CA SHA256:ca), key SHA256:xyz via uid 0 (root)";
        assert_eq!(identity(other_key), "alice@desk");
        let carol = "cert carol@desk (serial 9, CA SHA256:ca), key SHA256:abc via uid 0 (root)";
        assert_eq!(identity(carol), "carol@desk");
    }

    #[test]
    fn a_key_id_cannot_pose_as_another_part() {
        // Key ids that spell a label are still only the certificate's.
        for id in ["operator", "key", "cert", "from", "via"] {
            let seen =
                format!("cert {id} (serial 1, CA SHA256:ca), key SHA256:abc via uid 0 (root)");
            assert_eq!(identity(&seen), id, "{seen}");
        }
        // An empty key id (`""`) or an unreadable certificate (`?`) names
        // no one: the key, else the login user, decides.
        assert_eq!(
            identity("cert \"\" (serial 1, CA SHA256:ca), key SHA256:abc via uid 0 (root)"),
            "key SHA256:abc"
        );
        assert_eq!(
            identity(
                "cert ? (unreadable ssh-ed25519-cert-v01@openssh.com), from 10.0.0.5 via uid 1001 (amy)"
            ),
            "amy"
        );
    }
}

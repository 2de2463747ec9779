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

mod alerting;
pub mod audit;
pub mod command;
pub mod config;
mod driver;
pub mod freeze;
pub mod http;
pub mod intake;
mod ledger;
mod lock;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod probe;
mod record;
pub mod recovery;
mod releases;
mod replies;
mod requests;
mod restart;
pub mod service;
pub mod smoke;
pub mod socket;
mod state_upgrade;
pub mod status;
pub mod store;
mod timing;
mod transition;
pub mod venue;

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use tokio::sync::{broadcast, mpsc, watch};

use self::audit::AuditLog;
use self::config::AgentConfig;
use self::driver::{Health, Inbox};
use self::lock::take_lock;
use self::releases::Candidate;
use self::replies::Replies;

use self::service::Service;
use self::socket::Hub;
use self::store::Store;
use self::timing::RollbackTimer;
use crate::durable::AppendLog;
use crate::exit::{Code, Exit};
use crate::pipeline::{Event, Note, Pipeline};
use crate::wire::AgentMsg;

/// Sampling interval while a just-restarted release must prove itself.
const FAST_SAMPLE: Duration = Duration::from_millis(5);
/// Soak progress is saved at least this often.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// A `state` event goes out on every transition and at least this often,
/// so clients can tell a quiet host from a lost one.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

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

struct Agent {
    config: AgentConfig,
    /// The service's health as last sampled.
    health: Health,
    /// Everything that reaches the loop.
    inbox: Inbox,
    store: Store,
    audit: AuditLog,
    alerts: AppendLog,
    service: Service,
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
    /// Encoded once, shared by every session.
    events: broadcast::Sender<Arc<str>>,
    status_tx: watch::Sender<crate::wire::Status>,
    /// Read-only snapshots for the HTTP endpoint, published with status.
    metrics: metrics::Tracker,
    candidate: Option<Candidate>,
    replies: Replies,
    last_saved: Instant,
    last_state_sent: Instant,
    rollback_timer: Option<RollbackTimer>,
    /// A restart of the service under way off the loop (restart.rs).
    restarting: Option<restart::Restart>,
    /// Counts restarts begun, so a cancelled one's report is known.
    restart_generation: u64,
    drill_report: Option<serde_json::Value>,
    /// The last drill, for status: found in the audit log at start.
    last_drill: Option<crate::wire::drill::DrillView>,
    /// Whether the drill a transition settles passed, while its entries
    /// are written (the `drill.done` entry records it).
    drill_ok: Option<bool>,
    /// The last hour of PnL, shared with the sessions' snapshots.
    pnl: Arc<std::sync::Mutex<crate::wire::pnl::PnlHistory>>,
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
        let prober = probe::Prober::new(
            &config.probe_url,
            config.probe_timeout_ms,
            &config.checks,
            config.evidence.as_ref().map(|e| e.query.clone()),
        )?;
        let baselines = probe::BaselineProbers::new(&config.checks, config.probe_timeout_ms)?;
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
        let (venue_tx, venue) = mpsc::unbounded_channel();
        let (restarts_tx, restarts) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let now = Utc::now();
        let last_drill = audit::last_drill(&store.path("audit.jsonl"));
        let initial = status::build(
            &config,
            &pipeline,
            status::Seen {
                service_kind: service.kind_name(),
                running: false,
                pid: None,
                facts: service.facts(),
                audit_head: audit.head(),
                sampled_at: None,
                scrape_error: None,
                reasons: &[],
                last_drill: last_drill.clone(),
            },
            now,
        );
        let (status_tx, status_rx) = watch::channel(initial);
        let pnl = Arc::new(std::sync::Mutex::new(
            crate::wire::pnl::PnlHistory::default(),
        ));
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
            pnl: pnl.clone(),
            audit_path: store.path("audit.jsonl"),
            alerts_path: store.path("alerts.jsonl"),
            releases_dir: store.path("releases"),
            public_keys: Arc::new(config.public_keys.clone()),
            venue_probe: venue::VenueProbe::of(&config),
            sessions: socket::Sessions::default(),
            logs: Arc::new(logs::LogHub {
                source: service.log_source(),
                phases: smoke_patterns(&config, |s| &s.phases),
                forbidden: smoke_patterns(&config, |s| &s.forbidden),
                followers: Arc::default(),
            }),
            runbooks: Arc::new(config.runbooks.clone()),
        });
        // Served once the agent has resumed (below): a client never reads
        // a state the audit log has not recorded yet.
        let serving = socket::serve(listener, hub);
        let (tracker, snapshots) = metrics::Tracker::new(&pipeline, &status_tx.borrow());
        if let Some(http) = config.http.clone() {
            let files = http::Files {
                audit: store.path("audit.jsonl"),
                alerts: store.path("alerts.jsonl"),
            };
            let bound = clients
                .spawn(async move { http::spawn(&http, snapshots, files).await })
                .await??;
            eprintln!("gantry agent: read-only HTTP on http://{bound}/metrics");
        }
        let mut agent = Self {
            config,
            health: Health::new(prober, baselines, probe_port),
            inbox: Inbox {
                requests,
                exits,
                validations_tx,
                validations,
                smokes_tx,
                smokes,
                venue_tx,
                venue,
                restarts_tx,
                restarts,
                kill_running: false,
                verify_running: false,
            },
            store,
            audit,
            alerts,
            service,
            pipeline,
            dirty: true,
            estop_flag,
            followups: VecDeque::new(),
            unrecorded: Vec::new(),
            _lock: lock,
            events,
            status_tx,
            metrics: tracker,
            candidate: None,
            replies: Replies::default(),
            last_saved: Instant::now(),
            last_state_sent: Instant::now(),
            rollback_timer: None,
            restarting: None,
            restart_generation: 0,
            drill_report: None,
            last_drill,
            drill_ok: None,
            pnl,
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
        clients.spawn(serving);
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

/// An event as the line every session sends: encoded once, however many
/// sessions hold it.
fn wire_line(msg: &AgentMsg) -> Arc<str> {
    crate::wire::encode(msg).into()
}

/// The smoke config's patterns of one kind, as written, for `logs` to
/// hand a viewer that marks them.
fn smoke_patterns(
    config: &AgentConfig,
    which: fn(&config::SmokeConfig) -> &Vec<(String, regex_lite::Regex)>,
) -> Vec<String> {
    config
        .smoke
        .as_ref()
        .map(|s| which(s).iter().map(|(p, _)| p.clone()).collect())
        .unwrap_or_default()
}

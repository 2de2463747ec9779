//! What the agent's own `/metrics` says, and the snapshot it is made from.
//!
//! The agent's loop owns a [`Tracker`] and calls [`Tracker::publish`] each
//! time it publishes its status; the tracker counts what happened since the
//! last call (rollbacks begun, deploys decided) and sends a [`Snapshot`] on a
//! `watch` channel. The HTTP server only ever reads the latest snapshot, so a
//! slow or hostile scraper can never hold up the loop.
//!
//! Counters follow Prometheus' convention: they start at 0 when the agent
//! starts (a restart is a counter reset, which `rate()` and `increase()`
//! handle), and never go down while it runs.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use tokio::sync::watch;

use crate::pipeline::{Deploy, Phase, Pipeline, Stage, StateWord, Time};
use crate::wire::Status;
use crate::wire::history::{self, HistoryEntry};

/// `Content-Type` of text exposition 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every state word, in pipeline order: one `gantry_state` series each.
pub const STATES: [StateWord; 11] = [
    StateWord::Idle,
    StateWord::Validating,
    StateWord::Smoke,
    StateWord::Shadow,
    StateWord::Paper,
    StateWord::Canary,
    StateWord::AwaitingApproval,
    StateWord::Live,
    StateWord::RollingBack,
    StateWord::RolledBack,
    StateWord::Halted,
];

/// Exhaustive on purpose: a new state word stops the build here until it is
/// added to [`STATES`], so no state is ever missing from `gantry_state`.
const fn _every_state_is_listed(word: StateWord) {
    match word {
        StateWord::Idle
        | StateWord::Validating
        | StateWord::Smoke
        | StateWord::Shadow
        | StateWord::Paper
        | StateWord::Canary
        | StateWord::AwaitingApproval
        | StateWord::Live
        | StateWord::RollingBack
        | StateWord::RolledBack
        | StateWord::Halted => {}
        // Only ever read from a newer agent; this one is never in it.
        StateWord::Unknown => {}
    }
}

/// How a deploy's way through the stages ended, as `gantry_deploys_total`
/// counts it (the words of `pipeline::Outcome`). Listed up front so every
/// series exists at 0 and an alert on `increase()` sees the first one.
pub const OUTCOMES: [&str; 5] = ["live", "rolled_back", "rejected", "stopped", "halted"];

/// What the HTTP server serves: one consistent instant of the agent.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    pub word: StateWord,
    pub last_drill_at: Option<Time>,
    /// Every deploy the pipeline remembers, newest first.
    pub history: Arc<Vec<HistoryEntry>>,
    pub rollbacks_total: u64,
    pub drills_total: u64,
    pub deploys_total: BTreeMap<String, u64>,
}

/// Lives in the agent's loop; turns each published state into a snapshot.
pub struct Tracker {
    tx: watch::Sender<Arc<Snapshot>>,
    /// Whether the last published phase was a rollback, or a drill (both
    /// read `rolling_back`; only the first is a rollback).
    rolling: bool,
    drilling: bool,
    /// Deploys already counted (or already decided when the agent started).
    decided: HashSet<String>,
    rollbacks_total: u64,
    drills_total: u64,
    deploys_total: BTreeMap<String, u64>,
    /// What `history` was built from, to rebuild it only on change.
    history_key: (Option<Deploy>, usize, Option<String>),
    history: Arc<Vec<HistoryEntry>>,
}

impl Tracker {
    pub fn new(pipeline: &Pipeline, status: &Status) -> (Self, watch::Receiver<Arc<Snapshot>>) {
        let decided = all_deploys(pipeline)
            .filter(|d| outcome_word(d) != "in_flight")
            .map(|d| d.id.clone())
            .collect();
        let deploys_total = OUTCOMES.iter().map(|o| (o.to_string(), 0)).collect();
        let mut tracker = Self {
            tx: watch::channel(Arc::new(Snapshot {
                status: status.clone(),
                word: pipeline.word(),
                last_drill_at: pipeline.last_drill_at,
                history: Arc::default(),
                rollbacks_total: 0,
                drills_total: 0,
                deploys_total: BTreeMap::new(),
            }))
            .0,
            rolling: matches!(pipeline.phase, Phase::RollingBack { .. }),
            drilling: matches!(pipeline.phase, Phase::Drilling { .. }),
            decided,
            rollbacks_total: 0,
            drills_total: 0,
            deploys_total,
            history_key: (None, usize::MAX, None),
            history: Arc::default(),
        };
        tracker.publish(pipeline, status);
        let rx = tracker.tx.subscribe();
        (tracker, rx)
    }

    /// Called by the loop after every transition and sample, with the
    /// status it just published. Cheap: a status clone, and the history is
    /// rebuilt only when a deploy changed.
    pub fn publish(&mut self, pipeline: &Pipeline, status: &Status) {
        // Every transition is published, so each rollback and drill is
        // seen in its phase at least once.
        let rolling = matches!(pipeline.phase, Phase::RollingBack { .. });
        let drilling = matches!(pipeline.phase, Phase::Drilling { .. });
        self.rollbacks_total += u64::from(rolling && !self.rolling);
        self.drills_total += u64::from(drilling && !self.drilling);
        (self.rolling, self.drilling) = (rolling, drilling);
        let fresh: Vec<(String, String)> = all_deploys(pipeline)
            .filter(|d| !self.decided.contains(&d.id))
            .filter_map(|d| {
                let outcome = outcome_word(d);
                (outcome != "in_flight").then(|| (d.id.clone(), outcome))
            })
            .collect();
        for (id, outcome) in fresh {
            *self.deploys_total.entry(outcome).or_default() += 1;
            self.decided.insert(id);
        }
        // Forget ids the pipeline no longer remembers, so the set stays small.
        if self.decided.len() > 4 * crate::pipeline::machine::HISTORY_LIMIT {
            let known: HashSet<&String> = all_deploys(pipeline).map(|d| &d.id).collect();
            self.decided.retain(|id| known.contains(id));
        }
        let (deploy, count, last) = &self.history_key;
        let changed = deploy.as_ref() != pipeline.phase.deploy()
            || *count != pipeline.history.len()
            || last.as_deref() != pipeline.history.last().map(|d| d.id.as_str());
        if changed {
            self.history = Arc::new(history::list(pipeline, usize::MAX));
            self.history_key = (
                pipeline.phase.deploy().cloned(),
                pipeline.history.len(),
                pipeline.history.last().map(|d| d.id.clone()),
            );
        }
        self.tx.send_replace(Arc::new(Snapshot {
            status: status.clone(),
            word: pipeline.word(),
            last_drill_at: pipeline.last_drill_at,
            history: Arc::clone(&self.history),
            rollbacks_total: self.rollbacks_total,
            drills_total: self.drills_total,
            deploys_total: self.deploys_total.clone(),
        }));
    }
}

fn all_deploys(pipeline: &Pipeline) -> impl Iterator<Item = &Deploy> {
    pipeline.deploys()
}

/// The outcome's word, as `gantry_deploys_total` labels it.
fn outcome_word(deploy: &Deploy) -> String {
    deploy.outcome.word().as_str().to_string()
}

/// Renders the snapshot as text exposition 0.0.4, as of `now`.
pub fn render(snapshot: &Snapshot, now: Time) -> String {
    let status = &snapshot.status;
    let host = escape(&status.host);
    let mut page = Page::default();

    page.family("gantry_up", "gauge", "1 while the agent answers.");
    page.sample("gantry_up", &[("host", &host)], 1.0);

    page.family("gantry_info", "gauge", "The agent's version (always 1).");
    let version = escape(&status.agent_version);
    page.sample(
        "gantry_info",
        &[("host", &host), ("version", &version)],
        1.0,
    );

    page.family(
        "gantry_state",
        "gauge",
        "1 for the pipeline's current state, 0 for every other state.",
    );
    for word in STATES {
        let value = if word == snapshot.word { 1.0 } else { 0.0 };
        page.sample(
            "gantry_state",
            &[("host", &host), ("state", word.as_str())],
            value,
        );
    }

    let stages: Vec<String> = Stage::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{} {s}", i + 1))
        .collect();
    page.family(
        "gantry_stage_index",
        "gauge",
        &format!(
            "The stage whose gate is watched: 0 none, {}.",
            stages.join(", ")
        ),
    );
    let index = status
        .stage
        .and_then(|s| Stage::ALL.iter().position(|x| *x == s))
        .map_or(0.0, |i| (i + 1) as f64);
    page.sample("gantry_stage_index", &[("host", &host)], index);

    if let Some(left) = status.soak_remaining_s {
        page.family(
            "gantry_soak_remaining_seconds",
            "gauge",
            "Seconds left in the current soak, or in live's post-deploy watch.",
        );
        page.sample("gantry_soak_remaining_seconds", &[("host", &host)], left);
    }
    if let Some(total) = status.soak_total_s {
        page.family(
            "gantry_soak_total_seconds",
            "gauge",
            "Length of the current soak, or of live's post-deploy watch.",
        );
        page.sample("gantry_soak_total_seconds", &[("host", &host)], total);
    }

    // Only the checks of the watched stage have series: a check outside
    // its stages neither passes nor fails, and a 0 there would page someone.
    let applying: Vec<_> = status.checks.iter().filter(|c| c.applies).collect();
    let names: Vec<String> = applying.iter().map(|c| escape(&c.name)).collect();
    if !applying.is_empty() {
        page.family(
            "gantry_check_ok",
            "gauge",
            "1 when the check has data and holds; 0 when it fails, has no data yet, or its data went stale.",
        );
        for (c, name) in applying.iter().zip(&names) {
            let severity = escape(&c.severity);
            page.sample(
                "gantry_check_ok",
                &[("host", &host), ("check", name), ("severity", &severity)],
                if c.ok { 1.0 } else { 0.0 },
            );
        }
    }
    // No data is never a number: the series is absent, not 0.
    let valued: Vec<_> = applying
        .iter()
        .zip(&names)
        .filter_map(|(c, name)| match (c.status.as_str(), c.value) {
            ("ok" | "failing", Some(v)) => Some((name, v)),
            _ => None,
        })
        .collect();
    if !valued.is_empty() {
        page.family(
            "gantry_check_value",
            "gauge",
            "The value the check last read; absent while it has no data.",
        );
        for (name, value) in valued {
            page.sample(
                "gantry_check_value",
                &[("host", &host), ("check", name)],
                value,
            );
        }
    }
    if !applying.is_empty() {
        page.family(
            "gantry_check_limit",
            "gauge",
            "The limit the check's value is compared with.",
        );
        for (c, name) in applying.iter().zip(&names) {
            // A band is two bounds: `op="between_lo"` and `op="between_hi"`.
            let bounds = match c.between {
                Some([lo, hi]) => vec![
                    ("between_lo".to_string(), lo),
                    ("between_hi".to_string(), hi),
                ],
                None => vec![(escape(&c.op), c.limit)],
            };
            for (op, limit) in bounds {
                page.sample(
                    "gantry_check_limit",
                    &[("host", &host), ("check", name), ("op", &op)],
                    limit,
                );
            }
        }
        page.family(
            "gantry_check_failures",
            "gauge",
            "Consecutive failed samples of the check (P1 fails the gate at its limit).",
        );
        for (c, name) in applying.iter().zip(&names) {
            page.sample(
                "gantry_check_failures",
                &[("host", &host), ("check", name)],
                f64::from(c.failures),
            );
        }
        page.family(
            "gantry_check_verdict",
            "gauge",
            "1 for the check's verdict now: pass, fail, no data or insufficient (absent while pending).",
        );
        for (c, name) in applying.iter().zip(&names) {
            if let Some(verdict) = &c.verdict {
                let verdict = escape(verdict);
                page.sample(
                    "gantry_check_verdict",
                    &[("host", &host), ("check", name), ("verdict", &verdict)],
                    1.0,
                );
            }
        }
    }
    // Against a baseline: the candidate's median over the baseline's.
    let ratios: Vec<_> = (applying.iter().zip(&names))
        .filter_map(|(c, name)| Some((name, c.ratio.filter(|r| r.is_finite())?)))
        .collect();
    if !ratios.is_empty() {
        page.family(
            "gantry_check_baseline_ratio",
            "gauge",
            "Candidate ÷ baseline of a check judged against a baseline; absent until judged.",
        );
        for (name, ratio) in ratios {
            page.sample(
                "gantry_check_baseline_ratio",
                &[("host", &host), ("check", name)],
                ratio,
            );
        }
    }

    page.family(
        "gantry_rollbacks_total",
        "counter",
        "Rollbacks begun (a failed gate or a person's request) since the agent started.",
    );
    page.sample(
        "gantry_rollbacks_total",
        &[("host", &host)],
        snapshot.rollbacks_total as f64,
    );

    page.family(
        "gantry_drills_total",
        "counter",
        "Drills begun (rehearsed rollbacks, not counted as rollbacks) since the agent started.",
    );
    page.sample(
        "gantry_drills_total",
        &[("host", &host)],
        snapshot.drills_total as f64,
    );

    page.family(
        "gantry_deploys_total",
        "counter",
        "Deploys decided since the agent started, by how they ended: live, rolled_back, rejected, stopped, halted.",
    );
    for (outcome, count) in &snapshot.deploys_total {
        let outcome = escape(outcome);
        page.sample(
            "gantry_deploys_total",
            &[("host", &host), ("outcome", &outcome)],
            *count as f64,
        );
    }

    if let Some(at) = snapshot.last_drill_at {
        page.family(
            "gantry_last_drill_timestamp_seconds",
            "gauge",
            "When the last drill that proved the way back finished (Unix time).",
        );
        page.sample(
            "gantry_last_drill_timestamp_seconds",
            &[("host", &host)],
            at.timestamp_millis() as f64 / 1000.0,
        );
        page.family(
            "gantry_last_drill_age_seconds",
            "gauge",
            "Seconds since the last drill that proved the way back; absent if never drilled. Drill again past 30 days.",
        );
        let age = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
        page.sample("gantry_last_drill_age_seconds", &[("host", &host)], age);
    }

    page.family(
        "gantry_service_running",
        "gauge",
        "1 while the service's process (or unit) runs.",
    );
    page.sample(
        "gantry_service_running",
        &[("host", &host)],
        if status.service.running { 1.0 } else { 0.0 },
    );

    page.family(
        "gantry_audit_seq",
        "gauge",
        "Sequence number of the last audit log entry (0 for an empty log).",
    );
    let seq = status.audit_head.as_ref().map_or(0, |h| h.seq);
    page.sample("gantry_audit_seq", &[("host", &host)], seq as f64);

    page.0
}

/// A page being written. Writing to a `String` cannot fail, hence the
/// ignored `write!` results.
#[derive(Default)]
struct Page(String);

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    /// Label values must already be escaped.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"{value}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }
}

use crate::prom::escape_label_value as escape;

/// A float as the text format spells it (Go's strconv forms for the
/// specials; Rust's shortest round-trip form otherwise).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CheckView, ServiceView};

    fn status(host: &str) -> Status {
        let check = |name: &str, status: &str, value: Option<f64>| CheckView {
            name: name.into(),
            ok: status == "ok",
            status: status.into(),
            value,
            op: "<".into(),
            limit: 3.0,
            severity: "P0".into(),
            failures: 0,
            failures_allowed: 1,
            age_s: None,
            applies: status != "n/a",
            ..CheckView::default()
        };
        Status {
            host: host.into(),
            state: "paper".into(),
            deploy_id: Some("d-1".into()),
            current_release: None,
            current_digest: None,
            promotion: None,
            deploy_release: None,
            deploy_digest: None,
            previous_release: None,
            stage_started_at: None,
            soak_remaining_s: Some(4.5),
            soak_total_s: Some(10.0),
            soak_paused: None,
            stage: Some(Stage::Paper),
            checks: vec![
                check("drawdown", "ok", Some(0.25)),
                check("pnl \"band\"", "no data", Some(7.0)),
                check("canary", "n/a", None),
            ],
            last_drill_at: None,
            awaiting_approval: None,
            halted_reason: None,
            runbook: None,
            estop: None,
            tier: None,
            submitted_by: None,
            deploy_reason: None,
            commit: None,
            outcome: None,
            service: ServiceView {
                kind: "command".into(),
                running: true,
                pid: Some(7),
                ..Default::default()
            },
            audit_head: None,
            sampled_at: None,
            scrape_error: None,
            freeze: None,
            agent_version: "0.1.0".into(),
            now: String::new(),
        }
    }

    #[test]
    fn page_parses_and_says_no_data_by_absence() {
        let (_, rx) = Tracker::new(&Pipeline::default(), &status("lab \"1\"\n"));
        let mut snapshot = (**rx.borrow()).clone();
        snapshot.word = StateWord::Paper;
        let page = render(&snapshot, chrono::Utc::now());
        let parsed = crate::prom::parse(page.as_bytes()).expect(&page);
        let host = "lab \"1\"\n".to_string();
        let h = |k: &str, v: &str| vec![("host".to_string(), host.clone()), (k.into(), v.into())];
        use crate::prom::Lookup::Found;
        assert_eq!(
            parsed.lookup("gantry_state", &h("state", "paper")),
            Found(1.0)
        );
        assert_eq!(
            parsed.lookup("gantry_state", &h("state", "idle")),
            Found(0.0)
        );
        assert_eq!(parsed.lookup("gantry_stage_index", &[]), Found(2.0));
        assert_eq!(
            parsed.lookup("gantry_check_value", &h("check", "drawdown")),
            Found(0.25)
        );
        assert_eq!(
            parsed.lookup("gantry_check_ok", &h("check", "pnl \"band\"")),
            Found(0.0)
        );
        // Stale data is no data: no value series.
        assert_eq!(
            parsed.lookup("gantry_check_value", &h("check", "pnl \"band\"")),
            crate::prom::Lookup::Missing
        );
        // A check outside the watched stage has no series at all.
        assert!(!page.contains("check=\"canary\""), "{page}");
        assert!(!page.contains("gantry_last_drill_age_seconds"), "{page}");
        assert_eq!(
            parsed.lookup("gantry_deploys_total", &h("outcome", "rolled_back")),
            Found(0.0)
        );
    }
}

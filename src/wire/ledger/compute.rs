//! The ledger computed from the audit log alone, in one pass, oldest
//! first. A deploy counts when its `deploy.submit` falls in the window; its
//! end is the first of `deploy.rejected`, `rollback.start`, `halt`,
//! `estop` or `deploy.stopped` that names it (a later entry naming the same
//! deploy, e.g. an emergency stop after its rollback, does not end it
//! twice). Stage catches, recoveries, approvals and drills count by their
//! own entries in the window.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Alerts, Approvals, Caught, Deploys, Drills, Durations, Report, SLA_MS, rate};
use crate::pipeline::{AuditKind, Time};
use crate::stamp::rfc3339;
use crate::wire::AuditEntry;

/// One line of alerts.jsonl, as much as the ledger reads of it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertLine {
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub priority: String,
    /// `dropped` for an alert the webhook queue had no room for.
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Rejected,
    RolledBack,
    Halted,
    Stopped,
}

#[derive(Default)]
struct Track {
    submitted: Option<Time>,
    live: Option<Time>,
    end: Option<(End, Time)>,
}

/// The report for `host` over `[since, until]` (`since` `None`: the whole
/// log). `entries` in log order; lines that do not parse are the caller's
/// to skip.
pub fn compute(
    host: &str,
    entries: &[AuditEntry],
    alerts: &[AlertLine],
    since: Option<Time>,
    until: Time,
) -> Report {
    let in_window = |at: Time| since.is_none_or(|s| at >= s) && at <= until;
    let mut tracks: HashMap<&str, Track> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut recovery = Vec::new();
    let mut rollback_started: Option<Time> = None;
    let mut caught = Caught::default();
    let mut awaiting: HashMap<&str, Time> = HashMap::new();
    let mut approvals = Approvals::default();
    let mut waits = Vec::new();
    let mut drills = Drills {
        sla_ms: SLA_MS,
        ..Drills::default()
    };
    let mut drill_back_ms: Option<f64> = None;
    let mut drill_times = Vec::new();
    let mut read = 0;
    for entry in entries {
        let Some(at) = time(&entry.at).filter(|at| in_window(*at)) else {
            continue;
        };
        read += 1;
        let deploy = entry.deploy_id.as_deref();
        if entry.kind == AuditKind::DeploySubmit
            && let Some(id) = deploy
        {
            tracks.entry(id).or_default().submitted = Some(at);
            order.push(id);
        }
        if let Some(track) = deploy.and_then(|id| tracks.get_mut(id)) {
            let end = match entry.kind {
                AuditKind::DeployRejected => Some(End::Rejected),
                AuditKind::RollbackStart => Some(End::RolledBack),
                AuditKind::Halt | AuditKind::Estop => Some(End::Halted),
                AuditKind::DeployStopped => Some(End::Stopped),
                _ => None,
            };
            if entry.kind == AuditKind::StageLive && track.end.is_none() {
                track.live.get_or_insert(at);
            }
            if let Some(end) = end
                && track.end.is_none()
            {
                track.end = Some((end, at));
            }
        }
        match &entry.kind {
            AuditKind::RollbackStart => rollback_started = Some(at),
            AuditKind::RollbackDone => {
                let measured = total_ms(entry).map(|ms| ms / 1000.0);
                let by_clock = rollback_started.map(|from| seconds(from, at));
                if let Some(s) = measured.or(by_clock) {
                    recovery.push(s);
                }
                rollback_started = None;
            }
            AuditKind::GateFail => match stage_of(entry) {
                Some("shadow") => caught.shadow += 1,
                Some("paper") => caught.paper += 1,
                Some("canary") => caught.canary += 1,
                Some("live") => caught.live += 1,
                _ => {}
            },
            AuditKind::DeployRejected => caught.validate += 1,
            AuditKind::SmokeFail => caught.smoke += 1,
            AuditKind::StageAwait => {
                if let Some(id) = deploy {
                    awaiting.insert(id, at);
                }
            }
            AuditKind::Approve => {
                approvals.approved += 1;
                if let Some(from) = deploy.and_then(|id| awaiting.remove(id)) {
                    waits.push(seconds(from, at));
                }
            }
            AuditKind::ApprovalEscalated => approvals.escalated += 1,
            AuditKind::DrillStart => {
                drills.started += 1;
                drill_back_ms = None;
            }
            AuditKind::DrillBack => drill_back_ms = total_ms(entry),
            AuditKind::DrillDone => {
                let passed = entry.message.starts_with("drill passed");
                if passed {
                    drills.passed += 1;
                } else {
                    drills.failed += 1;
                }
                if let Some(ms) = total_ms(entry).or(drill_back_ms.take()) {
                    drill_times.push(ms / 1000.0);
                    if passed && ms <= SLA_MS {
                        drills.within_sla += 1;
                    }
                }
                drills.last_at = Some(entry.at.clone());
            }
            _ => {}
        }
    }
    let mut deploys = Deploys::default();
    let mut lead = Vec::new();
    for track in order.iter().filter_map(|id| tracks.remove(id)) {
        deploys.submitted += 1;
        if let (Some(from), Some(live)) = (track.submitted, track.live) {
            deploys.reached_live += 1;
            lead.push(seconds(from, live));
        }
        match track.end {
            Some((End::Rejected, _)) => deploys.rejected += 1,
            Some((End::Stopped, _)) => deploys.stopped += 1,
            Some((end, at)) => {
                if end == End::RolledBack {
                    deploys.rolled_back += 1;
                } else {
                    deploys.halted += 1;
                }
                if track.live.is_some_and(|live| live <= at) {
                    deploys.failed_after_live += 1;
                }
            }
            None if track.live.is_none() => deploys.in_flight += 1,
            None => {}
        }
    }
    approvals.wait = Durations::of(waits);
    drills.timing = Durations::of(drill_times);
    Report {
        host: host.to_string(),
        since: since.map(rfc3339),
        until: rfc3339(until),
        entries: read,
        change_failure_rate: rate(deploys.failed_after_live, deploys.reached_live),
        deploys,
        lead_time: Durations::of(lead),
        recovery: Durations::of(recovery),
        caught,
        approvals,
        drills,
        alerts: count_alerts(alerts, in_window),
    }
}

fn count_alerts(lines: &[AlertLine], in_window: impl Fn(Time) -> bool) -> Alerts {
    let mut alerts = Alerts::default();
    for line in lines {
        if !time(&line.at).is_some_and(&in_window) {
            continue;
        }
        if line.kind.as_deref() == Some("dropped") {
            alerts.dropped += 1;
            continue;
        }
        match line.priority.as_str() {
            "P0" => alerts.p0 += 1,
            "P1" => alerts.p1 += 1,
            "P2" => alerts.p2 += 1,
            "P3" => alerts.p3 += 1,
            _ => {}
        }
    }
    alerts
}

/// The stage a gate failed in: the state the entry was written in (an
/// approval waits on the canary gate), else the message's first word.
fn stage_of(entry: &AuditEntry) -> Option<&str> {
    let word = match entry.state.as_str() {
        "awaiting_approval" => "canary",
        "shadow" | "paper" | "canary" | "live" => entry.state.as_str(),
        _ => entry.message.split_whitespace().next()?,
    };
    matches!(word, "shadow" | "paper" | "canary" | "live").then_some(word)
}

/// The rollback's measured breach → healthy, as the agent wrote it.
fn total_ms(entry: &AuditEntry) -> Option<f64> {
    entry
        .detail
        .as_ref()?
        .get("total_ms")?
        .as_f64()
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
}

fn time(text: &str) -> Option<Time> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn seconds(from: Time, to: Time) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

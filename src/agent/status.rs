//! Building `status` (wire::Status) from the pipeline and what the agent saw.

use super::config::AgentConfig;
use crate::pipeline::{CheckStatus, Phase, Pipeline, Stage, Time};
use crate::stamp::rfc3339;
use crate::wire::{AuditHead, Awaiting, CheckView, ServiceView, Status};

pub struct Seen<'a> {
    pub service_kind: &'a str,
    pub running: bool,
    pub pid: Option<u32>,
    pub audit_head: Option<AuditHead>,
    pub sampled_at: Option<Time>,
    pub scrape_error: Option<String>,
}

pub fn build(config: &AgentConfig, pipeline: &Pipeline, seen: Seen<'_>, now: Time) -> Status {
    let deploy = pipeline.in_flight().or(pipeline.deploy.as_ref());
    let awaiting_approval = match (&pipeline.phase, &pipeline.deploy) {
        (Phase::AwaitingApproval { .. }, Some(d)) => Some(Awaiting {
            deploy_id: d.id.clone(),
            release: d.release.id.clone(),
            digest: d.release.digest.clone(),
            stage: Stage::Canary,
        }),
        _ => None,
    };
    let soak_total_s = match &pipeline.phase {
        Phase::Soaking { soak, .. } => Some(soak.total_ms as f64 / 1000.0),
        Phase::Live { watch, .. } | Phase::Drilling { watch, .. } => {
            Some(watch.total_ms as f64 / 1000.0)
        }
        _ => None,
    };
    Status {
        host: config.host.clone(),
        state: pipeline.word(),
        deploy_id: deploy.map(|d| d.id.clone()),
        current_release: pipeline.serving.as_ref().map(|r| r.id.clone()),
        current_digest: pipeline.serving.as_ref().map(|r| r.digest.clone()),
        promotion: deploy.and_then(|d| d.promotion.clone()),
        deploy_release: deploy.map(|d| d.release.id.clone()),
        deploy_digest: deploy.map(|d| d.release.digest.clone()),
        previous_release: pipeline.known_good.as_ref().map(|r| r.id.clone()),
        stage_started_at: pipeline.stage_started_at().map(rfc3339),
        soak_remaining_s: pipeline.soak_remaining_ms().map(|ms| ms as f64 / 1000.0),
        soak_total_s,
        stage: pipeline.watched_stage(),
        checks: checks(config, pipeline, now),
        last_drill_at: pipeline.last_drill_at.map(rfc3339),
        awaiting_approval,
        halted_reason: match &pipeline.phase {
            Phase::Halted { reason, .. } => Some(reason.clone()),
            _ => None,
        },
        estop: pipeline.stop.as_ref().map(Into::into),
        tier: deploy.map(|d| d.tier),
        submitted_by: deploy.map(|d| d.submitted_by.clone()),
        deploy_reason: deploy.map(|d| d.reason.clone()),
        outcome: deploy.map(|d| (&d.outcome).into()),
        service: ServiceView {
            kind: seen.service_kind.to_string(),
            running: seen.running,
            pid: seen.pid,
        },
        audit_head: seen.audit_head,
        sampled_at: seen.sampled_at.map(rfc3339),
        scrape_error: seen.scrape_error,
        freeze: super::freeze::active(&config.freezes, now).map(super::freeze::Window::describe),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        now: rfc3339(now),
    }
}

/// Every configured check; those outside the watched stage show "n/a".
pub fn checks(config: &AgentConfig, pipeline: &Pipeline, now: Time) -> Vec<CheckView> {
    let gate = pipeline.gate.as_ref();
    config
        .checks
        .iter()
        .enumerate()
        .map(|(index, check)| {
            let spec = &check.spec;
            let applies = gate.is_some_and(|g| spec.applies_to(g.stage));
            let state = gate.and_then(|g| g.checks.get(index));
            let (status, value, failures, age_s) = match (applies, state) {
                (true, Some(s)) => (
                    s.status,
                    s.value,
                    s.failures,
                    s.data_at
                        .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
                ),
                (true, None) => (CheckStatus::Pending, None, 0, None),
                (false, _) => (CheckStatus::NotApplicable, None, 0, None),
            };
            CheckView {
                name: spec.name.clone(),
                ok: status == CheckStatus::Ok,
                status,
                value,
                op: spec.comparison.symbol().to_string(),
                limit: spec.limit,
                severity: spec.severity.to_string(),
                failures,
                failures_allowed: spec.failures_allowed(),
                age_s,
                applies,
            }
        })
        .collect()
}

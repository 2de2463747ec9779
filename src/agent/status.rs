//! Building `status` (wire::Status) from the pipeline and what the agent saw.

use super::config::AgentConfig;
use crate::pipeline::{BaselineSource, CheckStatus, Condition, Phase, Pipeline, Stage, Time};
use crate::stamp::rfc3339;
use crate::wire::{AuditHead, Awaiting, CheckView, ServiceView, Status};

pub struct Seen<'a> {
    pub service_kind: &'a str,
    pub running: bool,
    pub pid: Option<u32>,
    /// The kind's own facts: a unit's name, start and Result=.
    pub facts: super::service::Facts,
    pub audit_head: Option<AuditHead>,
    pub sampled_at: Option<Time>,
    pub scrape_error: Option<String>,
    /// Why each check had no value at the last sample, in config order.
    pub reasons: &'a [Option<String>],
    /// The last drill and its timings (the agent's, or its audit log's).
    pub last_drill: Option<crate::wire::drill::DrillView>,
}

pub fn build(config: &AgentConfig, pipeline: &Pipeline, seen: Seen<'_>, now: Time) -> Status {
    let deploy = pipeline.in_flight().or(pipeline.deploy());
    let awaiting_approval = match &pipeline.phase {
        Phase::AwaitingApproval { deploy: d, .. } => Some(Awaiting {
            deploy_id: d.id.clone(),
            release: d.release.id.clone(),
            digest: d.release.digest.clone(),
            stage: Stage::Canary,
        }),
        _ => None,
    };
    let soak_total_s = match &pipeline.phase {
        Phase::Soaking { soak, .. } => Some(soak.total_ms as f64 / 1000.0),
        Phase::Live { watch, .. } => Some(watch.total_ms as f64 / 1000.0),
        Phase::Drilling(drill) => Some(drill.watch.total_ms as f64 / 1000.0),
        // What the canary soaked, for the approver.
        Phase::AwaitingApproval { deploy, .. } => deploy
            .stages
            .iter()
            .rfind(|s| s.stage == Stage::Canary)
            .and_then(|s| Some((s.ended_at? - s.started_at).num_milliseconds() as f64 / 1000.0)),
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
        soak_paused: soak_paused(config, pipeline),
        stage: pipeline.watched_stage(),
        checks: checks(config, pipeline, seen.reasons, now),
        last_drill_at: pipeline.last_drill_at.map(rfc3339),
        last_drill: seen.last_drill,
        live_since: pipeline
            .first_live_at
            .or(match pipeline.phase {
                Phase::Live { since, .. } => Some(since),
                _ => None,
            })
            .map(rfc3339),
        awaiting_approval,
        halted_reason: match &pipeline.phase {
            Phase::Halted { reason, .. } => Some(reason.clone()),
            _ => None,
        },
        runbook: halted_runbook(config, pipeline),
        estop: pipeline.stop.as_ref().map(Into::into),
        tier: deploy.map(|d| d.tier),
        submitted_by: deploy.map(|d| d.submitted_by.clone()),
        deploy_reason: deploy.map(|d| d.reason.clone()),
        commit: deploy.and_then(|d| d.commit.clone()),
        outcome: deploy.map(|d| (&d.outcome).into()),
        service: ServiceView {
            kind: seen.service_kind.to_string(),
            running: seen.running,
            pid: seen.pid,
            unit: seen.facts.unit,
            started_at: seen.facts.started_at.map(rfc3339),
            result: seen.facts.result,
            container_name: seen.facts.container_name,
            image: seen.facts.image,
            image_id: seen.facts.image_id,
        },
        audit_head: seen.audit_head,
        sampled_at: seen.sampled_at.map(rfc3339),
        scrape_error: seen.scrape_error,
        freeze: super::freeze::active(&config.freezes, now).map(super::freeze::Window::describe),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        now: rfc3339(now),
    }
}

/// While halted: the runbook for a stop not proven flat, else for a halt
/// no person asked for (a rollback that failed).
fn halted_runbook(config: &AgentConfig, pipeline: &Pipeline) -> Option<crate::wire::HostRunbook> {
    use crate::agent::config::runbooks::{NOT_FLAT, ROLLBACK_FAILED};
    if !matches!(pipeline.phase, Phase::Halted { .. }) {
        return None;
    }
    let stop: Option<crate::wire::estop::EstopView> = pipeline.stop.as_ref().map(Into::into);
    let not_flat = stop
        .as_ref()
        .is_some_and(|s| s.settled() && !s.proven_flat());
    let by_fault = stop.as_ref().is_none_or(|s| s.by.is_none());
    let name = if not_flat {
        NOT_FLAT
    } else if by_fault {
        ROLLBACK_FAILED
    } else {
        return None;
    };
    config.runbooks.get(name).map(|r| crate::wire::HostRunbook {
        name: name.to_string(),
        runbook: r.shown().to_string(),
    })
}

/// Why a soak does not count now, in words for the screen.
fn soak_paused(config: &AgentConfig, pipeline: &Pipeline) -> Option<String> {
    let Phase::Soaking { soak, gate, .. } = &pipeline.phase else {
        return None;
    };
    soak.paused.clone().or_else(|| {
        let thin = (config.checks.iter().zip(&gate.checks))
            .find(|(_, state)| state.status == CheckStatus::Insufficient)?;
        Some(format!(
            "soak held: {} has too little baseline evidence",
            thin.0.spec.name
        ))
    })
}

/// Every configured check; those outside the watched stage show "n/a".
pub fn checks(
    config: &AgentConfig,
    pipeline: &Pipeline,
    reasons: &[Option<String>],
    now: Time,
) -> Vec<CheckView> {
    let gate = pipeline.gate();
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
            let rule = spec.baseline.as_ref().map(|b| &b.rule);
            let (op, limit, between) = match spec.condition {
                Some(Condition::Compare { comparison, limit }) => {
                    (comparison.symbol().to_string(), limit, None)
                }
                Some(Condition::Between { lo, hi }) => ("between".to_string(), lo, Some([lo, hi])),
                None => match rule.map(|r| (r.max_ratio, r.max_delta)) {
                    Some((Some(ratio), _)) => ("baseline".to_string(), ratio, None),
                    Some((None, Some(delta))) => ("baseline_delta".to_string(), delta, None),
                    _ => ("baseline".to_string(), 0.0, None),
                },
            };
            let judgement = match applies {
                true => state.and_then(|s| s.judgement.as_ref()),
                false => None,
            };
            let detail = match status {
                CheckStatus::NoData => reasons
                    .get(index)
                    .cloned()
                    .flatten()
                    .or_else(|| judgement.map(|j| j.detail.clone())),
                _ => None,
            };
            let verdict = match status {
                CheckStatus::Ok => Some("pass"),
                CheckStatus::Failing => Some("fail"),
                CheckStatus::NoData => Some("no data"),
                CheckStatus::Insufficient => Some("insufficient"),
                _ => None,
            };
            CheckView {
                name: spec.name.clone(),
                ok: status == CheckStatus::Ok,
                status,
                value,
                op,
                limit,
                between,
                action: spec.action,
                metric: check.expr.clone(),
                detail,
                baseline_source: spec.baseline.as_ref().map(|b| match &b.source {
                    BaselineSource::KnownGood => "known_good".to_string(),
                    BaselineSource::Url(url) => url.clone(),
                }),
                baseline: judgement.and_then(|j| j.baseline),
                ratio: judgement.and_then(|j| j.ratio),
                delta: judgement.and_then(|j| j.delta),
                samples: judgement.map(|j| [j.samples.0, j.samples.1]),
                verdict: verdict.map(str::to_string),
                evidence: judgement.map(|j| j.detail.clone()),
                severity: spec.severity.to_string(),
                failures,
                failures_allowed: spec.failures_allowed(),
                age_s,
                applies,
                runbook: config
                    .runbooks
                    .get(&spec.name)
                    .map(|r| r.shown().to_string()),
            }
        })
        .collect()
}

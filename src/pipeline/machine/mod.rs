//! The deploy state machine: `Pipeline::step(&config, &event, now)`.
//!
//! Driving contract, for the agent (the only caller besides tests):
//! 1. Load the persisted `Pipeline` (or `Pipeline::default()` on a new host)
//!    and step `Event::Resumed` before anything else.
//! 2. Step each command as its event. `Ok(Transition)` carries the next
//!    pipeline and the effects to perform *in order*; `Audit` effects come
//!    first so the record is on disk before the action it records. If an
//!    audit append fails, drop the transition and refuse the command.
//!    `Err(Refusal)` means nothing changed.
//! 3. Sample the service on an interval, and at once when its process
//!    exits, and step `Event::Sampled`. An `Activate` may finish later:
//!    step no sample until the new process runs, and
//!    `Event::ActivationFailed` if it cannot start.
//! 4. After performing `Effect::Validate`, step `Event::Validated`.
//!
//! The machine never reads a clock or touches a file: time is the `now`
//! argument, facts arrive as events, actions leave as effects.

mod deploying;
mod drilling;
mod events;
mod evidence;
mod halting;
mod lived;
mod phase;
mod records;
mod rollback;
mod smoking;
mod watching;

pub use events::{
    ApprovalRequest, Effect, Event, Note, Pending, Priority, Refusal, RefusalKind, RestoreRequest,
    Submission, Transition,
};
pub use evidence::{EvidenceRule, EvidenceSeen};
pub use lived::LiveStint;
pub use phase::{Drill, DrillStep, Halt, Phase, StateWord};
pub use records::{
    Approval, Config, Deploy, FlatResult, FlatVerdict, KillResult, Outcome, OutcomeWord,
    ReleaseRef, Soak, StageRecord, StageResult, StopRecord,
};

use serde::{Deserialize, Serialize};

use super::Time;
use super::audit_kind::AuditKind;
use super::baseline::LiveWindow;
use super::gate::Gate;
use super::policy::{Actor, Op, Role, Stage, Tier};

/// Everything the machine knows; persisted whole in deploy_state.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub phase: Phase,
    /// What current.env points at.
    pub serving: Option<ReleaseRef>,
    /// What previous.env points at: where a rollback goes.
    pub known_good: Option<ReleaseRef>,
    /// Finished deploys and rejected candidates, newest last (bounded).
    /// The deploy being served is in its phase, never here.
    pub history: Vec<Deploy>,
    pub deploys_started: u64,
    pub last_drill_at: Option<Time>,
    /// When a release first went live on this host: a drill is overdue 30
    /// days after this, not after the agent's start. Absent in state
    /// files from before it was kept (status then falls back to the live
    /// stage's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_live_at: Option<Time>,
    /// When the last emergency stop was stepped: recovery applies a
    /// recorded stop only if it is newer (docs/layout.md).
    #[serde(default)]
    pub last_estop_at: Option<Time>,
    /// The last halt, its kill command and whether the venue was verified
    /// flat (status `estop`).
    #[serde(default)]
    pub stop: Option<StopRecord>,
    /// The checks' values while a release served live, for the serving
    /// release and the known-good (the `known_good` baseline), newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<LiveWindow>,
}

/// Finished deploys kept in deploy_state.json.
pub const HISTORY_LIMIT: usize = 50;

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            serving: None,
            known_good: None,
            history: Vec::new(),
            deploys_started: 0,
            last_drill_at: None,
            first_live_at: None,
            last_estop_at: None,
            stop: None,
            windows: Vec::new(),
        }
    }
}

impl Pipeline {
    pub fn word(&self) -> StateWord {
        word_of(&self.phase)
    }

    /// The stage whose gate is watched (awaiting approval watches canary).
    pub fn watched_stage(&self) -> Option<Stage> {
        self.gate().map(|g| g.stage)
    }

    /// The gate being watched, if any.
    pub fn gate(&self) -> Option<&Gate> {
        self.phase.gate()
    }

    /// The deploy being served, or else the last one that started (a
    /// rejected candidate never started): what status and the audit name.
    pub fn deploy(&self) -> Option<&Deploy> {
        self.phase
            .deploy()
            .or_else(|| self.history.iter().rev().find(|d| !d.stages.is_empty()))
    }

    /// Every deploy the pipeline remembers: history, then the one being
    /// served (a validating candidate is not a deploy yet).
    pub fn deploys(&self) -> impl Iterator<Item = &Deploy> {
        self.history.iter().chain(self.phase.deploy())
    }

    /// Time left in the current soak, or in the live watch window.
    pub fn soak_remaining_ms(&self) -> Option<u64> {
        match &self.phase {
            Phase::Soaking { soak, .. } => Some(soak.remaining_ms()),
            Phase::Live { watch, .. } => Some(watch.remaining_ms()),
            Phase::Drilling(drill) => Some(drill.watch.remaining_ms()),
            Phase::Validating { prior, .. } => match prior.as_ref() {
                Phase::Live { watch, .. } => Some(watch.remaining_ms()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The next instant at which the machine decides something by time
    /// alone: a soak or watch window ending (if the gate holds until then),
    /// a rollback's or drill's verify deadline. The agent samples then, not
    /// up to an interval later. A deadline is judged at a sample, so one
    /// already past waits for the next sample.
    pub fn next_deadline(&self) -> Option<Time> {
        let soak_end = |soak: &Soak| {
            let from = soak.healthy_at?;
            let left = i64::try_from(soak.remaining_ms()).ok()?;
            Some(from + chrono::Duration::milliseconds(left))
        };
        let watch_end = |watch: &Soak, done: bool| if done { None } else { soak_end(watch) };
        match &self.phase {
            Phase::Soaking { soak, .. } => soak_end(soak),
            Phase::Live {
                watch, watch_done, ..
            } => watch_end(watch, *watch_done),
            Phase::RollingBack { deadline, .. } => Some(*deadline),
            Phase::Drilling(drill) => [
                Some(drill.deadline),
                watch_end(&drill.watch, drill.watch_done),
            ]
            .into_iter()
            .flatten()
            .min(),
            Phase::Validating { prior, .. } => match prior.as_ref() {
                Phase::Live {
                    watch, watch_done, ..
                } => watch_end(watch, *watch_done),
                _ => None,
            },
            _ => None,
        }
    }

    /// When the current stage (or state) began.
    pub fn stage_started_at(&self) -> Option<Time> {
        match &self.phase {
            Phase::Idle => None,
            Phase::Validating { prior, .. } => phase_since(prior),
            other => phase_since(other),
        }
    }

    /// The deploy in flight, if any (a submit would be refused).
    pub fn in_flight(&self) -> Option<&Deploy> {
        match &self.phase {
            Phase::Validating { candidate, .. } => Some(candidate),
            Phase::Soaking { deploy, .. }
            | Phase::AwaitingApproval { deploy, .. }
            | Phase::RollingBack { deploy, .. } => Some(deploy),
            Phase::Drilling(drill) => Some(&drill.deploy),
            Phase::Smoking { .. } => None,
            Phase::Idle | Phase::Live { .. } | Phase::RolledBack { .. } | Phase::Halted { .. } => {
                None
            }
        }
    }

    /// Steps the machine. On `Err` nothing changed.
    pub fn step(&self, config: &Config, event: &Event, now: Time) -> Result<Transition, Refusal> {
        let mut next = self.clone();
        let mut out = Vec::new();
        next.apply(config, event, now, &mut out)?;
        Ok(Transition {
            next,
            effects: checkpoint_last(out),
        })
    }

    fn apply(
        &mut self,
        config: &Config,
        event: &Event,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        match event {
            Event::Resumed => {
                self.resume(config, now, out);
                Ok(())
            }
            Event::Submit(submission) => {
                let Submission {
                    tier,
                    by,
                    reason,
                    override_freeze,
                    ..
                } = submission;
                authorize(by, Op::Submit)?;
                require_reason(reason)?;
                if *tier == Tier::Aggressive && by.role != Role::Admin {
                    return Err(Refusal::new(
                        RefusalKind::Forbidden,
                        "tier aggressive needs an admin to start",
                    ));
                }
                if *override_freeze && by.role != Role::Admin {
                    return Err(Refusal::new(
                        RefusalKind::Forbidden,
                        format!(
                            "role {} may not override a deploy freeze (needs admin)",
                            by.role
                        ),
                    ));
                }
                self.submit(config, submission, now, out)
            }
            Event::Validated { passed, detail } => {
                self.validated(config, *passed, detail, now, out)
            }
            Event::Sampled(sample) => {
                self.sampled(config, sample, now, out);
                Ok(())
            }
            Event::Approve(approval) => {
                let ApprovalRequest { by, reason, .. } = approval;
                authorize(by, Op::Approve)?;
                require_reason(reason)?;
                self.approve(config, approval, now, out)
            }
            Event::Rollback { by, reason, to } => {
                authorize(by, Op::Rollback)?;
                require_reason(reason)?;
                match to {
                    Some(to) => self.rollback_to_requested(config, by, reason, to, now, out),
                    None => self.rollback_requested(config, by, reason, now, out),
                }
            }
            Event::Estop { by, reason } => {
                authorize(by, Op::Estop)?;
                require_reason(reason)?;
                self.last_estop_at = Some(now);
                let cause = Halt::Estop {
                    by: by.clone(),
                    reason: reason.clone(),
                };
                self.halt(cause, now, out);
                Ok(())
            }
            Event::Rearm { by, reason } => {
                authorize(by, Op::Rearm)?;
                require_reason(reason)?;
                self.rearm(by, reason, now, out)
            }
            Event::Drill { by, reason } => {
                authorize(by, Op::Drill)?;
                require_reason(reason)?;
                self.drill(config, by, reason, now, out)
            }
            Event::Restore(request) => {
                authorize(&request.by, Op::Restore)?;
                require_reason(&request.reason)?;
                self.restore(config, request, now, out)
            }
            Event::Killed {
                ok,
                skipped,
                summary,
            } => self.killed(*ok, *skipped, summary, out),
            Event::FlatChecked { verdict, summary } => {
                self.flat_checked(*verdict, summary, now, out)
            }
            Event::Smoke {
                release,
                by,
                reason,
                freeze,
                override_freeze,
            } => {
                authorize(by, Op::Submit)?;
                require_reason(reason)?;
                if let Some(window) = freeze
                    && !override_freeze
                {
                    return Err(Refusal::new(
                        RefusalKind::Policy,
                        format!(
                            "deploy freeze {window} is active; an admin may override with --override-freeze and a reason"
                        ),
                    ));
                }
                let overridden = freeze.as_deref().filter(|_| *override_freeze);
                self.smoke(release, by, reason, overridden, now, out)
            }
            Event::SmokeFinished { passed, detail } => {
                self.smoke_finished(config, *passed, detail, now, out)
            }
            Event::ActivationFailed {
                release,
                stage,
                detail,
            } => self.activation_failed(config, release, *stage, detail, now, out),
        }
    }

    fn note(&self, kind: AuditKind, message: impl Into<String>) -> Note {
        Note {
            kind,
            actor: None,
            reason: None,
            message: message.into(),
            deploy_id: self.deploy().map(|d| d.id.clone()),
            release: self.serving.as_ref().map(|r| r.id.clone()),
            state: self.word(),
        }
    }

    fn human_note(
        &self,
        kind: AuditKind,
        by: &Actor,
        reason: &str,
        message: impl Into<String>,
    ) -> Note {
        Note {
            actor: Some(by.clone()),
            reason: Some(reason.to_string()),
            ..self.note(kind, message)
        }
    }

    fn serving_id(&self) -> &str {
        self.serving.as_ref().map_or("(none)", |r| r.id.as_str())
    }

    /// `d-<time>-<n>`: unique on this host, in order.
    fn next_deploy_id(&mut self, now: Time) -> String {
        self.deploys_started += 1;
        format!(
            "d-{}-{}",
            now.format("%Y%m%dT%H%M%SZ"),
            self.deploys_started
        )
    }

    fn push_history(&mut self, deploy: Deploy) {
        self.history.push(deploy);
        if self.history.len() > HISTORY_LIMIT {
            let excess = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..excess);
        }
    }
}

fn word_of(phase: &Phase) -> StateWord {
    match phase {
        Phase::Idle => StateWord::Idle,
        Phase::Validating { .. } => StateWord::Validating,
        Phase::Soaking { stage, .. } => match stage {
            Stage::Shadow => StateWord::Shadow,
            Stage::Paper => StateWord::Paper,
            Stage::Canary | Stage::Live => StateWord::Canary,
        },
        Phase::AwaitingApproval { .. } => StateWord::AwaitingApproval,
        Phase::Live { .. } => StateWord::Live,
        Phase::RollingBack { .. } | Phase::Drilling(_) => StateWord::RollingBack,
        Phase::RolledBack { .. } => StateWord::RolledBack,
        Phase::Halted { .. } => StateWord::Halted,
        Phase::Smoking { .. } => StateWord::Smoke,
    }
}

fn phase_since(phase: &Phase) -> Option<Time> {
    match phase {
        Phase::Idle | Phase::Validating { .. } => None,
        Phase::Soaking { soak, .. } => Some(soak.started_at),
        Phase::AwaitingApproval { since, .. }
        | Phase::Live { since, .. }
        | Phase::RollingBack { since, .. }
        | Phase::RolledBack { since, .. }
        | Phase::Halted { since, .. }
        | Phase::Smoking { since, .. } => Some(*since),
        Phase::Drilling(drill) => Some(drill.since),
    }
}

fn authorize(by: &Actor, op: Op) -> Result<(), Refusal> {
    if by.role >= op.least_role() {
        Ok(())
    } else {
        Err(Refusal::new(
            RefusalKind::Forbidden,
            format!(
                "role {} may not {} (needs {})",
                by.role,
                op.as_str(),
                op.least_role()
            ),
        ))
    }
}

fn require_reason(reason: &str) -> Result<(), Refusal> {
    if reason.trim().is_empty() {
        Err(Refusal::new(
            RefusalKind::Invalid,
            "a reason is required for every human action",
        ))
    } else {
        Ok(())
    }
}

fn unexpected(fact: &'static str, expected: &'static str, got: StateWord) -> Refusal {
    Refusal::new(
        RefusalKind::Unexpected {
            fact,
            expected,
            got,
        },
        format!("{fact} arrived in state {got}; expected {expected}"),
    )
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// "2.0s", "5m", "1h" for audit messages.
pub fn seconds(ms: u64) -> String {
    if ms >= 3_600_000 && ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// A checkpoint is an opportunistic save, asked for wherever a step
/// noticed progress worth keeping: it goes last, once, so that the entries
/// recording a change always lead (the agent writes the leading entries
/// before it saves anything), and not at all when the step persists anyway.
fn checkpoint_last(effects: Vec<Effect>) -> Vec<Effect> {
    let asked = effects.iter().any(|e| matches!(e, Effect::Checkpoint));
    let persists = effects.iter().any(|e| matches!(e, Effect::Persist));
    let mut effects: Vec<Effect> = (effects.into_iter())
        .filter(|e| !matches!(e, Effect::Checkpoint))
        .collect();
    if asked && !persists {
        effects.push(Effect::Checkpoint);
    }
    effects
}

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
//!    exits, and step `Event::Sampled`.
//! 4. After performing `Effect::Validate`, step `Event::Validated`.
//!
//! The machine never reads a clock or touches a file: time is the `now`
//! argument, facts arrive as events, actions leave as effects.

use serde::{Deserialize, Serialize};

use super::Time;
use super::audit_kind::AuditKind;
use super::gate::{CheckSpec, Gate, Sample, Verdict, millis_between};
use super::policy::{Actor, Op, Role, Stage, Tier};

/// Settings the machine decides with. Changing them means restarting the
/// agent (no hot reload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Soak of shadow, paper and canary, in milliseconds.
    pub soak_ms: [u64; 3],
    /// The post-deploy watch window of live.
    pub watch_ms: u64,
    pub require_approval_for_live: bool,
    pub require_distinct_approver: bool,
    pub checks: Vec<CheckSpec>,
    /// A gap between healthy samples longer than this does not count toward
    /// a soak: nobody watched the gate in between.
    pub max_sample_gap_ms: u64,
    /// How long a release just restarted (a rollback, a drill step) has to
    /// answer healthy.
    pub verify_timeout_ms: u64,
}

impl Config {
    pub fn soak_ms(&self, stage: Stage) -> u64 {
        stage.soak_index().map_or(0, |i| self.soak_ms[i])
    }
}

/// A release as the machine knows it: its id (the file name under
/// releases/) and the sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    pub id: String,
    pub digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageResult {
    InProgress,
    Passed,
    Failed,
    Aborted,
}

/// One stage of one deploy, for deploy_state.json and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: Stage,
    pub started_at: Time,
    pub ended_at: Option<Time>,
    pub result: StageResult,
    /// Gate result: "6/6 checks" on a pass, the failed check on a failure.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: Actor,
    pub at: Time,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    InFlight,
    Live,
    RolledBack(String),
    Rejected(String),
    /// Stopped with no known-good release to return to.
    Stopped(String),
    Halted(String),
}

/// A deploy: one release's way through the stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub id: String,
    pub release: ReleaseRef,
    pub tier: Tier,
    pub submitted_by: Actor,
    pub submitted_at: Time,
    pub reason: String,
    pub commit: Option<String>,
    pub promotion: Option<String>,
    pub needs_approval: bool,
    pub stages: Vec<StageRecord>,
    pub approval: Option<Approval>,
    pub outcome: Outcome,
    pub ended_at: Option<Time>,
}

impl Deploy {
    fn close_stage(&mut self, now: Time, result: StageResult, detail: Option<String>) {
        if let Some(record) = self.stages.last_mut()
            && record.result == StageResult::InProgress
        {
            record.ended_at = Some(now);
            record.result = result;
            record.detail = detail;
        }
    }

    fn open_stage(&mut self, stage: Stage, now: Time) {
        self.stages.push(StageRecord {
            stage,
            started_at: now,
            ended_at: None,
            result: StageResult::InProgress,
            detail: None,
        });
    }

    fn finish(&mut self, outcome: Outcome, now: Time) {
        self.outcome = outcome;
        self.ended_at = Some(now);
    }

    /// Whether every soaked stage passed: the precondition of live.
    pub fn passed_all_soaks(&self) -> bool {
        [Stage::Shadow, Stage::Paper, Stage::Canary]
            .into_iter()
            .all(|stage| {
                self.stages
                    .iter()
                    .any(|r| r.stage == stage && r.result == StageResult::Passed)
            })
    }
}

/// Time spent with the gate holding, toward a soak or the live watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Soak {
    pub started_at: Time,
    pub total_ms: u64,
    pub elapsed_ms: u64,
    /// The last healthy sample; an interval counts only when both of its
    /// ends were healthy and it is not longer than the allowed gap.
    pub healthy_at: Option<Time>,
}

impl Soak {
    fn new(total_ms: u64, now: Time) -> Self {
        Self {
            started_at: now,
            total_ms,
            elapsed_ms: 0,
            healthy_at: None,
        }
    }

    fn accrue(&mut self, now: Time, max_gap_ms: u64) {
        if let Some(then) = self.healthy_at {
            let gap = millis_between(then, now);
            if gap <= max_gap_ms {
                self.elapsed_ms = self.elapsed_ms.saturating_add(gap).min(self.total_ms);
            }
        }
        self.healthy_at = Some(now);
    }

    pub fn remaining_ms(&self) -> u64 {
        self.total_ms.saturating_sub(self.elapsed_ms)
    }

    pub fn done(&self) -> bool {
        self.elapsed_ms >= self.total_ms
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStep {
    /// Rolled back to the known-good, waiting for it to answer healthy.
    Back,
    /// Rolled forward again, waiting for the drilled release.
    Forward,
}

/// What the pipeline is waiting for; each variant holds its own data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Nothing is serving: a new host, a failed first deploy, or after rearm.
    Idle,
    /// Waiting for the validate command; the prior phase goes on meanwhile.
    Validating {
        prior: Box<Phase>,
        candidate: Box<Deploy>,
    },
    /// Soaking shadow, paper or canary.
    Soaking { stage: Stage, soak: Soak },
    /// Canary passed; waiting for a human to approve live.
    AwaitingApproval { since: Time },
    /// Serving the deploy's release live; `watch` is the post-deploy window.
    Live {
        since: Time,
        watch: Soak,
        watch_done: bool,
    },
    /// Restarted on the known-good release, waiting for it to answer healthy.
    RollingBack {
        since: Time,
        deadline: Time,
        cause: String,
        requested: bool,
    },
    /// Serving the known-good release after a rollback.
    RolledBack { since: Time },
    /// Rehearsing the rollback path on the live service.
    Drilling {
        step: DrillStep,
        since: Time,
        deadline: Time,
        drilled: ReleaseRef,
        known_good_healthy: bool,
        watch: Soak,
        watch_done: bool,
    },
    /// Emergency stop or an unrecoverable gate failure; only rearm leaves.
    Halted { since: Time, reason: String },
    /// A smoke deploy: the candidate runs with `EXECUTION_PLANE=paper` and
    /// no trading while its startup log is checked, then the prior phase
    /// (and its release) comes back.
    Smoking {
        prior: Box<Phase>,
        release: ReleaseRef,
        since: Time,
    },
}

/// Why the pipeline halts, as data: an emergency stop carries who pressed
/// it and why; anything else is the fault that left no way forward.
#[derive(Debug, Clone, PartialEq)]
pub enum Halt {
    Estop { by: Actor, reason: String },
    Fault(String),
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Estop { by, reason } => write!(f, "emergency stop by {}: {reason}", by.who()),
            Self::Fault(reason) => f.write_str(reason),
        }
    }
}

/// The words status, the wire and the screen use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateWord {
    Idle,
    Validating,
    Shadow,
    Paper,
    Canary,
    AwaitingApproval,
    Live,
    RollingBack,
    RolledBack,
    Halted,
    Smoke,
    /// A word this build does not know, read from a newer agent; the
    /// machine is never in it.
    #[serde(other)]
    Unknown,
}

impl From<&str> for StateWord {
    /// The wire's word; one this build does not know is `Unknown`.
    fn from(word: &str) -> Self {
        super::gate::from_word(word).unwrap_or(StateWord::Unknown)
    }
}

impl StateWord {
    pub fn as_str(self) -> &'static str {
        match self {
            StateWord::Idle => "idle",
            StateWord::Validating => "validating",
            StateWord::Shadow => "shadow",
            StateWord::Paper => "paper",
            StateWord::Canary => "canary",
            StateWord::AwaitingApproval => "awaiting_approval",
            StateWord::Live => "live",
            StateWord::RollingBack => "rolling_back",
            StateWord::RolledBack => "rolled_back",
            StateWord::Halted => "halted",
            StateWord::Smoke => "smoke",
            StateWord::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for StateWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release submitted to the pipeline, with who sent it and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub release: ReleaseRef,
    pub tier: Tier,
    pub by: Actor,
    pub reason: String,
    pub commit: Option<String>,
    pub promotion: Option<String>,
    /// The freeze window active now, as the agent describes it (the
    /// machine reads no clock and no zone database).
    #[serde(default)]
    pub freeze: Option<String>,
    /// An admin deploys through an active freeze; audited.
    #[serde(default)]
    pub override_freeze: bool,
}

/// A human approving a stage: it names the deploy, the release digest and
/// the stage it approves, so a stale approval is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub deploy_id: String,
    pub digest: String,
    pub stage: Stage,
    pub by: Actor,
    pub reason: String,
}

/// Things that happen to the pipeline: commands (imperative, from people)
/// and facts (past tense, from the agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The agent (re)started and loaded this pipeline.
    Resumed,
    Submit(Submission),
    Validated {
        passed: bool,
        detail: String,
    },
    Sampled(Sample),
    Approve(ApprovalRequest),
    Rollback {
        by: Actor,
        reason: String,
    },
    Estop {
        by: Actor,
        reason: String,
    },
    Rearm {
        by: Actor,
        reason: String,
    },
    Drill {
        by: Actor,
        reason: String,
    },
    /// Run a release once in smoke mode (`ctl smoke`). It stops the
    /// serving release for a while, so a freeze window holds it back too.
    Smoke {
        release: ReleaseRef,
        by: Actor,
        reason: String,
        #[serde(default)]
        freeze: Option<String>,
        #[serde(default)]
        override_freeze: bool,
    },
    /// The smoke procedure ended; `detail` names the check that failed.
    SmokeFinished {
        passed: bool,
        detail: String,
    },
    /// An `Activate` or `Reconcile` could not be carried out (the release
    /// is not stored, the service would not start, the disk is full): the
    /// release named is not running, and the gate fails on it.
    ActivationFailed {
        release: ReleaseRef,
        stage: Stage,
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P0,
    P1,
    P2,
    P3,
}

/// A line for the audit log, before the agent stamps, chains and syncs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub kind: AuditKind,
    pub actor: Option<Actor>,
    pub reason: Option<String>,
    pub message: String,
    pub deploy_id: Option<String>,
    pub release: Option<String>,
    pub state: StateWord,
}

/// A command whose reply waits for the pipeline to get somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "waits_for", rename_all = "snake_case")]
pub enum Pending {
    /// A submit is answered once validation passed or failed.
    Submit { deploy_id: String },
    /// A requested rollback is answered once the known-good answers healthy.
    Rollback,
    /// A drill is answered once it has rolled back and forward.
    Drill,
    /// A smoke deploy is answered once its checks ran.
    Smoke,
}

/// Actions for the agent, performed in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Audit(Note),
    /// Run the validate command on the candidate.
    Validate {
        release: ReleaseRef,
    },
    /// Point current.env at `release`, write `stage`'s overlay to stage.env,
    /// restart the service.
    Activate {
        release: ReleaseRef,
        stage: Stage,
    },
    /// Point previous.env at the known-good release.
    SetKnownGood {
        release: ReleaseRef,
    },
    /// After a restart of the agent: make the files and the service match.
    /// A running service whose files already match is left alone; if the
    /// files had to be fixed, or nothing runs, it is (re)started.
    Reconcile {
        release: ReleaseRef,
        stage: Stage,
    },
    StopService,
    /// Start `release` in smoke mode and check its startup log; the agent
    /// answers with `Event::SmokeFinished` after stopping it.
    StartSmoke {
        release: ReleaseRef,
    },
    /// Run the kill command (cancel, flatten, halt).
    Kill,
    Alert {
        priority: Priority,
        title: String,
    },
    /// Save the pipeline now: a transition happened.
    Persist,
    /// Save the pipeline soon: soak progress (may be throttled).
    Checkpoint,
    /// A waiting command may be answered.
    Settled {
        pending: Pending,
        ok: bool,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Against policy in this state: a deploy in flight, stale approval…
    Policy,
    /// The session's role may not.
    Forbidden,
    /// The request itself is malformed (no reason).
    Invalid,
    /// A fact that makes no sense in this state (an agent bug): which fact,
    /// the state it belongs to, and the state it arrived in.
    Unexpected {
        fact: &'static str,
        expected: &'static str,
        got: StateWord,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

impl Refusal {
    fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The result of a step: the next pipeline and what to do.
#[derive(Debug, Clone)]
pub struct Transition {
    pub next: Pipeline,
    pub effects: Vec<Effect>,
}

/// Everything the machine knows; persisted whole in deploy_state.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub phase: Phase,
    /// What current.env points at.
    pub serving: Option<ReleaseRef>,
    /// What previous.env points at: where a rollback goes.
    pub known_good: Option<ReleaseRef>,
    /// The deploy in flight, or the last one.
    pub deploy: Option<Deploy>,
    /// The gate being watched, while something is serving.
    pub gate: Option<Gate>,
    /// Finished deploys, newest last (bounded).
    pub history: Vec<Deploy>,
    pub deploys_started: u64,
    pub last_drill_at: Option<Time>,
    /// When the last emergency stop was stepped: recovery applies a
    /// recorded stop only if it is newer (docs/layout.md).
    #[serde(default)]
    pub last_estop_at: Option<Time>,
}

/// Finished deploys kept in deploy_state.json.
pub const HISTORY_LIMIT: usize = 50;

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            serving: None,
            known_good: None,
            deploy: None,
            gate: None,
            history: Vec::new(),
            deploys_started: 0,
            last_drill_at: None,
            last_estop_at: None,
        }
    }
}

impl Pipeline {
    pub fn word(&self) -> StateWord {
        word_of(&self.phase)
    }

    /// The stage whose gate is watched (awaiting approval watches canary).
    pub fn watched_stage(&self) -> Option<Stage> {
        self.gate.as_ref().map(|g| g.stage)
    }

    /// Time left in the current soak, or in the live watch window.
    pub fn soak_remaining_ms(&self) -> Option<u64> {
        match &self.phase {
            Phase::Soaking { soak, .. } => Some(soak.remaining_ms()),
            Phase::Live { watch, .. } | Phase::Drilling { watch, .. } => Some(watch.remaining_ms()),
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
            Phase::Drilling {
                deadline,
                watch,
                watch_done,
                ..
            } => [Some(*deadline), watch_end(watch, *watch_done)]
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
            Phase::Soaking { .. }
            | Phase::AwaitingApproval { .. }
            | Phase::RollingBack { .. }
            | Phase::Drilling { .. } => self.deploy.as_ref(),
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
        Ok(Transition { next, effects: out })
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
            Event::Rollback { by, reason } => {
                authorize(by, Op::Rollback)?;
                require_reason(reason)?;
                self.rollback_requested(config, by, reason, now, out)
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
            deploy_id: self.deploy.as_ref().map(|d| d.id.clone()),
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

    fn resume(&mut self, config: &Config, now: Time, out: &mut Vec<Effect>) {
        if let Some(gate) = &mut self.gate {
            gate.resume(now);
        }
        match &mut self.phase {
            Phase::Soaking { soak, .. } => soak.healthy_at = None,
            Phase::Live { watch, .. } => watch.healthy_at = None,
            Phase::RollingBack { deadline, .. } => {
                *deadline = now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64)
            }
            Phase::Drilling {
                deadline, watch, ..
            } => {
                watch.healthy_at = None;
                *deadline = now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64);
            }
            Phase::Smoking { .. } => {
                // The smoke procedure died with the old agent: what served
                // before comes back, watched afresh.
                let Phase::Smoking { prior, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    unreachable!("matched Smoking above")
                };
                self.phase = *prior;
                self.gate =
                    serving_stage(&self.phase).map(|stage| Gate::new(stage, &config.checks, now));
            }
            Phase::Validating { .. } => {
                // The validate command died with the old agent; the candidate
                // is dropped rather than guessed at.
                let Phase::Validating { prior, candidate } =
                    std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    unreachable!("matched Validating above")
                };
                self.phase = *prior;
                let mut candidate = *candidate;
                candidate.finish(
                    Outcome::Rejected("agent restarted during validation; submit again".into()),
                    now,
                );
                self.push_history(candidate);
            }
            _ => {}
        }
        let message = match self.soak_remaining_ms() {
            Some(ms) => format!(
                "agent resumed in {}; {:.1}s left to soak",
                self.word(),
                ms as f64 / 1000.0
            ),
            None => format!("agent resumed in {}", self.word()),
        };
        out.push(Effect::Audit(self.note(AuditKind::AgentResume, message)));
        match &self.phase {
            // Nothing may run: whatever a crash left running is stopped.
            Phase::Halted { .. } | Phase::Idle => out.push(Effect::StopService),
            _ => {
                if let (Some(release), Some(stage)) = (self.serving.clone(), self.watched_stage()) {
                    // A drill or rollback restarts on purpose; everything else
                    // keeps the running service as it is.
                    out.push(Effect::Reconcile { release, stage });
                }
            }
        }
        out.push(Effect::Persist);
    }

    fn submit(
        &mut self,
        config: &Config,
        submission: &Submission,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Submission {
            release,
            by,
            reason,
            commit,
            promotion,
            ..
        } = submission;
        let tier = submission.tier;
        // The active freeze window, and whether an admin overrides it.
        let freeze = (submission.freeze.as_deref()).map(|w| (w, submission.override_freeze));
        if let Phase::Halted { since, reason } = &self.phase {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "halted since {} ({reason}); an admin must rearm first",
                    since.format("%Y-%m-%d %H:%M:%SZ")
                ),
            ));
        }
        if let Some(deploy) = self.in_flight() {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "deploy {} (release {}) is in flight ({}); one deploy at a time",
                    deploy.id,
                    deploy.release.id,
                    self.word()
                ),
            ));
        }
        if matches!(self.phase, Phase::Live { .. })
            && self
                .serving
                .as_ref()
                .is_some_and(|s| s.digest == release.digest)
        {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("release {} is already live here", release.id),
            ));
        }
        if let Some((window, false)) = freeze {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "deploy freeze {window} is active; an admin may override with --override-freeze and a reason"
                ),
            ));
        }
        self.deploys_started += 1;
        let candidate = Deploy {
            id: format!(
                "d-{}-{}",
                now.format("%Y%m%dT%H%M%SZ"),
                self.deploys_started
            ),
            release: release.clone(),
            tier,
            submitted_by: by.clone(),
            submitted_at: now,
            reason: reason.to_string(),
            commit: commit.clone(),
            promotion: promotion.clone(),
            needs_approval: config.require_approval_for_live || tier == Tier::Aggressive,
            stages: Vec::new(),
            approval: None,
            outcome: Outcome::InFlight,
            ended_at: None,
        };
        let mut note = self.human_note(
            AuditKind::DeploySubmit,
            by,
            reason,
            format!(
                "{}release {} (sha256 {}) submitted, tier {tier}; validating",
                match freeze {
                    Some((window, true)) => format!("FREEZE OVERRIDE of {window}: "),
                    _ => String::new(),
                },
                release.id,
                short(&release.digest)
            ),
        );
        note.deploy_id = Some(candidate.id.clone());
        note.state = StateWord::Validating;
        out.push(Effect::Audit(note));
        out.push(Effect::Validate {
            release: release.clone(),
        });
        let prior = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = Phase::Validating {
            prior: Box::new(prior),
            candidate: Box::new(candidate),
        };
        Ok(())
    }

    fn validated(
        &mut self,
        config: &Config,
        passed: bool,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        if !matches!(self.phase, Phase::Validating { .. }) {
            return Err(unexpected("a validation result", "validating", self.word()));
        }
        let Phase::Validating { prior, candidate } =
            std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            unreachable!("checked above")
        };
        let mut candidate = *candidate;
        let pending = Pending::Submit {
            deploy_id: candidate.id.clone(),
        };
        if !passed {
            self.phase = *prior;
            candidate.finish(Outcome::Rejected(detail.to_string()), now);
            let mut note = self.note(
                AuditKind::DeployRejected,
                format!(
                    "release {} failed validation: {detail}",
                    candidate.release.id
                ),
            );
            note.deploy_id = Some(candidate.id.clone());
            out.push(Effect::Audit(note));
            out.push(Effect::Settled {
                pending,
                ok: false,
                message: format!(
                    "release {} failed validation: {detail}",
                    candidate.release.id
                ),
            });
            // A rejected candidate changes nothing on disk but the audit log.
            return Ok(());
        }
        // A release that served healthy becomes the one to return to. From
        // idle (a new host, or after rearm) nothing serves: a failing deploy
        // stops, it never starts what served before an emergency stop (only
        // an admin's explicit restore may).
        match (&*prior, &self.serving) {
            (Phase::Live { .. } | Phase::RolledBack { .. }, Some(serving)) => {
                self.known_good = Some(serving.clone())
            }
            (Phase::Idle, _) => self.known_good = None,
            _ => {}
        }
        if let Some(old) = self.deploy.take() {
            self.push_history(old);
        }
        candidate.open_stage(Stage::Shadow, now);
        let release = candidate.release.clone();
        let message = format!(
            "deploy {} started: release {} in shadow, soak {}",
            candidate.id,
            release.id,
            seconds(config.soak_ms(Stage::Shadow))
        );
        self.deploy = Some(candidate);
        self.serving = Some(release.clone());
        self.phase = Phase::Soaking {
            stage: Stage::Shadow,
            soak: Soak::new(config.soak_ms(Stage::Shadow), now),
        };
        self.gate = Some(Gate::new(Stage::Shadow, &config.checks, now));
        out.push(Effect::Audit(
            self.note(AuditKind::StageStart, message.clone()),
        ));
        if let Some(known_good) = &self.known_good {
            out.push(Effect::SetKnownGood {
                release: known_good.clone(),
            });
        }
        out.push(Effect::Activate {
            release,
            stage: Stage::Shadow,
        });
        out.push(Effect::Persist);
        out.push(Effect::Settled {
            pending,
            ok: true,
            message,
        });
        Ok(())
    }

    fn sampled(&mut self, config: &Config, sample: &Sample, now: Time, out: &mut Vec<Effect>) {
        if self.beneath_candidate(now, out, |p, out| p.sampled(config, sample, now, out)) {
            return;
        }
        let Some(gate) = &mut self.gate else {
            return;
        };
        let verdict = gate.observe(&config.checks, sample, now);
        let (passing, total) = gate.tally(&config.checks);
        match &mut self.phase {
            Phase::Idle
            | Phase::Halted { .. }
            | Phase::Validating { .. }
            | Phase::Smoking { .. } => {}
            Phase::Soaking { stage, soak } => {
                let stage = *stage;
                match verdict {
                    Verdict::Breach { check, detail } => {
                        self.gate_failed(config, stage, &check, &detail, now, out)
                    }
                    Verdict::Healthy => {
                        soak.accrue(now, config.max_sample_gap_ms);
                        if soak.done() {
                            self.soak_passed(config, stage, passing, total, now, out);
                        } else {
                            out.push(Effect::Checkpoint);
                        }
                    }
                    Verdict::Unsettled => soak.healthy_at = None,
                }
            }
            Phase::AwaitingApproval { .. } => {
                if let Verdict::Breach { check, detail } = verdict {
                    self.gate_failed(config, Stage::Canary, &check, &detail, now, out);
                }
            }
            Phase::Live {
                watch, watch_done, ..
            } => match verdict {
                Verdict::Breach { check, detail } => {
                    self.gate_failed(config, Stage::Live, &check, &detail, now, out)
                }
                Verdict::Healthy => {
                    watch.accrue(now, config.max_sample_gap_ms);
                    if watch.done() && !*watch_done {
                        *watch_done = true;
                        if let Some(deploy) = &mut self.deploy {
                            deploy.close_stage(
                                now,
                                StageResult::Passed,
                                Some("post-deploy watch complete".into()),
                            );
                            deploy.ended_at = Some(now);
                        }
                        let note = self.note(
                            AuditKind::WatchDone,
                            format!("post-deploy watch complete, {passing}/{total} checks"),
                        );
                        out.push(Effect::Audit(note));
                        out.push(Effect::Persist);
                    } else if !*watch_done {
                        out.push(Effect::Checkpoint);
                    }
                }
                Verdict::Unsettled => watch.healthy_at = None,
            },
            Phase::RollingBack {
                deadline,
                requested,
                ..
            } => {
                let (deadline, requested) = (*deadline, *requested);
                match verdict {
                    Verdict::Healthy => self.rolled_back(requested, passing, total, now, out),
                    Verdict::Breach { detail, .. } => {
                        let reason = format!(
                            "known-good release {} failed its gate after rollback: {detail}",
                            self.serving_id()
                        );
                        self.halt(Halt::Fault(reason), now, out)
                    }
                    Verdict::Unsettled if now >= deadline => {
                        let reason = format!(
                            "known-good release {} did not answer healthy within {}",
                            self.serving_id(),
                            seconds(config.verify_timeout_ms)
                        );
                        self.halt(Halt::Fault(reason), now, out)
                    }
                    Verdict::Unsettled => {}
                }
            }
            Phase::RolledBack { .. } => {
                if let Verdict::Breach { detail, .. } = verdict {
                    let reason = format!(
                        "known-good release {} failed its gate after rollback: {detail}; halting rather than rolling back and forth",
                        self.serving_id()
                    );
                    self.halt(Halt::Fault(reason), now, out);
                }
            }
            Phase::Drilling { .. } => self.drill_sampled(config, verdict, now, out),
        }
    }

    /// While a candidate validates, the serving release goes on being
    /// watched: `f` acts on the phase beneath. If that moves the pipeline,
    /// the candidate is dropped, since the ground it was submitted on has
    /// changed. Returns whether a candidate was validating.
    fn beneath_candidate(
        &mut self,
        now: Time,
        out: &mut Vec<Effect>,
        f: impl FnOnce(&mut Self, &mut Vec<Effect>),
    ) -> bool {
        if !matches!(self.phase, Phase::Validating { .. }) {
            return false;
        }
        let Phase::Validating { prior, candidate } =
            std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            unreachable!("matched above")
        };
        self.phase = *prior;
        let before = self.word();
        f(self, out);
        if self.word() == before {
            let prior = std::mem::replace(&mut self.phase, Phase::Idle);
            self.phase = Phase::Validating {
                prior: Box::new(prior),
                candidate,
            };
        } else {
            let mut candidate = *candidate;
            let message = format!(
                "deploy {} cancelled: the serving release's gate moved the pipeline to {}",
                candidate.id,
                self.word()
            );
            candidate.finish(Outcome::Rejected(message.clone()), now);
            out.push(Effect::Settled {
                pending: Pending::Submit {
                    deploy_id: candidate.id.clone(),
                },
                ok: false,
                message,
            });
            self.push_history(candidate);
        }
        true
    }

    /// An activation failed: the release it named is not running. On the
    /// way to live that fails the gate (rollback, or stop on a first
    /// deploy); on the way back (a rollback, a restart after one) it halts.
    fn activation_failed(
        &mut self,
        config: &Config,
        release: &ReleaseRef,
        stage: Stage,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let serving = match &self.phase {
            Phase::Validating { .. } | Phase::Smoking { .. } => self.serving.as_ref(),
            _ if self.watched_stage().is_some() => self.serving.as_ref(),
            _ => None,
        };
        if serving != Some(release) {
            let mut refusal = unexpected(
                "an activation failure",
                "one for the serving release",
                self.word(),
            );
            refusal.message = format!("{refusal} ({})", self.serving_id());
            return Err(refusal);
        }
        let detail = format!("cannot start {} in {stage}: {detail}", release.id);
        if !self.beneath_candidate(now, out, |p, out| {
            p.serving_failed(config, &detail, now, out)
        }) {
            self.serving_failed(config, &detail, now, out);
        }
        Ok(())
    }

    fn serving_failed(&mut self, config: &Config, detail: &str, now: Time, out: &mut Vec<Effect>) {
        const CHECK: &str = "activation";
        match &self.phase {
            Phase::Soaking { stage, .. } => {
                let stage = *stage;
                self.gate_failed(config, stage, CHECK, detail, now, out)
            }
            Phase::AwaitingApproval { .. } => {
                self.gate_failed(config, Stage::Canary, CHECK, detail, now, out)
            }
            Phase::Live { .. } => self.gate_failed(config, Stage::Live, CHECK, detail, now, out),
            Phase::RollingBack { .. } | Phase::RolledBack { .. } => {
                let reason = format!("known-good release failed to start: {detail}");
                self.halt(Halt::Fault(reason), now, out)
            }
            Phase::Drilling { .. } => self.drill_sampled(
                config,
                Verdict::Breach {
                    check: CHECK.into(),
                    detail: detail.to_string(),
                },
                now,
                out,
            ),
            Phase::Idle
            | Phase::Halted { .. }
            | Phase::Validating { .. }
            | Phase::Smoking { .. } => {}
        }
    }

    fn soak_passed(
        &mut self,
        config: &Config,
        stage: Stage,
        passing: usize,
        total: usize,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let Some(deploy) = &mut self.deploy else {
            impossible("a soak passed with no deploy");
            return;
        };
        deploy.close_stage(
            now,
            StageResult::Passed,
            Some(format!("{passing}/{total} checks")),
        );
        let needs_approval = deploy.needs_approval;
        let release = deploy.release.clone();
        out.push(Effect::Audit(self.note(
            AuditKind::GatePass,
            format!(
                "{stage} soak complete, {passing}/{total} checks passed for {}",
                seconds(config.soak_ms(stage))
            ),
        )));
        match stage.next() {
            Some(Stage::Live) if needs_approval => {
                self.phase = Phase::AwaitingApproval { since: now };
                // The canary keeps running and keeps being watched.
                out.push(Effect::Audit(
                    self.note(AuditKind::StageAwait, "canary → live needs approval"),
                ));
                out.push(Effect::Alert {
                    priority: Priority::P2,
                    title: format!("deploy of {} awaits approval for live", release.id),
                });
                out.push(Effect::Persist);
            }
            Some(Stage::Live) => self.go_live(config, now, out),
            Some(next) => {
                if let Some(deploy) = &mut self.deploy {
                    deploy.open_stage(next, now);
                }
                self.phase = Phase::Soaking {
                    stage: next,
                    soak: Soak::new(config.soak_ms(next), now),
                };
                self.gate = Some(Gate::new(next, &config.checks, now));
                out.push(Effect::Audit(self.note(
                    AuditKind::StageStart,
                    format!("{next} started, soak {}", seconds(config.soak_ms(next))),
                )));
                out.push(Effect::Activate {
                    release,
                    stage: next,
                });
                out.push(Effect::Persist);
            }
            None => {}
        }
    }

    fn go_live(&mut self, config: &Config, now: Time, out: &mut Vec<Effect>) {
        let Some(deploy) = &mut self.deploy else {
            impossible("going live with no deploy");
            return;
        };
        deploy.open_stage(Stage::Live, now);
        deploy.outcome = Outcome::Live;
        let release = deploy.release.clone();
        self.phase = Phase::Live {
            since: now,
            watch: Soak::new(config.watch_ms, now),
            watch_done: false,
        };
        self.gate = Some(Gate::new(Stage::Live, &config.checks, now));
        out.push(Effect::Audit(self.note(
            AuditKind::StageLive,
            format!(
                "release {} live; post-deploy watch {}",
                release.id,
                seconds(config.watch_ms)
            ),
        )));
        out.push(Effect::Activate {
            release: release.clone(),
            stage: Stage::Live,
        });
        out.push(Effect::Alert {
            priority: Priority::P2,
            title: format!("release {} is live", release.id),
        });
        out.push(Effect::Persist);
    }

    /// A gate failed (or a person asked): return to the known-good, or stop
    /// when there is none.
    fn gate_failed(
        &mut self,
        config: &Config,
        stage: Stage,
        check: &str,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        if let Some(deploy) = &mut self.deploy {
            deploy.close_stage(now, StageResult::Failed, Some(detail.to_string()));
        }
        out.push(Effect::Audit(self.note(
            AuditKind::GateFail,
            format!("{stage} gate failed on {check}: {detail}"),
        )));
        self.start_rollback(config, stage, detail, false, now, out);
    }

    fn start_rollback(
        &mut self,
        config: &Config,
        stage: Stage,
        cause: &str,
        requested: bool,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let known_good = self
            .known_good
            .clone()
            .filter(|kg| self.serving.as_ref() != Some(kg));
        match known_good {
            Some(known_good) => {
                self.serving = Some(known_good.clone());
                self.phase = Phase::RollingBack {
                    since: now,
                    deadline: now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64),
                    cause: cause.to_string(),
                    requested,
                };
                self.gate = Some(Gate::new(Stage::Live, &config.checks, now));
                out.push(Effect::Audit(self.note(
                    AuditKind::RollbackStart,
                    format!("rolling back to known-good release {}", known_good.id),
                )));
                out.push(Effect::Alert {
                    priority: Priority::P0,
                    title: format!("rolling back to {}: {cause}", known_good.id),
                });
                out.push(Effect::Activate {
                    release: known_good,
                    stage: Stage::Live,
                });
                out.push(Effect::Persist);
            }
            None if matches!(stage, Stage::Canary | Stage::Live) => {
                // Real money was at stake and there is nothing to return to.
                let reason = format!("{cause}; no known-good release to return to");
                self.halt(Halt::Fault(reason), now, out);
            }
            None => {
                let message =
                    format!("{cause}; no known-good release to return to: service stopped");
                if let Some(deploy) = &mut self.deploy {
                    deploy.finish(Outcome::Stopped(message.clone()), now);
                }
                self.phase = Phase::Idle;
                self.gate = None;
                out.push(Effect::Audit(
                    self.note(AuditKind::DeployStopped, message.clone()),
                ));
                out.push(Effect::StopService);
                out.push(Effect::Alert {
                    priority: Priority::P0,
                    title: message,
                });
                out.push(Effect::Persist);
            }
        }
    }

    fn rolled_back(
        &mut self,
        requested: bool,
        passing: usize,
        total: usize,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let cause = match &self.phase {
            Phase::RollingBack { cause, .. } => cause.clone(),
            _ => String::new(),
        };
        if let Some(deploy) = &mut self.deploy {
            deploy.finish(Outcome::RolledBack(cause.clone()), now);
        }
        self.phase = Phase::RolledBack { since: now };
        let message = format!(
            "rolled back to {}: healthy, {passing}/{total} checks",
            self.serving_id()
        );
        out.push(Effect::Audit(
            self.note(AuditKind::RollbackDone, message.clone()),
        ));
        out.push(Effect::Alert {
            priority: Priority::P0,
            title: format!("rolled back to {} ({cause})", self.serving_id()),
        });
        out.push(Effect::Persist);
        if requested {
            out.push(Effect::Settled {
                pending: Pending::Rollback,
                ok: true,
                message,
            });
        }
    }

    fn approve(
        &mut self,
        config: &Config,
        approval: &ApprovalRequest,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let ApprovalRequest { by, reason, .. } = approval;
        let (deploy_id, digest, stage) = (
            approval.deploy_id.as_str(),
            approval.digest.as_str(),
            approval.stage,
        );
        let Phase::AwaitingApproval { .. } = self.phase else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("nothing awaits approval (state {})", self.word()),
            ));
        };
        let Some(deploy) = &self.deploy else {
            return Err(unexpected("an approval", "a deploy", self.word()));
        };
        if deploy.id != deploy_id || deploy.release.digest != digest || stage != Stage::Canary {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "stale approval: it names deploy {deploy_id} (sha256 {}, stage {stage}) but deploy {} (sha256 {}, stage canary) awaits approval",
                    short(digest),
                    deploy.id,
                    short(&deploy.release.digest)
                ),
            ));
        }
        // Distinct by identity (the pinned operator, the certificate's key
        // id, the key or the local user the agent saw), never by the name a
        // session claims.
        let same_person = deploy.submitted_by.name == by.name;
        if config.require_distinct_approver && same_person {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "{} submitted deploy {} and may not approve it (require_distinct_approver)",
                    by.name, deploy.id
                ),
            ));
        }
        let message = format!(
            "approved canary → live for deploy {} (release {})",
            deploy.id, deploy.release.id
        );
        out.push(Effect::Audit(self.human_note(
            AuditKind::Approve,
            by,
            reason,
            message,
        )));
        if let Some(deploy) = &mut self.deploy {
            deploy.approval = Some(Approval {
                by: by.clone(),
                at: now,
                reason: reason.to_string(),
            });
        }
        self.go_live(config, now, out);
        Ok(())
    }

    fn rollback_requested(
        &mut self,
        config: &Config,
        by: &Actor,
        reason: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let stage = match &self.phase {
            Phase::Soaking { stage, .. } => *stage,
            Phase::AwaitingApproval { .. } => Stage::Canary,
            Phase::Live { .. } => Stage::Live,
            _ => {
                return Err(Refusal::new(
                    RefusalKind::Policy,
                    format!("nothing to roll back (state {})", self.word()),
                ));
            }
        };
        if self.known_good.is_none() || self.known_good == self.serving {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "no known-good release to roll back to; use estop to stop the service",
            ));
        }
        let cause = format!("rollback by {}: {reason}", by.who());
        out.push(Effect::Audit(self.human_note(
            AuditKind::Rollback,
            by,
            reason,
            format!("rollback requested in {}", self.word()),
        )));
        if let Some(deploy) = &mut self.deploy {
            deploy.close_stage(now, StageResult::Aborted, Some(cause.clone()));
        }
        self.start_rollback(config, stage, &cause, true, now, out);
        Ok(())
    }

    fn halt(&mut self, cause: Halt, now: Time, out: &mut Vec<Effect>) {
        let reason = cause.to_string();
        let pending = match &self.phase {
            Phase::Validating { candidate, .. } => Some(Pending::Submit {
                deploy_id: candidate.id.clone(),
            }),
            Phase::RollingBack {
                requested: true, ..
            } => Some(Pending::Rollback),
            Phase::Drilling { .. } => Some(Pending::Drill),
            _ => None,
        };
        if let Phase::Validating { candidate, .. } = &self.phase {
            let mut candidate = (**candidate).clone();
            candidate.finish(Outcome::Rejected(reason.clone()), now);
            self.push_history(candidate);
        }
        if let Some(deploy) = &mut self.deploy
            && deploy.ended_at.is_none()
        {
            deploy.close_stage(now, StageResult::Aborted, Some(reason.clone()));
            deploy.finish(Outcome::Halted(reason.clone()), now);
        }
        let note = match &cause {
            Halt::Estop { by, reason: why } => {
                self.human_note(AuditKind::Estop, by, why, format!("halted: {reason}"))
            }
            Halt::Fault(_) => self.note(AuditKind::Halt, format!("halted: {reason}")),
        };
        self.phase = Phase::Halted {
            since: now,
            reason: reason.clone(),
        };
        self.gate = None;
        let mut note = note;
        note.state = StateWord::Halted;
        out.push(Effect::Audit(note));
        // Trading stops first, then the decision is saved, then the venue
        // is flattened: a kill command that takes seconds neither lets the
        // strategy reopen what it closes nor leaves the halt unsaved.
        out.push(Effect::StopService);
        out.push(Effect::Persist);
        out.push(Effect::Kill);
        out.push(Effect::Alert {
            priority: Priority::P0,
            title: format!("halted: {reason}"),
        });
        if let Some(pending) = pending {
            out.push(Effect::Settled {
                pending,
                ok: false,
                message: format!("halted: {reason}"),
            });
        }
    }

    fn rearm(
        &mut self,
        by: &Actor,
        reason: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Phase::Halted { since, .. } = &self.phase else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "not halted (state {}); rearm only leaves halted",
                    self.word()
                ),
            ));
        };
        let held = millis_between(*since, now);
        self.phase = Phase::Idle;
        self.gate = None;
        out.push(Effect::Audit(self.human_note(
            AuditKind::Rearm,
            by,
            reason,
            format!("rearmed after {} halted; nothing is serving", seconds(held)),
        )));
        out.push(Effect::Persist);
        Ok(())
    }

    fn drill(
        &mut self,
        config: &Config,
        by: &Actor,
        reason: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Phase::Live {
            watch, watch_done, ..
        } = &self.phase
        else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("a drill needs a live release (state {})", self.word()),
            ));
        };
        let (watch, watch_done) = (watch.clone(), *watch_done);
        let (Some(drilled), Some(known_good)) = (self.serving.clone(), self.known_good.clone())
        else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "a drill needs a known-good release to roll back to",
            ));
        };
        if drilled == known_good {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "a drill needs a known-good release different from the live one",
            ));
        }
        out.push(Effect::Audit(self.human_note(
            AuditKind::DrillStart,
            by,
            reason,
            format!(
                "drill: injected gate failure on {}; rolling back to {}",
                drilled.id, known_good.id
            ),
        )));
        self.serving = Some(known_good.clone());
        self.phase = Phase::Drilling {
            step: DrillStep::Back,
            since: now,
            deadline: now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64),
            drilled,
            known_good_healthy: false,
            watch: Soak {
                healthy_at: None,
                ..watch
            },
            watch_done,
        };
        self.gate = Some(Gate::new(Stage::Live, &config.checks, now));
        out.push(Effect::Activate {
            release: known_good,
            stage: Stage::Live,
        });
        out.push(Effect::Persist);
        Ok(())
    }

    fn drill_sampled(
        &mut self,
        config: &Config,
        verdict: Verdict,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let Phase::Drilling {
            step,
            deadline,
            drilled,
            known_good_healthy,
            watch,
            watch_done,
            ..
        } = self.phase.clone()
        else {
            impossible("a drill's sample outside a drill");
            return;
        };
        let settled = match verdict {
            Verdict::Healthy => Some((true, String::new())),
            Verdict::Breach { detail, .. } => Some((false, detail)),
            Verdict::Unsettled if now >= deadline => Some((
                false,
                format!("not healthy within {}", seconds(config.verify_timeout_ms)),
            )),
            Verdict::Unsettled => None,
        };
        let Some((healthy, detail)) = settled else {
            return;
        };
        match step {
            DrillStep::Back => {
                let message = if healthy {
                    format!(
                        "drill: known-good {} answered healthy; rolling forward to {}",
                        self.serving_id(),
                        drilled.id
                    )
                } else {
                    format!(
                        "drill: known-good {} did NOT answer healthy ({detail}); rolling forward to {}",
                        self.serving_id(),
                        drilled.id
                    )
                };
                out.push(Effect::Audit(self.note(AuditKind::DrillBack, message)));
                self.serving = Some(drilled.clone());
                self.phase = Phase::Drilling {
                    step: DrillStep::Forward,
                    since: now,
                    deadline: now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64),
                    drilled: drilled.clone(),
                    known_good_healthy: healthy,
                    watch,
                    watch_done,
                };
                self.gate = Some(Gate::new(Stage::Live, &config.checks, now));
                out.push(Effect::Activate {
                    release: drilled,
                    stage: Stage::Live,
                });
                out.push(Effect::Persist);
            }
            DrillStep::Forward if healthy => {
                self.phase = Phase::Live {
                    since: now,
                    watch,
                    watch_done,
                };
                if known_good_healthy {
                    // Only a drill that proved the way back counts.
                    self.last_drill_at = Some(now);
                }
                let ok = known_good_healthy;
                let message = if ok {
                    format!("drill passed: rolled back and forward, {} live", drilled.id)
                } else {
                    format!(
                        "drill FAILED: the known-good release did not answer healthy; {} live again",
                        drilled.id
                    )
                };
                out.push(Effect::Audit(
                    self.note(AuditKind::DrillDone, message.clone()),
                ));
                if !ok {
                    out.push(Effect::Alert {
                        priority: Priority::P0,
                        title: message.clone(),
                    });
                }
                out.push(Effect::Persist);
                out.push(Effect::Settled {
                    pending: Pending::Drill,
                    ok,
                    message,
                });
            }
            DrillStep::Forward => {
                // The release that was live fails after coming back: treat it
                // as any live gate failure.
                self.phase = Phase::Live {
                    since: now,
                    watch,
                    watch_done,
                };
                out.push(Effect::Settled {
                    pending: Pending::Drill,
                    ok: false,
                    message: format!(
                        "drill: {} failed after rolling forward: {detail}",
                        drilled.id
                    ),
                });
                self.gate_failed(config, Stage::Live, "drill", &detail, now, out);
            }
        }
    }

    fn smoke(
        &mut self,
        release: &ReleaseRef,
        by: &Actor,
        reason: &str,
        overridden: Option<&str>,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        if let Some(deploy) = self.in_flight() {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "deploy {} is in flight ({}); a smoke deploy waits for it",
                    deploy.id,
                    self.word()
                ),
            ));
        }
        if matches!(self.phase, Phase::Halted { .. } | Phase::Smoking { .. }) {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("state {}: no smoke deploy now", self.word()),
            ));
        }
        let prior = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = Phase::Smoking {
            prior: Box::new(prior),
            release: release.clone(),
            since: now,
        };
        // The serving release is stopped for the smoke; nobody watches it.
        self.gate = None;
        let mut note = self.human_note(
            AuditKind::SmokeStart,
            by,
            reason,
            format!(
                "{}smoke deploy of {} with EXECUTION_PLANE=paper, no trading",
                overridden.map_or(String::new(), |w| format!("FREEZE OVERRIDE of {w}: ")),
                release.id
            ),
        );
        note.release = Some(release.id.clone());
        out.push(Effect::Audit(note));
        out.push(Effect::StartSmoke {
            release: release.clone(),
        });
        Ok(())
    }

    fn smoke_finished(
        &mut self,
        config: &Config,
        passed: bool,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Phase::Smoking { prior, release, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            let word = self.word();
            return Err(unexpected("a smoke result", "smoke", word));
        };
        self.phase = *prior;
        let (kind, message) = if passed {
            (
                AuditKind::SmokePass,
                format!("smoke deploy of {} passed: {detail}", release.id),
            )
        } else {
            (
                AuditKind::SmokeFail,
                format!("smoke deploy of {} FAILED: {detail}", release.id),
            )
        };
        let mut note = self.note(kind, message.clone());
        note.release = Some(release.id.clone());
        out.push(Effect::Audit(note));
        // Bring back what served before, and watch it afresh.
        if let (Some(stage), Some(serving)) = (serving_stage(&self.phase), self.serving.clone()) {
            self.gate = Some(Gate::new(stage, &config.checks, now));
            out.push(Effect::Reconcile {
                release: serving,
                stage,
            });
        }
        out.push(Effect::Persist);
        out.push(Effect::Settled {
            pending: Pending::Smoke,
            ok: passed,
            message,
        });
        Ok(())
    }

    fn serving_id(&self) -> &str {
        self.serving.as_ref().map_or("(none)", |r| r.id.as_str())
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
        Phase::RollingBack { .. } | Phase::Drilling { .. } => StateWord::RollingBack,
        Phase::RolledBack { .. } => StateWord::RolledBack,
        Phase::Halted { .. } => StateWord::Halted,
        Phase::Smoking { .. } => StateWord::Smoke,
    }
}

/// The stage a phase's release serves in, when something serves: what a
/// smoke deploy brings back afterwards.
fn serving_stage(phase: &Phase) -> Option<Stage> {
    match phase {
        Phase::Soaking { stage, .. } => Some(*stage),
        Phase::AwaitingApproval { .. } => Some(Stage::Canary),
        Phase::Live { .. } | Phase::RolledBack { .. } => Some(Stage::Live),
        _ => None,
    }
}

fn phase_since(phase: &Phase) -> Option<Time> {
    match phase {
        Phase::Idle | Phase::Validating { .. } => None,
        Phase::Soaking { soak, .. } => Some(soak.started_at),
        Phase::AwaitingApproval { since }
        | Phase::Live { since, .. }
        | Phase::RollingBack { since, .. }
        | Phase::RolledBack { since }
        | Phase::Drilling { since, .. }
        | Phase::Halted { since, .. }
        | Phase::Smoking { since, .. } => Some(*since),
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

/// A branch the types do not yet rule out and the machine never takes: a
/// debug build (every test and proptest) fails on it; a release build
/// changes nothing and goes on.
fn impossible(what: &str) {
    debug_assert!(false, "pipeline invariant broken: {what}");
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

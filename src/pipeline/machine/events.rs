//! What goes in and out of a step: events (commands and facts), effects,
//! notes for the audit log, refusals.

use serde::Deserialize;
use serde::Serialize;

use super::{FlatVerdict, Pipeline, ReleaseRef, StateWord};
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::Sample;
use crate::pipeline::policy::Actor;
use crate::pipeline::policy::Stage;
use crate::pipeline::policy::Tier;

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

/// After a rearm: start the last known-good release directly in live.
/// `venue` is what the verify command answered just before (the agent asks
/// it first): an open book is never restored into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub by: Actor,
    pub reason: String,
    pub venue: FlatVerdict,
    pub venue_summary: String,
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
    /// To the known-good, or with `to` (a release id or digest prefix) to
    /// any release that passed live on this host (`Pipeline::lived`).
    Rollback {
        by: Actor,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
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
    Restore(RestoreRequest),
    /// The kill command ended, or none is configured (`skipped`: the
    /// service was only stopped, and the verify step decides).
    Killed {
        ok: bool,
        #[serde(default)]
        skipped: bool,
        summary: String,
    },
    /// The verify command decided, or could not, or none is configured.
    FlatChecked {
        verdict: FlatVerdict,
        summary: String,
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
    /// An emergency stop is answered once the venue is verified flat (or
    /// the kill or the verify failed).
    Estop,
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
    /// Run the kill command (cancel, flatten, halt); the agent answers
    /// with `Event::Killed`.
    Kill,
    /// Poll the verify command until it says flat or its timeout passes;
    /// the agent answers with `Event::FlatChecked`.
    VerifyFlat,
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
    pub(super) fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
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

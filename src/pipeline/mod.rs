//! The deploy pipeline as a pure state machine: stages, gates, approvals,
//! rollback, emergency stop and drills.
//!
//! `(pipeline, event, now) -> (pipeline, effects)`: no I/O, no clock, no
//! runtime, and nothing else of gantry imported. The agent is the shell
//! that feeds it facts and performs its effects. See docs/pipeline.md for
//! the state diagram.

pub mod audit_kind;
pub mod baseline;
pub mod gate;
pub mod judged;
pub mod machine;
pub mod policy;

#[cfg(test)]
mod tests;

pub use audit_kind::AuditKind;
pub use baseline::{BaselineSource, BaselineSpec, LiveWindow};
pub use gate::{
    Action, CheckSpec, CheckState, CheckStatus, Condition, Gate, KnownGood, Observed, Sample,
    Verdict,
};
pub use machine::{
    ApprovalRequest, Config, Deploy, DrillStep, Effect, Event, EvidenceRule, FlatResult,
    FlatVerdict, KillResult, Note, Outcome, OutcomeWord, Pending, Phase, Pipeline, Priority,
    Refusal, RefusalKind, ReleaseRef, RestoreRequest, StageRecord, StageResult, StateWord,
    StopRecord, Submission, Transition,
};
pub use policy::{Actor, Comparison, Op, Role, STAGE_OWNED_KEYS, Severity, Stage, Tier};

/// Time as the machine sees it: always passed in, never read.
pub type Time = chrono::DateTime<chrono::Utc>;

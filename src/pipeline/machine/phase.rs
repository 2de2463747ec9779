//! Where the pipeline is: its phases, the words status and the screen
//! use for them, and why it halts.

use serde::Deserialize;
use serde::Serialize;

use super::{Deploy, ReleaseRef, Soak};
use crate::pipeline::Time;
use crate::pipeline::gate::{CheckSpec, Gate};
use crate::pipeline::policy::Actor;
use crate::pipeline::policy::Stage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStep {
    /// Rolled back to the known-good, waiting for it to answer healthy.
    Back,
    /// Rolled forward again, waiting for the drilled release.
    Forward,
}

/// What the pipeline is waiting for; each variant holds its own data. A
/// phase that serves a deploy carries it and the gate watching it, so a
/// soak, an approval or a rollback without its deploy cannot be built.
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
    Soaking {
        stage: Stage,
        soak: Soak,
        deploy: Box<Deploy>,
        gate: Gate,
    },
    /// Canary passed; waiting for a human to approve live. The canary goes
    /// on being watched.
    AwaitingApproval {
        since: Time,
        deploy: Box<Deploy>,
        gate: Gate,
        /// How many of `Config::escalate_after_ms` have paged (P1) so far;
        /// persisted, so a restart never pages twice for one threshold.
        #[serde(default)]
        escalated: usize,
    },
    /// Serving the deploy's release live; `watch` is the post-deploy window.
    Live {
        since: Time,
        watch: Soak,
        watch_done: bool,
        deploy: Box<Deploy>,
        gate: Gate,
    },
    /// Restarted on the known-good release, waiting for it to answer
    /// healthy; `deploy` is the one being rolled back.
    RollingBack {
        since: Time,
        deadline: Time,
        cause: String,
        requested: bool,
        deploy: Box<Deploy>,
        gate: Gate,
    },
    /// Serving the known-good release after a rollback (the deploy rolled
    /// back is in history).
    RolledBack { since: Time, gate: Gate },
    /// Rehearsing the rollback path on the live service.
    Drilling(Box<Drill>),
    /// Emergency stop or an unrecoverable gate failure; only rearm leaves.
    Halted { since: Time, reason: String },
    /// A smoke deploy: the candidate runs with `EXECUTION_PLANE=paper` and
    /// no trading while its startup log is checked, then the prior phase
    /// (and its release) comes back, watched afresh.
    Smoking {
        prior: Box<Phase>,
        release: ReleaseRef,
        since: Time,
    },
}

impl Phase {
    /// The deploy this phase serves or validates over, if it carries one.
    pub fn deploy(&self) -> Option<&Deploy> {
        match self {
            Phase::Soaking { deploy, .. }
            | Phase::AwaitingApproval { deploy, .. }
            | Phase::Live { deploy, .. }
            | Phase::RollingBack { deploy, .. } => Some(deploy),
            Phase::Drilling(drill) => Some(&drill.deploy),
            Phase::Validating { prior, .. } | Phase::Smoking { prior, .. } => prior.deploy(),
            Phase::Idle | Phase::RolledBack { .. } | Phase::Halted { .. } => None,
        }
    }

    /// The gate being watched. While a candidate validates, the serving
    /// release's gate goes on; during a smoke deploy nothing is watched.
    pub fn gate(&self) -> Option<&Gate> {
        match self {
            Phase::Soaking { gate, .. }
            | Phase::AwaitingApproval { gate, .. }
            | Phase::Live { gate, .. }
            | Phase::RollingBack { gate, .. }
            | Phase::RolledBack { gate, .. } => Some(gate),
            Phase::Drilling(drill) => Some(&drill.gate),
            Phase::Validating { prior, .. } => prior.gate(),
            Phase::Idle | Phase::Halted { .. } | Phase::Smoking { .. } => None,
        }
    }

    pub(super) fn gate_mut(&mut self) -> Option<&mut Gate> {
        match self {
            Phase::Soaking { gate, .. }
            | Phase::AwaitingApproval { gate, .. }
            | Phase::Live { gate, .. }
            | Phase::RollingBack { gate, .. }
            | Phase::RolledBack { gate, .. } => Some(gate),
            Phase::Drilling(drill) => Some(&mut drill.gate),
            Phase::Validating { prior, .. } => prior.gate_mut(),
            Phase::Idle | Phase::Halted { .. } | Phase::Smoking { .. } => None,
        }
    }

    /// Watches what serves afresh, with a new gate for the same stage:
    /// after a smoke deploy, or an agent restart during one.
    pub(super) fn watch_afresh(&mut self, checks: &[CheckSpec], now: Time) {
        if let Some(gate) = self.gate_mut() {
            *gate = Gate::new(gate.stage, checks, now);
        }
    }

    /// The deploy this phase carries, taken out (the phase is left behind).
    pub(super) fn into_deploy(self) -> Option<Deploy> {
        match self {
            Phase::Soaking { deploy, .. }
            | Phase::AwaitingApproval { deploy, .. }
            | Phase::Live { deploy, .. }
            | Phase::RollingBack { deploy, .. } => Some(*deploy),
            Phase::Drilling(drill) => Some(*drill.deploy),
            Phase::Validating { prior, .. } | Phase::Smoking { prior, .. } => prior.into_deploy(),
            Phase::Idle | Phase::RolledBack { .. } | Phase::Halted { .. } => None,
        }
    }
}

/// A rollback drill under way: back to the known-good, then forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    pub step: DrillStep,
    pub since: Time,
    pub deadline: Time,
    pub drilled: ReleaseRef,
    pub known_good_healthy: bool,
    /// The live release's post-deploy window, carried through the drill.
    pub watch: Soak,
    pub watch_done: bool,
    /// The live deploy, live again when the drill ends.
    pub deploy: Box<Deploy>,
    pub gate: Gate,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
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
    #[default]
    Unknown,
}

impl From<&str> for StateWord {
    /// The wire's word; one this build does not know is `Unknown`.
    fn from(word: &str) -> Self {
        crate::pipeline::gate::from_word(word).unwrap_or(StateWord::Unknown)
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
        // pad: tables align these with `{:<18}`.
        f.pad(self.as_str())
    }
}

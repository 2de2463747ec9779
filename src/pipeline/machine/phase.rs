//! Where the pipeline is: its phases, the words status and the screen
//! use for them, and why it halts.

use serde::Deserialize;
use serde::Serialize;

use super::{Deploy, ReleaseRef, Soak};
use crate::pipeline::Time;
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
        f.write_str(self.as_str())
    }
}

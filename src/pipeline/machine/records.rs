//! What the machine keeps of a deploy: the release, its stages, the
//! approval, how it ended, and the soak clock.

use serde::Deserialize;
use serde::Serialize;

use crate::pipeline::Time;
use crate::pipeline::gate::CheckSpec;
use crate::pipeline::gate::millis_between;
use crate::pipeline::policy::Actor;
use crate::pipeline::policy::Stage;
use crate::pipeline::policy::Tier;

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
    /// A soak on market evidence (`[pipeline.evidence]`), if configured.
    #[serde(default)]
    pub evidence: Option<super::evidence::EvidenceRule>,
    /// An approval waiting this long pages P1, once per threshold
    /// (ascending; empty: never).
    #[serde(default)]
    pub escalate_after_ms: Vec<u64>,
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

/// How a deploy ended, as one word: history, metrics and the screen read
/// this, and a word a newer agent sends reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeWord {
    InFlight,
    Live,
    RolledBack,
    Rejected,
    Stopped,
    Halted,
    #[serde(other)]
    Unknown,
}

impl OutcomeWord {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Live => "live",
            Self::RolledBack => "rolled_back",
            Self::Rejected => "rejected",
            Self::Stopped => "stopped",
            Self::Halted => "halted",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for OutcomeWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Outcome {
    pub fn word(&self) -> OutcomeWord {
        match self {
            Self::InFlight => OutcomeWord::InFlight,
            Self::Live => OutcomeWord::Live,
            Self::RolledBack(_) => OutcomeWord::RolledBack,
            Self::Rejected(_) => OutcomeWord::Rejected,
            Self::Stopped(_) => OutcomeWord::Stopped,
            Self::Halted(_) => OutcomeWord::Halted,
        }
    }

    /// Why it ended that way, if it says.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::InFlight | Self::Live => None,
            Self::RolledBack(why)
            | Self::Rejected(why)
            | Self::Stopped(why)
            | Self::Halted(why) => Some(why),
        }
    }
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
    /// An admin's restore after a halt: the known-good release straight
    /// to live, with no soaks (it passed them when it first went live).
    #[serde(default)]
    pub restore: bool,
    pub stages: Vec<StageRecord>,
    pub approval: Option<Approval>,
    pub outcome: Outcome,
    pub ended_at: Option<Time>,
}

impl Deploy {
    pub(super) fn close_stage(&mut self, now: Time, result: StageResult, detail: Option<String>) {
        if let Some(record) = self.stages.last_mut()
            && record.result == StageResult::InProgress
        {
            record.ended_at = Some(now);
            record.result = result;
            record.detail = detail;
        }
    }

    pub(super) fn open_stage(&mut self, stage: Stage, now: Time) {
        self.stages.push(StageRecord {
            stage,
            started_at: now,
            ended_at: None,
            result: StageResult::InProgress,
            detail: None,
        });
    }

    pub(super) fn finish(&mut self, outcome: Outcome, now: Time) {
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
    /// A soak on market evidence: what it has seen (`evidence.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<super::evidence::EvidenceSeen>,
    /// Why the clock stands still, or what the stage still waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

impl Soak {
    pub(super) fn new(total_ms: u64, now: Time) -> Self {
        Self {
            started_at: now,
            total_ms,
            elapsed_ms: 0,
            healthy_at: None,
            evidence: None,
            paused: None,
        }
    }

    pub(super) fn accrue(&mut self, now: Time, max_gap_ms: u64) {
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

/// The last halt and what was done about the venue: the kill command's
/// result, then whether the book was verified flat. A halted host whose
/// positions are still open must never read as safe, so each step is kept
/// until it has an answer, across agent restarts, and after rearm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRecord {
    pub at: Time,
    /// Who pressed the emergency stop; none when a fault halted it.
    pub by: Option<Actor>,
    pub reason: String,
    /// None while the kill command runs.
    pub kill: Option<KillResult>,
    /// None until the verify command has decided.
    pub flat: Option<FlatResult>,
    /// What a restore after this stop brings back: the release that was
    /// live when a human stopped it (it had passed every gate), else the
    /// known-good one, never a release whose failure caused the halt.
    #[serde(default)]
    pub restore_to: Option<ReleaseRef>,
}

impl StopRecord {
    /// Both steps have an answer: nothing more will run for this stop.
    pub fn settled(&self) -> bool {
        self.kill.is_some() && self.flat.is_some()
    }

    /// The kill command did not fail and the venue answered flat.
    pub fn proven_flat(&self) -> bool {
        self.kill.as_ref().is_some_and(|k| k.ok)
            && self
                .flat
                .as_ref()
                .is_some_and(|f| f.verdict == FlatVerdict::Flat)
    }

    /// What an emergency stop answers: ok only when proven flat, with the
    /// evidence, or the steps that failed.
    pub fn answer(&self) -> (bool, String) {
        let message = match self.failed_step() {
            Some(step) => format!("halted, but {step}"),
            None if !self.settled() => "halted; the venue is still being made flat".into(),
            None => format!(
                "estop done; state halted; FLAT ({}; kill: {})",
                self.flat.as_ref().map_or("", |f| f.summary.as_str()),
                self.kill.as_ref().map_or("", |k| k.summary.as_str())
            ),
        };
        (self.proven_flat(), message)
    }

    /// The steps that failed, in words, when the stop is not proven flat:
    /// the kill command, then what the venue was found to be.
    pub fn failed_step(&self) -> Option<String> {
        let mut failed = Vec::new();
        if let Some(kill) = self.kill.as_ref().filter(|k| !k.ok) {
            failed.push(format!("the kill command failed: {}", kill.summary));
        }
        if let Some(flat) = (self.flat.as_ref()).filter(|f| f.verdict != FlatVerdict::Flat) {
            failed.push(format!("{}: {}", flat.verdict.headline(), flat.summary));
        }
        (!failed.is_empty()).then(|| failed.join("; "))
    }
}

/// The kill command's result. With none configured it is `ok` and says
/// so: the service was stopped, and the verify step decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillResult {
    pub ok: bool,
    pub summary: String,
}

/// What the verify command found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlatVerdict {
    /// The verify command said nothing is open.
    Flat,
    /// It kept saying something is open until its timeout, or could not
    /// run: the book may be open.
    NotFlat,
    /// No verify command is configured: nobody checked.
    Unverified,
}

impl FlatVerdict {
    /// As the screen and ctl say it after `HALTED · `.
    pub fn headline(self) -> &'static str {
        match self {
            Self::Flat => "FLAT",
            Self::NotFlat => "NOT FLAT",
            Self::Unverified => "flat unverified",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlatResult {
    pub verdict: FlatVerdict,
    pub at: Time,
    /// The verify command's last output (cleaned by the agent) or why it
    /// could not run.
    pub summary: String,
}

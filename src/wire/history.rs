//! Deploy history as clients see it: `ctl history` (the `history` op) and
//! the agent's `GET /api/v1/deploy/history` answer with the same object.
//!
//! Built from the pipeline's record of deploys (`Pipeline::deploy`, the one
//! in flight or the last, and `Pipeline::history`, the finished ones), newest
//! first. Times are RFC 3339 UTC strings and durations seconds, so a script
//! needs no knowledge of the machine's types.

use serde::{Deserialize, Serialize};

use crate::pipeline::{Actor, Deploy, OutcomeWord, Pipeline, Stage, StageResult, Tier, Time};
use crate::stamp::rfc3339;

/// Deploys listed when the client names no limit.
pub const DEFAULT_LIMIT: usize = 20;

/// The reply to `history`: the host and its deploys, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub host: String,
    pub deploys: Vec<HistoryEntry>,
}

/// One deploy: who asked for what and why, how it ended, and each stage's
/// timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: String,
    pub release: String,
    pub digest: String,
    pub tier: Tier,
    pub submitted_by: Actor,
    pub submitted_at: String,
    pub reason: String,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub promotion: Option<String>,
    /// `in_flight`, `live`, `rolled_back`, `rejected`, `stopped` or
    /// `halted`; a newer agent's word reads as `unknown`.
    pub outcome: OutcomeWord,
    /// Why it ended that way (the failed check, the refusal), if it says.
    #[serde(default)]
    pub outcome_detail: Option<String>,
    #[serde(default)]
    pub approved_by: Option<Actor>,
    #[serde(default)]
    pub approved_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    /// Submit to end, once it ended.
    #[serde(default)]
    pub duration_s: Option<f64>,
    pub stages: Vec<StageTiming>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: Stage,
    pub started_at: String,
    #[serde(default)]
    pub ended_at: Option<String>,
    pub result: StageResult,
    /// Start to end, once the stage ended.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// The gate's word: "6/6 checks" on a pass, the failed check otherwise.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Every deploy the pipeline remembers, newest first, at most `limit`.
pub fn list(pipeline: &Pipeline, limit: usize) -> Vec<HistoryEntry> {
    let mut deploys: Vec<&Deploy> = pipeline.deploys().collect();
    // A deploy enters history when it ends, after candidates rejected
    // while it served, so order by submit time, not by where it is kept.
    deploys.sort_by_key(|d| std::cmp::Reverse(d.submitted_at));
    deploys.into_iter().take(limit).map(entry).collect()
}

pub fn entry(deploy: &Deploy) -> HistoryEntry {
    HistoryEntry {
        id: deploy.id.clone(),
        release: deploy.release.id.clone(),
        digest: deploy.release.digest.clone(),
        tier: deploy.tier,
        submitted_by: deploy.submitted_by.clone(),
        submitted_at: rfc3339(deploy.submitted_at),
        reason: deploy.reason.clone(),
        commit: deploy.commit.clone(),
        promotion: deploy.promotion.clone(),
        outcome: deploy.outcome.word(),
        outcome_detail: deploy.outcome.detail().map(str::to_string),
        approved_by: deploy.approval.as_ref().map(|a| a.by.clone()),
        approved_at: deploy.approval.as_ref().map(|a| rfc3339(a.at)),
        ended_at: deploy.ended_at.map(rfc3339),
        duration_s: deploy.ended_at.map(|end| seconds(deploy.submitted_at, end)),
        stages: deploy
            .stages
            .iter()
            .map(|s| StageTiming {
                stage: s.stage,
                started_at: rfc3339(s.started_at),
                ended_at: s.ended_at.map(rfc3339),
                result: s.result,
                duration_s: s.ended_at.map(|end| seconds(s.started_at, end)),
                detail: s.detail.clone(),
            })
            .collect(),
    }
}

fn seconds(from: Time, to: Time) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Outcome, ReleaseRef, Role, StageRecord};
    use chrono::TimeZone;

    fn deploy(id: &str, minute: u32, outcome: Outcome) -> Deploy {
        let at = |m: u32, s: u32| chrono::Utc.with_ymd_and_hms(2026, 1, 5, 12, m, s).unwrap();
        Deploy {
            id: id.into(),
            release: ReleaseRef {
                id: format!("rel-{id}"),
                digest: "ab".repeat(32),
            },
            tier: Tier::Balanced,
            submitted_by: Actor {
                name: "amy".into(),
                role: Role::Admin,
                seen_as: None,
                claimed: None,
            },
            submitted_at: at(minute, 0),
            reason: "why".into(),
            commit: None,
            promotion: None,
            needs_approval: true,
            restore: false,
            stages: vec![
                StageRecord {
                    stage: Stage::Shadow,
                    started_at: at(minute, 1),
                    ended_at: Some(at(minute, 31)),
                    result: StageResult::Passed,
                    detail: Some("3/3 checks".into()),
                },
                StageRecord {
                    stage: Stage::Paper,
                    started_at: at(minute, 31),
                    ended_at: None,
                    result: StageResult::InProgress,
                    detail: None,
                },
            ],
            approval: None,
            ended_at: None,
            outcome,
        }
    }

    #[test]
    fn newest_first_with_the_current_deploy_and_timings() {
        let pipeline = Pipeline {
            history: vec![
                deploy("d-1", 1, Outcome::Live),
                deploy("d-3", 3, Outcome::Rejected("validate failed".into())),
            ],
            phase: crate::pipeline::Phase::AwaitingApproval {
                since: chrono::Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap(),
                deploy: Box::new(deploy("d-2", 2, Outcome::InFlight)),
                gate: crate::pipeline::Gate::new(
                    Stage::Canary,
                    &[],
                    chrono::Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap(),
                ),
                escalated: 0,
            },
            ..Pipeline::default()
        };
        let list = list(&pipeline, 10);
        let ids: Vec<&str> = list.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["d-3", "d-2", "d-1"]);
        assert_eq!(list[0].outcome, OutcomeWord::Rejected);
        assert_eq!(list[0].outcome_detail.as_deref(), Some("validate failed"));
        assert_eq!(list[1].outcome, OutcomeWord::InFlight);
        assert_eq!(list[1].stages[0].duration_s, Some(30.0));
        assert_eq!(list[1].stages[1].duration_s, None);
        assert_eq!(super::list(&pipeline, 1).len(), 1);
        let json = serde_json::to_string(&list[1]).unwrap();
        assert!(json.contains(r#""result":"in_progress""#), "{json}");
        let back: HistoryEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list[1]);
    }
}

//! Where one host stands with a rollout, read from its status and history,
//! and what the hosts' records decide. Pure: every case is a unit test.

use std::collections::BTreeMap;

use super::Wave;
use crate::pipeline::OutcomeWord;
use crate::wire::StateWord;
use crate::wire::Status;
use crate::wire::history::HistoryEntry;

/// Where one host stands with this rollout.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Standing {
    /// This rollout has not sent the release here: it may submit.
    NotStarted,
    /// Live on the release.
    Live,
    /// Went live on it in this rollout and has since moved on (to what):
    /// done, and nothing of the release to roll back.
    Moved(String),
    /// Deploying it (the state word).
    InFlight(String),
    /// The release failed here (why): a record that decides the rollout.
    Failed(String),
    /// Rolled back, or rolling back, by this rollout's own decision.
    RolledBack,
}

/// Reads one host's standing from its status and its history (newest
/// first); pure, so every case is a unit test.
pub(super) fn standing(
    status: &Status,
    history: &[HistoryEntry],
    digest: &str,
    id: &str,
) -> Standing {
    let state = status.state;
    let deploying_it = status.deploy_digest.as_deref() == Some(digest);
    // A candidate being validated is not in the history yet.
    if state == StateWord::Validating && deploying_it {
        return Standing::InFlight(state.as_str().into());
    }
    let mine = history
        .iter()
        .find(|e| e.digest == digest && e.promotion.as_deref().is_some_and(|p| p.contains(id)));
    let Some(mine) = mine else {
        // Not this rollout's deploy: a release already live (or deploying)
        // counts, as when it was put there by hand.
        let on_it = status.current_digest.as_deref() == Some(digest);
        return match state {
            StateWord::Live if on_it => Standing::Live,
            StateWord::Shadow
            | StateWord::Paper
            | StateWord::Canary
            | StateWord::AwaitingApproval
                if deploying_it =>
            {
                Standing::InFlight(state.as_str().into())
            }
            _ => Standing::NotStarted,
        };
    };
    let details = || {
        mine.outcome_detail
            .iter()
            .chain(mine.stages.iter().filter_map(|s| s.detail.as_ref()))
    };
    let by_us = details().any(|d| d.contains(id));
    let current = status.deploy_id.as_deref() == Some(mine.id.as_str());
    let why = || {
        // The outcome's detail, else the last stage's word (a stage that
        // failed says which check).
        let detail = mine
            .outcome_detail
            .clone()
            .or_else(|| mine.stages.last().and_then(|s| s.detail.clone()))
            .unwrap_or_default();
        format!("{}: {detail}", mine.outcome)
    };
    if current && state == StateWord::RollingBack {
        // The outcome is written once the rollback is done; the aborted or
        // failed stage already says who asked.
        return if by_us {
            Standing::RolledBack
        } else {
            Standing::Failed(format!("rolling back: {}", why()))
        };
    }
    match mine.outcome {
        OutcomeWord::Live
            if state == StateWord::Live && status.current_digest.as_deref() == Some(digest) =>
        {
            Standing::Live
        }
        OutcomeWord::Live => Standing::Moved(format!(
            "{state} on {}",
            status.current_release.as_deref().unwrap_or("nothing")
        )),
        OutcomeWord::InFlight => Standing::InFlight(state.as_str().into()),
        // rolled_back, rejected, stopped, halted, or a word a newer agent
        // knows: never a reason to send the release again.
        _ if by_us => Standing::RolledBack,
        _ => Standing::Failed(why()),
    }
}

/// What the rollout decided: the failed wave, and its failed hosts (none
/// when only the rollbacks of an earlier run say it).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Decision {
    pub(super) wave: usize,
    pub(super) failed: Vec<(String, String)>,
}

/// The decision the hosts' records imply, if they imply one.
pub(super) fn decide(waves: &[Wave], standings: &BTreeMap<String, Standing>) -> Option<Decision> {
    let failed_in = |index: usize| -> Vec<(String, String)> {
        waves[index]
            .hosts
            .iter()
            .filter_map(|t| match standings.get(&t.name) {
                Some(Standing::Failed(why)) => Some((t.name.clone(), why.clone())),
                _ => None,
            })
            .collect()
    };
    // Only a primary-wave decision rolls back: one rollback of ours, and the
    // rest of them are still owed.
    if waves.len() > 1 && standings.values().any(|s| *s == Standing::RolledBack) {
        return Some(Decision {
            wave: 1,
            failed: failed_in(1),
        });
    }
    (0..waves.len()).find_map(|index| {
        let failed = failed_in(index);
        (!failed.is_empty()).then_some(Decision {
            wave: index,
            failed,
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::promotion;
    use super::super::tests::fleet;
    use super::*;

    const DIGEST: &str = "ab";
    const ID: &str = "rollout-0123456789ab";

    fn status(state: &str, deploy: Option<(&str, &str)>, current: &str) -> Status {
        serde_json::from_value(json!({
            "host": "h", "state": state, "checks": [],
            "deploy_id": deploy.map(|d| d.0), "deploy_digest": deploy.map(|d| d.1),
            "current_digest": current, "current_release": format!("rel-{current}"),
            "service": {"kind": "command", "running": true, "pid": null},
            "agent_version": "0", "now": "2026-01-05T12:00:00Z",
        }))
        .unwrap()
    }

    fn entry(id: &str, promotion: &str, outcome: &str, detail: Option<&str>) -> HistoryEntry {
        serde_json::from_value(json!({
            "id": id, "release": "rel-ab", "digest": DIGEST, "tier": "balanced",
            "submitted_by": {"name": "amy", "role": "admin"},
            "submitted_at": "2026-01-05T12:00:00Z", "reason": "why",
            "promotion": promotion, "outcome": outcome, "outcome_detail": detail,
            "stages": [{"stage": "paper", "started_at": "2026-01-05T12:00:01Z",
                        "result": "aborted", "detail": detail}],
        }))
        .unwrap()
    }

    fn ours() -> String {
        promotion("primary", ID, Some("PR-42"))
    }

    #[test]
    fn a_host_reads_as_this_rollout_left_it() {
        let s = |state, deploy, current, history: &[HistoryEntry]| {
            standing(&status(state, deploy, current), history, DIGEST, ID)
        };
        // Nothing of ours: on it anyway counts; elsewhere may be sent it.
        assert_eq!(
            s("live", Some(("d-0", DIGEST)), DIGEST, &[]),
            Standing::Live
        );
        assert_eq!(
            s("live", Some(("d-0", "cd")), "cd", &[]),
            Standing::NotStarted
        );
        assert_eq!(
            s("rolled_back", Some(("d-0", DIGEST)), "cd", &[]),
            Standing::NotStarted,
            "a failure not of this rollout is not its record"
        );
        assert_eq!(
            s("validating", Some(("d-1", DIGEST)), "cd", &[]),
            Standing::InFlight("validating".into())
        );
        let live = [entry("d-1", &ours(), "live", None)];
        assert_eq!(
            s("live", Some(("d-1", DIGEST)), DIGEST, &live),
            Standing::Live
        );
        assert_eq!(
            s("live", Some(("d-2", "cd")), "cd", &live),
            Standing::Moved("live on rel-cd".into())
        );
        let flying = [entry("d-1", &ours(), "in_flight", None)];
        assert_eq!(
            s("paper", Some(("d-1", DIGEST)), DIGEST, &flying),
            Standing::InFlight("paper".into())
        );
        // Its own gate rolled it back, or is rolling it back: a failure.
        let gate = [entry("d-1", &ours(), "rolled_back", Some("drawdown 9 > 5"))];
        assert_eq!(
            s("rolled_back", Some(("d-1", DIGEST)), "cd", &gate),
            Standing::Failed("rolled_back: drawdown 9 > 5".into())
        );
        assert!(matches!(
            s("rolling_back", Some(("d-1", DIGEST)), "cd", &flying),
            Standing::Failed(_)
        ));
        // The record stays a failure after the host moved on.
        assert!(matches!(
            s("live", Some(("d-2", "ef")), "ef", &gate),
            Standing::Failed(_)
        ));
        // Rolled back by this rollout: its reason names the rollout, in
        // the outcome once done and in the aborted stage while under way.
        let reason = format!("rollback by amy: {ID}: primary wave primary failed on b");
        let done = [entry("d-1", &ours(), "rolled_back", Some(&reason))];
        assert_eq!(
            s("rolled_back", Some(("d-1", DIGEST)), "cd", &done),
            Standing::RolledBack
        );
        let mut under_way = entry("d-1", &ours(), "live", None);
        under_way.stages[0].detail = Some(reason.clone());
        assert_eq!(
            s("rolling_back", Some(("d-1", DIGEST)), "cd", &[under_way]),
            Standing::RolledBack
        );
        // Another rollout's deploy of the same release is not ours.
        let other = [entry(
            "d-1",
            &promotion("primary", "rollout-ffffffffffff", None),
            "rolled_back",
            Some("gate"),
        )];
        assert_eq!(
            s("rolled_back", Some(("d-1", DIGEST)), "cd", &other),
            Standing::NotStarted
        );
        // An outcome word this client does not know never invites a resend.
        let newer = [entry("d-1", &ours(), "quarantined", None)];
        assert!(matches!(
            s("idle", Some(("d-1", DIGEST)), "cd", &newer),
            Standing::Failed(_)
        ));
    }

    #[test]
    fn the_records_decide_as_the_first_run_did() {
        let waves = fleet();
        let of = |pairs: &[(&str, Standing)]| -> BTreeMap<String, Standing> {
            pairs
                .iter()
                .map(|(h, s)| (h.to_string(), s.clone()))
                .collect()
        };
        let failed = || Standing::Failed("gate".into());
        assert_eq!(decide(&waves, &of(&[("a", Standing::Live)])), None);
        assert_eq!(
            decide(&waves, &of(&[("a", Standing::Live), ("b", failed())])),
            Some(Decision {
                wave: 1,
                failed: vec![("b".into(), "gate".into())],
            })
        );
        // Killed amid the rollbacks: the canary's says what was decided,
        // even where the failed primary cannot be read.
        assert_eq!(
            decide(
                &waves,
                &of(&[("a", Standing::RolledBack), ("c", Standing::Live)])
            ),
            Some(Decision {
                wave: 1,
                failed: Vec::new()
            })
        );
        assert_eq!(
            decide(&waves, &of(&[("a", failed()), ("d", failed())])).map(|d| d.wave),
            Some(0),
            "the earliest wave decides"
        );
        assert_eq!(
            decide(&waves, &of(&[("a", Standing::Live), ("d", failed())])).map(|d| d.wave),
            Some(2)
        );
    }
}

//! The daily P3 digest: what a day of deploys, rollbacks and drills looked like.

use chrono::NaiveDate;

use crate::pipeline::{Outcome, Phase, Pipeline, StageResult};

/// The P3 daily digest of `day` (UTC): what the host's deploys did that
/// day. Returns the title and the fields.
pub fn daily_digest(day: NaiveDate, pipeline: &Pipeline) -> (String, Vec<(String, String)>) {
    let candidate = match &pipeline.phase {
        Phase::Validating { candidate, .. } => Some(candidate.as_ref()),
        _ => None,
    };
    // Each deploy is in one place: history, the phase, or validating.
    let deploys = pipeline.deploys().chain(candidate);
    let on_day = |t: Option<crate::pipeline::Time>| t.is_some_and(|t| t.date_naive() == day);
    let (mut submitted, mut live, mut rolled_back, mut rejected, mut stopped) = (0, 0, 0, 0, 0);
    for d in deploys {
        if on_day(Some(d.submitted_at)) {
            submitted += 1;
        }
        if d.stages.iter().any(|s| {
            s.stage == crate::pipeline::Stage::Live
                && s.result != StageResult::Aborted
                && on_day(Some(s.started_at))
        }) {
            live += 1;
        }
        if on_day(d.ended_at) {
            match d.outcome {
                Outcome::RolledBack(_) => rolled_back += 1,
                Outcome::Rejected(_) => rejected += 1,
                Outcome::Stopped(_) | Outcome::Halted(_) => stopped += 1,
                Outcome::InFlight | Outcome::Live => {}
            }
        }
    }
    let title = format!(
        "daily digest {day}: {submitted} deploy{} submitted, {live} went live, {rolled_back} rolled back",
        if submitted == 1 { "" } else { "s" }
    );
    let mut fields = vec![
        ("submitted".to_string(), submitted.to_string()),
        ("went live".to_string(), live.to_string()),
        ("rolled back".to_string(), rolled_back.to_string()),
        ("rejected".to_string(), rejected.to_string()),
        ("stopped or halted".to_string(), stopped.to_string()),
    ];
    if let Some(at) = pipeline.last_drill_at {
        fields.push((
            "last drill".to_string(),
            at.format("%Y-%m-%d %H:%M UTC").to_string(),
        ));
    }
    (title, fields)
}

// The agent's side: every alert is appended to alerts.jsonl (synced, the
// local record) and queued for the webhooks; neither waits on a network.

//! `gantry ctl history` as text: one row per deploy, newest first, with each
//! stage's time and how the deploy ended; a second line says why when it did
//! not go live.

use crate::pipeline::{OutcomeWord, Stage, StageResult, Time};
use crate::text::inert;
use crate::wire::history::{History, HistoryEntry, StageTiming};

/// The longest "why" line shown under a row; `--json` has it whole.
const DETAIL_WIDTH: usize = 110;

/// Renders the table; `now` times the stage still running.
pub fn render(history: &History, now: Time) -> String {
    if history.deploys.is_empty() {
        return format!("no deploys on {} yet\n", inert(&history.host));
    }
    let mut rows: Vec<Vec<String>> = vec![
        ["DEPLOY", "RELEASE", "OUTCOME"]
            .iter()
            .map(|s| s.to_string())
            .chain(Stage::ALL.iter().map(|s| s.as_str().to_uppercase()))
            .chain(["BY", "SUBMITTED"].iter().map(|s| s.to_string()))
            .collect(),
    ];
    for deploy in &history.deploys {
        let mut row = vec![
            deploy.id.clone(),
            deploy.release.clone(),
            deploy.outcome.to_string(),
        ];
        for stage in Stage::ALL {
            row.push(stage_cell(deploy, stage, now));
        }
        row.push(deploy.submitted_by.who());
        row.push(when(&deploy.submitted_at));
        rows.push(row.into_iter().map(|cell| inert(&cell)).collect());
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        // Row 0 is the header; deploy i is row i + 1.
        if let Some(why) = index
            .checked_sub(1)
            .and_then(|i| history.deploys.get(i))
            .and_then(why)
        {
            out.push_str(&format!("    {}\n", inert(&clip(&why, DETAIL_WIDTH))));
        }
    }
    out
}

/// A stage's cell: its time, marked ✗ when its gate failed and ⊘ when it
/// was cut short (a rollback or an emergency stop); `…` while it runs; `-`
/// when the deploy never got there. Live has no end of its own: `✓` while
/// it serves.
fn stage_cell(deploy: &HistoryEntry, stage: Stage, now: Time) -> String {
    let Some(timing) = deploy.stages.iter().rev().find(|s| s.stage == stage) else {
        return "-".into();
    };
    match (timing.result, timing.duration_s) {
        (StageResult::Passed, Some(d)) => duration(d),
        (StageResult::Failed, Some(d)) => format!("✗ {}", duration(d)),
        (StageResult::Aborted, Some(d)) => format!("⊘ {}", duration(d)),
        (StageResult::InProgress, _) if stage == Stage::Live => "✓".into(),
        (StageResult::InProgress, _) if deploy.outcome == OutcomeWord::InFlight => {
            match running_for(timing, now) {
                Some(d) => format!("… {}", duration(d)),
                None => "…".into(),
            }
        }
        (result, _) => format!("{result:?}").to_lowercase(),
    }
}

fn running_for(timing: &StageTiming, now: Time) -> Option<f64> {
    let started = chrono::DateTime::parse_from_rfc3339(&timing.started_at).ok()?;
    Some(
        (now - started.with_timezone(&chrono::Utc))
            .num_milliseconds()
            .max(0) as f64
            / 1000.0,
    )
}

/// Why a deploy did not simply go live: the outcome's detail, else the
/// failed stage's.
fn why(deploy: &HistoryEntry) -> Option<String> {
    if matches!(deploy.outcome, OutcomeWord::Live | OutcomeWord::InFlight) {
        return None;
    }
    deploy.outcome_detail.clone().or_else(|| {
        deploy
            .stages
            .iter()
            .find(|s| s.result == StageResult::Failed)
            .and_then(|s| s.detail.clone())
    })
}

/// 0.4s, 12.3s, 4m05s, 2h03m.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        let s = seconds.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (seconds / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// "2026-11-24T21:54:27.123Z" → "2026-11-24 21:54:27Z".
fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time}Z"),
        _ => rfc3339.to_string(),
    }
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(0.42), "0.4s");
        assert_eq!(duration(245.0), "4m05s");
        assert_eq!(duration(7380.0), "2h03m");
        assert_eq!(when("2026-11-24T21:54:27.123Z"), "2026-11-24 21:54:27Z");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}

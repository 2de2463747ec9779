//! The host pane's drill line: when the way back was last rehearsed, the
//! verdict against the SLA and each step's time, kept by the agent (a
//! console opened later shows it too); or that it is overdue: 30 days
//! after the last drill, or after the host first went live.

use chrono::{DateTime, Utc};

use super::age;
use crate::console::state::DRILL_MAX_AGE_DAYS;
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::Status;

/// The parts of the drill line, to pack into the pane's width, and their
/// style; `None` when there is nothing to say (never drilled, not due).
pub(super) fn parts(
    status: &Status,
    now: DateTime<Utc>,
    overdue: bool,
    theme: &Theme,
) -> Option<(Vec<String>, ratatui::style::Style)> {
    let ago = |at: &str| {
        DateTime::parse_from_rfc3339(at)
            .map(|t| age((now - t.with_timezone(&Utc)).to_std().unwrap_or_default()))
            .unwrap_or_else(|_| inert(at))
    };
    let due = format!("⚠ over {DRILL_MAX_AGE_DAYS} days: press d");
    let mut parts = Vec::new();
    let style = match (&status.last_drill, status.last_drill_at.as_deref()) {
        (Some(drill), _) => {
            let mark = if drill.passed() { "✓" } else { "✗" };
            parts.push(format!(
                "drill {} ago {mark} {}",
                ago(&drill.at),
                drill.verdict()
            ));
            if let Some(t) = &drill.timings {
                let ms = |name: &str, v: Option<f64>| {
                    format!("{name} {}", v.map_or("—".into(), |v| format!("{v:.0}ms")))
                };
                parts.push(ms("detect", t.detect_ms));
                parts.push(ms("swap", t.swap_ms));
                parts.push(ms("restart", t.restart_ms));
                parts.push(ms("healthy", t.healthy_ms));
            }
            if drill.passed() {
                theme.state_ok
            } else {
                theme.state_failed
            }
        }
        (None, Some(at)) => {
            parts.push(format!("last drill {} ago", ago(at)));
            theme.muted
        }
        (None, None) if overdue => {
            parts.push("never drilled".into());
            theme.state_attention
        }
        (None, None) => return None,
    };
    let style = if overdue {
        parts.push(due);
        theme.state_attention
    } else {
        style
    };
    Some((parts.into_iter().map(|p| inert(&p)).collect(), style))
}

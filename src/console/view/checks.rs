//! The health checks in the host pane: one row per check that applies in
//! the host's state, failing first, "+N more" naming those that do not
//! fit — a mark (✓ ok, ✗ failing, ? no data or stale, …
//! pending), its name, value, comparison and limit, failures against the
//! allowance, the sample's age, and for a check judged against a baseline
//! the candidate's ratio to it. Above them, the runbook (`b`) of a halt,
//! a failing check, or the check that failed the last deploy.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use chrono::{DateTime, Utc};

use crate::console::state::HostView;
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::Status;
use crate::wire::{CheckStatus, CheckView};

/// `stale`: the host's data is stale, so no check is shown as known.
/// Every check that applies is listed, failing first; when the pane is too
/// short, the last row says how many more there are and names them.
pub(super) fn draw(
    frame: &mut Frame,
    host: &HostView,
    status: &Status,
    stale: bool,
    now: DateTime<Utc>,
    theme: &Theme,
    area: Rect,
) {
    // The check name gives way first on a narrow screen: value, limit and
    // failures must stay readable.
    let name_width = usize::from(area.width).saturating_sub(34).clamp(10, 22);
    let mut lines = vec![Line::styled(
        format!(
            "{:<2}{:<name_width$} {:>10} {:>8} {:>6}",
            "", "health", "value", "limit", "fails"
        ),
        theme.header,
    )];
    // What to do first: the runbook the host's state points at, above the
    // rows so it is never the one cut.
    if let Some(target) = crate::console::runbook::target(status) {
        lines.push(Line::styled(
            inert(&truncate(
                &format!("▸ runbook (b) for {}: {}", target.name, target.runbook),
                usize::from(area.width),
            )),
            theme.state_attention,
        ));
    }
    let above = lines.len();
    // The checks GATES counts, so that `9/9` means nine rows.
    let mut shown: Vec<&CheckView> = status.checks.iter().filter(|c| c.counts()).collect();
    // Stable: within a rank, the agent's order.
    shown.sort_by_key(|c| rank(c));
    let room = usize::from(area.height).saturating_sub(above);
    let (fits, hidden) = if shown.len() > room {
        let fits = room.saturating_sub(1);
        (&shown[..fits], &shown[fits..])
    } else {
        (&shown[..], &shown[..0])
    };
    for c in fits {
        let (mark, style) = match c.status {
            _ if stale => ("?", theme.stale),
            CheckStatus::Ok => (c.mark(), theme.state_ok),
            CheckStatus::NoData => (c.mark(), theme.stale),
            // Still gathering evidence is not a failure.
            CheckStatus::Pending | CheckStatus::Insufficient => (c.mark(), theme.muted),
            _ => ("✗", theme.state_failed),
        };
        let value = c.shown_value();
        let (op, limit) = c.limit_columns();
        let age = c
            .age_s
            .map(|a| format!(" {:.0}s", host.checks_age(a, now)))
            .unwrap_or_default();
        // Against a baseline: candidate ÷ baseline, or why not yet.
        let versus = match (c.ratio, c.baseline_source.is_some(), c.verdict.as_deref()) {
            (Some(ratio), _, _) => format!(" ×{ratio:.2} vs base"),
            (None, true, Some(verdict)) => format!(" base: {verdict}"),
            _ => String::new(),
        };
        lines.push(Line::styled(
            inert(&format!(
                "{mark} {:<name_width$} {:>10} {:>2}{:>6} {:>3}/{}{age}{versus}",
                truncate(&c.name, name_width),
                value,
                op,
                limit,
                c.failures,
                c.failures_allowed
            )),
            style,
        ));
    }
    if !hidden.is_empty() {
        let failing = hidden.iter().filter(|c| rank(c) == 0).count();
        let names: Vec<&str> = hidden.iter().map(|c| c.name.as_str()).collect();
        let what = if stale {
            "stale: not known to pass".to_string()
        } else if failing > 0 {
            format!("{failing} failing")
        } else if hidden.iter().all(|c| c.status == CheckStatus::Ok) {
            "all ok".to_string()
        } else {
            "none failing".to_string()
        };
        lines.push(Line::styled(
            inert(&truncate(
                &format!("+{} more ({what}): {}", hidden.len(), names.join(", ")),
                usize::from(area.width),
            )),
            if failing > 0 {
                theme.state_failed
            } else {
                theme.muted
            },
        ));
    }
    if shown.is_empty() {
        lines.push(Line::styled(
            "no gate is watched in this state",
            theme.muted,
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// Failing first, then no data, then still pending, then passing.
fn rank(c: &CheckView) -> u8 {
    match c.status {
        CheckStatus::Failing | CheckStatus::Unknown => 0,
        CheckStatus::NoData => 1,
        CheckStatus::Pending | CheckStatus::Insufficient => 2,
        CheckStatus::Ok => 3,
        CheckStatus::NotApplicable => 4,
    }
}

/// `text` cut to `width` characters, the last one an ellipsis if it was cut.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

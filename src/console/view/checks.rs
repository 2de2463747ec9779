//! The health checks in the host pane: one row per check that applies in
//! the host's state — a mark (✓ ok, ✗ failing, ? no data or stale, …
//! pending), its name, value, comparison and limit, failures against the
//! allowance, the sample's age, and for a check judged against a baseline
//! the candidate's ratio to it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::CheckStatus;
use crate::wire::Status;

/// `stale`: the host's data is stale, so no check is shown as known.
pub(super) fn draw(frame: &mut Frame, status: &Status, stale: bool, theme: &Theme, area: Rect) {
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
    for c in status.checks.iter().filter(|c| c.applies) {
        let (mark, style) = match c.status {
            _ if stale => ("?", theme.stale),
            CheckStatus::Ok => (c.mark(), theme.state_ok),
            CheckStatus::NoData => (c.mark(), theme.stale),
            CheckStatus::Pending => (c.mark(), theme.muted),
            _ => ("✗", theme.state_failed),
        };
        let value = c.shown_value();
        let (op, limit) = c.limit_columns();
        let age = c.age_s.map(|a| format!(" {a:.0}s")).unwrap_or_default();
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
    if status.checks.iter().all(|c| !c.applies) {
        lines.push(Line::styled(
            "no gate is watched in this state",
            theme.muted,
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
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

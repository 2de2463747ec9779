//! The top bar: the fleet's name, how many hosts, how many of them need a
//! look (awaiting approval, rolled back, halted, stale, drill overdue,
//! frozen; a count of zero is left out), who you are and the role the
//! selected host grants you, and the clock in UTC.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::release_groups::ReleaseGroups;
use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let counts = model.counts();
    let mut spans = vec![
        Span::styled(format!(" gantry · {} ", inert(&model.title)), theme.title),
        Span::styled(format!("· {} hosts ", model.hosts.len()), theme.text),
    ];
    let mut count = |n: usize, label: &str, style: Style| {
        if n > 0 {
            spans.push(Span::styled(format!("· {n} {label} "), style));
        }
    };
    count(
        counts.awaiting_approval,
        "awaiting approval",
        theme.state_attention,
    );
    count(counts.rolled_back, "rolled back", theme.state_failed);
    count(counts.halted, "halted", theme.state_halted);
    count(counts.not_flat, "NOT FLAT", theme.state_halted);
    count(counts.stale, "stale", theme.stale);
    count(counts.drill_overdue, "drill overdue", theme.state_attention);
    count(counts.frozen, "frozen", theme.state_attention);
    // More than one release served: the fleet is split (`:releases`).
    let releases = ReleaseGroups::of(&model.hosts).groups.len();
    if releases > 1 {
        spans.push(Span::styled(
            format!("· {releases} releases "),
            theme.state_attention,
        ));
    }
    spans.push(Span::styled(format!("· {} ", you(model)), theme.text));
    spans.push(Span::styled(
        format!("· {} UTC", model.now.format("%H:%M:%S")),
        theme.muted,
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(theme.header), area);
}

/// `alice (operator)`: the name is what you claim (`$USER`); the role is
/// what the selected host's agent grants the session sshd opened there.
fn you(model: &Model) -> String {
    let user = inert(model.user.as_deref().unwrap_or("unknown user"));
    match model.selected_host().and_then(|h| h.role) {
        Some(role) => format!("{user} ({role})"),
        None => format!("{user} (role unknown)"),
    }
}

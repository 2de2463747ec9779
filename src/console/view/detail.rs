//! The selected host's pane: its bordered block (titled with the host, or
//! why its data is stale), the stage rail (shadow → paper → canary → live,
//! with the soak left and what the host waits for), and below it the
//! health checks (`checks.rs`) beside the gauges (`gauges.rs`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{age, checks, clock, gauges, state_style};
use crate::console::state::{HostView, Link, Model};
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::StateWord;
use crate::wire::Status;

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let Some(host) = model.selected_host() else {
        return;
    };
    let stale = host.stale_for(model.now);
    let title = match (stale, &host.link) {
        (Some(_), Link::Down { error, .. }) => {
            format!(" {} · link down: {} ", inert(&host.name), inert(error))
        }
        (Some(a), _) => format!(" {} · STALE: last heard {} ago ", inert(&host.name), age(a)),
        (None, _) => format!(" {} ", inert(&host.name)),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if stale.is_some() {
            theme.stale
        } else {
            theme.border
        })
        .title(Span::styled(
            title,
            if stale.is_some() {
                theme.stale
            } else {
                theme.title
            },
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(status) = &host.status else {
        frame.render_widget(Paragraph::new("no status yet").style(theme.stale), inner);
        return;
    };
    let [rail_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(rail(status, host, model, theme)), rail_area);
    let [checks_area, gauges_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body);
    checks::draw(frame, status, stale.is_some(), theme, checks_area);
    gauges::draw(frame, model, host, status, theme, gauges_area);
}

/// shadow → paper → canary → live, with ✓ for stages passed.
fn rail(status: &Status, host: &HostView, model: &Model, theme: &Theme) -> Line<'static> {
    let order = [
        StateWord::Shadow,
        StateWord::Paper,
        StateWord::Canary,
        StateWord::Live,
    ];
    let current = match status.state {
        StateWord::AwaitingApproval => Some(2),
        s => order.iter().position(|o| *o == s),
    };
    let mut spans = Vec::new();
    for (i, name) in order.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" ─► ", theme.muted));
        }
        let label = name.as_str().to_uppercase();
        match current {
            Some(c) if i < c || (i == 2 && status.state == StateWord::AwaitingApproval) => {
                spans.push(Span::styled(format!("{label} ✓"), theme.state_ok))
            }
            Some(c) if i == c => {
                let left = host
                    .soak_left(model.now)
                    .map(|(l, _)| format!(" {} left", clock(l)))
                    .unwrap_or_default();
                let what = if *name == StateWord::Live && !left.is_empty() {
                    format!("{label} watch{left}")
                } else {
                    format!("{label}{left}")
                };
                spans.push(Span::styled(what, state_style(theme, status.state)))
            }
            _ => spans.push(Span::styled(label, theme.muted)),
        }
    }
    if let Some(paused) = &status.soak_paused {
        spans.push(Span::styled(
            format!("  {}", inert(paused)),
            theme.state_attention,
        ));
    }
    match status.state {
        StateWord::AwaitingApproval => spans.push(Span::styled(
            "  awaiting approval (a)",
            theme.state_attention,
        )),
        StateWord::RolledBack => spans.push(Span::styled(
            "  rolled back to the known-good release",
            theme.state_failed,
        )),
        StateWord::Halted => {
            let reason = inert(status.halted_reason.as_deref().unwrap_or(""));
            let line = match &status.estop {
                Some(stop) if stop.settled() && !stop.proven_flat() => format!(
                    "  HALTED · {}: {reason} — {}",
                    stop.headline(),
                    inert(stop.evidence().unwrap_or(""))
                ),
                Some(stop) => format!("  HALTED · {}: {reason}", stop.headline()),
                None => format!("  HALTED: {reason}"),
            };
            spans.push(Span::styled(line, theme.state_halted))
        }
        StateWord::Idle => spans.push(Span::styled("  idle: nothing serving", theme.muted)),
        _ => {}
    }
    Line::from(spans)
}

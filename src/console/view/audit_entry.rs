//! One audit entry, open over the rest (Enter on the focused audit pane):
//! every field, the message and reason wrapped, the detail and the event
//! as indented JSON, and the hash chain link. All of it inert.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::centered;
use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::AuditEntry;

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, scroll: u16) {
    let Some((host, entry)) = model.audit_selected() else {
        return;
    };
    let name = model.hosts.get(host).map_or("?", |h| h.name.as_str());
    let lines = lines(name, entry, theme);
    let screen = frame.area();
    let area = centered(
        screen,
        screen.width.saturating_sub(4).min(120),
        screen.height.saturating_sub(2),
    );
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dialog_border)
        .title(format!(
            " audit #{} on {} · j k scroll · Esc closes ",
            entry.seq,
            inert(name)
        ));
    let paragraph = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    frame.render_widget(paragraph, area);
}

fn lines<'a>(host: &str, e: &AuditEntry, theme: &Theme) -> Vec<Line<'a>> {
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<10}"), theme.muted),
            Span::styled(inert(&value), theme.text),
        ])
    };
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let mut lines = vec![
        field("at", e.at.clone()),
        field("host", host.to_string()),
        field("kind", e.kind.to_string()),
        field("state", e.state.clone()),
        field("deploy", or_none(&e.deploy_id)),
        field("release", or_none(&e.release)),
    ];
    if let Some(actor) = &e.actor {
        lines.push(field("who", actor.who()));
        lines.push(field("role", actor.role.to_string()));
    }
    lines.push(field("reason", or_none(&e.reason)));
    lines.push(field("message", e.message.clone()));
    for (label, value) in [("detail", &e.detail), ("event", &e.event)] {
        if let Some(value) = value {
            lines.push(Line::styled(label.to_string(), theme.muted));
            let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
            lines.extend(pretty.lines().map(|l| Line::raw(format!("  {}", inert(l)))));
        }
    }
    lines.push(field("hash", e.hash.clone()));
    lines.push(field("prev", e.prev.clone()));
    lines
}

//! The audit tail: the newest entries of every host that fit, passing the
//! `/` filter, one line each (time, host, kind, message, who and why), red
//! for failures, rollbacks and refusals, loudest for stops and halts.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let title = if model.filter.is_empty() {
        " audit ".to_string()
    } else {
        format!(" audit · filter {:?} ", inert(&model.filter))
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title, theme.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let entries = model.filtered_audit();
    let visible = usize::from(inner.height);
    let lines: Vec<Line> = entries
        .iter()
        .skip(entries.len().saturating_sub(visible))
        .map(|(host, e)| {
            let name = model.hosts.get(*host).map_or("?", |h| h.name.as_str());
            let who = e
                .actor
                .as_ref()
                .map(|a| format!(" [{}]", inert(&a.who())))
                .unwrap_or_default();
            let why = e
                .reason
                .as_ref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            let style = if e.kind.is_trouble() {
                theme.state_failed
            } else if e.kind.is_stop() {
                theme.state_halted
            } else {
                theme.text
            };
            Line::styled(
                inert(&format!(
                    "{} {:<10} {:<16} {}{who}{why}",
                    e.at.get(11..19).unwrap_or(&e.at),
                    name,
                    e.kind,
                    e.message
                )),
                style,
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

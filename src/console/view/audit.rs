//! The audit tail: the newest entries of every host that fit, passing the
//! `/` filter, one line each (time, host, kind, message, who and why), red
//! for failures, rollbacks and refusals, loudest for stops and halts. When
//! focused (Tab) its border lights up and the selected entry is marked;
//! `no matches` says so when the filter leaves nothing.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let focused = model.audit_focus.is_some();
    let mut title = String::from(" audit ");
    if !model.filter.is_empty() {
        title.push_str(&format!(
            "· filter {:?} (Esc on / clears) ",
            inert(&model.filter)
        ));
    }
    if focused {
        title.push_str("· j k move · Enter opens · Tab back ");
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.dialog_border
        } else {
            theme.border
        })
        .title(Span::styled(title, theme.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let entries = model.filtered_audit();
    if entries.is_empty() && !model.filter.is_empty() {
        let none = format!("no matches for {:?}", inert(&model.filter));
        frame.render_widget(Paragraph::new(Line::styled(none, theme.muted)), inner);
        return;
    }
    let visible = usize::from(inner.height).max(1);
    let selected = model.audit_row();
    // The newest that fit, or the window that holds the selection.
    let last = match selected {
        Some(row) if row + visible < entries.len() => row + 1,
        _ => entries.len(),
    };
    let first = last.saturating_sub(visible);
    let last = (first + visible).min(entries.len());
    let lines: Vec<Line> = entries[first..last]
        .iter()
        .enumerate()
        .map(|(offset, (host, e))| {
            let marked = selected == Some(first + offset);
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
            let style = if marked {
                theme.selection
            } else if e.kind.is_trouble() {
                theme.state_failed
            } else if e.kind.is_stop() {
                theme.state_halted
            } else {
                theme.text
            };
            Line::styled(
                inert(&format!(
                    "{}{} {:<10} {:<16} {}{who}{why}",
                    if marked { "▶ " } else { "" },
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

//! The log view (`l`), full screen: a title line (host, follow or
//! paused, a stale host said loudly, filter, counts, source), the lines bottom
//! up, and a line of keys (or the `/` being typed, or a notice). Every
//! line is made inert before it is drawn; startup phases are marked `▸`,
//! lines a smoke deploy forbids `⚑` (a live service's trades are among
//! them: attention, not failure), errors and crashes `✗`, in colour and
//! in text for NO_COLOR.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::age;
use crate::console::keymap::{Action, Keymap, Mode};
use crate::console::logview::{LogView, Mark};
use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;

/// The keys the bottom line offers, in its order.
const SHOWN: [Action; 5] = [
    Action::Follow,
    Action::Filter,
    Action::Up,
    Action::Bottom,
    Action::Cancel,
];

pub(super) fn draw(
    frame: &mut Frame,
    model: &Model,
    view: &LogView,
    keymap: &Keymap,
    theme: &Theme,
) {
    let [title, body, keys] = super::full_screen(frame);
    frame.render_widget(Paragraph::new(title_line(model, view, theme)), title);
    draw_body(frame, view, theme, body);
    if model.prompt.is_some() || model.current_notice().is_some() {
        super::footer::draw(frame, model, keymap, theme, keys);
    } else {
        let mut spans = Vec::new();
        for action in SHOWN {
            if let Some(key) = keymap.key_for(Mode::Logs, action) {
                spans.push(Span::styled(format!(" {key}"), theme.key));
                let label = match action {
                    Action::Follow if view.following => "pause".to_string(),
                    Action::Follow => "follow".to_string(),
                    Action::Up => "scroll".to_string(),
                    Action::Bottom => "newest".to_string(),
                    Action::Cancel => "back".to_string(),
                    other => other.label(),
                };
                spans.push(Span::styled(format!(" {label} "), theme.muted));
            }
        }
        // The marks' legend, so they read without colour too.
        spans.push(Span::styled(
            "  ▸ start-up phase  ⚑ smoke-forbidden  ✗ error",
            theme.muted,
        ));
        frame.render_widget(Paragraph::new(Line::from(spans)), keys);
    }
}

fn title_line<'a>(model: &Model, view: &LogView, theme: &Theme) -> Line<'a> {
    let host = model.hosts.get(view.host);
    let name = host.map_or_else(|| "?".to_string(), |h| inert(&h.name));
    let mut spans = vec![Span::styled(format!(" logs · {name} "), theme.title)];
    if view.following {
        spans.push(Span::styled(" ● following ", theme.state_ok));
    } else if view.unseen > 0 {
        spans.push(Span::styled(
            format!(" ‖ paused · {} new below ", view.unseen),
            theme.state_attention,
        ));
    } else {
        spans.push(Span::styled(" ‖ paused ", theme.state_attention));
    }
    if let Some(stale) = host.and_then(|h| h.stale_for(model.now)) {
        spans.push(Span::styled(
            format!(" STALE {} — no new lines arrive ", age(stale)),
            theme.stale,
        ));
    }
    let shown = view.visible().len();
    if view.filter.is_empty() {
        spans.push(Span::styled(format!(" {shown} lines "), theme.muted));
    } else {
        spans.push(Span::styled(
            format!(
                " filter \"{}\": {shown} of {} ",
                inert(&view.filter),
                view.lines.len()
            ),
            theme.key,
        ));
    }
    if view.skipped > 0 {
        spans.push(Span::styled(
            format!(" {} skipped ", view.skipped),
            theme.state_attention,
        ));
    }
    // Last: the least urgent, and the first cut on a narrow screen.
    if let Some(source) = &view.source {
        spans.push(Span::styled(format!(" {} ", inert(source)), theme.muted));
    }
    Line::from(spans)
}

fn draw_body(frame: &mut Frame, view: &LogView, theme: &Theme, area: ratatui::layout::Rect) {
    if let Some(error) = &view.error {
        let text = format!("no log: {error}");
        frame.render_widget(Paragraph::new(text).style(theme.state_failed), area);
        return;
    }
    if view.source.is_none() {
        frame.render_widget(
            Paragraph::new("asking the agent for the service's log…").style(theme.muted),
            area,
        );
        return;
    }
    let visible = view.visible();
    if visible.is_empty() {
        let text = if view.filter.is_empty() {
            "the log is empty".to_string()
        } else {
            format!("no line matches \"{}\"", inert(&view.filter))
        };
        frame.render_widget(Paragraph::new(text).style(theme.muted), area);
        return;
    }
    let height = usize::from(area.height);
    let end = visible.len().saturating_sub(view.offset);
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = visible[start..end]
        .iter()
        .map(|line| {
            let (marker, style) = match view.mark(line) {
                Mark::Error => ("✗ ", theme.state_failed),
                Mark::Forbidden => ("⚑ ", theme.state_attention),
                Mark::Phase => ("▸ ", theme.state_ok),
                Mark::Plain => ("  ", theme.text),
            };
            Line::from(vec![
                Span::styled(marker, style),
                Span::styled(inert(line), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

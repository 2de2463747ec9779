//! The bottom line: the `/` filter or `:` command being typed (with the
//! cursor), else a notice (an answer that came late or to a dialog left
//! with Esc, a request past its deadline), else a one-line flash of
//! feedback, else the main keys as the keymap binds them ("a approve  r
//! rollback …").

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::keymap::{Action, Keymap, Mode};
use crate::console::state::{Model, PromptKind};
use crate::console::theme::Theme;
use crate::text::inert;

/// The actions the footer offers, in its order.
const SHOWN: [Action; 9] = [
    Action::Approve,
    Action::Rollback,
    Action::EmergencyStop,
    Action::FleetStop,
    Action::Drill,
    Action::Filter,
    Action::Command,
    Action::Help,
    Action::Quit,
];

pub(super) fn draw(frame: &mut Frame, model: &Model, keymap: &Keymap, theme: &Theme, area: Rect) {
    if let Some(prompt) = &model.prompt {
        let label = match prompt.kind {
            PromptKind::Filter | PromptKind::LogFilter => "/",
            PromptKind::Command => ":",
        };
        let line = Line::from(vec![
            Span::styled(label, theme.key),
            Span::styled(prompt.input.value().to_string(), theme.input),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        frame.set_cursor_position((area.x + 1 + prompt.input.visual_cursor() as u16, area.y));
        return;
    }
    // A notice is an answer nobody saw, or one that never came: it wins
    // over the flash and the key hints until it is a minute old.
    if let Some(notice) = model.current_notice() {
        let style = if notice.alarm {
            theme.state_failed
        } else {
            theme.state_attention
        };
        frame.render_widget(Paragraph::new(inert(&notice.text)).style(style), area);
        return;
    }
    if let Some(flash) = &model.flash {
        frame.render_widget(
            Paragraph::new(inert(flash)).style(theme.state_attention),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for action in SHOWN {
        if let Some(key) = keymap.key_for(Mode::Normal, action) {
            spans.push(Span::styled(format!(" {key}"), theme.key));
            spans.push(Span::styled(format!(" {} ", action.label()), theme.muted));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

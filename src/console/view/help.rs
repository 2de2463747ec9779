//! The `?` screen, drawn over the rest: every binding of every mode as the
//! keymap has it, and the `:` commands. One column when the screen is tall
//! enough, else two, so every key still shows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::console::keymap::{Keymap, Mode};
use crate::console::state::COMMANDS;
use crate::console::theme::Theme;

pub(super) fn draw(frame: &mut Frame, keymap: &Keymap, theme: &Theme) {
    let section = |mode: Mode, title: &str| {
        let mut lines = vec![Line::styled(title.to_string(), theme.header)];
        for b in keymap.bindings(mode) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<14}", b.keys.join(" ")), theme.key),
                Span::styled(b.description.clone(), theme.text),
            ]));
        }
        lines
    };
    let fleet = section(Mode::Normal, "fleet");
    let mut rest = section(Mode::Dialog, "dialogs");
    rest.extend(section(Mode::Prompt, "/ filter and : command"));
    rest.extend(section(Mode::Help, "this help"));
    // The log view's keys two to a line, so help still fits 80×24; the
    // runbook pager scrolls with the same keys.
    rest.push(Line::styled("log view (l)".to_string(), theme.header));
    let logs: Vec<(String, String)> = keymap
        .bindings(Mode::Logs)
        .iter()
        .map(|b| (b.keys.join(" "), b.description.clone()))
        .collect();
    for pair in logs.chunks(2) {
        let spans: Vec<Span> = pair
            .iter()
            .flat_map(|(keys, desc)| {
                [
                    Span::styled(format!("  {keys} "), theme.key),
                    Span::styled(desc.clone(), theme.text),
                ]
            })
            .collect();
        rest.push(Line::from(spans));
    }
    rest.push(Line::styled(
        "runbook pager (b): scrolls as the log view; esc q back".to_string(),
        theme.header,
    ));
    for row in COMMANDS.chunks(3) {
        let names: Vec<String> = row.iter().map(|(name, _)| format!(":{name}")).collect();
        rest.push(Line::styled(names.join(" "), theme.muted));
    }
    let screen = frame.area();
    let one_column = fleet.len() + rest.len() + 2 <= usize::from(screen.height);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dialog_border)
        .title(" keys (?) ");
    if one_column {
        let mut lines = fleet;
        lines.extend(rest);
        let area = centered(screen, 64, lines.len() as u16 + 2);
        frame.render_widget(Clear, area);
        frame.render_widget(Paragraph::new(lines).block(block), area);
        return;
    }
    // A short screen gets two columns, so every key still shows.
    let height = fleet.len().max(rest.len()) as u16 + 2;
    let area = centered(screen, screen.width.saturating_sub(2).min(110), height);
    frame.render_widget(Clear, area);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(Paragraph::new(fleet), left);
    frame.render_widget(Paragraph::new(rest), right);
}

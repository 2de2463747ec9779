//! The `?` screen, drawn over the rest: every binding of every mode as the
//! keymap has it, the `:` commands with their arguments, and a legend of
//! the table's symbols and colours drawn in the theme's own styles. One
//! column when the screen is tall enough, else two, so every key still
//! shows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::console::commands::COMMANDS;
use crate::console::keymap::{Keymap, Mode};
use crate::console::theme::Theme;

pub(super) fn draw(frame: &mut Frame, keymap: &Keymap, theme: &Theme, scroll: u16) {
    let row = |width: usize, label: String, text: &str| {
        Line::from(vec![
            Span::styled(format!("  {label:<width$}"), theme.key),
            Span::styled(text.to_string(), theme.text),
        ])
    };
    let section = |modes: &[(Mode, &str)]| {
        // The key column is as wide as its longest entry, so no key runs
        // into its text.
        let width = (modes.iter())
            .flat_map(|(mode, _)| keymap.bindings(*mode))
            .map(|b| b.keys.join(" ").chars().count())
            .max()
            .unwrap_or(8)
            + 2;
        let mut lines = Vec::new();
        for (mode, title) in modes {
            lines.push(Line::styled(title.to_string(), theme.header));
            for b in keymap.bindings(*mode) {
                lines.push(row(width, b.keys.join(" "), &b.description));
            }
        }
        lines
    };
    let mut keys = section(&[(Mode::Normal, "fleet"), (Mode::Dialog, "dialogs")]);
    let mut rest = section(&[
        (Mode::Prompt, "/ filter and : command"),
        (Mode::Report, "the risk ledger (R)"),
        (Mode::Help, "this help"),
    ]);
    // The log view's keys two to a line; the runbook pager scrolls with
    // the same keys.
    rest.push(Line::styled("log view (l)".to_string(), theme.header));
    let logs: Vec<(String, String)> = (keymap.bindings(Mode::Logs).iter())
        .map(|b| (b.keys.join(" "), b.description.clone()))
        .collect();
    for pair in logs.chunks(2) {
        let spans: Vec<Span> = (pair.iter())
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
    rest.push(Line::styled(
        ": commands (HOST, else the selected host; Tab completes)",
        theme.header,
    ));
    let width = (COMMANDS.iter())
        .map(|c| command_label(c).chars().count())
        .max()
        .unwrap_or(8)
        + 2;
    for command in &COMMANDS {
        rest.push(row(width, command_label(command), command.desc));
    }
    rest.extend(legend(theme));

    let screen = frame.area();
    let one_column = keys.len() + rest.len() + 2 <= usize::from(screen.height);
    let title = |overflow: bool| match overflow {
        true => " keys (?) · j/k scroll ",
        false => " keys (?) ",
    };
    if one_column {
        keys.extend(rest);
        let width = screen.width.saturating_sub(2).min(90);
        let area = centered(screen, width, keys.len() as u16 + 2);
        frame.render_widget(Clear, area);
        let block = help_block(theme, title(false));
        frame.render_widget(Paragraph::new(keys).block(block), area);
        return;
    }
    // A short screen gets two columns, and scrolls if even they overflow.
    let lines = keys.len().max(rest.len()) as u16;
    let height = (lines + 2).min(screen.height);
    let overflow = lines + 2 > screen.height;
    let area = centered(screen, screen.width.saturating_sub(2).min(170), height);
    frame.render_widget(Clear, area);
    let block = help_block(theme, title(overflow));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let scroll = scroll.min(lines.saturating_sub(inner.height));
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(Paragraph::new(keys).scroll((scroll, 0)), left);
    frame.render_widget(Paragraph::new(rest).scroll((scroll, 0)), right);
}

fn help_block<'a>(theme: &Theme, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dialog_border)
        .title(title)
}
fn command_label(command: &crate::console::commands::CommandSpec) -> String {
    match command.args {
        "" => format!(":{}", command.name),
        args => format!(":{} {args}", command.name),
    }
}

/// What the table's symbols mean, and each colour shown in its own style
/// (so a custom theme or `NO_COLOR` explains itself).
fn legend(theme: &Theme) -> Vec<Line<'static>> {
    let sample = |text: &'static str, style: Style| Span::styled(text, style);
    let gap = || Span::raw("  ");
    vec![
        Line::styled("legend", theme.header),
        Line::styled(
            "  ▶ selected  ▸ next step  ✓ all pass  ✗ one fails",
            theme.text,
        ),
        Line::styled(
            "  ? unknown (stale)  — no data  ▇░ soak done/left",
            theme.text,
        ),
        Line::styled(
            "  AGE: since heard, round trip; SILENT/DOWN: stale",
            theme.text,
        ),
        Line::from(vec![
            Span::raw("  "),
            sample("live, ok", theme.state_ok),
            gap(),
            sample("soaking", theme.state_progress),
            gap(),
            sample("awaiting approval", theme.state_attention),
            gap(),
            sample("failed, rolled back", theme.state_failed),
        ]),
        Line::from(vec![
            Span::raw("  "),
            sample("HALTED", theme.state_halted),
            gap(),
            sample("stale, no data", theme.stale),
            gap(),
            sample("idle, labels", theme.muted),
        ]),
    ]
}

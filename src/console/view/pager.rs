//! The runbook pager (`b`), full screen: a title (host, what the runbook
//! is for, where it is, the lines shown), the text made inert, and a line
//! of keys. A URL is only shown, to open elsewhere.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::keymap::{Action, Keymap, Mode};
use crate::console::runbook::Pager;
use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;

pub(super) fn draw(
    frame: &mut Frame,
    model: &Model,
    pager: &Pager,
    keymap: &Keymap,
    theme: &Theme,
) {
    let [title, body, keys] = super::full_screen(frame);
    let name = model
        .hosts
        .get(pager.host)
        .map_or_else(|| "?".to_string(), |h| inert(&h.name));
    let lines = pager.lines();
    let height = usize::from(body.height);
    let end = (pager.top + height).min(lines.len());
    let mut spans = vec![
        Span::styled(
            format!(" runbook · {name} · {} ", inert(&pager.target.name)),
            theme.title,
        ),
        Span::styled(format!(" {} ", inert(&pager.target.runbook)), theme.key),
    ];
    if !lines.is_empty() {
        spans.push(Span::styled(
            format!(" lines {}–{end} of {} ", pager.top + 1, lines.len()),
            theme.muted,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), title);
    let text: Vec<Line> = match &pager.answer {
        None => vec![Line::styled(
            "asking the agent for the runbook…",
            theme.muted,
        )],
        Some(Err(why)) => vec![Line::styled(
            format!("no runbook: {}", inert(why)),
            theme.state_failed,
        )],
        Some(Ok(answer)) => match &answer.url {
            Some(url) => vec![
                Line::styled(
                    "This runbook is a web page; open it in a browser:",
                    theme.text,
                ),
                Line::styled(format!("  {}", inert(url)), theme.key),
                Line::styled("(gantry does not fetch URLs)", theme.muted),
            ],
            None => {
                let mut out: Vec<Line> = lines[pager.top.min(end)..end]
                    .iter()
                    .map(|l| {
                        // Markdown headings stand out; the rest is text.
                        let style = if l.starts_with('#') {
                            theme.header
                        } else {
                            theme.text
                        };
                        Line::styled(inert(l), style)
                    })
                    .collect();
                if answer.truncated && end == lines.len() {
                    out.push(Line::styled(
                        "… cut at 256 KiB: the rest is in the file on the host",
                        theme.state_attention,
                    ));
                }
                out
            }
        },
    };
    frame.render_widget(Paragraph::new(text), body);
    let mut hints = Vec::new();
    for (action, label) in [
        (Action::Down, "scroll"),
        (Action::PageDown, "page"),
        (Action::Cancel, "back"),
    ] {
        if let Some(key) = keymap.key_for(Mode::Pager, action) {
            hints.push(Span::styled(format!(" {key}"), theme.key));
            hints.push(Span::styled(format!(" {label} "), theme.muted));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(hints)), keys);
}

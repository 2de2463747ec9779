//! The `R` view, full screen: the selected host's risk ledger in the
//! words `ctl report` prints, and where bad releases were caught as bars
//! (the proof that the soaks pay). Esc goes back to the fleet.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::age;
use crate::console::ledger::{LedgerView, WINDOW_S};
use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::ledger::Report;
use crate::wire::ledger::text::lines;

/// The widest bar, in cells.
const BAR: u64 = 30;

pub(super) fn draw(frame: &mut Frame, model: &Model, view: &LedgerView, theme: &Theme) {
    let area = frame.area();
    let name = model
        .hosts
        .get(view.host)
        .map_or_else(|| "?".to_string(), |h| inert(&h.name));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dialog_border)
        .title(format!(
            " risk ledger · {name} · last {} days · Esc back ",
            WINDOW_S / 86_400
        ));
    let body = match &view.answer {
        None => {
            let waited = (model.now - view.asked_at).to_std().unwrap_or_default();
            vec![Line::styled(
                format!(
                    "asking {name} for its ledger (the report op) … {}",
                    age(waited)
                ),
                theme.muted,
            )]
        }
        Some(Err(e)) => vec![Line::styled(
            format!("✗ {name}: no ledger: {}", inert(e)),
            theme.state_failed,
        )],
        Some(Ok(report)) => figures(report, theme),
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(body).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

fn figures<'a>(report: &Report, theme: &Theme) -> Vec<Line<'a>> {
    let mut out: Vec<Line> = Vec::new();
    let text = lines(report);
    if let Some((head, rest)) = text.split_first() {
        out.push(Line::styled(head.clone(), theme.header));
        out.push(Line::raw(""));
        for line in rest {
            let style =
                if line.starts_with("change failure") && report.deploys.failed_after_live > 0 {
                    theme.state_failed
                } else {
                    theme.text
                };
            out.push(Line::styled(line.clone(), style));
        }
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        "where bad releases were stopped".to_string(),
        theme.header,
    ));
    let caught = report.caught.by_stage();
    let most = caught.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    for (stage, n) in caught {
        let cells = (n * BAR).div_ceil(most) as usize;
        let style = if stage == "live" && n > 0 {
            theme.state_failed
        } else {
            theme.state_ok
        };
        out.push(Line::from(vec![
            Span::styled(format!("  {stage:<10}"), theme.muted),
            Span::styled("▇".repeat(cells), style),
            Span::styled(format!(" {n}"), theme.text),
        ]));
    }
    out
}

//! The fleet stop's dialog: every host it stops, the reason and the typed
//! `HALT <n>`, then one row per host as it halts and its venue is proven
//! flat (or why not), with the time each took.

use ratatui::Frame;
use ratatui::text::{Line, Span};

use super::dialog;
use crate::console::state::{FleetStop, Model, Progress};
use crate::console::theme::Theme;
use crate::text::inert;

pub(super) fn draw(frame: &mut Frame, model: &Model, stop: &FleetStop, theme: &Theme) {
    let count = stop.hosts.len();
    let head: Vec<Line> = vec![Line::styled(
        format!(
            "EMERGENCY STOP ALL {count} HOSTS: halt each, stop its service, run its kill command (cancel, flatten), verify flat."
        ),
        theme.state_halted,
    )];
    let mut lines: Vec<Line> = Vec::new();
    let mut flat = 0;
    for (position, &index) in stop.hosts.iter().enumerate() {
        let host = model.hosts.get(index);
        let name = host.map_or("?".to_string(), |h| inert(&h.name));
        let took = stop
            .replies
            .get(position)
            .and_then(Option::as_ref)
            .map(|(_, took)| format!("{:>6.2}s", took.as_secs_f64()))
            .unwrap_or_default();
        let (text, style) = match stop.progress(position, host) {
            Progress::Untouched => {
                let now = host.map_or("?".into(), |h| h.state().to_string());
                (format!("now {now}"), theme.muted)
            }
            Progress::Waiting => ("sent; waiting…".to_string(), theme.state_attention),
            Progress::Halted(what) => (what, theme.state_attention),
            Progress::Flat => {
                flat += 1;
                ("✓ HALTED · FLAT".to_string(), theme.state_ok)
            }
            Progress::Failed(why) => (format!("✗ {}", inert(&why)), theme.state_failed),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {name:<14} "), theme.text),
            Span::styled(format!("{took:>7} "), theme.muted),
            Span::styled(text, style),
        ]));
    }
    let body = lines;
    let mut lines: Vec<Line> = vec![Line::raw("")];
    if stop.sent() {
        let answered = stop.answered();
        // The slowest reply as the shell timed it; until all have answered,
        // the seconds since sending, as the clock ticks.
        let elapsed = match stop.slowest() {
            Some(slowest) if answered == count => format!("all in {:.2}s", slowest.as_secs_f64()),
            _ => {
                let since = stop
                    .sent_at
                    .map(|at| (model.now - at).num_milliseconds().max(0));
                format!("{:.0}s", since.unwrap_or_default() as f64 / 1000.0)
            }
        };
        let summary =
            format!("{flat}/{count} halted and flat · {answered}/{count} answered · {elapsed}");
        let style = if flat == count {
            theme.state_ok
        } else {
            theme.state_attention
        };
        lines.push(Line::styled(summary, style));
        lines.push(Line::styled(
            if answered == count {
                "Enter or Esc closes"
            } else {
                "Esc closes this view; the stops go on"
            },
            theme.muted,
        ));
    } else {
        let phrase = stop.phrase();
        dialog::form(
            &mut lines,
            &stop.reason,
            Some((&phrase, &stop.confirm)),
            stop.field,
            stop.error.as_deref(),
            theme,
        );
        lines.push(Line::styled(
            "Enter send · Esc cancel · Tab next field",
            theme.muted,
        ));
    }
    let title = format!(" EMERGENCY STOP · ALL {count} HOSTS ");
    let sections = dialog::Sections {
        head,
        body,
        tail: lines,
    };
    dialog::boxed(
        frame,
        model,
        sections,
        &title,
        theme.state_halted,
        110,
        theme,
    );
}

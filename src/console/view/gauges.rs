//! The right side of the host pane: the PnL sparkline (the last hour, or
//! as far back as the samples go, across its width) with the latest
//! value, the drawdown gauge against its limit, kill events and
//! reconciliation mismatches, and "never drilled" (a drill's verdict and
//! an overdue one are in the pane's top lines, `drill.rs`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Wrap};

use super::bar;
use crate::console::state::{HostView, Model};
use crate::console::theme::Theme;
use crate::wire::Status;

pub(super) fn draw(
    frame: &mut Frame,
    model: &Model,
    host: &HostView,
    status: &Status,
    theme: &Theme,
    area: Rect,
) {
    let [spark_area, gauge_area, counts_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(area);
    let [label, spark] =
        Layout::horizontal([Constraint::Length(20), Constraint::Min(1)]).areas(spark_area);
    // Over the time the samples cover, up to the last hour: a console
    // opened now draws the agent's hour.
    let pnl = host.pnl.columns(usize::from(spark.width), model.now);
    let floor = pnl.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
    let data: Vec<u64> = pnl.iter().map(|v| ((v - floor) * 100.0) as u64).collect();
    let pnl_now = host
        .check_value("pnl")
        .map_or("—".into(), |v| format!("{v:+.2} USD"));
    frame.render_widget(Paragraph::new(format!("PnL {pnl_now}")), label);
    frame.render_widget(
        Sparkline::default().data(&data).style(theme.sparkline),
        spark,
    );
    let drawdown = status.checks.iter().find(|c| c.name.contains("drawdown"));
    let gauge_line = match drawdown {
        Some(c) if c.limit > 0.0 => {
            let v = c.value.unwrap_or(0.0);
            let ratio = (v / c.limit).clamp(0.0, 1.0);
            let style = if ratio > 0.8 {
                theme.gauge_warn
            } else {
                theme.gauge
            };
            Line::from(vec![
                Span::raw("drawdown "),
                Span::styled(bar(ratio, 10), style),
                Span::raw(match c.value {
                    Some(v) => format!(" {v:.1}% of {:.1}%", c.limit),
                    None => " no data".to_string(),
                }),
            ])
        }
        _ => Line::styled("drawdown —", theme.muted),
    };
    frame.render_widget(Paragraph::new(gauge_line), gauge_area);
    let count = |word: &str| {
        host.check_value(word)
            .map_or("—".into(), |v| format!("{v:.0}"))
    };
    let overdue = host.drill_overdue(model.now);
    let mut lines = vec![Line::styled(
        format!(
            "kill events {} · recon mismatches {}",
            count("kill"),
            count("recon")
        ),
        theme.text,
    )];
    // The last drill, its verdict and timings, are in the pane's top
    // lines (`drill.rs`); here only that there was none.
    if status.last_drill.is_none() && status.last_drill_at.is_none() && !overdue {
        lines.push(Line::styled("never drilled", theme.muted));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        counts_area,
    );
}

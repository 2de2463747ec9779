//! Drawing the control room from `&Model` alone. Every string that came
//! from a host goes through `text::inert` before it reaches the screen.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap};

use super::keymap::{Action, Keymap, Mode};
use super::layout::{self, Areas};
use super::rollout::{Rollout, Standing};
use super::state::{COMMANDS, Dialog, DialogKind, Field, HostView, Link, Model, Phase, PromptKind};
use super::theme::Theme;
use crate::text::inert;
use crate::wire::Status;

/// "42s", "3m", "2h" for ages.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    if d == Duration::MAX {
        "never heard".into()
    } else if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{:02}:{:02}", s / 60, s % 60)
}

pub fn draw(frame: &mut Frame, model: &Model, keymap: &Keymap, theme: &Theme) {
    let area = frame.area();
    let areas = layout::split(area.width, area.height, model.hosts.len());
    header(frame, model, theme, areas.header);
    fleet(frame, model, theme, &areas);
    detail(frame, model, theme, areas.detail);
    audit(frame, model, theme, areas.audit);
    footer(frame, model, keymap, theme, areas.footer);
    if let Some(dialog) = &model.dialog {
        draw_dialog(frame, model, dialog, theme);
    }
    if model.help {
        help(frame, keymap, theme);
    }
}

fn header(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let counts = model.counts();
    let mut spans = vec![
        Span::styled(format!(" gantry · {} ", inert(&model.title)), theme.title),
        Span::styled(format!("· {} hosts ", model.hosts.len()), theme.text),
    ];
    let mut count = |n: usize, label: &str, style: Style| {
        if n > 0 {
            spans.push(Span::styled(format!("· {n} {label} "), style));
        }
    };
    count(
        counts.awaiting_approval,
        "awaiting approval",
        theme.state_attention,
    );
    count(counts.rolled_back, "rolled back", theme.state_failed);
    count(counts.halted, "halted", theme.state_halted);
    count(counts.stale, "stale", theme.stale);
    count(counts.drill_overdue, "drill overdue", theme.state_attention);
    count(counts.frozen, "frozen", theme.state_attention);
    spans.push(Span::styled(
        format!("· {} UTC", model.now.format("%H:%M:%S")),
        theme.muted,
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(theme.header), area);
}

/// The stage as the table shows it.
fn stage_label(status: &Status, wide: bool) -> String {
    match status.state.as_str() {
        "awaiting_approval" if wide => "CANARY ▸ approve".into(),
        // Narrow screens cut the column at 11 characters.
        "awaiting_approval" => "▸ APPROVE".into(),
        "rolled_back" => "ROLLED BACK".into(),
        "rolling_back" => "ROLLING BACK".into(),
        other => other.to_uppercase(),
    }
}

pub fn state_style(theme: &Theme, state: &str) -> Style {
    match state {
        "live" => theme.state_ok,
        "shadow" | "paper" | "canary" | "validating" => theme.state_progress,
        "awaiting_approval" => theme.state_attention,
        "rolled_back" | "rolling_back" => theme.state_failed,
        "halted" => theme.state_halted,
        _ => theme.muted,
    }
}

fn bar(done: f64, width: usize) -> String {
    let filled = ((done.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("{}{}", "▇".repeat(filled), "░".repeat(width - filled))
}

fn fleet(frame: &mut Frame, model: &Model, theme: &Theme, areas: &Areas) {
    let area = areas.table;
    let wide = area.width >= 110;
    let first = layout::first_row(model.selected, area.height);
    let rows: Vec<Row> = model
        .hosts
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, host)| fleet_row(model, theme, i, host, wide))
        .collect();
    let mut header = vec!["  HOST"];
    if wide {
        header.push("WAVE");
    }
    header.extend(["RELEASE", "STAGE", "SOAK", "GATES", "PnL", "DD", "LINK"]);
    let mut widths = vec![Constraint::Length(12)];
    if wide {
        widths.push(Constraint::Length(8));
    }
    widths.extend([
        Constraint::Length(if wide { 26 } else { 14 }),
        Constraint::Length(17),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Min(9),
    ]);
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.header))
        .block(
            Block::default()
                .title(Span::styled(rollout_title(model), theme.state_attention))
                .borders(Borders::ALL)
                .border_style(theme.border),
        )
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// The table's title while a rollout is in progress (empty otherwise):
/// each wave's hosts live on the release, ✓ for a wave done, ✗ for one
/// where a host failed, and whom the rollout waits for.
pub fn rollout_title(model: &Model) -> String {
    let Some(Rollout { digest, waves }) = model.rollout() else {
        return String::new();
    };
    let parts: Vec<String> = waves
        .iter()
        .map(|wave| {
            let mut part = format!("{} {}/{}", wave.name, wave.live, wave.hosts);
            match wave.standing() {
                Standing::Done => part.push_str(" ✓"),
                Standing::Failed => part.push_str(" ✗"),
                Standing::Going => {}
            }
            if !wave.awaiting_approval.is_empty() {
                part.push_str(&format!(
                    " waits for approval on {}",
                    wave.awaiting_approval.join(", ")
                ));
            }
            part
        })
        .collect();
    inert(&format!(
        " rollout {}: {} ",
        digest.get(..8).unwrap_or(&digest),
        parts.join(" ▸ ")
    ))
}

fn fleet_row<'a>(model: &Model, theme: &Theme, i: usize, host: &HostView, wide: bool) -> Row<'a> {
    let marker = if i == model.selected { "▶ " } else { "  " };
    let stale = host.stale_for(model.now);
    let mut cells = vec![Cell::from(format!("{marker}{}", inert(&host.name)))];
    if wide {
        cells.push(Cell::from(inert(host.wave.as_deref().unwrap_or("—"))));
    }
    let link = match (&host.link, stale) {
        (Link::Down { .. }, Some(a)) | (Link::Connecting { .. }, Some(a)) if a == Duration::MAX => {
            "down".to_string()
        }
        (_, Some(a)) => format!("stale {}", age(a)),
        (Link::Up { rtt: Some(rtt) }, None) => format!("{:.1}ms", rtt.as_secs_f64() * 1000.0),
        (_, None) => "up".to_string(),
    };
    match &host.status {
        None => {
            cells.extend(["—", "connecting", "—", "—", "—", "—"].map(Cell::from));
        }
        Some(status) => {
            let release = status
                .current_release
                .as_deref()
                .map(|r| r.get(4..).unwrap_or(r))
                .unwrap_or("—");
            let soak = match host.soak_left(model.now) {
                Some((left, total)) if total > 0.0 && stale.is_none() => {
                    format!("{} {}", clock(left), bar(1.0 - left / total, 5))
                }
                _ if status.state == "awaiting_approval" => "done".into(),
                _ => "—".into(),
            };
            let applicable: Vec<_> = status.checks.iter().filter(|c| c.applies).collect();
            let passing = applicable.iter().filter(|c| c.ok).count();
            // Stale gates are not known to pass: never show a tick for them.
            let gates = if applicable.is_empty() {
                "—".into()
            } else if stale.is_some() {
                format!("{passing}/{} ?", applicable.len())
            } else if passing == applicable.len() {
                format!("{passing}/{} ✓", applicable.len())
            } else {
                format!("{passing}/{} ✗", applicable.len())
            };
            let pnl = host
                .check_value("pnl")
                .map_or("—".into(), |v| format!("{v:+.2}"));
            let dd = host
                .check_value("drawdown")
                .map_or("—".into(), |v| format!("{v:.1}%"));
            let state_style = if stale.is_some() {
                theme.stale
            } else {
                state_style(theme, &status.state)
            };
            cells.push(Cell::from(inert(release)));
            cells.push(Cell::from(stage_label(status, wide)).style(state_style));
            cells.push(Cell::from(soak));
            cells.push(Cell::from(gates).style(if passing == applicable.len() {
                theme.text
            } else {
                theme.state_failed
            }));
            cells.push(Cell::from(pnl));
            cells.push(Cell::from(dd));
        }
    }
    cells.push(Cell::from(link).style(if stale.is_some() {
        theme.stale
    } else {
        theme.muted
    }));
    let row = Row::new(cells);
    if i == model.selected {
        row.style(theme.selection)
    } else if stale.is_some() {
        row.style(theme.stale)
    } else {
        row
    }
}

/// shadow → paper → canary → live, with ✓ for stages passed.
fn rail(status: &Status, host: &HostView, model: &Model, theme: &Theme) -> Line<'static> {
    let order = ["shadow", "paper", "canary", "live"];
    let current = match status.state.as_str() {
        "awaiting_approval" => Some(2),
        s => order.iter().position(|o| *o == s),
    };
    let mut spans = Vec::new();
    for (i, name) in order.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" ─► ", theme.muted));
        }
        let label = name.to_uppercase();
        match current {
            Some(c) if i < c || (i == 2 && status.state == "awaiting_approval") => {
                spans.push(Span::styled(format!("{label} ✓"), theme.state_ok))
            }
            Some(c) if i == c => {
                let left = host
                    .soak_left(model.now)
                    .map(|(l, _)| format!(" {} left", clock(l)))
                    .unwrap_or_default();
                let what = if *name == "live" && !left.is_empty() {
                    format!("{label} watch{left}")
                } else {
                    format!("{label}{left}")
                };
                spans.push(Span::styled(what, state_style(theme, &status.state)))
            }
            _ => spans.push(Span::styled(label, theme.muted)),
        }
    }
    match status.state.as_str() {
        "awaiting_approval" => spans.push(Span::styled(
            "  awaiting approval (a)",
            theme.state_attention,
        )),
        "rolled_back" => spans.push(Span::styled(
            "  rolled back to the known-good release",
            theme.state_failed,
        )),
        "halted" => spans.push(Span::styled(
            format!(
                "  HALTED: {}",
                inert(status.halted_reason.as_deref().unwrap_or(""))
            ),
            theme.state_halted,
        )),
        "idle" => spans.push(Span::styled("  idle: nothing serving", theme.muted)),
        _ => {}
    }
    Line::from(spans)
}

fn detail(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let Some(host) = model.selected_host() else {
        return;
    };
    let stale = host.stale_for(model.now);
    let title = match (stale, &host.link) {
        (Some(_), Link::Down { error, .. }) => {
            format!(" {} · link down: {} ", inert(&host.name), inert(error))
        }
        (Some(a), _) => format!(" {} · STALE: last heard {} ago ", inert(&host.name), age(a)),
        (None, _) => format!(" {} ", inert(&host.name)),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if stale.is_some() {
            theme.stale
        } else {
            theme.border
        })
        .title(Span::styled(
            title,
            if stale.is_some() {
                theme.stale
            } else {
                theme.title
            },
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(status) = &host.status else {
        frame.render_widget(Paragraph::new("no status yet").style(theme.stale), inner);
        return;
    };
    let [rail_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(rail(status, host, model, theme)), rail_area);
    let [checks_area, gauges_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body);
    // The check name gives way first on a narrow screen: value, limit and
    // failures must stay readable.
    let name_width = usize::from(checks_area.width)
        .saturating_sub(34)
        .clamp(10, 22);
    let mut lines = vec![Line::styled(
        format!(
            "{:<2}{:<name_width$} {:>10} {:>8} {:>6}",
            "", "health", "value", "limit", "fails"
        ),
        theme.header,
    )];
    for c in status.checks.iter().filter(|c| c.applies) {
        let (mark, style) = match c.status.as_str() {
            _ if stale.is_some() => ("?", theme.stale),
            "ok" => ("✓", theme.state_ok),
            "no data" => ("?", theme.stale),
            "pending" => ("…", theme.muted),
            _ => ("✗", theme.state_failed),
        };
        let value = match (c.status.as_str(), c.value) {
            ("no data", _) => "no data".to_string(),
            (_, Some(v)) => crate::pipeline::gate::format_value(v),
            (s, None) => s.to_string(),
        };
        let age = c.age_s.map(|a| format!(" {a:.0}s")).unwrap_or_default();
        lines.push(Line::styled(
            inert(&format!(
                "{mark} {:<name_width$} {:>10} {:>2}{:>6} {:>3}/{}{age}",
                truncate(&c.name, name_width),
                value,
                c.op,
                crate::pipeline::gate::format_value(c.limit),
                c.failures,
                c.failures_allowed
            )),
            style,
        ));
    }
    if status.checks.iter().all(|c| !c.applies) {
        lines.push(Line::styled(
            "no gate is watched in this state",
            theme.muted,
        ));
    }
    frame.render_widget(Paragraph::new(lines), checks_area);

    let [spark_area, gauge_area, counts_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(gauges_area);
    let pnl: Vec<f64> = host.pnl.iter().copied().collect();
    let floor = pnl.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
    let data: Vec<u64> = pnl.iter().map(|v| ((v - floor) * 100.0) as u64).collect();
    let pnl_now = host
        .check_value("pnl")
        .map_or("—".into(), |v| format!("{v:+.2} USD"));
    let [label, spark] =
        Layout::horizontal([Constraint::Length(20), Constraint::Min(1)]).areas(spark_area);
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
    let drill = match status.last_drill_at.as_deref() {
        Some(at) => format!("last drill {}", inert(at.get(..16).unwrap_or(at))),
        None => "never drilled".to_string(),
    };
    let overdue = host.drill_overdue(model.now);
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(
                format!(
                    "kill events {} · recon mismatches {}",
                    count("kill"),
                    count("recon")
                ),
                theme.text,
            ),
            Line::styled(
                if overdue {
                    format!(
                        "{drill} ⚠ over {} days: press d",
                        super::state::DRILL_MAX_AGE_DAYS
                    )
                } else {
                    drill
                },
                if overdue {
                    theme.state_attention
                } else {
                    theme.muted
                },
            ),
        ]),
        counts_area,
    );
}

fn audit(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
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
                .map(|a| format!(" [{}]", crate::text::inert(&a.who())))
                .unwrap_or_default();
            let why = e
                .reason
                .as_ref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            let style = if e.kind.contains("fail")
                || e.kind.starts_with("rollback")
                || e.kind.ends_with("refused")
            {
                theme.state_failed
            } else if e.kind == "estop" || e.kind == "halt" {
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

fn footer(frame: &mut Frame, model: &Model, keymap: &Keymap, theme: &Theme, area: Rect) {
    if let Some(prompt) = &model.prompt {
        let label = match prompt.kind {
            PromptKind::Filter => "/",
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
    if let Some(flash) = &model.flash {
        frame.render_widget(
            Paragraph::new(inert(flash)).style(theme.state_attention),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for action in [
        Action::Approve,
        Action::Rollback,
        Action::EmergencyStop,
        Action::Drill,
        Action::Filter,
        Action::Command,
        Action::Help,
        Action::Quit,
    ] {
        if let Some(key) = keymap.key_for(Mode::Normal, action) {
            spans.push(Span::styled(format!(" {key}"), theme.key));
            spans.push(Span::styled(format!(" {} ", action.label()), theme.muted));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_dialog(frame: &mut Frame, model: &Model, dialog: &Dialog, theme: &Theme) {
    let host = model.hosts.get(dialog.host);
    let name = host.map_or("?".to_string(), |h| inert(&h.name));
    let mut lines: Vec<Line> = Vec::new();
    let what = match dialog.kind {
        DialogKind::Approve => format!("Approve canary → live on {name}."),
        DialogKind::Rollback => format!("Roll {name} back to its known-good release now."),
        DialogKind::EmergencyStop => {
            format!(
                "EMERGENCY STOP {name}: run the kill command (cancel, flatten), stop the service, halt."
            )
        }
        DialogKind::Drill => {
            format!("Drill on {name}: roll back to the known-good release, verify, roll forward.")
        }
        DialogKind::Rearm => format!("Rearm {name}: leave halted; nothing will be serving."),
    };
    lines.push(Line::styled(what, theme.text));
    if let Some(status) = host.and_then(|h| h.status.as_ref()) {
        lines.push(Line::styled(
            inert(&format!(
                "now {} · release {} · known-good {}",
                status.state,
                status.current_release.as_deref().unwrap_or("none"),
                status.previous_release.as_deref().unwrap_or("none")
            )),
            theme.muted,
        ));
    }
    if let Some(a) = &dialog.awaiting {
        lines.push(Line::styled(
            inert(&format!(
                "deploy {} · release {} · sha256 {} · stage {}",
                a.deploy_id,
                a.release,
                a.digest.get(..12).unwrap_or(&a.digest),
                a.stage
            )),
            theme.state_attention,
        ));
        match &dialog.diff {
            None => lines.push(Line::styled(
                "loading the diff against the running release…",
                theme.muted,
            )),
            Some(Err(e)) => lines.push(Line::styled(
                inert(&format!("diff unavailable: {e}")),
                theme.state_failed,
            )),
            Some(Ok(diff)) if diff.is_empty() => lines.push(Line::styled(
                "no changes against the running release",
                theme.muted,
            )),
            Some(Ok(diff)) => {
                for d in diff.iter().take(8) {
                    let text = match d.change.as_str() {
                        "+" => format!("+ {}={}", d.key, d.new.as_deref().unwrap_or("")),
                        "-" => format!("- {}={}", d.key, d.old.as_deref().unwrap_or("")),
                        _ => format!(
                            "~ {}: {} → {}",
                            d.key,
                            d.old.as_deref().unwrap_or(""),
                            d.new.as_deref().unwrap_or("")
                        ),
                    };
                    lines.push(Line::styled(inert(&text), theme.text));
                }
                if diff.len() > 8 {
                    lines.push(Line::styled(
                        format!("… {} more", diff.len() - 8),
                        theme.muted,
                    ));
                }
            }
        }
    }
    lines.push(Line::raw(""));
    let field_style = |f: Field| {
        if dialog.field == f {
            theme.input
        } else {
            theme.muted
        }
    };
    lines.push(Line::from(vec![
        Span::styled("reason: ", field_style(Field::Reason)),
        Span::styled(dialog.reason.value().to_string(), theme.input),
    ]));
    if dialog.kind.needs_typed_confirmation() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("type {name} to confirm: "),
                field_style(Field::Confirm),
            ),
            Span::styled(dialog.confirm.value().to_string(), theme.input),
        ]));
    }
    if let Some(error) = &dialog.error {
        lines.push(Line::styled(inert(error), theme.state_failed));
    }
    match &dialog.phase {
        Phase::Editing => lines.push(Line::styled(
            "Enter send · Esc cancel · Tab next field",
            theme.muted,
        )),
        Phase::Sending => lines.push(Line::styled(
            "sent; waiting for the agent…",
            theme.state_attention,
        )),
        Phase::Done { reply } => {
            let audit = &dialog.audit;
            if reply.ok {
                let message = reply
                    .data
                    .as_ref()
                    .and_then(|d| d.get("message"))
                    .and_then(|m| m.as_str())
                    .unwrap_or("done");
                lines.push(Line::styled(
                    inert(&format!("✓ agent: {message}")),
                    theme.state_ok,
                ));
            } else {
                lines.push(Line::styled(
                    inert(&format!(
                        "✗ refused ({}): {}",
                        reply
                            .code
                            .map(|c| format!("{c:?}").to_lowercase())
                            .unwrap_or_default(),
                        reply.error.as_deref().unwrap_or("")
                    )),
                    theme.state_failed,
                ));
            }
            match audit {
                Some(e) => lines.push(Line::styled(
                    inert(&format!("audit #{} {} {}", e.seq, e.kind, e.message)),
                    theme.muted,
                )),
                None if reply.ok => {
                    lines.push(Line::styled("waiting for the audit entry…", theme.muted))
                }
                None => {}
            }
            lines.push(Line::styled("Enter or Esc closes", theme.muted));
        }
    }
    let width = (model.size.0.saturating_sub(8)).clamp(40, 100);
    let height = (lines.len() as u16 + 2).min(model.size.1);
    let area = centered(frame.area(), width, height);
    frame.render_widget(Clear, area);
    let border = if dialog.kind == DialogKind::EmergencyStop {
        theme.state_halted
    } else {
        theme.dialog_border
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(format!(" {} ", dialog.kind.title()), border));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(theme.dialog)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn help(frame: &mut Frame, keymap: &Keymap, theme: &Theme) {
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

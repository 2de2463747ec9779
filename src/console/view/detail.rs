//! The selected host's pane: its bordered block (titled with the host, or
//! why its data is stale), the stage rail (shadow → paper → canary → live,
//! with the soak left and what the host waits for), what changed (deploy
//! id, release old → new, submitter and reason, tier, known-good), for a
//! host rolled back or halted what failed and why, the last request sent
//! to it and where it stands, and below it all the health checks
//! (`checks.rs`) beside the gauges (`gauges.rs`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{age, checks, clock, drill, gauges, state_style};
use crate::console::requests::Standing;
use crate::console::state::{HostView, Link, Model};
use crate::console::theme::Theme;
use crate::pipeline::FlatVerdict;
use crate::text::inert;
use crate::wire::Status;
use crate::wire::estop::EstopView;
use crate::wire::{OutcomeWord, StateWord};

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
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
    let mut lines = vec![rail(status, host, model, theme)];
    // What failed, and a stop's kill command and flat verdict, come before
    // what changed: on a short pane they are what is kept.
    if let Some(why) = why(status) {
        lines.push(Line::styled(why, theme.state_failed));
    }
    if status.state == StateWord::Halted
        && let Some(stop) = &status.estop
    {
        lines.extend(stop_result(stop, theme));
    }
    lines.extend(
        pack(&what_changed(status), usize::from(inner.width), 2)
            .into_iter()
            .map(|l| Line::styled(l, theme.text)),
    );
    if let Some((parts, style)) =
        drill::parts(status, model.now, host.drill_overdue(model.now), theme)
    {
        lines.extend(
            pack(&parts, usize::from(inner.width), 2)
                .into_iter()
                .map(|l| Line::styled(l, style)),
        );
    }
    if let Some(line) = last_request(model, theme) {
        lines.push(line);
    }
    // Long lines (a halted reason) wrap rather than being cut; the checks
    // keep at least three rows (header, the worst, "+N more"), one on a
    // halted host, whose service is stopped: there the stop's result is
    // what matters.
    let checks_rows = if status.state == StateWord::Halted {
        1
    } else {
        3
    };
    let top = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = top.line_count(inner.width) as u16;
    let height = rows.min(inner.height.saturating_sub(checks_rows));
    let [top_area, body] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(1)]).areas(inner);
    frame.render_widget(top, top_area);
    let [checks_area, gauges_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body);
    checks::draw(
        frame,
        host,
        status,
        stale.is_some(),
        model.now,
        theme,
        checks_area,
    );
    gauges::draw(frame, model, host, status, theme, gauges_area);
}

/// Deploy id, release old → new, who submitted it and why, the commit,
/// tier, and the known-good release a rollback returns to.
fn what_changed(status: &Status) -> Vec<String> {
    let mut parts = Vec::new();
    let new = status
        .deploy_release
        .as_deref()
        .or(status.current_release.as_deref());
    let old = status.previous_release.as_deref();
    match (&status.deploy_id, new) {
        (Some(id), Some(new)) => parts.push(format!(
            "deploy {id}: {} → {new}",
            old.unwrap_or("(first release)")
        )),
        (None, Some(new)) => parts.push(format!("release {new}")),
        (_, None) => parts.push("no release yet".into()),
    }
    if let Some(current) = status.current_release.as_deref()
        && Some(current) != new
    {
        parts.push(format!("serving {current}"));
    }
    if let Some(by) = &status.submitted_by {
        parts.push(format!(
            "by {} — {}",
            by.who(),
            status.deploy_reason.as_deref().unwrap_or("(no reason)")
        ));
    }
    if let Some(commit) = &status.commit {
        parts.push(format!("commit {commit}"));
    }
    if let Some(tier) = &status.tier {
        parts.push(format!("tier {tier}"));
    }
    parts.push(format!("known-good {}", old.unwrap_or("none")));
    parts.into_iter().map(|p| inert(&p)).collect()
}

/// `parts` joined by ` · ` into at most `max` lines of `width`; the last
/// line is cut with `…` when they do not fit.
fn pack(parts: &[String], width: usize, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for part in parts {
        let count = lines.len();
        match lines.last_mut() {
            Some(line) if line.chars().count() + 3 + part.chars().count() <= width => {
                line.push_str(" · ");
                line.push_str(part);
            }
            Some(line) if count >= max => {
                line.push_str(" · ");
                line.push_str(part);
            }
            _ => lines.push(part.clone()),
        }
    }
    for line in &mut lines {
        if line.chars().count() > width {
            let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
            cut.push('…');
            *line = cut;
        }
    }
    lines
}

/// For a host rolled back, halted or whose last deploy did not go live:
/// what failed and why, in one line.
fn why(status: &Status) -> Option<String> {
    let outcome = status.outcome.as_ref();
    let detail = outcome.and_then(|o| o.detail.as_deref());
    let failed = status.deploy_release.as_deref().unwrap_or("the release");
    let text = match status.state {
        StateWord::RolledBack => format!(
            "✗ ROLLED BACK: {failed} failed{}",
            detail.map_or(String::new(), |d| format!(": {d}"))
        ),
        // The kill command and the venue have lines of their own
        // (`stop_result`).
        StateWord::Halted => format!(
            "✗ HALTED: {}",
            status
                .halted_reason
                .as_deref()
                .unwrap_or("(no reason given)")
        ),
        _ => match outcome.map(|o| o.outcome) {
            Some(
                word @ (OutcomeWord::Rejected | OutcomeWord::Stopped | OutcomeWord::RolledBack),
            ) => {
                format!(
                    "✗ last deploy {word}{}",
                    detail.map_or(String::new(), |d| format!(": {d}"))
                )
            }
            _ => return None,
        },
    };
    Some(inert(&text))
}

/// After a stop: what the kill command did, and whether the venue was
/// verified flat, each with its own words.
fn stop_result(stop: &EstopView, theme: &Theme) -> Vec<Line<'static>> {
    let said = |s: &Option<String>| {
        s.as_deref()
            .map_or(String::new(), |s| format!(": {}", inert(s)))
    };
    let kill = match stop.kill.ok {
        None => ("⧗ kill command running…".to_string(), theme.state_attention),
        Some(true) => (
            format!("✓ kill command ok{}", said(&stop.kill.summary)),
            theme.state_ok,
        ),
        Some(false) => (
            format!("✗ kill command FAILED{}", said(&stop.kill.summary)),
            theme.state_failed,
        ),
    };
    let at = stop.flat.at.as_deref().map_or(String::new(), |t| {
        format!(" at {}", inert(t.get(11..19).unwrap_or(t)))
    });
    let flat = match (stop.flat.verdict, stop.kill.ok) {
        (Some(FlatVerdict::Flat), _) => Some((
            format!("✓ venue verified FLAT{at}{}", said(&stop.flat.summary)),
            theme.state_ok,
        )),
        (Some(FlatVerdict::NotFlat), _) => Some((
            format!("✗ venue NOT FLAT{at}{}", said(&stop.flat.summary)),
            theme.state_halted,
        )),
        (Some(FlatVerdict::Unverified), _) => Some((
            format!(
                "? venue UNVERIFIED: nobody checked{}",
                said(&stop.flat.summary)
            ),
            theme.state_halted,
        )),
        (None, Some(_)) => Some((
            "⧗ verifying the venue is flat…".to_string(),
            theme.state_attention,
        )),
        (None, None) => None,
    };
    [Some(kill), flat]
        .into_iter()
        .flatten()
        .map(|(text, style)| Line::styled(text, style))
        .collect()
}

/// The newest request sent to this host and where it stands: waiting
/// (with its timer and deadline), past its deadline, answered (and how
/// late).
fn last_request(model: &Model, theme: &Theme) -> Option<Line<'static>> {
    let asked = model.requests.last(model.selected)?;
    let kind = asked.op;
    let deadline = asked.deadline.as_secs();
    let (text, style) = match asked.standing(model.now) {
        Standing::Waiting(since) => (
            format!(
                "⧗ {kind} sent {}s ago · deadline {deadline}s · no answer yet",
                since.as_secs()
            ),
            theme.state_attention,
        ),
        Standing::Overdue(since) => (
            format!(
                "✗ {kind}: no answer within {deadline}s (sent {} ago) — unknown whether it ran; check the audit",
                age(since)
            ),
            theme.state_failed,
        ),
        Standing::Late(late) => (
            format!(
                "⚠ {kind} answered LATE, {}s past its {deadline}s deadline: {}",
                late.as_secs().max(1),
                asked.verdict().unwrap_or_default()
            ),
            theme.state_failed,
        ),
        Standing::Answered => (
            format!(
                "{kind} answered in {:.1}s: {}",
                asked.answer.as_ref().map_or(0.0, |a| a.took.as_secs_f64()),
                asked.verdict().unwrap_or_default()
            ),
            theme.muted,
        ),
    };
    Some(Line::styled(inert(&text), style))
}

/// shadow → paper → canary → live, with ✓ for stages passed.
fn rail(status: &Status, host: &HostView, model: &Model, theme: &Theme) -> Line<'static> {
    let order = [
        StateWord::Shadow,
        StateWord::Paper,
        StateWord::Canary,
        StateWord::Live,
    ];
    let current = match status.state {
        StateWord::AwaitingApproval => Some(2),
        s => order.iter().position(|o| *o == s),
    };
    let mut spans = Vec::new();
    for (i, name) in order.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" ─► ", theme.muted));
        }
        let label = name.as_str().to_uppercase();
        match current {
            Some(c) if i < c || (i == 2 && status.state == StateWord::AwaitingApproval) => {
                spans.push(Span::styled(format!("{label} ✓"), theme.state_ok))
            }
            Some(c) if i == c => {
                let left = host
                    .soak_left(model.now)
                    .map(|(l, _)| format!(" {} left", clock(l)))
                    .unwrap_or_default();
                let what = if *name == StateWord::Live && !left.is_empty() {
                    format!("{label} watch{left}")
                } else {
                    format!("{label}{left}")
                };
                spans.push(Span::styled(what, state_style(theme, status.state)))
            }
            _ => spans.push(Span::styled(label, theme.muted)),
        }
    }
    if let Some(paused) = &status.soak_paused {
        spans.push(Span::styled(
            format!("  {}", inert(paused)),
            theme.state_attention,
        ));
    }
    match status.state {
        StateWord::AwaitingApproval => spans.push(Span::styled(
            "  awaiting approval (a)",
            theme.state_attention,
        )),
        StateWord::RolledBack => spans.push(Span::styled(
            "  rolled back to the known-good release",
            theme.state_failed,
        )),
        // Why it halted has a line of its own below (`why`).
        StateWord::Halted => {
            let line = match &status.estop {
                Some(stop) => format!("  HALTED · {}", stop.headline()),
                None => "  HALTED".to_string(),
            };
            spans.push(Span::styled(line, theme.state_halted))
        }
        StateWord::Idle => spans.push(Span::styled("  idle: nothing serving", theme.muted)),
        _ => {}
    }
    Line::from(spans)
}

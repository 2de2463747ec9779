//! An action's dialog, drawn over the rest: what the action will do to
//! which host, the host's state and releases, for an approval exactly
//! what is approved and its diff against the running release, the reason
//! and typed-confirmation fields, then the agent's reply and the audit
//! entry that records it. An emergency stop's border is the loudest.

use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{age, centered, evidence};
use crate::console::picker::ReleasePicker;
use crate::console::preflight;
use crate::console::requests::{Asked, Standing};
use crate::console::state::{Dialog, DialogKind, Field, HostView, Link, Model, Phase};
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::Reply;
use crate::wire::drill::DrillView;
use crate::wire::estop::EstopView;
use tui_input::Input;

pub(super) fn draw(frame: &mut Frame, model: &Model, dialog: &Dialog, theme: &Theme) {
    let host = model.hosts.get(dialog.host);
    let name = host.map_or("?".to_string(), |h| inert(&h.name));
    let mut head: Vec<Line> = Vec::new();
    let mut body: Vec<Line> = Vec::new();
    let mut tail: Vec<Line> = Vec::new();
    let what = match dialog.kind {
        DialogKind::Approve => format!("Approve canary → live on {name}."),
        DialogKind::Rollback => match dialog.picker.as_ref().and_then(|p| p.target()) {
            Some(to) => format!(
                "Roll {name} back to release {} now; it becomes the known-good.",
                inert(&to)
            ),
            None => format!("Roll {name} back to its known-good release now."),
        },
        DialogKind::EmergencyStop => {
            format!(
                "EMERGENCY STOP {name}: halt, stop the service, run the kill command (cancel, flatten), verify the venue is flat."
            )
        }
        DialogKind::Drill => format!(
            "Drill on {name}: swap its live release for the known-good, verify, swap back; timed against the 60 s SLA."
        ),
        DialogKind::Rearm => format!("Rearm {name}: leave halted; nothing will be serving."),
        DialogKind::Restore => format!(
            "Restore {name}: start its known-good release straight in live, once the venue is verified flat."
        ),
    };
    // What can make this dialog untrue comes first, before any typing.
    if let Some(h) = host {
        warnings(&mut head, model, dialog, h, theme);
    }
    head.push(Line::styled(what, theme.text));
    if let Some(status) = host.and_then(|h| h.status.as_ref()) {
        body.push(Line::styled(
            inert(&format!(
                "now {} · release {} · known-good {}",
                status.state,
                status.current_release.as_deref().unwrap_or("none"),
                status.previous_release.as_deref().unwrap_or("none")
            )),
            theme.muted,
        ));
    }
    if let Some(picker) = &dialog.picker {
        releases(&mut tail, picker, theme);
    }
    if let Some(a) = &dialog.awaiting {
        body.push(Line::styled(
            inert(&format!(
                "deploy {} · release {} · sha256 {} · stage {}",
                a.deploy_id,
                a.release,
                a.digest.get(..12).unwrap_or(&a.digest),
                a.stage
            )),
            theme.state_attention,
        ));
        if let Some((h, status)) = host.and_then(|h| Some((h, h.status.as_ref()?))) {
            for line in evidence::approval(h, status, model.now) {
                body.push(Line::styled(inert(&line), theme.text));
            }
        }
        diff(&mut body, dialog, theme);
    }
    tail.push(Line::raw(""));
    let confirm = dialog
        .kind
        .needs_typed_confirmation()
        .then_some((&*name, &dialog.confirm));
    form(
        &mut tail,
        &dialog.reason,
        confirm,
        dialog.field,
        dialog.error.as_deref(),
        theme,
    );
    match dialog.phase {
        Phase::Editing => tail.push(Line::styled(
            if confirm.is_some() {
                "Enter send (after the reason, the typed name) · Tab next field · Esc cancel"
            } else {
                "Enter send · Esc cancel"
            },
            theme.muted,
        )),
        Phase::Sent { ticket } => match model.requests.get(ticket) {
            Some(asked) => sent(&mut tail, model, dialog, asked, &name, theme),
            None => tail.push(Line::styled("sent", theme.muted)),
        },
    }
    let border = if dialog.kind == DialogKind::EmergencyStop {
        theme.state_halted
    } else {
        theme.dialog_border
    };
    let title = format!(" {} ", dialog.kind.title());
    boxed(
        frame,
        model,
        Sections { head, body, tail },
        &title,
        border,
        100,
        theme,
    );
}

/// The release's diff against the running one, at most eight lines.
fn diff(lines: &mut Vec<Line<'static>>, dialog: &Dialog, theme: &Theme) {
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

/// Above everything: the host is silent (what follows is old, and a
/// request may wait in its agent), or it still owes answers to earlier
/// requests.
fn warnings(
    lines: &mut Vec<Line<'static>>,
    model: &Model,
    dialog: &Dialog,
    host: &HostView,
    theme: &Theme,
) {
    let name = inert(&host.name);
    if let Some(silent) = host.stale_for(model.now) {
        let text = match &host.link {
            Link::Down { error, .. } => format!(
                "⚠ {name} UNREACHABLE (link down: {}) — last heard {}; what follows is as old",
                inert(error),
                if silent == std::time::Duration::MAX {
                    "never".to_string()
                } else {
                    format!("{} ago", age(silent))
                }
            ),
            _ if silent == std::time::Duration::MAX => format!("⚠ {name} NOT HEARD YET"),
            _ => format!(
                "⚠ {name} SILENT {} — what follows is as of {} ago; a request may wait in its agent and run late",
                age(silent),
                age(silent)
            ),
        };
        lines.push(Line::styled(text, theme.stale));
    }
    if dialog.phase == Phase::Editing
        && let Some(changed) = preflight::changed_under(dialog, host)
    {
        lines.push(Line::styled(
            format!(
                "⚠ {name} CHANGED since this dialog opened: {changed}; read again before sending"
            ),
            theme.state_failed,
        ));
    }
    if dialog.kind == DialogKind::Approve {
        let waiting = preflight::earlier_waves_waiting(model, dialog.host);
        if !waiting.is_empty() {
            let named: Vec<String> = waiting
                .iter()
                .map(|(wave, host, state)| format!("{} ({wave}, {state})", inert(host)))
                .collect();
            lines.push(Line::styled(
                format!(
                    "⚠ an earlier wave still waits: {} — approving {name} goes out of wave order",
                    named.join(", ")
                ),
                theme.state_attention,
            ));
        }
    }
    let own = match dialog.phase {
        Phase::Sent { ticket } => Some(ticket),
        Phase::Editing => None,
    };
    for asked in model.requests.unanswered(dialog.host) {
        if Some(asked.ticket) == own {
            continue;
        }
        let since = (model.now - asked.sent_at).to_std().unwrap_or_default();
        lines.push(Line::styled(
            format!(
                "⧗ an earlier {} to {name} (sent {} ago) has no answer yet",
                asked.op,
                age(since)
            ),
            theme.state_attention,
        ));
    }
}

/// A request sent from this dialog: waiting (with its timer and deadline),
/// past its deadline, or answered (and how late).
fn sent(
    lines: &mut Vec<Line<'static>>,
    model: &Model,
    dialog: &Dialog,
    asked: &Asked,
    name: &str,
    theme: &Theme,
) {
    let deadline = asked.deadline.as_secs();
    match asked.standing(model.now) {
        Standing::Waiting(since) => {
            lines.push(Line::styled(
                format!(
                    "⧗ sent {}s ago · deadline {deadline}s · waiting for {name}…",
                    since.as_secs()
                ),
                theme.state_attention,
            ));
            lines.push(Line::styled(
                "Esc leaves this dialog; the request goes on, its answer lands in the audit and as a notice",
                theme.muted,
            ));
            return;
        }
        Standing::Overdue(since) => {
            lines.push(Line::styled(
                format!(
                    "✗ no answer within {deadline}s (sent {}s ago) — unknown whether it ran; check the audit",
                    since.as_secs()
                ),
                theme.state_failed,
            ));
            lines.push(Line::styled(
                "Esc leaves; if an answer comes, it shows here or as a notice, with how late it was",
                theme.muted,
            ));
            return;
        }
        Standing::Late(late) => {
            let took = asked.answer.as_ref().map_or(0, |a| a.took.as_secs());
            lines.push(Line::styled(
                format!(
                    "⚠ LATE: answered {took}s after sending, {}s past its {deadline}s deadline",
                    late.as_secs().max(1)
                ),
                theme.state_failed,
            ));
        }
        Standing::Answered => {}
    }
    let Some(answer) = &asked.answer else {
        return;
    };
    let reply = match &answer.reply {
        Ok(reply) => reply.clone(),
        Err(e) => Reply::err("", crate::wire::ErrorCode::Failed, e.clone()),
    };
    let stopped: Option<EstopView> = (dialog.kind == DialogKind::EmergencyStop)
        .then(|| reply.data.as_ref()?.get("estop").cloned())
        .flatten()
        .and_then(|e| serde_json::from_value(e).ok());
    if let Some(stop) = stopped {
        // Halted either way: what matters is whether the book is flat.
        let (mark, style) = if reply.ok && stop.proven_flat() {
            ("✓", theme.state_ok)
        } else {
            ("✗", theme.state_halted)
        };
        lines.push(Line::styled(
            inert(&format!(
                "{mark} HALTED · {}: {}",
                stop.headline(),
                stop.evidence().unwrap_or("")
            )),
            style,
        ));
    } else if reply.ok {
        let message = reply.message().unwrap_or("done");
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
    if dialog.kind == DialogKind::Drill {
        drill_result(lines, &reply, theme);
    }
    match &dialog.audit {
        Some(e) => lines.push(Line::styled(
            inert(&format!("audit #{} {} {}", e.seq, e.kind, e.message)),
            theme.muted,
        )),
        None if reply.ok => lines.push(Line::styled("waiting for the audit entry…", theme.muted)),
        None => {}
    }
    lines.push(Line::styled("Enter or Esc closes", theme.muted));
}

/// A drill's answer: its verdict against the SLA and each step's time
/// (the host pane keeps showing them once the dialog is closed).
fn drill_result(lines: &mut Vec<Line<'static>>, reply: &Reply, theme: &Theme) {
    let Some(timings) = reply.data.as_ref().and_then(|d| d.get("timings")) else {
        return;
    };
    let drill = DrillView {
        at: String::new(),
        ok: reply.ok,
        message: reply
            .message()
            .or(reply.error.as_deref())
            .unwrap_or("")
            .to_string(),
        timings: serde_json::from_value(timings.clone()).ok(),
    };
    let (mark, style) = if drill.passed() {
        ("✓", theme.state_ok)
    } else {
        ("✗", theme.state_failed)
    };
    lines.push(Line::styled(
        inert(&format!("{mark} drill {}", drill.verdict())),
        style,
    ));
    if let Some(steps) = drill.steps() {
        lines.push(Line::styled(inert(&steps), theme.text));
    }
}

/// The reason field, the typed confirmation (what to type, and the field)
/// when there is one, and the last refusal of the form.
pub(super) fn form(
    lines: &mut Vec<Line<'static>>,
    reason: &Input,
    confirm: Option<(&str, &Input)>,
    field: Field,
    error: Option<&str>,
    theme: &Theme,
) {
    let style = |f: Field| if field == f { theme.input } else { theme.muted };
    lines.push(Line::from(vec![
        Span::styled("reason: ", style(Field::Reason)),
        Span::styled(reason.value().to_string(), theme.input),
    ]));
    if let Some((phrase, input)) = confirm {
        lines.push(Line::from(vec![
            Span::styled(format!("type {phrase} to confirm: "), style(Field::Confirm)),
            Span::styled(input.value().to_string(), theme.input),
        ]));
    }
    if let Some(error) = error {
        lines.push(Line::styled(inert(error), theme.state_failed));
    }
}

/// A dialog's lines in three parts: `head` (what can make it untrue, and
/// what it does) and `tail` (the fields, the keys, the answer) are always
/// drawn; `body` (the evidence) gives way when the screen is short, so a
/// field is never below the frame.
pub(super) struct Sections {
    pub head: Vec<Line<'static>>,
    pub body: Vec<Line<'static>>,
    pub tail: Vec<Line<'static>>,
}

/// Rows `lines` take, wrapped to `width`.
fn rows(lines: &[Line<'static>], width: u16) -> usize {
    Paragraph::new(lines.to_vec())
        .wrap(Wrap { trim: false })
        .line_count(width)
}

/// The sections in a bordered box over the middle of the screen, at most
/// `max_width` wide: the body is cut (saying how much) to fit the height.
pub(super) fn boxed(
    frame: &mut Frame,
    model: &Model,
    sections: Sections,
    title: &str,
    border: Style,
    max_width: u16,
    theme: &Theme,
) {
    let Sections {
        head,
        mut body,
        tail,
    } = sections;
    let width = (model.size.0.saturating_sub(4)).clamp(40, max_width);
    let inner = width.saturating_sub(2);
    let room = usize::from(model.size.1.saturating_sub(2));
    let fixed = rows(&head, inner) + rows(&tail, inner);
    if fixed + rows(&body, inner) > room {
        let mut hidden = 0;
        while !body.is_empty() && fixed + rows(&body, inner) + 1 > room {
            body.pop();
            hidden += 1;
        }
        body.push(Line::styled(
            format!("… {hidden} more lines on a taller terminal"),
            theme.muted,
        ));
    }
    let lines: Vec<Line<'static>> = head.into_iter().chain(body).chain(tail).collect();
    let height = (rows(&lines, inner) as u16 + 2).min(model.size.1);
    let area = centered(frame.area(), width, height);
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(title.to_string(), border));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(theme.dialog)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// The rollback's picker: the known-good first, then every release that
/// passed live here, the chosen one marked.
fn releases(lines: &mut Vec<Line>, picker: &ReleasePicker, theme: &Theme) {
    match &picker.answer {
        None => lines.push(Line::styled(
            "asking which releases it may go back to…",
            theme.muted,
        )),
        Some(Err(e)) => lines.push(Line::styled(
            inert(&format!(
                "releases unavailable ({e}): Enter rolls back to the known-good"
            )),
            theme.state_failed,
        )),
        Some(Ok(_)) => {
            lines.push(Line::styled("back to (↑ ↓):", theme.muted));
            // Eight lines at most, scrolled so the chosen one shows.
            let first = picker.selected.saturating_sub(7);
            for (i, choice) in picker.choices().iter().enumerate().skip(first).take(8) {
                let chosen = i == picker.selected;
                let text = format!(
                    "{} {:<28} {}",
                    if chosen { "▶" } else { " " },
                    inert(&choice.release),
                    inert(&choice.note)
                );
                lines.push(Line::styled(
                    text,
                    if chosen { theme.selection } else { theme.text },
                ));
            }
        }
    }
}

//! `update(&mut Model, Msg) -> Vec<Command>`: everything that can happen
//! to the control room, and the I/O it asks for as data. A key handler
//! only maps the key to an action through the keymap.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::keymap::{Action, Keymap, Mode};
use super::layout;
use super::state::{
    AUDIT_KEPT, COMMANDS, Dialog, DialogKind, Field, FleetStop, Link, Model, PNL_KEPT, Phase,
    Prompt, PromptKind, TypedCommand,
};
use crate::envfile::DiffLine;
use crate::ssh::link::LinkEvent;
use crate::wire::{AgentMsg, Reply, Request};

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    /// A host's link event, and when it arrived (the shell's clock): how
    /// old a host's data is counts from here, not from the last tick.
    Link(usize, LinkEvent, DateTime<Utc>),
    /// The answer to the request with this ticket, and how long it took
    /// from sending (the shell's clock: `update` reads none).
    Replied(u64, Result<Reply, String>, std::time::Duration),
    DiffLoaded(usize, Result<Vec<DiffLine>, String>),
    /// The host was heard at this time (its link's last message, a
    /// heartbeat included): the shell reads it off the link.
    Heard(usize, DateTime<Utc>),
}

/// I/O for the shell to perform.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send `request` to `host`; its answer comes back as
    /// `Msg::Replied(ticket, …)` whatever the dialog does meanwhile.
    Ask {
        ticket: u64,
        host: usize,
        request: Request,
        reason: Option<String>,
    },
    LoadDiff {
        host: usize,
        release: String,
        against: Option<String>,
    },
}

pub fn mode(model: &Model) -> Mode {
    if model.help {
        Mode::Help
    } else if model.dialog.is_some() || model.fleet_stop.is_some() {
        Mode::Dialog
    } else if model.prompt.is_some() {
        Mode::Prompt
    } else if model.pager.is_some() {
        Mode::Pager
    } else if model.logs.is_some() {
        Mode::Logs
    } else {
        Mode::Normal
    }
}

pub fn update(model: &mut Model, keymap: &Keymap, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Tick(now) => {
            model.now = now;
            for asked in model.requests.newly_overdue(now) {
                let name = host_name(model, asked.host);
                model.notify(
                    format!(
                        "{name}: no answer to {} within {}s — unknown whether it ran; check the audit",
                        asked.op,
                        asked.deadline.as_secs()
                    ),
                    true,
                );
            }
            Vec::new()
        }
        Msg::Resize(w, h) => {
            model.size = (w, h);
            Vec::new()
        }
        Msg::Link(host, event, at) => {
            let up = matches!(event, LinkEvent::Up);
            link_event(model, host, event, at);
            // A new session has no follow: the log view asks again.
            match &model.logs {
                Some(view) if up && view.host == host => {
                    asks(super::readers::open_logs(model, host))
                }
                _ => Vec::new(),
            }
        }
        Msg::Replied(ticket, result, took) => {
            replied(model, ticket, result, took);
            Vec::new()
        }
        Msg::Heard(host, at) => {
            if let Some(h) = model.hosts.get_mut(host)
                && h.heard_at.is_none_or(|t| t < at)
            {
                h.heard_at = Some(at);
            }
            Vec::new()
        }
        Msg::DiffLoaded(host, diff) => {
            if let Some(dialog) = &mut model.dialog
                && dialog.host == host
            {
                dialog.diff = Some(diff);
            }
            Vec::new()
        }
        Msg::Mouse(mouse) => {
            mouse_event(model, mouse);
            Vec::new()
        }
        Msg::Key(key) => key_event(model, keymap, key),
    }
}

/// What the log view and the pager ask, as commands for the shell.
fn asks(asks: Vec<super::readers::Ask>) -> Vec<Command> {
    asks.into_iter()
        .map(|a| Command::Ask {
            ticket: a.ticket,
            host: a.host,
            request: a.request,
            reason: None,
        })
        .collect()
}

fn host_name(model: &Model, host: usize) -> String {
    model
        .hosts
        .get(host)
        .map_or_else(|| format!("host {host}"), |h| crate::text::inert(&h.name))
}

/// Files an answer. Nobody is left unaware of it: a dialog still showing
/// the request shows it; otherwise, or when it came past its deadline, a
/// notice says what it was and how late.
fn replied(model: &mut Model, ticket: u64, result: Result<Reply, String>, took: Duration) {
    let Some(asked) = model.requests.answer(ticket, result.clone(), took).cloned() else {
        return;
    };
    if super::readers::READS.contains(&asked.op) {
        super::readers::replied(model, &asked, ticket, result);
        return;
    }
    let mut shown = false;
    if let Some(stop) = &mut model.fleet_stop
        && stop.tickets.contains(&ticket)
    {
        stop.replied(asked.host, result, took);
        shown = true;
    }
    if let Some(dialog) = &model.dialog
        && dialog.phase == (Phase::Sent { ticket })
    {
        shown = true;
    }
    let late = took.checked_sub(asked.deadline);
    if shown && late.is_none() {
        return;
    }
    let name = host_name(model, asked.host);
    let verdict = asked.verdict().unwrap_or_default();
    let ok = matches!(&result_of(&asked), Some(true));
    let text = match late {
        Some(late) => format!(
            "{name}: {} answered {}s after sending, {}s past its {}s deadline: {verdict}",
            asked.op,
            took.as_secs(),
            late.as_secs().max(1),
            asked.deadline.as_secs()
        ),
        None => format!(
            "{name}: {} answered after {:.1}s: {verdict}",
            asked.op,
            took.as_secs_f64()
        ),
    };
    model.notify(crate::text::inert(&text), late.is_some() || !ok);
}

/// Whether the answer was a success, once there is one.
fn result_of(asked: &super::requests::Asked) -> Option<bool> {
    asked
        .answer
        .as_ref()
        .map(|a| a.reply.as_ref().is_ok_and(|r| r.ok))
}

fn link_event(model: &mut Model, index: usize, event: LinkEvent, now: DateTime<Utc>) {
    let Some(host) = model.hosts.get_mut(index) else {
        return;
    };
    match event {
        LinkEvent::Connecting { attempt } => {
            if !matches!(host.link, Link::Down { .. }) {
                host.link = Link::Connecting { attempt };
            }
        }
        LinkEvent::Up => {
            host.link = Link::Up { rtt: None };
            host.heard_at = Some(now);
        }
        LinkEvent::Rtt(rtt) => {
            if let Link::Up { rtt: slot } = &mut host.link {
                *slot = Some(rtt);
            }
        }
        LinkEvent::Down { error, retry_in } => {
            host.link = Link::Down {
                error,
                retry_at: now + chrono::Duration::from_std(retry_in).unwrap_or_default(),
            };
        }
        LinkEvent::Message(msg) => {
            host.heard_at = Some(now);
            match msg {
                AgentMsg::Heartbeat { .. } => {}
                AgentMsg::Snapshot { status, audit } => {
                    host.status = Some(*status);
                    host.status_at = Some(now);
                    host.checks_at = Some(now);
                    for entry in audit {
                        let known = model
                            .audit
                            .iter()
                            .any(|(h, e)| *h == index && e.seq == entry.seq);
                        if !known {
                            model.audit.push_back((index, entry));
                        }
                    }
                    sort_and_trim(model);
                }
                AgentMsg::State { status } => {
                    host.status = Some(*status);
                    host.status_at = Some(now);
                    host.checks_at = Some(now);
                }
                AgentMsg::Health { checks, .. } => {
                    if let Some(status) = &mut host.status {
                        status.checks = checks;
                        host.checks_at = Some(now);
                    }
                    if let Some(pnl) = host.check_value("pnl") {
                        host.pnl.push_back(pnl);
                        while host.pnl.len() > PNL_KEPT {
                            host.pnl.pop_front();
                        }
                    }
                }
                AgentMsg::Audit { entry } => {
                    if let Some(dialog) = &mut model.dialog
                        && dialog.host == index
                        && entry.kind == dialog.kind.audit_kind()
                        && !matches!(dialog.phase, Phase::Editing)
                        && dialog.audit.is_none()
                    {
                        dialog.audit = Some(entry.clone());
                    }
                    model.audit.push_back((index, *entry));
                    sort_and_trim(model);
                }
                AgentMsg::Log { lines, skipped, .. } => {
                    if let Some(view) = &mut model.logs
                        && view.host == index
                    {
                        view.append(lines, skipped);
                    }
                }
                AgentMsg::Hello { .. } | AgentMsg::Reply(_) => {}
            }
        }
    }
}

fn sort_and_trim(model: &mut Model) {
    model
        .audit
        .make_contiguous()
        .sort_by(|a, b| a.1.at.cmp(&b.1.at));
    while model.audit.len() > AUDIT_KEPT {
        model.audit.pop_front();
    }
}

fn mouse_event(model: &mut Model, mouse: MouseEvent) {
    if model.dialog.is_some() || model.fleet_stop.is_some() || model.help {
        return;
    }
    if super::readers::scrolled(model, mouse.kind) {
        return;
    }
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            let areas = layout::split(model.size.0, model.size.1, model.hosts.len());
            let table = areas.table;
            // Row 0 is the border, row 1 the column header.
            if mouse.column >= table.x
                && mouse.column < table.x + table.width
                && mouse.row >= table.y + 2
                && mouse.row < table.y + table.height.saturating_sub(1)
            {
                let row = usize::from(mouse.row - table.y - 2)
                    + layout::first_row(model.selected, table.height);
                if row < model.hosts.len() {
                    model.selected = row;
                }
            }
        }
        MouseEventKind::ScrollDown => move_selection(model, 1),
        MouseEventKind::ScrollUp => move_selection(model, -1),
        _ => {}
    }
}

fn move_selection(model: &mut Model, by: isize) {
    if model.hosts.is_empty() {
        return;
    }
    let last = model.hosts.len() as isize - 1;
    model.selected = (model.selected as isize + by).clamp(0, last) as usize;
}

fn key_event(model: &mut Model, keymap: &Keymap, key: KeyEvent) -> Vec<Command> {
    let mode = mode(model);
    let action = keymap.action(mode, &key);
    match mode {
        Mode::Help => {
            if action.is_some() {
                model.help = false;
            }
            Vec::new()
        }
        Mode::Prompt => prompt_key(model, action, key),
        Mode::Dialog if model.fleet_stop.is_some() => fleet_stop_key(model, action, key),
        Mode::Dialog => dialog_key(model, action, key),
        Mode::Logs => asks(super::readers::logs_key(model, action)),
        Mode::Pager => {
            super::readers::pager_key(model, action);
            Vec::new()
        }
        Mode::Normal => normal_key(model, action),
    }
}

fn normal_key(model: &mut Model, action: Option<Action>) -> Vec<Command> {
    model.flash = None;
    let Some(action) = action else {
        return Vec::new();
    };
    match action {
        Action::Quit => model.quit = true,
        Action::Up => move_selection(model, -1),
        Action::Down => move_selection(model, 1),
        Action::PageUp => move_selection(model, -10),
        Action::PageDown => move_selection(model, 10),
        Action::Top => model.selected = 0,
        Action::Bottom => model.selected = model.hosts.len().saturating_sub(1),
        Action::Help => model.help = true,
        Action::Filter => {
            model.prompt = Some(Prompt {
                kind: PromptKind::Filter,
                input: tui_input::Input::new(model.filter.clone()),
            })
        }
        Action::Command => {
            model.prompt = Some(Prompt {
                kind: PromptKind::Command,
                input: tui_input::Input::default(),
            })
        }
        Action::Approve => return open_dialog(model, DialogKind::Approve),
        Action::Rollback => return open_dialog(model, DialogKind::Rollback),
        Action::EmergencyStop => return open_dialog(model, DialogKind::EmergencyStop),
        Action::FleetStop => open_fleet_stop(model),
        Action::Drill => return open_dialog(model, DialogKind::Drill),
        Action::Logs => return asks(super::readers::open_logs(model, model.selected)),
        Action::Runbook => return asks(super::readers::open_runbook(model)),
        Action::Submit | Action::Cancel | Action::NextField | Action::Follow => {}
    }
    Vec::new()
}

fn open_dialog(model: &mut Model, kind: DialogKind) -> Vec<Command> {
    let host = model.selected;
    let Some(view) = model.hosts.get(host) else {
        return Vec::new();
    };
    let awaiting = view
        .status
        .as_ref()
        .and_then(|s| s.awaiting_approval.clone());
    if kind == DialogKind::Approve && awaiting.is_none() {
        model.flash = Some(format!(
            "{}: nothing awaits approval (state {})",
            view.name,
            view.state()
        ));
        return Vec::new();
    }
    let mut commands = Vec::new();
    if let Some(a) = &awaiting
        && kind == DialogKind::Approve
    {
        commands.push(Command::LoadDiff {
            host,
            release: a.release.clone(),
            against: view
                .status
                .as_ref()
                .and_then(|s| s.previous_release.clone()),
        });
    }
    model.dialog = Some(Dialog::new(
        host,
        kind,
        if kind == DialogKind::Approve {
            awaiting
        } else {
            None
        },
    ));
    commands
}

fn prompt_key(model: &mut Model, action: Option<Action>, key: KeyEvent) -> Vec<Command> {
    let Some(prompt) = &mut model.prompt else {
        return Vec::new();
    };
    match action {
        Some(Action::Cancel) => {
            match prompt.kind {
                PromptKind::Filter => model.filter.clear(),
                PromptKind::LogFilter => {
                    if let Some(view) = &mut model.logs {
                        view.set_filter(String::new());
                    }
                }
                PromptKind::Command => {}
            }
            model.prompt = None;
        }
        Some(Action::Submit) => {
            let text = prompt.input.value().trim().to_string();
            let kind = prompt.kind;
            model.prompt = None;
            match kind {
                PromptKind::Filter => model.filter = text,
                PromptKind::LogFilter => {
                    if let Some(view) = &mut model.logs {
                        view.set_filter(text);
                    }
                }
                PromptKind::Command => return run_command(model, &text),
            }
        }
        _ => {
            prompt.input.handle_event(&TermEvent::Key(key));
            match prompt.kind {
                PromptKind::Filter => model.filter = prompt.input.value().to_string(),
                PromptKind::LogFilter => {
                    if let Some(view) = &mut model.logs {
                        view.set_filter(prompt.input.value().to_string());
                    }
                }
                PromptKind::Command => {}
            }
        }
    }
    Vec::new()
}

/// `:` commands, by their names in [`COMMANDS`]; `:q` also quits.
fn run_command(model: &mut Model, text: &str) -> Vec<Command> {
    let name = if text == "q" { "quit" } else { text };
    match COMMANDS.iter().find(|(n, _)| *n == name) {
        Some(&(_, TypedCommand::Open(kind))) => open_dialog(model, kind),
        Some((_, TypedCommand::FleetStop)) => {
            open_fleet_stop(model);
            Vec::new()
        }
        Some((_, TypedCommand::Quit)) => {
            model.quit = true;
            Vec::new()
        }
        None if text.is_empty() => Vec::new(),
        None => {
            let names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
            model.flash = Some(format!("unknown command {text:?} ({})", names.join(", ")));
            Vec::new()
        }
    }
}

fn dialog_key(model: &mut Model, action: Option<Action>, key: KeyEvent) -> Vec<Command> {
    let now = model.now;
    let Some(dialog) = &mut model.dialog else {
        return Vec::new();
    };
    if let Phase::Sent { ticket } = dialog.phase {
        // Esc leaves at any time: the request goes on, and its answer
        // lands in the audit and as a notice. Enter closes once answered.
        let answered = model
            .requests
            .get(ticket)
            .is_some_and(|a| a.answer.is_some());
        match action {
            Some(Action::Cancel) if !answered => {
                let (host, kind) = (dialog.host, dialog.kind.audit_kind());
                let name = host_name(model, host);
                model.dialog = None;
                model.flash = Some(format!(
                    "left the {kind} dialog; the request to {name} goes on: its answer will show here and in the audit"
                ));
            }
            Some(Action::Cancel | Action::Submit) if answered => model.dialog = None,
            _ => {}
        }
        return Vec::new();
    }
    match action {
        Some(Action::Cancel) => {
            model.dialog = None;
            Vec::new()
        }
        Some(Action::NextField) => {
            if dialog.kind.needs_typed_confirmation() {
                dialog.field = dialog.field.next();
            }
            Vec::new()
        }
        Some(Action::Submit) => {
            let Some(host) = model.hosts.get(dialog.host) else {
                return Vec::new();
            };
            let reason = dialog.reason.value().trim().to_string();
            if reason.is_empty() {
                dialog.field = Field::Reason;
                dialog.error =
                    Some("a reason is required: say why, it goes to the audit log".into());
                return Vec::new();
            }
            if dialog.kind.needs_typed_confirmation() && dialog.confirm.value() != host.name {
                if dialog.field == Field::Reason {
                    dialog.field = Field::Confirm;
                    dialog.error = None;
                } else {
                    dialog.error = Some(format!("type the host's name, {}, to confirm", host.name));
                }
                return Vec::new();
            }
            if let Some(age) = host.stale_for(now)
                && !dialog.stale_acknowledged
            {
                dialog.stale_acknowledged = true;
                dialog.error = Some(format!(
                    "{}'s data is stale ({}): press Enter again to act on it anyway",
                    host.name,
                    super::view::age(age)
                ));
                return Vec::new();
            }
            let request = match dialog.kind {
                DialogKind::Approve => match &dialog.awaiting {
                    Some(a) => Request::Approve {
                        deploy_id: a.deploy_id.clone(),
                        digest: a.digest.clone(),
                        stage: a.stage,
                    },
                    None => return Vec::new(),
                },
                DialogKind::Rollback => Request::Rollback { to: None },
                DialogKind::EmergencyStop => Request::Estop,
                DialogKind::Drill => Request::Drill,
                DialogKind::Rearm => Request::Rearm,
                DialogKind::Restore => Request::Restore,
            };
            dialog.error = None;
            let (host, kind) = (dialog.host, dialog.kind);
            let ticket = model
                .requests
                .open(host, kind.audit_kind(), kind.deadline(), now);
            if let Some(dialog) = &mut model.dialog {
                dialog.phase = Phase::Sent { ticket };
            }
            vec![Command::Ask {
                ticket,
                host,
                request,
                reason: Some(reason),
            }]
        }
        _ => {
            type_into(dialog.field, &mut dialog.reason, &mut dialog.confirm, key);
            Vec::new()
        }
    }
}

/// Opens the fleet stop over every host.
fn open_fleet_stop(model: &mut Model) {
    if model.hosts.is_empty() {
        model.flash = Some("no hosts to stop".into());
        return;
    }
    model.fleet_stop = Some(FleetStop::new(model.hosts.len()));
}

/// A key in the fleet stop: it sends every stop at once, over the links
/// already open.
fn fleet_stop_key(model: &mut Model, action: Option<Action>, key: KeyEvent) -> Vec<Command> {
    let now = model.now;
    let Some(stop) = &mut model.fleet_stop else {
        return Vec::new();
    };
    if stop.sent() {
        // The stops go on whatever the dialog does: Esc closes it at any
        // time (the rows keep the truth), Enter once all have answered.
        let all = stop.answered() == stop.hosts.len();
        if matches!(action, Some(Action::Cancel)) || (all && action == Some(Action::Submit)) {
            model.fleet_stop = None;
        }
        return Vec::new();
    }
    match action {
        Some(Action::Cancel) => {
            model.fleet_stop = None;
            Vec::new()
        }
        Some(Action::NextField) => {
            stop.field = stop.field.next();
            Vec::new()
        }
        Some(Action::Submit) => {
            let reason = stop.reason.value().trim().to_string();
            if reason.is_empty() {
                stop.field = Field::Reason;
                stop.error = Some("a reason is required: say why, it goes to the audit log".into());
                return Vec::new();
            }
            if stop.confirm.value().trim() != stop.phrase() {
                if stop.field == Field::Reason {
                    stop.field = Field::Confirm;
                    stop.error = None;
                } else {
                    stop.error = Some(format!("type {} to confirm", stop.phrase()));
                }
                return Vec::new();
            }
            stop.error = None;
            stop.sent_at = Some(now);
            let hosts = stop.hosts.clone();
            let mut commands = Vec::new();
            for host in hosts {
                let kind = DialogKind::EmergencyStop;
                let ticket = model
                    .requests
                    .open(host, kind.audit_kind(), kind.deadline(), now);
                commands.push(Command::Ask {
                    ticket,
                    host,
                    request: Request::Estop,
                    reason: Some(reason.clone()),
                });
            }
            if let Some(stop) = &mut model.fleet_stop {
                stop.tickets = commands
                    .iter()
                    .filter_map(|c| match c {
                        Command::Ask { ticket, .. } => Some(*ticket),
                        Command::LoadDiff { .. } => None,
                    })
                    .collect();
            }
            commands
        }
        _ => {
            type_into(stop.field, &mut stop.reason, &mut stop.confirm, key);
            Vec::new()
        }
    }
}

/// A key typed into a dialog's reason or confirmation field.
fn type_into(field: Field, reason: &mut Input, confirm: &mut Input, key: KeyEvent) {
    let input = match field {
        Field::Reason => reason,
        Field::Confirm => confirm,
    };
    input.handle_event(&TermEvent::Key(key));
}

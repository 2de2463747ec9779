//! `update(&mut Model, Msg) -> Vec<Command>`: everything that can happen
//! to the control room, and the I/O it asks for as data. A key handler
//! only maps the key to an action through the keymap.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use tui_input::backend::crossterm::EventHandler;

mod dialogs;

use dialogs::{dialog_key, fleet_stop_key, open_dialog, open_fleet_stop};

use super::commands::{self, Parsed, TypedCommand};
use super::keymap::{Action, Keymap, Mode};
use super::layout;
use super::ledger::{self, LedgerView};
use super::state::{AUDIT_KEPT, AuditFocus, DialogKind, Model, Phase, Prompt, PromptKind};
use crate::envfile::DiffLine;
use crate::ssh::link::LinkEvent;
use crate::wire::{Reply, Request};

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
    /// A host's `releases` answer, for the rollback dialog's picker.
    ReleasesLoaded(usize, Result<Box<crate::wire::releases::Releases>, String>),
    /// A host's risk ledger for the `R` view, or why there is none.
    ReportLoaded(usize, Result<Box<crate::wire::ledger::Report>, String>),
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
    /// Ask `host` which releases a rollback may go to (`Msg::ReleasesLoaded`).
    LoadReleases { host: usize },
    /// Ask `host` for its risk ledger (`Msg::ReportLoaded`).
    LoadReport { host: usize, since_s: Option<u64> },
}

pub fn mode(model: &Model) -> Mode {
    // An open audit entry reads like help: Esc closes, j k scroll.
    if model.help || model.audit_open() {
        Mode::Help
    } else if model.ledger.is_some() {
        Mode::Report
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
            let up = matches!(event, LinkEvent::Up { .. });
            super::link_events::apply(model, host, event, at);
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
        Msg::ReleasesLoaded(host, releases) => {
            if let Some(dialog) = &mut model.dialog
                && dialog.host == host
                && let Some(picker) = &mut dialog.picker
            {
                picker.answer = Some(releases);
                picker.selected = 0;
            }
            Vec::new()
        }
        Msg::ReportLoaded(host, report) => {
            if let Some(view) = &mut model.ledger {
                view.answered(host, report);
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

fn mouse_event(model: &mut Model, mouse: MouseEvent) {
    if model.dialog.is_some() || model.fleet_stop.is_some() || model.help || model.ledger.is_some()
    {
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
                    + layout::first_row(model.selected_row(), table.height);
                model.select_row(row);
            }
        }
        MouseEventKind::ScrollDown => model.move_selection(1),
        MouseEventKind::ScrollUp => model.move_selection(-1),
        _ => {}
    }
}

fn key_event(model: &mut Model, keymap: &Keymap, key: KeyEvent) -> Vec<Command> {
    let mode = mode(model);
    let action = keymap.action(mode, &key);
    match mode {
        Mode::Help if model.audit_open() => {
            if let Some(AuditFocus {
                open: Some(scroll), ..
            }) = &mut model.audit_focus
            {
                match action {
                    Some(Action::Down) => *scroll = scroll.saturating_add(1),
                    Some(Action::Up) => *scroll = scroll.saturating_sub(1),
                    Some(_) => {
                        model.audit_focus =
                            model.audit_focus.map(|f| AuditFocus { open: None, ..f })
                    }
                    None => {}
                }
            }
            Vec::new()
        }
        Mode::Help => {
            match action {
                Some(Action::Down) => model.help_scroll = model.help_scroll.saturating_add(1),
                Some(Action::Up) => model.help_scroll = model.help_scroll.saturating_sub(1),
                Some(_) => {
                    model.help = false;
                    model.help_scroll = 0;
                }
                None => {}
            }
            Vec::new()
        }
        Mode::Report => {
            if action == Some(Action::Cancel) {
                model.ledger = None;
            }
            Vec::new()
        }
        Mode::Prompt => prompt_key(model, action, key),
        Mode::Logs => asks(super::readers::logs_key(model, action)),
        Mode::Pager => {
            super::readers::pager_key(model, action);
            Vec::new()
        }
        Mode::Dialog if model.fleet_stop.is_some() => fleet_stop_key(model, action, key),
        Mode::Dialog => dialog_key(model, action, key),
        Mode::Normal => normal_key(model, action),
    }
}

fn normal_key(model: &mut Model, action: Option<Action>) -> Vec<Command> {
    model.flash = None;
    let Some(action) = action else {
        return Vec::new();
    };
    if model.audit_focus.is_some() {
        // The focused audit pane: newest at the bottom, so up is older.
        let moved = match action {
            Action::Up => Some(-1),
            Action::Down => Some(1),
            Action::PageUp => Some(-10),
            Action::PageDown => Some(10),
            Action::Top => Some(-(AUDIT_KEPT as isize)),
            Action::Bottom => Some(AUDIT_KEPT as isize),
            _ => None,
        };
        if let Some(by) = moved {
            model.move_audit(by);
            return Vec::new();
        }
        if action == Action::Open && model.audit_selected().is_some() {
            model.audit_focus = model.audit_focus.map(|f| AuditFocus { open: Some(0), ..f });
            return Vec::new();
        }
    }
    match action {
        Action::Quit => model.quit = true,
        Action::Focus => model.toggle_audit_focus(),
        Action::Open => {
            model.flash = Some("Tab focuses the audit pane; Enter then opens its entry".into())
        }
        Action::Up => model.move_selection(-1),
        Action::Down => model.move_selection(1),
        Action::PageUp => model.move_selection(-10),
        Action::PageDown => model.move_selection(10),
        Action::Top => model.select_row(0),
        Action::Bottom => model.select_row(model.hosts.len().saturating_sub(1)),
        Action::Sort => {
            model.sort = model.sort.next();
            model.flash = Some(format!("hosts sorted by {}", model.sort.label()));
        }
        Action::Help => model.help = true,
        Action::Report => {
            // The selected host's ledger, asked for now; the view waits.
            let host = model.selected;
            if host < model.hosts.len() {
                model.ledger = Some(LedgerView::asking(host, model.now));
                return vec![Command::LoadReport {
                    host,
                    since_s: Some(ledger::WINDOW_S),
                }];
            }
        }
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
        Some(Action::NextField) if prompt.kind == PromptKind::Command => {
            let names = model.hosts.iter().map(|h| h.name.as_str());
            match commands::complete(prompt.input.value(), names) {
                Some(done) => prompt.input = tui_input::Input::new(done),
                None => model.flash = Some("nothing to complete".into()),
            }
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

/// `:` commands ([`commands::COMMANDS`]): one naming a host selects it
/// first, so its dialog is that host's.
fn run_command(model: &mut Model, text: &str) -> Vec<Command> {
    let (does, host) = match commands::parse(text) {
        Parsed::Empty => return Vec::new(),
        Parsed::Run(does, host) => (does, host),
        Parsed::NoHostHere(name) => {
            model.flash = Some(format!(":{name} takes no host"));
            return Vec::new();
        }
        Parsed::Unknown => {
            let names: Vec<&str> = commands::COMMANDS.iter().map(|c| c.name).collect();
            model.flash = Some(format!(
                "unknown command {:?} ({}; ? lists them)",
                crate::text::inert(text),
                names.join(", ")
            ));
            return Vec::new();
        }
    };
    if let Some(name) = host {
        match model.hosts.iter().position(|h| h.name == name) {
            Some(index) => model.selected = index,
            None => {
                model.flash = Some(format!("no host named {:?}", crate::text::inert(name)));
                return Vec::new();
            }
        }
    }
    match does {
        TypedCommand::Open(kind) => open_dialog(model, kind),
        TypedCommand::FleetStop => {
            open_fleet_stop(model);
            Vec::new()
        }
        TypedCommand::Releases => {
            let groups = super::release_groups::ReleaseGroups::of(&model.hosts);
            model.flash = Some(groups.summary(&model.hosts));
            Vec::new()
        }
        TypedCommand::Quit => {
            model.quit = true;
            Vec::new()
        }
    }
}

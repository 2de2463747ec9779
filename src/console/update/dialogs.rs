//! The dialogs' keys: opening one (or refusing to, in one line, when the
//! action cannot apply: `preflight`), typing into its fields, sending its
//! request, and leaving it; the same for the fleet stop.

use crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::{Command, host_name};
use crate::console::keymap::Action;
use crate::console::preflight;
use crate::console::state::{Dialog, DialogKind, Field, FleetStop, Model, Phase};
use crate::wire::Request;

pub(super) fn open_dialog(model: &mut Model, kind: DialogKind) -> Vec<Command> {
    let host = model.selected;
    let Some(view) = model.hosts.get(host) else {
        return Vec::new();
    };
    // An action that cannot apply is refused here, before any typing.
    if let Some(why) = preflight::refusal(kind, view, model.now) {
        model.flash = Some(why);
        return Vec::new();
    }
    let awaiting = view
        .status
        .as_ref()
        .and_then(|s| s.awaiting_approval.clone());
    if kind == DialogKind::Approve && awaiting.is_none() {
        model.flash = Some(format!(
            "{}: nothing awaits approval (state {})",
            crate::text::inert(&view.name),
            view.state()
        ));
        return Vec::new();
    }
    let mut commands = Vec::new();
    if kind == DialogKind::Rollback {
        commands.push(Command::LoadReleases { host });
    }
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
    let mut dialog = Dialog::new(
        host,
        kind,
        if kind == DialogKind::Approve {
            awaiting
        } else {
            None
        },
    );
    dialog.opened_state = view.state();
    dialog.opened_deploy = view.status.as_ref().and_then(|s| s.deploy_id.clone());
    model.dialog = Some(dialog);
    commands
}

pub(super) fn dialog_key(model: &mut Model, action: Option<Action>, key: KeyEvent) -> Vec<Command> {
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
        Some(Action::Up | Action::Down) => {
            if let Some(picker) = &mut dialog.picker {
                if action == Some(Action::Up) {
                    picker.up();
                } else {
                    picker.down();
                }
            }
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
                    crate::console::view::age(age)
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
                DialogKind::Rollback => Request::Rollback {
                    to: dialog.picker.as_ref().and_then(|p| p.target()),
                },
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
pub(super) fn open_fleet_stop(model: &mut Model) {
    if model.hosts.is_empty() {
        model.flash = Some("no hosts to stop".into());
        return;
    }
    model.fleet_stop = Some(FleetStop::new(model.hosts.len()));
}

/// A key in the fleet stop: it sends every stop at once, over the links
/// already open.
pub(super) fn fleet_stop_key(
    model: &mut Model,
    action: Option<Action>,
    key: KeyEvent,
) -> Vec<Command> {
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
                        _ => None,
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

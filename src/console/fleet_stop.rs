//! The fleet stop (`X`, `:estop all`): every host's emergency stop from
//! one dialog that names each host, asks a reason and a typed `HALT <n>`,
//! then sends every stop at once over the links already open and shows
//! each host's progress until all are halted and flat.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::keymap::Action;
use super::state::{Field, HostView, Model};
use super::update::Command;
use crate::wire::estop::EstopView;
use crate::wire::{Reply, Request, StateWord};

#[derive(Debug, Clone)]
pub struct FleetStop {
    /// Host indexes, in table order: every host.
    pub hosts: Vec<usize>,
    pub reason: Input,
    pub confirm: Input,
    pub field: Field,
    pub error: Option<String>,
    /// When the stops were sent; None while editing.
    pub sent_at: Option<DateTime<Utc>>,
    /// Per host (same order as `hosts`): the reply and how long it took.
    pub replies: Vec<Option<(Result<Reply, String>, Duration)>>,
}

/// How one host stands in the fleet stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not sent yet (editing).
    Untouched,
    Waiting,
    /// Halted, the venue proven flat.
    Flat,
    /// Halted; the venue steps still run.
    Halted(String),
    /// Halted but not proven flat, or refused, or unreachable: why.
    Failed(String),
}

impl FleetStop {
    pub fn new(host_count: usize) -> Self {
        Self {
            hosts: (0..host_count).collect(),
            reason: Input::default(),
            confirm: Input::default(),
            field: Field::Reason,
            error: None,
            sent_at: None,
            replies: vec![None; host_count],
        }
    }

    /// What the operator types to confirm: the number of hosts it stops.
    pub fn phrase(&self) -> String {
        format!("HALT {}", self.hosts.len())
    }

    pub fn sent(&self) -> bool {
        self.sent_at.is_some()
    }

    /// Every host answered.
    pub fn answered(&self) -> usize {
        self.replies.iter().filter(|r| r.is_some()).count()
    }

    /// A reply from `host` to its stop.
    pub fn replied(&mut self, host: usize, result: Result<Reply, String>, now: DateTime<Utc>) {
        let Some(position) = self.hosts.iter().position(|h| *h == host) else {
            return;
        };
        let took = self
            .sent_at
            .map(|at| (now - at).to_std().unwrap_or_default())
            .unwrap_or_default();
        if let Some(slot) = self.replies.get_mut(position)
            && slot.is_none()
        {
            *slot = Some((result, took));
        }
    }

    /// Where `host` (at `position` in the dialog) stands: its reply, else
    /// what its live status says.
    pub fn progress(&self, position: usize, host: Option<&HostView>) -> Progress {
        let live = host.and_then(|h| h.status.as_ref());
        let estop = live
            .filter(|s| s.state == StateWord::Halted)
            .and_then(|s| s.estop.as_ref());
        match self.replies.get(position).and_then(Option::as_ref) {
            None if !self.sent() => Progress::Untouched,
            None => match estop {
                Some(stop) => Progress::Halted(format!("HALTED · {}", stop.headline())),
                None => Progress::Waiting,
            },
            Some((Err(error), _)) => Progress::Failed(error.clone()),
            Some((Ok(reply), _)) => {
                let replied: Option<EstopView> = reply
                    .data
                    .as_ref()
                    .and_then(|d| d.get("estop"))
                    .and_then(|e| serde_json::from_value(e.clone()).ok());
                match replied {
                    Some(stop) if reply.ok && stop.proven_flat() => Progress::Flat,
                    Some(stop) => Progress::Failed(format!(
                        "HALTED · {}: {}",
                        stop.headline(),
                        stop.evidence().unwrap_or_default()
                    )),
                    None => Progress::Failed(reply.error.clone().unwrap_or_default()),
                }
            }
        }
    }
}

/// Opens the fleet stop over every host.
pub fn open(model: &mut Model) {
    if model.hosts.is_empty() {
        model.flash = Some("no hosts to stop".into());
        return;
    }
    model.fleet_stop = Some(FleetStop::new(model.hosts.len()));
}

/// A key in the fleet stop.
pub fn key(model: &mut Model, action: Option<Action>, key: KeyEvent) -> Vec<Command> {
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
            stop.field = match stop.field {
                Field::Reason => Field::Confirm,
                Field::Confirm => Field::Reason,
            };
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
            stop.hosts
                .iter()
                .map(|&host| Command::Ask {
                    host,
                    request: Request::Estop,
                    reason: Some(reason.clone()),
                })
                .collect()
        }
        _ => {
            let input = match stop.field {
                Field::Reason => &mut stop.reason,
                Field::Confirm => &mut stop.confirm,
            };
            input.handle_event(&TermEvent::Key(key));
            Vec::new()
        }
    }
}

//! What `update` does for the two full-screen readers: the log view (`l`,
//! `logview.rs`) and the runbook pager (`b`, `runbook.rs`): opening them,
//! their keys and mouse wheel, and filing the agent's answers. What they
//! ask the agent comes back as [`Ask`]s for `update` to turn into
//! commands. Reading asks nothing of the pipeline: neither request shows
//! in the host pane (`requests::READS`).

use std::time::Duration;

use crossterm::event::MouseEventKind;

use super::keymap::Action;
use super::logview::{AfterKey, LOG_ASKED, LogView};
use super::runbook::{Pager, target};
use super::state::{Model, Prompt, PromptKind};
use crate::wire::logs::LogTail;
use crate::wire::runbook::RunbookText;
use crate::wire::{Reply, Request};

pub use super::requests::READS;

/// How long the agent has to answer (a journal or an engine may take a
/// moment to print a thousand lines).
const DEADLINE: Duration = Duration::from_secs(15);

/// A request for the shell to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub ticket: u64,
    pub host: usize,
    pub request: Request,
}

/// Opens (or reopens) the log view on `host` and asks for its tail and a
/// follow.
pub fn open_logs(model: &mut Model, host: usize) -> Vec<Ask> {
    if host >= model.hosts.len() {
        return Vec::new();
    }
    let ticket = model.requests.open(host, "logs", DEADLINE, model.now);
    match &mut model.logs {
        Some(view) if view.host == host => view.ticket = ticket,
        _ => model.logs = Some(LogView::new(host, ticket)),
    }
    vec![Ask {
        ticket,
        host,
        request: Request::Logs {
            n: LOG_ASKED,
            follow: true,
        },
    }]
}

/// Opens the pager on the runbook the selected host's state points at
/// (`runbook::target`), and asks the agent for its text.
pub fn open_runbook(model: &mut Model) -> Vec<Ask> {
    let host = model.selected;
    let Some(view) = model.hosts.get(host) else {
        return Vec::new();
    };
    let Some(target) = view.status.as_ref().and_then(target) else {
        model.flash = Some(format!(
            "{}: no failing check or halt with a runbook",
            crate::text::inert(&view.name)
        ));
        return Vec::new();
    };
    let ticket = model.requests.open(host, "runbook", DEADLINE, model.now);
    let name = target.name.clone();
    model.pager = Some(Pager::new(host, target, ticket));
    vec![Ask {
        ticket,
        host,
        request: Request::Runbook { name },
    }]
}

/// The readers' lines: the screen less a title and a key line.
fn page(size: (u16, u16)) -> usize {
    usize::from(size.1.saturating_sub(3)).max(1)
}

pub fn pager_key(model: &mut Model, action: Option<Action>) {
    let page = page(model.size);
    let (Some(pager), Some(action)) = (&mut model.pager, action) else {
        return;
    };
    match action {
        Action::Cancel | Action::Quit => model.pager = None,
        Action::Up => pager.scroll(-1, page),
        Action::Down => pager.scroll(1, page),
        Action::PageUp => pager.scroll(-(page as isize), page),
        Action::PageDown => pager.scroll(page as isize, page),
        Action::Top => pager.top = 0,
        Action::Bottom => pager.scroll(isize::MAX / 2, page),
        _ => {}
    }
}

pub fn logs_key(model: &mut Model, action: Option<Action>) -> Vec<Ask> {
    let page = page(model.size);
    let (Some(view), Some(action)) = (&mut model.logs, action) else {
        return Vec::new();
    };
    match view.on_action(action, page) {
        AfterKey::Nothing => Vec::new(),
        AfterKey::EditFilter => {
            model.prompt = Some(Prompt {
                kind: PromptKind::LogFilter,
                input: tui_input::Input::new(view.filter.clone()),
            });
            Vec::new()
        }
        AfterKey::Close => {
            let host = view.host;
            model.logs = None;
            // Ends the follow; the agent would also end it with the session.
            let ticket = model.requests.open(host, "logs", DEADLINE, model.now);
            vec![Ask {
                ticket,
                host,
                request: Request::Logs {
                    n: 0,
                    follow: false,
                },
            }]
        }
    }
}

/// The mouse wheel scrolls an open reader; true when one took it.
pub fn scrolled(model: &mut Model, kind: MouseEventKind) -> bool {
    let page = page(model.size);
    let by = match kind {
        MouseEventKind::ScrollDown => 3,
        MouseEventKind::ScrollUp => -3,
        _ => 0,
    };
    if let Some(pager) = &mut model.pager {
        pager.scroll(by, page);
        true
    } else if let Some(view) = &mut model.logs {
        view.scroll(by, page);
        true
    } else {
        false
    }
}

/// Files the answer to a `logs` or `runbook` request in the reader that
/// asked, if it is still open; the answer to a closing `logs` says
/// nothing.
pub fn replied(
    model: &mut Model,
    asked: &super::requests::Asked,
    ticket: u64,
    result: Result<Reply, String>,
) {
    match asked.op {
        "logs" => {
            let Some(view) = &mut model.logs else { return };
            if view.ticket != ticket {
                return;
            }
            match decode::<LogTail>(result) {
                Ok(tail) => view.answered(tail),
                Err(why) => view.error = Some(crate::text::inert(&why)),
            }
        }
        "runbook" => {
            let Some(pager) = &mut model.pager else {
                return;
            };
            if pager.ticket == ticket {
                pager.answer = Some(decode::<RunbookText>(result));
            }
        }
        _ => {}
    }
}

fn decode<T: serde::de::DeserializeOwned>(result: Result<Reply, String>) -> Result<T, String> {
    match result {
        Ok(reply) if reply.ok => serde_json::from_value::<T>(reply.data.unwrap_or_default())
            .map_err(|e| format!("the agent's answer: {e}")),
        Ok(reply) => Err(reply.error.unwrap_or_else(|| "refused".into())),
        Err(e) => Err(e),
    }
}

//! What the control room knows: hosts, their links and last status, the
//! audit tail, the selection, the open dialog. Only `update` changes it;
//! views read it.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::requests::Requests;
use crate::envfile::DiffLine;
use crate::pipeline::Role;
use crate::wire::StateWord;
use crate::wire::estop::EstopView;
use crate::wire::pnl::PnlHistory;
use crate::wire::{AuditEntry, Awaiting, Reply, Status};

/// A host's data is stale when nothing arrived for this long (three of the
/// agent's 1 s heartbeats, `wire::HEARTBEAT_EVERY`), or its link is down.
/// Stale never looks like ok, nor calmer than ok.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// How long a notice (a late answer, one past its deadline) stays in the
/// footer; the host pane keeps the request's standing after that.
pub const NOTICE_FOR: Duration = Duration::from_secs(60);
/// A live host should have rehearsed its rollback within this many days.
pub const DRILL_MAX_AGE_DAYS: i64 = 30;
/// Audit entries kept for the tail.
pub const AUDIT_KEPT: usize = 500;
/// A soak's end, as each status puts it, moves by the time between the
/// agent's samples and the message's transit; a move smaller than this is
/// that jitter, and the countdown keeps its deadline rather than stutter.
pub const SOAK_JITTER: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting {
        attempt: u32,
    },
    Up {
        rtt: Option<Duration>,
    },
    Down {
        error: String,
        retry_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub struct HostView {
    pub name: String,
    pub wave: Option<String>,
    pub link: Link,
    pub status: Option<Status>,
    /// When the last message from the host arrived (a heartbeat counts).
    pub heard_at: Option<DateTime<Utc>>,
    /// When the last status arrived.
    pub status_at: Option<DateTime<Utc>>,
    /// When the soak shown ends, on this machine's clock (see
    /// [`HostView::took_status`]); the countdown counts to it.
    pub soak_ends_at: Option<DateTime<Utc>>,
    /// When the checks shown arrived (with a status or a `health`).
    pub checks_at: Option<DateTime<Utc>>,
    /// The last hour of PnL (`wire::pnl`): the agent's on connect, then
    /// every `health` and `state`.
    pub pnl: PnlHistory,
    /// The role this host's agent grants the session (from its `hello`).
    pub role: Option<Role>,
}

impl HostView {
    pub fn new(name: &str, wave: Option<String>) -> Self {
        Self {
            name: name.to_string(),
            wave,
            link: Link::Connecting { attempt: 0 },
            status: None,
            heard_at: None,
            status_at: None,
            soak_ends_at: None,
            checks_at: None,
            pnl: PnlHistory::default(),
            role: None,
        }
    }

    /// How long ago the host was last heard (zero if never).
    pub fn heard_ago(&self, now: DateTime<Utc>) -> Duration {
        self.heard_at
            .map(|t| (now - t).to_std().unwrap_or_default())
            .unwrap_or_default()
    }

    /// How old the data is, if it is stale; `None` when fresh.
    pub fn stale_for(&self, now: DateTime<Utc>) -> Option<Duration> {
        let age = self
            .heard_at
            .map(|t| (now - t).to_std().unwrap_or_default());
        match (&self.link, age) {
            (Link::Up { .. }, Some(age)) if age < STALE_AFTER => None,
            (_, Some(age)) => Some(age),
            (_, None) => Some(Duration::MAX),
        }
    }

    /// The host's state; `unknown` before its first status.
    pub fn state(&self) -> StateWord {
        self.status.as_ref().map_or(StateWord::Unknown, |s| s.state)
    }

    /// Halted with the venue not proven flat, once its stop has answered.
    pub fn not_flat(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.state == StateWord::Halted
                && s.estop
                    .as_ref()
                    .is_some_and(|e| e.settled() && !e.proven_flat())
        })
    }

    /// A live host whose last drill is older than 30 days, or that never
    /// drilled and has been live for 30 days (counted from when it first
    /// went live, not from its agent's start): its way back is untested.
    pub fn drill_overdue(&self, now: DateTime<Utc>) -> bool {
        let Some(status) = &self.status else {
            return false;
        };
        if status.state != StateWord::Live {
            return false;
        }
        let parse = |t: Option<&str>| {
            t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let days = chrono::Duration::days(DRILL_MAX_AGE_DAYS);
        // An agent that does not send `live_since`: the live stage's start.
        let since = parse(status.last_drill_at.as_deref())
            .or_else(|| parse(status.live_since.as_deref()))
            .or_else(|| parse(status.stage_started_at.as_deref()));
        since.is_some_and(|at| now - at > days)
    }

    /// Takes a status that arrived at `now`. The soak's end is kept from
    /// the status before when the two differ by less than [`SOAK_JITTER`]
    /// in the same stage of the same deploy: a countdown that only ever
    /// counts down, and moves only when the agent's deadline really moved
    /// (a pause, a gap in the samples, a new stage).
    pub fn took_status(&mut self, status: Status, now: DateTime<Utc>) {
        let ends_at = match (status.soak_remaining_s, &status.soak_paused) {
            (Some(left), None) => {
                Some(now + chrono::Duration::milliseconds((left * 1000.0) as i64))
            }
            _ => None,
        };
        let same_stage = self.status.as_ref().is_some_and(|old| {
            old.deploy_id == status.deploy_id
                && old.stage == status.stage
                && old.state == status.state
        });
        self.soak_ends_at = match (self.soak_ends_at, ends_at) {
            (Some(kept), Some(new))
                if same_stage && (new - kept).abs().to_std().unwrap_or_default() < SOAK_JITTER =>
            {
                Some(kept)
            }
            (_, new) => new,
        };
        self.status = Some(status);
        self.status_at = Some(now);
        self.checks_at = Some(now);
    }

    /// The soak as of `now`: (seconds left, seconds in all), counted down
    /// to the soak's end, and only while the host is heard: on stale data
    /// the countdown stops where the host went silent, since nobody knows
    /// it went on. A paused soak shows what it last reported.
    pub fn soak_left(&self, now: DateTime<Utc>) -> Option<(f64, f64)> {
        let status = self.status.as_ref()?;
        let (left, total) = (status.soak_remaining_s?, status.soak_total_s?);
        let Some(ends_at) = self.soak_ends_at else {
            return Some((left, total));
        };
        let until = match self.stale_for(now) {
            Some(_) => self.heard_at.unwrap_or(now),
            None => now,
        };
        let left = (ends_at - until).num_milliseconds().max(0) as f64 / 1000.0;
        Some((left, total))
    }

    /// How old the checks shown are: the agent's sample age when they
    /// arrived, plus the time since (it goes on growing while the host
    /// is silent: old data is shown as old).
    pub fn checks_age(&self, reported_s: f64, now: DateTime<Utc>) -> f64 {
        let since = self
            .checks_at
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        reported_s + since
    }

    /// The value of the first applicable check whose name contains `word`.
    pub fn check_value(&self, word: &str) -> Option<f64> {
        self.status
            .as_ref()?
            .checks
            .iter()
            .find(|c| c.name.contains(word))
            .and_then(|c| c.value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Approve,
    Rollback,
    EmergencyStop,
    Drill,
    Rearm,
    Restore,
}

impl DialogKind {
    pub fn title(self) -> &'static str {
        match self {
            DialogKind::Approve => "approve canary → live",
            DialogKind::Rollback => "roll back",
            DialogKind::EmergencyStop => "EMERGENCY STOP",
            DialogKind::Drill => "rollback drill",
            DialogKind::Rearm => "rearm",
            DialogKind::Restore => "restore known-good to live",
        }
    }

    /// Rollback, emergency stop, restore and a drill (which swaps a live
    /// host's release twice) also ask for the host's name, typed.
    pub fn needs_typed_confirmation(self) -> bool {
        matches!(
            self,
            DialogKind::Rollback
                | DialogKind::EmergencyStop
                | DialogKind::Restore
                | DialogKind::Drill
        )
    }

    /// How long an answer may take before the request reads as unanswered,
    /// from the agent's default limits (docs/config.md). The agent replies to
    /// approve and rearm at once; to a rollback or restore once the release
    /// answers healthy (stop 10 s + verify 30 s, inside the 60 s SLA); to an
    /// emergency stop once the venue is verified flat (stop 10 s + kill 30 s +
    /// verify 30 s); to a drill once it has rolled back and forward again.
    pub fn deadline(self) -> Duration {
        Duration::from_secs(match self {
            DialogKind::Approve | DialogKind::Rearm => 10,
            DialogKind::Rollback | DialogKind::Restore => 60,
            DialogKind::EmergencyStop => 75,
            DialogKind::Drill => 120,
        })
    }

    /// The audit kind that records this action.
    pub fn audit_kind(self) -> &'static str {
        match self {
            DialogKind::Approve => "approve",
            DialogKind::Rollback => "rollback",
            DialogKind::EmergencyStop => "estop",
            DialogKind::Drill => "drill.start",
            DialogKind::Rearm => "rearm",
            DialogKind::Restore => "restore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Reason,
    Confirm,
}

impl Field {
    /// Where Tab goes.
    pub fn next(self) -> Self {
        match self {
            Field::Reason => Field::Confirm,
            Field::Confirm => Field::Reason,
        }
    }
}

/// A dialog edits, then points at the request it sent; where that
/// request stands (waiting, overdue, answered, late) is in
/// [`Model::requests`], so Esc can leave the dialog and lose nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Editing,
    Sent { ticket: u64 },
}

#[derive(Debug, Clone)]
pub struct Dialog {
    pub host: usize,
    pub kind: DialogKind,
    /// For approve: exactly what is approved.
    pub awaiting: Option<Awaiting>,
    pub diff: Option<Result<Vec<DiffLine>, String>>,
    /// For rollback: where to (`picker.rs`).
    pub picker: Option<super::picker::ReleasePicker>,
    pub reason: Input,
    pub confirm: Input,
    pub field: Field,
    /// The host's data was stale and the operator said to go on anyway.
    pub stale_acknowledged: bool,
    pub error: Option<String>,
    pub phase: Phase,
    /// The audit entry that records the action (it may land before the
    /// reply does).
    pub audit: Option<Box<AuditEntry>>,
    /// The host's state and deploy when the dialog opened: a change under
    /// it is said at its top (`preflight::changed_under`).
    pub opened_state: StateWord,
    pub opened_deploy: Option<String>,
}

impl Dialog {
    pub fn new(host: usize, kind: DialogKind, awaiting: Option<Awaiting>) -> Self {
        Self {
            opened_state: StateWord::Unknown,
            opened_deploy: None,
            host,
            kind,
            awaiting,
            diff: None,
            picker: (kind == DialogKind::Rollback).then(super::picker::ReleasePicker::default),
            reason: Input::default(),
            confirm: Input::default(),
            field: Field::Reason,
            stale_acknowledged: false,
            error: None,
            phase: Phase::Editing,
            audit: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    Command,
    /// `/` in the log view: filters its lines.
    LogFilter,
}

#[derive(Debug, Clone)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: Input,
}

/// The focused audit pane (`audit_focus.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditFocus {
    /// (host index, seq) of the selected entry; `None` is the newest.
    pub selected: Option<(usize, u64)>,
    /// The entry is open, scrolled this far.
    pub open: Option<u16>,
}

/// The fleet table's order (`order.rs` sorts by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Urgency,
    /// As the hosts file (or the command line) lists them.
    File,
}

impl SortOrder {
    pub fn next(self) -> Self {
        match self {
            SortOrder::Urgency => SortOrder::File,
            SortOrder::File => SortOrder::Urgency,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortOrder::Urgency => "urgency",
            SortOrder::File => "hosts file",
        }
    }
}

/// The whole control room.
#[derive(Debug, Clone)]
pub struct Model {
    pub title: String,
    pub hosts: Vec<HostView>,
    pub selected: usize,
    /// (host index, entry), oldest first.
    pub audit: VecDeque<(usize, AuditEntry)>,
    pub filter: String,
    pub prompt: Option<Prompt>,
    pub dialog: Option<Dialog>,
    pub help: bool,
    /// How far the help screen is scrolled (when it does not fit).
    pub help_scroll: u16,
    pub now: DateTime<Utc>,
    /// One line of feedback in the footer.
    pub flash: Option<String>,
    pub quit: bool,
    /// The terminal's size, for mouse hit-testing.
    pub size: (u16, u16),
    /// The fleet stop's dialog, while open (`fleet_stop.rs`).
    pub fleet_stop: Option<FleetStop>,
    /// Every request sent and its answer (`requests.rs`).
    pub requests: Requests,
    /// Answers nobody was looking at (a dialog left with Esc, a reply past
    /// its deadline) and requests past their deadline: newest last.
    pub notices: VecDeque<Notice>,
    /// The fleet table's order (`order.rs`).
    pub sort: SortOrder,
    /// Who the person at the control room says they are (`$USER`); the
    /// agents record whom sshd authenticated.
    pub user: Option<String>,
    /// The audit pane, while it has the keys (`audit_focus.rs`).
    pub audit_focus: Option<AuditFocus>,
    /// The rollout order, from the hosts file's `waves`; empty without
    /// one (then the order the hosts first name their waves).
    pub waves: Vec<String>,
    /// The `R` view, while open (`ledger.rs`).
    pub ledger: Option<super::ledger::LedgerView>,
    /// A host's service log, full screen, while open (`logview.rs`).
    pub logs: Option<super::logview::LogView>,
    /// A runbook's text, full screen, while open (`runbook.rs`).
    pub pager: Option<super::runbook::Pager>,
}

/// One line the footer shows for [`NOTICE_FOR`].
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub at: DateTime<Utc>,
    pub text: String,
    /// Drawn as a failure: no answer, a refusal, a late answer.
    pub alarm: bool,
}

/// Notices kept.
pub const NOTICES_KEPT: usize = 32;

impl Model {
    pub fn new(title: &str, hosts: Vec<HostView>, now: DateTime<Utc>) -> Self {
        Self {
            title: title.to_string(),
            hosts,
            selected: 0,
            audit: VecDeque::new(),
            filter: String::new(),
            prompt: None,
            dialog: None,
            help: false,
            help_scroll: 0,
            now,
            flash: None,
            quit: false,
            size: (80, 24),
            fleet_stop: None,
            requests: Requests::default(),
            notices: VecDeque::new(),
            sort: SortOrder::default(),
            user: None,
            audit_focus: None,
            waves: Vec::new(),
            ledger: None,
            logs: None,
            pager: None,
        }
    }

    /// Adds a notice for the footer.
    pub fn notify(&mut self, text: String, alarm: bool) {
        self.notices.push_back(Notice {
            at: self.now,
            text,
            alarm,
        });
        while self.notices.len() > NOTICES_KEPT {
            self.notices.pop_front();
        }
    }

    /// The notice the footer shows now, if one is recent.
    pub fn current_notice(&self) -> Option<&Notice> {
        self.notices
            .back()
            .filter(|n| (self.now - n.at).to_std().unwrap_or_default() < NOTICE_FOR)
    }

    /// When the next host that is fresh now turns stale if nothing more
    /// arrives: the shell wakes then, so the flag is on screen at 3 s of
    /// silence, not at the next tick.
    pub fn next_stale_at(&self) -> Option<DateTime<Utc>> {
        let after = chrono::Duration::from_std(STALE_AFTER).unwrap_or_default();
        self.hosts
            .iter()
            .filter(|h| h.stale_for(self.now).is_none())
            .filter_map(|h| h.heard_at)
            .map(|t| t + after)
            .min()
    }

    pub fn selected_host(&self) -> Option<&HostView> {
        self.hosts.get(self.selected)
    }

    /// Audit entries passing the filter, newest last.
    pub fn filtered_audit(&self) -> Vec<&(usize, AuditEntry)> {
        let needle = self.filter.to_lowercase();
        self.audit
            .iter()
            .filter(|(host, entry)| {
                needle.is_empty() || {
                    let name = self.hosts.get(*host).map_or("", |h| h.name.as_str());
                    let actor = entry.actor.as_ref().map_or("", |a| a.name.as_str());
                    let kind = entry.kind.as_str();
                    [name, kind.as_ref(), entry.message.as_str(), actor]
                        .iter()
                        .any(|field| field.to_lowercase().contains(&needle))
                }
            })
            .collect()
    }

    /// How many hosts need a look, for the header.
    pub fn counts(&self) -> Counts {
        let by_state = |s: StateWord| self.hosts.iter().filter(|h| h.state() == s).count();
        let count = |f: &dyn Fn(&HostView) -> bool| self.hosts.iter().filter(|h| f(h)).count();
        Counts {
            awaiting_approval: by_state(StateWord::AwaitingApproval),
            rolled_back: by_state(StateWord::RolledBack),
            halted: by_state(StateWord::Halted),
            not_flat: count(&|h| h.not_flat()),
            stale: count(&|h| h.stale_for(self.now).is_some()),
            drill_overdue: count(&|h| h.drill_overdue(self.now)),
            // A submit there needs an admin override.
            frozen: count(&|h| h.status.as_ref().is_some_and(|s| s.freeze.is_some())),
        }
    }
}

/// Hosts by what needs a look, for the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub awaiting_approval: usize,
    pub rolled_back: usize,
    pub halted: usize,
    /// Halted, and the venue not proven flat (kill failed, verify said
    /// open, or nobody could check).
    pub not_flat: usize,
    pub stale: usize,
    /// Live hosts whose way back is untested (see [`HostView::drill_overdue`]).
    pub drill_overdue: usize,
    /// Inside a freeze window.
    pub frozen: usize,
}

/// The fleet stop (`X`, `:estop all`): every host's emergency stop from
/// one dialog that names each host, asks a reason and a typed `HALT <n>`,
/// then shows each host's progress until all are halted and flat.
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
    /// The requests it sent (`Model::requests`), for matching answers.
    pub tickets: Vec<u64>,
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
            tickets: Vec::new(),
        }
    }

    /// What the operator types to confirm: the number of hosts it stops.
    pub fn phrase(&self) -> String {
        format!("HALT {}", self.hosts.len())
    }

    pub fn sent(&self) -> bool {
        self.sent_at.is_some()
    }

    /// The slowest answer so far.
    pub fn slowest(&self) -> Option<Duration> {
        self.replies.iter().flatten().map(|(_, took)| *took).max()
    }

    /// How many hosts answered.
    pub fn answered(&self) -> usize {
        self.replies.iter().filter(|r| r.is_some()).count()
    }

    /// A reply from `host` to its stop.
    pub fn replied(&mut self, host: usize, result: Result<Reply, String>, took: Duration) {
        let Some(position) = self.hosts.iter().position(|h| *h == host) else {
            return;
        };
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

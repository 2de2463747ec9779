//! What a key can ask for: the [`Action`] vocabulary, its names in one
//! table, and the [`Mode`]s bindings belong to.

use std::fmt;

/// What a key can ask the control room to do. Its names are in
/// `ACTIONS`, and nowhere else. The serde names (snake_case) are the same
/// (a test keeps them equal). Internal variants, should any be added, get
/// `#[serde(skip)]` so no file can bind them.
///
/// Adding a variant: add it to `ACTIONS` at the same place (a
/// compile-time check keeps the order), and bind it in
/// `keymaps/default.toml` (a test fails until every action has a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Approve,
    Rollback,
    EmergencyStop,
    /// Every host's emergency stop at once.
    FleetStop,
    Drill,
    Filter,
    Command,
    Help,
    /// The selected host's risk ledger, full screen.
    Report,
    /// Enter in a dialog or prompt.
    Submit,
    /// Esc: close the dialog, prompt or help screen without acting.
    Cancel,
    /// Tab: the next field of a dialog.
    NextField,
    /// The fleet table's order: urgency, or the hosts file's.
    Sort,
    /// Tab: the audit pane takes the moving keys, or gives them back.
    Focus,
    /// Enter: open what is selected (the focused audit pane's entry).
    Open,
    /// The selected host's service log, full screen.
    Logs,
    /// In the log view: follow new lines, or pause where the view is.
    Follow,
    /// The runbook the selected host's state points at, in a pager.
    Runbook,
}

/// Every action with the name a keymap file uses in `run`, in declaration
/// order: parsing, [`Action::ALL`], `Display`, error messages, default
/// descriptions and the footer's labels all read it.
pub(super) const ACTIONS: [(Action, &str); 25] = [
    (Action::Quit, "quit"),
    (Action::Up, "up"),
    (Action::Down, "down"),
    (Action::PageUp, "page_up"),
    (Action::PageDown, "page_down"),
    (Action::Top, "top"),
    (Action::Bottom, "bottom"),
    (Action::Approve, "approve"),
    (Action::Rollback, "rollback"),
    (Action::EmergencyStop, "emergency_stop"),
    (Action::FleetStop, "fleet_stop"),
    (Action::Drill, "drill"),
    (Action::Filter, "filter"),
    (Action::Command, "command"),
    (Action::Help, "help"),
    (Action::Report, "report"),
    (Action::Submit, "submit"),
    (Action::Cancel, "cancel"),
    (Action::NextField, "next_field"),
    (Action::Sort, "sort"),
    (Action::Focus, "focus"),
    (Action::Open, "open"),
    (Action::Logs, "logs"),
    (Action::Follow, "follow"),
    (Action::Runbook, "runbook"),
];

// Each action sits at its own index, so `name` can index the table.
const _: () = {
    let mut i = 0;
    while i < ACTIONS.len() {
        assert!(ACTIONS[i].0 as usize == i, "ACTIONS is out of order");
        i += 1;
    }
};

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; ACTIONS.len()] = {
        let mut all = [Action::Quit; ACTIONS.len()];
        let mut i = 0;
        while i < ACTIONS.len() {
            all[i] = ACTIONS[i].0;
            i += 1;
        }
        all
    };

    /// The name a keymap file uses in `run`.
    pub fn name(self) -> &'static str {
        // Holds: the check above puts each listed action at its index. A
        // variant left out of ACTIONS would panic here; binding it in
        // keymaps/default.toml fails `default_keymap_parses` first.
        ACTIONS[self as usize].1
    }

    /// The name as words ("emergency stop"): a binding's description when
    /// the file gives none, and the footer's label.
    pub fn label(self) -> String {
        self.name().replace('_', " ")
    }

    pub(super) fn from_name(name: &str) -> Option<Action> {
        ACTIONS
            .iter()
            .find(|(_, n)| *n == name)
            .map(|&(action, _)| action)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which bindings are in force: the control room is in exactly one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The fleet table and host detail.
    Normal,
    /// An action's dialog (reason, typed confirmation, reply).
    Dialog,
    /// The `/` filter and `:` command line.
    Prompt,
    /// The `?` help screen.
    Help,
    /// The `R` view: a host's risk ledger, full screen.
    Report,
    /// A host's service log, full screen (`l`).
    Logs,
    /// A runbook's text, full screen (`b`).
    Pager,
}

impl Mode {
    pub const ALL: [Mode; 7] = [
        Mode::Normal,
        Mode::Dialog,
        Mode::Prompt,
        Mode::Help,
        Mode::Report,
        Mode::Logs,
        Mode::Pager,
    ];

    /// The table name in a keymap file.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Dialog => "dialog",
            Mode::Prompt => "prompt",
            Mode::Help => "help",
            Mode::Report => "report",
            Mode::Logs => "logs",
            Mode::Pager => "pager",
        }
    }

    /// The action that must stay bound in this mode so no keymap can leave
    /// the operator stuck in it.
    pub(super) fn exit(self) -> Action {
        match self {
            Mode::Normal => Action::Quit,
            Mode::Dialog | Mode::Prompt | Mode::Help | Mode::Report | Mode::Logs | Mode::Pager => {
                Action::Cancel
            }
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub(super) fn action_names() -> String {
    ACTIONS.map(|(_, name)| name).join(" ")
}

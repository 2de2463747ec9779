//! The control room's keymap: which key does what, per mode.
//!
//! This module owns the [`Action`] vocabulary, parsing `keymaps/*.toml`
//! (the embedded `keymaps/default.toml` overlaid with the user's file) and
//! resolving a crossterm [`KeyEvent`] to an action by lookup. The update
//! loop asks [`Keymap::action`] and acts on the answer; the help screen and
//! the footer read [`Keymap::bindings`] and [`Keymap::key_for`]. The format
//! and overlay rules are documented in `docs/keys-and-themes.md`; where the
//! user's file is found is `user_config.rs`'s to say.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use super::user_config::overlay_user_file;
use crate::text::line_at;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::Deserialize;
use toml::Spanned;

/// The embedded default keymap; it is also the reference for the format.
const DEFAULT_KEYMAP: &str = include_str!("../../keymaps/default.toml");

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
    Drill,
    Filter,
    Command,
    Help,
    /// Enter in a dialog or prompt.
    Submit,
    /// Esc: close the dialog, prompt or help screen without acting.
    Cancel,
    /// Tab: the next field of a dialog.
    NextField,
}

/// Every action with the name a keymap file uses in `run`, in declaration
/// order: parsing, [`Action::ALL`], `Display`, error messages, default
/// descriptions and the footer's labels all read it.
const ACTIONS: [(Action, &str); 17] = [
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
    (Action::Drill, "drill"),
    (Action::Filter, "filter"),
    (Action::Command, "command"),
    (Action::Help, "help"),
    (Action::Submit, "submit"),
    (Action::Cancel, "cancel"),
    (Action::NextField, "next_field"),
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

    fn from_name(name: &str) -> Option<Action> {
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
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Normal, Mode::Dialog, Mode::Prompt, Mode::Help];

    /// The table name in a keymap file.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Dialog => "dialog",
            Mode::Prompt => "prompt",
            Mode::Help => "help",
        }
    }

    /// The action that must stay bound in this mode so no keymap can leave
    /// the operator stuck in it.
    fn exit(self) -> Action {
        match self {
            Mode::Normal => Action::Quit,
            Mode::Dialog | Mode::Prompt | Mode::Help => Action::Cancel,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of a keymap: these keys, in this mode, run this action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub mode: Mode,
    /// As written in the file, e.g. "a", "E", "ctrl-c", "pageup"; the labels
    /// shown in the footer and on the help screen.
    pub keys: Vec<String>,
    pub action: Action,
    pub description: String,
}

/// Keys resolved per mode. Build it with [`Keymap::load`] (what the control
/// room uses), [`Keymap::default_map`] or [`Keymap::from_toml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    /// Every mode's bindings in file order; each with its parsed keys,
    /// parallel to `binding.keys`.
    bound: Vec<(Binding, Vec<Key>)>,
    lookup: HashMap<(Mode, Key), Action>,
}

impl Keymap {
    /// The embedded default overlaid with the user's file: `$GANTRY_KEYMAP`,
    /// else `$XDG_CONFIG_HOME/gantry/keymap.toml`, else
    /// `~/.config/gantry/keymap.toml`. A missing file at a default path is
    /// fine; a file named by `$GANTRY_KEYMAP` must exist, and any file found
    /// must read and parse.
    pub fn load() -> Result<Self, KeymapError> {
        Self::load_with(&|name| std::env::var_os(name))
    }

    fn load_with(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, KeymapError> {
        let mut keymap = Self::default_map();
        overlay_user_file(
            env,
            "GANTRY_KEYMAP",
            "keymap.toml",
            |text, origin| keymap.overlay(text, origin),
            |path, source| KeymapError::Read { path, source },
        )?;
        Ok(keymap)
    }

    /// A keymap from one file alone (no default underneath). `origin` names
    /// the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, KeymapError> {
        let mut keymap = Keymap {
            bound: Vec::new(),
            lookup: HashMap::new(),
        };
        keymap.overlay(text, origin)?;
        Ok(keymap)
    }

    /// The embedded `keymaps/default.toml`.
    pub fn default_map() -> Self {
        // The embedded file is tested to parse (`default_keymap_parses`), so
        // this only fails on a build whose own file is broken.
        Self::from_toml(DEFAULT_KEYMAP, "keymaps/default.toml (embedded)")
            .expect("the embedded default keymap parses; see its test")
    }

    /// Lays `text` over this keymap. Each key an entry names loses its old
    /// binding in that mode; the entry's binding goes just before the first
    /// remaining binding of the same action (so its key is the one
    /// [`Keymap::key_for`] reports), or at the end. `run = "noop"` only
    /// unbinds. On error the keymap is unchanged.
    pub fn overlay(&mut self, text: &str, origin: &str) -> Result<(), KeymapError> {
        let entries = parse(text, origin)?;

        let mut base = self.bound.clone();
        for entry in &entries {
            for key in &entry.keys {
                for (binding, keys) in base.iter_mut().filter(|(b, _)| b.mode == entry.mode) {
                    if let Some(i) = keys.iter().position(|k| k == key) {
                        keys.remove(i);
                        binding.keys.remove(i);
                    }
                }
            }
        }
        base.retain(|(_, keys)| !keys.is_empty());

        let mut placed = vec![false; entries.len()];
        let mut bound = Vec::with_capacity(base.len() + entries.len());
        for (i, (binding, _)) in base.iter().enumerate() {
            let first_of_action = !base[..i]
                .iter()
                .any(|(b, _)| b.mode == binding.mode && b.action == binding.action);
            if first_of_action {
                for (entry, placed) in entries.iter().zip(&mut placed) {
                    if entry.action == Some(binding.action) && entry.mode == binding.mode {
                        bound.push(entry.bound(binding.action));
                        *placed = true;
                    }
                }
            }
            bound.push(base[i].clone());
        }
        for (entry, placed) in entries.iter().zip(&placed) {
            if let Some(action) = entry.action
                && !placed
            {
                bound.push(entry.bound(action));
            }
        }

        for mode in Mode::ALL {
            let exit = mode.exit();
            if !bound
                .iter()
                .any(|(b, _)| b.mode == mode && b.action == exit)
            {
                return Err(KeymapError::NoWayOut {
                    origin: origin.to_string(),
                    mode,
                    action: exit,
                });
            }
        }

        self.lookup = bound
            .iter()
            .flat_map(|(b, keys)| keys.iter().map(|k| ((b.mode, *k), b.action)))
            .collect();
        self.bound = bound;
        Ok(())
    }

    /// What `key` does in `mode`, if anything. Key releases (reported on
    /// Windows, and where the kitty protocol asks for them) do nothing, so
    /// one press acts once.
    pub fn action(&self, mode: Mode, key: &KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.lookup.get(&(mode, Key::from_event(key))).copied()
    }

    /// Every binding of a mode, in file order, for the help screen and the
    /// footer.
    pub fn bindings(&self, mode: Mode) -> Vec<&Binding> {
        self.bound
            .iter()
            .map(|(b, _)| b)
            .filter(|b| b.mode == mode)
            .collect()
    }

    /// The first key label bound to `action` in `mode`, e.g. "a", for
    /// footers like "a approve".
    pub fn key_for(&self, mode: Mode, action: Action) -> Option<&str> {
        self.bound
            .iter()
            .find(|(b, _)| b.mode == mode && b.action == action)
            .and_then(|(b, _)| b.keys.first())
            .map(String::as_str)
    }
}

/// Why a keymap could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("cannot read keymap {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {problem}")]
    Invalid {
        origin: String,
        line: usize,
        problem: KeymapProblem,
    },
    #[error(
        "{origin}: nothing is bound to `{action}` in [{mode}], which would leave no way out of it; bind a key to it"
    )]
    NoWayOut {
        origin: String,
        mode: Mode,
        action: Action,
    },
}

/// What is wrong at a line of a keymap file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapProblem {
    #[error("{0}")]
    Toml(String),
    #[error(
        "unknown key {key:?} in [{mode}]; write one character (\"a\", \"E\", \"?\"), a named key ({}), or ctrl-/alt- before either",
        NAMED_KEYS.join(" ")
    )]
    UnknownKey { mode: Mode, key: String },
    #[error(
        "{key:?} in [{mode}]: shift- is only for named keys; write the character itself, e.g. \"E\" for shift-e"
    )]
    ShiftedChar { mode: Mode, key: String },
    #[error(
        "unknown action {run:?} in [{mode}]; expected one of: {}, or \"noop\" to unbind",
        action_names()
    )]
    UnknownAction { mode: Mode, run: String },
    #[error("{key:?} is bound twice in [{mode}] (first on line {first_line})")]
    DuplicateKey {
        mode: Mode,
        key: String,
        first_line: usize,
    },
    #[error("an entry in [{mode}] has no keys in `on`")]
    NoKeys { mode: Mode },
}

fn action_names() -> String {
    ACTIONS.map(|(_, name)| name).join(" ")
}

/// The `run` value that unbinds the entry's keys instead of binding them.
const UNBIND: &str = "noop";

/// A key as the lookup sees it: normalised so that the same physical key
/// compares equal however the terminal reported it (see `from_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    code: KeyCode,
    modifiers: KeyModifiers,
}

/// Named keys a keymap may use, besides single characters and f1..f12.
const NAMED_KEYS: [&str; 16] = [
    "up",
    "down",
    "left",
    "right",
    "enter",
    "esc",
    "tab",
    "backtab",
    "backspace",
    "home",
    "end",
    "pageup",
    "pagedown",
    "delete",
    "space",
    "f1..f12",
];

impl Key {
    fn new(code: KeyCode, modifiers: KeyModifiers) -> Key {
        let mut modifiers = modifiers;
        let code = match code {
            KeyCode::Char(c) => {
                // Terminals differ on shifted characters: most send 'E' with
                // SHIFT, some 'E' without, the kitty protocol may send 'e'
                // with SHIFT. The character carries the case, so SHIFT is
                // folded into it and dropped.
                let c = if modifiers.contains(KeyModifiers::SHIFT) {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
                modifiers.remove(KeyModifiers::SHIFT);
                // Legacy terminals send ctrl-e and ctrl-E as the same byte,
                // so a ctrl binding cannot depend on case.
                if modifiers.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            // shift-tab arrives as BackTab, with or without SHIFT.
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            code => code,
        };
        Key { code, modifiers }
    }

    fn from_event(event: &KeyEvent) -> Key {
        Key::new(event.code, event.modifiers)
    }

    /// Parses a key as written in a keymap file.
    fn parse(label: &str, mode: Mode) -> Result<Key, KeymapProblem> {
        let unknown = || KeymapProblem::UnknownKey {
            mode,
            key: label.to_string(),
        };
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = label;
        // Strip modifier prefixes while more than one character is left, so
        // "ctrl--" is ctrl with '-', and a lone "-" is the '-' key.
        while rest.chars().nth(1).is_some() {
            let lower = rest.to_ascii_lowercase();
            let (modifier, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            modifiers |= modifier;
            rest = &rest[len..];
        }

        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err(unknown()),
            (Some(c), None) => {
                if modifiers.contains(KeyModifiers::SHIFT) {
                    return Err(KeymapProblem::ShiftedChar {
                        mode,
                        key: label.to_string(),
                    });
                }
                KeyCode::Char(c)
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "enter" => KeyCode::Enter,
                "esc" => KeyCode::Esc,
                "tab" if modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" => KeyCode::PageUp,
                "pagedown" => KeyCode::PageDown,
                "delete" => KeyCode::Delete,
                "space" => KeyCode::Char(' '),
                other => match other.strip_prefix('f').map(str::parse::<u8>) {
                    Some(Ok(n)) if (1..=12).contains(&n) => KeyCode::F(n),
                    _ => return Err(unknown()),
                },
            },
        };
        Ok(Key::new(code, modifiers))
    }
}

/// A keymap file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    normal: Option<RawMode>,
    dialog: Option<RawMode>,
    prompt: Option<RawMode>,
    help: Option<RawMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMode {
    keymap: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    on: Vec<Spanned<String>>,
    run: Spanned<String>,
    desc: Option<String>,
}

/// One checked entry of a file.
struct Entry {
    mode: Mode,
    labels: Vec<String>,
    keys: Vec<Key>,
    /// `None` for `run = "noop"`.
    action: Option<Action>,
    description: String,
}

impl Entry {
    fn bound(&self, action: Action) -> (Binding, Vec<Key>) {
        (
            Binding {
                mode: self.mode,
                keys: self.labels.clone(),
                action,
                description: self.description.clone(),
            },
            self.keys.clone(),
        )
    }
}

/// Parses and checks a file: every key and action known, no key twice in a
/// mode. Errors name `origin` and the line.
fn parse(text: &str, origin: &str) -> Result<Vec<Entry>, KeymapError> {
    let invalid = |line: usize, problem: KeymapProblem| KeymapError::Invalid {
        origin: origin.to_string(),
        line,
        problem,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let (line, message) = crate::text::toml_error(text, &e);
        invalid(line, KeymapProblem::Toml(message))
    })?;

    let modes = [
        (Mode::Normal, raw.normal),
        (Mode::Dialog, raw.dialog),
        (Mode::Prompt, raw.prompt),
        (Mode::Help, raw.help),
    ];
    let mut entries = Vec::new();
    for (mode, raw_mode) in modes {
        let Some(raw_mode) = raw_mode else { continue };
        let mut first_line: HashMap<Key, usize> = HashMap::new();
        for raw_entry in raw_mode.keymap {
            let entry_line = line_at(text, raw_entry.span().start);
            let raw_entry = raw_entry.into_inner();
            if raw_entry.on.is_empty() {
                return Err(invalid(entry_line, KeymapProblem::NoKeys { mode }));
            }

            let run_line = line_at(text, raw_entry.run.span().start);
            let run = raw_entry.run.into_inner();
            let action =
                if run == UNBIND {
                    None
                } else {
                    Some(Action::from_name(&run).ok_or_else(|| {
                        invalid(run_line, KeymapProblem::UnknownAction { mode, run })
                    })?)
                };

            let mut labels = Vec::with_capacity(raw_entry.on.len());
            let mut keys = Vec::with_capacity(raw_entry.on.len());
            for label in raw_entry.on {
                let line = line_at(text, label.span().start);
                let label = label.into_inner();
                let key = Key::parse(&label, mode).map_err(|p| invalid(line, p))?;
                if let Some(first_line) = first_line.insert(key, line) {
                    return Err(invalid(
                        line,
                        KeymapProblem::DuplicateKey {
                            mode,
                            key: label,
                            first_line,
                        },
                    ));
                }
                labels.push(label);
                keys.push(key);
            }

            let description = raw_entry
                .desc
                .unwrap_or_else(|| action.map_or(String::new(), Action::label));
            entries.push(Entry {
                mode,
                labels,
                keys,
                action,
                description,
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn ch(c: char) -> KeyEvent {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn invalid_line(err: KeymapError) -> (usize, KeymapProblem) {
        match err {
            KeymapError::Invalid { line, problem, .. } => (line, problem),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn overlaid(user: &str) -> Result<Keymap, KeymapError> {
        let mut keymap = Keymap::default_map();
        keymap.overlay(user, "user.toml")?;
        Ok(keymap)
    }

    #[test]
    fn default_keymap_parses() {
        Keymap::from_toml(DEFAULT_KEYMAP, "keymaps/default.toml").expect("default keymap parses");
    }

    #[test]
    fn default_map_equals_the_file() {
        assert_eq!(
            Keymap::default_map(),
            Keymap::from_toml(include_str!("../../keymaps/default.toml"), "default").unwrap()
        );
    }

    #[test]
    fn every_action_is_reachable_by_default() {
        let keymap = Keymap::default_map();
        for action in Action::ALL {
            assert!(
                Mode::ALL
                    .iter()
                    .any(|&m| keymap.key_for(m, action).is_some()),
                "{action} has no key in the default keymap"
            );
        }
    }

    #[test]
    fn action_names_match_serde() {
        for action in Action::ALL {
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                format!("\"{}\"", action.name())
            );
        }
        for mode in Mode::ALL {
            assert_eq!(
                serde_json::to_string(&mode).unwrap(),
                format!("\"{}\"", mode.name())
            );
        }
    }

    #[test]
    fn default_keys_resolve() {
        let k = Keymap::default_map();
        let n = Mode::Normal;
        assert_eq!(k.action(n, &ch('q')), Some(Action::Quit));
        assert_eq!(
            k.action(n, &press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(k.action(n, &ch('j')), Some(Action::Down));
        assert_eq!(
            k.action(n, &press(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(k.action(n, &ch('G')), Some(Action::Bottom));
        assert_eq!(k.action(n, &ch('g')), Some(Action::Top));
        assert_eq!(
            k.action(n, &press(KeyCode::PageDown, KeyModifiers::NONE)),
            Some(Action::PageDown)
        );
        // '?' arrives with SHIFT on some terminals.
        assert_eq!(
            k.action(n, &press(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(k.action(n, &ch('x')), None);

        let enter = press(KeyCode::Enter, KeyModifiers::NONE);
        let esc = press(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(k.action(Mode::Dialog, &enter), Some(Action::Submit));
        assert_eq!(k.action(Mode::Dialog, &esc), Some(Action::Cancel));
        assert_eq!(
            k.action(Mode::Dialog, &press(KeyCode::Tab, KeyModifiers::NONE)),
            Some(Action::NextField)
        );
        // A dialog types its reason: letters must reach the input.
        assert_eq!(k.action(Mode::Dialog, &ch('q')), None);
        assert_eq!(k.action(Mode::Dialog, &ch('a')), None);
        assert_eq!(k.action(Mode::Prompt, &enter), Some(Action::Submit));
        assert_eq!(k.action(Mode::Prompt, &ch('q')), None);
        assert_eq!(k.action(Mode::Help, &ch('q')), Some(Action::Cancel));
        assert_eq!(k.action(Mode::Help, &ch('?')), Some(Action::Cancel));
    }

    #[test]
    fn capital_e_matches_with_or_without_shift_and_e_does_not() {
        let k = Keymap::default_map();
        let n = Mode::Normal;
        assert_eq!(k.action(n, &ch('E')), Some(Action::EmergencyStop));
        assert_eq!(
            k.action(n, &press(KeyCode::Char('E'), KeyModifiers::SHIFT)),
            Some(Action::EmergencyStop)
        );
        // The kitty protocol may report the base key with SHIFT.
        assert_eq!(
            k.action(n, &press(KeyCode::Char('e'), KeyModifiers::SHIFT)),
            Some(Action::EmergencyStop)
        );
        assert_eq!(k.action(n, &ch('e')), None);
    }

    #[test]
    fn releases_do_nothing() {
        let k = Keymap::default_map();
        let mut release = ch('q');
        release.kind = KeyEventKind::Release;
        assert_eq!(k.action(Mode::Normal, &release), None);
    }

    #[test]
    fn key_for_gives_the_first_label() {
        let k = Keymap::default_map();
        assert_eq!(k.key_for(Mode::Normal, Action::Approve), Some("a"));
        assert_eq!(k.key_for(Mode::Normal, Action::EmergencyStop), Some("E"));
        assert_eq!(k.key_for(Mode::Normal, Action::Quit), Some("q"));
        assert_eq!(k.key_for(Mode::Dialog, Action::Cancel), Some("esc"));
        assert_eq!(k.key_for(Mode::Dialog, Action::Approve), None);
    }

    #[test]
    fn bindings_keep_file_order() {
        let k = Keymap::default_map();
        let dialog: Vec<Action> = k.bindings(Mode::Dialog).iter().map(|b| b.action).collect();
        assert_eq!(dialog, [Action::Submit, Action::Cancel, Action::NextField]);
        assert!(
            k.bindings(Mode::Normal)
                .iter()
                .all(|b| !b.description.is_empty())
        );
    }

    #[test]
    fn user_overlay_replaces_a_binding() {
        let k = overlaid(
            r#"
[normal]
keymap = [
  { on = ["a"], run = "noop" },
  { on = ["A"], run = "approve", desc = "approve, with a capital" },
  { on = ["q"], run = "help" },
]
"#,
        )
        .unwrap();
        let n = Mode::Normal;
        assert_eq!(k.action(n, &ch('a')), None);
        assert_eq!(k.action(n, &ch('A')), Some(Action::Approve));
        assert_eq!(k.key_for(n, Action::Approve), Some("A"));
        // `q` moved to help; quit keeps its other key, and `?` still helps.
        assert_eq!(k.action(n, &ch('q')), Some(Action::Help));
        assert_eq!(k.key_for(n, Action::Quit), Some("ctrl-c"));
        assert_eq!(k.key_for(n, Action::Help), Some("q"));
        assert_eq!(k.action(n, &ch('?')), Some(Action::Help));
        // Untouched bindings stay.
        assert_eq!(k.action(n, &ch('r')), Some(Action::Rollback));
        assert_eq!(
            k.action(Mode::Dialog, &press(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Action::Cancel)
        );
        // The user's help binding sits with the default one, not at the end.
        let actions: Vec<Action> = k.bindings(n).iter().map(|b| b.action).collect();
        let help = actions.iter().position(|&a| a == Action::Help).unwrap();
        assert_eq!(actions[help + 1], Action::Help);
    }

    #[test]
    fn an_adding_overlay_keeps_the_default_keys() {
        let k = overlaid("[normal]\nkeymap = [ { on = [\"ctrl-d\"], run = \"page_down\" } ]\n")
            .unwrap();
        let n = Mode::Normal;
        assert_eq!(
            k.action(n, &press(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Action::PageDown)
        );
        assert_eq!(
            k.action(n, &press(KeyCode::PageDown, KeyModifiers::NONE)),
            Some(Action::PageDown)
        );
        assert_eq!(k.action(n, &ch('d')), Some(Action::Drill));
        let desc = &k
            .bindings(n)
            .iter()
            .find(|b| b.keys == ["ctrl-d"])
            .unwrap()
            .description;
        assert_eq!(desc, "page down");
    }

    #[test]
    fn unbinding_every_way_out_is_refused() {
        let err = overlaid(
            "[help]\nkeymap = [ { on = [\"esc\", \"q\", \"?\", \"ctrl-c\"], run = \"noop\" } ]\n",
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                KeymapError::NoWayOut {
                    mode: Mode::Help,
                    action: Action::Cancel,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_failed_overlay_leaves_the_keymap_unchanged() {
        let mut k = Keymap::default_map();
        assert!(k.overlay("[normal]\nkeymap = [ { on = [\"q\"], run = \"noop\" }, { on = [\"ctrl-c\"], run = \"noop\" } ]\n", "u").is_err());
        assert_eq!(k, Keymap::default_map());
    }

    #[test]
    fn bad_key_names_the_line() {
        let err = overlaid("[normal]\nkeymap = [\n  { on = [\"a\"], run = \"approve\" },\n  { on = [\"ctrl-\", \"pgup\"], run = \"page_up\" },\n]\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("user.toml:4: "), "{text}");
        assert!(text.contains("\"ctrl-\""), "{text}");
        let (line, problem) = invalid_line(err);
        assert_eq!(line, 4);
        assert!(matches!(problem, KeymapProblem::UnknownKey { .. }));

        let (line, problem) = invalid_line(
            overlaid("[normal]\nkeymap = [ { on = [\"shift-e\"], run = \"drill\" } ]\n")
                .unwrap_err(),
        );
        assert_eq!(line, 2);
        assert!(matches!(problem, KeymapProblem::ShiftedChar { .. }));
    }

    #[test]
    fn unknown_action_names_the_line() {
        let err = overlaid(
            "# mine\n[dialog]\nkeymap = [\n  { on = [\"ctrl-s\"],\n    run = \"sumbit\" },\n]\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("\"sumbit\"") && text.contains("submit"),
            "{text}"
        );
        assert_eq!(invalid_line(err).0, 5);
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let err = overlaid("[normal]\nkeymap = [\n  { on = [\"x\"], run = \"approve\" },\n  { on = [\"y\", \"x\"], run = \"drill\" },\n]\n")
            .unwrap_err();
        assert_eq!(
            invalid_line(err),
            (
                4,
                KeymapProblem::DuplicateKey {
                    mode: Mode::Normal,
                    key: "x".into(),
                    first_line: 3
                }
            )
        );
        // Two spellings of one key are one key.
        let err = overlaid("[normal]\nkeymap = [ { on = [\"space\", \" \"], run = \"drill\" } ]\n")
            .unwrap_err();
        assert!(matches!(
            invalid_line(err).1,
            KeymapProblem::DuplicateKey { .. }
        ));
        // The same key in two modes is fine.
        overlaid("[normal]\nkeymap = [ { on = [\"x\"], run = \"drill\" } ]\n[help]\nkeymap = [ { on = [\"x\"], run = \"cancel\" } ]\n")
            .unwrap();
    }

    #[test]
    fn unknown_mode_and_fields_name_the_line() {
        let (line, _) = invalid_line(overlaid("\n\n[normall]\nkeymap = []\n").unwrap_err());
        assert_eq!(line, 3);
        let (line, _) = invalid_line(
            overlaid("[normal]\nkeymap = [\n  { on = [\"x\"], run = \"drill\", description = \"d\" },\n]\n")
                .unwrap_err(),
        );
        assert_eq!(line, 3);
        let (line, _) = invalid_line(
            overlaid("[normal]\nkeymap = [ { on = \"x\", run = \"drill\" } ]\n").unwrap_err(),
        );
        assert_eq!(line, 2);
    }

    #[test]
    fn key_parsing() {
        let p = |s: &str| Key::parse(s, Mode::Normal);
        let k = |code, modifiers| Ok(Key { code, modifiers });
        assert_eq!(p("E"), k(KeyCode::Char('E'), KeyModifiers::NONE));
        assert_eq!(p("-"), k(KeyCode::Char('-'), KeyModifiers::NONE));
        assert_eq!(p("ctrl--"), k(KeyCode::Char('-'), KeyModifiers::CONTROL));
        assert_eq!(p("ctrl-C"), p("ctrl-c"));
        assert_eq!(p("alt-x"), k(KeyCode::Char('x'), KeyModifiers::ALT));
        assert_eq!(
            p("ctrl-alt-x"),
            k(
                KeyCode::Char('x'),
                KeyModifiers::CONTROL | KeyModifiers::ALT
            )
        );
        assert_eq!(p("PageUp"), k(KeyCode::PageUp, KeyModifiers::NONE));
        assert_eq!(p("space"), k(KeyCode::Char(' '), KeyModifiers::NONE));
        assert_eq!(p("f12"), k(KeyCode::F(12), KeyModifiers::NONE));
        assert_eq!(p("shift-tab"), p("backtab"));
        assert_eq!(p("shift-up"), k(KeyCode::Up, KeyModifiers::SHIFT));
        for bad in [
            "",
            "f13",
            "f0",
            "ctrl-",
            "pgup",
            "ctrl-pgup",
            "hyper-x",
            "ab",
        ] {
            assert!(p(bad).is_err(), "{bad:?} parsed");
        }
        // BackTab as terminals report it: with SHIFT.
        assert_eq!(
            Key::from_event(&press(KeyCode::BackTab, KeyModifiers::SHIFT)),
            p("backtab").unwrap()
        );
        assert_eq!(
            Key::from_event(&press(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL | KeyModifiers::SHIFT
            )),
            p("ctrl-c").unwrap()
        );
    }

    #[test]
    fn load_reads_the_user_file() {
        let dir = tempfile::tempdir().unwrap();
        let env_with = |vars: Vec<(&'static str, OsString)>| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };

        // Nothing at the default path: the defaults.
        let env = env_with(vec![("XDG_CONFIG_HOME", dir.path().into())]);
        assert_eq!(Keymap::load_with(&env).unwrap(), Keymap::default_map());

        // A file at the default path overlays.
        std::fs::create_dir(dir.path().join("gantry")).unwrap();
        let file = dir.path().join("gantry/keymap.toml");
        std::fs::write(
            &file,
            "[normal]\nkeymap = [ { on = [\"x\"], run = \"drill\" } ]\n",
        )
        .unwrap();
        let k = Keymap::load_with(&env).unwrap();
        assert_eq!(k.action(Mode::Normal, &ch('x')), Some(Action::Drill));

        // A bad file there is an error naming it.
        std::fs::write(
            &file,
            "[normal]\nkeymap = [ { on = [\"x\"], run = \"dril\" } ]\n",
        )
        .unwrap();
        let err = Keymap::load_with(&env).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:2: ", file.display())), "{err}");

        // A named file must exist.
        let missing = dir.path().join("nope.toml");
        let env = env_with(vec![("GANTRY_KEYMAP", missing.clone().into())]);
        let err = Keymap::load_with(&env).unwrap_err();
        assert!(
            matches!(&err, KeymapError::Read { path, .. } if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("nope.toml"));
    }
}

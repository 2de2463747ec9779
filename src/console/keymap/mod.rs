//! The control room's keymap: which key does what, per mode.
//!
//! This module owns the [`Action`] vocabulary, parsing `keymaps/*.toml`
//! (the embedded `keymaps/default.toml` overlaid with the user's file) and
//! resolving a crossterm [`KeyEvent`] to an action by lookup. The update
//! loop asks [`Keymap::action`] and acts on the answer; the help screen and
//! the footer read [`Keymap::bindings`] and [`Keymap::key_for`]. The format
//! and overlay rules are documented in `docs/keys-and-themes.md`; where the
//! user's file is found is `user_config.rs`'s to say.
//!
//! - `action`: the [`Action`] vocabulary (names in `ACTIONS`) and the
//!   [`Mode`]s;
//! - `key`: keys parsed from labels and normalised from terminal events;
//! - `file`: a keymap file read and its entries checked, with lines.
//!
//! This file holds the [`Keymap`]: loading, overlaying, and lookup.

mod action;
mod file;
mod key;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crossterm::event::{KeyEvent, KeyEventKind};

pub use action::{Action, Mode};

use super::user_config::overlay_user_file;
use action::action_names;
use file::parse;
use key::{Key, NAMED_KEYS};

/// The embedded default keymap; it is also the reference for the format.
const DEFAULT_KEYMAP: &str = include_str!("../../../keymaps/default.toml");

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

//! Keys: parsed from a keymap file's labels, and normalised from the
//! terminal's events so that one physical key compares equal however it
//! was reported.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{KeymapProblem, Mode};

/// A key as the lookup sees it: normalised so that the same physical key
/// compares equal however the terminal reported it (see `from_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) code: KeyCode,
    pub(super) modifiers: KeyModifiers,
}

/// Named keys a keymap may use, besides single characters and f1..f12.
pub(super) const NAMED_KEYS: [&str; 16] = [
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

    pub(super) fn from_event(event: &KeyEvent) -> Key {
        Key::new(event.code, event.modifiers)
    }

    /// Parses a key as written in a keymap file.
    pub(super) fn parse(label: &str, mode: Mode) -> Result<Key, KeymapProblem> {
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

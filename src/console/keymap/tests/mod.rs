//! Unit tests of the keymap, by job; the key presses and helpers they
//! share.

mod file;
mod key;
mod lookup;
mod overlay;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Keymap, KeymapError, KeymapProblem};

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

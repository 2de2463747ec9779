//! The default keymap and looking keys up in it: names, shifted and
//! released keys, labels, file order.

use crossterm::event::KeyEventKind;

use super::*;
use crate::console::keymap::{Action, DEFAULT_KEYMAP, Mode};

#[test]
fn default_keymap_parses() {
    Keymap::from_toml(DEFAULT_KEYMAP, "keymaps/default.toml").expect("default keymap parses");
}

#[test]
fn default_map_equals_the_file() {
    assert_eq!(
        Keymap::default_map(),
        Keymap::from_toml(include_str!("../../../../keymaps/default.toml"), "default").unwrap()
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
    assert_eq!(
        dialog,
        [
            Action::Submit,
            Action::Cancel,
            Action::NextField,
            Action::Up,
            Action::Down
        ]
    );
    assert!(
        k.bindings(Mode::Normal)
            .iter()
            .all(|b| !b.description.is_empty())
    );
}

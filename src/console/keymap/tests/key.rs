//! Key labels parsed, and keys from the terminal normalised.

use super::*;
use crate::console::keymap::Mode;
use crate::console::keymap::key::Key;

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

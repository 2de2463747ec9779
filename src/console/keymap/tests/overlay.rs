//! A user's file laid over the default: replacing, adding, unbinding,
//! refusing to leave no way out, and where the file is found.

use std::ffi::OsString;

use super::*;
use crate::console::keymap::{Action, Mode};

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
    let k =
        overlaid("[normal]\nkeymap = [ { on = [\"ctrl-d\"], run = \"page_down\" } ]\n").unwrap();
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

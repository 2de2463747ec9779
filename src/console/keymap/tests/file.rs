//! Errors in a keymap file, with their lines.

use super::*;
use crate::console::keymap::Mode;

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
        overlaid("[normal]\nkeymap = [ { on = [\"shift-e\"], run = \"drill\" } ]\n").unwrap_err(),
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
        overlaid(
            "[normal]\nkeymap = [\n  { on = [\"x\"], run = \"drill\", description = \"d\" },\n]\n",
        )
        .unwrap_err(),
    );
    assert_eq!(line, 3);
    let (line, _) = invalid_line(
        overlaid("[normal]\nkeymap = [ { on = \"x\", run = \"drill\" } ]\n").unwrap_err(),
    );
    assert_eq!(line, 2);
}

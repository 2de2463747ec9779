//! A keymap file as written, and its entries checked: every key and
//! action known, no key twice in a mode, each error with its line.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::key::Key;
use super::{Action, Binding, KeymapError, KeymapProblem, Mode};
use crate::text::line_at;

/// The `run` value that unbinds the entry's keys instead of binding them.
const UNBIND: &str = "noop";

/// A keymap file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    normal: Option<RawMode>,
    dialog: Option<RawMode>,
    prompt: Option<RawMode>,
    help: Option<RawMode>,
    report: Option<RawMode>,
    logs: Option<RawMode>,
    pager: Option<RawMode>,
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
pub(super) struct Entry {
    pub(super) mode: Mode,
    labels: Vec<String>,
    pub(super) keys: Vec<Key>,
    /// `None` for `run = "noop"`.
    pub(super) action: Option<Action>,
    description: String,
}

impl Entry {
    pub(super) fn bound(&self, action: Action) -> (Binding, Vec<Key>) {
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
pub(super) fn parse(text: &str, origin: &str) -> Result<Vec<Entry>, KeymapError> {
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
        (Mode::Report, raw.report),
        (Mode::Logs, raw.logs),
        (Mode::Pager, raw.pager),
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

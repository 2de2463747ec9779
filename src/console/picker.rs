//! The rollback dialog's release picker: the known-good release first (a
//! plain rollback, the default), then every other release that passed live
//! on the host and may be gone back to (`eligible` in the host's
//! `releases` answer), newest first. Up and Down move; Enter sends the
//! rollback `to` the chosen one.

use crate::wire::OutcomeWord;
use crate::wire::releases::Releases;

#[derive(Debug, Clone, Default)]
pub struct ReleasePicker {
    /// The host's `releases` answer; `None` while it is asked for.
    pub answer: Option<Result<Box<Releases>, String>>,
    /// Index into [`choices`](Self::choices); 0 is the known-good.
    pub selected: usize,
}

/// One line of the picker.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// What `rollback` is sent with: `None` for the known-good.
    pub to: Option<String>,
    pub release: String,
    /// When it was live and how it ended.
    pub note: String,
}

impl ReleasePicker {
    /// The known-good (a plain rollback), then the other eligible releases.
    pub fn choices(&self) -> Vec<Choice> {
        let Some(Ok(list)) = &self.answer else {
            return Vec::new();
        };
        let known_good = list.known_good.clone();
        let mut choices = vec![Choice {
            to: None,
            release: known_good.clone().unwrap_or_else(|| "(none)".into()),
            note: "known-good: a plain rollback".into(),
        }];
        for entry in list.eligible() {
            if Some(&entry.release) == known_good.as_ref() {
                continue;
            }
            let until = entry.live_until.as_deref().unwrap_or("now");
            // `live` as an ending means the next deploy took over.
            let ended = match (entry.ended, &entry.live_until) {
                (OutcomeWord::Live, Some(_)) => "replaced".to_string(),
                (OutcomeWord::Live, None) => "serving".to_string(),
                (other, _) => other.to_string(),
            };
            choices.push(Choice {
                to: Some(entry.release.clone()),
                release: entry.release.clone(),
                note: format!("live {} → {until}, {ended}", entry.live_from),
            });
        }
        choices
    }

    pub fn up(&mut self) {
        self.selected = self.selected.saturating_sub(1);
    }

    pub fn down(&mut self) {
        let last = self.choices().len().saturating_sub(1);
        self.selected = (self.selected + 1).min(last);
    }

    /// Where the rollback goes: `None` is the known-good.
    pub fn target(&self) -> Option<String> {
        self.choices().get(self.selected).and_then(|c| c.to.clone())
    }
}

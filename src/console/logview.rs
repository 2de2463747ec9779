//! The log view's state (`l` on a host): the service's lines as the agent
//! sent them, whether new ones follow the bottom or the view is paused,
//! where it is scrolled, the `/` filter, and which lines are the smoke
//! config's startup phases or forbidden lines. Drawn by `view/logs.rs`.

use std::collections::VecDeque;

use regex_lite::{Regex, RegexBuilder};

use super::keymap::Action;
use crate::wire::logs::LogTail;

/// Lines kept; older ones go (the agent keeps the whole log).
pub const LOG_KEPT: usize = 5000;
/// Lines asked for when the view opens.
pub const LOG_ASKED: usize = 1000;
/// A pattern from a host compiles to at most this much: a hostile agent
/// cannot make the control room build a huge automaton.
const PATTERN_SIZE_LIMIT: usize = 64 << 10;

/// What a line is to the smoke config, or whether it reads as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Plain,
    /// Matches a startup phase.
    Phase,
    /// Matches a forbidden pattern: a smoke deploy would fail on it (a
    /// live service's trades match too, so it is not drawn as a failure).
    Forbidden,
    /// Reads as a crash or an error ([`ERROR_WORDS`]).
    Error,
}

/// Words that make a line an error, whatever the service (lowercase).
pub const ERROR_WORDS: [&str; 5] = ["fatal", "panic", "error", "exception", "traceback"];

#[derive(Debug, Clone)]
pub struct LogView {
    pub host: usize,
    /// The `logs` request's ticket; its answer fills the view.
    pub ticket: u64,
    /// Where the lines come from (the agent's words), once answered.
    pub source: Option<String>,
    /// Why there are no lines (a refusal, a link down).
    pub error: Option<String>,
    pub lines: VecDeque<String>,
    /// Lines the agent dropped because this view fell behind, and lines
    /// this view let go past [`LOG_KEPT`].
    pub skipped: u64,
    /// New lines keep the bottom in view; paused, the view stays put.
    pub following: bool,
    /// Lines between the bottom of the view and the last line shown.
    pub offset: usize,
    /// Lines arrived while paused.
    pub unseen: usize,
    pub filter: String,
    phases: Vec<Regex>,
    forbidden: Vec<Regex>,
}

impl LogView {
    pub fn new(host: usize, ticket: u64) -> Self {
        Self {
            host,
            ticket,
            source: None,
            error: None,
            lines: VecDeque::new(),
            skipped: 0,
            following: true,
            offset: 0,
            unseen: 0,
            filter: String::new(),
            phases: Vec::new(),
            forbidden: Vec::new(),
        }
    }

    /// The agent's answer to `logs`.
    pub fn answered(&mut self, tail: LogTail) {
        self.source = Some(tail.source);
        self.error = None;
        self.phases = compile(&tail.phases);
        self.forbidden = compile(&tail.forbidden);
        self.lines.clear();
        self.append(tail.lines, 0);
    }

    /// New lines (a follow's batch) and how many the agent skipped.
    pub fn append(&mut self, lines: Vec<String>, skipped: u64) {
        self.skipped += skipped;
        let shown_before = self.visible_count();
        for line in lines {
            self.lines.push_back(line);
        }
        while self.lines.len() > LOG_KEPT {
            self.lines.pop_front();
            self.skipped += 1;
        }
        if !self.following {
            // Keep the same lines in view: the new ones are below it.
            let added = self.visible_count().saturating_sub(shown_before);
            self.offset += added;
            self.unseen += added;
        }
    }

    pub fn mark(&self, line: &str) -> Mark {
        let lower = line.to_lowercase();
        if ERROR_WORDS.iter().any(|w| lower.contains(w)) {
            Mark::Error
        } else if self.forbidden.iter().any(|re| re.is_match(line)) {
            Mark::Forbidden
        } else if self.phases.iter().any(|re| re.is_match(line)) {
            Mark::Phase
        } else {
            Mark::Plain
        }
    }

    /// The lines the filter lets through (a plain, case-insensitive
    /// substring), oldest first.
    pub fn visible(&self) -> Vec<&str> {
        let needle = self.filter.to_lowercase();
        self.lines
            .iter()
            .filter(|l| needle.is_empty() || l.to_lowercase().contains(&needle))
            .map(String::as_str)
            .collect()
    }

    fn visible_count(&self) -> usize {
        if self.filter.is_empty() {
            self.lines.len()
        } else {
            self.visible().len()
        }
    }

    /// Scrolls by `by` lines (up is negative); scrolling up pauses, and
    /// reaching the bottom follows again.
    pub fn scroll(&mut self, by: isize, page: usize) {
        let max = self.visible_count().saturating_sub(page.max(1));
        let offset = (self.offset as isize - by).clamp(0, max as isize) as usize;
        if offset > 0 {
            self.following = false;
        }
        self.offset = offset;
        if offset == 0 {
            self.unseen = 0;
        }
    }

    pub fn top(&mut self, page: usize) {
        self.following = false;
        self.offset = self.visible_count().saturating_sub(page.max(1));
    }

    pub fn bottom(&mut self) {
        self.following = true;
        self.offset = 0;
        self.unseen = 0;
    }

    /// `f`: follow (jump to the bottom) or pause where the view is.
    pub fn toggle_follow(&mut self) {
        if self.following {
            self.following = false;
        } else {
            self.bottom();
        }
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.offset = 0;
        self.unseen = 0;
    }
}

/// What a key in the log view leaves for `update` to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterKey {
    Nothing,
    Close,
    EditFilter,
}

impl LogView {
    /// A key's action in the log view; `page` is the lines it shows.
    pub fn on_action(&mut self, action: Action, page: usize) -> AfterKey {
        match action {
            Action::Cancel | Action::Quit => return AfterKey::Close,
            Action::Filter => return AfterKey::EditFilter,
            Action::Follow => self.toggle_follow(),
            Action::Up => self.scroll(-1, page),
            Action::Down => self.scroll(1, page),
            Action::PageUp => self.scroll(-(page as isize), page),
            Action::PageDown => self.scroll(page as isize, page),
            Action::Top => self.top(page),
            Action::Bottom => self.bottom(),
            _ => {}
        }
        AfterKey::Nothing
    }
}

fn compile(patterns: &[String]) -> Vec<Regex> {
    patterns
        .iter()
        .take(64)
        .filter_map(|p| {
            RegexBuilder::new(p)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(lines: &[&str]) -> LogTail {
        LogTail {
            source: "service.log".into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            following: true,
            phases: vec!["idle reached".into()],
            forbidden: vec!["order executed".into(), "(".into()],
        }
    }

    #[test]
    fn paused_the_view_stays_on_the_same_lines_and_counts_the_new() {
        let mut view = LogView::new(0, 1);
        view.answered(tail(&["a", "b", "c", "d"]));
        view.scroll(-1, 2);
        assert!(!view.following, "scrolling up pauses");
        assert_eq!(view.offset, 1);
        view.append(vec!["e".into(), "f".into()], 0);
        assert_eq!((view.offset, view.unseen), (3, 2));
        view.toggle_follow();
        assert_eq!((view.following, view.offset, view.unseen), (true, 0, 0));
    }

    #[test]
    fn lines_are_marked_by_the_smoke_patterns_and_a_bad_pattern_marks_nothing() {
        let mut view = LogView::new(0, 1);
        view.answered(tail(&[]));
        assert_eq!(view.mark("fatal: risk limit breached"), Mark::Error);
        assert_eq!(view.mark("Traceback (most recent call last):"), Mark::Error);
        assert_eq!(view.mark("idle reached"), Mark::Phase);
        assert_eq!(view.mark("order executed id=1"), Mark::Forbidden);
        assert_eq!(view.mark("strategy tick"), Mark::Plain);
    }

    #[test]
    fn the_filter_is_a_case_insensitive_substring_and_the_view_is_bounded() {
        let mut view = LogView::new(0, 1);
        view.answered(tail(&["Fatal: x", "ok", "fatal again"]));
        view.set_filter("FATAL".into());
        assert_eq!(view.visible(), vec!["Fatal: x", "fatal again"]);
        view.append((0..LOG_KEPT).map(|n| n.to_string()).collect(), 7);
        assert_eq!(view.lines.len(), LOG_KEPT);
        assert_eq!(view.skipped, 7 + 3);
    }
}

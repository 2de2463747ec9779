//! Health-check expressions: a small PromQL-like language that the agent
//! evaluates over its own recent scrapes, so a check can be a counter's rate,
//! an error ratio or a latency quantile rather than one gauge's value.
//!
//! ```text
//! expr    := operand | operand "/" operand
//! operand := selector
//!          | "rate(" selector "[" window "])"
//!          | "increase(" selector "[" window "])"
//!          | "histogram_quantile(" q "," selector_bucket ")"
//!          | "histogram_quantile(" q ", rate(" selector_bucket "[" window "]))"
//! window  := integer ("ms" | "s" | "m" | "h")        e.g. 500ms, 30s, 1m
//! ```
//!
//! Who talks to it: config parses a check's expression ([`Query::parse`]) and
//! refuses windows shorter than the probe interval
//! ([`Query::shortest_window_ms`]); the agent feeds every scrape, failed ones
//! included, to a [`History`] and evaluates each check's query against it
//! ([`Query::eval`]). Time is an argument in milliseconds: nothing here reads
//! a clock or does I/O.
//!
//! Decisions, each tested:
//!
//! - **No extrapolation**, unlike Prometheus. `increase` is the sum of the
//!   deltas between the first and last samples inside the window, and `rate`
//!   divides it by the seconds between those two samples. Prometheus
//!   stretches the result to the window's edges, which turns an integer
//!   counter's increase into a fraction and swings widely when a window holds
//!   few samples. A gate should judge what was seen; the agent scrapes often
//!   enough that the unseen edge is a small part of any window it accepts.
//! - Counter resets follow Prometheus: a drop means the counter restarted, and
//!   its new value is the increase since the restart.
//! - Windows are left-open, `(now - window, now]`, as in Prometheus 3, and
//!   need at least two samples; fewer is no data, never zero.
//! - **One series per selector.** There is no `sum` or `by`: a selector that
//!   matches several series is no data that says how many matched, as
//!   [`super::Exposition::lookup`] does. An empty label value matches a
//!   series without that label, as in Prometheus.
//! - A plain selector reads the latest scrape at or before `now`: if that
//!   scrape failed, or lacks the series, it is no data, not the older value.
//!   A window reads whatever its samples are; a failed scrape is a gap in it.
//! - A ratio is no data when either side is, and when the denominator is 0:
//!   never infinity or NaN.
//! - `histogram_quantile` interpolates linearly inside the bucket, as
//!   Prometheus does: a quantile in the `+Inf` bucket is the highest finite
//!   bound, a histogram without `+Inf` or without observations is no data.
//!   One deviation: the 0-quantile is the lower bound of the first bucket
//!   that holds an observation, where Prometheus can answer NaN.
//! - Expressions are one line; blanks (spaces, tabs) may separate tokens.
//!   Selectors are lexed by the exposition parser's own rules, so a check
//!   accepts exactly the names and labels a page can carry.
//! - Windows are at most [`MAX_WINDOW_MS`] (a day): the agent keeps its
//!   samples in memory, and a longer window would be judging another release.
//!
//! - `parse`: the text to a [`Query`], with errors that name the column;
//! - `history`: the samples kept per series a query reads, bounded;
//! - `eval`: a query's value at a time, or why there is none.

mod eval;
mod history;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

pub use history::{History, MAX_POINTS_PER_SERIES, OutOfOrder};

use super::cursor::{is_label_char, is_label_start, is_name_char, is_name_start};
use super::escape_label_value;

/// The longest window a query may name: one day.
pub const MAX_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// A parsed health-check expression. [`fmt::Display`] prints its canonical
/// form, which parses back to the same query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Single(Operand),
    /// The first operand divided by the second, e.g. errors per order.
    Ratio(Operand, Operand),
}

/// One value an expression can read from the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// The value in the latest scrape.
    Latest(Selector),
    /// The counter's increase over the window.
    Increase(Selector, Window),
    /// The counter's per-second increase over the window.
    Rate(Selector, Window),
    /// The `q` quantile of a histogram whose `_bucket` series `buckets`
    /// selects (never by `le`): of every observation so far, or with a
    /// window, of those made inside it.
    Quantile {
        q: f64,
        buckets: Selector,
        window: Option<Window>,
    },
}

/// A metric name and the labels its one series must carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

/// A time span in whole milliseconds, greater than zero and at most
/// [`MAX_WINDOW_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window(u64);

/// What a query says at one moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    Value(f64),
    /// No value, and why, in words fit for a human.
    NoData(String),
}

/// An expression that does not parse. Columns are 1-based and count
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("column {column}: expected {expected}, found {found}")]
    Unexpected {
        column: usize,
        expected: String,
        found: String,
    },
    /// Well-formed text with a value that cannot be: a zero window, a
    /// quantile above 1, a label given twice.
    #[error("column {column}: {message}")]
    Invalid { column: usize, message: String },
}

impl QueryError {
    pub fn column(&self) -> usize {
        match self {
            QueryError::Unexpected { column, .. } | QueryError::Invalid { column, .. } => *column,
        }
    }
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        parse::query(text)
    }

    /// The operands, numerator first.
    pub fn operands(&self) -> impl Iterator<Item = &Operand> {
        let (first, second) = match self {
            Query::Single(a) => (a, None),
            Query::Ratio(a, b) => (a, Some(b)),
        };
        std::iter::once(first).chain(second)
    }

    /// The shortest window the query names, if any: a window shorter than
    /// the probe interval can never hold the two samples it needs.
    pub fn shortest_window_ms(&self) -> Option<u64> {
        self.operands()
            .filter_map(Operand::window)
            .map(Window::ms)
            .min()
    }

    /// The longest window the query names, if any: how far back the
    /// history must reach.
    pub fn longest_window_ms(&self) -> Option<u64> {
        self.operands()
            .filter_map(Operand::window)
            .map(Window::ms)
            .max()
    }
}

impl Operand {
    pub fn window(&self) -> Option<Window> {
        match self {
            Operand::Latest(_) => None,
            Operand::Increase(_, w) | Operand::Rate(_, w) => Some(*w),
            Operand::Quantile { window, .. } => *window,
        }
    }
}

impl Selector {
    /// Whether a sample is of this selector's series, by the rules of
    /// [`super::Exposition::lookup`]: every matcher holds, and an empty value
    /// matches a missing label. A histogram's selector never names `le`, so
    /// it matches every bucket.
    fn matches(&self, sample: &super::Sample) -> bool {
        sample.name == self.name
            && self
                .labels
                .iter()
                .all(|(k, v)| sample.label(k).unwrap_or("") == v)
    }
}

impl Window {
    /// `ms` as a window, if it is one a query may name.
    pub fn from_ms(ms: u64) -> Option<Window> {
        (1..=MAX_WINDOW_MS).contains(&ms).then_some(Window(ms))
    }

    pub fn ms(self) -> u64 {
        self.0
    }
}

impl Evaluation {
    pub fn value(&self) -> Option<f64> {
        match self {
            Evaluation::Value(v) => Some(*v),
            Evaluation::NoData(_) => None,
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Single(a) => write!(f, "{a}"),
            Query::Ratio(a, b) => write!(f, "{a} / {b}"),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Latest(s) => write!(f, "{s}"),
            Operand::Increase(s, w) => write!(f, "increase({s}[{w}])"),
            Operand::Rate(s, w) => write!(f, "rate({s}[{w}])"),
            Operand::Quantile {
                q,
                buckets,
                window: None,
            } => write!(f, "histogram_quantile({q}, {buckets})"),
            Operand::Quantile {
                q,
                buckets,
                window: Some(w),
            } => write!(f, "histogram_quantile({q}, rate({buckets}[{w}]))"),
        }
    }
}

impl fmt::Display for Selector {
    /// `name{a="b"}`, or `{"utf8.name",a="b"}` when the name needs quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain_name = is_plain(&self.name, is_name_start, is_name_char);
        if plain_name {
            f.write_str(&self.name)?;
            if self.labels.is_empty() {
                return Ok(());
            }
        }
        f.write_str("{")?;
        let mut first = true;
        if !plain_name {
            write!(f, "\"{}\"", escape_label_value(&self.name))?;
            first = false;
        }
        for (k, v) in &self.labels {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if is_plain(k, is_label_start, is_label_char) {
                f.write_str(k)?;
            } else {
                write!(f, "\"{}\"", escape_label_value(k))?;
            }
            write!(f, "=\"{}\"", escape_label_value(v))?;
        }
        f.write_str("}")
    }
}

/// Whether `word` can be written bare: a start character, then others.
fn is_plain(word: &str, start: fn(u8) -> bool, rest: fn(u8) -> bool) -> bool {
    let b = word.as_bytes();
    b.first().is_some_and(|&c| start(c)) && b.iter().all(|&c| rest(c))
}

impl fmt::Display for Window {
    /// In the largest unit that divides it: 60000 ms is `1m`, 90 s is `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

//! Prometheus text exposition parser: format 0.0.4 plus the quoted UTF-8
//! names of Prometheus 3 / OpenMetrics (`{"my.metric", "my.label"="v"}`).
//!
//! The agent scrapes a service's `/metrics` and evaluates health gates on
//! what this module returns, so it owns two promises the common crates do
//! not keep:
//!
//! - **Whole or nothing.** Malformed input fails the probe with the line,
//!   column, what was expected and what was found. Nothing is skipped: a
//!   metric we did not understand must not quietly vanish from a gate.
//! - **Missing is not zero.** [`Exposition::lookup`] says [`Lookup::Missing`]
//!   when no series matches and [`Lookup::Ambiguous`] when several do, so a
//!   check can neither read "no data" as `0` nor silently pick one series.
//!
//! Decisions where the format or Prometheus leave room (each is tested):
//!
//! - Lines end in `\n`; the last one may lack it. A line ending in `\r` is
//!   rejected (a CRLF page is a broken exporter or proxy, not a dialect), and
//!   a raw `\r` is accepted only inside a quoted string, where the format
//!   allows any character but `\`, `"` and a newline.
//! - Label values and quoted names know the escapes `\\`, `\"` and `\n`; any
//!   other escape is an error. HELP docstrings decode `\\` and `\n` and keep
//!   any other backslash verbatim, as Prometheus does: documentation text is
//!   no reason to fail a deploy gate.
//! - Blanks (spaces, tabs) may separate any two tokens; a bare metric name
//!   must be followed by a blank or `{` (Prometheus reads `foo-1` as `foo`
//!   with value `-1`; we refuse it).
//! - Values follow Go's `strconv.ParseFloat` as Prometheus uses it: decimal
//!   with optional exponent, `Inf`/`Infinity` (signed or not) and unsigned
//!   `NaN`, case-insensitively; no hex, no `_`; a finite literal that
//!   overflows to infinity is an error. Timestamps are int64 milliseconds
//!   and, since the format says int64, may be negative.
//! - An empty label value is the same as an absent label, as in Prometheus:
//!   `foo{a=""}` and `foo` are the same series (so both is a duplicate), and
//!   a lookup matcher `("a", "")` matches series without `a`.
//! - `__`-prefixed label names are accepted, except `__name__`, which would
//!   make the series' name ambiguous.
//! - Two HELP or two TYPE lines for one name, and a TYPE line after samples
//!   of its family (a histogram's `_bucket`/`_sum`/`_count`, a summary's
//!   `_sum`/`_count`), are errors, as are duplicate label names in a sample
//!   and duplicate series (label order does not matter).
//!
//! - `cursor`: a position in one line, its character classes and quoted
//!   strings, and errors with line and column;
//! - `tokens`: label sets, values, timestamps, and selectors;
//! - `parser`: the page line by line, comments and metadata, duplicates;
//! - `hash`: the seeded hasher of the parser's tables.
//!
//! This file holds what a parsed page is ([`Exposition`]) and how it is
//! asked ([`Exposition::lookup`]), and [`parse`].

mod cursor;
mod hash;
mod parser;
pub mod query;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::HashMap;
use std::fmt;

pub use tokens::parse_selector;

use cursor::utf8_error;
use hash::FastState;
use parser::Parser;

/// The metric types of the 0.0.4 text format; a family without a TYPE line
/// is `Untyped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    /// The word used on a TYPE line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }

    /// Case-sensitive, like Prometheus: `# TYPE foo Counter` is refused.
    fn from_word(word: &str) -> Option<MetricType> {
        Some(match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Untyped,
            _ => return None,
        })
    }

    /// Suffixes whose samples belong to a family of this type.
    fn member_suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Histogram => &["_bucket", "_sum", "_count"],
            MetricType::Summary => &["_sum", "_count"],
            _ => &[],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample line, escapes decoded, labels in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of [`Exposition::lookup`]. Deliberately not an `Option<f64>`:
/// a gate must handle "no data" and "which one?" as the faults they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup {
    /// Exactly one series matched; this is its value (which may be NaN).
    Found(f64),
    /// No series matched: no data, never zero.
    Missing,
    /// This many series matched; the selector must be made narrower.
    Ambiguous(usize),
}

/// A malformed exposition or selector. `line` and `column` are 1-based;
/// `column` counts characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A parsed page: samples in order, plus HELP and TYPE metadata.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    samples: Vec<Sample>,
    /// What the page says about each name: one map, one key per name.
    names: HashMap<String, NameInfo, FastState>,
}

/// HELP, TYPE and first sample of one name, each with its 1-based line.
#[derive(Debug, Clone, Default)]
struct NameInfo {
    help: Option<(String, usize)>,
    ty: Option<(MetricType, usize)>,
    first_sample: Option<usize>,
}

impl Exposition {
    /// Every sample, in page order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The type of the family `name` belongs to: its own TYPE line, or that
    /// of the histogram or summary it is a `_bucket`/`_sum`/`_count` of, or
    /// `Untyped` when it has samples or HELP but no TYPE. `None` when the
    /// page says nothing at all about `name`.
    pub fn metric_type(&self, name: &str) -> Option<MetricType> {
        let info = self.names.get(name);
        if let Some((ty, _)) = info.and_then(|i| i.ty) {
            return Some(ty);
        }
        if let Some(ty) = self.parent_type(name) {
            return Some(ty);
        }
        info.map(|_| MetricType::Untyped)
    }

    /// The type of the histogram or summary `name` is a member of, if any.
    fn parent_type(&self, name: &str) -> Option<MetricType> {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            let (ty, _) = self.names.get(base)?.ty?;
            ty.member_suffixes().contains(suffix).then_some(ty)
        })
    }

    /// The decoded HELP docstring for `name`, if the page has one.
    pub fn help(&self, name: &str) -> Option<&str> {
        let (text, _) = self.names.get(name)?.help.as_ref()?;
        Some(text)
    }

    /// The value of the one series named `name` whose labels include every
    /// `(k, v)` in `matchers`. A matcher with an empty value matches series
    /// that lack the label (Prometheus' empty-is-absent rule).
    pub fn lookup(&self, name: &str, matchers: &[(String, String)]) -> Lookup {
        let mut count = 0;
        let mut value = f64::NAN;
        for sample in self.samples.iter().filter(|s| s.name == name) {
            if matchers
                .iter()
                .all(|(k, v)| sample.label(k).unwrap_or("") == v)
            {
                count += 1;
                value = sample.value;
            }
        }
        match count {
            0 => Lookup::Missing,
            1 => Lookup::Found(value),
            n => Lookup::Ambiguous(n),
        }
    }
}

/// Parses a whole exposition, or refuses it whole.
pub fn parse(input: &[u8]) -> Result<Exposition, ParseError> {
    let text = std::str::from_utf8(input).map_err(|e| utf8_error(input, e))?;
    let mut parser = Parser::sized_for(text);
    for (index, line) in text.split('\n').enumerate() {
        parser.line(index + 1, line)?;
    }
    Ok(parser.page)
}

/// A label value escaped for the text format (0.0.4): backslash, quote and
/// newline, the only escapes the format has. Every writer of exposition
/// text in gantry (the sim, the agent's /metrics) uses this one.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

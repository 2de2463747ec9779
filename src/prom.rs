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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};

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

/// Parses a selector as written in a config file: `name`,
/// `name{a="b",c="d"}` or `{"utf8.name",a="b"}`, with the same lexing rules
/// as a sample line. Errors are reported on line 1.
pub fn parse_selector(text: &str) -> Result<(String, Vec<(String, String)>), ParseError> {
    let mut c = Cursor::new(text, 1);
    // Same lexing as a page line: a raw `\r` only inside quotes, no `\n`.
    if let Some(at) = text.find('\n') {
        return Err(c.err_at(at, "a selector must be a single line".into()));
    }
    c.skip_blanks();
    let mut name = None;
    match c.peek() {
        Some(b) if is_name_start(b) => name = Some(c.take_while(is_name_char).to_owned()),
        Some(b'{') => {}
        Some(b'"') => return Err(quoted_name_outside(&c)),
        None => return Err(c.err("empty selector: expected a metric name".into())),
        Some(_) => return Err(c.expected("a metric name or '{'")),
    }
    c.skip_blanks();
    let mut labels = Vec::new();
    if c.peek() == Some(b'{') {
        parse_labels(&mut c, &mut name, &mut labels)?;
        c.skip_blanks();
    }
    if !c.at_end() {
        return Err(c.expected("the end of the selector"));
    }
    let name = name.ok_or_else(|| c.err_at(0, "selector has no metric name".into()))?;
    Ok((name, labels))
}

fn utf8_error(input: &[u8], e: std::str::Utf8Error) -> ParseError {
    let valid = &input[..e.valid_up_to()];
    let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
    let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let message = match e.error_len() {
        Some(_) => format!(
            "invalid UTF-8 (byte 0x{:02x})",
            input[e.valid_up_to()] // in bounds: error_len is Some, so a bad byte is there
        ),
        None => "input ends inside a UTF-8 sequence".to_owned(),
    };
    ParseError {
        line,
        column: char_column(&valid[line_start..]),
        message,
    }
}

/// 1-based character column just after `prefix`, counting lead bytes so it
/// never panics, whatever the slice.
fn char_column(prefix: &[u8]) -> usize {
    1 + prefix.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_char(b: u8) -> bool {
    is_label_start(b) || b.is_ascii_digit()
}

/// How much of the offending text an error quotes.
const QUOTE_CHARS: usize = 24;

/// `text` in double quotes, escaped, cut after [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A position in one line. Every index it slices at sits on an ASCII byte
/// or the line's end, so `&str` slicing stays on char boundaries.
struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str, line: usize) -> Self {
        Cursor {
            s,
            b: s.as_bytes(),
            pos: 0,
            line,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Skips spaces and tabs; says whether there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        // Both ends are char boundaries: `keep` is only ever true for ASCII
        // bytes or for "not a blank", which stops at an ASCII blank or the end.
        &self.s[start..self.pos]
    }

    /// The rest of the line, quoted and truncated, for "found …".
    fn found(&self) -> String {
        let rest = self.rest();
        if rest.is_empty() {
            return "end of line".to_owned();
        }
        quote(rest)
    }

    fn err_at(&self, pos: usize, message: String) -> ParseError {
        ParseError {
            line: self.line,
            column: char_column(&self.b[..pos.min(self.b.len())]),
            message,
        }
    }

    fn err(&self, message: String) -> ParseError {
        self.err_at(self.pos, message)
    }

    fn expected(&self, what: &str) -> ParseError {
        // `what` may name a quoted (so any-character) metric or label
        // name; the found text is quoted with escapes already.
        let what = crate::text::inert(what);
        self.err(format!("expected {what}, found {}", self.found()))
    }

    /// Reads a double-quoted string at the cursor, decoding `\\`, `\"` and
    /// `\n`. Borrow-free fast path when there is no escape.
    fn quoted(&mut self, what: &str) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut decoded: Option<String> = None;
        let mut segment = self.pos;
        loop {
            let Some(skip) = self.b[self.pos..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
            else {
                self.pos = self.b.len();
                return Err(self.err_at(
                    open,
                    format!("unterminated {what}: no closing '\"' before the end of the line"),
                ));
            };
            self.pos += skip;
            let tail = &self.s[segment..self.pos];
            if self.b[self.pos] == b'"' {
                self.pos += 1;
                return Ok(match decoded {
                    Some(mut s) => {
                        s.push_str(tail);
                        s
                    }
                    None => tail.to_owned(),
                });
            }
            let out = decoded.get_or_insert_with(String::new);
            out.push_str(tail);
            match self.b.get(self.pos + 1) {
                Some(b'\\') => out.push('\\'),
                Some(b'"') => out.push('"'),
                Some(b'n') => out.push('\n'),
                Some(_) => {
                    let bad = self.s[self.pos + 1..].chars().next().unwrap_or('?');
                    return Err(self.err(format!(
                        "invalid escape {:?} in {what} (only \\\\, \\\" and \\n are allowed)",
                        format!("\\{bad}")
                    )));
                }
                None => {
                    return Err(self.err_at(
                        open,
                        format!("unterminated {what}: the line ends in a backslash"),
                    ));
                }
            }
            self.pos += 2;
            segment = self.pos;
        }
    }
}

fn quoted_name_outside(c: &Cursor<'_>) -> ParseError {
    c.err(format!(
        "a quoted metric name must be inside the braces, as {{\"name\", ...}}; found {}",
        c.found()
    ))
}

/// Reads `{...}` at the cursor into `labels`; a first bare quoted string is
/// the metric name and goes into `name`.
fn parse_labels(
    c: &mut Cursor<'_>,
    name: &mut Option<String>,
    labels: &mut Vec<(String, String)>,
) -> Result<(), ParseError> {
    let open = c.pos;
    c.pos += 1;
    let mut first = true;
    loop {
        c.skip_blanks();
        let item = c.pos;
        let label = match c.peek() {
            Some(b'}') => {
                c.pos += 1;
                return Ok(());
            }
            None => return Err(unclosed(c, open)),
            Some(b'"') => {
                let text = c.quoted("quoted name")?;
                c.skip_blanks();
                match c.peek() {
                    Some(b'=') if text.is_empty() => {
                        return Err(c.err_at(item, "empty label name".into()));
                    }
                    Some(b'=') => text,
                    Some(b',' | b'}') if first => {
                        if let Some(outer) = name {
                            return Err(c.err_at(
                                item,
                                format!(
                                    "metric name given twice: {outer:?} before the braces and {text:?} inside them"
                                ),
                            ));
                        }
                        if text.is_empty() {
                            return Err(c.err_at(item, "empty metric name".into()));
                        }
                        *name = Some(text);
                        first = false;
                        if c.peek() == Some(b',') {
                            c.pos += 1;
                        }
                        continue;
                    }
                    Some(b',' | b'}') => {
                        return Err(c.err_at(
                            item,
                            format!(
                                "a bare quoted string is a metric name and must come first inside the braces; found {text:?}"
                            ),
                        ));
                    }
                    _ => return Err(c.expected(&format!("'=' after label name {text:?}"))),
                }
            }
            Some(b) if is_label_start(b) => {
                let label = c.take_while(is_label_char).to_owned();
                c.skip_blanks();
                label
            }
            Some(_) => return Err(c.expected("a label name or '}'")),
        };
        if c.peek() != Some(b'=') {
            return Err(c.expected(&format!("'=' after label name {label}")));
        }
        c.pos += 1;
        c.skip_blanks();
        if c.peek() != Some(b'"') {
            return Err(c.expected(&format!("a quoted value for label {label}")));
        }
        let value = c.quoted("label value")?;
        if label == "__name__" {
            return Err(c.err_at(
                item,
                "label __name__ is not allowed: it would rename the series".into(),
            ));
        }
        if labels.iter().any(|(k, _)| *k == label) {
            return Err(c.err_at(item, format!("duplicate label {label:?}")));
        }
        labels.push((label, value));
        first = false;
        c.skip_blanks();
        match c.peek() {
            Some(b',') => c.pos += 1,
            Some(b'}') => {}
            None => return Err(unclosed(c, open)),
            Some(_) => return Err(c.expected("',' or '}' after a label value")),
        }
    }
}

fn unclosed(c: &Cursor<'_>, open: usize) -> ParseError {
    c.err_at(
        open,
        "unclosed '{': no '}' before the end of the line".into(),
    )
}

/// Go's `strconv.ParseFloat` grammar as Prometheus uses it, minus hex and
/// `_` (Prometheus refuses those too). Returns the reason on failure.
fn parse_value(token: &str) -> Result<f64, &'static str> {
    let (negative, body) = match token.as_bytes().first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case("nan") {
        // Go's ParseFloat takes no sign on NaN.
        return if body.len() == token.len() {
            Ok(f64::NAN)
        } else {
            Err("NaN takes no sign")
        };
    }
    let b = body.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return Err("not a number");
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err("exponent has no digits");
        }
    }
    if i != b.len() {
        return Err("not a number");
    }
    // The grammar above is a subset of what Rust's parser accepts, and Rust
    // rounds correctly, as Go does.
    let value: f64 = token.parse().map_err(|_| "not a number")?;
    if value.is_infinite() {
        return Err("out of range for a 64-bit float");
    }
    Ok(value)
}

fn parse_timestamp(token: &str) -> Result<i64, &'static str> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an integer number of milliseconds");
    }
    token.parse().map_err(|_| "out of range for int64")
}

/// Truncated rendering of a series for error messages.
fn series_text(name: &str, labels: &[(String, String)]) -> String {
    // Quoted names may hold any character, a decoded `\n` included: inert.
    let mut text = crate::text::inert(name);
    if !labels.is_empty() {
        text.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("{}={v:?}", crate::text::inert(k)));
        }
        text.push('}');
    }
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

struct Parser {
    page: Exposition,
    /// Line of each sample, for "first on line N".
    sample_lines: Vec<usize>,
    /// Order-insensitive series hash → index of the first sample with it.
    series: HashMap<u64, usize, FastState>,
    /// Distinct series whose hash collided with one in `series`; in practice
    /// empty. The random seed keeps a page from aiming at it.
    collisions: Vec<(u64, usize)>,
    hasher: FastState,
}

#[derive(Clone, Copy)]
enum Meta {
    Help,
    Type,
}

impl Parser {
    /// Sizes the tables from the line count (a fast vectorized count), so a
    /// page is read without rehashing or regrowing.
    fn sized_for(text: &str) -> Parser {
        let lines = 1 + text.bytes().filter(|&b| b == b'\n').count();
        let hasher = FastState::default();
        Parser {
            page: Exposition {
                samples: Vec::with_capacity(lines),
                names: HashMap::with_capacity_and_hasher(lines / 2, hasher.clone()),
            },
            sample_lines: Vec::with_capacity(lines),
            series: HashMap::with_capacity_and_hasher(lines, hasher.clone()),
            collisions: Vec::new(),
            hasher,
        }
    }

    fn line(&mut self, line_no: usize, line: &str) -> Result<(), ParseError> {
        let mut c = Cursor::new(line, line_no);
        if line.ends_with('\r') {
            return Err(c.err_at(
                line.len() - 1,
                "line ends in \\r\\n: the text format allows only \\n line endings".into(),
            ));
        }
        c.skip_blanks();
        match c.peek() {
            None => Ok(()),
            Some(b'#') => self.comment(c),
            Some(_) => self.sample(c),
        }
    }

    fn comment(&mut self, mut c: Cursor<'_>) -> Result<(), ParseError> {
        c.pos += 1;
        // As in Prometheus' lexer: "#HELP" and "# HELP" with nothing after
        // are plain comments; "# HELP " followed by anything is metadata.
        let meta = if !c.skip_blanks() {
            None
        } else if c.rest().starts_with("HELP") {
            Some(Meta::Help)
        } else if c.rest().starts_with("TYPE") {
            Some(Meta::Type)
        } else {
            None
        };
        let Some(meta) = meta.filter(|_| c.b.get(c.pos + 4).is_some_and(|&b| is_blank(b))) else {
            return match c.rest().find('\r') {
                Some(at) => Err(c.err_at(
                    c.pos + at,
                    "carriage return in a comment (only quoted strings may hold one)".into(),
                )),
                None => Ok(()),
            };
        };
        let keyword = match meta {
            Meta::Help => "HELP",
            Meta::Type => "TYPE",
        };
        c.pos += 4;
        c.skip_blanks();
        let name_pos = c.pos;
        let name = match c.peek() {
            Some(b'"') => {
                let name = c.quoted("quoted metric name")?;
                if name.is_empty() {
                    return Err(c.err_at(name_pos, "empty metric name".into()));
                }
                name
            }
            Some(b) if is_name_start(b) => c.take_while(is_name_char).to_owned(),
            _ => return Err(c.expected(&format!("a metric name after {keyword}"))),
        };
        if !c.skip_blanks() && !c.at_end() {
            return Err(c.expected("a space after the metric name"));
        }
        match meta {
            Meta::Help => self.help(c, name),
            Meta::Type => self.type_line(c, name),
        }
    }

    fn help(&mut self, c: Cursor<'_>, name: String) -> Result<(), ParseError> {
        let raw = c.rest();
        if let Some(at) = raw.find('\r') {
            return Err(c.err_at(
                c.pos + at,
                "carriage return in a HELP docstring (only quoted strings may hold one)".into(),
            ));
        }
        let text = if raw.contains('\\') {
            unescape_help(raw)
        } else {
            raw.to_owned()
        };
        if let Some((_, first)) = self.page.names.get(&name).and_then(|i| i.help.as_ref()) {
            return Err(c.err_at(
                0,
                format!("second HELP line for {name:?} (the first is on line {first})"),
            ));
        }
        self.page.names.entry(name).or_default().help = Some((text, c.line));
        Ok(())
    }

    fn type_line(&mut self, mut c: Cursor<'_>, name: String) -> Result<(), ParseError> {
        if c.at_end() {
            return Err(c.expected(&format!("a metric type after TYPE {name}")));
        }
        let word_pos = c.pos;
        let word = c.take_while(|b| !is_blank(b));
        let Some(ty) = MetricType::from_word(word) else {
            c.pos = word_pos;
            return Err(c.expected("counter, gauge, histogram, summary or untyped"));
        };
        c.skip_blanks();
        if !c.at_end() {
            return Err(c.expected("the end of the TYPE line"));
        }
        let names = &self.page.names;
        if let Some((_, first)) = names.get(&name).and_then(|i| i.ty) {
            return Err(c.err_at(
                0,
                format!("second TYPE line for {name:?} (the first is on line {first})"),
            ));
        }
        let own = std::iter::once(name.clone());
        let members = ty.member_suffixes().iter().map(|s| format!("{name}{s}"));
        if let Some((member, line)) = own.chain(members).find_map(|n| {
            let line = names.get(&n)?.first_sample?;
            Some((n, line))
        }) {
            return Err(c.err_at(
                0,
                format!(
                    "TYPE line for {name:?} comes after its samples ({member:?} first appears on line {line})"
                ),
            ));
        }
        self.page.names.entry(name).or_default().ty = Some((ty, c.line));
        Ok(())
    }

    fn sample(&mut self, mut c: Cursor<'_>) -> Result<(), ParseError> {
        let start = c.pos;
        let mut name = None;
        match c.peek() {
            Some(b) if is_name_start(b) => name = Some(c.take_while(is_name_char).to_owned()),
            Some(b'{') => {}
            Some(b'"') => return Err(quoted_name_outside(&c)),
            _ => return Err(c.expected("a metric name, '{' or '#'")),
        }
        let blank = c.skip_blanks();
        let mut labels = Vec::new();
        if c.peek() == Some(b'{') {
            parse_labels(&mut c, &mut name, &mut labels)?;
            c.skip_blanks();
        } else if !blank && !c.at_end() {
            return Err(c.expected("a space or '{' after the metric name"));
        }
        let name = name.ok_or_else(|| c.err_at(start, "sample has no metric name".into()))?;

        let value_pos = c.pos;
        let token = c.take_while(|b| !is_blank(b));
        if token.is_empty() {
            return Err(c.expected(&format!("a value for {name}")));
        }
        let value = parse_value(token)
            .map_err(|why| c.err_at(value_pos, format!("invalid value {}: {why}", quote(token))))?;

        c.skip_blanks();
        let mut timestamp_ms = None;
        if !c.at_end() {
            let ts_pos = c.pos;
            let token = c.take_while(|b| !is_blank(b));
            timestamp_ms = Some(parse_timestamp(token).map_err(|why| {
                c.err_at(ts_pos, format!("invalid timestamp {}: {why}", quote(token)))
            })?);
            c.skip_blanks();
            if !c.at_end() {
                return Err(c.expected("the end of the line after the timestamp"));
            }
        }

        self.add(
            Sample {
                name,
                labels,
                value,
                timestamp_ms,
            },
            &c,
        )
    }

    /// Records a sample, refusing a second sample of the same series.
    fn add(&mut self, sample: Sample, c: &Cursor<'_>) -> Result<(), ParseError> {
        let index = self.page.samples.len();
        let key = self.series_key(&sample);
        let (duplicate_of, collided) = match self.series.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(index);
                (None, false)
            }
            Entry::Occupied(slot) => {
                let first = *slot.get();
                let samples = &self.page.samples;
                let duplicate = std::iter::once(first)
                    .chain(
                        self.collisions
                            .iter()
                            .filter(|(h, _)| *h == key)
                            .map(|&(_, i)| i),
                    )
                    .find(|&i| same_series(&samples[i], &sample));
                (duplicate, true)
            }
        };
        if let Some(first) = duplicate_of {
            return Err(c.err_at(
                0,
                format!(
                    "duplicate series {} (first on line {})",
                    series_text(&sample.name, &sample.labels),
                    self.sample_lines[first]
                ),
            ));
        }
        if collided {
            self.collisions.push((key, index));
        }
        // Samples of a family come in a run: look the name up only when it
        // changes.
        let new_name = self
            .page
            .samples
            .last()
            .is_none_or(|previous| previous.name != sample.name);
        if new_name {
            match self.page.names.get_mut(&sample.name) {
                Some(info) => {
                    info.first_sample.get_or_insert(c.line);
                }
                None => {
                    let info = NameInfo {
                        first_sample: Some(c.line),
                        ..NameInfo::default()
                    };
                    self.page.names.insert(sample.name.clone(), info);
                }
            }
        }
        self.page.samples.push(sample);
        self.sample_lines.push(c.line);
        Ok(())
    }

    /// A hash of the name and the set of non-empty labels, independent of
    /// label order (per-label hashes are summed).
    fn series_key(&self, sample: &Sample) -> u64 {
        let labels = sample
            .labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .fold(0u64, |sum, (k, v)| {
                sum.wrapping_add(self.hasher.hash_one((k, v)))
            });
        self.hasher.hash_one((&sample.name, labels))
    }
}

/// Builds seeded FxHash-style hashers. SipHash was the largest single cost
/// of a parse; these maps are keyed by what the scraped service sends, so
/// the seed is still random per parse, and a collision costs only time.
#[derive(Debug, Clone)]
struct FastState(u64);

impl Default for FastState {
    fn default() -> Self {
        FastState(RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length first, so zero padding of the last word cannot make
        // "a" and "a\0" collide.
        self.mix(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        let mut word = [0u8; 8];
        for chunk in &mut chunks {
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    /// Murmur3's finalizer: the multiply-rotate state alone leaves the high
    /// bits (which the map's control bytes use) poorly mixed, and the series
    /// key sums these hashes.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Same name and same non-empty labels. Label names within a sample are
/// unique, so equal counts plus containment is set equality.
fn same_series(a: &Sample, b: &Sample) -> bool {
    let non_empty = |s: &Sample| s.labels.iter().filter(|(_, v)| !v.is_empty()).count();
    a.name == b.name
        && non_empty(a) == non_empty(b)
        && a.labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .all(|(k, v)| b.label(k) == Some(v))
}

/// Decodes `\\` and `\n` in a docstring; other backslashes stay as written.
fn unescape_help(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        let mut ahead = chars.clone();
        match ahead.next() {
            Some('\\') => {
                out.push('\\');
                chars = ahead;
            }
            Some('n') => {
                out.push('\n');
                chars = ahead;
            }
            _ => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_values_parse_back() {
        for value in ["plain", "a \"quoted\" \\ path", "two\nlines", ""] {
            let page = format!("m{{l=\"{}\"}} 1\n", escape_label_value(value));
            let parsed = parse(page.as_bytes()).unwrap();
            let got = parsed.samples()[0].label("l").unwrap_or("");
            assert_eq!(got, value, "{page}");
        }
    }

    fn ok(text: &str) -> Exposition {
        match parse(text.as_bytes()) {
            Ok(page) => page,
            Err(e) => panic!("{text:?} should parse, got {e}"),
        }
    }

    /// Asserts `text` is refused on `line`, with `needle` in the message.
    fn bad(text: &str, line: usize, needle: &str) -> ParseError {
        match parse(text.as_bytes()) {
            Ok(page) => panic!("{text:?} should fail, parsed {:?}", page.samples()),
            Err(e) => {
                assert_eq!(e.line, line, "{text:?}: {e}");
                assert!(e.message.contains(needle), "{text:?}: {e} lacks {needle:?}");
                e
            }
        }
    }

    fn one(text: &str) -> Sample {
        let page = ok(text);
        assert_eq!(page.samples().len(), 1, "{text:?}");
        page.samples()[0].clone()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_and_blank_input() {
        assert!(ok("").samples().is_empty());
        assert!(ok("\n\n \t \n\t\n").samples().is_empty());
        assert!(ok("# just a comment\n#\n").samples().is_empty());
    }

    #[test]
    fn basic_sample_with_and_without_final_newline() {
        for text in ["up 1\n", "up 1", "  up\t \t1  \t\n"] {
            let s = one(text);
            assert_eq!(s.name, "up");
            assert!(s.labels.is_empty());
            assert_eq!(s.value, 1.0);
            assert_eq!(s.timestamp_ms, None);
        }
    }

    #[test]
    fn colons_and_underscores_in_names() {
        let s = one("job:http_requests:rate5m{__meta_x=\"1\",_a=\"2\"} 3\n");
        assert_eq!(s.name, "job:http_requests:rate5m");
        assert_eq!(s.labels, pairs(&[("__meta_x", "1"), ("_a", "2")]));
        assert_eq!(one(":x 1").name, ":x");
        assert_eq!(one("_9 1").name, "_9");
    }

    #[test]
    fn labels_and_timestamp() {
        let s = one("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n");
        assert_eq!(s.labels, pairs(&[("method", "post"), ("code", "200")]));
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp_ms, Some(1_395_066_363_000));
        assert_eq!(one("a 1 -5").timestamp_ms, Some(-5));
        assert_eq!(one("a 1 0 \t").timestamp_ms, Some(0));
    }

    #[test]
    fn blanks_between_any_tokens() {
        let s = one("a { x = \"1\" ,\ty=\"2\" , } 4\n");
        assert_eq!(s.labels, pairs(&[("x", "1"), ("y", "2")]));
        // '}' and the value do not merge, so no blank is needed there.
        assert_eq!(one("a{x=\"1\"}4").value, 4.0);
        assert_eq!(one("a{}5").value, 5.0);
    }

    #[test]
    fn bare_name_needs_a_blank_before_the_value() {
        bad(
            "foo-1\n",
            1,
            "expected a space or '{' after the metric name",
        );
        bad("foo.bar 1\n", 1, "found \".bar 1\"");
        bad("foo\n", 1, "expected a value for foo, found end of line");
        bad("foo{a=\"b\"}\n", 1, "expected a value");
    }

    #[test]
    fn label_value_escapes() {
        let s = one(r#"a{p="C:\\dir",q="say \"hi\"",n="l1\nl2"} 1"#);
        assert_eq!(
            s.labels,
            pairs(&[("p", "C:\\dir"), ("q", "say \"hi\""), ("n", "l1\nl2")])
        );
        let e = bad(
            "a{p=\"x\\ty\"} 1\n",
            1,
            "invalid escape \"\\\\t\" in label value",
        );
        assert_eq!(e.column, 7);
        bad("a{p=\"\\ü\"} 1", 1, "invalid escape");
        bad("a{p=\"abc\\", 1, "the line ends in a backslash");
        bad("a{p=\"abc} 1\n", 1, "unterminated label value");
        // A UTF-8 value needs no escaping.
        assert_eq!(one("a{p=\"日本\"} 1").labels, pairs(&[("p", "日本")]));
    }

    #[test]
    fn braces_trailing_comma_and_empty() {
        assert_eq!(one("a{x=\"1\",} 1").labels, pairs(&[("x", "1")]));
        assert!(one("a{} 1").labels.is_empty());
        bad("a{,} 1", 1, "expected a label name or '}'");
        bad("a{x=\"1\",,} 1", 1, "expected a label name or '}'");
        bad("a{x=\"1\" y=\"2\"} 1", 1, "expected ',' or '}'");
        bad("a{x=\"1\"", 1, "unclosed '{'");
        bad("a{x} 1", 1, "expected '=' after label name x");
        bad("a{x=1} 1", 1, "expected a quoted value for label x");
        bad("a{9x=\"1\"} 1", 1, "expected a label name");
        bad(
            "a{x:y=\"1\"} 1",
            1,
            "expected '=' after label name x, found \":y",
        );
    }

    #[test]
    fn label_names_unique_and_name_label_refused() {
        bad("a{x=\"1\",x=\"2\"} 1", 1, "duplicate label \"x\"");
        bad("a{x=\"1\",\"x\"=\"2\"} 1", 1, "duplicate label \"x\"");
        bad("a{__name__=\"b\"} 1", 1, "__name__");
        assert_eq!(one("a{__x=\"1\"} 1").labels, pairs(&[("__x", "1")]));
    }

    #[test]
    fn quoted_metric_and_label_names() {
        let s = one("{\"my.metric\", \"my.label\"=\"v\", plain=\"w\"} 1\n");
        assert_eq!(s.name, "my.metric");
        assert_eq!(s.labels, pairs(&[("my.label", "v"), ("plain", "w")]));
        assert_eq!(one("{\"only.name\"} 2").name, "only.name");
        assert_eq!(one("{\"trail\",} 2").name, "trail");
        assert_eq!(one(r#"{"q\"uo\\te\n"} 2"#).name, "q\"uo\\te\n");
        assert_eq!(one("{\"legacy\"} 1").name, "legacy");
        assert_eq!(one("a{\"ü.l\"=\"v\"} 1").labels, pairs(&[("ü.l", "v")]));
        bad("a{\"b\"} 1", 1, "metric name given twice");
        bad("{x=\"1\",\"late.name\"} 1", 1, "must come first");
        bad("\"my.metric\" 1", 1, "must be inside the braces");
        bad("{x=\"1\"} 1", 1, "sample has no metric name");
        bad("{} 1", 1, "sample has no metric name");
        bad("{\"\"} 1", 1, "empty metric name");
        bad("a{\"\"=\"v\"} 1", 1, "empty label name");
        bad("{\"a\" \"b\"} 1", 1, "expected '=' after label name \"a\"");
    }

    #[test]
    fn values_follow_go_parse_float() {
        let good = [
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1.5e+2", 150.0),
            ("007", 7.0),
            ("1e-400", 0.0),
            ("1.7976931348623157e308", f64::MAX),
            ("+Inf", f64::INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("infinity", f64::INFINITY),
            ("-INFINITY", f64::NEG_INFINITY),
        ];
        for (text, want) in good {
            assert_eq!(one(&format!("a {text}")).value, want, "{text}");
        }
        for text in ["NaN", "nan", "nAN"] {
            assert!(one(&format!("a {text}")).value.is_nan(), "{text}");
        }
        let refused = [
            ("0x1p3", "not a number"),
            ("0x10", "not a number"),
            ("1_000", "not a number"),
            ("+NaN", "NaN takes no sign"),
            ("-nan", "NaN takes no sign"),
            ("1e", "exponent has no digits"),
            ("1e+", "exponent has no digits"),
            ("e1", "not a number"),
            (".", "not a number"),
            ("-", "not a number"),
            ("1.2.3", "not a number"),
            ("infin", "not a number"),
            ("1e400", "out of range"),
            ("-1e400", "out of range"),
            ("1,5", "not a number"),
            ("abc", "not a number"),
        ];
        for (text, why) in refused {
            bad(&format!("a {text}\n"), 1, why);
        }
        let e = bad("a{x=\"1\"} 1.2.3\n", 1, "invalid value \"1.2.3\"");
        assert_eq!(e.column, 10);
    }

    #[test]
    fn timestamps() {
        assert_eq!(one("a 1 9223372036854775807").timestamp_ms, Some(i64::MAX));
        bad("a 1 9223372036854775808", 1, "out of range for int64");
        bad("a 1 1.5", 1, "invalid timestamp \"1.5\"");
        bad("a 1 +5", 1, "invalid timestamp");
        bad("a 1 -", 1, "invalid timestamp");
        bad(
            "a 1 2 3",
            1,
            "expected the end of the line after the timestamp, found \"3\"",
        );
        bad("a 1 2 # {x=\"y\"} 1", 1, "after the timestamp");
        bad("a 1 # {x=\"y\"} 1", 1, "invalid timestamp \"#\"");
    }

    #[test]
    fn help_lines() {
        let page = ok(concat!(
            "# HELP a First line\\nsecond \\\\ and \\t kept\n",
            "# HELP b\n",
            "#\tHELP\t\"c.d\"\t  spaced  \n",
            "# HELP e doc\\\n",
        ));
        assert_eq!(page.help("a"), Some("First line\nsecond \\ and \\t kept"));
        assert_eq!(page.help("b"), Some(""));
        assert_eq!(page.help("c.d"), Some("spaced  "));
        // A lone trailing backslash is kept, not an error.
        assert_eq!(page.help("e"), Some("doc\\"));
        assert_eq!(page.metric_type("a"), Some(MetricType::Untyped));
        assert_eq!(page.help("zzz"), None);
    }

    #[test]
    fn help_name_must_be_separated() {
        bad(
            "# HELP e\\ x\n",
            1,
            "expected a space after the metric name",
        );
        bad("# HELP 9x doc\n", 1, "expected a metric name after HELP");
        bad("# HELP \n", 1, "expected a metric name after HELP");
        bad("# HELP \"\" doc\n", 1, "empty metric name");
        bad("# HELP \"open doc\n", 1, "unterminated quoted metric name");
    }

    #[test]
    fn plain_comments_are_ignored() {
        let page = ok(concat!(
            "#HELP a not metadata\n",
            "# HELP\n",
            "# HELPER a x\n",
            "# TYPEFACE a x\n",
            "# TYPE\n",
            "# anything { \" \\q goes\n",
            "  # indented comment\n",
            "a 1\n",
        ));
        assert_eq!(page.help("a"), None);
        assert_eq!(page.metric_type("a"), Some(MetricType::Untyped));
    }

    #[test]
    fn type_lines() {
        let page = ok(concat!(
            "# TYPE c counter\n",
            "# TYPE g gauge\n",
            "# TYPE h histogram\n",
            "# TYPE s summary\n",
            "# TYPE u untyped \t\n",
            "# TYPE \"q.n\" gauge\n",
        ));
        assert_eq!(page.metric_type("c"), Some(MetricType::Counter));
        assert_eq!(page.metric_type("g"), Some(MetricType::Gauge));
        assert_eq!(page.metric_type("h"), Some(MetricType::Histogram));
        assert_eq!(page.metric_type("s"), Some(MetricType::Summary));
        assert_eq!(page.metric_type("u"), Some(MetricType::Untyped));
        assert_eq!(page.metric_type("q.n"), Some(MetricType::Gauge));
        assert_eq!(page.metric_type("nothing"), None);
        bad(
            "# TYPE a Counter\n",
            1,
            "expected counter, gauge, histogram, summary or untyped, found \"Counter\"",
        );
        bad("# TYPE a stateset\n", 1, "found \"stateset\"");
        bad("# TYPE a\n", 1, "expected a metric type after TYPE a");
        bad("# TYPE a \n", 1, "expected a metric type");
        bad(
            "# TYPE a gauge extra\n",
            1,
            "expected the end of the TYPE line, found \"extra\"",
        );
        bad("# TYPE a gauge\r\n", 1, "\\r\\n");
    }

    #[test]
    fn metadata_only_once() {
        bad(
            "# HELP a x\n\n# HELP a y\n",
            3,
            "second HELP line for \"a\" (the first is on line 1)",
        );
        bad(
            "# TYPE a gauge\n# TYPE a gauge\n",
            2,
            "second TYPE line for \"a\" (the first is on line 1)",
        );
        bad("# TYPE a gauge\n# TYPE \"a\" counter\n", 2, "second TYPE");
        // HELP after samples is allowed; TYPE is not.
        ok("a 1\n# HELP a late help\n");
    }

    #[test]
    fn type_must_precede_its_family() {
        bad("a 1\n# TYPE a gauge\n", 2, "\"a\" first appears on line 1");
        bad(
            "h_bucket{le=\"1\"} 1\n# TYPE h histogram\n",
            2,
            "\"h_bucket\" first appears on line 1",
        );
        bad(
            "x 0\nh_count 1\n# TYPE h histogram\n",
            3,
            "\"h_count\" first appears on line 2",
        );
        bad("s_sum 1\n# TYPE s summary\n", 2, "\"s_sum\"");
        // A gauge has no members: an earlier `g_sum` is its own family.
        let page = ok("g_sum 1\n# TYPE g gauge\ng 2\n");
        assert_eq!(page.metric_type("g_sum"), Some(MetricType::Untyped));
        // And a summary has no buckets.
        ok("s_bucket 1\n# TYPE s summary\n");
    }

    #[test]
    fn histogram_and_summary_members_share_the_type() {
        let page = ok(concat!(
            "# TYPE h histogram\n",
            "h_bucket{le=\"0.5\"} 1\n",
            "h_bucket{le=\"+Inf\"} 2\n",
            "h_sum 0.7\n",
            "h_count 2\n",
            "# TYPE s summary\n",
            "s{quantile=\"0.5\"} 0.1\n",
            "s_sum 3\n",
            "s_count 4\n",
            "s_bucket 5\n",
        ));
        for name in ["h", "h_bucket", "h_sum", "h_count"] {
            assert_eq!(
                page.metric_type(name),
                Some(MetricType::Histogram),
                "{name}"
            );
        }
        for name in ["s", "s_sum", "s_count"] {
            assert_eq!(page.metric_type(name), Some(MetricType::Summary), "{name}");
        }
        assert_eq!(page.metric_type("s_bucket"), Some(MetricType::Untyped));
        assert_eq!(page.metric_type("h_total"), None);
        assert_eq!(page.samples().len(), 8);
    }

    #[test]
    fn duplicate_series() {
        bad("a 1\na 2\n", 2, "duplicate series a (first on line 1)");
        bad(
            "a{x=\"1\",y=\"2\"} 1\nb 0\na{y=\"2\",x=\"1\"} 2\n",
            3,
            "first on line 1",
        );
        bad(
            "a{x=\"1\"} 1\n{\"a\",\"x\"=\"1\"} 2\n",
            2,
            "duplicate series",
        );
        // Empty is absent, as in Prometheus.
        bad("a 1\na{x=\"\"} 2\n", 2, "duplicate series");
        let page = ok("a 1\na{x=\"1\"} 2\nb 3\na{x=\"2\"} 4\na{x=\"1\",y=\"1\"} 5\n");
        assert_eq!(page.samples().len(), 5);
        // Same labels under different names are different series.
        ok("a{x=\"1\"} 1\nb{x=\"1\"} 1\n");
    }

    #[test]
    fn hash_collisions_are_told_apart() {
        let sample = |name: &str, value| Sample {
            name: name.into(),
            labels: vec![],
            value,
            timestamp_ms: None,
        };
        let mut p = Parser::sized_for("");
        p.add(sample("a", 1.0), &Cursor::new("", 1)).unwrap();
        // Make "b" look, by hash, like the series "a".
        let b_key = p.series_key(&sample("b", 0.0));
        p.series.insert(b_key, 0);
        p.add(sample("b", 2.0), &Cursor::new("", 2)).unwrap();
        assert_eq!(p.collisions, vec![(b_key, 1)]);
        let e = p.add(sample("b", 3.0), &Cursor::new("", 3)).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("duplicate series b (first on line 2)"),
            "{e}"
        );
        let e = p.add(sample("a", 4.0), &Cursor::new("", 4)).unwrap_err();
        assert!(
            e.message.contains("duplicate series a (first on line 1)"),
            "{e}"
        );
    }

    #[test]
    fn carriage_returns() {
        let e = bad("a 1\r\nb 2\r\n", 1, "line ends in \\r\\n");
        assert_eq!(e.column, 4);
        bad("a 1\n\r\n", 2, "\\r\\n");
        bad("# comment\r\n", 1, "\\r\\n");
        bad("# a\rb\n", 1, "carriage return in a comment");
        bad("# HELP a x\ry\n", 1, "carriage return in a HELP docstring");
        bad("a 1\r2\n", 1, "invalid value \"1\\r2\"");
        bad("a\r 1\n", 1, "expected a space or '{'");
        // Inside a quoted string any character but `\`, `"` and newline goes.
        assert_eq!(one("a{x=\"1\r2\"} 1").labels, pairs(&[("x", "1\r2")]));
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = parse(b"a 1\nb{x=\"\xff\"} 1\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 6));
        assert!(e.message.contains("invalid UTF-8 (byte 0xff)"), "{e}");
        let e = parse("a 1\nü \u{e9}".as_bytes().split_last().unwrap().1).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("ends inside a UTF-8 sequence"), "{e}");
    }

    #[test]
    fn errors_display_line_and_quote_truncated_input() {
        let e = bad("ok 1\n\n  a{x=\"1\"}} 1\n", 3, "invalid value");
        assert_eq!(e.column, 11);
        assert_eq!(e.to_string(), format!("line 3: {}", e.message));
        let long = format!("a {} 1\n", "z".repeat(100));
        let e = bad(&long, 1, "invalid value");
        assert!(
            e.message.contains(&format!("\"{}\"…", "z".repeat(24))),
            "{e}"
        );
        assert!(e.message.len() < 80, "{e}");
        let e = bad(
            "?a 1\n",
            1,
            "expected a metric name, '{' or '#', found \"?a 1\"",
        );
        assert_eq!(e.column, 1);
    }

    #[test]
    fn lookup_found_missing_ambiguous() {
        let page = ok(concat!(
            "req{code=\"200\",path=\"/\"} 5\n",
            "req{code=\"500\",path=\"/\"} 0\n",
            "req{code=\"200\",path=\"/x\"} 7\n",
            "lag 0\n",
            "nan NaN\n",
        ));
        let m = |list: &[(&str, &str)]| pairs(list);
        assert_eq!(
            page.lookup("req", &m(&[("code", "500")])),
            Lookup::Found(0.0)
        );
        assert_eq!(
            page.lookup("req", &m(&[("code", "200"), ("path", "/x")])),
            Lookup::Found(7.0)
        );
        assert_eq!(
            page.lookup("req", &m(&[("code", "200")])),
            Lookup::Ambiguous(2)
        );
        assert_eq!(page.lookup("req", &[]), Lookup::Ambiguous(3));
        assert_eq!(page.lookup("req", &m(&[("code", "404")])), Lookup::Missing);
        assert_eq!(
            page.lookup("req", &m(&[("method", "get")])),
            Lookup::Missing
        );
        assert_eq!(page.lookup("lag", &[]), Lookup::Found(0.0));
        assert_eq!(page.lookup("lags", &[]), Lookup::Missing);
        assert_eq!(page.lookup("la", &[]), Lookup::Missing);
        assert!(matches!(page.lookup("nan", &[]), Lookup::Found(v) if v.is_nan()));
        // An empty matcher value means "label absent", as in PromQL.
        assert_eq!(page.lookup("lag", &m(&[("x", "")])), Lookup::Found(0.0));
        assert_eq!(page.lookup("req", &m(&[("code", "")])), Lookup::Missing);
    }

    #[test]
    fn selectors() {
        assert_eq!(parse_selector("up").unwrap(), ("up".into(), vec![]));
        assert_eq!(
            parse_selector(" job:rate5m { a = \"b\" , c=\"d\\\"\" , } ").unwrap(),
            ("job:rate5m".into(), pairs(&[("a", "b"), ("c", "d\"")]))
        );
        assert_eq!(
            parse_selector("{\"utf8.name\",a=\"b\"}").unwrap(),
            ("utf8.name".into(), pairs(&[("a", "b")]))
        );
        assert_eq!(
            parse_selector("m{\"my.label\"=\"v\"}").unwrap(),
            ("m".into(), pairs(&[("my.label", "v")]))
        );
        assert_eq!(parse_selector("m{}").unwrap(), ("m".into(), vec![]));
        assert_eq!(
            parse_selector("m{a=\"\r\"}").unwrap(),
            ("m".into(), pairs(&[("a", "\r")]))
        );
        let refused = [
            ("", "empty selector"),
            ("   ", "empty selector"),
            ("{a=\"b\"}", "no metric name"),
            ("\"q.n\"", "must be inside the braces"),
            ("m{a=\"b\"", "unclosed"),
            (
                "m{a=~\"b\"}",
                "expected a quoted value for label a, found \"~\\\"b\\\"}\"",
            ),
            ("m{a!=\"b\"}", "expected '=' after label name a"),
            ("m{a=\"b\",a=\"c\"}", "duplicate label"),
            ("m x", "expected the end of the selector, found \"x\""),
            ("m{} 1", "expected the end of the selector"),
            ("m\n", "single line"),
            ("m\r", "expected the end of the selector, found \"\\r\""),
            ("m{a=\"\\t\"}", "invalid escape"),
            ("m.x", "expected the end of the selector"),
            ("9m", "expected a metric name"),
        ];
        for (text, needle) in refused {
            match parse_selector(text) {
                Ok(got) => panic!("{text:?} should fail, got {got:?}"),
                Err(e) => {
                    assert_eq!(e.line, 1);
                    assert!(e.message.contains(needle), "{text:?}: {e} lacks {needle:?}");
                }
            }
        }
        assert_eq!(parse_selector("m{a=\"b\" x}").unwrap_err().column, 9);
    }

    #[test]
    fn selector_and_page_lex_alike() {
        let line = "{\"a.b\",\"c d\"=\"e\\n\",f=\"\\\\\"}";
        let s = one(&format!("{line} 1"));
        assert_eq!(parse_selector(line).unwrap(), (s.name, s.labels));
    }
}

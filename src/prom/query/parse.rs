//! The text of a query to a [`Query`], by recursive descent over one line.
//! Selectors go through the exposition parser's own cursor and label lexer,
//! so a check names series exactly as a page writes them.

use super::super::ParseError;
use super::super::cursor::{Cursor, is_name_char, is_name_start, quoted_name_outside};
use super::super::tokens::{parse_labels, parse_value};
use super::{MAX_WINDOW_MS, Operand, Query, QueryError, Selector, Window};

/// How many characters of the offending text an error quotes.
const FOUND_CHARS: usize = 24;

pub(super) fn query(text: &str) -> Result<Query, QueryError> {
    let mut p = Parser {
        text,
        c: Cursor::new(text, 1),
    };
    if let Some(at) = text.find('\n') {
        return Err(p.invalid(at, "a query must be a single line".into()));
    }
    p.c.skip_blanks();
    let first = p.operand()?;
    p.c.skip_blanks();
    if p.c.peek() != Some(b'/') {
        p.end("'/' or the end of the query")?;
        return Ok(Query::Single(first));
    }
    p.c.pos += 1;
    p.c.skip_blanks();
    let second = p.operand()?;
    p.c.skip_blanks();
    // A ratio has two operands: `a / b / c` would need precedence rules that
    // a health check has no use for.
    p.end("the end of the query (a ratio takes two operands)")?;
    Ok(Query::Ratio(first, second))
}

struct Parser<'a> {
    text: &'a str,
    c: Cursor<'a>,
}

impl Parser<'_> {
    fn operand(&mut self) -> Result<Operand, QueryError> {
        let start = self.c.pos;
        match self.c.peek() {
            Some(b) if is_name_start(b) => {
                let word = self.c.take_while(is_name_char);
                self.c.skip_blanks();
                if self.c.peek() != Some(b'(') {
                    // A metric that happens to be called `rate` is a selector.
                    self.c.pos = start;
                    return Ok(Operand::Latest(self.selector()?));
                }
                self.c.pos += 1;
                match word {
                    "rate" => {
                        let (s, w) = self.range("rate()")?;
                        Ok(Operand::Rate(s, w))
                    }
                    "increase" => {
                        let (s, w) = self.range("increase()")?;
                        Ok(Operand::Increase(s, w))
                    }
                    "histogram_quantile" => self.quantile(),
                    _ => Err(self
                        .unexpected_at(start, "a function (rate, increase or histogram_quantile)")),
                }
            }
            Some(b'{' | b'"') => Ok(Operand::Latest(self.selector()?)),
            _ => {
                Err(self
                    .unexpected("a metric name or a function (rate, increase, histogram_quantile)"))
            }
        }
    }

    /// After `rate(` or `increase(`: `selector[window])`.
    fn range(&mut self, function: &str) -> Result<(Selector, Window), QueryError> {
        self.c.skip_blanks();
        let selector = self.selector()?;
        self.c.skip_blanks();
        self.punct(b'[', &format!("'[' after the selector in {function}"))?;
        let window = self.window()?;
        self.punct(b']', "']' after the window")?;
        self.c.skip_blanks();
        self.punct(b')', &format!("')' to close {function}"))?;
        Ok((selector, window))
    }

    /// After `histogram_quantile(`: `q, buckets)` or `q, rate(buckets[w]))`.
    fn quantile(&mut self) -> Result<Operand, QueryError> {
        self.c.skip_blanks();
        let at = self.c.pos;
        let token = self
            .c
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
        if token.is_empty() {
            return Err(self.unexpected("a quantile between 0 and 1"));
        }
        let q = parse_value(token)
            .map_err(|why| self.invalid(at, format!("quantile {}: {why}", shown(token))))?;
        if !(0.0..=1.0).contains(&q) {
            return Err(self.invalid(at, format!("quantile {token} is outside [0, 1]")));
        }
        self.c.skip_blanks();
        self.punct(b',', "',' after the quantile")?;
        self.c.skip_blanks();
        let inner = self.c.pos;
        let word = self.c.take_while(is_name_char);
        self.c.skip_blanks();
        let (buckets, window) = match (word, self.c.peek()) {
            ("rate", Some(b'(')) => {
                self.c.pos += 1;
                let (s, w) = self.range("rate()")?;
                (s, Some(w))
            }
            (_, Some(b'(')) => {
                return Err(self
                    .unexpected_at(inner, "a name_bucket selector or rate(name_bucket[window])"));
            }
            _ => {
                self.c.pos = inner;
                (self.selector()?, None)
            }
        };
        if !buckets.name.ends_with("_bucket") {
            return Err(self.invalid(
                inner,
                format!(
                    "histogram_quantile reads a histogram's _bucket series, and {} is not one",
                    shown(&buckets.name)
                ),
            ));
        }
        if buckets.labels.iter().any(|(k, _)| k == "le") {
            return Err(self.invalid(
                inner,
                "histogram_quantile reads every bucket: its selector may not match on le".into(),
            ));
        }
        self.c.skip_blanks();
        self.punct(b')', "')' to close histogram_quantile()")?;
        Ok(Operand::Quantile { q, buckets, window })
    }

    /// `name`, `name{a="b",…}` or `{"utf8.name",a="b"}`: the head of
    /// `prom::parse_selector`, then its label lexer.
    fn selector(&mut self) -> Result<Selector, QueryError> {
        let start = self.c.pos;
        let mut name = None;
        match self.c.peek() {
            Some(b) if is_name_start(b) => name = Some(self.c.take_while(is_name_char).to_owned()),
            Some(b'{') => {}
            Some(b'"') => return Err(from_prom(quoted_name_outside(&self.c))),
            _ => return Err(self.unexpected("a metric name or '{'")),
        }
        self.c.skip_blanks();
        let mut labels = Vec::new();
        if self.c.peek() == Some(b'{') {
            parse_labels(&mut self.c, &mut name, &mut labels).map_err(from_prom)?;
        }
        let name =
            name.ok_or_else(|| self.invalid(start, "the selector has no metric name".into()))?;
        Ok(Selector { name, labels })
    }

    /// An integer and a unit: `500ms`, `30s`, `1m`, `1h`.
    fn window(&mut self) -> Result<Window, QueryError> {
        self.c.skip_blanks();
        let at = self.c.pos;
        let digits = self.c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(self.unexpected("a window such as 30s or 5m"));
        }
        let unit_at = self.c.pos;
        let unit = self.c.take_while(|b| b.is_ascii_alphabetic());
        let scale: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => {
                self.c.pos = unit_at;
                return Err(self.unexpected("a window unit (ms, s, m or h)"));
            }
        };
        let ms = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale));
        let window = ms.and_then(Window::from_ms);
        self.c.skip_blanks();
        window.ok_or_else(|| match ms {
            Some(0) => self.invalid(
                at,
                format!("window {digits}{unit} is empty: it must be longer than 0"),
            ),
            _ => self.invalid(
                at,
                format!(
                    "window {digits}{unit} is longer than the longest allowed, {}",
                    Window(MAX_WINDOW_MS)
                ),
            ),
        })
    }

    fn punct(&mut self, want: u8, expected: &str) -> Result<(), QueryError> {
        if self.c.peek() != Some(want) {
            return Err(self.unexpected(expected));
        }
        self.c.pos += 1;
        Ok(())
    }

    fn end(&self, expected: &str) -> Result<(), QueryError> {
        match self.c.at_end() {
            true => Ok(()),
            false => Err(self.unexpected(expected)),
        }
    }

    fn unexpected(&self, expected: &str) -> QueryError {
        self.unexpected_at(self.c.pos, expected)
    }

    fn unexpected_at(&self, at: usize, expected: &str) -> QueryError {
        QueryError::Unexpected {
            column: column(self.text, at),
            expected: expected.to_owned(),
            found: found(self.text, at),
        }
    }

    fn invalid(&self, at: usize, message: String) -> QueryError {
        QueryError::Invalid {
            column: column(self.text, at),
            message,
        }
    }
}

/// The exposition lexer's error, already worded and placed by character
/// column on the query's one line.
fn from_prom(e: ParseError) -> QueryError {
    QueryError::Invalid {
        column: e.column,
        message: e.message,
    }
}

/// 1-based character column of byte offset `at`.
fn column(text: &str, at: usize) -> usize {
    // Offsets come from the cursor, which stops only on ASCII bytes or the
    // end, so the slice is on a char boundary; `get` keeps that a non-panic.
    1 + text.get(..at).map_or(at, |s| s.chars().count())
}

/// The token at `at`, quoted, for "found …": a whole word or number, or one
/// character, or "end of input".
fn found(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return "end of input".to_owned();
    };
    let len = if first.is_ascii() && is_name_char(first as u8) {
        rest.bytes().take_while(|&b| is_name_char(b)).count()
    } else {
        first.len_utf8()
    };
    shown(&rest[..len])
}

/// `text` in single quotes, control characters escaped, cut after
/// [`FOUND_CHARS`] characters.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(FOUND_CHARS).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    let escaped = crate::text::inert(&cut.escape_debug().to_string());
    format!("'{escaped}{more}'")
}

//! The tokens after a metric name: the `{...}` label set, the value (as
//! Go's ParseFloat reads it) and the timestamp; and a selector, lexed as a
//! sample line is.

use super::ParseError;
use super::cursor::{
    Cursor, is_label_char, is_label_start, is_name_char, is_name_start, quoted_name_outside,
    unclosed,
};

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

/// Reads `{...}` at the cursor into `labels`; a first bare quoted string is
/// the metric name and goes into `name`.
pub(super) fn parse_labels(
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

/// Go's `strconv.ParseFloat` grammar as Prometheus uses it, minus hex and
/// `_` (Prometheus refuses those too). Returns the reason on failure.
pub(super) fn parse_value(token: &str) -> Result<f64, &'static str> {
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

pub(super) fn parse_timestamp(token: &str) -> Result<i64, &'static str> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an integer number of milliseconds");
    }
    token.parse().map_err(|_| "out of range for int64")
}

//! Reading a page line by line: comments, HELP and TYPE lines, samples,
//! and the rules across lines (metadata once and before its family, no
//! duplicate series).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use super::cursor::{Cursor, is_blank, is_name_char, is_name_start, quote, quoted_name_outside};
use super::hash::FastState;
use super::tokens::{parse_labels, parse_timestamp, parse_value};
use super::{Exposition, MetricType, NameInfo, ParseError, Sample};

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

pub(super) struct Parser {
    pub(super) page: Exposition,
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
    pub(super) fn sized_for(text: &str) -> Parser {
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

    pub(super) fn line(&mut self, line_no: usize, line: &str) -> Result<(), ParseError> {
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
}

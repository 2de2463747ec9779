//! A position in one line and the errors worded at it: character classes,
//! quoted strings and their escapes, line and column, the quoted excerpt.

use super::ParseError;

pub(super) fn utf8_error(input: &[u8], e: std::str::Utf8Error) -> ParseError {
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

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(super) fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

pub(super) fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

pub(super) fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_label_char(b: u8) -> bool {
    is_label_start(b) || b.is_ascii_digit()
}

/// How much of the offending text an error quotes.
const QUOTE_CHARS: usize = 24;

/// `text` in double quotes, escaped, cut after [`QUOTE_CHARS`] characters.
pub(super) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A position in one line. Every index it slices at sits on an ASCII byte
/// or the line's end, so `&str` slicing stays on char boundaries.
pub(super) struct Cursor<'a> {
    s: &'a str,
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
    pub(super) line: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str, line: usize) -> Self {
        Cursor {
            s,
            b: s.as_bytes(),
            pos: 0,
            line,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    pub(super) fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Skips spaces and tabs; says whether there were any.
    pub(super) fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        self.pos > start
    }

    pub(super) fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
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

    pub(super) fn err_at(&self, pos: usize, message: String) -> ParseError {
        ParseError {
            line: self.line,
            column: char_column(&self.b[..pos.min(self.b.len())]),
            message,
        }
    }

    pub(super) fn err(&self, message: String) -> ParseError {
        self.err_at(self.pos, message)
    }

    pub(super) fn expected(&self, what: &str) -> ParseError {
        // `what` may name a quoted (so any-character) metric or label
        // name; the found text is quoted with escapes already.
        let what = crate::text::inert(what);
        self.err(format!("expected {what}, found {}", self.found()))
    }

    /// Reads a double-quoted string at the cursor, decoding `\\`, `\"` and
    /// `\n`. Borrow-free fast path when there is no escape.
    pub(super) fn quoted(&mut self, what: &str) -> Result<String, ParseError> {
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

pub(super) fn quoted_name_outside(c: &Cursor<'_>) -> ParseError {
    c.err(format!(
        "a quoted metric name must be inside the braces, as {{\"name\", ...}}; found {}",
        c.found()
    ))
}

pub(super) fn unclosed(c: &Cursor<'_>, open: usize) -> ParseError {
    c.err_at(
        open,
        "unclosed '{': no '}' before the end of the line".into(),
    )
}

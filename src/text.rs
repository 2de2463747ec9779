//! Text helpers: making host-supplied text safe to print, and pointing a
//! config error at its line.
//!
//! Any string that came from a host (a release reason, a log line, an
//! operator name) may carry terminal escapes; printed raw, it could rewrite
//! the operator's screen. Everything a client prints goes through [`inert`].

/// Replaces control characters (C0, DEL, C1) with U+FFFD, keeping tabs as a
/// space, so escape sequences arrive as visible, harmless text.
pub fn inert(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// The 1-based line of a byte offset into `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    // Counting bytes rather than slicing the str keeps this total even for
    // an offset inside a character.
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML error as (line, one-line message): toml's own rendering spans
/// several lines with a source excerpt. Line 1 is only a fallback should
/// toml give no span.
pub fn toml_error(text: &str, error: &toml::de::Error) -> (usize, String) {
    let line = error.span().map_or(1, |span| line_at(text, span.start));
    (line, error.message().trim().replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible() {
        assert_eq!(inert("a\x1b[2Jb\u{9b}c\td"), "a\u{FFFD}[2Jb\u{FFFD}c d");
        assert_eq!(inert("plain ü"), "plain ü");
    }
}

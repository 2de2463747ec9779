//! Making host-supplied text safe to print.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible() {
        assert_eq!(inert("a\x1b[2Jb\u{9b}c\td"), "a\u{FFFD}[2Jb\u{FFFD}c d");
        assert_eq!(inert("plain ü"), "plain ü");
    }
}

//! Text helpers: making host-supplied text safe for each place it goes,
//! and pointing a config error at its line.
//!
//! Any string that came from a host (a release reason, a log line, an
//! operator name) may carry terminal escapes, bidi overrides or chat
//! markup. There is one sanitiser per surface, and every output goes
//! through the one for its surface:
//!
//! | surface | function |
//! |---|---|
//! | a terminal (ctl, watch, the control room, error messages) | [`inert`] |
//! | JSON text (ctl `--json`, the HTTP API, wire lines) | [`json_inert`] |
//! | a Slack webhook (mrkdwn) | [`slack`] |
//! | a Discord webhook (markdown) | [`discord`] |
//!
//! An SSH certificate's key id is narrower still: it becomes one word of
//! `seen_as`, which the agent reads back, so [`key_id`] keeps it to a
//! charset that cannot split, end or pose as another part.

/// Characters that print nothing yet reorder or join what is around them:
/// bidi embeddings, overrides, isolates and marks, and zero-width
/// characters. On a terminal they make a row look shorter or reversed, so
/// the control room's borders shift and one host's text can pose as
/// another's.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Replaces control characters (C0, DEL, C1) and invisible format
/// characters (bidi controls, zero-width) with U+FFFD, keeping tabs as a
/// space, so escape sequences arrive as visible, harmless text.
pub fn inert(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() || is_invisible_format(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Serialized JSON with DEL, the C1 controls (U+007F–U+009F) and the
/// invisible format characters ([`is_invisible_format`]) written as
/// `\uXXXX`. serde_json escapes only C0, so a C1 CSI (U+009B) or a bidi
/// override would reach whoever prints the JSON raw. Outside strings JSON
/// text is ASCII punctuation, digits and whitespace, so every such
/// character found is inside a string, where the escape means the same
/// character (each is in the Basic Multilingual Plane: one escape).
pub fn json_inert(json: &str) -> String {
    let escaped = |c: char| matches!(c, '\u{7F}'..='\u{9F}') || is_invisible_format(c);
    if !json.chars().any(escaped) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for Slack's mrkdwn: control and invisible characters dropped, and
/// the three characters Slack reads as markup escaped, so `<!channel>` or
/// `<http://x|click>` arrive as text.
pub fn slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Text for Discord's markdown: control and invisible characters dropped,
/// every markup character backslash-escaped (so `[x](http://y)` is not a
/// masked link and `**` is not bold), and `@everyone` / `@here` defused
/// with a zero-width space after the `@` (the payload also disables
/// mentions; this keeps the text from reading as one).
pub fn discord(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' | '(' | ')' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out.replace("@everyone", "@\u{200B}everyone")
        .replace("@here", "@\u{200B}here")
}

/// The longest key id [`key_id`] keeps, in characters.
pub const KEY_ID_MAX: usize = 64;

/// Whether `c` may stand in a key id as [`key_id`] writes it.
pub fn is_key_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-' | '+')
}

/// An SSH certificate's key id as one safe word: the CA chose it, but it is
/// still bytes from outside, so anything but ASCII letters, digits and
/// `._@-+` becomes `_` (no space or comma to split `seen_as`, no escape for
/// a terminal, no look-alike letters), cut at [`KEY_ID_MAX`] characters.
/// An empty id becomes `""`, which no id can spell, so it names no one.
pub fn key_id(raw: &str) -> String {
    if raw.is_empty() {
        return "\"\"".to_string();
    }
    raw.chars()
        .take(KEY_ID_MAX)
        .map(|c| if is_key_id_char(c) { c } else { '_' })
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
    fn key_ids_are_one_safe_word() {
        assert_eq!(key_id("alice@desk"), "alice@desk");
        assert_eq!(key_id("a.b_c-d+e@F9"), "a.b_c-d+e@F9");
        assert_eq!(
            key_id("eve, key SHA256:x\x1b[2J\u{202E}аdmin"),
            "eve__key_SHA256_x__2J__dmin"
        );
        assert_eq!(key_id(""), "\"\"");
        let long = key_id(&"x".repeat(500));
        assert_eq!(long.len(), KEY_ID_MAX);
        assert!(key_id(&"é".repeat(100)).chars().all(is_key_id_char));
    }

    #[test]
    fn escapes_become_visible() {
        assert_eq!(inert("a\x1b[2Jb\u{9b}c\td"), "a\u{FFFD}[2Jb\u{FFFD}c d");
        assert_eq!(inert("plain ü"), "plain ü");
    }

    const HOSTILE: &str = "a\x1b[2J\x07b\u{9b}31m\u{202E}evil\u{200B}\u{FEFF}\u{2066}[link](http://x) <!channel> @everyone @here *b* \x7f";

    #[test]
    fn inert_also_hides_bidi_and_zero_width() {
        let out = inert(HOSTILE);
        assert!(
            !out.chars()
                .any(|c| c.is_control() || is_invisible_format(c)),
            "{out:?}"
        );
        for c in [
            '\u{202A}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200D}', '\u{2060}',
        ] {
            assert_eq!(inert(&format!("x{c}y")), "x\u{FFFD}y", "{:04x}", c as u32);
        }
        // Ordinary non-ASCII text is left alone.
        assert_eq!(inert("Zürich · 東京 → ok"), "Zürich · 東京 → ok");
    }

    #[test]
    fn json_inert_escapes_c1_and_del_only() {
        let raw =
            serde_json::to_string(&serde_json::json!({ "r": HOSTILE, "k\u{85}": 1 })).unwrap();
        assert!(raw.contains('\u{9b}'), "serde_json writes C1 raw: {raw:?}");
        let out = json_inert(&raw);
        assert!(
            !out.chars().any(|c| matches!(c, '\u{7f}'..='\u{9f}')),
            "{out:?}"
        );
        assert!(
            out.contains("\\u009b31m") && out.contains("\\u007f") && out.contains("k\\u0085"),
            "{out}"
        );
        // The same document: only the spelling of those characters changed.
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["r"], HOSTILE);
        assert_eq!(back["k\u{85}"], 1);
        assert_eq!(json_inert("{\"a\":\"ü\"}"), "{\"a\":\"ü\"}");
    }

    #[test]
    fn slack_escapes_markup_and_drops_controls() {
        let out = slack(HOSTILE);
        assert!(
            !out.chars()
                .any(|c| c.is_control() || is_invisible_format(c)),
            "{out:?}"
        );
        assert!(out.contains("&lt;!channel&gt;"), "{out}");
        assert!(!out.contains('<') && !out.contains('>'), "{out}");
        assert_eq!(slack("a & b\nc"), "a &amp; b\nc");
    }

    #[test]
    fn discord_escapes_markup_links_and_mentions() {
        let out = discord(HOSTILE);
        assert!(
            !out.chars()
                .any(|c| c.is_control() || (is_invisible_format(c) && c != '\u{200B}')),
            "{out:?}"
        );
        assert!(out.contains("\\[link\\]\\(http://x\\)"), "{out}");
        assert!(out.contains("\\*b\\*"), "{out}");
        assert!(
            !out.contains("@everyone") && !out.contains("@here"),
            "{out}"
        );
        assert!(out.contains("@\u{200B}everyone"), "{out}");
        // The only zero-width characters left are the ones that defuse a mention.
        assert_eq!(out.matches('\u{200B}').count(), 2, "{out:?}");
        assert_eq!(discord("plain text 42."), "plain text 42.");
    }
}

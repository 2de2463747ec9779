//! The service's log as clients see it: the reply to `logs` and the `log`
//! messages a follow streams (docs/protocol.md, "Logs").
//!
//! Lines travel as the service wrote them (JSON escapes every control
//! byte); whoever prints one makes it inert first. The agent bounds what a
//! client can ask for: lines per answer, bytes per line, lines per batch.

use serde::{Deserialize, Serialize};

/// Lines a `logs` request gets when it does not say.
pub const DEFAULT_LINES: usize = 200;
/// The most lines one answer carries, whatever `n` asks.
pub const MAX_LINES: usize = 10_000;
/// A longer line is cut here (at a character boundary) and marked `…`.
pub const MAX_LINE_BYTES: usize = 4096;
/// The most bytes of lines one answer carries: the oldest go first, so
/// an answer always fits a client's line limit (`wire::MAX_AGENT_LINE`).
pub const MAX_TAIL_BYTES: usize = 4 << 20;
/// The most lines one `log` message carries; more wait for the next.
pub const MAX_BATCH: usize = 1000;
/// How often a follow looks for new lines.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The reply to `logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogTail {
    /// Where the lines come from: `service.log`, `journal of unit …`,
    /// `docker logs …`.
    pub source: String,
    /// The last lines, oldest first.
    pub lines: Vec<String>,
    /// New lines follow as `log` messages with this request's id.
    #[serde(default)]
    pub following: bool,
    /// The smoke deploy's startup phases and forbidden lines (regular
    /// expressions from the agent's `[smoke]`), so a viewer can mark them.
    #[serde(default)]
    pub phases: Vec<String>,
    #[serde(default)]
    pub forbidden: Vec<String>,
}

/// A line cut to [`MAX_LINE_BYTES`].
pub fn bounded_line(line: &str) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line.to_string();
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_on_a_character_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let cut = bounded_line(&line);
        assert!(cut.len() <= MAX_LINE_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded_line("short"), "short");
    }
}

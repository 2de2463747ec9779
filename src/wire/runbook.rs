//! A runbook as clients get it: the reply to `runbook` (docs/protocol.md).
//! A file's text travels as written, up to [`MAX_BYTES`]; whoever shows it
//! makes it inert. A URL is only named: the agent fetches nothing.

use serde::{Deserialize, Serialize};

/// The most of a runbook's file one answer carries.
pub const MAX_BYTES: usize = 256 << 10;

/// The reply to `runbook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookText {
    /// The check (or `not_flat`, `rollback_failed`) it is for.
    pub name: String,
    /// As the config names it.
    pub runbook: String,
    /// Set when the runbook is a URL: open it yourself.
    #[serde(default)]
    pub url: Option<String>,
    /// The file's text, when it is a file.
    #[serde(default)]
    pub text: Option<String>,
    /// The file was longer than [`MAX_BYTES`]; the rest is on the host.
    #[serde(default)]
    pub truncated: bool,
}

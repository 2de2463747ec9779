//! Exit statuses scripts can rely on (documented in docs/cli.md).
//!
//! Every role returns `anyhow::Result`; a failure that has a documented
//! status carries it as an [`Exit`] somewhere in its chain, and `main`
//! prints one line on stderr and exits with that status.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The command ran and what it checked or did failed (a drill that did not
    /// come back healthy, `audit verify` on a broken chain).
    Failed = 1,
    /// Bad command line (clap uses 2 as well).
    Usage = 2,
    /// Refused by policy: a deploy in flight, a stale approval, halted, frozen.
    Refused = 3,
    /// The input data is bad: a malformed release, a failed validate command.
    DataErr = 65,
    /// The agent cannot be reached (not running, socket missing).
    Unavailable = 69,
    /// The session's role may not do this.
    Forbidden = 77,
    /// The configuration is bad: unknown key, NaN limit, unknown stage.
    Config = 78,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// A failure with a documented exit status.
#[derive(Debug)]
pub struct Exit {
    pub code: Code,
    pub message: String,
}

impl Exit {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Shorthand: `Err(exit::fail(Code::Refused, "…"))?`.
pub fn fail(code: Code, message: impl Into<String>) -> anyhow::Error {
    Exit::new(code, message).into()
}

/// The status for an error chain: the first [`Exit`] found, else 1.
pub fn code_of(error: &anyhow::Error) -> i32 {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Exit>())
        .map_or(1, |exit| exit.code.as_i32())
}

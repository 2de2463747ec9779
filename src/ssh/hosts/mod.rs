//! The hosts file: which hosts an operator's gantry talks to, how to reach
//! each one over SSH (address, port, user, key, known_hosts, jump host,
//! remote command) and which rollout wave it belongs to.
//!
//! This module owns parsing and checking that file. It does no I/O beyond
//! reading the file and checking that each `identity` key file exists, so a
//! typo is reported with the file and line before any connection is tried.
//! Connecting, and resolving `~/.ssh/config` aliases, live elsewhere in
//! `ssh` (see `ssh_config`); the format is documented in `docs/hosts.md`.
//!
//! - `parse`: the TOML read with lines, each `[[host]]` checked, then the
//!   checks across hosts;
//! - `files`: the `identity` and `known_hosts` files, checked for shape;
//! - `jump`: jump hosts, as names of the file or addresses, and cycles.
//!
//! This file holds the checked file ([`HostsFile`]), its errors, and
//! [`load`] and [`parse`].

mod files;
mod jump;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use super::pattern::DEFAULT_PORT;
use parse::parse_with_home;

/// The remote command run on each host when a host gives none: it bridges
/// the SSH session to the agent's socket.
pub const DEFAULT_COMMAND: &str = "gantry attach";

/// A parsed, checked hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFile {
    /// The file as it was named to [`load`] or [`parse`].
    pub path: PathBuf,
    /// Rollout order from the top-level `waves` key; empty when absent.
    pub waves: Vec<String>,
    /// The hosts, in file order.
    pub hosts: Vec<HostEntry>,
}

/// One `[[host]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Unique in the file; what `--host` and the control room call it.
    pub name: String,
    /// DNS name or IP address handed to SSH.
    pub address: String,
    pub port: u16,
    /// `None` leaves the choice to `~/.ssh/config` and then the local user.
    pub user: Option<String>,
    /// Key file, `~` expanded and made relative to the hosts file; it
    /// existed when the file was loaded.
    pub identity: Option<PathBuf>,
    /// known_hosts file, resolved like `identity` but not required to
    /// exist; `None` means the user's `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    pub wave: Option<String>,
    pub jump: Option<Jump>,
    /// Remote command; [`DEFAULT_COMMAND`] when not given.
    pub command: String,
    /// 1-based line of the host's table (its `[[host]]` header), for
    /// messages that point the operator back at the file.
    pub line: usize,
}

/// How to reach a host through another one, like OpenSSH's `ProxyJump`
/// (one hop; a chain is written by giving the jump host its own `jump`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jump {
    /// Another host of the same file, by `name`.
    Host(String),
    /// An address outside the file: `[user@]host[:port]`.
    Address {
        user: Option<String>,
        host: String,
        port: u16,
    },
}

impl fmt::Display for Jump {
    /// The `ProxyJump` spelling, so a jump can be shown or handed to ssh.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jump::Host(name) => f.write_str(name),
            Jump::Address { user, host, port } => {
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if *port != DEFAULT_PORT {
                    write!(f, ":{port}")?;
                }
                Ok(())
            }
        }
    }
}

impl HostsFile {
    /// The host called `name`, if the file has one.
    pub fn get(&self, name: &str) -> Option<&HostEntry> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// The chain of hosts of this file to go through before `name`, nearest
    /// to the operator first (empty when it needs no jump or jumps through
    /// an address). Loading refused cycles and unknown names, so the walk
    /// ends.
    pub fn jump_chain(&self, name: &str) -> Vec<&HostEntry> {
        let mut chain = Vec::new();
        let mut current = self.get(name);
        while let Some(Jump::Host(next)) = current.and_then(|host| host.jump.as_ref()) {
            current = self.get(next);
            if let Some(host) = current {
                chain.push(host);
            }
        }
        chain.reverse();
        chain
    }
}

/// Why a hosts file was refused.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("{}: cannot read the hosts file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} line {line}: {problem}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        problem: Problem,
    },
}

impl HostsError {
    /// The 1-based line the error points at, if it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            HostsError::Read { .. } => None,
            HostsError::Invalid { line, .. } => Some(*line),
        }
    }

    /// What is wrong at that line, if the file could be read.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            HostsError::Read { .. } => None,
            HostsError::Invalid { problem, .. } => Some(problem),
        }
    }
}

/// What is wrong at a line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// TOML syntax, a wrong type, an unknown key or a duplicate key, in
    /// the toml crate's words.
    #[error("{0}")]
    Toml(String),
    #[error("this [[host]] has no `{0}`")]
    Missing(&'static str),
    #[error("host name \"{name}\" is used twice: at line {first_line} and here")]
    DuplicateName { name: String, first_line: usize },
    #[error("port {0} is out of range: use 1 to 65535")]
    PortRange(i64),
    #[error("`{key}` is empty")]
    Empty { key: String },
    #[error("`{key}` contains the control character {ch:?}")]
    ControlChar { key: String, ch: char },
    #[error("`{key}` = {value:?}: {reason}")]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("host \"{host}\": identity file {} {reason}", path.display())]
    Identity {
        host: String,
        path: PathBuf,
        reason: String,
    },
    #[error("host \"{host}\": known_hosts file {} {reason}", path.display())]
    KnownHosts {
        host: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "host \"{host}\" jumps through \"{jump}\", which is not a host in this file \
         (to jump through an address, write user@host, host:port or a dotted name)"
    )]
    UnknownJumpHost { host: String, jump: String },
    #[error("host \"{host}\": jump {jump:?}: {reason}")]
    BadJump {
        host: String,
        jump: String,
        reason: String,
    },
    #[error("jump cycle: {}", cycle.join(" -> "))]
    JumpCycle { cycle: Vec<String> },
    #[error("host \"{host}\" is in unknown wave \"{wave}\" (`waves` lists: {})", waves.join(", "))]
    UnknownWave {
        host: String,
        wave: String,
        waves: Vec<String>,
    },
    #[error("wave \"{0}\" is listed twice in `waves`")]
    DuplicateWave(String),
}

/// Reads and checks the hosts file at `path`.
pub fn load(path: &Path) -> Result<HostsFile, HostsError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Checks `text` as the hosts file at `path` (`path` names the file in
/// errors and anchors relative `identity`/`known_hosts` paths). `~` in
/// those paths is the `$HOME` of this process.
pub fn parse(path: &Path, text: &str) -> Result<HostsFile, HostsError> {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from);
    parse_with_home(path, text, home.as_deref())
}

//! The hosts file: which hosts an operator's gantry talks to, how to reach
//! each one over SSH (address, port, user, key, known_hosts, jump host,
//! remote command) and which rollout wave it belongs to.
//!
//! This module owns parsing and checking that file. It does no I/O beyond
//! reading the file and checking that each `identity` key file exists, so a
//! typo is reported with the file and line before any connection is tried.
//! Connecting, and resolving `~/.ssh/config` aliases, live elsewhere in
//! `ssh` (see `ssh_config`); the format is documented in `docs/hosts.md`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::pattern::{DEFAULT_PORT, HostPortError, UserHostPort, parse_port, split_user_host_port};

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

/// The raw file as TOML gives it: every value spanned so that errors can
/// name its line, and the checks that serde cannot express done after.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    waves: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    host: Vec<Spanned<RawHost>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    // i64 rather than u16 so that 0 and 70000 get our message, not serde's.
    port: Option<Spanned<i64>>,
    user: Option<Spanned<String>>,
    identity: Option<Spanned<String>>,
    known_hosts: Option<Spanned<String>>,
    wave: Option<Spanned<String>>,
    jump: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
}

/// Maps byte offsets in the file to 1-based lines. The newline offsets are
/// found once, so each lookup is a binary search: counting from the start
/// per field made a 10 000-host file take 19 s to load.
struct Lines {
    newlines: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        Self {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    fn at(&self, offset: usize) -> usize {
        // Newlines strictly before `offset`, plus one.
        self.newlines.partition_point(|&n| n < offset) + 1
    }
}

/// A host's fields checked one by one, before the checks across hosts.
struct Checked {
    entry: HostEntry,
    /// Line of the `jump` value, for the jump checks done later.
    jump_raw: Option<(String, usize)>,
    wave_line: usize,
}

fn parse_with_home(path: &Path, text: &str, home: Option<&Path>) -> Result<HostsFile, HostsError> {
    let lines = Lines::new(text);
    let invalid = |line: usize, problem: Problem| HostsError::Invalid {
        path: path.to_path_buf(),
        line,
        problem,
    };

    let raw: RawFile = toml::from_str(text).map_err(|e| {
        // Every error toml reports for a document read from text carries a
        // span; line 1 is only a fallback should one not.
        let line = e.span().map_or(1, |span| lines.at(span.start));
        // toml quotes an unknown key as written, escapes decoded: inert.
        let message = crate::text::inert(&e.message().trim_end().replace('\n', " "));
        invalid(line, Problem::Toml(message))
    })?;

    let mut waves = Vec::new();
    let mut wave_set: HashSet<&str> = HashSet::new();
    for wave in raw.waves.iter().flatten() {
        let line = lines.at(wave.span().start);
        check_text("waves", wave.get_ref()).map_err(|p| invalid(line, p))?;
        if !wave_set.insert(wave.get_ref()) {
            return Err(invalid(
                line,
                Problem::DuplicateWave(wave.get_ref().clone()),
            ));
        }
        waves.push(wave.get_ref().clone());
    }

    let base = path.parent().unwrap_or(Path::new(""));
    let mut checked = Vec::with_capacity(raw.host.len());
    let mut files = FileChecks::default();
    for table in &raw.host {
        // toml spans an array-of-tables entry by its `[[host]]` header (an
        // inline table by its `{`), which is the line to point at.
        let table_line = lines.at(table.span().start);
        checked.push(
            check_host(table.get_ref(), table_line, &lines, base, home, &mut files)
                .map_err(|(line, p)| invalid(line, p))?,
        );
    }

    let mut first_line: HashMap<&str, usize> = HashMap::new();
    for host in &checked {
        if let Some(first) = first_line.insert(&host.entry.name, host.entry.line) {
            return Err(invalid(
                host.entry.line,
                Problem::DuplicateName {
                    name: host.entry.name.clone(),
                    first_line: first,
                },
            ));
        }
    }

    if raw.waves.is_some() {
        for host in &checked {
            if let Some(wave) = &host.entry.wave
                && !wave_set.contains(wave.as_str())
            {
                return Err(invalid(
                    host.wave_line,
                    Problem::UnknownWave {
                        host: host.entry.name.clone(),
                        wave: wave.clone(),
                        waves: waves.clone(),
                    },
                ));
            }
        }
    }

    let names: HashSet<String> = checked.iter().map(|h| h.entry.name.clone()).collect();
    for host in &mut checked {
        if let Some((jump, line)) = &host.jump_raw {
            host.entry.jump =
                Some(resolve_jump(&host.entry.name, jump, &names).map_err(|p| invalid(*line, p))?);
        }
    }

    let hosts: Vec<HostEntry> = checked.into_iter().map(|c| c.entry).collect();
    if let Some((line, cycle)) = find_jump_cycle(&hosts) {
        return Err(invalid(line, Problem::JumpCycle { cycle }));
    }

    Ok(HostsFile {
        path: path.to_path_buf(),
        waves,
        hosts,
    })
}

/// Checks one `[[host]]` table; errors carry the line they point at.
fn check_host(
    raw: &RawHost,
    table_line: usize,
    lines: &Lines,
    base: &Path,
    home: Option<&Path>,
    files: &mut FileChecks,
) -> Result<Checked, (usize, Problem)> {
    // Each present string: its text checked, and its line for later errors.
    let text = |key: &str,
                value: &Option<Spanned<String>>|
     -> Result<Option<(String, usize)>, (usize, Problem)> {
        match value {
            None => Ok(None),
            Some(v) => {
                let line = lines.at(v.span().start);
                check_text(key, v.get_ref()).map_err(|p| (line, p))?;
                Ok(Some((v.get_ref().clone(), line)))
            }
        }
    };

    let (name, _) = text("name", &raw.name)?.ok_or((table_line, Problem::Missing("name")))?;
    let (address, address_line) =
        text("address", &raw.address)?.ok_or((table_line, Problem::Missing("address")))?;
    // These reach ssh's command line or its config as words, so a value
    // that could read as an option or split in two is refused here.
    check_word("address", &address).map_err(|p| (address_line, p))?;

    let port = match &raw.port {
        None => DEFAULT_PORT,
        Some(port) => match u16::try_from(*port.get_ref()) {
            Ok(p) if p != 0 => p,
            _ => {
                return Err((
                    lines.at(port.span().start),
                    Problem::PortRange(*port.get_ref()),
                ));
            }
        },
    };

    let user = text("user", &raw.user)?;
    if let Some((user, line)) = &user {
        check_word("user", user).map_err(|p| (*line, p))?;
    }

    let identity = match text("identity", &raw.identity)? {
        None => None,
        Some((value, line)) => {
            let path = resolve_path("identity", &value, base, home).map_err(|p| (line, p))?;
            if let Err(reason) = files.check(FileKind::Identity, &path) {
                return Err((
                    line,
                    Problem::Identity {
                        host: name,
                        path,
                        reason,
                    },
                ));
            }
            Some(path)
        }
    };

    let known_hosts = match text("known_hosts", &raw.known_hosts)? {
        None => None,
        Some((value, line)) => {
            let path = resolve_path("known_hosts", &value, base, home).map_err(|p| (line, p))?;
            if let Err(reason) = files.check(FileKind::KnownHosts, &path) {
                return Err((
                    line,
                    Problem::KnownHosts {
                        host: name,
                        path,
                        reason,
                    },
                ));
            }
            Some(path)
        }
    };

    let wave = text("wave", &raw.wave)?;
    let jump_raw = text("jump", &raw.jump)?;
    let command =
        text("command", &raw.command)?.map_or_else(|| DEFAULT_COMMAND.to_string(), |(c, _)| c);

    Ok(Checked {
        wave_line: wave.as_ref().map_or(table_line, |(_, line)| *line),
        entry: HostEntry {
            name,
            address,
            port,
            user: user.map(|(u, _)| u),
            identity,
            known_hosts,
            wave: wave.map(|(w, _)| w),
            jump: None,
            command,
            line: table_line,
        },
        jump_raw,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum FileKind {
    Identity,
    KnownHosts,
}

/// The `identity` and `known_hosts` files, each checked once however many
/// hosts share it (a fleet usually shares one of each).
#[derive(Default)]
struct FileChecks {
    seen: HashMap<(FileKind, PathBuf), Result<(), String>>,
}

/// How much of a file is read to judge its shape.
const SHAPE_BYTES: u64 = 64 * 1024;

impl FileChecks {
    fn check(&mut self, kind: FileKind, path: &Path) -> Result<(), String> {
        self.seen
            .entry((kind, path.to_path_buf()))
            .or_insert_with(|| check_file(kind, path))
            .clone()
    }
}

/// A key file must be a readable regular file holding a PEM private key;
/// a known_hosts file must, when it exists, be a readable regular file
/// whose lines look like known_hosts lines (it may be missing: ssh and
/// `--accept-new` create it). The reasons never quote the content.
fn check_file(kind: FileKind, path: &Path) -> Result<(), String> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match kind {
                FileKind::Identity => Err("does not exist".into()),
                FileKind::KnownHosts => Ok(()),
            };
        }
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    let what = match kind {
        FileKind::Identity => "a key file",
        FileKind::KnownHosts => "a known_hosts file",
    };
    if meta.is_dir() {
        return Err(format!("is a directory, not {what}"));
    }
    if !meta.is_file() {
        return Err(format!("is not a regular file, so not {what}"));
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(SHAPE_BYTES).read_to_end(&mut head))
        .map_err(|e| format!("cannot be read: {e}"))?;
    let text = String::from_utf8_lossy(&head);
    let shaped = match kind {
        // OpenSSH, PKCS#1, SEC1 and PKCS#8 keys, encrypted or not.
        FileKind::Identity => {
            let first = text.trim_start().lines().next().unwrap_or("");
            first.starts_with("-----BEGIN ") && first.ends_with("PRIVATE KEY-----")
        }
        // Empty or only comments is fine (nothing pinned yet); otherwise at
        // least one line must be `[marker] hosts keytype key` with an SSH
        // key type (so /etc/passwd, whose lines may have spaces, is not).
        FileKind::KnownHosts => {
            let mut entries = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .peekable();
            entries.peek().is_none()
                || entries.any(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    let words = if words.first().is_some_and(|w| w.starts_with('@')) {
                        &words[1..]
                    } else {
                        &words[..]
                    };
                    let key_type = words.get(1).copied().unwrap_or("");
                    words.len() >= 3
                        && ["ssh-", "ecdsa-", "sk-"]
                            .iter()
                            .any(|p| key_type.starts_with(p))
                        && !head.contains(&0)
                })
        }
    };
    if shaped {
        Ok(())
    } else {
        Err(format!("does not look like {what}"))
    }
}

/// Every string in the file: not empty (an empty value is always a
/// mistake: leave the key out instead) and free of control characters
/// (they would corrupt the control room's screen, logs and ssh arguments).
fn check_text(key: &str, value: &str) -> Result<(), Problem> {
    if value.is_empty() {
        return Err(Problem::Empty {
            key: key.to_string(),
        });
    }
    if let Some(ch) = value.chars().find(|c| c.is_control()) {
        return Err(Problem::ControlChar {
            key: key.to_string(),
            ch,
        });
    }
    Ok(())
}

/// Values used as single words by ssh.
fn check_word(key: &str, value: &str) -> Result<(), Problem> {
    let reason = if value.starts_with('-') {
        "must not start with `-` (ssh would read it as an option)"
    } else if value.chars().any(char::is_whitespace) {
        "must not contain spaces"
    } else {
        return Ok(());
    };
    Err(Problem::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    })
}

/// `~` and `~/…` are the home directory; other relative paths are relative
/// to the hosts file, so a fleet's files can travel together.
fn resolve_path(
    key: &str,
    value: &str,
    base: &Path,
    home: Option<&Path>,
) -> Result<PathBuf, Problem> {
    let bad = |reason: &str| Problem::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if let Some(rest) = value.strip_prefix('~') {
        let rest = match rest.strip_prefix('/') {
            Some(rest) => rest,
            None if rest.is_empty() => rest,
            None => return Err(bad("`~user` paths are not supported; write the path out")),
        };
        let home = home.ok_or_else(|| bad("cannot expand `~`: $HOME is not set"))?;
        return Ok(if rest.is_empty() {
            home.to_path_buf()
        } else {
            home.join(rest)
        });
    }
    let path = Path::new(value);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

/// A jump is a host of the file when it names one; otherwise it must look
/// like an address (have a user, a port or a dot), so a misspelt host
/// name is an error rather than a DNS lookup of the typo.
fn resolve_jump(host: &str, jump: &str, names: &HashSet<String>) -> Result<Jump, Problem> {
    if names.contains(jump) {
        return Ok(Jump::Host(jump.to_string()));
    }
    if !jump.contains(['@', ':', '.']) {
        return Err(Problem::UnknownJumpHost {
            host: host.to_string(),
            jump: jump.to_string(),
        });
    }
    parse_jump_address(jump).map_err(|reason| Problem::BadJump {
        host: host.to_string(),
        jump: jump.to_string(),
        reason: reason.to_string(),
    })
}

/// `[user@]host[:port]` read as OpenSSH reads a `ProxyJump` hop
/// (`pattern.rs`): the user is everything before the last `@`, and an IPv6
/// host goes in brackets (`[::1]`, `[::1]:2222`).
fn parse_jump_address(jump: &str) -> Result<Jump, &'static str> {
    if jump.contains(',') {
        return Err("one hop only: to chain, give the jump host its own `jump`");
    }
    if jump.contains("://") {
        return Err("write user@host:port, not a URI");
    }
    if jump.chars().any(char::is_whitespace) {
        return Err("must not contain spaces");
    }
    if jump.starts_with('-') {
        return Err("must not start with `-` (ssh would read it as an option)");
    }
    let UserHostPort { user, host, port } =
        split_user_host_port(jump).map_err(HostPortError::reason)?;
    let port = match port {
        None => DEFAULT_PORT,
        // Stricter than OpenSSH on `host:`: in our own file it is a typo.
        Some(p) => parse_port(p).ok_or("the port must be a number from 1 to 65535")?,
    };
    Ok(Jump::Address {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
    })
}

/// The first jump cycle in file order, as the names around it (the first
/// repeated at the end) and the line of the host where it starts.
fn find_jump_cycle(hosts: &[HostEntry]) -> Option<(usize, Vec<String>)> {
    let index: HashMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    // 0 = not visited, 1 = on the current walk, 2 = known to end.
    let mut state = vec![0u8; hosts.len()];
    for start in 0..hosts.len() {
        let mut walk = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match state[i] {
                2 => break,
                1 => {
                    let from = walk.iter().position(|&w| w == i).unwrap_or(0);
                    let cycle_at = walk[from..].iter().copied().min().unwrap_or(i);
                    // Start the cycle at the host that comes first in the
                    // file, so the message is the same whichever way in.
                    let first = walk[from..]
                        .iter()
                        .position(|&w| w == cycle_at)
                        .unwrap_or(0)
                        + from;
                    let mut cycle: Vec<String> = walk[first..]
                        .iter()
                        .chain(&walk[from..first])
                        .map(|&w| hosts[w].name.clone())
                        .collect();
                    cycle.push(hosts[cycle_at].name.clone());
                    return Some((hosts[cycle_at].line, cycle));
                }
                _ => {
                    state[i] = 1;
                    walk.push(i);
                    at = match &hosts[i].jump {
                        Some(Jump::Host(name)) => index.get(name.as_str()).copied(),
                        _ => None,
                    };
                }
            }
        }
        for i in walk {
            state[i] = 2;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn identity_and_known_hosts_must_be_files_of_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
        put("id", KEY);
        put(
            "kh",
            "# pinned\n@cert-authority *.x ssh-ed25519 AAAAC3Nza\nh ssh-ed25519 AAAAC3Nza\n",
        );
        put("empty_kh", "");
        put("shadow", "root:$6$salt$hash:19000:0:99999:7:::\n");
        put(
            "passwd",
            "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n",
        );
        let host = |key: &str, value: &str| {
            format!("[[host]]\nname = \"a\"\naddress = \"b\"\n{key} = \"{value}\"\n")
        };
        for ok in [
            host("identity", "id"),
            host("known_hosts", "kh"),
            host("known_hosts", "empty_kh"),
            host("known_hosts", "not-yet"),
        ] {
            parse_in(dir.path(), &ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let refused = [
            (
                host("identity", "shadow"),
                "identity file",
                "does not look like a key file",
            ),
            (
                host("identity", "kh"),
                "identity file",
                "does not look like a key file",
            ),
            (
                host("known_hosts", "/tmp"),
                "known_hosts file /tmp",
                "is a directory",
            ),
            (
                host("known_hosts", "shadow"),
                "known_hosts file",
                "does not look like a known_hosts file",
            ),
            (
                host("known_hosts", "passwd"),
                "known_hosts file",
                "does not look like a known_hosts file",
            ),
            (
                host("known_hosts", "id"),
                "known_hosts file",
                "does not look like a known_hosts file",
            ),
            (
                host("identity", "/dev/null"),
                "identity file /dev/null",
                "is not a regular file",
            ),
        ];
        for (text, field, reason) in refused {
            let e = parse_in(dir.path(), &text).unwrap_err().to_string();
            assert!(
                e.contains("line 4")
                    && e.contains("host \"a\"")
                    && e.contains(field)
                    && e.contains(reason),
                "{text}: {e}"
            );
            assert!(!e.contains("$6$"), "never quotes the content: {e}");
        }
        // Unreadable (as a normal user; root reads it, and the shape check
        // above refuses it instead).
        if std::fs::File::open("/etc/shadow").is_err() {
            let e = parse_in(dir.path(), &host("identity", "/etc/shadow"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("identity file /etc/shadow cannot be read"),
                "{e}"
            );
        }
    }

    #[test]
    fn lines_are_found_by_offset() {
        let lines = Lines::new("a\nbb\n\nc");
        let got: Vec<usize> = (0..=8).map(|o| lines.at(o)).collect();
        assert_eq!(got, [1, 1, 2, 2, 2, 3, 4, 4, 4]);
    }

    fn parse_in(dir: &Path, text: &str) -> Result<HostsFile, HostsError> {
        parse_with_home(&dir.join("hosts.toml"), text, Some(Path::new("/home/op")))
    }

    fn err(text: &str) -> (usize, Problem, String) {
        let dir = tempfile::tempdir().unwrap();
        let e = parse_in(dir.path(), text).unwrap_err();
        let msg = e.to_string();
        match e {
            HostsError::Invalid { line, problem, .. } => (line, problem, msg),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn full_entry_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), KEY).unwrap();
        let text = r#"
waves = ["canary", "full"]

[[host]]
name = "bastion"
address = "bastion.example.net"

[[host]]
name = "lhr-1"
address = "10.0.0.5"
port = 2222
user = "deploy"
identity = "key"
known_hosts = "~/kh"
wave = "canary"
jump = "bastion"
command = "gantry attach --role operator"

[[host]]
name = "ewr-1"
address = "ewr-1.example.net"
jump = "ops@jump.example.net:2200"
"#;
        let file = parse_in(dir.path(), text).unwrap();
        assert_eq!(file.waves, ["canary", "full"]);
        let b = file.get("bastion").unwrap();
        assert_eq!((b.port, b.user.as_deref(), b.line), (22, None, 4));
        assert_eq!(b.command, DEFAULT_COMMAND);
        assert_eq!(
            (
                b.identity.as_ref(),
                b.known_hosts.as_ref(),
                b.wave.as_ref(),
                b.jump.as_ref()
            ),
            (None, None, None, None)
        );
        let l = file.get("lhr-1").unwrap();
        assert_eq!(l.line, 8);
        assert_eq!(l.port, 2222);
        assert_eq!(l.user.as_deref(), Some("deploy"));
        assert_eq!(
            l.identity.as_deref(),
            Some(dir.path().join("key").as_path())
        );
        assert_eq!(l.known_hosts.as_deref(), Some(Path::new("/home/op/kh")));
        assert_eq!(l.jump, Some(Jump::Host("bastion".into())));
        assert_eq!(l.command, "gantry attach --role operator");
        let e = file.get("ewr-1").unwrap();
        assert_eq!(
            e.jump,
            Some(Jump::Address {
                user: Some("ops".into()),
                host: "jump.example.net".into(),
                port: 2200
            })
        );
        assert_eq!(
            file.jump_chain("lhr-1")
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>(),
            ["bastion"]
        );
        assert!(file.get("nope").is_none());
    }

    #[test]
    fn empty_file_has_no_hosts() {
        let file = parse_in(Path::new("/x"), "").unwrap();
        assert!(file.hosts.is_empty() && file.waves.is_empty());
    }

    #[test]
    fn unknown_key_names_its_line() {
        let (line, problem, msg) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nprot = 22\n");
        assert_eq!(line, 4);
        assert!(
            matches!(problem, Problem::Toml(ref m) if m.contains("unknown field `prot`")),
            "{problem:?}"
        );
        assert!(
            msg.contains("hosts.toml line 4: unknown field `prot`"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let (line, problem, _) = err("wave = [\"a\"]\n");
        assert_eq!(line, 1);
        assert!(
            matches!(problem, Problem::Toml(ref m) if m.contains("unknown field `wave`")),
            "{problem:?}"
        );
    }

    #[test]
    fn syntax_error_names_its_line() {
        let (line, _, msg) = err("[[host]]\nname = \"a\"\naddress = \"b\n");
        assert_eq!(line, 3, "{msg}");
    }

    #[test]
    fn missing_name_or_address_points_at_the_table() {
        let (line, problem, _) =
            err("[[host]]\nname = \"a\"\naddress = \"b\"\n\n[[host]]\naddress = \"c\"\n");
        assert_eq!((line, problem), (5, Problem::Missing("name")));
        let (line, problem, msg) = err("\n[[host]]\nname = \"a\"\n");
        assert_eq!((line, problem), (2, Problem::Missing("address")));
        assert!(
            msg.ends_with("line 2: this [[host]] has no `address`"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_names_name_both_lines() {
        let (line, problem, msg) = err(
            "[[host]]\nname = \"a\"\naddress = \"b\"\n[[host]]\nname = \"a\"\naddress = \"c\"\n",
        );
        assert_eq!(line, 4);
        assert_eq!(
            problem,
            Problem::DuplicateName {
                name: "a".into(),
                first_line: 1
            }
        );
        assert!(
            msg.contains("line 4: host name \"a\" is used twice: at line 1 and here"),
            "{msg}"
        );
    }

    #[test]
    fn port_out_of_range() {
        for (port, shown) in [("0", 0), ("65536", 65536), ("-1", -1)] {
            let (line, problem, _) = err(&format!(
                "[[host]]\nname = \"a\"\naddress = \"b\"\nport = {port}\n"
            ));
            assert_eq!((line, problem), (4, Problem::PortRange(shown)));
        }
        let (line, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nport = \"22\"\n");
        assert_eq!(line, 4);
        assert!(matches!(problem, Problem::Toml(_)));
    }

    #[test]
    fn missing_identity_is_named_as_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse_in(
            dir.path(),
            "[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"keys/id\"\n",
        )
        .unwrap_err();
        let want = dir.path().join("keys/id");
        assert_eq!(e.line(), Some(4));
        assert_eq!(
            e.problem(),
            Some(&Problem::Identity {
                host: "a".into(),
                path: want.clone(),
                reason: "does not exist".into()
            })
        );
        assert!(
            e.to_string()
                .contains(&format!("identity file {} does not exist", want.display()))
        );
        let (_, problem, _) =
            err("[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"~/.ssh/none\"\n");
        assert!(
            matches!(problem, Problem::Identity { ref path, .. } if path == Path::new("/home/op/.ssh/none"))
        );
        let (_, problem, _) =
            err("[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"~bob/k\"\n");
        assert!(matches!(problem, Problem::BadValue { .. }), "{problem:?}");
    }

    #[test]
    fn identity_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        let e = parse_in(
            dir.path(),
            "[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"keys\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn tilde_without_home_is_an_error() {
        let e = parse_with_home(
            Path::new("h.toml"),
            "[[host]]\nname = \"a\"\naddress = \"b\"\nknown_hosts = \"~/kh\"\n",
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("h.toml line 4:") && e.to_string().contains("$HOME"),
            "{e}"
        );
    }

    #[test]
    fn jump_to_unknown_host() {
        let (line, problem, _) =
            err("[[host]]\nname = \"a\"\naddress = \"b\"\njump = \"bastoin\"\n");
        assert_eq!(line, 4);
        assert_eq!(
            problem,
            Problem::UnknownJumpHost {
                host: "a".into(),
                jump: "bastoin".into()
            }
        );
    }

    #[test]
    fn jump_cycle() {
        let text = "[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"b\"\n\
                    [[host]]\nname = \"b\"\naddress = \"y\"\njump = \"c\"\n\
                    [[host]]\nname = \"c\"\naddress = \"z\"\njump = \"a\"\n";
        let (line, problem, msg) = err(text);
        assert_eq!(line, 1);
        assert_eq!(
            problem,
            Problem::JumpCycle {
                cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
            }
        );
        assert!(
            msg.ends_with("line 1: jump cycle: a -> b -> c -> a"),
            "{msg}"
        );
        let (line, problem, _) = err(
            "[[host]]\nname = \"x\"\naddress = \"x\"\n[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"a\"\n",
        );
        assert_eq!(line, 4);
        assert_eq!(
            problem,
            Problem::JumpCycle {
                cycle: vec!["a".into(), "a".into()]
            }
        );
        // A chain that ends is fine.
        let chain = "[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"b\"\n[[host]]\nname = \"b\"\naddress = \"y\"\njump = \"c\"\n[[host]]\nname = \"c\"\naddress = \"z\"\n";
        let file = parse_in(Path::new("/x"), chain).unwrap();
        let names: Vec<_> = file
            .jump_chain("a")
            .iter()
            .map(|h| h.name.clone())
            .collect();
        assert_eq!(names, ["c", "b"]);
    }

    #[test]
    fn jump_addresses() {
        let ok = |s: &str| parse_jump_address(s).unwrap();
        assert_eq!(
            ok("j.example"),
            Jump::Address {
                user: None,
                host: "j.example".into(),
                port: 22
            }
        );
        assert_eq!(
            ok("a@b@j:2"),
            Jump::Address {
                user: Some("a@b".into()),
                host: "j".into(),
                port: 2
            }
        );
        assert_eq!(
            ok("[::1]:2200"),
            Jump::Address {
                user: None,
                host: "::1".into(),
                port: 2200
            }
        );
        assert_eq!(
            ok("[fe80::1]"),
            Jump::Address {
                user: None,
                host: "fe80::1".into(),
                port: 22
            }
        );
        assert_eq!(ok("u@[::1]:2200").to_string(), "u@[::1]:2200");
        assert_eq!(ok("u@h.example:22").to_string(), "u@h.example");
        for bad in [
            "a,b",
            "ssh://h",
            "@h",
            "h:0",
            "h:x",
            "[::1",
            "h:",
            "h:+22",
            ":22",
            "fe80::1",
            "-oProxyCommand=x:1",
            "a b.c",
        ] {
            assert!(parse_jump_address(bad).is_err(), "{bad}");
        }
        let (line, problem, _) =
            err("[[host]]\nname = \"a\"\naddress = \"b\"\n\njump = \"u@j:99999\"\n");
        assert_eq!(line, 5);
        assert!(matches!(problem, Problem::BadJump { .. }), "{problem:?}");
    }

    #[test]
    fn control_characters_are_refused_everywhere() {
        for key in [
            "name",
            "address",
            "user",
            "identity",
            "known_hosts",
            "wave",
            "jump",
            "command",
        ] {
            let mut text = String::from("[[host]]\n");
            for (k, v) in [("name", "a"), ("address", "b")] {
                if k != key {
                    text.push_str(&format!("{k} = \"{v}\"\n"));
                }
            }
            text.push_str(&format!("{key} = \"x\\u001by\"\n"));
            let (line, problem, _) = err(&text);
            assert_eq!(
                line,
                4 - usize::from(matches!(key, "name" | "address")),
                "{key}"
            );
            assert_eq!(
                problem,
                Problem::ControlChar {
                    key: key.into(),
                    ch: '\u{1b}'
                }
            );
        }
        let (line, problem, _) = err("waves = [\"ok\", \"\"\"\nmulti\nline\"\"\"]\n");
        assert_eq!(line, 1);
        assert!(matches!(problem, Problem::ControlChar { ch: '\n', .. }));
    }

    #[test]
    fn empty_strings_are_refused_everywhere() {
        for key in [
            "name",
            "address",
            "user",
            "identity",
            "known_hosts",
            "wave",
            "jump",
            "command",
        ] {
            let mut text = String::from("[[host]]\n");
            for (k, v) in [("name", "a"), ("address", "b")] {
                if k != key {
                    text.push_str(&format!("{k} = \"{v}\"\n"));
                }
            }
            text.push_str(&format!("{key} = \"\"\n"));
            let (_, problem, msg) = err(&text);
            assert_eq!(problem, Problem::Empty { key: key.into() }, "{msg}");
        }
        let (_, problem, _) = err("waves = [\"\"]\n");
        assert_eq!(
            problem,
            Problem::Empty {
                key: "waves".into()
            }
        );
    }

    #[test]
    fn words_that_ssh_would_misread() {
        let (line, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"-oProxyCommand=x\"\n");
        assert_eq!(line, 3);
        assert!(matches!(problem, Problem::BadValue { ref key, .. } if key == "address"));
        let (_, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nuser = \"de ploy\"\n");
        assert!(matches!(problem, Problem::BadValue { ref key, .. } if key == "user"));
    }

    #[test]
    fn waves_must_list_every_hosts_wave() {
        let (line, problem, msg) = err(
            "waves = [\"canary\", \"full\"]\n[[host]]\nname = \"a\"\naddress = \"b\"\nwave = \"canry\"\n",
        );
        assert_eq!(line, 5);
        assert_eq!(
            problem,
            Problem::UnknownWave {
                host: "a".into(),
                wave: "canry".into(),
                waves: vec!["canary".into(), "full".into()]
            }
        );
        assert!(
            msg.contains("host \"a\" is in unknown wave \"canry\""),
            "{msg}"
        );
        let (line, problem, _) = err("waves = [\"a\",\n  \"a\"]\n");
        assert_eq!((line, problem), (2, Problem::DuplicateWave("a".into())));
        // Without `waves`, any wave name goes.
        parse_in(
            Path::new("/x"),
            "[[host]]\nname = \"a\"\naddress = \"b\"\nwave = \"any\"\n",
        )
        .unwrap();
    }

    #[test]
    fn duplicate_toml_keys_are_refused() {
        let (line, problem, _) = err("[[host]]\nname = \"a\"\nname = \"b\"\naddress = \"c\"\n");
        assert_eq!(line, 3);
        assert!(matches!(problem, Problem::Toml(_)));
    }

    #[test]
    fn inline_host_tables_get_their_line() {
        let file = parse_in(
            Path::new("/x"),
            "\nhost = [\n  { name = \"a\", address = \"b\" },\n]\n",
        )
        .unwrap();
        assert_eq!(file.hosts[0].line, 3);
    }
}

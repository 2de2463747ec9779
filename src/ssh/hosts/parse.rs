//! Reading the file: TOML with every value's line, each `[[host]]` table
//! checked field by field, then the checks across hosts (names, waves,
//! jumps).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::files::{FileChecks, FileKind};
use super::jump::{find_jump_cycle, resolve_jump};
use super::{DEFAULT_COMMAND, HostEntry, HostsError, HostsFile, Problem};
use crate::ssh::pattern::DEFAULT_PORT;

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
pub(super) struct Lines {
    newlines: Vec<usize>,
}

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        Self {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    pub(super) fn at(&self, offset: usize) -> usize {
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

pub(super) fn parse_with_home(
    path: &Path,
    text: &str,
    home: Option<&Path>,
) -> Result<HostsFile, HostsError> {
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

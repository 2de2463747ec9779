//! `~/.ssh/config` resolution: what an alias such as `prod-lhr` means to
//! OpenSSH (host name, user, port, keys, jump host, known_hosts files and
//! host key policy), so that gantry reaches a host the way `ssh ALIAS` would.
//!
//! Where OpenSSH is installed this module asks it, with `ssh -G ALIAS`, so
//! that `Include`, `Match`, `%` tokens and defaults mean exactly what they
//! mean to OpenSSH. Where it is not, a strict fallback parser reads the
//! user's config file: it understands the common keywords with OpenSSH's
//! first-value-wins rules and refuses, naming file and line, anything it
//! does not understand, because quietly misapplying a `Match` block would
//! send a deploy to the wrong host or with the wrong key.
//!
//! - `ssh_g`: running `ssh -G` and reading what it prints;
//! - `fallback`: the strict fallback parser, defaults and expansions;
//! - `syntax`: a config line's words, times and `ProxyJump` hops;
//! - `expand`: `~`, `%` tokens and `${VAR}` in file names, and the local
//!   account they need.
//!
//! This file holds what an alias resolves to ([`Resolved`]), its errors and
//! the entry points.

mod expand;
mod fallback;
mod ssh_g;
mod syntax;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use expand::LocalAccount;
use fallback::Fallback;
use ssh_g::{find_on_path, parse_ssh_g, run_with_timeout};
use syntax::parse_hop;

/// What an alias resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The alias as asked for.
    pub alias: String,
    /// The name or address to connect to (`HostName`, else the alias),
    /// lowercased as OpenSSH does (unless it holds `:` or `%`).
    pub host_name: String,
    /// The remote user; OpenSSH always has one (the local user when the
    /// config names none).
    pub user: Option<String>,
    pub port: u16,
    /// Every identity file OpenSSH would try, in order, with `~` and `%`
    /// tokens expanded; when the config names none these are OpenSSH's
    /// defaults (`~/.ssh/id_rsa`, …), whether or not they exist.
    pub identity_files: Vec<PathBuf>,
    /// Those of `identity_files` that are files at resolution time: the
    /// keys worth offering.
    pub existing_identity_files: Vec<PathBuf>,
    /// `CertificateFile`, expanded as identity files are: certificates to
    /// offer with whichever identity key they certify (OpenSSH has none by
    /// default; it also tries `<identity file>-cert.pub`, as gantry does).
    pub certificate_files: Vec<PathBuf>,
    /// `ProxyJump` in OpenSSH's own spelling (`[user@]host[:port]`, hops
    /// separated by commas); `None` when unset or `none`.
    pub proxy_jump: Option<String>,
    /// `UserKnownHostsFile`, expanded; empty when set to `none`.
    pub known_hosts_files: Vec<PathBuf>,
    /// `yes`, `no`, `ask` or `accept-new` (OpenSSH's config words; its
    /// `true`/`false`/`off` are mapped onto `yes`/`no`).
    pub strict_host_key_checking: Option<String>,
    pub host_key_alias: Option<String>,
    /// `ConnectTimeout` in seconds; `None` when unset.
    pub connect_timeout: Option<u64>,
    /// `ServerAliveInterval` in seconds; `None` when unset or 0 (off).
    pub server_alive_interval: Option<u64>,
    pub source: Source,
}

impl Resolved {
    /// `proxy_jump` split into hops, the one to reach first first, read
    /// with OpenSSH's rules (the user is before the last `@`; an IPv6 or
    /// numeric host comes in brackets, which are removed). Each hop is
    /// itself a name for `~/.ssh/config`, as ssh treats it. Empty when
    /// there is no jump or the spelling is not one ssh accepts.
    pub fn jump_hops(&self) -> Vec<JumpHop> {
        self.proxy_jump
            .as_deref()
            .map_or_else(Vec::new, parse_jump_hops)
    }
}

/// One hop of a `ProxyJump`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHop {
    pub user: Option<String>,
    pub host: String,
    /// `None`: whatever the hop's own config says (22 by default).
    pub port: Option<u16>,
}

/// Splits a `ProxyJump` spelling (`[user@]host[:port]`, comma separated)
/// into hops; empty for `none` or a spelling ssh would refuse.
pub fn parse_jump_hops(spec: &str) -> Vec<JumpHop> {
    if spec.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let mut hops = Vec::new();
    for hop in spec.split(',') {
        match parse_hop(hop) {
            Some((user, host, port)) => hops.push(JumpHop {
                user: user.map(str::to_string),
                host: host.to_string(),
                port,
            }),
            None => return Vec::new(),
        }
    }
    hops
}

/// Who answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// OpenSSH itself, through `ssh -G`.
    SshG,
    /// gantry's fallback parser, on this file.
    Fallback(PathBuf),
}

/// Why an alias could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    /// The fallback parser met something it does not understand; OpenSSH
    /// might, so this says how to get the real answer.
    #[error(
        "{} line {line}: {}; gantry's fallback parser refuses what it does not \
         understand: install OpenSSH's ssh so that `ssh -G` resolves this config",
        file.display(),
        crate::text::inert(reason)
    )]
    Refused {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// A line OpenSSH would reject too. The reason quotes the line, as
    /// OpenSSH's does, so it is made inert.
    #[error("{} line {line}: {}", file.display(), crate::text::inert(reason))]
    Invalid {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{}: cannot read the ssh config: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("host alias {alias:?}: {reason}")]
    BadAlias { alias: String, reason: &'static str },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    SshFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` did not finish within {} s", timeout.as_secs())]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` printed {line:?}, which gantry cannot read: {reason}")]
    Output {
        command: String,
        line: String,
        reason: String,
    },
    /// The reason may quote a token of the value: inert.
    #[error("{key} {value:?} (from `{command}`): {}", crate::text::inert(reason))]
    Expand {
        command: String,
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot tell the local {0}: set $HOME and $USER")]
    NoAccount(&'static str),
}

/// Resolves `alias` as `ssh [-F CONFIG_FILE] ALIAS` would: with `ssh -G`
/// when `ssh` is on `PATH` (user and system config, as OpenSSH reads them),
/// else with the fallback parser on `config_file` or `$HOME/.ssh/config` (a
/// missing file resolves to OpenSSH's defaults).
pub fn resolve(alias: &str, config_file: Option<&Path>) -> Result<Resolved, SshConfigError> {
    if let Some(ssh) = find_on_path("ssh") {
        return resolve_with_ssh(&ssh, config_file, alias);
    }
    let account = LocalAccount::for_fallback();
    let home = account
        .home
        .ok_or(SshConfigError::NoAccount("home directory"))?;
    let user = account.user.ok_or(SshConfigError::NoAccount("user name"))?;
    let path = config_file.map_or_else(|| home.join(".ssh").join("config"), Path::to_path_buf);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(SshConfigError::Read { path, source }),
    };
    resolve_fallback(&text, &path, alias, &home, &user)
}

/// Resolves `alias` by running `SSH_BINARY [-F CONFIG_FILE] -G ALIAS`.
/// Identity files, which `ssh -G` prints unexpanded, are expanded here the
/// way `ssh` would (`~`, `%d %h %n %p %r %u %%`, `${VAR}`).
pub fn resolve_with_ssh(
    ssh_binary: &Path,
    config_file: Option<&Path>,
    alias: &str,
) -> Result<Resolved, SshConfigError> {
    check_alias(alias)?;
    let mut cmd = Command::new(ssh_binary);
    if let Some(file) = config_file {
        cmd.arg("-F").arg(file);
    }
    cmd.arg("-G").arg(alias);
    let shown = format!("{cmd:?}").replace('"', "");
    let stdout = run_with_timeout(cmd, &shown)?;
    parse_ssh_g(&stdout, alias, &shown, &LocalAccount::as_openssh_sees_it())
}

/// Resolves `alias` from the text of an ssh config file (`origin` names it
/// in errors), with `home` for `~` and `%d` and `local_user` for `%u` and
/// the default user: OpenSSH's rules for what this parser understands,
/// and an error naming file and line for anything else.
pub fn resolve_fallback(
    config_text: &str,
    origin: &Path,
    alias: &str,
    home: &Path,
    local_user: &str,
) -> Result<Resolved, SshConfigError> {
    check_alias(alias)?;
    let settings = Fallback::parse(config_text, origin, alias)?;
    settings.finish(origin, alias, home, local_user)
}

/// Refuses aliases that ssh would read as an option or that could not be
/// one argument.
fn check_alias(alias: &str) -> Result<(), SshConfigError> {
    let reason = if alias.is_empty() {
        "is empty"
    } else if alias.starts_with('-') {
        "must not start with `-`"
    } else if alias.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must not contain spaces or control characters"
    } else {
        return Ok(());
    };
    Err(SshConfigError::BadAlias {
        alias: alias.to_string(),
        reason,
    })
}

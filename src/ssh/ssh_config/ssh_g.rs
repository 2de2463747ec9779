//! Asking OpenSSH: `ssh -G ALIAS` run with a timeout, and its output read
//! and expanded as ssh itself would.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::expand::{LocalAccount, Tokens, existing, expand_tilde};
use super::{Resolved, Source, SshConfigError};
use crate::ssh::pattern::parse_port;

/// How long `ssh -G` may take: it reads files and does no network I/O,
/// but a `Match exec` in the user's config runs a command of theirs.
const SSH_G_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `cmd`, returning its stdout when it exits 0. `ssh -G` prints a
/// few kilobytes at most, well within a pipe's buffer, so polling for the
/// exit before reading cannot stall it.
pub(super) fn run_with_timeout(mut cmd: Command, shown: &str) -> Result<String, SshConfigError> {
    let spawn_err = |source| SshConfigError::Spawn {
        command: shown.to_string(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(spawn_err)? {
            break status;
        }
        if started.elapsed() > SSH_G_TIMEOUT {
            // Best effort: the child may have exited in between.
            let _ = child.kill();
            let _ = child.wait();
            return Err(SshConfigError::Timeout {
                command: shown.to_string(),
                timeout: SSH_G_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout).map_err(spawn_err)?;
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_end(&mut stderr).map_err(spawn_err)?;
    }
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        // ssh notes a missing terminal even for -G; it says nothing here.
        let stderr: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("Pseudo-terminal will not be allocated"))
            .collect();
        return Err(SshConfigError::SshFailed {
            command: shown.to_string(),
            status: status.to_string(),
            stderr: stderr.join("; "),
        });
    }
    String::from_utf8(stdout).map_err(|e| SshConfigError::Output {
        command: shown.to_string(),
        line: String::from_utf8_lossy(e.as_bytes())
            .chars()
            .take(200)
            .collect(),
        reason: "not UTF-8".to_string(),
    })
}

/// Reads `ssh -G` output: one `key value` line per option, keys in lower
/// case, defaults included.
pub(super) fn parse_ssh_g(
    out: &str,
    alias: &str,
    command: &str,
    account: &LocalAccount,
) -> Result<Resolved, SshConfigError> {
    let bad = |line: &str, reason: &str| SshConfigError::Output {
        command: command.to_string(),
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let mut host_name = None;
    let mut user = None;
    let mut port = None;
    let mut raw_identities = Vec::new();
    let mut raw_certificates = Vec::new();
    let mut proxy_jump = None;
    let mut known_hosts = None;
    let mut strict = None;
    let mut host_key_alias = None;
    let mut connect_timeout = None;
    let mut server_alive_interval = None;
    for line in out.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "hostname" => host_name = Some(value.to_string()),
            "user" => user = Some(value.to_string()),
            "port" => {
                // parse_port, not u16::from_str, which takes `0` and `+22`.
                port = Some(parse_port(value).ok_or_else(|| bad(line, "port is not 1 to 65535"))?)
            }
            "identityfile" => raw_identities.push(value.to_string()),
            "certificatefile" => raw_certificates.push(value.to_string()),
            "proxyjump" if !value.eq_ignore_ascii_case("none") => {
                proxy_jump = Some(value.to_string())
            }
            "userknownhostsfile" => known_hosts = Some(value.to_string()),
            "stricthostkeychecking" => {
                strict = Some(
                    match value {
                        "true" => "yes",
                        "false" => "no",
                        other => other,
                    }
                    .to_string(),
                )
            }
            "hostkeyalias" => host_key_alias = Some(value.to_string()),
            "connecttimeout" if value != "none" => {
                connect_timeout = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad(line, "not a number of seconds"))?,
                )
            }
            "serveraliveinterval" => {
                let secs = value
                    .parse::<u64>()
                    .map_err(|_| bad(line, "not a number of seconds"))?;
                server_alive_interval = (secs > 0).then_some(secs);
            }
            _ => {}
        }
    }
    let host_name = host_name.ok_or_else(|| bad("", "no `hostname` line"))?;
    let port = port.ok_or_else(|| bad("", "no `port` line"))?;

    let expand_err = |key: &'static str, value: &str, reason: String| SshConfigError::Expand {
        command: command.to_string(),
        key,
        value: value.to_string(),
        reason,
    };
    let home = || {
        account
            .home
            .as_deref()
            .ok_or(SshConfigError::NoAccount("home directory"))
    };
    let tokens = Tokens {
        home: account.home.as_deref(),
        host_name: &host_name,
        alias,
        port,
        remote_user: user.as_deref(),
        local_user: account.user.as_deref(),
    };
    // ssh expands certificate files exactly as identity files.
    let expand_files = |key: &'static str, raws: &[String]| {
        let mut files = Vec::with_capacity(raws.len());
        for raw in raws {
            let tilded = if raw.starts_with('~') {
                expand_tilde(raw, home()?).map_err(|reason| expand_err(key, raw, reason))?
            } else {
                raw.clone()
            };
            let expanded = tokens
                .expand(&tilded, true)
                .map_err(|reason| expand_err(key, raw, reason))?;
            files.push(PathBuf::from(expanded));
        }
        Ok::<_, SshConfigError>(files)
    };
    let identity_files = expand_files("identityfile", &raw_identities)?;
    let certificate_files = expand_files("certificatefile", &raw_certificates)?;
    // ssh -G prints these already expanded; a `~` left (by another
    // OpenSSH version) is expanded the same way.
    let known_hosts_files = match known_hosts.as_deref() {
        None => Vec::new(),
        Some(list) if list.eq_ignore_ascii_case("none") => Vec::new(),
        Some(list) => {
            let mut files = Vec::new();
            for raw in list.split_whitespace() {
                let path = if raw.starts_with('~') {
                    expand_tilde(raw, home()?)
                        .map_err(|reason| expand_err("userknownhostsfile", raw, reason))?
                } else {
                    raw.to_string()
                };
                files.push(PathBuf::from(path));
            }
            files
        }
    };
    Ok(Resolved {
        alias: alias.to_string(),
        host_name,
        user,
        port,
        existing_identity_files: existing(&identity_files),
        identity_files,
        certificate_files,
        proxy_jump,
        known_hosts_files,
        strict_host_key_checking: strict,
        host_key_alias,
        connect_timeout,
        server_alive_interval,
        source: Source::SshG,
    })
}

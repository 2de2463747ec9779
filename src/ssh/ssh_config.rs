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

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::pattern::{UserHostPort, match_host_patterns, parse_port, split_user_host_port};

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

/// How long `ssh -G` may take: it reads files and does no network I/O,
/// but a `Match exec` in the user's config runs a command of theirs.
const SSH_G_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity files OpenSSH tries when the config names none (OpenSSH
/// 9.x's list, which `ssh -G` prints in this order).
const DEFAULT_IDENTITY_FILES: [&str; 7] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

const DEFAULT_KNOWN_HOSTS_FILES: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];

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

fn find_on_path(name: &str) -> Option<PathBuf> {
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
fn run_with_timeout(mut cmd: Command, shown: &str) -> Result<String, SshConfigError> {
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

/// The local account, for `~`, `%d` and `%u`.
#[derive(Debug, Clone, Default)]
struct LocalAccount {
    home: Option<PathBuf>,
    user: Option<String>,
}

impl LocalAccount {
    /// As OpenSSH sees it: the password entry of this process's uid, then
    /// the environment. OpenSSH uses the password entry, so `ssh -G` output
    /// is expanded the way ssh itself would.
    fn as_openssh_sees_it() -> Self {
        let passwd = passwd_entry();
        LocalAccount {
            home: passwd.as_ref().map(|p| p.1.clone()).or_else(env_home),
            user: passwd.map(|p| p.0).or_else(env_user),
        }
    }

    /// For the fallback, which reads `$HOME/.ssh/config`: `$HOME` first.
    fn for_fallback() -> Self {
        let passwd = passwd_entry();
        LocalAccount {
            home: env_home().or_else(|| passwd.as_ref().map(|p| p.1.clone())),
            user: passwd.map(|p| p.0).or_else(env_user),
        }
    }
}

fn env_home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn env_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|u| !u.is_empty()))
}

/// (name, home) of this process's uid in /etc/passwd. The uid comes from
/// /proc/self, which is owned by it, so no unsafe libc call is needed.
fn passwd_entry() -> Option<(String, PathBuf)> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2] == uid)
            .then(|| (fields[0].to_string(), PathBuf::from(fields[5])))
    })
}

/// Reads `ssh -G` output: one `key value` line per option, keys in lower
/// case, defaults included.
fn parse_ssh_g(
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

fn existing(files: &[PathBuf]) -> Vec<PathBuf> {
    files.iter().filter(|f| f.is_file()).cloned().collect()
}

/// `~` and `~/…` as OpenSSH's `tilde_expand_filename` (home, a slash, the
/// rest); `~user` is refused rather than looked up.
fn expand_tilde(value: &str, home: &Path) -> Result<String, String> {
    let Some(rest) = value.strip_prefix('~') else {
        return Ok(value.to_string());
    };
    let rest = match rest.strip_prefix('/') {
        Some(rest) => rest,
        None if rest.is_empty() => rest,
        None => {
            return Err("`~user` paths are not expanded by gantry; write the path out".to_string());
        }
    };
    let home = home.to_string_lossy();
    let sep = if home == "/" { "" } else { "/" };
    Ok(format!("{home}{sep}{rest}"))
}

/// The `%` tokens gantry expands in file names, with OpenSSH's meanings.
struct Tokens<'a> {
    home: Option<&'a Path>,
    /// %h: the final host name.
    host_name: &'a str,
    /// %n: the alias as given.
    alias: &'a str,
    /// %p
    port: u16,
    /// %r
    remote_user: Option<&'a str>,
    /// %u
    local_user: Option<&'a str>,
}

impl Tokens<'_> {
    /// Expands `%d %h %n %p %r %u %%` and, when `env` is set, `${VAR}`
    /// from this process's environment (as ssh does for file names).
    fn expand(&self, value: &str, env: bool) -> Result<String, String> {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let token = chars.next().ok_or("ends in a lone `%`")?;
                    let missing =
                        |what: &str| format!("%{token} needs the local {what}, which is unknown");
                    match token {
                        '%' => out.push('%'),
                        'h' => out.push_str(self.host_name),
                        'n' => out.push_str(self.alias),
                        'p' => out.push_str(&self.port.to_string()),
                        'r' => out.push_str(self.remote_user.ok_or_else(|| missing("user"))?),
                        'u' => out.push_str(self.local_user.ok_or_else(|| missing("user"))?),
                        'd' => out.push_str(
                            &self
                                .home
                                .ok_or_else(|| missing("home directory"))?
                                .to_string_lossy(),
                        ),
                        other => return Err(format!("gantry does not expand the token %{other}")),
                    }
                }
                '$' if env && chars.peek() == Some(&'{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let value =
                        std::env::var(&name).map_err(|_| format!("${{{name}}} is not set"))?;
                    out.push_str(&value);
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }
}

/// Settings the fallback parser collected, first value wins; each with
/// the line it came from for errors found when it is used.
#[derive(Default)]
struct Fallback {
    host_name: Option<(String, usize)>,
    user: Option<(String, usize)>,
    port: Option<u16>,
    identity_files: Vec<(String, usize)>,
    certificate_files: Vec<(String, usize)>,
    /// `Some(None)`: set to `none`, which also wins over later values.
    proxy_jump: Option<Option<String>>,
    known_hosts: Option<(Vec<String>, usize)>,
    strict: Option<String>,
    host_key_alias: Option<String>,
    connect_timeout: Option<u64>,
    server_alive_interval: Option<u64>,
}

impl Fallback {
    fn parse(text: &str, origin: &Path, alias: &str) -> Result<Fallback, SshConfigError> {
        let mut settings = Fallback::default();
        // Lines before the first `Host` apply to every host.
        let mut active = true;
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let invalid = |reason: String| SshConfigError::Invalid {
                file: origin.to_path_buf(),
                line,
                reason,
            };
            let refused = |reason: String| SshConfigError::Refused {
                file: origin.to_path_buf(),
                line,
                reason,
            };
            let Some((keyword, rest)) = split_keyword(raw_line) else {
                continue;
            };
            let keyword = keyword.to_ascii_lowercase();
            if rest.is_empty() {
                return Err(invalid(format!("no argument after keyword \"{keyword}\"")));
            }
            let args = split_args(rest).map_err(|_| invalid("invalid quotes".to_string()))?;
            // Keywords that take one value: the value, or OpenSSH's error.
            let single = || -> Result<&str, SshConfigError> {
                match args.as_slice() {
                    [] => Err(invalid("missing argument".to_string())),
                    [value] if value.is_empty() => Err(invalid("missing argument".to_string())),
                    [value] => Ok(value.as_str()),
                    _ => Err(invalid(format!(
                        "keyword {keyword} extra arguments at end of line"
                    ))),
                }
            };
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(invalid(format!("no argument after keyword \"{keyword}\"")));
                    }
                    if args.iter().any(|a| a.is_empty()) {
                        return Err(invalid(format!("keyword {keyword} empty argument")));
                    }
                    active = match_host_patterns(alias, &args);
                }
                "match" => {
                    return Err(refused(
                        "`Match` is not understood (its conditions could select this host)"
                            .to_string(),
                    ));
                }
                "include" => {
                    return Err(refused("`Include` is not followed".to_string()));
                }
                "hostname" => {
                    let value = single()?;
                    if active && settings.host_name.is_none() {
                        settings.host_name = Some((value.to_string(), line));
                    }
                }
                "user" => {
                    let value = single()?;
                    if active && settings.user.is_none() {
                        settings.user = Some((value.to_string(), line));
                    }
                }
                "port" => {
                    let value = single()?;
                    let port =
                        parse_port(value).ok_or_else(|| invalid(format!("Bad port '{value}'.")))?;
                    if active && settings.port.is_none() {
                        settings.port = Some(port);
                    }
                }
                "identityfile" | "certificatefile" => {
                    let value = single()?;
                    let (files, what) = if keyword == "identityfile" {
                        (&mut settings.identity_files, "identity")
                    } else {
                        (&mut settings.certificate_files, "certificate")
                    };
                    // OpenSSH skips a file already listed (the same text),
                    // and allows at most 100.
                    if active && !files.iter().any(|(f, _)| f == value) {
                        if files.len() == 100 {
                            return Err(invalid(format!(
                                "too many {what} files specified (max 100)"
                            )));
                        }
                        files.push((value.to_string(), line));
                    }
                }
                "proxyjump" => {
                    let value = single()?;
                    // OpenSSH reads this keyword's raw text, not its quoted
                    // words, so only values where both agree are taken.
                    if value.contains(['"', '\'', '\\', '#']) || rest.contains(['"', '\'', '\\']) {
                        return Err(refused(format!(
                            "ProxyJump {rest:?}: quotes and escapes are not understood"
                        )));
                    }
                    let jump = parse_proxy_jump(value)
                        .ok_or_else(|| invalid(format!("Invalid ProxyJump \"{value}\"")))?;
                    if active && settings.proxy_jump.is_none() {
                        settings.proxy_jump = Some(jump);
                    }
                }
                "userknownhostsfile" => {
                    if args.is_empty() {
                        return Err(invalid("missing argument".to_string()));
                    }
                    if args.iter().any(|a| a.is_empty()) {
                        return Err(invalid(format!("keyword {keyword} empty argument")));
                    }
                    if args.len() > 1 && args.iter().any(|a| a.eq_ignore_ascii_case("none")) {
                        return Err(invalid(format!(
                            "keyword {keyword} \"none\" argument must appear alone."
                        )));
                    }
                    if args.len() > 32 {
                        return Err(invalid(format!("keyword {keyword} too many arguments")));
                    }
                    if active && settings.known_hosts.is_none() {
                        settings.known_hosts = Some((args.clone(), line));
                    }
                }
                "stricthostkeychecking" => {
                    let value = single()?;
                    let word = match value.to_ascii_lowercase().as_str() {
                        "yes" | "true" => "yes",
                        "no" | "false" | "off" => "no",
                        "ask" => "ask",
                        "accept-new" => "accept-new",
                        _ => return Err(invalid(format!("unsupported option \"{value}\"."))),
                    };
                    if active && settings.strict.is_none() {
                        settings.strict = Some(word.to_string());
                    }
                }
                "hostkeyalias" => {
                    let value = single()?;
                    if active && settings.host_key_alias.is_none() {
                        settings.host_key_alias = Some(value.to_string());
                    }
                }
                "connecttimeout" | "serveraliveinterval" => {
                    let value = single()?;
                    // `none` leaves the option unset, so a later value
                    // still applies, as in OpenSSH.
                    if value != "none" {
                        let secs = parse_time(value)
                            .ok_or_else(|| invalid("invalid time value.".to_string()))?;
                        let slot = if keyword == "connecttimeout" {
                            &mut settings.connect_timeout
                        } else {
                            &mut settings.server_alive_interval
                        };
                        if active && slot.is_none() {
                            *slot = Some(secs);
                        }
                    }
                }
                _ => {
                    return Err(refused(format!("keyword `{keyword}` is not understood")));
                }
            }
        }
        Ok(settings)
    }

    /// Applies OpenSSH's defaults and expansions to what was collected.
    fn finish(
        self,
        origin: &Path,
        alias: &str,
        home: &Path,
        local_user: &str,
    ) -> Result<Resolved, SshConfigError> {
        let refused = |line: usize, reason: String| SshConfigError::Refused {
            file: origin.to_path_buf(),
            line,
            reason,
        };
        let invalid = |line: usize, reason: String| SshConfigError::Invalid {
            file: origin.to_path_buf(),
            line,
            reason,
        };

        // HostName knows %h and %% only (anything else is an error to
        // OpenSSH too); the result is lowercased as ssh does.
        let host_name = match &self.host_name {
            None => openssh_lowercase(alias),
            Some((value, line)) => {
                if value.contains("${") {
                    return Err(refused(
                        *line,
                        format!("HostName {value:?}: `${{…}}` is not understood"),
                    ));
                }
                let mut out = String::new();
                let mut chars = value.chars();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        out.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some('h') => out.push_str(alias),
                        Some(other) => {
                            return Err(invalid(
                                *line,
                                format!("HostName {value:?}: unknown token %{other}"),
                            ));
                        }
                        None => {
                            return Err(invalid(
                                *line,
                                format!("HostName {value:?}: ends in a lone `%`"),
                            ));
                        }
                    }
                }
                openssh_lowercase(&out)
            }
        };

        // OpenSSH versions differ on whether User takes tokens, so a `%`
        // there has no single meaning to follow.
        let user = match self.user {
            None => local_user.to_string(),
            Some((value, line)) => {
                if value.contains(['%', '$']) {
                    return Err(refused(
                        line,
                        format!("User {value:?}: tokens in User are not understood"),
                    ));
                }
                value
            }
        };
        let port = self.port.unwrap_or(22);

        let tokens = Tokens {
            home: Some(home),
            host_name: &host_name,
            alias,
            port,
            remote_user: Some(&user),
            local_user: Some(local_user),
        };
        // ~ first, then tokens: OpenSSH's order.
        let file_name = |key: &str, value: &str, line: usize| -> Result<PathBuf, SshConfigError> {
            if value.contains("${") {
                return Err(refused(
                    line,
                    format!("{key} {value:?}: `${{…}}` is not understood"),
                ));
            }
            let tilded = expand_tilde(value, home)
                .map_err(|reason| refused(line, format!("{key} {value:?}: {reason}")))?;
            let expanded = tokens
                .expand(&tilded, false)
                .map_err(|reason| refused(line, format!("{key} {value:?}: {reason}")))?;
            Ok(PathBuf::from(expanded))
        };

        let identity_files = if self.identity_files.is_empty() {
            DEFAULT_IDENTITY_FILES
                .iter()
                .map(|f| file_name("IdentityFile", f, 0))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            self.identity_files
                .iter()
                .map(|(f, line)| file_name("IdentityFile", f, *line))
                .collect::<Result<Vec<_>, _>>()?
        };
        let certificate_files = self
            .certificate_files
            .iter()
            .map(|(f, line)| file_name("CertificateFile", f, *line))
            .collect::<Result<Vec<_>, _>>()?;
        let known_hosts_files = match &self.known_hosts {
            None => DEFAULT_KNOWN_HOSTS_FILES
                .iter()
                .map(|f| file_name("UserKnownHostsFile", f, 0))
                .collect::<Result<Vec<_>, _>>()?,
            Some((files, _)) if files.len() == 1 && files[0].eq_ignore_ascii_case("none") => {
                Vec::new()
            }
            Some((files, line)) => files
                .iter()
                .map(|f| file_name("UserKnownHostsFile", f, *line))
                .collect::<Result<Vec<_>, _>>()?,
        };

        Ok(Resolved {
            alias: alias.to_string(),
            host_name,
            user: Some(user),
            port,
            existing_identity_files: existing(&identity_files),
            identity_files,
            certificate_files,
            proxy_jump: self.proxy_jump.flatten(),
            known_hosts_files,
            // ssh -G reports `ask` when unset; so does the fallback, so both
            // sources agree.
            strict_host_key_checking: Some(self.strict.unwrap_or_else(|| "ask".to_string())),
            host_key_alias: self.host_key_alias,
            connect_timeout: self.connect_timeout,
            server_alive_interval: self.server_alive_interval.filter(|&s| s > 0),
            source: Source::Fallback(origin.to_path_buf()),
        })
    }
}

/// ssh lowercases the host name it connects to, except one holding `:`
/// or `%` (an IPv6 address, whose `%scope` is case-sensitive).
fn openssh_lowercase(host: &str) -> String {
    if host.contains([':', '%']) {
        host.to_string()
    } else {
        host.to_ascii_lowercase()
    }
}

/// Splits a config line into its keyword and the rest, as OpenSSH does:
/// the keyword ends at whitespace or `=`, and one `=` (with whitespace
/// around it) may separate it from the arguments. `None` for blank and
/// comment lines.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0c'));
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find([' ', '\t', '=']).unwrap_or(line.len());
    let (keyword, mut rest) = line.split_at(end);
    rest = rest.trim_start_matches([' ', '\t']);
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start_matches([' ', '\t']);
    }
    Some((keyword, rest))
}

/// OpenSSH's `argv_split`: words separated by spaces or tabs, `"` and `'`
/// quoting (also inside a word), backslash escaping a quote, a backslash
/// or (outside quotes) a space, and a `#` that starts a word ending the
/// line. An unclosed quote is an error.
fn split_args(s: &str) -> Result<Vec<String>, ()> {
    let chars: Vec<char> = s.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                match chars.get(i + 1) {
                    Some(&next)
                        if next == '\''
                            || next == '"'
                            || next == '\\'
                            || (quote.is_none() && next == ' ') =>
                    {
                        arg.push(next);
                        i += 1;
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err(());
        }
        args.push(arg);
    }
    Ok(args)
}

/// OpenSSH's `convtime`: numbers with optional units s m h d w, summed
/// (`1m30s`, `90`).
fn parse_time(value: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = value;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let multiplier = match rest.bytes().next() {
            None => 1,
            Some(unit) => {
                let multiplier = match unit.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86_400,
                    b'w' => 604_800,
                    _ => return None,
                };
                // Only after the match: the unit is ASCII, so slicing past
                // it stays on a char boundary (`1é` used to panic here).
                rest = &rest[1..];
                multiplier
            }
        };
        total = total.checked_add(number.checked_mul(multiplier)?)?;
    }
    // OpenSSH keeps times in an int.
    (total <= i32::MAX as u64).then_some(total)
}

/// A `ProxyJump` value as OpenSSH's `parse_jump` reads it, in `ssh -G`'s
/// spelling: `Some(None)` for `none`, `None` when invalid. Each hop is
/// `[user@]host[:port]` (IPv6 in brackets); `ssh://` hops are refused as
/// invalid here, being rare enough not to carry a second parser for.
fn parse_proxy_jump(value: &str) -> Option<Option<String>> {
    if value.eq_ignore_ascii_case("none") {
        return Some(None);
    }
    let (extra, last) = match value.rsplit_once(',') {
        Some((extra, last)) => (Some(extra), last),
        None => (None, value),
    };
    for hop in extra.into_iter().flat_map(|e| e.split(',')) {
        parse_hop(hop)?;
    }
    let (user, host, port) = parse_hop(last)?;
    // ssh -G brackets a host that is numeric or holds a colon.
    let numeric = host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let mut out = String::new();
    if let Some(extra) = extra {
        out.push_str(extra);
        out.push(',');
    }
    if let Some(user) = user {
        out.push_str(user);
        out.push('@');
    }
    if numeric {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
    if let Some(port) = port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    Some(Some(out))
}

/// One hop: `[user@]host[:port]` as OpenSSH's `parse_user_host_port`.
fn parse_hop(hop: &str) -> Option<(Option<&str>, &str, Option<u16>)> {
    if hop.starts_with("ssh://") || hop.contains(['/', ' ', '\t']) {
        return None;
    }
    let UserHostPort { user, host, port } = split_user_host_port(hop).ok()?;
    // `host:` is OpenSSH's too: no port.
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    Some((user, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallback(text: &str, alias: &str) -> Result<Resolved, SshConfigError> {
        resolve_fallback(
            text,
            Path::new("/cfg/config"),
            alias,
            Path::new("/home/op"),
            "op",
        )
    }

    fn ok(text: &str, alias: &str) -> Resolved {
        fallback(text, alias).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_without_config() {
        let r = ok("", "Box.Example");
        assert_eq!(r.host_name, "box.example");
        assert_eq!(r.user.as_deref(), Some("op"));
        assert_eq!(r.port, 22);
        assert_eq!(r.identity_files[0], Path::new("/home/op/.ssh/id_rsa"));
        assert_eq!(r.identity_files.len(), DEFAULT_IDENTITY_FILES.len());
        assert_eq!(
            r.known_hosts_files,
            [
                Path::new("/home/op/.ssh/known_hosts"),
                Path::new("/home/op/.ssh/known_hosts2")
            ]
        );
        assert_eq!(r.strict_host_key_checking.as_deref(), Some("ask"));
        assert_eq!(
            (
                r.proxy_jump,
                r.host_key_alias,
                r.connect_timeout,
                r.server_alive_interval
            ),
            (None, None, None, None)
        );
        assert_eq!(r.source, Source::Fallback("/cfg/config".into()));
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let text = "Port 2200\nHost web-*\n  HostName %h.example.com\n  User deploy\n  IdentityFile ~/.ssh/%r@%h:%p\n\
                    Host *\n  User other\n  Port 1\n  IdentityFile /k/%u-%n-%d-%%\n";
        let r = ok(text, "web-1");
        assert_eq!(r.host_name, "web-1.example.com");
        assert_eq!(r.user.as_deref(), Some("deploy"));
        assert_eq!(r.port, 2200);
        assert_eq!(
            r.identity_files,
            [
                PathBuf::from("/home/op/.ssh/deploy@web-1.example.com:2200"),
                PathBuf::from("/k/op-web-1-/home/op-%")
            ]
        );
    }

    #[test]
    fn line_forms() {
        assert_eq!(split_keyword("  Port=22"), Some(("Port", "22")));
        assert_eq!(split_keyword("Port = 22  "), Some(("Port", "22")));
        assert_eq!(split_keyword("\tPort\t 22"), Some(("Port", "22")));
        assert_eq!(split_keyword("  # note"), None);
        assert_eq!(split_keyword("   "), None);
        assert_eq!(
            split_args(r#"a "b c" d"e f"g # x"#).unwrap(),
            ["a", "b c", "de fg"]
        );
        assert_eq!(
            split_args(r#"\"q\" \\ \x a\ b"#).unwrap(),
            ["\"q\"", "\\", "\\x", "a b"]
        );
        assert!(split_args("\"open").is_err());
        assert_eq!(split_args("a#b").unwrap(), ["a#b"]);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("90"), Some(90));
        assert_eq!(parse_time("1m30"), Some(90));
        assert_eq!(parse_time("1h1M1s"), Some(3661));
        assert_eq!(parse_time("1x"), None);
        assert_eq!(parse_time("-5"), None);
    }

    /// Found by tests/fuzz.rs: `ssh -G` output saying `port 0` resolved to
    /// port 0, though the error for a bad port promises 1 to 65535.
    #[test]
    fn regression_ssh_g_port_0_is_refused() {
        let account = LocalAccount {
            home: Some(PathBuf::from("/home/op")),
            user: Some("op".into()),
        };
        for port in ["0", "+22", "65536"] {
            let out = format!("hostname h\nport {port}\n");
            let err = parse_ssh_g(&out, "h", "ssh -G h", &account).unwrap_err();
            assert!(err.to_string().contains("1 to 65535"), "{err}");
        }
        assert_eq!(
            parse_ssh_g("hostname h\nport 22\n", "h", "ssh -G h", &account)
                .unwrap()
                .port,
            22
        );
    }

    /// Found by tests/fuzz.rs: `ConnectTimeout 1\u{fffd}0` panicked,
    /// slicing inside the character that follows the digits.
    #[test]
    fn regression_non_ascii_time_unit_is_refused() {
        assert_eq!(parse_time("1\u{fffd}0"), None);
        assert_eq!(parse_time("10é"), None);
        let err = resolve_fallback(
            "Host x\n  ConnectTimeout 1é\n",
            Path::new("config"),
            "x",
            Path::new("/home/op"),
            "op",
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn proxy_jumps_in_ssh_g_spelling() {
        assert_eq!(parse_proxy_jump("none"), Some(None));
        assert_eq!(parse_proxy_jump("u@h:22"), Some(Some("u@h:22".into())));
        assert_eq!(
            parse_proxy_jump("10.0.0.1"),
            Some(Some("[10.0.0.1]".into()))
        );
        assert_eq!(
            parse_proxy_jump("x,u@[fe80::1]:2"),
            Some(Some("x,u@[fe80::1]:2".into()))
        );
        for bad in ["u@h:0", "fe80::1", "a,,b", "@h", "u@h/22", "ssh://h"] {
            assert_eq!(parse_proxy_jump(bad), None, "{bad}");
        }
        let r = ok("Host a\n ProxyJump none\nHost *\n ProxyJump j\n", "a");
        assert_eq!(r.proxy_jump, None);
        let r = ok("Host *\n ProxyJump j\n", "a");
        assert_eq!(r.proxy_jump.as_deref(), Some("j"));
        let r = ok(
            "Host *\n ProxyJump a@b@j1:2,[10.0.0.1],[fe80::1]:2200\n",
            "a",
        );
        assert_eq!(
            r.jump_hops(),
            [
                JumpHop {
                    user: Some("a@b".into()),
                    host: "j1".into(),
                    port: Some(2)
                },
                JumpHop {
                    user: None,
                    host: "10.0.0.1".into(),
                    port: None
                },
                JumpHop {
                    user: None,
                    host: "fe80::1".into(),
                    port: Some(2200)
                },
            ]
        );
        assert!(parse_jump_hops("none").is_empty());
        assert!(parse_jump_hops("a,,b").is_empty());
    }

    #[test]
    fn known_hosts_lists() {
        let r = ok("UserKnownHostsFile ~/kh %d/w %h_kh\n", "a");
        assert_eq!(
            r.known_hosts_files,
            [
                Path::new("/home/op/kh"),
                Path::new("/home/op/w"),
                Path::new("a_kh")
            ]
        );
        let r = ok("UserKnownHostsFile none\n", "a");
        assert!(r.known_hosts_files.is_empty());
        let e = fallback("UserKnownHostsFile none /x\n", "a").unwrap_err();
        assert!(matches!(e, SshConfigError::Invalid { line: 1, .. }), "{e}");
    }

    #[test]
    fn refusals_name_file_and_line() {
        for (text, line, what) in [
            ("Host a\n  Match host b\n", 2, "Match"),
            ("\n\nInclude other\n", 3, "Include"),
            ("Host *\n ForwardAgent yes\n", 2, "forwardagent"),
            ("Host a\n IdentityFile ~/.ssh/%C\n", 2, "%C"),
            ("Host a\n IdentityFile ~bob/k\n", 2, "~user"),
            ("Host a\n IdentityFile ${HOME}/k\n", 2, "${"),
            ("Host a\n User %u\n", 2, "User"),
            ("Host a\n ProxyJump \"j\"\n", 2, "ProxyJump"),
        ] {
            let e = fallback(text, "a").unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(e, SshConfigError::Refused { line: l, .. } if l == line),
                "{text:?}: {msg}"
            );
            assert!(
                msg.starts_with(&format!("/cfg/config line {line}: ")),
                "{msg}"
            );
            assert!(msg.contains(what), "{msg}");
        }
    }

    #[test]
    fn tokens_in_unused_values_are_not_refused() {
        // OpenSSH expands a value only when it is used; so does the fallback.
        let r = ok(
            "Host other\n IdentityFile ~/.ssh/%C\nHost *\n IdentityFile /k\n",
            "a",
        );
        assert_eq!(r.identity_files, [Path::new("/k")]);
    }

    #[test]
    fn invalid_lines_name_file_and_line() {
        for (text, line) in [
            ("Host a\n Port 0\n", 2),
            ("Host b\n Port 22 33\n", 2),
            ("Port\n", 1),
            ("Host \"\"\n", 1),
            ("User \"open\n", 1),
            ("StrictHostKeyChecking maybe\n", 1),
            ("ConnectTimeout soon\n", 1),
            ("ProxyJump u@h:0\n", 1),
            ("Host a\n HostName %p\n", 2),
        ] {
            let e = fallback(text, "a").unwrap_err();
            assert!(
                matches!(e, SshConfigError::Invalid { line: l, .. } if l == line),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn strict_and_times() {
        let r = ok(
            "StrictHostKeyChecking OFF\nConnectTimeout none\nConnectTimeout 1m\nServerAliveInterval 0\nServerAliveInterval 5\n",
            "a",
        );
        assert_eq!(r.strict_host_key_checking.as_deref(), Some("no"));
        assert_eq!(r.connect_timeout, Some(60));
        assert_eq!(r.server_alive_interval, None);
    }

    #[test]
    fn aliases_that_ssh_would_misread_are_refused() {
        for alias in ["", "-oProxyCommand=x", "a b", "a\nb"] {
            assert!(
                matches!(fallback("", alias), Err(SshConfigError::BadAlias { .. })),
                "{alias:?}"
            );
        }
    }

    #[test]
    fn ssh_g_output_is_read() {
        let out = "host a\nuser root\nhostname a.example\nport 2200\nstricthostkeychecking true\n\
                   identityfile ~/.ssh/id_%h\nidentityfile /k/%%x\nuserknownhostsfile /r/kh ~/kh2\n\
                   certificatefile ~/.ssh/id_%h-cert.pub\n\
                   proxyjump j:2\nconnecttimeout none\nserveraliveinterval 15\nhostkeyalias ka\n";
        let account = LocalAccount {
            home: Some("/home/op".into()),
            user: Some("op".into()),
        };
        let r = parse_ssh_g(out, "a", "ssh -G a", &account).unwrap();
        assert_eq!(r.host_name, "a.example");
        assert_eq!(r.port, 2200);
        assert_eq!(
            r.identity_files,
            [Path::new("/home/op/.ssh/id_a.example"), Path::new("/k/%x")]
        );
        assert_eq!(
            r.certificate_files,
            [Path::new("/home/op/.ssh/id_a.example-cert.pub")]
        );
        assert_eq!(
            r.known_hosts_files,
            [Path::new("/r/kh"), Path::new("/home/op/kh2")]
        );
        assert_eq!(r.strict_host_key_checking.as_deref(), Some("yes"));
        assert_eq!(r.proxy_jump.as_deref(), Some("j:2"));
        assert_eq!(
            (r.connect_timeout, r.server_alive_interval),
            (None, Some(15))
        );
        assert_eq!(r.host_key_alias.as_deref(), Some("ka"));
        assert_eq!(r.source, Source::SshG);
        let e = parse_ssh_g("hostname a\nport x\n", "a", "ssh -G a", &account).unwrap_err();
        assert!(e.to_string().contains("port x"), "{e}");
    }

    #[test]
    fn certificate_files_accumulate_like_identity_files() {
        let text = "Host web-*\n  CertificateFile ~/.ssh/%r@%h-cert.pub\n  CertificateFile /c/x\n\
                    Host *\n  CertificateFile /c/x\n  CertificateFile /c/%u\n";
        let r = ok(text, "web-1");
        assert_eq!(
            r.certificate_files,
            [
                PathBuf::from("/home/op/.ssh/op@web-1-cert.pub"),
                PathBuf::from("/c/x"),
                PathBuf::from("/c/op")
            ]
        );
        assert!(ok("", "a").certificate_files.is_empty());
        let e = fallback("Host a\n CertificateFile a b\n", "a").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn existing_identity_files_are_marked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("id_ed25519"), "k").unwrap();
        let text = format!(
            "IdentityFile {0}/id_rsa\nIdentityFile {0}/id_ed25519\n",
            dir.path().display()
        );
        let r = ok(&text, "a");
        assert_eq!(r.identity_files.len(), 2);
        assert_eq!(r.existing_identity_files, [dir.path().join("id_ed25519")]);
    }
}

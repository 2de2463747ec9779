//! The strict fallback parser, for when OpenSSH is not installed: the
//! keywords it understands, first value wins, with OpenSSH's defaults and
//! expansions; a refusal naming file and line for anything else.

use std::path::{Path, PathBuf};

use super::expand::{Tokens, existing, expand_tilde};
use super::syntax::{parse_proxy_jump, parse_time, split_args, split_keyword};
use super::{Resolved, Source, SshConfigError};
use crate::ssh::pattern::{match_host_patterns, parse_port};

/// The identity files OpenSSH tries when the config names none (OpenSSH
/// 9.x's list, which `ssh -G` prints in this order).
pub(super) const DEFAULT_IDENTITY_FILES: [&str; 7] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

const DEFAULT_KNOWN_HOSTS_FILES: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];

/// Settings the fallback parser collected, first value wins; each with
/// the line it came from for errors found when it is used.
#[derive(Default)]
pub(super) struct Fallback {
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
    pub(super) fn parse(
        text: &str,
        origin: &Path,
        alias: &str,
    ) -> Result<Fallback, SshConfigError> {
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
    pub(super) fn finish(
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

//! File names as OpenSSH expands them: the local account (for `~`, `%d`
//! and `%u`), `~`, the `%` tokens and `${VAR}`; and which files exist.

use std::path::{Path, PathBuf};

/// The local account, for `~`, `%d` and `%u`.
#[derive(Debug, Clone, Default)]
pub(super) struct LocalAccount {
    pub(super) home: Option<PathBuf>,
    pub(super) user: Option<String>,
}

impl LocalAccount {
    /// As OpenSSH sees it: the password entry of this process's uid, then
    /// the environment. OpenSSH uses the password entry, so `ssh -G` output
    /// is expanded the way ssh itself would.
    pub(super) fn as_openssh_sees_it() -> Self {
        let passwd = passwd_entry();
        LocalAccount {
            home: passwd.as_ref().map(|p| p.1.clone()).or_else(env_home),
            user: passwd.map(|p| p.0).or_else(env_user),
        }
    }

    /// For the fallback, which reads `$HOME/.ssh/config`: `$HOME` first.
    pub(super) fn for_fallback() -> Self {
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

pub(super) fn existing(files: &[PathBuf]) -> Vec<PathBuf> {
    files.iter().filter(|f| f.is_file()).cloned().collect()
}

/// `~` and `~/…` as OpenSSH's `tilde_expand_filename` (home, a slash, the
/// rest); `~user` is refused rather than looked up.
pub(super) fn expand_tilde(value: &str, home: &Path) -> Result<String, String> {
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
pub(super) struct Tokens<'a> {
    pub(super) home: Option<&'a Path>,
    /// %h: the final host name.
    pub(super) host_name: &'a str,
    /// %n: the alias as given.
    pub(super) alias: &'a str,
    /// %p
    pub(super) port: u16,
    /// %r
    pub(super) remote_user: Option<&'a str>,
    /// %u
    pub(super) local_user: Option<&'a str>,
}

impl Tokens<'_> {
    /// Expands `%d %h %n %p %r %u %%` and, when `env` is set, `${VAR}`
    /// from this process's environment (as ssh does for file names).
    pub(super) fn expand(&self, value: &str, env: bool) -> Result<String, String> {
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

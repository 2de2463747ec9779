//! Where the agent's socket is: `<state_dir>/agent.sock`, with the state
//! dir read from the agent's gantry.toml.
//!
//! `ctl` on the host and `attach` (run by sshd) need only that path, so
//! they read `host.state_dir` and nothing else: the rest of the file is the
//! agent's to validate (`agent::config`), and a client that loaded all of
//! it would pull the whole agent in, and refuse to talk to a running agent
//! over a key that agent's version knows and the client's does not.
//!
//! The agent resolves its state dir with [`state_dir`] too, so the two can
//! never disagree on where the socket is. A leaf: it imports only `exit`
//! and `text`.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::exit::{Code, Exit};

/// The socket's file name inside the state dir.
pub const SOCKET: &str = "agent.sock";

/// Where a client looks for the agent's config when none is named.
pub const DEFAULT_CONFIGS: [&str; 3] = [
    "gantry.toml",
    "/etc/gantry/gantry.toml",
    "/var/lib/gantry/gantry.toml",
];

/// The socket of the agent whose config is `named`, or else the first of
/// [`DEFAULT_CONFIGS`] that exists.
pub fn find(named: Option<&Path>) -> Result<PathBuf, Exit> {
    if let Some(path) = named {
        return read(path);
    }
    for candidate in DEFAULT_CONFIGS {
        let path = Path::new(candidate);
        if path.exists() {
            return read(path);
        }
    }
    Err(Exit::new(
        Code::Usage,
        "no agent config: pass --config FILE (or set GANTRY_CONFIG)",
    ))
}

/// Just the part of gantry.toml a client reads; every other key is let be.
#[derive(Deserialize)]
struct File {
    host: Host,
}

#[derive(Deserialize)]
struct Host {
    state_dir: PathBuf,
}

/// The text of the config at `path`; the agent reads its config with this
/// too, so a missing or unreadable file is one message everywhere.
pub fn read_text(path: &Path) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        Exit::new(
            Code::Config,
            format!("cannot read config {}: {e}", path.display()),
        )
    })
}

/// The socket named by the config at `path`.
pub fn read(path: &Path) -> Result<PathBuf, Exit> {
    let text = read_text(path)?;
    let file: File = toml::from_str(&text).map_err(|e| {
        let (line, message) = crate::text::toml_error(&text, &e);
        Exit::new(
            Code::Config,
            format!(
                "{}: {}",
                path.display(),
                crate::text::inert(&format!("line {line}: {message}"))
            ),
        )
    })?;
    Ok(socket_in(&state_dir(path, &file.host.state_dir)))
}

/// The socket inside a state dir.
pub fn socket_in(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// `host.state_dir` as written in the config at `config`: a relative one is
/// relative to the config file's directory (made absolute when it exists),
/// and `.` parts are dropped ("/etc/gantry/." reads badly in messages).
pub fn state_dir(config: &Path, written: &Path) -> PathBuf {
    let base = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    let dir = if written.is_absolute() {
        written.to_path_buf()
    } else {
        base.join(written)
    };
    dir.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gantry.toml");
        // Keys this client does not know, and no [service]: not its business.
        std::fs::write(
            &path,
            "[host]\nname = \"h\"\nstate_dir = \"./state\"\nfuture = 1\n[probe]\n",
        )
        .unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(read(&path).unwrap(), root.join("state/agent.sock"));
        assert_eq!(
            state_dir(&path, Path::new("/var/lib/gantry/.")),
            PathBuf::from("/var/lib/gantry")
        );
    }

    #[test]
    fn faults_keep_their_messages_and_statuses() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let e = find(Some(&missing)).unwrap_err();
        assert_eq!(e.code, Code::Config);
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read config {}: ", missing.display())),
            "{e}"
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[host]\nname = \"h\"\n").unwrap();
        let e = read(&bad).unwrap_err();
        assert_eq!(e.code, Code::Config);
        assert!(
            e.to_string()
                .starts_with(&format!("{}: line ", bad.display()))
                && e.to_string().contains("state_dir"),
            "{e}"
        );
    }
}

//! `accept-new`: recording a new host key at the end of a known_hosts
//! file, only when the key would be judged unknown.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::KnownHosts;
use super::check::Verdict;
use super::key::parse_blob;
use crate::ssh::pattern::put_host_port;

/// Records a new host key, for `accept-new`: appends `host key-type base64`
/// (the host lowercased, `[host]:port` for a port other than 22) to `path`,
/// creating it and its directory if needed. Writes nothing if the key is
/// already trusted for that host; refuses (and writes nothing) if the host
/// is known with another key or the key is revoked for it, exactly when
/// [`KnownHosts::check`] would not say [`Verdict::Unknown`].
pub fn append(
    path: &Path,
    host: &str,
    port: u16,
    key_type: &str,
    key_blob: &[u8],
) -> io::Result<()> {
    check_host_for_line(host)?;
    let Some(key) = parse_blob(key_blob, false) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to record a malformed {key_type} host key for {host}"),
        ));
    };
    let known =
        KnownHosts::load(&[path.to_path_buf()]).map_err(|e| io::Error::other(e.to_string()))?;
    match known.check(host, port, key_type, key_blob) {
        Verdict::Unknown => {}
        Verdict::Trusted { .. } => return Ok(()),
        Verdict::Revoked { path, line } => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to record a revoked host key ({}:{line})",
                    path.display()
                ),
            ));
        }
        Verdict::Changed { known, .. } => {
            let lines = known
                .iter()
                .map(|k| format!("{}:{}", k.path.display(), k.line))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "refusing to record a host key: {host} is already known with another key ({lines})"
                ),
            ));
        }
    }
    let name = put_host_port(&host.to_ascii_lowercase(), port);
    let mut line = format!("{name} {} {}\n", key.kind.name(), STANDARD.encode(key_blob));

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Like ~/.ssh: private to the user.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    // A last line without its newline would swallow ours.
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    // One write of one line with O_APPEND: a concurrent gantry appending
    // too cannot interleave within it.
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// A host name that would change meaning inside a known_hosts line (split
/// it, become a pattern, a marker, a hash or a comment) is refused.
fn check_host_for_line(host: &str) -> io::Result<()> {
    let bad_char = host
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b",*?!".contains(&b));
    let bad_start = host.starts_with(['@', '#', '|']);
    if host.is_empty() || bad_char || bad_start {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to write host name {host:?} to known_hosts"),
        ));
    }
    Ok(())
}

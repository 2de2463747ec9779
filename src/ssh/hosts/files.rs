//! The `identity` and `known_hosts` files a host names: each checked once,
//! for being a readable regular file of the right shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum FileKind {
    Identity,
    KnownHosts,
}

/// The `identity` and `known_hosts` files, each checked once however many
/// hosts share it (a fleet usually shares one of each).
#[derive(Default)]
pub(super) struct FileChecks {
    seen: HashMap<(FileKind, PathBuf), Result<(), String>>,
}

/// How much of a file is read to judge its shape.
const SHAPE_BYTES: u64 = 64 * 1024;

impl FileChecks {
    pub(super) fn check(&mut self, kind: FileKind, path: &Path) -> Result<(), String> {
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

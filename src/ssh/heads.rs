//! The audit heads a client has seen, per host, in the user's state dir.
//!
//! A hash chain is only tamper-evident if someone off the host remembers a
//! head: when a host's log no longer extends the head we saw (it is shorter,
//! or the entry at that sequence number has another hash), the log was
//! truncated or rewritten, and we say so loudly. The remembered head is then
//! left as it was, so the warning repeats until a person deals with it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::wire::AuditHead;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seen {
    pub seq: u64,
    pub hash: String,
    pub at: String,
}

/// Where heads are kept: $GANTRY_CLIENT_STATE, else
/// $XDG_STATE_HOME/gantry, else ~/.local/state/gantry.
pub fn path() -> PathBuf {
    let dir = if let Some(dir) = std::env::var_os("GANTRY_CLIENT_STATE") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        PathBuf::from(dir).join("gantry")
    } else {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".local/state/gantry")
    };
    dir.join("audit-heads.json")
}

fn load() -> BTreeMap<String, Seen> {
    std::fs::read(path())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub fn remembered(key: &str) -> Option<Seen> {
    load().remove(key)
}

/// Records `head` as the latest seen for `key`.
pub fn remember(key: &str, head: &AuditHead) -> std::io::Result<()> {
    let path = path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut all = load();
    all.insert(
        key.to_string(),
        Seen {
            seq: head.seq,
            hash: head.hash.clone(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    );
    let json = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
    crate::durable::write_atomic(&path, &json)
}

/// How a host's current head relates to the one remembered.
#[derive(Debug, Clone, PartialEq)]
pub enum Continuity {
    /// Nothing remembered yet, or the log extends what we saw.
    Extends,
    /// The log no longer contains what we saw.
    Broken(String),
}

/// Compares `current` with `seen`; `entry_hash_at_seen` is the hash the
/// host now has at the remembered sequence number (when it is longer).
pub fn judge(
    seen: &Seen,
    current: Option<&AuditHead>,
    entry_hash_at_seen: Option<&str>,
) -> Continuity {
    let Some(current) = current else {
        return Continuity::Broken(format!(
            "the audit log is EMPTY, but entry #{} (…{}) was seen at {}",
            seen.seq,
            tail(&seen.hash),
            seen.at
        ));
    };
    if current.seq < seen.seq {
        return Continuity::Broken(format!(
            "the audit log is SHORTER than when seen at {}: head #{} now, #{} then (truncated or rewritten)",
            seen.at, current.seq, seen.seq
        ));
    }
    let hash_now = if current.seq == seen.seq {
        Some(current.hash.as_str())
    } else {
        entry_hash_at_seen
    };
    match hash_now {
        Some(hash) if hash == seen.hash => Continuity::Extends,
        Some(hash) => Continuity::Broken(format!(
            "audit entry #{} has hash …{} now but had …{} when seen at {} (rewritten)",
            seen.seq,
            tail(hash),
            tail(&seen.hash),
            seen.at
        )),
        None => Continuity::Broken(format!(
            "audit entry #{} seen at {} is missing now",
            seen.seq, seen.at
        )),
    }
}

fn tail(hash: &str) -> &str {
    hash.get(hash.len().saturating_sub(12)..).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(seq: u64, hash: &str) -> Seen {
        Seen {
            seq,
            hash: hash.into(),
            at: "then".into(),
        }
    }

    fn head(seq: u64, hash: &str) -> AuditHead {
        AuditHead {
            seq,
            hash: hash.into(),
        }
    }

    #[test]
    fn continuity() {
        assert_eq!(
            judge(&seen(5, "aa"), Some(&head(5, "aa")), None),
            Continuity::Extends
        );
        assert_eq!(
            judge(&seen(5, "aa"), Some(&head(9, "ff")), Some("aa")),
            Continuity::Extends
        );
        assert!(
            matches!(judge(&seen(5, "aa"), Some(&head(4, "bb")), None), Continuity::Broken(m) if m.contains("SHORTER"))
        );
        assert!(
            matches!(judge(&seen(5, "aa"), Some(&head(5, "bb")), None), Continuity::Broken(m) if m.contains("rewritten"))
        );
        assert!(matches!(
            judge(&seen(5, "aa"), Some(&head(9, "ff")), Some("cc")),
            Continuity::Broken(_)
        ));
        assert!(matches!(
            judge(&seen(5, "aa"), None, None),
            Continuity::Broken(_)
        ));
    }
}

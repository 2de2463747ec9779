//! audit.jsonl: append-only, fsync'd, hash-chained.
//!
//! Each line is a JSON object ending in `"prev":…,"hash":…}`. `hash` is the
//! sha256 of the line's bytes up to (not including) `,"hash":` plus the
//! closing `}`, and `prev` is the hash of the line before (64 zeros for the
//! first). Changing any byte of a line breaks its hash; removing or
//! reordering lines breaks the next `prev`. The hash covers the exact bytes
//! written, so verification needs no canonical JSON.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::durable::AppendLog;
use crate::stamp::sha256_hex;
use crate::wire::{AuditEntry, AuditHead};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_KEY: &str = ",\"hash\":\"";

pub struct AuditLog {
    path: PathBuf,
    log: AppendLog,
    seq: u64,
    head: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Broken {
        path: String,
        line: usize,
        message: String,
    },
}

/// What `audit verify` found on a sound chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub entries: usize,
    pub head: Option<AuditHead>,
}

impl AuditLog {
    /// Opens the log, checking its whole chain first: an agent does not
    /// append to a log it cannot vouch for. A partial last line (a crash
    /// mid-write, never acknowledged) is cut off.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let io_err = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Ok(bytes) = fs::read(path)
            && !bytes.is_empty()
            && !bytes.ends_with(b"\n")
        {
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let file = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err)?;
            file.set_len(keep as u64).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            eprintln!(
                "gantry agent: {}: cut a partial last line ({} bytes) left by a crash",
                path.display(),
                bytes.len() - keep
            );
        }
        let verified = verify(path)?;
        let log = AppendLog::open(path, 0o640).map_err(io_err)?;
        let (seq, head) = verified
            .head
            .map_or((0, GENESIS.to_string()), |h| (h.seq, h.hash));
        Ok(Self {
            path: path.to_path_buf(),
            log,
            seq,
            head,
        })
    }

    pub fn head(&self) -> Option<AuditHead> {
        (self.seq > 0).then(|| AuditHead {
            seq: self.seq,
            hash: self.head.clone(),
        })
    }

    /// Chains, writes and syncs one entry; only then does it exist. The
    /// entry's `seq`, `prev` and `hash` are filled in here.
    pub fn append(&mut self, mut entry: AuditEntry) -> Result<AuditEntry, AuditError> {
        entry.seq = self.seq + 1;
        entry.prev = self.head.clone();
        entry.hash = String::new();
        let line = seal(&entry);
        self.log
            .append_line(&line)
            .map_err(|source| AuditError::Io {
                path: self.path.display().to_string(),
                source,
            })?;
        entry.hash = hash_of_line(&line).unwrap_or_default();
        self.seq = entry.seq;
        self.head = entry.hash.clone();
        crate::faults::point("audit.appended");
        Ok(entry)
    }

    /// The last `n` entries.
    pub fn tail(&self, n: usize) -> Vec<AuditEntry> {
        tail(&self.path, n)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Serializes `entry` (with an empty hash) and seals it with its hash.
fn seal(entry: &AuditEntry) -> String {
    // AuditEntry serializes to an object ending in "hash":""}.
    let json = serde_json::to_string(entry).unwrap_or_default();
    let body = json
        .strip_suffix(",\"hash\":\"\"}")
        .unwrap_or(json.as_str());
    let digest = sha256_hex(format!("{body}}}").as_bytes());
    format!("{body}{HASH_KEY}{digest}\"}}")
}

/// The hash a line claims, if it is well formed and the claim is right.
fn hash_of_line(line: &str) -> Option<String> {
    let at = line.rfind(HASH_KEY)?;
    let claimed = line[at + HASH_KEY.len()..].strip_suffix("\"}")?;
    let computed = sha256_hex(format!("{}}}", &line[..at]).as_bytes());
    (claimed == computed).then_some(computed)
}

/// Checks the whole chain; names the first line that does not chain.
pub fn verify(path: &Path) -> Result<Verified, AuditError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Verified {
                entries: 0,
                head: None,
            });
        }
        Err(source) => {
            return Err(AuditError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let broken = |line: usize, message: String| AuditError::Broken {
        path: path.display().to_string(),
        line,
        message,
    };
    let mut prev = GENESIS.to_string();
    let mut head = None;
    let mut count = 0;
    if bytes.is_empty() {
        return Ok(Verified {
            entries: 0,
            head: None,
        });
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    for (index, raw) in body.split(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        if raw.is_empty() {
            return Err(broken(number, "empty line".into()));
        }
        let line =
            std::str::from_utf8(raw).map_err(|_| broken(number, "not valid UTF-8".into()))?;
        let Some(hash) = hash_of_line(line) else {
            return Err(broken(
                number,
                "hash does not match the line's content".into(),
            ));
        };
        let entry: AuditEntry = serde_json::from_str(line)
            .map_err(|e| broken(number, format!("not an audit entry: {e}")))?;
        if entry.prev != prev {
            return Err(broken(
                number,
                format!(
                    "prev {} does not chain to the hash of line {} ({})",
                    short(&entry.prev),
                    number.saturating_sub(1),
                    short(&prev)
                ),
            ));
        }
        if entry.seq != count as u64 + 1 {
            return Err(broken(
                number,
                format!("seq {} where {} was expected", entry.seq, count + 1),
            ));
        }
        prev = hash.clone();
        count += 1;
        head = Some(AuditHead {
            seq: entry.seq,
            hash,
        });
    }
    // An entry exists once its line and its newline are synced (`append`).
    // A last line without its newline is a write cut short, even when its
    // JSON happens to be whole: `open` cuts it, so it must not count here,
    // or this head would name an entry the next agent start removes.
    if !bytes.ends_with(b"\n") {
        return Err(broken(
            count,
            "no newline at the end: a write cut short (the agent cuts it when it starts)".into(),
        ));
    }
    Ok(Verified {
        entries: count,
        head,
    })
}

/// The entry with sequence number `seq` (line `seq` of a sound log).
pub fn entry_at(path: &Path, seq: u64) -> Option<AuditEntry> {
    let text = fs::read_to_string(path).ok()?;
    let index = usize::try_from(seq.checked_sub(1)?).ok()?;
    let entry: AuditEntry = serde_json::from_str(text.lines().nth(index)?).ok()?;
    (entry.seq == seq).then_some(entry)
}

/// The last drill the log records (its `drill.done` entry, which carries
/// the verdict and timings), for status after a restart.
pub fn last_drill(path: &Path) -> Option<crate::wire::drill::DrillView> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .filter(|l| l.contains("\"drill.done\""))
        .filter_map(|l| serde_json::from_str::<AuditEntry>(l).ok())
        .find(|e| e.kind == crate::pipeline::AuditKind::DrillDone)
        .and_then(|e| serde_json::from_value(e.detail?).ok())
}

/// Every entry after `seq`, in order: what recovery replays.
pub fn entries_after(path: &Path, seq: u64) -> Vec<AuditEntry> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let skip = usize::try_from(seq).unwrap_or(usize::MAX);
    text.lines()
        .skip(skip)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The last `n` parseable entries of the file. Read from the end, so a
/// session's greeting costs the same on a log of years as on a new one.
pub fn tail(path: &Path, n: usize) -> Vec<AuditEntry> {
    use std::io::{Read, Seek, SeekFrom};
    const BLOCK: u64 = 64 * 1024;
    let Ok(mut file) = fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    // Grow a window back from the end until it holds n whole lines (the
    // newline before the first of them included) or the whole file.
    let mut start = len;
    let mut window: Vec<u8> = Vec::new();
    let mut newlines = 0;
    while start > 0 && newlines <= n {
        let from = start.saturating_sub(BLOCK);
        let mut block = vec![0u8; (start - from) as usize];
        if file.seek(SeekFrom::Start(from)).is_err() || file.read_exact(&mut block).is_err() {
            return Vec::new();
        }
        newlines += block.iter().filter(|b| **b == b'\n').count();
        block.extend_from_slice(&window);
        window = block;
        start = from;
    }
    let text = String::from_utf8_lossy(&window);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line of the window may be cut.
        lines.remove(0);
    }
    let first = lines.len().saturating_sub(n);
    lines[first..]
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: "2026-11-24T12:00:00Z".into(),
            host: "lab-1".into(),
            kind: crate::pipeline::AuditKind::parse(kind),
            state: "idle".into(),
            actor: None,
            reason: Some("why \"quoted\" \u{1b}[2J".into()),
            deploy_id: None,
            release: None,
            message: "m".into(),
            detail: None,
            event: None,
            prev: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn chain_verifies_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        let first = log.append(entry("a")).unwrap();
        assert_eq!(first.prev, GENESIS);
        drop(log);
        let mut log = AuditLog::open(&path).unwrap();
        let second = log.append(entry("b")).unwrap();
        assert_eq!(second.prev, first.hash);
        assert_eq!(second.seq, 2);
        let v = verify(&path).unwrap();
        assert_eq!(v.entries, 2);
        assert_eq!(v.head.unwrap().hash, second.hash);
        assert_eq!(log.tail(1)[0].kind, "b");
    }

    #[test]
    fn tail_reads_whole_entries_back_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        // Enough entries that the tail spans several 64 KiB blocks.
        for i in 0..3000 {
            log.append(entry(&format!("kind-{i}"))).unwrap();
        }
        let kinds = |n: usize| -> Vec<String> {
            tail(&path, n)
                .into_iter()
                .map(|e| e.kind.to_string())
                .collect()
        };
        assert_eq!(kinds(2), ["kind-2998", "kind-2999"]);
        let last_1000 = kinds(1000);
        assert_eq!(last_1000.len(), 1000);
        assert_eq!(last_1000[0], "kind-2000");
        assert_eq!(kinds(10_000).len(), 3000);
        assert!(kinds(0).is_empty());
        assert!(tail(&dir.path().join("absent"), 5).is_empty());
    }

    #[test]
    fn one_changed_byte_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for k in ["a", "b", "c"] {
            log.append(entry(k)).unwrap();
        }
        let mut bytes = fs::read(&path).unwrap();
        let second_line = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
        let at = second_line
            + bytes[second_line..]
                .windows(3)
                .position(|w| w == b"\"m\"")
                .unwrap()
            + 1;
        bytes[at] = b'n';
        fs::write(&path, &bytes).unwrap();
        let e = verify(&path).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        // A deleted line breaks the next one's prev.
        let text = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(1);
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        let e = verify(&path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("prev"), "{e}");
    }

    /// Found by tests/audit_tamper.rs: a log cut one byte short (only the
    /// last newline gone) verified with the full head, yet `open` cuts that
    /// last entry; verify now refuses it, naming its line.
    #[test]
    fn regression_cut_before_last_newline_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for k in ["a", "b"] {
            log.append(entry(k)).unwrap();
        }
        drop(log);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let e = verify(&path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("no newline"), "{e}");
        // The agent agrees: it cuts that line and keeps one entry.
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.head().unwrap().seq, 1);
        assert_eq!(verify(&path).unwrap().entries, 1);
    }

    #[test]
    fn partial_last_line_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        log.append(entry("a")).unwrap();
        drop(log);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"seq\":2,\"at");
        fs::write(&path, &bytes).unwrap();
        let mut log = AuditLog::open(&path).unwrap();
        assert_eq!(log.append(entry("b")).unwrap().seq, 2);
        assert_eq!(verify(&path).unwrap().entries, 2);
    }
}

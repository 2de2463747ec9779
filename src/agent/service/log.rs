//! service.log of the `command` kind, kept to a size: the service writes
//! to it directly (O_APPEND, so it needs no agent to keep running), and
//! the agent cuts it back when a sample finds it over `max_bytes`.
//!
//! A cut moves the file's oldest whole blocks to service.log.1 (the older
//! ones shift to .2 … .`keep`, the last falls off) and removes them from
//! the front of service.log in place (`FALLOC_FL_COLLAPSE_RANGE`), so no
//! line the service writes meanwhile is lost and its file descriptor stays
//! good. Where the file system cannot collapse a range (tmpfs, NFS), the
//! cut copies and truncates, which can lose what is written in the few
//! microseconds between the two.
//!
//! Readers name positions in the log's whole history (bytes ever written
//! since the agent started, [`ServiceLog::mark`]); [`LogReader`] turns
//! them into positions in service.log or, for bytes cut away since, in
//! service.log.1, so the smoke deploy follows a cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::agent::config::LogLimits;

/// service.log and its cut-off files.
#[derive(Debug, Clone)]
pub struct ServiceLog {
    path: PathBuf,
    limits: LogLimits,
    /// Bytes removed from the front of service.log since the agent started
    /// (shared with readers, which run in their own tasks).
    removed: Arc<AtomicU64>,
    /// Odd while a cut is under way; each cut adds 2.
    cuts: Arc<AtomicU64>,
}

impl ServiceLog {
    pub fn new(state_dir: &Path, limits: LogLimits) -> Self {
        Self {
            path: state_dir.join("service.log"),
            limits,
            removed: Arc::new(AtomicU64::new(0)),
            cuts: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens service.log for a new process to append to.
    pub fn open_for_service(&self) -> io::Result<File> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        // A service may print its secrets: only the agent's user reads.
        log.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(log)
    }

    /// Where the log ends now, in the log's whole history: what is written
    /// after it is the next run's.
    pub fn mark(&self) -> u64 {
        let len = fs::metadata(&self.path).map_or(0, |m| m.len());
        self.removed.load(Ordering::SeqCst) + len
    }

    /// A reader of everything written from `mark` on.
    pub fn reader(&self, mark: u64) -> LogReader {
        self.reader_bounded(mark, u64::MAX)
    }

    /// A reader that reads at most `per_call` bytes each time it is asked
    /// (the rest waits for the next call): a client's follow never holds a
    /// burst of the log in memory at once.
    pub fn reader_bounded(&self, mark: u64, per_call: u64) -> LogReader {
        LogReader {
            log: self.clone(),
            at: mark,
            per_call,
            pending: String::new(),
        }
    }

    /// The last `n` whole lines (service.log, and service.log.1 when it
    /// holds too few), and the mark they end at: a reader from it goes on
    /// with the next line. At most `max_bytes` are read from each file.
    pub fn last_lines(&self, n: usize, max_bytes: u64) -> (Vec<String>, u64) {
        let removed = self.removed.load(Ordering::SeqCst);
        let len = fs::metadata(&self.path).map_or(0, |m| m.len());
        let mark = removed + len;
        let (mut bytes, mut cut_front) = tail_of(&self.path, len, max_bytes);
        // A cut moves whole blocks, not whole lines: the first line of
        // service.log may begin in service.log.1, so the bytes are joined
        // before they are split.
        if !cut_front && bytes.iter().filter(|b| **b == b'\n').count() < n {
            let older_len = fs::metadata(self.numbered(1)).map_or(0, |m| m.len());
            let (mut older, older_cut) = tail_of(&self.numbered(1), older_len, max_bytes);
            older.append(&mut bytes);
            (bytes, cut_front) = (older, older_cut);
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        if cut_front && !lines.is_empty() {
            lines.remove(0);
        }
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
        (lines, mark)
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Cuts service.log back if it is over its limit; the bytes moved, if
    /// any were.
    pub fn cut_if_over(&self) -> io::Result<Option<u64>> {
        // A stat on every sample; the file is opened only to cut it.
        if fs::metadata(&self.path).map_or(true, |m| m.len() <= self.limits.max_bytes) {
            return Ok(None);
        }
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if meta.len() <= self.limits.max_bytes {
            return Ok(None);
        }
        self.cuts.fetch_add(1, Ordering::SeqCst);
        let cut = self.cut(&mut file, &meta);
        self.cuts.fetch_add(1, Ordering::SeqCst);
        cut.map(Some)
    }

    fn cut(&self, file: &mut File, meta: &fs::Metadata) -> io::Result<u64> {
        for n in (1..self.limits.keep).rev() {
            match fs::rename(self.numbered(n), self.numbered(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let block = meta.blksize().max(1);
        // A collapse takes whole blocks and must leave at least one byte.
        let whole = (meta.len() - 1) / block * block;
        let moved = if whole > 0 && self.move_front(file, whole, true)? {
            whole
        } else {
            // Copy and truncate: what was written up to the truncate goes.
            let len = file.metadata()?.len();
            self.move_front(file, len, false)?;
            len
        };
        self.removed.fetch_add(moved, Ordering::SeqCst);
        Ok(moved)
    }

    /// Copies the first `len` bytes to service.log.1, then removes them:
    /// by collapsing the range (false when the file system cannot, and
    /// nothing was changed) or by truncating.
    fn move_front(&self, file: &mut File, len: u64, collapse: bool) -> io::Result<bool> {
        let first = self.numbered(1);
        let mut out = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&first)?;
        file.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut (&mut *file).take(len), &mut out)?;
        out.flush()?;
        if copied < len {
            return Err(io::Error::other("service.log shrank while it was cut"));
        }
        if !collapse {
            file.set_len(0)?;
            return Ok(true);
        }
        let len = libc::off_t::try_from(len).map_err(io::Error::other)?;
        // SAFETY: a valid open descriptor; the range is checked by the kernel.
        let rc =
            unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_COLLAPSE_RANGE, 0, len) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => {
                // Not here: service.log.1 is rewritten by the fallback.
                Ok(false)
            }
            _ => Err(err),
        }
    }
}

/// The last `max_bytes` of the first `len` bytes of `path`, and whether
/// that window begins after the file's start (mid-line, perhaps).
fn tail_of(path: &Path, len: u64, max_bytes: u64) -> (Vec<u8>, bool) {
    let start = len.saturating_sub(max_bytes);
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(start)).is_ok()
        && file.take(len - start).read_to_end(&mut bytes).is_err()
    {
        bytes.clear();
    }
    (bytes, start > 0)
}

/// Whole lines from a position in the log's history on, across cuts.
pub struct LogReader {
    log: ServiceLog,
    at: u64,
    /// The most bytes one call reads.
    per_call: u64,
    /// A line not yet ended by its newline.
    pending: String,
}

impl LogReader {
    /// The whole lines written since the last call.
    pub fn fresh(&mut self) -> Vec<String> {
        // A cut runs on the agent's loop while this reads in its own task:
        // a read that a cut overlapped is dropped and asked again next time.
        let before = self.log.cuts.load(Ordering::SeqCst);
        if before % 2 == 1 {
            return Vec::new();
        }
        let removed = self.log.removed.load(Ordering::SeqCst);
        let mut chunk = Vec::new();
        let mut at = self.at;
        if at < removed {
            // Cut away since the last read: the tail of service.log.1 holds
            // them, if only one cut came between (the limit is far above
            // what a smoke deploy logs between two reads).
            let behind = removed - at;
            // Bytes of history [removed - available, removed) are the tail
            // of service.log.1; older ones (two cuts between reads) are gone.
            let mut available = 0;
            if let Ok(mut older) = File::open(self.log.numbered(1))
                && let Ok(len) = older.metadata().map(|m| m.len())
            {
                available = behind.min(len);
                if older.seek(SeekFrom::Start(len - available)).is_ok() {
                    let _ = older
                        .take(available.min(self.per_call))
                        .read_to_end(&mut chunk);
                }
            }
            at = removed - available + (chunk.len() as u64).min(available);
        }
        let room = self.per_call.saturating_sub(chunk.len() as u64);
        if room > 0
            && at >= removed
            && let Ok(mut file) = File::open(&self.log.path)
            && file.seek(SeekFrom::Start(at - removed)).is_ok()
        {
            let mut current = Vec::new();
            if let Ok(n) = file.take(room).read_to_end(&mut current) {
                at += n as u64;
                chunk.extend_from_slice(&current);
            }
        }
        if self.log.cuts.load(Ordering::SeqCst) != before {
            return Vec::new();
        }
        self.at = at;
        self.pending.push_str(&String::from_utf8_lossy(&chunk));
        let mut lines = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            lines.push(line.trim_end().to_string());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_in(dir: &Path, max_bytes: u64, keep: u32) -> ServiceLog {
        ServiceLog::new(dir, LogLimits { max_bytes, keep })
    }

    fn line(n: usize) -> String {
        format!("line {n:06} {}\n", "x".repeat(90))
    }

    #[test]
    fn a_cut_keeps_every_line_and_the_writer_writes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), 64_000, 3);
        // The service's own descriptor, held across the cut.
        let mut service = log.open_for_service().unwrap();
        let mut written = String::new();
        for n in 0..1_000 {
            written.push_str(&line(n));
            service.write_all(line(n).as_bytes()).unwrap();
        }
        let moved = log.cut_if_over().unwrap().expect("over its limit: cut");
        // Every whole block goes; the last, partial one stays.
        assert!(
            moved <= written.len() as u64 && moved + 65_536 > written.len() as u64,
            "{moved}"
        );
        for n in 1_000..1_100 {
            written.push_str(&line(n));
            service.write_all(line(n).as_bytes()).unwrap();
        }
        let kept = fs::read_to_string(log.numbered(1)).unwrap();
        let now = fs::read_to_string(log.path()).unwrap();
        assert!(now.len() < 64_000, "cut back: {}", now.len());
        assert_eq!(kept + &now, written, "nothing lost, nothing doubled");
        assert_eq!(log.cut_if_over().unwrap(), None, "under its limit now");
    }

    #[test]
    fn keep_bounds_the_cut_off_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), 64_000, 2);
        let mut service = log.open_for_service().unwrap();
        for round in 0..4 {
            for n in 0..800 {
                service
                    .write_all(line(round * 1_000 + n).as_bytes())
                    .unwrap();
            }
            assert!(log.cut_if_over().unwrap().is_some(), "round {round}");
        }
        assert!(log.numbered(1).exists() && log.numbered(2).exists());
        assert!(!log.numbered(3).exists(), "only `keep` files stay");
        let newest = fs::read_to_string(log.numbered(1)).unwrap();
        assert!(newest.contains("line 003"), "the newest cut is .1");
    }

    #[test]
    fn a_reader_follows_a_cut_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), 64_000, 2);
        let mut service = log.open_for_service().unwrap();
        service.write_all(b"before the run\n").unwrap();
        let mut reader = log.reader(log.mark());
        let mut seen = Vec::new();
        for n in 0..300 {
            service.write_all(line(n).as_bytes()).unwrap();
        }
        seen.extend(reader.fresh());
        for n in 300..1_000 {
            service.write_all(line(n).as_bytes()).unwrap();
        }
        log.cut_if_over().unwrap().expect("cut");
        service.write_all(b"partial").unwrap();
        seen.extend(reader.fresh());
        service.write_all(b" line\n").unwrap();
        seen.extend(reader.fresh());
        let mut expected: Vec<String> =
            (0..1_000).map(|n| line(n).trim_end().to_string()).collect();
        expected.push("partial line".into());
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_last_lines_reach_into_the_cut_off_file_and_a_reader_goes_on_from_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), 64_000, 2);
        let mut service = log.open_for_service().unwrap();
        for n in 0..1_000 {
            service.write_all(line(n).as_bytes()).unwrap();
        }
        log.cut_if_over().unwrap().expect("cut");
        let (last, mark) = log.last_lines(900, 1 << 20);
        let expected: Vec<String> = (100..1_000)
            .map(|n| line(n).trim_end().to_string())
            .collect();
        assert_eq!(last, expected, "the newest 900, across the cut");
        let (few, _) = log.last_lines(2, 1 << 20);
        assert_eq!(few, expected[898..]);
        service.write_all(b"next\n").unwrap();
        assert_eq!(log.reader(mark).fresh(), vec!["next".to_string()]);
    }

    #[test]
    fn a_bounded_reader_reads_a_burst_over_several_calls_losing_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), 64_000, 2);
        let mut service = log.open_for_service().unwrap();
        let mut reader = log.reader_bounded(log.mark(), 10_000);
        for n in 0..1_000 {
            service.write_all(line(n).as_bytes()).unwrap();
        }
        log.cut_if_over().unwrap().expect("cut");
        let mut seen = Vec::new();
        let mut calls = 0;
        while seen.len() < 1_000 && calls < 100 {
            let fresh = reader.fresh();
            assert!(fresh.len() <= 10_000 / 100 + 1, "bounded: {}", fresh.len());
            seen.extend(fresh);
            calls += 1;
        }
        let expected: Vec<String> = (0..1_000).map(|n| line(n).trim_end().to_string()).collect();
        assert_eq!(seen, expected);
        assert!(calls > 10, "took several calls: {calls}");
    }

    #[test]
    fn where_a_range_cannot_collapse_it_copies_and_truncates() {
        // tmpfs has no FALLOC_FL_COLLAPSE_RANGE.
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            eprintln!("skipped: no /dev/shm to try the copy-and-truncate cut on");
            return;
        };
        let log = log_in(dir.path(), 64_000, 2);
        let mut service = log.open_for_service().unwrap();
        let mut written = String::new();
        for n in 0..1_000 {
            written.push_str(&line(n));
            service.write_all(line(n).as_bytes()).unwrap();
        }
        assert_eq!(log.cut_if_over().unwrap(), Some(written.len() as u64));
        service.write_all(b"after\n").unwrap();
        assert_eq!(fs::read_to_string(log.numbered(1)).unwrap(), written);
        // O_APPEND: the writer goes on at the new end, with no hole.
        assert_eq!(fs::read_to_string(log.path()).unwrap(), "after\n");
    }
}

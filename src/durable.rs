//! Durable, atomic file updates: the only way the agent changes its state dir.
//!
//! Ours on purpose: `tempfile::NamedTempFile::persist` renames without
//! syncing, and `ln -sfn` unlinks then creates, so a crash can leave no link
//! at all. Every change here is temp → fsync → rename → fsync(dir): after a
//! crash the path holds either the old content or the new, never a torn or
//! missing file, and once the call returns the change survives power loss.
//!
//! Modes are exact, whatever the umask: a file is created with its mode and
//! then `fchmod`ed to it, before any byte is written, so a secret is never
//! readable by anyone the mode does not name. An append that fails is cut
//! back, so a full disk never leaves half a line for the next one to land on.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, 0o644)
}

/// As [`write_atomic`], the file's mode exactly `mode`.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_of(path);
    let temp = temp_name(path);
    let result = (|| {
        let mut file = create_exact(&temp, mode)?;
        crate::faults::disk_full()?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes a new file that must not exist yet (an immutable release), durably.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_of(path);
    let temp = temp_name(path);
    let result = (|| {
        let mut file = create_exact(&temp, mode)?;
        crate::faults::disk_full()?;
        file.write_all(bytes)?;
        file.sync_all()?;
        // hard_link fails if `path` exists, so a release is never overwritten.
        fs::hard_link(&temp, path)?;
        fs::remove_file(&temp)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Points the symlink `link` at `target`, replacing any old link atomically:
/// a new link under a temporary name is renamed over the old one.
pub fn symlink_atomic(target: &Path, link: &Path) -> io::Result<()> {
    let dir = parent_of(link);
    let temp = temp_name(link);
    let result = (|| {
        crate::faults::disk_full()?;
        std::os::unix::fs::symlink(target, &temp)?;
        fs::rename(&temp, link)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Removes `path` if present and syncs its directory.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(&parent_of(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `path` (which must not exist) with exactly `mode`.
fn create_exact(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    set_mode(&file, mode)?;
    Ok(file)
}

fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// An append-only file whose every append is on disk before it returns.
pub struct AppendLog {
    file: File,
    /// Bytes known to be whole lines; anything past it is a failed append.
    len: u64,
}

impl AppendLog {
    /// Opens (creating if needed) `path` for appending with exactly `mode`,
    /// syncing the directory when the file is new so its name is durable.
    pub fn open(path: &Path, mode: u32) -> io::Result<Self> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(mode)
            .open(path)?;
        set_mode(&file, mode)?;
        if !existed {
            file.sync_all()?;
            sync_dir(&parent_of(path))?;
        }
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }

    /// Appends `line` plus a newline in one write, then fdatasync. On
    /// failure the file is cut back to where it was: the line does not
    /// exist, and the next append starts on a clean line.
    pub fn append_line(&mut self, line: &str) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let written = self.repair().and_then(|()| {
            if let Err(full) = crate::faults::disk_full() {
                let _ = self.file.write_all(&buf[..buf.len() / 2]);
                return Err(full);
            }
            self.file.write_all(&buf)?;
            self.file.sync_data()
        });
        match written {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.sync_data();
                Err(e)
            }
        }
    }

    /// Cuts a tail left by an append that failed (and whose cut failed).
    fn repair(&mut self) -> io::Result<()> {
        if self.file.metadata()?.len() != self.len {
            self.file.set_len(self.len)?;
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// fsync on a directory makes renames and new names in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A sibling name unique to this process and call, so two writers (or a
/// leftover from a crash) never collide.
fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(path).join(format!(".{name}.tmp.{}.{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_new_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.env");
        create_new(&path, b"A=1\n", 0o444).unwrap();
        assert!(create_new(&path, b"A=2\n", 0o444).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"A=1\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn symlink_swap_replaces_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("current.env");
        symlink_atomic(Path::new("releases/a.env"), &link).unwrap();
        symlink_atomic(Path::new("releases/b.env"), &link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("releases/b.env"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn append_log_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AppendLog::open(&path, 0o640).unwrap();
        log.append_line("{\"a\":1}").unwrap();
        drop(log);
        let mut log = AppendLog::open(&path, 0o640).unwrap();
        log.append_line("{\"a\":2}").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }
}

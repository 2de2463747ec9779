//! One agent per state dir: `agent.lock`, and naming who holds it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;

use crate::exit::{Code, Exit};

/// One agent per state dir: an exclusive lock on agent.lock (0600, so no
/// other user can take it to keep the agent from starting), holding the pid
/// of the agent that has it.
pub(super) fn take_lock(path: &PathBuf) -> anyhow::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            let owner = std::fs::metadata(path)
                .map(|m| format!(" (owned by uid {})", m.uid()))
                .unwrap_or_default();
            Exit::new(
                Code::Refused,
                format!("cannot open the lock {}{owner}: {e}", path.display()),
            )
        })?;
    match file.try_lock() {
        Ok(()) => {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_all()?;
            Ok(file)
        }
        Err(_) => {
            let mut recorded = String::new();
            let _ = file.read_to_string(&mut recorded);
            let inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
            let holder = match lock_holder(inode) {
                Some(pid) if pid.to_string() == recorded.trim() => {
                    format!("another agent (pid {pid}{})", command_of(pid))
                }
                Some(pid) => format!(
                    "a process that is not the agent recorded there (pid {pid}{}; the file names pid {})",
                    command_of(pid),
                    recorded.trim()
                ),
                None => format!("another process (the file names pid {})", recorded.trim()),
            };
            Err(Exit::new(
                Code::Refused,
                format!("{holder} holds {}; one agent per state dir", path.display()),
            )
            .into())
        }
    }
}

/// The pid holding a lock on inode `inode`, from /proc/locks.
pub(super) fn lock_holder(inode: u64) -> Option<u32> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let pid = fields.get(4)?.parse().ok()?;
        let file_inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
        (file_inode == inode).then_some(pid)
    })
}

pub(super) fn command_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| {
            let text = String::from_utf8_lossy(&b).replace('\0', " ");
            format!(", `{}`", crate::text::inert(text.trim()))
        })
        .unwrap_or_default()
}

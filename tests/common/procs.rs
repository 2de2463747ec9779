//! "Nothing left running", made checkable: the processes below a pid, and
//! the processes that live in (or name) a directory, read from /proc. A
//! process is remembered with its start time so that a recycled pid is not
//! mistaken for a survivor.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub start: u64,
    pub zombie: bool,
    pub cmdline: String,
}

/// Every process on the machine we can read.
pub fn all() -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Some(p) = read(pid) {
            out.push(p);
        }
    }
    out
}

pub fn read(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // state is field 3 of stat, ppid 4, starttime 22 (1-based, man 5 proc).
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        zombie: matches!(*fields.first()?, "Z" | "X"),
        cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
    })
}

/// The living processes whose chain of parents reaches `root`.
pub fn descendants(root: i32) -> Vec<Proc> {
    let all = all();
    let mut found = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            parents.push(p.pid);
            if !p.zombie {
                found.push(p.clone());
            }
        }
    }
    found
}

/// Whether this very process (same pid, same start) is still alive.
pub fn survives(p: &Proc) -> bool {
    read(p.pid).is_some_and(|now| now.start == p.start && !now.zombie)
}

/// Living processes whose working directory is under `dir` or whose
/// command line names it: a sim runs in its host's state dir, an agent and
/// `gantry attach` name their config in it.
pub fn in_dir(dir: &Path) -> Vec<Proc> {
    let needle = dir.display().to_string();
    all()
        .into_iter()
        .filter(|p| !p.zombie && p.pid != std::process::id() as i32)
        .filter(|p| {
            p.cmdline.contains(&needle)
                || std::fs::read_link(format!("/proc/{}/cwd", p.pid))
                    .is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}

/// Waits up to `timeout` for all of `procs` to be gone, for nothing to run
/// in `dir`, and for `dir` itself to be removed; panics naming what is left.
pub fn assert_all_gone(procs: &[Proc], dir: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<&Proc> = procs.iter().filter(|p| survives(p)).collect();
        let in_dir = in_dir(dir);
        if left.is_empty() && in_dir.is_empty() && !dir.exists() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {timeout:?}: still running {left:#?}\nrunning in {}: {in_dir:#?}\ndir exists: {}",
            dir.display(),
            dir.exists()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILLs what a failed test left behind, so one failure does not leak
/// into the next run.
pub fn kill_all(procs: &[Proc]) {
    for p in procs.iter().filter(|p| survives(p)) {
        // SAFETY: kill(2) on a process this test started, checked alive
        // with the same start time just above.
        unsafe {
            libc::kill(p.pid, libc::SIGKILL);
        }
    }
}

/// The state dir (`…/gantry-fleet-XXXX` or `…/gantry-demo-XXXX`) an agent
/// below `root` names in its `--config`.
pub fn demo_dir(root: i32) -> Option<std::path::PathBuf> {
    descendants(root).iter().find_map(|p| {
        let config = p.cmdline.split(' ').find(|w| w.ends_with("gantry.toml"))?;
        Path::new(config)
            .ancestors()
            .find(|a| {
                a.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with("gantry-fleet-") || n.starts_with("gantry-demo-")
                })
            })
            .map(Path::to_path_buf)
    })
}

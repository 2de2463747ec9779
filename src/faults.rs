//! Named crash points, for the crash-point suite (docs/reliability.md).
//!
//! A crash point is a place where one durable change (an audit line, a
//! state save, a link swap, a service start or stop) has happened and the
//! next has not. `GANTRY_CRASH_AT=NAME:N` makes the process SIGKILL itself
//! the Nth time it reaches point NAME, as SQLite's crash tests and
//! FoundationDB's simulation do; nothing else changes. Unset (always, in
//! production), a point costs one relaxed atomic load.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::OnceLock;

/// Every point of the agent, so its suite can enumerate them.
pub const AGENT_POINTS: &[&str] = &[
    "audit.appended",
    "state.saved",
    "release.stored",
    "link.swapped",
    "stage.written",
    "service.stopped",
    "service.spawned",
    "kill.started",
];

/// The points of `ctl rollout` (tests/rollout_crash.rs).
pub const ROLLOUT_POINTS: &[&str] = &[
    "rollout.submitted",
    "rollout.failed",
    "rollout.rolled-back-one",
    "rollout.rolled-back-all",
];

struct Plan {
    name: String,
    nth: u64,
    hits: Mutex<HashMap<&'static str, u64>>,
}

fn plan() -> Option<&'static Plan> {
    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let spec = std::env::var("GANTRY_CRASH_AT").ok()?;
        let (name, nth) = spec.split_once(':').unwrap_or((spec.as_str(), "1"));
        Some(Plan {
            name: name.to_string(),
            nth: nth.parse().ok()?,
            hits: Mutex::new(HashMap::new()),
        })
    })
    .as_ref()
}

/// Passes point `name`; dies here if the plan says so.
pub fn point(name: &'static str) {
    debug_assert!(
        AGENT_POINTS.contains(&name) || ROLLOUT_POINTS.contains(&name),
        "unnamed crash point {name}"
    );
    let Some(plan) = plan() else { return };
    if plan.name != name {
        return;
    }
    let hit = {
        let mut hits = plan.hits.lock().unwrap_or_else(|e| e.into_inner());
        let n = hits.entry(name).or_insert(0);
        *n += 1;
        *n
    };
    if hit == plan.nth {
        eprintln!("gantry: crash point {name} #{hit} reached (GANTRY_CRASH_AT)");
        // SAFETY: kill(2) on our own pid; SIGKILL is what a crash looks like
        // to everything outside: no destructor, no flush, no unwinding.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// `GANTRY_DISK_FULL_AT=N`: from the Nth durable write on, every write
/// fails with ENOSPC, as on a disk that filled up and stays full. An append
/// that fails this way first writes half its line, as a short write does.
pub fn disk_full() -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static FROM: OnceLock<Option<u64>> = OnceLock::new();
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let Some(from) = *FROM.get_or_init(|| {
        std::env::var("GANTRY_DISK_FULL_AT")
            .ok()
            .and_then(|n| n.parse().ok())
    }) else {
        return Ok(());
    };
    if WRITES.fetch_add(1, Ordering::Relaxed) + 1 >= from {
        Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
    } else {
        Ok(())
    }
}

//! The smoke deploy's watcher: reads the service log from where the smoke
//! started, expects the configured startup phases in order, refuses any
//! forbidden line, then checks the process (running, release, started
//! after the smoke began). No retries: the first failure is the answer,
//! named.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::config::SmokeConfig;

/// How long the log is still watched after the last startup phase.
const SETTLE: Duration = Duration::from_millis(1000);

/// What the watcher reports back to the agent's loop.
#[derive(Debug)]
pub struct SmokeResult {
    pub passed: bool,
    pub detail: String,
}

pub struct Watch {
    pub log: PathBuf,
    pub offset: u64,
    pub pid: Option<u32>,
    pub release: String,
    pub config: SmokeConfig,
}

/// Follows the log until every phase was seen, a forbidden line appears,
/// the process dies, or the timeout passes.
pub async fn watch(w: Watch) -> SmokeResult {
    let fail = |detail: String| SmokeResult {
        passed: false,
        detail,
    };
    let Some(pid) = w.pid else {
        return fail("running: the service did not start".into());
    };
    let started = Instant::now();
    let deadline = started + Duration::from_millis(w.config.timeout_ms);
    let mut offset = w.offset;
    let mut pending = String::new();
    let mut next_phase = 0;
    // After the last phase, the log is watched a little longer: a service
    // that starts trading right after idle must not pass.
    let mut settled_at: Option<Instant> = None;
    loop {
        let mut chunk = Vec::new();
        if let Ok(mut file) = std::fs::File::open(&w.log)
            && file.seek(SeekFrom::Start(offset)).is_ok()
            && let Ok(n) = file.read_to_end(&mut chunk)
        {
            offset += n as u64;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end();
            if let Some((pattern, _)) = w.config.forbidden.iter().find(|(_, re)| re.is_match(line))
            {
                return fail(format!(
                    "forbidden line (matches {pattern:?}): {}",
                    crate::text::inert(line)
                ));
            }
            if let Some((_, re)) = w.config.phases.get(next_phase)
                && re.is_match(line)
            {
                next_phase += 1;
            }
        }
        if next_phase == w.config.phases.len() {
            let since = *settled_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        if !super::service::running(pid) {
            return fail(format!(
                "running: the service exited before phase {} ({:?})",
                next_phase + 1,
                w.config.phases[next_phase].0
            ));
        }
        if Instant::now() >= deadline {
            return fail(format!(
                "phase {} ({:?}) not reached within {:.1}s",
                next_phase + 1,
                w.config.phases[next_phase].0,
                w.config.timeout_ms as f64 / 1000.0
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every phase seen: the process must still run the release it was given.
    if !super::service::running(pid) {
        return fail("running: the service exited after its startup phases".into());
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let expected = format!("GANTRY_RELEASE={}", w.release);
    let release_ok = environ
        .split(|b| *b == 0)
        .any(|kv| kv == expected.as_bytes());
    if !release_ok {
        return fail(format!("release: pid {pid} does not run {}", w.release));
    }
    SmokeResult {
        passed: true,
        detail: format!(
            "{} phases in order, no forbidden line; running pid {pid}, release {}, started {:.1}s ago",
            w.config.phases.len(),
            w.release,
            started.elapsed().as_secs_f64()
        ),
    }
}

//! The smoke deploy's watcher: reads the service's log from where the
//! smoke started (service.log, the unit's journal or the container's
//! logs), expects the configured startup phases in order, refuses any
//! forbidden line, then checks the run (still running, the release, started after the smoke
//! began). No retries: the first failure is the answer, named.

use std::time::{Duration, Instant};

use super::config::SmokeConfig;
use super::service::Run;

/// How long the log is still watched after the last startup phase.
const SETTLE: Duration = Duration::from_millis(1000);

/// What the watcher reports back to the agent's loop.
#[derive(Debug)]
pub struct SmokeResult {
    pub passed: bool,
    pub detail: String,
}

pub struct Watch {
    /// The run the smoke's restart started; None if it did not start.
    pub run: Option<Run>,
    pub config: SmokeConfig,
}

/// Follows the log until every phase was seen, a forbidden line appears,
/// the service stops, or the timeout passes.
pub async fn watch(w: Watch) -> SmokeResult {
    let fail = |detail: String| SmokeResult {
        passed: false,
        detail,
    };
    let Some(run) = w.run else {
        return fail("running: the service did not start".into());
    };
    // A journal is read by running journalctl: asked less often than a file.
    let poll = match run {
        Run::Process { .. } => Duration::from_millis(20),
        Run::Unit { .. } | Run::Container { .. } => Duration::from_millis(50),
    };
    let started = Instant::now();
    let deadline = started + Duration::from_millis(w.config.timeout_ms);
    let mut lines = run.lines();
    let mut next_phase = 0;
    // After the last phase, the log is watched a little longer: a service
    // that starts trading right after idle must not pass.
    let mut settled_at: Option<Instant> = None;
    loop {
        for line in lines.fresh().await {
            if let Some((pattern, _)) = w.config.forbidden.iter().find(|(_, re)| re.is_match(&line))
            {
                return fail(format!(
                    "forbidden line (matches {pattern:?}): {}",
                    crate::text::inert(&line)
                ));
            }
            if let Some((_, re)) = w.config.phases.get(next_phase)
                && re.is_match(&line)
            {
                next_phase += 1;
            }
        }
        if next_phase == w.config.phases.len() {
            let since = *settled_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLE {
                break;
            }
            tokio::time::sleep(poll).await;
            continue;
        }
        if !run.running().await {
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
        tokio::time::sleep(poll).await;
    }
    // Every phase seen: the run must still serve the release it was given.
    if !run.running().await {
        return fail("running: the service exited after its startup phases".into());
    }
    match run.proof().await {
        Ok(what) => SmokeResult {
            passed: true,
            detail: format!(
                "{} phases in order, no forbidden line; {what}, started {:.1}s ago",
                w.config.phases.len(),
                started.elapsed().as_secs_f64()
            ),
        },
        Err(why) => fail(why),
    }
}

//! Timing a rollback or drill, from the breach to the known-good answering
//! healthy (the `timings` in a drill's reply, docs/benchmarks.md).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::pipeline::Phase;

/// Times one rollback (a real one or a drill) from the breach to the
/// known-good answering healthy.
#[derive(Default, Clone)]

pub(super) struct RollbackTimer {
    pub(super) breach: Option<Instant>,
    pub(super) decided: Option<Instant>,
    pub(super) swap: Option<Duration>,
    pub(super) restart: Option<Duration>,
    pub(super) restarted: Option<Instant>,
    pub(super) healthy: Option<Instant>,
}

impl RollbackTimer {
    pub(super) fn started(breach: Instant) -> Self {
        Self {
            breach: Some(breach),
            decided: Some(Instant::now()),
            ..Self::default()
        }
    }

    pub(super) fn report(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let between = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        json!({
            "detect_ms": ms(between(self.breach, self.decided)),
            "swap_ms": ms(self.swap),
            "restart_ms": ms(self.restart),
            "healthy_ms": ms(between(self.restarted, self.healthy)),
            "total_ms": ms(between(self.breach, self.healthy)),
        })
    }
}

pub(super) fn entered_rollback(before: &Phase, after: &Phase) -> bool {
    let rolling = |p: &Phase| matches!(p, Phase::RollingBack { .. } | Phase::Drilling { .. });
    rolling(after) && !rolling(before)
}

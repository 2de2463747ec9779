//! The last drill as clients see it: `status.last_drill`, kept by the
//! agent (and found again in its audit log when it starts), so a console
//! opened later still shows when the way back was last rehearsed, each
//! step's time and the verdict against the SLA.
//!
//! `{at, ok, message, timings: {detect_ms, swap_ms, restart_ms,
//! healthy_ms, total_ms}}`: `ok` is the agent's word (the known-good
//! answered healthy and the live release came back); a timing is null
//! when its step did not happen. The drill passes when `ok` and the
//! total is within [`SLA_MS`].

use serde::{Deserialize, Serialize};

/// The ADR's rollback SLA: from the breach to the known-good answering
/// healthy.
pub const SLA_MS: f64 = 60_000.0;
/// gantry's own target for the same (docs/benchmarks.md).
pub const TARGET_MS: f64 = 250.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillView {
    /// When the drill ended (RFC 3339).
    pub at: String,
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub timings: Option<DrillTimings>,
}

/// Each step of the rollback a drill rehearses, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillTimings {
    #[serde(default)]
    pub detect_ms: Option<f64>,
    #[serde(default)]
    pub swap_ms: Option<f64>,
    #[serde(default)]
    pub restart_ms: Option<f64>,
    #[serde(default)]
    pub healthy_ms: Option<f64>,
    #[serde(default)]
    pub total_ms: Option<f64>,
}

impl DrillView {
    /// Passed: the agent says it went back and forward, and the way back
    /// took no longer than the SLA.
    pub fn passed(&self) -> bool {
        self.ok && self.total_ms().is_some_and(|t| t <= SLA_MS)
    }

    fn total_ms(&self) -> Option<f64> {
        self.timings.as_ref().and_then(|t| t.total_ms)
    }

    /// `PASS 212ms (target 250ms, SLA 60s)`, `FAIL 75.0s OVER the 60s
    /// SLA`, `FAIL: <why>`: the verdict in a few words.
    pub fn verdict(&self) -> String {
        let Some(total) = self.total_ms() else {
            return if self.ok {
                "PASS (no timings)".into()
            } else {
                format!("FAIL: {}", self.message)
            };
        };
        let took = ms(total);
        match (self.ok, total) {
            (false, _) => format!("FAIL after {took}: {}", self.message),
            (true, t) if t <= TARGET_MS => format!("PASS {took} (target 250ms, SLA 60s)"),
            (true, t) if t <= SLA_MS => {
                format!("PASS {took}, within the 60s SLA, over the 250ms target")
            }
            (true, _) => format!("FAIL {took}, OVER the 60s SLA"),
        }
    }

    /// `detect 4ms · swap 2ms · restart 41ms · healthy 160ms · total
    /// 212ms / SLA 60s`.
    pub fn steps(&self) -> Option<String> {
        let t = self.timings.as_ref()?;
        let step = |name: &str, v: Option<f64>| format!("{name} {}", v.map_or("—".into(), ms));
        Some(format!(
            "{} · {} · {} · {} · {} / SLA 60s",
            step("detect", t.detect_ms),
            step("swap", t.swap_ms),
            step("restart", t.restart_ms),
            step("healthy", t.healthy_ms),
            step("total", t.total_ms)
        ))
    }
}

/// `212ms`, `1.25s`, `75.0s`.
fn ms(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0}ms")
    } else {
        format!("{:.2}s", v / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(ok: bool, total: Option<f64>) -> DrillView {
        DrillView {
            at: "2026-11-30T10:00:00.000Z".into(),
            ok,
            message: "drill passed".into(),
            timings: total.map(|t| DrillTimings {
                detect_ms: Some(4.0),
                swap_ms: Some(2.0),
                restart_ms: None,
                healthy_ms: Some(160.0),
                total_ms: Some(t),
            }),
        }
    }

    #[test]
    fn the_verdict_is_against_the_sla_and_the_agents_word() {
        assert!(drill(true, Some(212.0)).passed());
        assert_eq!(
            drill(true, Some(212.0)).verdict(),
            "PASS 212ms (target 250ms, SLA 60s)"
        );
        assert!(
            drill(true, Some(1250.0))
                .verdict()
                .contains("within the 60s SLA")
        );
        let slow = drill(true, Some(75_000.0));
        assert!(!slow.passed());
        assert_eq!(slow.verdict(), "FAIL 75.00s, OVER the 60s SLA");
        assert!(!drill(false, Some(100.0)).passed());
        assert!(!drill(true, None).passed());
        assert_eq!(
            drill(true, Some(212.0)).steps().as_deref(),
            Some("detect 4ms · swap 2ms · restart — · healthy 160ms · total 212ms / SLA 60s")
        );
        let back: DrillView =
            serde_json::from_str(&serde_json::to_string(&drill(true, Some(1.0))).unwrap()).unwrap();
        assert_eq!(back, drill(true, Some(1.0)));
    }
}

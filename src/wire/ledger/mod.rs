//! The risk ledger: what a host's own audit log proves about its deploys
//! over a window. `ctl report` (the `report` op), the agent's
//! `GET /api/v1/deploy/report`, its `/metrics` and the control room's `R`
//! view all show this one object.
//!
//! `compute` (compute.rs) is pure: parsed audit entries and alert lines in,
//! a [`Report`] out, for a window `[since, until]`. Durations keep their
//! samples, so a fleet's figures (`merge`) are computed from every host's
//! samples, never averaged from their medians. Percentiles are nearest-rank.

use serde::{Deserialize, Serialize};

mod compute;
#[cfg(test)]
mod tests;
pub mod text;

pub use compute::{AlertLine, compute};

/// The window a report covers when the client names none.
pub const DEFAULT_SINCE: &str = "30d";
/// The rollback SLA of the ADR: a drill that came back healthy within it
/// passes the SLA.
pub const SLA_MS: f64 = 60_000.0;

/// The reply to `report`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Report {
    /// The host, or `fleet` for a fleet's totals.
    pub host: String,
    /// The window's start (RFC 3339 UTC), or `null` for the whole log.
    #[serde(default)]
    pub since: Option<String>,
    /// When the report was computed.
    pub until: String,
    /// Audit entries read in the window.
    pub entries: u64,
    pub deploys: Deploys,
    /// Submit → `stage.live`, for deploys that reached live.
    pub lead_time: Durations,
    /// Rolled back or halted after reaching live, over deploys that reached
    /// live; `null` when none did.
    #[serde(default)]
    pub change_failure_rate: Option<f64>,
    /// A rollback's breach → the known-good answering healthy
    /// (`rollback.done`'s measured `total_ms`).
    pub recovery: Durations,
    /// Where the pipeline stopped a bad release.
    pub caught: Caught,
    pub approvals: Approvals,
    pub drills: Drills,
    pub alerts: Alerts,
}

/// Deploys submitted in the window, by how they ended.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Deploys {
    pub submitted: u64,
    /// Failed validation: nothing changed.
    pub rejected: u64,
    pub reached_live: u64,
    /// Rolled back (by a gate or a person), before or after live.
    pub rolled_back: u64,
    /// Halted (an emergency stop, or a failure with nowhere to go back to).
    pub halted: u64,
    /// Stopped: failed before live with no known-good to return to.
    pub stopped: u64,
    /// Of those that reached live, rolled back or halted afterwards.
    pub failed_after_live: u64,
    /// Neither live nor ended yet.
    pub in_flight: u64,
}

/// A set of durations in seconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Durations {
    pub count: u64,
    #[serde(default)]
    pub median_s: Option<f64>,
    #[serde(default)]
    pub p90_s: Option<f64>,
    #[serde(default)]
    pub max_s: Option<f64>,
    /// Every sample, oldest first (what a fleet's figures are made from).
    #[serde(default)]
    pub samples_s: Vec<f64>,
}

impl Durations {
    pub fn of(samples: Vec<f64>) -> Self {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| -> Option<f64> {
            let n = sorted.len();
            (n > 0).then(|| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        Self {
            count: samples.len() as u64,
            median_s: rank(0.5),
            p90_s: rank(0.9),
            max_s: sorted.last().copied(),
            samples_s: samples,
        }
    }
}

/// Gate failures by stage, and the two doors before any stage: the
/// validate command and the smoke deploy. The earlier a bad release is
/// caught, the less money it touched: the proof that soaks pay.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Caught {
    pub validate: u64,
    pub smoke: u64,
    pub shadow: u64,
    pub paper: u64,
    pub canary: u64,
    pub live: u64,
}

impl Caught {
    /// Stopped before live: the soaks' catch.
    pub fn before_live(&self) -> u64 {
        self.shadow + self.paper + self.canary
    }

    /// `(stage, count)` in the order a release meets them.
    pub fn by_stage(&self) -> [(&'static str, u64); 6] {
        [
            ("validate", self.validate),
            ("smoke", self.smoke),
            ("shadow", self.shadow),
            ("paper", self.paper),
            ("canary", self.canary),
            ("live", self.live),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Approvals {
    pub approved: u64,
    /// Pages for an approval waiting past `escalate_after_s`.
    pub escalated: u64,
    /// `stage.await` → `approve`.
    pub wait: Durations,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Drills {
    pub started: u64,
    /// Rolled back, came back healthy, rolled forward.
    pub passed: u64,
    /// The known-good did not answer healthy.
    pub failed: u64,
    /// Passed, and the way back took no longer than the SLA.
    pub within_sla: u64,
    pub sla_ms: f64,
    /// Each drill's breach → known-good healthy.
    pub timing: Durations,
    #[serde(default)]
    pub last_at: Option<String>,
}

/// Alerts raised (alerts.jsonl), by priority; `dropped` were not sent (a
/// full webhook queue).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Alerts {
    pub p0: u64,
    pub p1: u64,
    pub p2: u64,
    pub p3: u64,
    pub dropped: u64,
}

impl Alerts {
    pub fn by_priority(&self) -> [(&'static str, u64); 4] {
        [
            ("P0", self.p0),
            ("P1", self.p1),
            ("P2", self.p2),
            ("P3", self.p3),
        ]
    }
}

impl Report {
    /// A fleet's figures from its hosts' reports: counts summed, durations
    /// from every host's samples, the rate over the fleet's deploys.
    pub fn merge(host: &str, reports: &[Report]) -> Report {
        let durations = |pick: fn(&Report) -> &Durations| {
            Durations::of(
                reports
                    .iter()
                    .flat_map(|r| pick(r).samples_s.iter().copied())
                    .collect(),
            )
        };
        let sum = |pick: fn(&Report) -> u64| reports.iter().map(pick).sum::<u64>();
        let deploys = Deploys {
            submitted: sum(|r| r.deploys.submitted),
            rejected: sum(|r| r.deploys.rejected),
            reached_live: sum(|r| r.deploys.reached_live),
            rolled_back: sum(|r| r.deploys.rolled_back),
            halted: sum(|r| r.deploys.halted),
            stopped: sum(|r| r.deploys.stopped),
            failed_after_live: sum(|r| r.deploys.failed_after_live),
            in_flight: sum(|r| r.deploys.in_flight),
        };
        let latest =
            |pick: fn(&Report) -> Option<&String>| reports.iter().filter_map(pick).max().cloned();
        Report {
            host: host.to_string(),
            // One host read from the start of its log: so did the fleet.
            since: reports
                .iter()
                .map(|r| r.since.clone())
                .collect::<Option<Vec<_>>>()
                .and_then(|s| s.into_iter().min()),
            until: latest(|r| Some(&r.until)).unwrap_or_default(),
            entries: sum(|r| r.entries),
            change_failure_rate: rate(deploys.failed_after_live, deploys.reached_live),
            deploys,
            lead_time: durations(|r| &r.lead_time),
            recovery: durations(|r| &r.recovery),
            caught: Caught {
                validate: sum(|r| r.caught.validate),
                smoke: sum(|r| r.caught.smoke),
                shadow: sum(|r| r.caught.shadow),
                paper: sum(|r| r.caught.paper),
                canary: sum(|r| r.caught.canary),
                live: sum(|r| r.caught.live),
            },
            approvals: Approvals {
                approved: sum(|r| r.approvals.approved),
                escalated: sum(|r| r.approvals.escalated),
                wait: durations(|r| &r.approvals.wait),
            },
            drills: Drills {
                started: sum(|r| r.drills.started),
                passed: sum(|r| r.drills.passed),
                failed: sum(|r| r.drills.failed),
                within_sla: sum(|r| r.drills.within_sla),
                sla_ms: SLA_MS,
                timing: durations(|r| &r.drills.timing),
                last_at: latest(|r| r.drills.last_at.as_ref()),
            },
            alerts: Alerts {
                p0: sum(|r| r.alerts.p0),
                p1: sum(|r| r.alerts.p1),
                p2: sum(|r| r.alerts.p2),
                p3: sum(|r| r.alerts.p3),
                dropped: sum(|r| r.alerts.dropped),
            },
        }
    }
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// `30d`, `12h`, `90m`, `45s`, `2w`: a window's length; `all` (or `0`) is
/// the whole log (`None`).
pub fn parse_since(text: &str) -> Result<Option<chrono::Duration>, String> {
    let text = text.trim();
    if text == "all" || text == "0" {
        return Ok(None);
    }
    let bad = || {
        format!(
            "--since {text:?}: expected a number and a unit (s, m, h, d, w), e.g. 30d, or `all`"
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    // Ten years is more history than any audit log here holds.
    if n <= 0 || n.saturating_mul(seconds) > 10 * 366 * 86_400 {
        return Err(bad());
    }
    Ok(Some(chrono::Duration::seconds(n * seconds)))
}

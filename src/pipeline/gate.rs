//! The health gate: checks, their running state, and the verdict of a sample.
//!
//! A check with no data is never a pass. A missing value shows as `no data`
//! at once and fails the gate once it has lasted past the check's staleness
//! limit; a value that breaks its limit fails a P0 check at once and a P1
//! check after N consecutive failures.

use serde::{Deserialize, Serialize};

use super::Time;
use super::policy::{Comparison, Severity, Stage};

/// A check as configured: what must hold, how bad a failure is, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub name: String,
    pub comparison: Comparison,
    pub limit: f64,
    pub severity: Severity,
    /// Stages the check applies to (awaiting approval counts as canary).
    pub stages: Vec<Stage>,
    /// P1 only: consecutive failures that fail the gate.
    pub consecutive: u32,
    /// How long a check may have no data before the gate fails closed.
    pub stale_after_ms: u64,
}

impl CheckSpec {
    pub fn applies_to(&self, stage: Stage) -> bool {
        self.stages.contains(&stage)
    }

    /// Failures that fail the gate: 1 for P0.
    pub fn failures_allowed(&self) -> u32 {
        match self.severity {
            Severity::P0 => 1,
            Severity::P1 => self.consecutive.max(1),
        }
    }
}

/// What a check shows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Not sampled since the gate started watching.
    Pending,
    Ok,
    Failing,
    #[serde(rename = "no data")]
    NoData,
    /// Outside the stages the check watches.
    #[serde(rename = "n/a")]
    NotApplicable,
    /// A word this build does not know, read from a newer agent.
    #[serde(other)]
    Unknown,
}

impl From<&str> for CheckStatus {
    /// The wire's word; one this build does not know is `Unknown`.
    fn from(word: &str) -> Self {
        from_word(word).unwrap_or(CheckStatus::Unknown)
    }
}

/// A unit enum read from its serde word.
pub(crate) fn from_word<'de, T: Deserialize<'de>>(word: &'de str) -> Option<T> {
    use serde::de::IntoDeserializer;
    let words: serde::de::value::StrDeserializer<'de, serde::de::value::Error> =
        word.into_deserializer();
    T::deserialize(words).ok()
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pending => "pending",
            CheckStatus::Ok => "ok",
            CheckStatus::Failing => "failing",
            CheckStatus::NoData => "no data",
            CheckStatus::NotApplicable => "n/a",
            CheckStatus::Unknown => "unknown",
        }
    }
}

/// A check's running state within one gate (one stage of one release).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    pub status: CheckStatus,
    /// The last value seen, if the last sample had one.
    pub value: Option<f64>,
    /// Consecutive failed samples (a limit broken, or no data).
    pub failures: u32,
    /// When the check last had data.
    pub data_at: Option<Time>,
    /// When the check was last sampled at all.
    pub sampled_at: Option<Time>,
}

impl CheckState {
    fn new() -> Self {
        Self {
            status: CheckStatus::Pending,
            value: None,
            failures: 0,
            data_at: None,
            sampled_at: None,
        }
    }
}

/// One observation: a value per configured check, in config order; `None`
/// is no data (series missing, scrape failed or malformed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub values: Vec<Option<f64>>,
}

/// The gate's answer to a sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every applicable check has data and holds.
    Healthy,
    /// Nothing has failed the gate yet, but not every check holds (no data
    /// within its staleness limit, or a P1 below its count).
    Unsettled,
    /// The gate failed: the first check that broke it, and why.
    Breach { check: String, detail: String },
}

/// The gate of the stage being watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub stage: Stage,
    /// When this gate started watching; staleness of a never-seen check
    /// counts from here.
    pub since: Time,
    pub checks: Vec<CheckState>,
}

impl Gate {
    pub fn new(stage: Stage, specs: &[CheckSpec], now: Time) -> Self {
        Self {
            stage,
            since: now,
            checks: specs.iter().map(|_| CheckState::new()).collect(),
        }
    }

    /// Restarts staleness clocks after the agent was down: the time nobody
    /// watched is not held against the service either.
    pub fn resume(&mut self, now: Time) {
        self.since = now;
        for check in &mut self.checks {
            check.data_at = None;
        }
    }

    /// Folds a sample into the gate. Checks that do not apply to the stage
    /// are left untouched.
    pub fn observe(&mut self, specs: &[CheckSpec], sample: &Sample, now: Time) -> Verdict {
        let mut breach: Option<(String, String)> = None;
        let mut all_ok = true;
        for (index, spec) in specs.iter().enumerate() {
            if !spec.applies_to(self.stage) {
                continue;
            }
            let Some(state) = self.checks.get_mut(index) else {
                continue;
            };
            state.sampled_at = Some(now);
            let value = sample.values.get(index).copied().flatten();
            state.value = value;
            match value {
                Some(v) => {
                    state.data_at = Some(now);
                    if spec.comparison.holds(v, spec.limit) {
                        state.status = CheckStatus::Ok;
                        state.failures = 0;
                    } else {
                        all_ok = false;
                        state.status = CheckStatus::Failing;
                        state.failures = state.failures.saturating_add(1);
                        if state.failures >= spec.failures_allowed() && breach.is_none() {
                            breach = Some((
                                spec.name.clone(),
                                format!(
                                    "{} = {} breaks {} {} ({}, {}/{} failures)",
                                    spec.name,
                                    format_value(v),
                                    spec.comparison.symbol(),
                                    format_value(spec.limit),
                                    spec.severity,
                                    state.failures,
                                    spec.failures_allowed()
                                ),
                            ));
                        }
                    }
                }
                None => {
                    all_ok = false;
                    state.status = CheckStatus::NoData;
                    state.failures = state.failures.saturating_add(1);
                    let silent_since = state.data_at.unwrap_or(self.since);
                    let silent_ms = millis_between(silent_since, now);
                    if silent_ms >= spec.stale_after_ms && breach.is_none() {
                        breach = Some((
                            spec.name.clone(),
                            format!(
                                "{}: no data for {:.1}s (limit {:.1}s)",
                                spec.name,
                                silent_ms as f64 / 1000.0,
                                spec.stale_after_ms as f64 / 1000.0
                            ),
                        ));
                    }
                }
            }
        }
        match breach {
            Some((check, detail)) => Verdict::Breach { check, detail },
            None if all_ok => Verdict::Healthy,
            None => Verdict::Unsettled,
        }
    }

    /// (passing, applicable) counts, for "gates 5/6".
    pub fn tally(&self, specs: &[CheckSpec]) -> (usize, usize) {
        let mut passing = 0;
        let mut total = 0;
        for (spec, state) in specs.iter().zip(&self.checks) {
            if spec.applies_to(self.stage) {
                total += 1;
                if state.status == CheckStatus::Ok {
                    passing += 1;
                }
            }
        }
        (passing, total)
    }
}

/// Milliseconds from `from` to `to`, 0 if `to` is earlier (clocks step).
pub fn millis_between(from: Time, to: Time) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

pub fn format_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.is_finite() {
        format!("{v:.3}")
    } else {
        format!("{v}")
    }
}

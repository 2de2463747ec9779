//! The health gate: checks, their running state, and the verdict of a sample.
//!
//! A check with no data is never a pass. A missing value shows as `no data`
//! at once and fails the gate once it has lasted past the check's staleness
//! limit; a value that breaks its limit fails a P0 check at once and a P1
//! check after N consecutive failures.

use serde::{Deserialize, Serialize};

use super::Time;
use super::baseline::{BaselineSpec, Judgement};
use super::policy::{Comparison, Severity, Stage};

/// A check as configured: what must hold, how bad a failure is, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub name: String,
    /// A fixed limit or band; `None` for a check judged by its baseline
    /// alone.
    pub condition: Option<Condition>,
    /// A comparison with the known-good release or a baseline host.
    #[serde(default)]
    pub baseline: Option<BaselineSpec>,
    /// What a failure does: roll back (the default), warn, or nothing.
    pub action: Action,
    pub severity: Severity,
    /// Stages the check applies to (awaiting approval counts as canary).
    pub stages: Vec<Stage>,
    /// P1 only: consecutive failures that fail the gate.
    pub consecutive: u32,
    /// How long a check may have no data before the gate fails closed.
    pub stale_after_ms: u64,
}

/// What a check's value must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// `value <op> limit`.
    Compare { comparison: Comparison, limit: f64 },
    /// `lo <= value <= hi`: a two-sided band (a PnL that must neither
    /// run away nor bleed).
    Between { lo: f64, hi: f64 },
}

impl Condition {
    pub fn holds(&self, value: f64) -> bool {
        match *self {
            Condition::Compare { comparison, limit } => comparison.holds(value, limit),
            Condition::Between { lo, hi } => !value.is_nan() && lo <= value && value <= hi,
        }
    }
}

impl std::fmt::Display for Condition {
    /// "< 3", "in [-500, 1000]": the limit as a person reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Condition::Compare { comparison, limit } => {
                write!(f, "{} {}", comparison.symbol(), format_value(limit))
            }
            Condition::Between { lo, hi } => {
                write!(f, "in [{}, {}]", format_value(lo), format_value(hi))
            }
        }
    }
}

/// What a failing check does to the deploy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Fails the gate: roll back (or stop, or halt).
    #[default]
    Rollback,
    /// Raises a P2 alert and shows; the deploy goes on.
    Warn,
    /// Evaluated and shown, never acted on: a dry run of a new check.
    Observe,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Rollback => "rollback",
            Action::Warn => "warn",
            Action::Observe => "observe",
        }
    }
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Not sampled since the gate started watching.
    #[default]
    Pending,
    Ok,
    Failing,
    #[serde(rename = "no data")]
    NoData,
    /// A baseline comparison without enough samples on a side yet: not ok,
    /// so the soak waits (up to the check's `max_extend_s`).
    Insufficient,
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
            CheckStatus::Insufficient => "insufficient",
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
    /// A `warn` check alerted for its current failing streak.
    #[serde(default)]
    pub warned: bool,
    /// Baseline checks: the candidate's values in this gate, the baseline
    /// host's (a URL baseline), the last judgement, and since when the
    /// evidence has been too thin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub baseline_samples: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgement: Option<Judgement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thin_since: Option<Time>,
    /// The last sample at which the market was paused: silence counts
    /// toward staleness only from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at: Option<Time>,
}

impl CheckState {
    fn new() -> Self {
        Self {
            status: CheckStatus::Pending,
            value: None,
            failures: 0,
            data_at: None,
            sampled_at: None,
            warned: false,
            samples: Vec::new(),
            baseline_samples: Vec::new(),
            judgement: None,
            thin_since: None,
            held_at: None,
        }
    }
}

/// One observation: a value per configured check, in config order; `None`
/// is no data (series missing, scrape failed or malformed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub values: Vec<Option<f64>>,
    /// Per check, the value a URL baseline's host gave at the same moment
    /// (`None` for checks without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub baselines: Vec<Option<f64>>,
    /// Whether the market is in session (`None`: no calendar configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_open: Option<bool>,
    /// The evidence counter's value (`[pipeline.evidence]`), if read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<f64>,
    /// When the service's current process started, if the agent started
    /// it: silence before then (a restart under way) is not the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_since: Option<Time>,
}

impl Sample {
    /// A sample with no baseline host values.
    pub fn of(values: Vec<Option<f64>>) -> Self {
        Self {
            values,
            baselines: Vec::new(),
            session_open: None,
            evidence: None,
            service_since: None,
        }
    }
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
    Breach(Breach),
}

/// The check that failed a gate and why, in words for the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub check: String,
    pub detail: String,
}

/// The known-good release's recorded live window, for checks whose
/// baseline is `known_good`.
#[derive(Debug, Clone, Copy)]
pub enum KnownGood<'a> {
    /// No known-good release on this host (a first deploy).
    None,
    /// The known-good is what serves (a rollback, after one, a drill): a
    /// release is never judged against itself.
    Serving,
    /// Its values by check name, if any were recorded.
    Window(Option<&'a std::collections::BTreeMap<String, Vec<f64>>>),
}

/// A sample folded into the gate: its verdict, and the `warn` checks that
/// just began to fail (each raises an alert; none acts).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub verdict: Verdict,
    pub warnings: Vec<Breach>,
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
    /// are left untouched. A `warn` check that fails is a warning, once per
    /// failing streak; an `observe` check is only shown.
    pub fn observe(
        &mut self,
        specs: &[CheckSpec],
        sample: &Sample,
        known_good: KnownGood<'_>,
        market_paused: bool,
        now: Time,
    ) -> Observed {
        let mut breach: Option<Breach> = None;
        let mut warnings = Vec::new();
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
            let baseline = sample.baselines.get(index).copied().flatten();
            if market_paused && value.is_none() {
                // A closed market serves no latency and no fills: silence
                // then is not a failure, and its clock restarts when the
                // market does. Still no data, never a pass.
                state.held_at = Some(now);
            }
            // Silence counts from the gate's start, or from the process's if
            // that came later.
            let since = self.since.max(sample.service_since.unwrap_or(self.since));
            let failed = state.fold(spec, value, baseline, known_good, since, now);
            match spec.action {
                Action::Rollback => {
                    all_ok &= matches!(state.status, CheckStatus::Ok | CheckStatus::NotApplicable);
                    if let Some(detail) = failed
                        && breach.is_none()
                    {
                        breach = Some(Breach {
                            check: spec.name.clone(),
                            detail,
                        });
                    }
                }
                Action::Warn => {
                    if let Some(detail) = failed
                        && !state.warned
                    {
                        state.warned = true;
                        warnings.push(Breach {
                            check: spec.name.clone(),
                            detail,
                        });
                    }
                }
                Action::Observe => {}
            }
        }
        let verdict = match breach {
            Some(breach) => Verdict::Breach(breach),
            None if all_ok => Verdict::Healthy,
            None => Verdict::Unsettled,
        };
        Observed { verdict, warnings }
    }

    /// (passing, applicable) counts, for "gates 5/6".
    pub fn tally(&self, specs: &[CheckSpec]) -> (usize, usize) {
        let mut passing = 0;
        let mut total = 0;
        for (spec, state) in specs.iter().zip(&self.checks) {
            if spec.applies_to(self.stage) && state.status != CheckStatus::NotApplicable {
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

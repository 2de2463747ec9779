//! A check judged inside a gate: one sample folded into its state (its
//! limit, and its baseline: where the baseline comes from, the samples
//! each side keeps, and how long the evidence may stay too thin before the
//! gate fails closed).
//!
//! The candidate's side is the values this gate saw. The baseline's is the
//! known-good release's own values over its last live window on this host
//! ([`LiveWindow`], recorded by the machine while that release served live),
//! or a host still on the known-good, scraped at the same moment as the
//! candidate (`Sample::baselines`). [`super::baseline::judge`] compares them.

use super::Time;
use super::baseline::{BaselineSource, BaselineSpec, BaselineVerdict, Judgement, judge, keep};
use super::gate::{CheckSpec, CheckState, CheckStatus, KnownGood, format_value, millis_between};

impl CheckState {
    /// Folds one sample into the check: its status, and why it fails the
    /// gate with this sample, if it does (`gate_since` counts staleness of a
    /// check never seen).
    pub(super) fn fold(
        &mut self,
        spec: &CheckSpec,
        value: Option<f64>,
        baseline: Option<f64>,
        known_good: KnownGood<'_>,
        gate_since: Time,
        now: Time,
    ) -> Option<String> {
        // Judged by the known-good alone while there is none to compare
        // with: the check decides nothing, so neither its value nor its
        // silence is held for or against the release (a known-good just
        // restarted by a rollback is healthy without it).
        if let Some(why) = unjudgeable(spec, known_good) {
            self.status = CheckStatus::NotApplicable;
            self.failures = 0;
            self.thin_since = None;
            self.data_at = value.map(|_| now).or(self.data_at);
            self.judgement = Some(Judgement::unjudged(self.samples.len(), why));
            return None;
        }
        let Some(v) = value else {
            self.status = CheckStatus::NoData;
            self.failures = self.failures.saturating_add(1);
            let silent_since = self
                .data_at
                .unwrap_or(gate_since)
                .max(self.held_at.unwrap_or(gate_since))
                .max(gate_since);
            let silent_ms = millis_between(silent_since, now);
            return (silent_ms >= spec.stale_after_ms).then(|| {
                format!(
                    "{}: no data for {:.1}s (limit {:.1}s)",
                    spec.name,
                    silent_ms as f64 / 1000.0,
                    spec.stale_after_ms as f64 / 1000.0
                )
            });
        };
        self.data_at = Some(now);
        let broken = match spec.condition {
            Some(condition) if !condition.holds(v) => Some(format!(
                "{} = {} breaks {condition}",
                spec.name,
                format_value(v)
            )),
            _ => None,
        };
        let judged = spec
            .baseline
            .as_ref()
            .and_then(|b| self.judge(spec, b, v, baseline, known_good));
        // Judged by its baseline alone, with no known-good to compare with:
        // neither a pass nor a failure.
        let nothing_to_judge =
            spec.condition.is_none() && spec.baseline.is_some() && judged.is_none();
        let broken = broken.or_else(|| {
            let judgement = judged.as_ref()?;
            (judgement.verdict == BaselineVerdict::Fail)
                .then(|| format!("{}: {}", spec.name, judgement.detail))
        });
        if let Some(broken) = broken {
            self.thin_since = None;
            self.status = CheckStatus::Failing;
            self.failures = self.failures.saturating_add(1);
            return (self.failures >= spec.failures_allowed()).then(|| {
                format!(
                    "{broken} ({}, {}/{} failures)",
                    spec.severity,
                    self.failures,
                    spec.failures_allowed()
                )
            });
        }
        match judged.map(|j| j.verdict) {
            Some(verdict @ (BaselineVerdict::Insufficient | BaselineVerdict::NoData)) => {
                self.status = match verdict {
                    BaselineVerdict::NoData => CheckStatus::NoData,
                    _ => CheckStatus::Insufficient,
                };
                let since = *self.thin_since.get_or_insert(now);
                let thin_ms = millis_between(since, now);
                let max_ms = spec.baseline.as_ref().map_or(0, |b| b.max_extend_ms);
                (thin_ms >= max_ms).then(|| {
                    let detail = self.judgement.as_ref().map_or("", |j| j.detail.as_str());
                    format!(
                        "{}: baseline evidence still {} after {:.1}s (limit {:.1}s): {detail}",
                        spec.name,
                        verdict.as_str(),
                        thin_ms as f64 / 1000.0,
                        max_ms as f64 / 1000.0
                    )
                })
            }
            _ => {
                self.thin_since = None;
                self.status = if nothing_to_judge {
                    CheckStatus::NotApplicable
                } else {
                    CheckStatus::Ok
                };
                self.failures = 0;
                self.warned = false;
                None
            }
        }
    }

    /// Adds the sample to the baseline comparison and judges it. `None`
    /// when there is nothing to compare with (no known-good release on
    /// this host): the check's own limit alone decides.
    fn judge(
        &mut self,
        spec: &CheckSpec,
        rule: &BaselineSpec,
        value: f64,
        baseline: Option<f64>,
        known_good: KnownGood<'_>,
    ) -> Option<Judgement> {
        keep(&mut self.samples, value);
        // The candidate is judged on what it does now: its newest samples,
        // so a fault that begins mid-soak moves the median within seconds.
        let recent = rule.rule.min_samples.saturating_mul(2).max(1);
        if self.samples.len() > recent {
            let excess = self.samples.len() - recent;
            self.samples.drain(..excess);
        }
        // The baseline's samples, or why there is nothing to compare with.
        let side: Result<&[f64], &str> = match (&rule.source, known_good) {
            (BaselineSource::KnownGood, KnownGood::None) => Err(NO_KNOWN_GOOD),
            (BaselineSource::KnownGood, KnownGood::Serving) => Err(KNOWN_GOOD_SERVES),
            (BaselineSource::KnownGood, KnownGood::Window(values)) => Ok(values
                .and_then(|v| v.get(&spec.name))
                .map_or(&[][..], Vec::as_slice)),
            (BaselineSource::Url(_), _) => {
                if let Some(b) = baseline {
                    keep(&mut self.baseline_samples, b);
                }
                Ok(&self.baseline_samples)
            }
        };
        match side {
            Ok(baseline) => {
                let judgement = judge(&self.samples, baseline, &rule.rule);
                self.judgement = Some(judgement.clone());
                Some(judgement)
            }
            Err(why) => {
                // Shown, so the screen says why the check is n/a.
                self.judgement = Some(Judgement::unjudged(self.samples.len(), why));
                None
            }
        }
    }
}

const NO_KNOWN_GOOD: &str = "no known-good release on this host to compare with";
const KNOWN_GOOD_SERVES: &str = "the known-good itself serves: not judged against itself";

/// Why a check judged by the known-good alone cannot be judged now, if so.
fn unjudgeable(spec: &CheckSpec, known_good: KnownGood<'_>) -> Option<&'static str> {
    let by_known_good_alone = spec.condition.is_none()
        && spec
            .baseline
            .as_ref()
            .is_some_and(|b| matches!(b.source, BaselineSource::KnownGood));
    match known_good {
        _ if !by_known_good_alone => None,
        KnownGood::None => Some(NO_KNOWN_GOOD),
        KnownGood::Serving => Some(KNOWN_GOOD_SERVES),
        KnownGood::Window(_) => None,
    }
}

//! A soak on market evidence: the soak clock runs only while the market is
//! in session and the service's evidence (fills, say) keeps growing, and a
//! stage completes only once it has seen its share of evidence. Ten quiet
//! minutes at night are not ten minutes of proof.
//!
//! The agent reads the session calendar and the evidence counter and hands
//! both in with each sample (`Sample::session_open`, `Sample::evidence`);
//! the machine only counts.

use serde::{Deserialize, Serialize};

use super::Soak;
use crate::pipeline::Time;
use crate::pipeline::gate::{Sample, millis_between};
use crate::pipeline::policy::Stage;

/// What a soak needs of the market, as configured (`[pipeline.evidence]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRule {
    /// What the evidence is called on screen: "fills".
    pub noun: String,
    /// Growth of the evidence counter each soaked stage needs (shadow,
    /// paper, canary); 0 asks for none.
    pub min_per_stage: [u64; 3],
    /// How long the counter may stand still before the clock pauses.
    pub quiet_ms: u64,
}

impl EvidenceRule {
    pub fn needed(&self, stage: Stage) -> u64 {
        stage.soak_index().map_or(0, |i| self.min_per_stage[i])
    }
}

/// The evidence a soak has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSeen {
    /// The counter's last value.
    pub last: f64,
    /// Growth since the stage began, counter resets included.
    pub grown: f64,
    /// When it last grew (or the stage began).
    pub grew_at: Time,
}

impl Soak {
    /// Folds the sample's market facts into the soak. Returns why the
    /// clock must not run now, if it must not.
    pub(super) fn market(
        &mut self,
        rule: Option<&EvidenceRule>,
        stage: Stage,
        sample: &Sample,
        now: Time,
    ) -> Option<String> {
        let needed = rule.map_or(0, |r| r.needed(stage));
        if let (Some(rule), true) = (rule, needed > 0) {
            match sample.evidence {
                Some(value) => self.count(value, now),
                None => {
                    return Some(format!("soak paused: no data for {}", rule.noun));
                }
            }
            let seen = self.evidence.as_ref()?;
            let quiet_ms = millis_between(seen.grew_at, now);
            if sample.session_open != Some(false) && quiet_ms > rule.quiet_ms {
                return Some(format!(
                    "soak paused: no new {} for {:.0}s ({}/{needed})",
                    rule.noun,
                    quiet_ms as f64 / 1000.0,
                    seen.grown.floor()
                ));
            }
        }
        (sample.session_open == Some(false)).then(|| "soak paused: market closed".to_string())
    }

    fn count(&mut self, value: f64, now: Time) {
        let seen = self.evidence.get_or_insert(EvidenceSeen {
            last: value,
            grown: 0.0,
            grew_at: now,
        });
        // A counter that went down was reset: the new value is growth from 0.
        let growth = if value >= seen.last {
            value - seen.last
        } else {
            value
        };
        if growth > 0.0 && growth.is_finite() {
            seen.grown += growth;
            seen.grew_at = now;
        }
        seen.last = value;
    }

    /// What the stage still waits for, once its time is up: its share of
    /// evidence.
    pub(super) fn evidence_short(
        &self,
        rule: Option<&EvidenceRule>,
        stage: Stage,
    ) -> Option<String> {
        let rule = rule?;
        let needed = rule.needed(stage);
        let grown = self.evidence.as_ref().map_or(0.0, |s| s.grown);
        (needed > 0 && grown < needed as f64)
            .then(|| format!("waiting for {} {}/{needed}", rule.noun, grown.floor()))
    }
}

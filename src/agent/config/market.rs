//! `[pipeline.evidence]` and `[pipeline.sessions]`: a soak that counts only
//! while the market trades. The evidence is a counter the service serves
//! (its fills); the sessions are weekly hours in the exchange's own zone.

use serde::Deserialize;

use super::super::freeze::{self, WeeklySection, Window};
use super::fields::seconds_field;
use crate::pipeline::EvidenceRule;
use crate::pipeline::Stage;
use crate::prom::query::Query;

/// `[pipeline.evidence]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSection {
    /// A counter (or any expression) whose growth is the evidence.
    pub metric: String,
    /// One number for every soaked stage, or `{ paper = 20, canary = 20 }`.
    pub min_per_stage: toml::Value,
    /// How long the counter may stand still before the clock pauses.
    #[serde(default = "default_quiet")]
    pub quiet_s: f64,
    /// What the screen calls it; by default from the metric
    /// (`sim_fills_total` → "fills").
    #[serde(default)]
    pub name: Option<String>,
}

/// `[pipeline.sessions]` as written: the hours the market trades.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSection {
    /// An IANA zone, the exchange's: "America/New_York".
    pub zone: String,
    pub weekly: WeeklySection,
}

fn default_quiet() -> f64 {
    10.0
}

/// The evidence the agent reads, and the rule the machine counts by.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub query: Query,
    pub rule: EvidenceRule,
}

pub(super) fn evidence(section: &EvidenceSection) -> Result<Evidence, String> {
    let at = "pipeline.evidence";
    let query = Query::parse(&section.metric)
        .map_err(|e| format!("{at}.metric: {:?}: {e}", section.metric))?;
    let count = |field: &str, value: &toml::Value| match value {
        toml::Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        other => Err(format!(
            "{at}.{field}: {other} is not a whole number of 0 or more"
        )),
    };
    let min_per_stage = match &section.min_per_stage {
        toml::Value::Table(table) => {
            let mut min = [0; 3];
            for (key, value) in table {
                let stage: Stage = key
                    .parse()
                    .ok()
                    .filter(|s: &Stage| s.soak_index().is_some())
                    .ok_or_else(|| {
                        format!("{at}.min_per_stage: {key:?} is not a soaked stage (shadow, paper, canary)")
                    })?;
                if let Some(index) = stage.soak_index() {
                    min[index] = count(&format!("min_per_stage.{key}"), value)?;
                }
            }
            min
        }
        value => [count("min_per_stage", value)?; 3],
    };
    let noun = section
        .name
        .clone()
        .unwrap_or_else(|| noun_of(&section.metric));
    Ok(Evidence {
        query,
        rule: EvidenceRule {
            noun,
            min_per_stage,
            quiet_ms: seconds_field(&format!("{at}.quiet_s"), section.quiet_s)?,
        },
    })
}

pub(super) fn sessions(section: &SessionsSection) -> Result<Window, String> {
    freeze::weekly_window(
        "pipeline.sessions",
        "session",
        &section.zone,
        &section.weekly,
    )
}

/// "sim_fills_total" → "fills": the last word of a counter's name.
fn noun_of(metric: &str) -> String {
    let name = metric
        .split(['{', '[', '(', ')'])
        .find(|p| !p.is_empty() && !p.contains(' '));
    let name = name.unwrap_or(metric);
    let name = name.strip_suffix("_total").unwrap_or(name);
    name.rsplit('_').next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_names_its_evidence() {
        assert_eq!(noun_of("sim_fills_total"), "fills");
        assert_eq!(noun_of("trades_total{venue=\"x\"}"), "trades");
    }
}

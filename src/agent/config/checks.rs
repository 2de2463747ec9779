//! The `[[checks]]` of gantry.toml, checked: the built-in
//! `process_alive` first, then each check's expression, limit or band,
//! action, severity and stages. Every refusal names the check and field.

use super::fields::{parse_op, seconds_field};
use super::file::CheckSection;
use super::{Check, PROCESS_ALIVE};
use crate::pipeline::baseline::{BaselineRule, Direction, RuleError, Test};
use crate::pipeline::{
    Action, BaselineSource, BaselineSpec, CheckSpec, Comparison, Condition, Severity, Stage,
};
use crate::prom::query::Query;

/// The checks in pipeline order.
pub(super) fn parse(
    sections: &[CheckSection],
    probe_interval_ms: u64,
) -> Result<Vec<Check>, String> {
    let mut checks = vec![Check {
        spec: CheckSpec {
            name: PROCESS_ALIVE.into(),
            condition: Some(Condition::Compare {
                comparison: Comparison::Eq,
                limit: 1.0,
            }),
            baseline: None,
            action: Action::Rollback,
            severity: Severity::P0,
            stages: Stage::ALL.to_vec(),
            consecutive: 1,
            stale_after_ms: 0,
        },
        query: None,
        expr: String::new(),
    }];
    for (index, c) in sections.iter().enumerate() {
        let at = format!("check[{index}] ({})", c.name);
        if c.name.trim().is_empty() {
            return Err(format!("check[{index}].name: must not be empty"));
        }
        if checks.iter().any(|k| k.spec.name == c.name) {
            return Err(format!("{at}.name: {:?} is used twice", c.name));
        }
        let baseline = check_baseline(&at, c)?;
        let condition = check_condition(&at, c, baseline.is_some())?;
        let action = match c.action.as_deref() {
            None | Some("rollback") => Action::Rollback,
            Some("warn") => Action::Warn,
            Some("observe") => Action::Observe,
            Some(other) => {
                return Err(format!(
                    "{at}.action: {other:?} is not rollback, warn or observe"
                ));
            }
        };
        let severity = match c.severity.as_str() {
            "P0" | "p0" => Severity::P0,
            "P1" | "p1" => Severity::P1,
            other => return Err(format!("{at}.severity: {other:?} is not P0 or P1")),
        };
        let mut stages = Vec::new();
        for name in &c.stages {
            let stage: Stage = name
                .parse()
                .map_err(|e: String| format!("{at}.stages: {e}"))?;
            stages.push(stage);
        }
        if stages.is_empty() {
            return Err(format!("{at}.stages: must name at least one stage"));
        }
        if c.consecutive == 0 {
            return Err(format!("{at}.consecutive: must be at least 1"));
        }
        let stale_after_ms = seconds_field(&format!("{at}.stale_after_s"), c.stale_after_s)?;
        let query = check_query(&at, &c.metric, probe_interval_ms)?;
        checks.push(Check {
            spec: CheckSpec {
                name: c.name.clone(),
                condition,
                baseline,
                action,
                severity,
                stages,
                consecutive: c.consecutive,
                stale_after_ms,
            },
            query: Some(query),
            expr: c.metric.clone(),
        });
    }

    Ok(checks)
}

/// A check's limit: `op` and `limit` (any finite number), or a band
/// `between = [lo, hi]`; never both, and neither only for a check judged
/// by its baseline.
fn check_condition(
    at: &str,
    c: &CheckSection,
    has_baseline: bool,
) -> Result<Option<Condition>, String> {
    let finite = |field: &str, v: f64| {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("{at}.{field}: {v} is not a finite number"))
        }
    };
    match (&c.op, c.limit, c.between) {
        (None, None, Some([lo, hi])) => {
            let (lo, hi) = (finite("between", lo)?, finite("between", hi)?);
            if lo > hi {
                return Err(format!(
                    "{at}.between: [{lo}, {hi}] is empty: the low end is above the high end"
                ));
            }
            Ok(Some(Condition::Between { lo, hi }))
        }
        (Some(op), Some(limit), None) => {
            let comparison = parse_op(op)
                .ok_or_else(|| format!("{at}.op: {op:?} is not one of <, <=, >, >=, ==, !="))?;
            Ok(Some(Condition::Compare {
                comparison,
                limit: finite("limit", limit)?,
            }))
        }
        (_, _, Some(_)) => Err(format!(
            "{at}.between: give either between = [lo, hi] or op and limit, not both"
        )),
        (Some(_), None, None) => Err(format!("{at}.limit: op is set but limit is missing")),
        (None, Some(_), None) => Err(format!("{at}.op: limit is set but op is missing")),
        (None, None, None) if has_baseline => Ok(None),
        (None, None, None) => Err(format!(
            "{at}: no limit: give op and limit, between = [lo, hi], or a baseline"
        )),
    }
}

/// A check's expression, parsed; a window must hold two samples at the
/// probe's interval, or a rate would never have data.
fn check_query(at: &str, text: &str, probe_interval_ms: u64) -> Result<Query, String> {
    let query = Query::parse(text).map_err(|e| format!("{at}.metric: {text:?}: {e}"))?;
    if let Some(window) = query.shortest_window_ms()
        && window < probe_interval_ms.saturating_mul(2)
    {
        return Err(format!(
            "{at}.metric: {text:?}: a window of {window} ms is shorter than two probe intervals ({} ms each, probe.interval_ms): it would never hold the two samples a rate needs",
            probe_interval_ms
        ));
    }
    Ok(query)
}

/// A check's baseline comparison: where the baseline comes from and the
/// rule that judges the candidate against it.
fn check_baseline(at: &str, c: &CheckSection) -> Result<Option<BaselineSpec>, String> {
    let Some(baseline) = &c.baseline else {
        let stray = [
            ("max_ratio", c.max_ratio.is_some()),
            ("max_delta", c.max_delta.is_some()),
            ("direction", c.direction.is_some()),
            ("min_samples", c.min_samples.is_some()),
            ("test", c.test.is_some()),
            ("max_extend_s", c.max_extend_s.is_some()),
        ];
        if let Some((field, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{at}.{field}: only with a baseline (baseline = \"known_good\" or {{ url = \"http://…/metrics\" }})"
            ));
        }
        return Ok(None);
    };
    let expected = "expected \"known_good\" or { url = \"http://HOST:PORT/metrics\" }";
    let source = match baseline {
        toml::Value::String(name) if name == "known_good" => BaselineSource::KnownGood,
        toml::Value::Table(table) => {
            let url = match (table.get("url"), table.len()) {
                (Some(toml::Value::String(url)), 1) => url,
                _ => return Err(format!("{at}.baseline: {expected}")),
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{at}.baseline.url: {url:?} is not an http(s) URL"));
            }
            BaselineSource::Url(url.clone())
        }
        _ => return Err(format!("{at}.baseline: {expected}")),
    };
    let direction = match c.direction.as_deref() {
        None | Some("increase") => Direction::Increase,
        Some("decrease") => Direction::Decrease,
        Some("either") => Direction::Either,
        Some(other) => {
            return Err(format!(
                "{at}.direction: {other:?} is not increase, decrease or either"
            ));
        }
    };
    let test = match c.test.as_deref() {
        None | Some("median") => Test::Median,
        Some("rank") => Test::Rank,
        Some(other) => return Err(format!("{at}.test: {other:?} is not median or rank")),
    };
    let rule = BaselineRule {
        max_ratio: c.max_ratio,
        max_delta: c.max_delta,
        direction,
        min_samples: c.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
        test,
    };
    if rule.min_samples == 0 {
        return Err(format!(
            "{at}.min_samples: must be at least 1: a judgement needs evidence"
        ));
    }
    rule.check().map_err(|e| {
        let field = match e {
            RuleError::NoLimit | RuleError::Ratio(_) => "max_ratio",
            RuleError::Delta(_) => "max_delta",
            RuleError::RankSamples(_) => "min_samples",
        };
        format!("{at}.{field}: {e}")
    })?;
    let max_extend_ms = seconds_field(
        &format!("{at}.max_extend_s"),
        c.max_extend_s.unwrap_or(DEFAULT_MAX_EXTEND_S),
    )?;
    Ok(Some(BaselineSpec {
        source,
        rule,
        max_extend_ms,
    }))
}

/// Samples on each side before a baseline judges: a few seconds at the
/// default probe interval.
const DEFAULT_MIN_SAMPLES: usize = 10;
/// How long thin evidence may hold a soak before the check fails closed.
const DEFAULT_MAX_EXTEND_S: f64 = 120.0;

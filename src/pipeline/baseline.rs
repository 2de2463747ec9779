//! Judging a candidate against its baseline, for one check: the canary's
//! samples next to the known-good's (its last live window, or a host still
//! on it scraped at the same time), a verdict, and the evidence behind it.
//!
//! Pure and self-contained: the gate hands in two lists of samples and a
//! [`BaselineRule`], and gets a [`Judgement`] to act on and to show.
//!
//! Decisions, each tested:
//!
//! - **Never a pass without evidence.** No samples on a side is `no data`;
//!   fewer than `min_samples` on a side is `insufficient`. Non-finite
//!   samples (a NaN from a broken exporter) count as missing.
//! - Medians, not means: one wild sample must not decide a rollback.
//! - A ratio judges only a positive baseline. At 0 there is no ratio: a
//!   `max_delta` judges alone, or, with only `max_ratio`, any move away from
//!   0 in the bad direction fails. Below 0 (a loss, say) a ratio means
//!   nothing, so a rule with only `max_ratio` fails closed and says to set
//!   `max_delta`.
//! - `test = "rank"` adds a Mann–Whitney U test (normal approximation, tie
//!   correction, continuity correction; one-sided in the bad direction,
//!   two-sided for `either`): a limit broken by a shift the test does not
//!   find significant at [`ALPHA`] passes, and says so. A rule whose
//!   `min_samples` is below [`RANK_MIN_SAMPLES`] is refused by
//!   [`BaselineRule::check`]: with fewer samples the approximation is poor,
//!   and the test could never find anything, so the check could never fail.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The significance level of the rank test.
pub const ALPHA: f64 = 0.05;

/// The fewest samples per side a rank test is trusted with.
pub const RANK_MIN_SAMPLES: usize = 8;

/// Which way a change is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A rise is bad: latency, errors.
    Increase,
    /// A fall is bad: fills, win rate.
    Decrease,
    Either,
}

/// What decides besides the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// The medians alone.
    #[default]
    Median,
    /// The medians, and a Mann–Whitney U test that finds the shift real.
    Rank,
}

/// How one check compares the candidate with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineRule {
    /// The most the candidate's median may be, as a multiple of the
    /// baseline's, in the bad direction (for a fall: at least 1/max_ratio).
    #[serde(default)]
    pub max_ratio: Option<f64>,
    /// The most the candidate's median may move from the baseline's, in the
    /// bad direction, in the metric's own unit.
    #[serde(default)]
    pub max_delta: Option<f64>,
    pub direction: Direction,
    /// Finite samples needed on each side before anything is judged.
    pub min_samples: usize,
    #[serde(default)]
    pub test: Test,
}

/// A rule that cannot judge anything sensibly.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleError {
    /// Neither `max_ratio` nor `max_delta`: nothing could ever fail.
    NoLimit,
    /// Below 1 (or not finite), a ratio limit fails an unchanged candidate.
    Ratio(f64),
    /// Below 0 (or not finite), a delta limit fails an unchanged candidate.
    Delta(f64),
    /// A rank test with fewer samples than [`RANK_MIN_SAMPLES`].
    RankSamples(usize),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::NoLimit => f.write_str("set max_ratio, max_delta or both"),
            RuleError::Ratio(r) => write!(f, "max_ratio = {r}: it must be at least 1"),
            RuleError::Delta(d) => write!(f, "max_delta = {d}: it must be 0 or more"),
            RuleError::RankSamples(n) => write!(
                f,
                "min_samples = {n}: test = \"rank\" needs at least {RANK_MIN_SAMPLES}"
            ),
        }
    }
}

impl std::error::Error for RuleError {}

impl BaselineRule {
    /// Refuses a rule that cannot judge; config calls this when it loads.
    pub fn check(&self) -> Result<(), RuleError> {
        if self.max_ratio.is_none() && self.max_delta.is_none() {
            return Err(RuleError::NoLimit);
        }
        if let Some(r) = self.max_ratio.filter(|r| !(r.is_finite() && *r >= 1.0)) {
            return Err(RuleError::Ratio(r));
        }
        if let Some(d) = self.max_delta.filter(|d| !(d.is_finite() && *d >= 0.0)) {
            return Err(RuleError::Delta(d));
        }
        if self.test == Test::Rank && self.min_samples < RANK_MIN_SAMPLES {
            return Err(RuleError::RankSamples(self.min_samples));
        }
        Ok(())
    }
}

/// The outcome of comparing a candidate with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineVerdict {
    Pass,
    Fail,
    /// A side has no samples at all.
    NoData,
    /// A side has fewer samples than the rule's minimum.
    Insufficient,
}

impl BaselineVerdict {
    /// The word shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineVerdict::Pass => "pass",
            BaselineVerdict::Fail => "fail",
            BaselineVerdict::NoData => "no data",
            BaselineVerdict::Insufficient => "insufficient",
        }
    }
}

impl fmt::Display for BaselineVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict and its evidence, for the gate, the screen and the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: BaselineVerdict,
    /// The candidate's median.
    pub candidate: Option<f64>,
    /// The baseline's median.
    pub baseline: Option<f64>,
    /// candidate / baseline, when the baseline's median is not 0.
    pub ratio: Option<f64>,
    /// candidate − baseline.
    pub delta: Option<f64>,
    /// Finite samples: (candidate, baseline).
    pub samples: (usize, usize),
    /// The rank test's p-value, when it ran.
    pub p_value: Option<f64>,
    /// One line naming both values, the change, the limit and the verdict.
    pub detail: String,
}

impl Judgement {
    /// No comparison: `why` says what is missing, for the screen.
    pub fn unjudged(candidate_samples: usize, why: &str) -> Self {
        Self {
            verdict: BaselineVerdict::NoData,
            candidate: None,
            baseline: None,
            ratio: None,
            delta: None,
            samples: (candidate_samples, 0),
            p_value: None,
            detail: why.to_string(),
        }
    }
}

/// Judges `candidate` against `baseline` by `rule`.
pub fn judge(candidate: &[f64], baseline: &[f64], rule: &BaselineRule) -> Judgement {
    let cand = finite_sorted(candidate);
    let base = finite_sorted(baseline);
    let (c, b) = (median(&cand), median(&base));
    let mut j = Judgement {
        verdict: BaselineVerdict::NoData,
        candidate: c,
        baseline: b,
        ratio: c.zip(b).filter(|&(_, b)| b != 0.0).map(|(c, b)| c / b),
        delta: c.zip(b).map(|(c, b)| c - b),
        samples: (cand.len(), base.len()),
        p_value: None,
        detail: String::new(),
    };
    let counts = format!("{}/{} samples", cand.len(), base.len());
    let (Some(c), Some(b)) = (c, b) else {
        j.detail = j.line(&counts);
        return j;
    };
    if cand.len() < rule.min_samples || base.len() < rule.min_samples {
        j.verdict = BaselineVerdict::Insufficient;
        j.detail = j.line(&format!("{counts}, need {} each", rule.min_samples));
        return j;
    }
    let mut broken = false;
    let mut limits = Vec::new();
    if let Some(max_ratio) = rule.max_ratio {
        let by_ratio = ratio_limit(c, b, max_ratio, rule);
        if let Some((exceeded, text)) = by_ratio {
            broken |= exceeded;
            limits.push(text);
        }
    }
    if let Some(max_delta) = rule.max_delta {
        let (exceeded, text) = delta_limit(c - b, max_delta, rule.direction);
        broken |= exceeded;
        limits.push(text);
    }
    if limits.is_empty() {
        limits.push("no limit set".to_owned());
    }
    let mut evidence = format!("{} {}, {counts}", limits.join(", "), word(rule.direction));
    let mut significant = true;
    if rule.test == Test::Rank {
        let p = rank_test(&cand, &base, rule.direction);
        j.p_value = Some(p);
        significant = p < ALPHA;
        evidence += &match significant {
            true => format!(", p={} < {ALPHA}", num(p)),
            false => format!(", p={} ≥ {ALPHA}: not significant", num(p)),
        };
    }
    j.verdict = match broken && significant {
        true => BaselineVerdict::Fail,
        false => BaselineVerdict::Pass,
    };
    j.detail = j.line(&evidence);
    j
}

impl Judgement {
    /// `candidate 0.0412 vs baseline 0.0101 (…): fail`.
    fn line(&self, evidence: &str) -> String {
        let shown = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), num);
        format!(
            "candidate {} vs baseline {} ({evidence}): {}",
            shown(self.candidate),
            shown(self.baseline),
            self.verdict
        )
    }
}

/// Whether the ratio limit is broken, and its part of the detail; `None`
/// when a zero baseline leaves the judging to `max_delta`.
fn ratio_limit(c: f64, b: f64, max_ratio: f64, rule: &BaselineRule) -> Option<(bool, String)> {
    let dir = rule.direction;
    if b < 0.0 {
        return match rule.max_delta {
            Some(_) => None,
            None => Some((
                true,
                "a negative baseline has no ratio: set max_delta".into(),
            )),
        };
    }
    if b == 0.0 {
        if rule.max_delta.is_some() {
            return None;
        }
        let moved_badly = match dir {
            Direction::Increase => c > 0.0,
            Direction::Decrease => c < 0.0,
            Direction::Either => c != 0.0,
        };
        let text = match (c == 0.0, moved_badly) {
            (true, _) => "both 0",
            (false, true) => "baseline 0, so any move that way breaks the ratio",
            (false, false) => "baseline 0, and the move is the harmless way",
        };
        return Some((moved_badly, text.into()));
    }
    let r = c / b;
    let rising = match dir {
        Direction::Increase => true,
        Direction::Decrease => false,
        Direction::Either => r >= 1.0,
    };
    Some(if rising {
        let exceeded = r > max_ratio;
        let op = if exceeded { ">" } else { "≤" };
        (exceeded, format!("×{r:.2} {op} ×{max_ratio:.2}"))
    } else {
        let floor = 1.0 / max_ratio;
        let exceeded = r < floor;
        let op = if exceeded { "<" } else { "≥" };
        (exceeded, format!("×{r:.2} {op} ×{floor:.2}"))
    })
}

fn delta_limit(d: f64, max_delta: f64, dir: Direction) -> (bool, String) {
    let rising = match dir {
        Direction::Increase => true,
        Direction::Decrease => false,
        Direction::Either => d >= 0.0,
    };
    let (exceeded, op, limit) = if rising {
        let exceeded = d > max_delta;
        (exceeded, if exceeded { ">" } else { "≤" }, max_delta)
    } else {
        let exceeded = d < -max_delta;
        (exceeded, if exceeded { "<" } else { "≥" }, -max_delta)
    };
    (exceeded, format!("{} {op} {}", signed(d), signed(limit)))
}

fn word(dir: Direction) -> &'static str {
    match dir {
        Direction::Increase => "increase",
        Direction::Decrease => "decrease",
        Direction::Either => "either way",
    }
}

fn finite_sorted(samples: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    out.sort_by(f64::total_cmp);
    out
}

/// The median of sorted samples; the mean of the middle two for an even
/// count.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The Mann–Whitney U test's p-value for "the candidate is shifted the bad
/// way" (two-sided for `Either`): normal approximation with tie and
/// continuity corrections, as `scipy.stats.mannwhitneyu(method=
/// "asymptotic")` computes it. Both lists non-empty.
fn rank_test(cand: &[f64], base: &[f64], dir: Direction) -> f64 {
    let (n1, n2) = (cand.len() as f64, base.len() as f64);
    let n = n1 + n2;
    // Both lists in one, candidate marked, sorted; then rank runs of ties.
    let mut all: Vec<(f64, bool)> = cand.iter().map(|&x| (x, true)).collect();
    all.extend(base.iter().map(|&x| (x, false)));
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut ties) = (0.0, 0.0);
    let mut start = 0;
    while start < all.len() {
        let end = start
            + all[start..]
                .iter()
                .take_while(|x| x.0 == all[start].0)
                .count();
        let t = (end - start) as f64;
        // Ranks start+1 ..= end, averaged over the run.
        let rank = (start + 1 + end) as f64 / 2.0;
        rank_sum += rank * all[start..end].iter().filter(|x| x.1).count() as f64;
        ties += t * t * t - t;
        start = end;
    }
    let u = rank_sum - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance.is_nan() || variance <= 0.0 {
        // Every sample equal (or one of each): nothing tells them apart.
        return 1.0;
    }
    let sd = variance.sqrt();
    let upper_tail = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2);
    let p = match dir {
        Direction::Increase => upper_tail((u - mean - 0.5) / sd),
        Direction::Decrease => upper_tail((mean - u - 0.5) / sd),
        Direction::Either => 2.0 * upper_tail(((u - mean).abs() - 0.5) / sd),
    };
    p.clamp(0.0, 1.0)
}

/// The complementary error function, to a relative error below 1.2e-7
/// (Numerical Recipes' `erfcc`, a Chebyshev fit): ample for a 0.05 cut.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Three significant digits, in plain notation where that stays short.
fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    if !x.is_finite() {
        return x.to_string();
    }
    let magnitude = x.abs().log10().floor();
    if !(-4.0..6.0).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (2.0 - magnitude).max(0.0) as usize;
    format!("{x:.decimals$}")
}

fn signed(x: f64) -> String {
    match x >= 0.0 {
        true => format!("+{}", num(x)),
        false => num(x),
    }
}

/// Where a check's baseline comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// The known-good release's values on this host over its last live
    /// window.
    KnownGood,
    /// A host still on the known-good release, scraped at the same time.
    Url(String),
}

/// A check's baseline comparison, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSpec {
    pub source: BaselineSource,
    pub rule: BaselineRule,
    /// How long the evidence may stay insufficient (or missing on the
    /// baseline's side) before the check fails closed; meanwhile the check
    /// is not ok, so the soak waits.
    pub max_extend_ms: u64,
}

/// Samples kept per side and check: the newest.
pub const KEPT_SAMPLES: usize = 600;

/// What was recorded of one release's checks while it served live, by
/// check name (a config edit between restarts cannot mix two checks up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveWindow {
    /// The release's content digest.
    pub digest: String,
    pub values: BTreeMap<String, Vec<f64>>,
    /// Samples recorded since the window began (checkpoints count these).
    pub recorded: u64,
}

impl LiveWindow {
    pub fn new(digest: &str) -> Self {
        Self {
            digest: digest.to_string(),
            ..Self::default()
        }
    }

    pub fn record(&mut self, check: &str, value: f64) {
        keep(self.values.entry(check.to_string()).or_default(), value);
    }
}

/// Appends `value`, dropping the oldest beyond [`KEPT_SAMPLES`].
pub fn keep(samples: &mut Vec<f64>, value: f64) {
    if !value.is_finite() {
        return;
    }
    samples.push(value);
    if samples.len() > KEPT_SAMPLES {
        let excess = samples.len() - KEPT_SAMPLES;
        samples.drain(..excess);
    }
}

#[cfg(test)]
mod tests;

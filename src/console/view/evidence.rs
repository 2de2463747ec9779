//! What an approver should see before approving: who submitted it and
//! why, the commit and promotion, how long the canary soaked and has
//! waited since, its checks with the one nearest its limit (failing
//! first, else the least headroom), and its PnL, drawdown and fills.

use chrono::{DateTime, Utc};

use crate::console::state::HostView;
use crate::wire::{CheckView, Status};

/// The evidence lines, plain text (the caller makes them inert).
pub(super) fn approval(host: &HostView, status: &Status, now: DateTime<Utc>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(by) = &status.submitted_by {
        let mut first = format!(
            "by {} — {}",
            by.who(),
            status.deploy_reason.as_deref().unwrap_or("(no reason)")
        );
        if let Some(commit) = &status.commit {
            first.push_str(&format!(" · commit {commit}"));
        }
        if let Some(promotion) = &status.promotion {
            first.push_str(&format!(" · {promotion}"));
        }
        lines.push(first);
    } else if let Some(commit) = &status.commit {
        lines.push(format!("commit {commit}"));
    }
    let soaked = status.soak_total_s.map_or(String::new(), |t| {
        format!("canary soaked {} · ", minutes(t))
    });
    let waited = (status.stage_started_at.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (now - t.with_timezone(&Utc)).num_seconds().max(0))
        .map_or(String::new(), |s| {
            format!("waiting {} for approval · ", minutes(s as f64))
        });
    let applicable: Vec<&CheckView> = status.checks.iter().filter(|c| c.counts()).collect();
    let passing = applicable.iter().filter(|c| c.ok).count();
    let mut second = format!("{soaked}{waited}checks {passing}/{}", applicable.len());
    if let Some((c, headroom)) = worst(&applicable) {
        let (op, limit) = c.limit_columns();
        let word = if c.ok { "worst margin" } else { "FAILING" };
        second.push_str(&format!(
            " · {word} {} {} {op} {limit}",
            c.name,
            c.shown_value()
        ));
        match (c.ratio, headroom) {
            (Some(ratio), _) => second.push_str(&format!(" (×{ratio:.2} vs baseline)")),
            (None, Some(h)) if c.ok => second.push_str(&format!(" ({:.0}% headroom)", h * 100.0)),
            _ => {}
        }
    }
    lines.push(second);
    let pnl = host
        .check_value("pnl")
        .map_or("—".into(), |v| format!("{v:+.2} USD"));
    let drawdown = status
        .checks
        .iter()
        .find(|c| c.name.contains("drawdown"))
        .map_or("—".into(), |c| match c.value {
            Some(v) => format!("{v:.1}% of {:.1}%", c.limit),
            None => "no data".into(),
        });
    let fills = status
        .checks
        .iter()
        .find(|c| c.name.contains("fill"))
        .map_or("—".into(), |c| format!("{} {}", c.name, c.shown_value()));
    lines.push(format!(
        "canary PnL {pnl} · drawdown {drawdown} · fills {fills}"
    ));
    lines
}

/// "15m00s", "42s".
fn minutes(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The check nearest its limit: a failing one first, else the one
/// compared to a baseline with the highest ratio, else the least
/// headroom; with its headroom (a fraction of the limit) when it has one.
fn worst<'a>(checks: &[&'a CheckView]) -> Option<(&'a CheckView, Option<f64>)> {
    if let Some(failing) = checks.iter().find(|c| !c.ok) {
        return Some((failing, headroom(failing)));
    }
    let compared = checks
        .iter()
        .filter(|c| c.ratio.is_some())
        .max_by(|a, b| a.ratio.unwrap_or(0.0).total_cmp(&b.ratio.unwrap_or(0.0)));
    if let Some(c) = compared {
        return Some((c, None));
    }
    checks
        .iter()
        .filter_map(|c| headroom(c).map(|h| (*c, h)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, h)| (c, Some(h)))
}

/// How far a value is from its limit, as a fraction of the limit (of the
/// band's width for `between`); `None` for equality checks and checks
/// without a value.
fn headroom(c: &CheckView) -> Option<f64> {
    let v = c.value?;
    let scale = |x: f64| if x.abs() > f64::EPSILON { x.abs() } else { 1.0 };
    match (c.between, c.op.as_str()) {
        (Some([lo, hi]), _) => Some((v - lo).min(hi - v) / scale(hi - lo)),
        (None, "<" | "<=") => Some((c.limit - v) / scale(c.limit)),
        (None, ">" | ">=") => Some((v - c.limit) / scale(c.limit)),
        _ => None,
    }
}

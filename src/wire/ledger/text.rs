//! The ledger as a person reads it: the lines `ctl report` prints and the
//! control room's `R` view draws, so both say the same thing. Host-sent
//! strings pass through `text::inert`.

use super::{Durations, Report};
use crate::text::inert;

/// One report, a figure per line.
pub fn lines(report: &Report) -> Vec<String> {
    let window = match &report.since {
        Some(since) => format!("since {}", inert(since)),
        None => "the whole log".to_string(),
    };
    let d = &report.deploys;
    let a = &report.approvals;
    let dr = &report.drills;
    let al = &report.alerts;
    let caught: Vec<String> = report
        .caught
        .by_stage()
        .iter()
        .map(|(stage, n)| format!("{stage} {n}"))
        .collect();
    let cfr = match report.change_failure_rate {
        Some(rate) => format!(
            "{:.1}%  ({} of {} that reached live rolled back or halted)",
            rate * 100.0,
            d.failed_after_live,
            d.reached_live
        ),
        None => "—  (no deploy reached live)".to_string(),
    };
    vec![
        format!(
            "risk ledger · {} · {window} · {} audit entries",
            inert(&report.host),
            report.entries
        ),
        format!(
            "{:<16}{} submitted · {} reached live · {} rolled back · {} halted · {} rejected · {} stopped · {} in flight",
            "deploys",
            d.submitted,
            d.reached_live,
            d.rolled_back,
            d.halted,
            d.rejected,
            d.stopped,
            d.in_flight
        ),
        format!(
            "{:<16}submit → live {}",
            "lead time",
            spread(&report.lead_time, "deploys")
        ),
        format!("{:<16}{cfr}", "change failure"),
        format!(
            "{:<16}breach → known-good healthy {}",
            "recovery",
            spread(&report.recovery, "rollbacks")
        ),
        format!(
            "{:<16}{}  ({} by the soaks, before live)",
            "caught",
            caught.join(" · "),
            report.caught.before_live()
        ),
        format!(
            "{:<16}{} approved · {} escalated · wait {}",
            "approvals",
            a.approved,
            a.escalated,
            spread(&a.wait, "waits")
        ),
        format!(
            "{:<16}{} started · {} passed · {} failed · {} within the {:.0} s SLA · {} · last {}",
            "drills",
            dr.started,
            dr.passed,
            dr.failed,
            dr.within_sla,
            dr.sla_ms / 1000.0,
            spread(&dr.timing, "timed"),
            inert(dr.last_at.as_deref().unwrap_or("never"))
        ),
        format!(
            "{:<16}P0 {} · P1 {} · P2 {} · P3 {} · {} dropped",
            "alerts", al.p0, al.p1, al.p2, al.p3, al.dropped
        ),
    ]
}

/// `median 1m00s · p90 2m00s · max 2m00s (2 deploys)`, or `— (none)`.
pub fn spread(d: &Durations, what: &str) -> String {
    match (d.median_s, d.p90_s, d.max_s) {
        (Some(median), Some(p90), Some(max)) => format!(
            "median {} · p90 {} · max {} ({} {what})",
            duration(median),
            duration(p90),
            duration(max),
            d.count
        ),
        _ => format!("— (no {what})"),
    }
}

/// `180ms`, `12.3s`, `4m05s`, `2h05m`, `3d04h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 1.0 {
        format!("{:.0}ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let s = s.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400.0 {
        let m = (s / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        let h = (s / 3600.0).round() as u64;
        format!("{}d{:02}h", h / 24, h % 24)
    }
}

//! The risk ledger on this host: read from audit.jsonl and alerts.jsonl
//! (off the loop: the caller runs it on a blocking thread) and computed
//! by `wire::ledger`; and its figures as `/metrics` series.

use std::path::Path;

use chrono::Utc;

use super::metrics::{Page, escape};
use crate::wire::ledger::{self, AlertLine, Report};

/// The window `/metrics` covers: the report's default.
pub const METRICS_WINDOW_S: u64 = 30 * 86_400;

/// The report over the last `since_s` seconds (`None`: the whole log).
pub fn read(host: &str, audit: &Path, alerts: &Path, since_s: Option<u64>) -> Report {
    let now = Utc::now();
    let since = since_s.map(|s| now - chrono::Duration::seconds(s.min(i64::MAX as u64) as i64));
    let entries = super::audit::entries_after(audit, 0);
    let alerts: Vec<AlertLine> = std::fs::read_to_string(alerts)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    ledger::compute(host, &entries, &alerts, since, now)
}

/// What `/metrics` last computed, reused while neither file has grown and
/// the minute is the same: a scraper every 15 s does not reread a log of
/// years each time. (The window's start moves by the minute, so an entry
/// leaves the 30-day window up to a minute late.)
#[derive(Default)]
pub struct MetricsCache(std::sync::Mutex<Option<(CacheKey, Report)>>);

type CacheKey = (u64, u64, i64, String);

impl MetricsCache {
    pub fn report(&self, host: &str, audit: &Path, alerts: &Path) -> Report {
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let key = (
            len(audit),
            len(alerts),
            Utc::now().timestamp() / 60,
            host.to_string(),
        );
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, report)) = cached.as_ref()
            && *k == key
        {
            return report.clone();
        }
        let report = read(host, audit, alerts, Some(METRICS_WINDOW_S));
        *cached = Some((key, report.clone()));
        report
    }
}

/// The ledger's series for `/metrics`. Gauges, not counters: a figure
/// over a sliding window falls as old deploys leave it.
/// A gauge family of counts, one series per `label` value.
fn counts(
    page: &mut Page,
    host: &str,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) {
    page.family(name, "gauge", help);
    for (value, n) in values {
        page.sample(name, &[("host", host), (label, value)], *n as f64);
    }
}

pub fn render(report: &Report) -> String {
    let host = escape(&report.host);
    let h: &[(&str, &str)] = &[("host", &host)];
    let mut page = Page::default();
    let window = METRICS_WINDOW_S as f64;
    page.family(
        "gantry_report_window_seconds",
        "gauge",
        "The window the gantry_report_* series cover.",
    );
    page.sample("gantry_report_window_seconds", h, window);

    let d = &report.deploys;
    counts(
        &mut page,
        &host,
        "gantry_report_deploys",
        "Deploys submitted in the window, by how they ended (reached_live and failed_after_live overlap the rest).",
        "outcome",
        &[
            ("submitted", d.submitted),
            ("rejected", d.rejected),
            ("reached_live", d.reached_live),
            ("rolled_back", d.rolled_back),
            ("halted", d.halted),
            ("stopped", d.stopped),
            ("failed_after_live", d.failed_after_live),
            ("in_flight", d.in_flight),
        ],
    );

    if let Some(rate) = report.change_failure_rate {
        page.family(
            "gantry_report_change_failure_ratio",
            "gauge",
            "Deploys rolled back or halted after reaching live, over those that reached live (absent: none reached live).",
        );
        page.sample("gantry_report_change_failure_ratio", h, rate);
    }

    for (name, help, durations) in [
        (
            "gantry_report_lead_time_seconds",
            "Submit to live, per deploy that reached live.",
            &report.lead_time,
        ),
        (
            "gantry_report_recovery_seconds",
            "A rollback's breach to the known-good answering healthy.",
            &report.recovery,
        ),
        (
            "gantry_report_approval_wait_seconds",
            "Awaiting approval to approved.",
            &report.approvals.wait,
        ),
        (
            "gantry_report_drill_seconds",
            "A drill's breach to the known-good answering healthy.",
            &report.drills.timing,
        ),
    ] {
        page.family(name, "summary", help);
        for (quantile, value) in [("0.5", durations.median_s), ("0.9", durations.p90_s)] {
            if let Some(value) = value {
                page.sample(name, &[("host", &host), ("quantile", quantile)], value);
            }
        }
        let sum: f64 = durations.samples_s.iter().sum();
        page.sample(&format!("{name}_sum"), h, sum);
        page.sample(&format!("{name}_count"), h, durations.count as f64);
    }

    counts(
        &mut page,
        &host,
        "gantry_report_caught",
        "Bad releases stopped, by where: validate, smoke, or the stage whose gate failed.",
        "stage",
        &report.caught.by_stage(),
    );
    let a = &report.approvals;
    counts(
        &mut page,
        &host,
        "gantry_report_approvals",
        "Approvals given, and approvals escalated for waiting, in the window.",
        "what",
        &[("approved", a.approved), ("escalated", a.escalated)],
    );
    let dr = &report.drills;
    counts(
        &mut page,
        &host,
        "gantry_report_drills",
        "Drills in the window: started, passed, failed, and passed within the rollback SLA.",
        "result",
        &[
            ("started", dr.started),
            ("passed", dr.passed),
            ("failed", dr.failed),
            ("within_sla", dr.within_sla),
        ],
    );
    let mut priorities: Vec<(&str, u64)> = report.alerts.by_priority().to_vec();
    priorities.push(("dropped", report.alerts.dropped));
    counts(
        &mut page,
        &host,
        "gantry_report_alerts",
        "Alerts raised in the window, by priority (dropped: the webhook queue had no room).",
        "priority",
        &priorities,
    );
    page.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::Lookup::Found;

    #[test]
    fn the_series_parse_and_carry_the_figures() {
        let mut report = Report {
            host: "lab \"1\"".into(),
            ..Report::default()
        };
        report.deploys.submitted = 3;
        report.deploys.failed_after_live = 1;
        report.change_failure_rate = Some(0.5);
        report.lead_time = ledger::Durations::of(vec![60.0, 120.0]);
        report.caught.paper = 2;
        report.alerts.p1 = 4;
        let page = render(&report);
        let parsed = crate::prom::parse(page.as_bytes()).expect(&page);
        let l = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(
            parsed.lookup("gantry_report_deploys", &l("outcome", "submitted")),
            Found(3.0)
        );
        assert_eq!(
            parsed.lookup("gantry_report_change_failure_ratio", &[]),
            Found(0.5)
        );
        assert_eq!(
            parsed.lookup("gantry_report_lead_time_seconds", &l("quantile", "0.9")),
            Found(120.0)
        );
        assert_eq!(
            parsed.lookup("gantry_report_lead_time_seconds_count", &[]),
            Found(2.0)
        );
        assert_eq!(
            parsed.lookup("gantry_report_caught", &l("stage", "paper")),
            Found(2.0)
        );
        assert_eq!(
            parsed.lookup("gantry_report_alerts", &l("priority", "P1")),
            Found(4.0)
        );
        // No deploy reached live: no rate, rather than a rate of 0.
        report.change_failure_rate = None;
        assert!(!render(&report).contains("gantry_report_change_failure_ratio"));
    }
}

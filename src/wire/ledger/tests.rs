//! The ledger on hand-written audit logs: one line per thing that happened,
//! as the agent writes it.

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::pipeline::Time;
use crate::wire::AuditEntry;

fn at(minute: u32, second: u32) -> Time {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 2, 9, minute, second)
        .unwrap()
}

/// A log written line by line: `(minute, second, kind, state, deploy, message)`.
fn log(lines: &[(u32, u32, &str, &str, &str, &str)]) -> Vec<AuditEntry> {
    lines
        .iter()
        .enumerate()
        .map(|(i, (m, s, kind, state, deploy, message))| AuditEntry {
            seq: i as u64 + 1,
            at: crate::stamp::rfc3339(at(*m, *s)),
            host: "lab".into(),
            kind: (*kind).into(),
            state: (*state).into(),
            actor: None,
            reason: None,
            deploy_id: (!deploy.is_empty()).then(|| deploy.to_string()),
            release: None,
            message: (*message).into(),
            detail: None,
            event: None,
            prev: String::new(),
            hash: String::new(),
        })
        .collect()
}

fn with_total_ms(mut entries: Vec<AuditEntry>, seq: usize, ms: f64) -> Vec<AuditEntry> {
    entries[seq - 1].detail = Some(json!({ "detect_ms": 1.0, "total_ms": ms }));
    entries
}

/// Good to live, a paper failure rolled back, a canary failure with no
/// way back halted, one rejected, a live release rolled back after live,
/// one in flight; a drill; an approval.
fn the_month() -> Vec<AuditEntry> {
    let entries = log(&[
        (0, 0, "agent.resume", "idle", "", "agent started"),
        // d-1: good, approved after 30 s, live 2 min after submit.
        (
            0,
            0,
            "deploy.submit",
            "validating",
            "d-1",
            "release a submitted",
        ),
        (0, 1, "stage.start", "shadow", "d-1", "shadow soak"),
        (
            1,
            0,
            "stage.await",
            "awaiting_approval",
            "d-1",
            "canary → live needs approval",
        ),
        (
            1,
            20,
            "approval.escalated",
            "awaiting_approval",
            "d-1",
            "waiting",
        ),
        (1, 30, "approve", "awaiting_approval", "d-1", "approved"),
        (2, 0, "stage.live", "live", "d-1", "release a live"),
        (3, 0, "drill.start", "live", "d-1", "drill"),
        (3, 1, "drill.back", "live", "d-1", "known-good answered"),
        (
            3,
            2,
            "drill.done",
            "live",
            "d-1",
            "drill passed: rolled back and forward, a live",
        ),
        // d-2: fails paper, rolled back; recovery measured at 180 ms.
        (
            4,
            0,
            "deploy.submit",
            "validating",
            "d-2",
            "release b submitted",
        ),
        (4, 1, "stage.start", "shadow", "d-2", "shadow"),
        (4, 30, "stage.start", "paper", "d-2", "paper"),
        (
            4,
            40,
            "gate.fail",
            "paper",
            "d-2",
            "paper gate failed on drawdown: 4 > 3",
        ),
        (
            4,
            40,
            "rollback.start",
            "rolling_back",
            "d-2",
            "rolling back",
        ),
        (
            4,
            41,
            "rollback.done",
            "rolled_back",
            "d-2",
            "rolled back to a",
        ),
        // d-3: rejected at the door.
        (
            5,
            0,
            "deploy.submit",
            "validating",
            "d-3",
            "release c submitted",
        ),
        (
            5,
            1,
            "deploy.rejected",
            "rolled_back",
            "d-3",
            "release c failed validation",
        ),
        // d-4: live, then its live gate fails: a change failure; recovery
        // by the clock (no measured timings): 2 s.
        (
            6,
            0,
            "deploy.submit",
            "validating",
            "d-4",
            "release d submitted",
        ),
        (7, 0, "stage.live", "live", "d-4", "release d live"),
        (8, 0, "gate.fail", "live", "d-4", "live gate failed on pnl"),
        (
            8,
            0,
            "rollback.start",
            "rolling_back",
            "d-4",
            "rolling back",
        ),
        (
            8,
            2,
            "rollback.done",
            "rolled_back",
            "d-4",
            "rolled back to a",
        ),
        // An estop after the rollback names d-4 again: it ended already.
        (9, 0, "estop", "halted", "d-4", "halted: by amy"),
        (9, 30, "rearm", "idle", "d-4", "rearmed"),
        // d-5: canary fails with no known-good: halted before live.
        (
            10,
            0,
            "deploy.submit",
            "validating",
            "d-5",
            "release e submitted",
        ),
        (
            10,
            50,
            "gate.fail",
            "awaiting_approval",
            "d-5",
            "canary gate failed on recon",
        ),
        (10, 50, "halt", "halted", "d-5", "halted: no known-good"),
        // d-6: in flight.
        (
            11,
            0,
            "deploy.submit",
            "validating",
            "d-6",
            "release f submitted",
        ),
        (11, 1, "stage.start", "shadow", "d-6", "shadow"),
        (11, 5, "smoke.fail", "shadow", "", "smoke failed"),
    ]);
    let entries = with_total_ms(entries, 9, 140.0);
    with_total_ms(entries, 16, 180.0)
}

#[test]
fn a_month_of_deploys_counted_as_it_happened() {
    let report = compute("lab", &the_month(), &[], None, at(30, 0));
    assert_eq!(
        report.deploys,
        Deploys {
            submitted: 6,
            rejected: 1,
            reached_live: 2,
            rolled_back: 2,
            halted: 1,
            stopped: 0,
            failed_after_live: 1,
            in_flight: 1,
        }
    );
    assert_eq!(report.change_failure_rate, Some(0.5));
    assert_eq!(report.lead_time.samples_s, [120.0, 60.0]);
    assert_eq!(report.lead_time.median_s, Some(60.0));
    assert_eq!(report.lead_time.p90_s, Some(120.0));
    // Measured where the agent wrote timings, else rollback.start → done.
    assert_eq!(report.recovery.samples_s, [0.18, 2.0]);
    assert_eq!(
        report.caught,
        Caught {
            validate: 1,
            smoke: 1,
            shadow: 0,
            paper: 1,
            canary: 1,
            live: 1,
        }
    );
    assert_eq!(report.caught.before_live(), 2);
    assert_eq!(report.approvals.approved, 1);
    assert_eq!(report.approvals.escalated, 1);
    assert_eq!(report.approvals.wait.samples_s, [30.0]);
    assert_eq!(report.drills.started, 1);
    assert_eq!(report.drills.passed, 1);
    assert_eq!(report.drills.within_sla, 1);
    assert_eq!(report.drills.timing.samples_s, [0.14]);
    assert_eq!(report.entries, 31);
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
}

#[test]
fn the_window_leaves_out_what_came_before_it() {
    // From 09:05: d-1 and d-2 were submitted before, so they are not
    // counted, nor is the drill; d-4's lead time and failure are.
    let report = compute("lab", &the_month(), &[], Some(at(5, 0)), at(30, 0));
    assert_eq!(report.deploys.submitted, 4);
    assert_eq!(report.deploys.reached_live, 1);
    assert_eq!(report.deploys.failed_after_live, 1);
    assert_eq!(report.change_failure_rate, Some(1.0));
    assert_eq!(report.drills.started, 0);
    assert_eq!(report.approvals.approved, 0);
    assert_eq!(report.recovery.samples_s, [2.0]);
    assert_eq!(report.caught.paper, 0);
    assert_eq!(report.since.as_deref(), Some("2026-03-02T09:05:00.000Z"));
}

#[test]
fn a_failed_drill_and_one_over_the_sla_do_not_pass_it() {
    let entries = log(&[
        (0, 0, "drill.start", "live", "d-1", "drill"),
        (
            0,
            1,
            "drill.back",
            "live",
            "d-1",
            "known-good did NOT answer",
        ),
        (
            0,
            2,
            "drill.done",
            "live",
            "d-1",
            "drill FAILED: the known-good release did not answer healthy; a live again",
        ),
        (1, 0, "drill.start", "live", "d-1", "drill"),
        (1, 1, "drill.back", "live", "d-1", "known-good answered"),
        (
            1,
            2,
            "drill.done",
            "live",
            "d-1",
            "drill passed: rolled back and forward, a live",
        ),
    ]);
    let entries = with_total_ms(entries, 2, 900.0);
    let entries = with_total_ms(entries, 5, 61_000.0);
    let report = compute("lab", &entries, &[], None, at(30, 0));
    assert_eq!(
        (
            report.drills.started,
            report.drills.passed,
            report.drills.failed
        ),
        (2, 1, 1)
    );
    assert_eq!(report.drills.within_sla, 0);
    assert_eq!(report.drills.timing.max_s, Some(61.0));
    assert_eq!(
        report.drills.last_at.as_deref(),
        Some("2026-03-02T09:01:02.000Z")
    );
}

#[test]
fn alerts_by_priority_in_the_window() {
    let line = |minute: u32, priority: &str, kind: Option<&str>| AlertLine {
        at: crate::stamp::rfc3339(at(minute, 0)),
        priority: priority.into(),
        kind: kind.map(str::to_string),
    };
    let alerts = [
        line(0, "P0", None),
        line(1, "P0", None),
        line(2, "P1", None),
        line(3, "P3", None),
        line(4, "P2", Some("dropped")),
        line(40, "P2", None),
        AlertLine::default(),
    ];
    let report = compute("lab", &[], &alerts, Some(at(1, 0)), at(30, 0));
    assert_eq!(
        report.alerts,
        Alerts {
            p0: 1,
            p1: 1,
            p2: 0,
            p3: 1,
            dropped: 1,
        }
    );
    assert_eq!(report.change_failure_rate, None);
    assert_eq!(report.lead_time.median_s, None);
}

#[test]
fn a_fleet_is_made_of_its_hosts_samples() {
    let one = compute("a", &the_month(), &[], None, at(30, 0));
    let mut two = compute("b", &the_month(), &[], Some(at(5, 0)), at(30, 0));
    two.lead_time = Durations::of(vec![10.0, 20.0, 30.0]);
    let fleet = Report::merge("fleet", &[one.clone(), two.clone()]);
    assert_eq!(fleet.deploys.submitted, 10);
    assert_eq!(fleet.deploys.reached_live, 3);
    assert_eq!(fleet.deploys.failed_after_live, 2);
    assert_eq!(fleet.change_failure_rate, Some(2.0 / 3.0));
    assert_eq!(fleet.lead_time.count, 5);
    assert_eq!(fleet.lead_time.median_s, Some(30.0));
    assert_eq!(fleet.lead_time.max_s, Some(120.0));
    assert_eq!(fleet.since, one.since);
    assert_eq!(fleet.caught.paper, 1);
}

#[test]
fn nearest_rank_percentiles() {
    let d = Durations::of((1..=10).map(f64::from).collect());
    assert_eq!(
        (d.median_s, d.p90_s, d.max_s),
        (Some(5.0), Some(9.0), Some(10.0))
    );
    let one = Durations::of(vec![7.0]);
    assert_eq!((one.median_s, one.p90_s), (Some(7.0), Some(7.0)));
}

#[test]
fn since_reads_units_and_names_what_it_wants() {
    assert_eq!(
        parse_since("30d").unwrap(),
        Some(chrono::Duration::days(30))
    );
    assert_eq!(
        parse_since("12h").unwrap(),
        Some(chrono::Duration::hours(12))
    );
    assert_eq!(parse_since("2w").unwrap(), Some(chrono::Duration::days(14)));
    assert_eq!(parse_since("all").unwrap(), None);
    for bad in ["", "30", "d", "-3d", "3y", "0d", "99999999999d"] {
        let e = parse_since(bad).unwrap_err();
        assert!(e.contains("--since"), "{e}");
    }
}

#[test]
fn the_text_says_each_figure() {
    let report = compute("lab\u{1b}[2J", &the_month(), &[], None, at(30, 0));
    let text = text::lines(&report).join("\n");
    for want in [
        "6 submitted · 2 reached live · 2 rolled back · 1 halted · 1 rejected",
        "submit → live median 1m00s · p90 2m00s",
        "50.0%  (1 of 2 that reached live",
        "median 180ms",
        "validate 1 · smoke 1 · shadow 0 · paper 1 · canary 1 · live 1  (2 by the soaks",
        "1 approved · 1 escalated · wait median 30.0s",
        "1 passed · 0 failed · 1 within the 60 s SLA",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains('\u{1b}'), "{text}");
}

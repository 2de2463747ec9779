//! What the risk ledger costs on a large audit log: `cargo bench --bench
//! ledger` (figures in docs/benchmarks.md). The log is written as the agent
//! writes it (one JSON line per entry, hash fields included), a deploy of
//! ten entries at a time, every fifth one rolled back; the time is reading
//! every line back and computing the report, as `ctl report` and an
//! uncached `/metrics` scrape do.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use gantry::wire::AuditEntry;
use gantry::wire::ledger::compute;

fn line(seq: u64, at: chrono::DateTime<Utc>, kind: &str, state: &str, deploy: u64) -> String {
    let entry = AuditEntry {
        seq,
        at: gantry::stamp::rfc3339(at),
        host: "lhr-1".into(),
        kind: kind.into(),
        state: state.into(),
        actor: None,
        reason: None,
        deploy_id: Some(format!("d-20260101T000000Z-{deploy}")),
        release: Some("20260101T000000Z-ab12cd34".into()),
        message: format!("{kind} for deploy {deploy}: the words the agent writes here"),
        detail: (kind == "rollback.done")
            .then(|| serde_json::json!({"detect_ms": 0.1, "total_ms": 14.6})),
        event: None,
        prev: "a".repeat(64),
        hash: "b".repeat(64),
    };
    serde_json::to_string(&entry).unwrap()
}

fn log(entries: u64) -> String {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut out = String::new();
    let mut seq = 0;
    let mut deploy = 0;
    while seq < entries {
        deploy += 1;
        let kinds: &[(&str, &str)] = if deploy % 5 == 0 {
            &[
                ("deploy.submit", "validating"),
                ("stage.start", "shadow"),
                ("gate.pass", "shadow"),
                ("stage.start", "paper"),
                ("gate.fail", "paper"),
                ("rollback.start", "rolling_back"),
                ("rollback.done", "rolled_back"),
            ]
        } else {
            &[
                ("deploy.submit", "validating"),
                ("stage.start", "shadow"),
                ("gate.pass", "shadow"),
                ("stage.start", "paper"),
                ("gate.pass", "paper"),
                ("stage.start", "canary"),
                ("stage.await", "awaiting_approval"),
                ("approve", "awaiting_approval"),
                ("stage.live", "live"),
                ("watch.done", "live"),
            ]
        };
        for (kind, state) in kinds {
            seq += 1;
            let at = start + Duration::seconds(seq as i64 * 60);
            out.push_str(&line(seq, at, kind, state, deploy));
            out.push('\n');
        }
    }
    out
}

fn main() {
    for entries in [10_000u64, 100_000] {
        let text = log(entries);
        let runs = 5;
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                let parsed: Vec<AuditEntry> = text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                let report = compute("lhr-1", &parsed, &[], None, Utc::now());
                std::hint::black_box(&report);
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{entries} entries ({:.1} MB): median {:.0} ms, max {:.0} ms to read and compute the ledger",
            text.len() as f64 / 1e6,
            times[runs / 2],
            times[runs - 1]
        );
    }
}

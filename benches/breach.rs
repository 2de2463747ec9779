//! From a P0 breach to the known-good answering healthy, end to end, with
//! the default `gantry init --sim` template: `cargo bench --bench breach`
//! (figures in docs/benchmarks.md).
//!
//! A real agent and real `gantry sim` processes. The known-good is live;
//! each run submits a release whose drawdown jumps past its P0 budget a
//! fixed time after its paper process starts. The fault's instant is read
//! off the process itself (wall clock minus its `sim_uptime_seconds`, one
//! loopback scrape, under a millisecond of error), so the figure includes
//! the wait for the next sample, the decision, the swap, the restart and
//! the known-good's first healthy sample; the agent's own audit times end
//! it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::Lab;

const RUNS: usize = 40;
/// When the drawdown jumps, after the paper process starts; each run adds
/// a step of [`SPREAD_S`] / 10, so the faults fall evenly across the probe
/// interval rather than in step with it (a process starts right after the
/// sample that started it).
const FAULT_AFTER_S: f64 = 2.0;
const SPREAD_S: f64 = 0.1;

fn main() {
    // Paper soaks longer than the fault takes to come, so it comes in paper;
    // shadow, which does not watch drawdown, passes in a second.
    let mut lab = Lab::new("bench-breach", 5);
    let config = std::fs::read_to_string(&lab.config)
        .expect("config")
        .replace("shadow = 5", "shadow = 1");
    std::fs::write(&lab.config, &config).expect("config");
    let metrics = config
        .lines()
        .find_map(|l| l.strip_prefix("url = \"http://"))
        .and_then(|l| l.split('/').next())
        .expect("probe url in the template")
        .to_string();
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(20));

    let mut detect = Vec::new();
    let mut total = Vec::new();
    for run in 0..RUNS {
        let fault_after = FAULT_AFTER_S + SPREAD_S * ((run % 10) as f64 + 0.5) / 10.0;
        let release = lab.write_release(
            &format!("bad-drawdown-{run}.env"),
            format!(
                "STRATEGY=momentum\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S={fault_after:.3}\nBENCH_RUN={run}\n"
            )
            .as_bytes(),
        );
        let before = audit(&lab).len();
        let out = lab.ctl_path(&["submit", "--reason", "benchmark breach"], &release);
        assert!(out.status.success(), "submit: {}", common::stderr(&out));
        let onset = paper_fault_onset(&metrics, fault_after);
        common::wait_until("the rollback", Duration::from_secs(20), || {
            audit(&lab)[before..]
                .iter()
                .any(|e| e["kind"] == "rollback.done")
        });
        let entries = audit(&lab);
        let failed = entries[before..].iter().find(|e| e["kind"] == "gate.fail");
        assert!(
            failed.is_some_and(|e| e["message"]
                .as_str()
                .unwrap_or("")
                .contains("paper gate failed on drawdown_budget")),
            "run {run}: {failed:?}"
        );
        let at = |kind: &str| -> DateTime<Utc> {
            let entry = entries[before..]
                .iter()
                .find(|e| e["kind"] == kind)
                .unwrap_or_else(|| panic!("no {kind} in run {run}"));
            entry["at"].as_str().unwrap().parse().expect("RFC 3339")
        };
        let ms = |end: DateTime<Utc>| (end - onset).num_microseconds().unwrap() as f64 / 1000.0;
        detect.push(ms(at("gate.fail")));
        total.push(ms(at("rollback.done")));
        println!(
            "run {:>2}: decided {:>6.1} ms, known-good healthy {:>6.1} ms",
            run + 1,
            detect[run],
            total[run]
        );
    }
    println!("\n{RUNS} breaches, milliseconds from the fault:");
    println!(
        "{:<22} {:>7} {:>7} {:>7} {:>7}",
        "", "min", "median", "p99", "max"
    );
    for (name, values) in [
        ("to the decision", &mut detect),
        ("to known-good healthy", &mut total),
    ] {
        values.sort_by(f64::total_cmp);
        let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name:<22} {:>7.1} {:>7.1} {:>7.1} {:>7.1}",
            pick(0.0),
            pick(0.5),
            pick(0.99),
            pick(1.0)
        );
    }
}

/// The host's audit log as the agent wrote it (docs/layout.md).
fn audit(lab: &Lab) -> Vec<serde_json::Value> {
    std::fs::read_to_string(lab.path("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The wall-clock instant the paper process's fault begins: scrapes until
/// the process serving is the paper one, then subtracts its uptime.
fn paper_fault_onset(addr: &str, fault_after: f64) -> DateTime<Utc> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        let asked = Utc::now();
        if let Some(page) = scrape(addr)
            && page.contains("trade_mode=\"paper\"")
            && let Some(uptime) = page
                .lines()
                .find_map(|l| l.strip_prefix("sim_uptime_seconds "))
                .and_then(|v| v.trim().parse::<f64>().ok())
            && uptime < fault_after - 0.2
        {
            let started = asked - chrono::Duration::microseconds((uptime * 1e6) as i64);
            return started + chrono::Duration::microseconds((fault_after * 1e6) as i64);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the paper process never answered on {addr}");
}

fn scrape(addr: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut page = String::new();
    stream.read_to_string(&mut page).ok()?;
    Some(page)
}

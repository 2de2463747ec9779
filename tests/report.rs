//! The risk ledger on a real agent and sim: a good deploy, one a gate
//! rolls back, one halted after reaching live, a drill; then `ctl report`,
//! `/api/v1/deploy/report` and `/metrics` must say what the audit log and
//! alerts.jsonl say, counted here line by line.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::fleet::DemoFleet;
use common::{Lab, stderr};
use gantry::prom::{self, Lookup};
use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers");
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "GET {path}: {head}\n{body}"
    );
    body.to_string()
}

fn lines(lab: &Lab, file: &str) -> Vec<Value> {
    std::fs::read_to_string(lab.path(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn seconds_between(from: &Value, to: &Value) -> f64 {
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    (t(to) - t(from)).num_milliseconds() as f64 / 1000.0
}

#[test]
fn report_figures_match_the_audit_log_of_good_rolled_back_and_halted_deploys() {
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut lab = Lab::new("ledger-1", 1);
    let mut config = std::fs::read_to_string(&lab.config).unwrap();
    config.push_str(&format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\n"));
    std::fs::write(&lab.config, config).unwrap();
    lab.start_agent();

    // Good: to live, approved.
    let v1 = lab.write_release("v1.env", b"STRATEGY=mean_reversion\nSIM_PNL_DRIFT=1\n");
    lab.deploy_live(&v1, Duration::from_secs(3));
    // Bad: its drawdown fails a gate; rolled back to v1.
    let out = lab.ctl_path(
        &["submit", "--reason", "risky"],
        &lab.example("bad-drawdown.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("rolled_back", Duration::from_secs(20));
    // Good again, drilled, then halted while live.
    let v2 = lab.write_release("v2.env", b"STRATEGY=mean_reversion\nSIM_PNL_DRIFT=2\n");
    lab.deploy_live(&v2, Duration::from_secs(3));
    let out = lab.ctl(&["drill", "--reason", "quarterly rehearsal"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lab.ctl(&["estop", "--reason", "venue outage"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let report = lab.ctl_json(&["report"]);
    let audit = lines(&lab, "audit.jsonl");
    let alerts = lines(&lab, "alerts.jsonl");
    let kind = |k: &str| audit.iter().filter(|e| e["kind"] == k).count() as u64;
    let first = |k: &str, deploy: &Value| {
        audit
            .iter()
            .find(|e| e["kind"] == k && e["deploy_id"] == *deploy)
            .cloned()
    };

    // Deploys, counted from the log: by their first ending.
    let submitted: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "deploy.submit")
        .map(|e| &e["deploy_id"])
        .collect();
    assert_eq!(submitted.len(), 3);
    let d = &report["deploys"];
    assert_eq!(d["submitted"], 3, "{report:#}");
    let live: Vec<(&Value, Value, Value)> = submitted
        .iter()
        .filter_map(|id| Some((*id, first("deploy.submit", id)?, first("stage.live", id)?)))
        .collect();
    assert_eq!(d["reached_live"], live.len() as u64);
    assert_eq!(d["reached_live"], 2);
    assert_eq!(d["rolled_back"], 1);
    assert_eq!(d["halted"], 1);
    assert_eq!(d["failed_after_live"], 1);
    assert_eq!(report["change_failure_rate"], 0.5);

    // Lead time: each deploy's submit → live, as the log has them.
    let mut leads: Vec<f64> = live
        .iter()
        .map(|(_, submit, live)| seconds_between(&submit["at"], &live["at"]))
        .collect();
    assert_eq!(report["lead_time"]["samples_s"], serde_json::json!(leads));
    leads.sort_by(f64::total_cmp);
    assert_eq!(report["lead_time"]["median_s"], leads[0]);
    assert_eq!(report["lead_time"]["max_s"], leads[1]);
    assert!(leads[0] >= 3.0, "three 1 s soaks at least: {leads:?}");

    // Recovery: the rollback's measured breach → healthy.
    let done = audit.iter().find(|e| e["kind"] == "rollback.done").unwrap();
    let total_s = done["detail"]["total_ms"].as_f64().unwrap() / 1000.0;
    assert_eq!(report["recovery"]["count"], 1);
    assert_eq!(report["recovery"]["samples_s"][0], total_s);

    // Caught per stage: the gate failures, by the state each was written
    // in (awaiting approval still holds the canary gate).
    let failed_in = |stage: &str| {
        audit
            .iter()
            .filter(|e| e["kind"] == "gate.fail")
            .filter(|e| {
                e["state"] == stage || (stage == "canary" && e["state"] == "awaiting_approval")
            })
            .count() as u64
    };
    assert_eq!(kind("gate.fail"), 1);
    assert_eq!(
        ["shadow", "paper", "canary", "live"]
            .map(failed_in)
            .iter()
            .sum::<u64>(),
        1,
        "the one gate failure has a stage"
    );
    for stage in ["shadow", "paper", "canary", "live"] {
        assert_eq!(report["caught"][stage], failed_in(stage), "{stage}");
    }
    assert_eq!(report["caught"]["validate"], kind("deploy.rejected"));

    // Approvals and their wait.
    assert_eq!(report["approvals"]["approved"], kind("approve"));
    assert_eq!(report["approvals"]["approved"], 2);
    assert_eq!(report["approvals"]["wait"]["count"], 2);

    // The drill and its timing against the SLA.
    assert_eq!(report["drills"]["started"], kind("drill.start"));
    assert_eq!(report["drills"]["passed"], 1);
    let back = audit.iter().find(|e| e["kind"] == "drill.back").unwrap();
    assert_eq!(
        report["drills"]["timing"]["samples_s"][0],
        back["detail"]["total_ms"].as_f64().unwrap() / 1000.0
    );
    assert_eq!(report["drills"]["within_sla"], 1);

    // Alerts by priority, from alerts.jsonl.
    for p in ["P0", "P1", "P2", "P3"] {
        let n = alerts.iter().filter(|a| a["priority"] == p).count() as u64;
        assert_eq!(report["alerts"][p.to_lowercase()], n, "{p}");
    }
    assert!(
        report["alerts"]["p0"].as_u64().unwrap() >= 2,
        "rollback and halt page P0"
    );
    assert_eq!(report["entries"], audit.len() as u64);

    // The text says the same.
    let out = lab.ctl(&["report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 submitted · 2 reached live · 1 rolled back · 1 halted"),
        "{text}"
    );
    assert!(text.contains("50.0%  (1 of 2"), "{text}");

    // The HTTP endpoint and /metrics carry the same figures.
    let over_http: Value = serde_json::from_str(&get(addr, "/api/v1/deploy/report")).unwrap();
    for key in [
        "deploys",
        "lead_time",
        "caught",
        "change_failure_rate",
        "drills",
    ] {
        assert_eq!(over_http[key], report[key], "{key}");
    }
    // A window that cannot be read is the client's error, named.
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/v1/deploy/report?since=soon HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("since \"soon\""), "{answer}");
    let page = get(addr, "/metrics");
    let parsed = prom::parse(page.as_bytes()).expect(&page);
    let series = |name: &str, k: &str, v: &str| match parsed
        .lookup(name, &[(k.to_string(), v.to_string())])
    {
        Lookup::Found(x) => x,
        other => panic!("{name}{{{k}={v}}}: {other:?}\n{page}"),
    };
    assert_eq!(series("gantry_report_deploys", "outcome", "submitted"), 3.0);
    assert_eq!(
        series("gantry_report_deploys", "outcome", "failed_after_live"),
        1.0
    );
    assert_eq!(
        series("gantry_report_change_failure_ratio", "host", "ledger-1"),
        0.5
    );
    assert_eq!(
        series("gantry_report_caught", "stage", "shadow"),
        failed_in("shadow") as f64
    );

    // A window that starts after everything: nothing in it.
    std::thread::sleep(Duration::from_millis(1100));
    let recent = lab.ctl_json(&["report", "--since", "1s"]);
    assert_eq!(recent["deploys"]["submitted"], 0, "{recent:#}");
    assert_eq!(recent["change_failure_rate"], Value::Null);
    let bad = lab.ctl(&["report", "--since", "a fortnight"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--since \"a fortnight\""),
        "{}",
        stderr(&bad)
    );
    let all = lab.ctl_json(&["report", "--since", "all"]);
    assert_eq!(all["since"], Value::Null);
    assert_eq!(all["deploys"], report["deploys"]);
    lab.signal_agent(libc::SIGTERM);
}

#[test]
fn a_fleet_report_has_a_row_per_host_and_totals_from_every_hosts_log() {
    let mut fleet = DemoFleet::start(3, 1);
    let dir = tempfile::tempdir().unwrap();
    // One release across the fleet, so each host's log has a deploy.
    let release = dir.path().join("v2.env");
    std::fs::write(&release, "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=4\n").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let approvals = fleet.approver(stop.clone());
    let out = fleet.ctl_all(&["rollout", release.to_str().unwrap(), "--reason", "weekly"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    approvals.join().unwrap();

    let out = fleet.ctl_all(&["--json", "report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts = all["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    let mut submitted = 0;
    let mut leads = 0;
    for row in hosts {
        let name = row["name"].as_str().unwrap();
        let log = std::fs::read_to_string(fleet.host_dir(name).join("audit.jsonl")).unwrap();
        let count = |kind: &str| log.matches(&format!("\"kind\":\"{kind}\"")).count() as u64;
        assert_eq!(row["ok"], true);
        assert_eq!(row["report"]["host"], name);
        assert_eq!(
            row["report"]["deploys"]["submitted"],
            count("deploy.submit"),
            "{name}"
        );
        assert_eq!(
            row["report"]["deploys"]["reached_live"],
            count("stage.live"),
            "{name}"
        );
        submitted += count("deploy.submit");
        leads += row["report"]["lead_time"]["count"].as_u64().unwrap();
    }
    assert!(submitted >= 3, "the rollout submitted on every host");
    assert_eq!(all["fleet"]["host"], "fleet");
    assert_eq!(all["fleet"]["deploys"]["submitted"], submitted);
    assert_eq!(all["fleet"]["lead_time"]["count"], leads);

    let out = fleet.ctl_all(&["report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in ["demo-1", "demo-2", "demo-3", "risk ledger · fleet"] {
        assert!(text.contains(name), "{name}: {text}");
    }
    println!("{text}");
    fleet.stop();
}

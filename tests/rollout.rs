//! `ctl --hosts FILE rollout` on 7 demo hosts in three waves (canary,
//! primary, full), with a person approving each host as it asks.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::fleet::DemoFleet;
use common::{GANTRY, stderr};

fn rollout(fleet: &DemoFleet, release: &std::path::Path, reason: &str) -> std::process::Output {
    fleet.ctl_all(&["rollout", release.to_str().unwrap(), "--reason", reason])
}

fn audit(fleet: &DemoFleet, host: &str) -> String {
    std::fs::read_to_string(fleet.host_dir(host).join("audit.jsonl")).unwrap()
}

fn first_at(log: &str, kind: &str, release_hint: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(&format!("\"kind\":\"{kind}\"")) && l.contains(release_hint))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["at"].as_str().map(str::to_string))
}

#[test]
fn waves_go_in_order_a_primary_failure_rolls_back_and_a_killed_rollout_resumes() {
    let fleet = DemoFleet::start(7, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let approvals = fleet.approver(stop.clone());
    let dir = tempfile::tempdir().unwrap();

    // 1. A good release, wave by wave.
    let good = dir.path().join("good.env");
    std::fs::write(&good, "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=5\n").unwrap();
    let out = rollout(&fleet, &good, "weekly promotion");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("waiting for a human to approve"), "{text}");
    assert!(text.contains("rollout complete"), "{text}");
    for i in 1..=7 {
        assert_eq!(fleet.status(&format!("demo-{i}"))["state"], "live");
    }
    // One release, one name: the same id in every host's status, in its
    // audit log, and in the fleet's RELEASE column (issue 16 part 3).
    let name = fleet.status("demo-1")["current_release"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = gantry::stamp::sha256_hex(&std::fs::read(&good).unwrap());
    assert!(name.ends_with(&format!("-{}", &digest[..8])), "{name}");
    assert!(
        text.contains(&format!("every host is live on {name}")),
        "{text}"
    );
    for i in 1..=7 {
        let host = format!("demo-{i}");
        assert_eq!(
            fleet.status(&host)["current_release"],
            name.as_str(),
            "{host}"
        );
        let live = audit(&fleet, &host)
            .lines()
            .rfind(|l| l.contains("\"kind\":\"stage.live\""))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .unwrap();
        assert_eq!(live["release"], name.as_str(), "{host}");
        assert!(
            fleet
                .host_dir(&host)
                .join(format!("releases/{name}.env"))
                .exists(),
            "{host}"
        );
    }
    let table = String::from_utf8_lossy(&fleet.ctl_all(&["status"]).stdout).into_owned();
    assert_eq!(table.matches(name.as_str()).count(), 7, "{table}");
    // The primary started only after the canary was live, the full wave
    // only after the primary.
    let canary_live = first_at(&audit(&fleet, "demo-1"), "stage.live", "").unwrap();
    let primary_submit = first_at(&audit(&fleet, "demo-2"), "deploy.submit", "").unwrap();
    let primary_live = first_at(&audit(&fleet, "demo-2"), "stage.live", "").unwrap();
    let full_submit = first_at(&audit(&fleet, "demo-5"), "deploy.submit", "").unwrap();
    assert!(
        canary_live <= primary_submit,
        "{canary_live} vs {primary_submit}"
    );
    assert!(
        primary_live <= full_submit,
        "{primary_live} vs {full_submit}"
    );

    // Re-running the same rollout skips every host already on it.
    let out = rollout(&fleet, &good, "again");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("already live")
            .count(),
        7
    );

    // 2. A release that fails on the primary alone.
    let bad = dir.path().join("bad.env");
    std::fs::write(
        &bad,
        "STRATEGY=momentum\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S=0.5\nSIM_FAULT_HOSTS=demo-2\n",
    )
    .unwrap();
    let out = rollout(&fleet, &bad, "risky change");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(stderr(&out).contains("primary wave"), "{}", stderr(&out));
    assert_eq!(fleet.status("demo-2")["state"], "rolled_back");
    let canary = fleet.wait_state("demo-1", "rolled_back", Duration::from_secs(15));
    assert_ne!(
        canary["current_digest"], canary["deploy_digest"],
        "the canary is back on the known-good"
    );
    for i in 3..=7 {
        let log = audit(&fleet, &format!("demo-{i}"));
        assert!(
            !log.contains("risky change"),
            "demo-{i} must never start the bad release"
        );
    }
    // The partial failure is a P1, raised through a host of the failed wave.
    assert!(text.contains("P1 alert raised through demo-2"), "{text}");
    let alerts = std::fs::read_to_string(fleet.host_dir("demo-2").join("alerts.jsonl")).unwrap();
    assert!(
        alerts.contains("\"P1\"") && alerts.contains("rollout: primary wave"),
        "{alerts}"
    );

    // 3. Kill a rollout midway; running it again finishes the job.
    let v2 = dir.path().join("v2.env");
    std::fs::write(&v2, "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=6\n").unwrap();
    let mut child = Command::new(GANTRY)
        .args(["ctl", "--hosts"])
        .arg(&fleet.hosts_file)
        .args(["rollout", v2.to_str().unwrap(), "--reason", "v2"])
        .env("GANTRY_CLIENT_STATE", fleet.client_state.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the primary has been submitted.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !audit(&fleet, "demo-2").contains("\"reason\":\"v2\"") {
        assert!(
            std::time::Instant::now() < deadline,
            "the primary never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let out = rollout(&fleet, &v2, "v2");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("already"), "resumed, not restarted: {text}");
    for i in 1..=7 {
        let status = fleet.status(&format!("demo-{i}"));
        assert_eq!(status["state"], "live");
        assert_eq!(status["current_digest"], status["deploy_digest"]);
    }
    stop.store(true, Ordering::Relaxed);
    approvals.join().unwrap();

    // 4. The monthly drill, host by host, against the SLA.
    let out = fleet.ctl_all(&["--json", "drill", "--reason", "monthly drill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 7);
    for row in rows.as_array().unwrap() {
        assert_eq!(row["ok"], true, "{row}");
        assert!(row["timings"]["total_ms"].as_f64().unwrap() < 60_000.0);
    }
    for i in 1..=7 {
        assert!(fleet.status(&format!("demo-{i}"))["last_drill_at"].is_string());
    }
}

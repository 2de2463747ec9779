//! Issue 9, item 5: a fleet rollout is crash-consistent. `ctl rollout`
//! killed at any moment and run again ends where an uninterrupted run would
//! have, on 7 demo hosts (real agents behind embedded SSH servers): a kill
//! in the canary wave resumes; a kill after the primary failed still rolls
//! back every host that took the release and never sends it to the primary
//! again; and so for each named crash point of src/ctl/rollout/.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::fleet::DemoFleet;
use common::stderr;
use serde_json::Value;

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rollout(fleet: &DemoFleet, hosts: &Path, release: &Path, reason: &str) -> Output {
    fleet.ctl_with(
        hosts,
        None,
        &["rollout", release.to_str().unwrap(), "--reason", reason],
    )
}

/// kill -9, as an operator's laptop dying or a CI runner being reaped.
fn kill9(mut child: Child) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

/// Polls `host` until `done` holds for its status.
fn wait_for(fleet: &DemoFleet, host: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = fleet.status(host);
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{host} never {what}: {status:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many of `host`'s deploys were of the release with this digest.
fn deploys_of(fleet: &DemoFleet, host: &str, digest: &str) -> usize {
    fleet
        .history(host)
        .iter()
        .filter(|d| d["digest"] == digest)
        .count()
}

/// Every host that took the bad release serves the good one again (once
/// any rollback still under way is done); the rest never took it; the
/// failed host took it exactly once.
fn assert_back_on_good(
    fleet: &DemoFleet,
    took: &[&str],
    failed: &str,
    bad: &str,
    good: &str,
    context: &str,
) {
    for i in 1..=7 {
        let host = format!("demo-{i}");
        let status = wait_for(fleet, &host, "settled", |s| {
            !matches!(s["state"].as_str(), Some("rolling_back" | "validating"))
        });
        assert_eq!(
            status["current_digest"], good,
            "{host} must serve the known-good: {status:#}\n{context}"
        );
        let expected = usize::from(took.contains(&host.as_str()));
        assert_eq!(
            deploys_of(fleet, &host, bad),
            expected,
            "{host}: deploys of the bad release\n{context}"
        );
        if took.contains(&host.as_str()) {
            assert_eq!(status["state"], "rolled_back", "{host}\n{context}");
        }
    }
    // The failed primary never started the release again.
    let submits = std::fs::read_to_string(fleet.host_dir(failed).join("audit.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"deploy.submit\"") && l.contains(&bad[..8]))
        .count();
    assert_eq!(submits, 1, "{failed} took the bad release once\n{context}");
}

/// The P1s of one rollout raised on `host` (its alerts file).
fn p1s(fleet: &DemoFleet, host: &str, needle: &str) -> usize {
    std::fs::read_to_string(fleet.host_dir(host).join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"P1\"") && l.contains(needle))
        .count()
}

#[test]
fn a_killed_rollout_run_again_ends_where_an_uninterrupted_run_would_have() {
    let fleet = DemoFleet::start(7, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let approvals = fleet.approver(stop.clone());
    let dir = tempfile::tempdir().unwrap();
    let default_waves = fleet.hosts_file.clone();

    // 1. Killed in the middle of the canary wave: the re-run waits for the
    // canary's deploy in flight, then goes on; every host ends live.
    let good = dir.path().join("good.env");
    std::fs::write(&good, "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=5\n").unwrap();
    let good_digest = sha256(&good);
    let child = fleet.spawn_ctl(
        &default_waves,
        &["rollout", good.to_str().unwrap(), "--reason", "weekly"],
        &[],
    );
    wait_for(&fleet, "demo-1", "started the release", |s| {
        s["deploy_digest"] == good_digest.as_str()
            && matches!(s["state"].as_str(), Some("shadow" | "paper" | "canary"))
    });
    kill9(child);
    assert_eq!(deploys_of(&fleet, "demo-2", &good_digest), 0);
    let out = rollout(&fleet, &default_waves, &good, "weekly");
    assert!(out.status.success(), "{}\n{}", text(&out), stderr(&out));
    // Resumed, not restarted: the canary's deploy in flight was kept.
    assert!(text(&out).contains("demo-1: already"), "{}", text(&out));
    for i in 1..=7 {
        let host = format!("demo-{i}");
        let status = fleet.status(&host);
        assert_eq!(status["state"], "live", "{host}");
        assert_eq!(status["current_digest"], good_digest.as_str(), "{host}");
        assert_eq!(deploys_of(&fleet, &host, &good_digest), 1, "{host}");
    }

    // 2. The acceptance case: killed right after the primary failed. The
    // re-run rolls the canary back and never sends the release to the
    // primary again.
    let bad = dir.path().join("bad.env");
    std::fs::write(
        &bad,
        "STRATEGY=momentum\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S=0.5\nSIM_FAULT_HOSTS=demo-2\n",
    )
    .unwrap();
    let bad_digest = sha256(&bad);
    let child = fleet.spawn_ctl(
        &default_waves,
        &["rollout", bad.to_str().unwrap(), "--reason", "risky"],
        &[],
    );
    wait_for(&fleet, "demo-2", "failed", |s| {
        s["deploy_digest"] == bad_digest.as_str()
            && matches!(s["state"].as_str(), Some("rolling_back" | "rolled_back"))
    });
    kill9(child);
    let out = rollout(&fleet, &default_waves, &bad, "risky");
    let context = format!("{}\n{}", text(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{context}");
    assert!(
        stderr(&out).contains("primary wave primary failed on demo-2"),
        "{context}"
    );
    assert_back_on_good(
        &fleet,
        &["demo-1", "demo-2"],
        "demo-2",
        &bad_digest,
        &good_digest,
        &context,
    );
    // Run once more: the decision stands, nothing is sent, one P1 in all.
    let out = rollout(&fleet, &default_waves, &bad, "risky");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("P1 alert already raised through demo-2"),
        "{}",
        text(&out)
    );
    assert_eq!(p1s(&fleet, "demo-2", "primary wave primary failed"), 1);
    assert_back_on_good(
        &fleet,
        &["demo-1", "demo-2"],
        "demo-2",
        &bad_digest,
        &good_digest,
        "third run",
    );

    // 3. Each named crash point, on a fleet regrouped so that a primary
    // failure owes three rollbacks: canary demo-1, demo-2; primary demo-3,
    // demo-4 (the one that fails); full the rest.
    let regrouped = fleet.regrouped("regrouped.toml", |host| match host {
        "demo-1" | "demo-2" => "canary",
        "demo-3" | "demo-4" => "primary",
        _ => "full",
    });
    for (i, point) in ["failed", "rolled-back-one", "rolled-back-all"]
        .into_iter()
        .enumerate()
    {
        let bad = dir.path().join(format!("bad-{i}.env"));
        std::fs::write(
            &bad,
            format!(
                "STRATEGY=momentum_{i}\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S=0.5\nSIM_FAULT_HOSTS=demo-4\n"
            ),
        )
        .unwrap();
        let bad_digest = sha256(&bad);
        let reason = format!("crash at {point}");
        let child = fleet.spawn_ctl(
            &regrouped,
            &["rollout", bad.to_str().unwrap(), "--reason", &reason],
            &[("GANTRY_CRASH_AT", &format!("rollout.{point}"))],
        );
        let first = child.wait_with_output().unwrap();
        assert_eq!(
            first.status.signal(),
            Some(libc::SIGKILL),
            "{point}: {}",
            text(&first)
        );
        // The crash point was where it says: rollbacks done before it.
        let rolled_back = text(&first).matches(": rolled back\n").count();
        let expected = match point {
            "failed" => 0,
            "rolled-back-one" => 1,
            _ => 3,
        };
        assert_eq!(rolled_back, expected, "{point}: {}", text(&first));

        let out = rollout(&fleet, &regrouped, &bad, &reason);
        let context = format!(
            "{point}:\n{}\n{}\n{}",
            text(&first),
            text(&out),
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(1), "{context}");
        assert!(
            stderr(&out).contains("primary wave primary failed on demo-4"),
            "{context}"
        );
        assert!(
            text(&out).contains("was decided by an earlier run"),
            "{context}"
        );
        assert_back_on_good(
            &fleet,
            &["demo-1", "demo-2", "demo-3", "demo-4"],
            "demo-4",
            &bad_digest,
            &good_digest,
            &context,
        );
        // One P1 per rollout, whichever run raised it; it names the rollout.
        let id = text(&first)
            .split_once("[rollout-")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(hex, _)| format!("rollout-{hex}"))
            .expect("the rollout names itself");
        assert_eq!(
            p1s(&fleet, "demo-3", &id) + p1s(&fleet, "demo-4", &id),
            1,
            "{context}"
        );
    }

    stop.store(true, Ordering::Relaxed);
    approvals.join().unwrap();
}

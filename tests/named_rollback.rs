//! `ctl releases` and `ctl rollback --to RELEASE` on a real agent and sim:
//! three releases go live, one fails in shadow; the on-call goes back two
//! releases by name, and the refusals name the release and why.

mod common;

use std::time::Duration;

use common::{Lab, stderr};
use serde_json::Value;

fn released(lab: &Lab, name: &str, body: &str) -> String {
    let path = lab.write_release(name, body.as_bytes());
    lab.deploy_live(&path, Duration::from_secs(3));
    lab.status()["current_release"]
        .as_str()
        .unwrap()
        .to_string()
}

fn audit(lab: &Lab) -> Vec<Value> {
    std::fs::read_to_string(lab.path("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn rollback_to_an_older_live_release_brings_it_back_and_releases_shows_it() {
    let mut lab = Lab::new("lab-1", 1);
    lab.start_agent();
    let v1 = released(&lab, "v1.env", "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=1\n");
    let v2 = released(&lab, "v2.env", "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=2\n");

    // A release that fails its shadow gate: it never passes live.
    let out = lab.ctl_path(
        &["submit", "--reason", "risky"],
        &lab.example("bad-drawdown.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let failed = lab.wait_state("rolled_back", Duration::from_secs(20))["deploy_id"].clone();
    let bad = lab.ctl_json(&["history"])["deploys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == failed)
        .unwrap()["release"]
        .as_str()
        .unwrap()
        .to_string();
    let v3 = released(&lab, "v3.env", "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=3\n");

    // The list: newest first, how each stint ended, which may be returned to.
    let list = lab.ctl_json(&["releases"]);
    let rows = list["releases"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["release"].as_str().unwrap())
        .collect();
    assert_eq!(names, [v3.as_str(), v2.as_str(), v1.as_str()], "{list:#}");
    assert_eq!(rows[0]["serving"], true);
    assert_eq!(rows[0]["live_until"], Value::Null);
    assert_eq!(rows[1]["known_good"], true);
    assert_eq!(rows[2]["ended"], "live");
    assert!(rows[2]["replaced_by"].is_string(), "{list:#}");
    assert!(rows[2]["live_until"].is_string());
    assert!(rows[1..].iter().all(|r| r["eligible"] == true));
    let text = String::from_utf8_lossy(&lab.ctl(&["releases"]).stdout).into_owned();
    assert!(text.contains(&v1) && text.contains("serving"), "{text}");

    // Refused, naming the release: never live, unknown, already serving.
    let out = lab.ctl(&["rollback", "--to", &bad, "--reason", "try it"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("release {bad} never passed live")),
        "{}",
        stderr(&out)
    );
    let out = lab.ctl(&[
        "rollback",
        "--to",
        "20990101T000000Z-deadbeef",
        "--reason",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no release \"20990101T000000Z-deadbeef\""),
        "{}",
        stderr(&out)
    );
    let out = lab.ctl(&["rollback", "--to", &v3, "--reason", "x"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("already serving"), "{}", stderr(&out));
    assert_eq!(
        lab.status()["current_release"],
        v3.as_str(),
        "refusals change nothing"
    );

    // Two releases back, by name: v1 answers healthy and serves again.
    let out = lab.ctl(&[
        "rollback",
        "--to",
        &v1,
        "--reason",
        "v2 and v3 share the bug",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("rolled back to {v1}: healthy")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let status = lab.status();
    assert_eq!(status["state"], "rolled_back");
    assert_eq!(status["current_release"], v1.as_str());
    assert_eq!(status["previous_release"], v1.as_str());
    assert_eq!(status["service"]["running"], true);
    let current = std::fs::read_link(lab.path("current.env")).unwrap();
    assert!(current.to_string_lossy().contains(&v1), "{current:?}");
    // The sim runs v1's own knobs again.
    let list = lab.ctl_json(&["releases"]);
    let v1_row = list["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["release"] == v1.as_str())
        .unwrap()
        .clone();
    assert_eq!(v1_row["serving"], true);
    assert_eq!(list["serving"], v1.as_str());

    // Recorded: who, why and where to, before the rollback started.
    let log = audit(&lab);
    let asked = log
        .iter()
        .position(|e| e["kind"] == "rollback" && e["reason"] == "v2 and v3 share the bug")
        .expect("the request is audited");
    assert!(
        log[asked]["message"].as_str().unwrap().contains(&v1),
        "{}",
        log[asked]
    );
    assert_eq!(log[asked]["actor"]["role"], "admin");
    assert_eq!(log[asked + 1]["kind"], "rollback.start");
    assert!(log[asked..].iter().any(|e| e["kind"] == "rollback.done"));
    let verify = lab.ctl(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));

    // Halted: refused, naming the release.
    let out = lab.ctl(&["estop", "--reason", "venue outage"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lab.ctl(&["rollback", "--to", &v2, "--reason", "after the halt"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(&format!("halted: rollback to {v2} refused")),
        "{}",
        stderr(&out)
    );
    lab.signal_agent(libc::SIGTERM);
}

//! The alerts nobody used to get, from a real agent: an approval left
//! waiting pages P1 at each `escalate_after_s` threshold; a rejected
//! validation and a failed smoke page P1; an agent restart is a P3. Each
//! line in alerts.jsonl names the host, deploy, release and the evidence.

mod common;

use std::time::Duration;

use common::{Lab, stderr, wait_until};
use serde_json::Value;

fn alerts(lab: &Lab) -> Vec<Value> {
    std::fs::read_to_string(lab.path("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn escalations(lab: &Lab) -> Vec<Value> {
    alerts(lab)
        .into_iter()
        .filter(|a| a["title"].as_str().unwrap_or("").contains("has waited"))
        .collect()
}

#[test]
fn an_approval_left_waiting_pages_p1_at_each_threshold_and_not_again() {
    let mut lab = Lab::new("lab-1", 1);
    let config = std::fs::read_to_string(&lab.config).unwrap();
    let config = config.replace(
        "escalate_after_s = [900, 3600]",
        "escalate_after_s = [1.5, 3]",
    );
    assert!(config.contains("[1.5, 3]"), "init writes the key");
    std::fs::write(&lab.config, config).unwrap();
    lab.start_agent();
    assert!(
        alerts(&lab).iter().any(
            |a| a["priority"] == "P3" && a["title"].as_str().unwrap().contains("agent resumed")
        ),
        "a start is a P3 lifecycle alert: {:?}",
        alerts(&lab)
    );

    let out = lab.ctl_path(&["submit", "--reason", "v1"], &lab.example("good.env"));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = lab.wait_state("awaiting_approval", Duration::from_secs(15));
    let deploy = status["deploy_id"].as_str().unwrap().to_string();
    let release = status["current_release"].as_str().unwrap().to_string();
    assert!(escalations(&lab).is_empty(), "not before the threshold");

    wait_until("two escalations", Duration::from_secs(10), || {
        escalations(&lab).len() >= 2
    });
    let pages = escalations(&lab);
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page["priority"], "P1", "{page}");
        assert_eq!(page["host"], "lab-1");
        assert_eq!(page["deploy"], deploy.as_str());
        assert_eq!(page["release"], release.as_str());
        assert!(
            page["evidence"]
                .as_str()
                .unwrap()
                .contains(&format!("escalation {} of 2", i + 1)),
            "{page}"
        );
        assert!(
            page.get("runbook").is_some(),
            "the field is there, empty: {page}"
        );
    }
    let log = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(log.matches("\"kind\":\"approval.escalated\"").count(), 2);

    // Past the last threshold, and across a restart, no third page.
    lab.signal_agent(libc::SIGTERM);
    lab.start_agent();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(escalations(&lab).len(), 2);
    let out = lab.ctl(&["approve", "--reason", "sorry, was at lunch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("live", Duration::from_secs(5));

    // A release the validate command rejects pages P1, naming it.
    let bad = lab.write_release("bad.env", b"STRATEGY=momentum\nSIM_FAULT=nonsense\n");
    let out = lab.ctl_path(&["submit", "--reason", "typo"], &bad);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let rejected = alerts(&lab)
        .into_iter()
        .find(|a| a["title"].as_str().unwrap().contains("failed validation"))
        .expect("a P1 for the rejected release");
    assert_eq!(rejected["priority"], "P1");
    assert!(
        rejected["evidence"]
            .as_str()
            .unwrap()
            .contains("failed validation"),
        "{rejected}"
    );

    // A failed smoke pages P1.
    let out = lab.ctl_path(
        &["smoke", "--reason", "pre-prod"],
        &lab.example("smoke-forbidden.env"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let smoke = alerts(&lab)
        .into_iter()
        .find(|a| a["title"].as_str().unwrap().contains("smoke deploy of"))
        .expect("a P1 for the failed smoke");
    assert_eq!(smoke["priority"], "P1");
    assert!(
        smoke["evidence"].as_str().unwrap().contains("FAILED"),
        "{smoke}"
    );
    lab.signal_agent(libc::SIGTERM);
}

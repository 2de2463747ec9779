//! `gantry ctl smoke`: a good release passes, a release that logs a
//! forbidden line or never reaches idle fails naming the check, and
//! afterwards the known-good release is running again.

mod common;

use std::time::Duration;

use common::{Lab, alive, stderr};

#[test]
fn smoke_passes_good_fails_bad_and_restores_the_known_good() {
    let mut lab = Lab::new("lab-smoke", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    let live = lab.status();

    let out = lab.ctl_path(
        &["smoke", "--reason", "pre-prod check"],
        &lab.example("good-v2.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = std::fs::read_to_string(lab.path("service.log")).unwrap();
    assert!(
        log.contains("execution_plane=paper"),
        "the smoke ran on the paper plane"
    );

    let back = lab.wait_state("live", Duration::from_secs(5));
    assert_eq!(back["current_release"], live["current_release"]);
    std::thread::sleep(Duration::from_millis(800));
    let pid = lab.service_pid().expect("the known-good runs again");
    assert!(alive(pid));

    let out = lab.ctl_path(
        &["smoke", "--reason", "check"],
        &lab.example("smoke-forbidden.env"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("forbidden line"), "{}", stderr(&out));

    let out = lab.ctl_path(
        &["smoke", "--reason", "check"],
        &lab.example("smoke-never-idle.env"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("idle reached"),
        "names the phase it never reached: {}",
        stderr(&out)
    );

    let after = lab.wait_state("live", Duration::from_secs(5));
    assert_eq!(after["current_release"], live["current_release"]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        alive(lab.service_pid().unwrap()),
        "the known-good release is running"
    );
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(audit.matches("\"kind\":\"smoke.fail\"").count(), 2);
    assert_eq!(audit.matches("\"kind\":\"smoke.pass\"").count(), 1);
}

#[test]
fn an_invalid_smoke_pattern_is_refused_naming_the_field() {
    let lab = Lab::new("lab-smoke-config", 1);
    let text = std::fs::read_to_string(&lab.config).unwrap();
    std::fs::write(
        &lab.config,
        text.replacen("\"idle reached\"]", "\"idle (reached\"]", 1),
    )
    .unwrap();
    let out = std::process::Command::new(common::GANTRY)
        .args(["agent", "--config"])
        .arg(&lab.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("smoke.phases[5]"), "{}", stderr(&out));
}

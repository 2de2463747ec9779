//! The `systemd` service kind against a real systemd: PID 1 of a
//! systemd-nspawn container (tests/common/nspawn.rs) running a
//! `Type=notify` unit of `gantry sim`, driven through the whole pipeline.
//!
//! Where the agent runs: inside the container's mount, pid and network
//! namespaces (`nsenter -m -p -n`), as it would on a host beside systemd.
//! It must: the container has a private network, so only from inside can
//! it scrape the unit's port; and it reads the unit's pids (MainPID, the
//! cgroup's members) in its own /proc, which must number them as systemd
//! does. The state dir is bound into the container at its own path, so
//! the agent, systemd (EnvironmentFile=) and `gantry ctl` on the host see
//! the same files and socket. The test that needs no health (a unit that
//! does not exist) runs the agent on the host and reaches systemd through
//! the configured prefix `service.systemctl = ["nsenter", …, "systemctl"]`.
//!
//! The unit (`nspawn::systemd_lab`) runs `gantry sim` as Type=notify; two
//! release keys drive its own faults: UNIT_FAIL_START=1 fails its
//! ExecStartPre (Result=exit-code), UNIT_READY_DELAY_S holds READY back.

mod common;

use std::time::Duration;

use common::nspawn::{self, Nspawn, UNIT, systemd_lab};
use common::{Lab, stderr, wait_until};

fn audit(lab: &Lab) -> String {
    std::fs::read_to_string(lab.path("audit.jsonl")).unwrap_or_default()
}

#[test]
fn a_unit_goes_live_through_the_stages_a_crash_rolls_back_and_estop_stops_it() {
    if !nspawn::available() {
        return;
    }
    let (mut lab, container) = systemd_lab("lab-unit", 1, "");
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(4));

    // status shows the unit as systemd sees it.
    // The status names the unit's run as of the agent's last look.
    let main_pid = container.property(UNIT, "MainPID");
    wait_until("status to name the MainPID", Duration::from_secs(5), || {
        lab.status()["service"]["pid"]
            .as_u64()
            .map(|p| p.to_string())
            == Some(main_pid.clone())
    });
    let live = lab.status();
    let service = &live["service"];
    assert_eq!(service["kind"], "systemd", "{live:#}");
    assert_eq!(service["unit"], UNIT);
    assert_eq!(service["running"], true);
    assert_eq!(service["result"], "success");
    let main_pid = container.property(UNIT, "MainPID");
    assert_eq!(
        service["pid"].to_string(),
        main_pid,
        "pid is the unit's MainPID"
    );
    assert!(service["started_at"].is_string(), "{service}");
    assert_eq!(container.property(UNIT, "ActiveState"), "active");
    // The unit read the stage overlay the agent wrote.
    let log = journal(&container);
    assert!(log.contains("trade_mode=live"), "{log}");

    // A release that crashes after a second is rolled back: the unit runs
    // the known-good again, a new MainPID.
    let good = live["current_release"].clone();
    let out = lab.ctl_path(
        &["submit", "--reason", "crashy"],
        &lab.example("bad-crash.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let back = lab.wait_state("rolled_back", Duration::from_secs(20));
    assert_eq!(back["current_release"], good, "{back:#}");
    wait_until(
        "the known-good unit active",
        Duration::from_secs(10),
        || container.property(UNIT, "ActiveState") == "active",
    );
    assert_ne!(container.property(UNIT, "MainPID"), main_pid);
    assert!(audit(&lab).contains("rollback"), "{}", audit(&lab));

    // Emergency stop: systemctl stops the unit.
    let out = lab.ctl(&["estop", "--reason", "drill the stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let halted = lab.wait_state("halted", Duration::from_secs(10));
    let out = container.systemctl(&["is-active", UNIT]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "inactive");
    assert!(!out.status.success());
    assert_eq!(halted["service"]["running"], false, "{halted:#}");
    assert_eq!(halted["service"]["pid"], serde_json::Value::Null);
}

#[test]
fn a_unit_that_fails_to_start_fails_the_candidate_and_the_known_good_comes_back() {
    if !nspawn::available() {
        return;
    }
    let (mut lab, container) = systemd_lab("lab-unit-fail", 1, "");
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(4));
    let good = lab.status()["current_release"].clone();

    let bad = lab.write_release(
        "fails-to-start.env",
        b"STRATEGY=momentum\nUNIT_FAIL_START=1\n",
    );
    let out = lab.ctl_path(&["submit", "--reason", "broken unit"], &bad);
    assert!(out.status.success(), "{}", stderr(&out));
    let back = lab.wait_state("rolled_back", Duration::from_secs(20));
    assert_eq!(back["current_release"], good, "{back:#}");
    let audit = audit(&lab);
    assert!(
        audit.contains(&format!(
            "systemd unit {UNIT} did not start: Result=exit-code"
        )),
        "the failure names the unit and its Result: {audit}"
    );
    wait_until(
        "the known-good unit active",
        Duration::from_secs(10),
        || container.property(UNIT, "ActiveState") == "active",
    );
    let status = lab.status();
    assert_eq!(status["service"]["result"], "success", "{status:#}");
}

#[test]
fn a_unit_hitting_its_start_limit_stops_the_first_deploy_naming_it() {
    if !nspawn::available() {
        return;
    }
    // Two starts a minute: shadow and paper start it, canary cannot.
    let (mut lab, container) = systemd_lab(
        "lab-unit-limit",
        1,
        "StartLimitIntervalSec=60\nStartLimitBurst=2",
    );
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "first"], &lab.example("good.env"));
    assert!(out.status.success(), "{}", stderr(&out));
    wait_until("the deploy to stop", Duration::from_secs(20), || {
        audit(&lab).contains("start-limit-hit")
    });
    let audit = audit(&lab);
    assert!(
        audit.contains(&format!(
            "systemd unit {UNIT} did not start: Result=start-limit-hit"
        )),
        "{audit}"
    );
    assert_eq!(container.property(UNIT, "Result"), "start-limit-hit");
    let status = lab.status();
    assert_ne!(status["state"], "live", "{status:#}");
}

#[test]
fn restart_returns_when_the_unit_says_ready_and_a_unit_that_never_does_fails() {
    if !nspawn::available() {
        return;
    }
    let (mut lab, container) = systemd_lab("lab-unit-ready", 1, "");
    lab.start_agent();
    // READY=1 comes 1.5 s after the port opens: the unit becomes active
    // (and the agent's restart returns) only then.
    let slow = lab.write_release(
        "slow-ready.env",
        b"STRATEGY=mean_reversion\nSIM_PNL_DRIFT=5\nUNIT_READY_DELAY_S=1.5\n",
    );
    let out = lab.ctl_path(&["submit", "--reason", "slow to ready"], &slow);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = lab.wait_state("awaiting_approval", Duration::from_secs(20));
    let exec = chrono::DateTime::parse_from_rfc3339(
        &container
            .property(UNIT, "ExecMainStartTimestamp")
            .replacen(' ', "T", 2)
            .split_once('T')
            .map(|(_, rest)| rest.replace(" UTC", "Z"))
            .unwrap(),
    )
    .unwrap();
    let ready = chrono::DateTime::parse_from_rfc3339(
        status["service"]["started_at"]
            .as_str()
            .expect("started_at"),
    )
    .unwrap();
    assert!(
        ready - exec >= chrono::Duration::milliseconds(1400),
        "active {ready} only after READY, 1.5 s after exec {exec}"
    );

    // READY never comes within TimeoutStartSec=5 (held back 60 s): the
    // candidate fails naming the unit and Result=timeout, and the
    // known-good comes back.
    lab.ctl(&["approve", "--reason", "ok"]);
    lab.wait_state("live", Duration::from_secs(5));
    let never = lab.write_release(
        "never-ready.env",
        b"STRATEGY=mean_reversion\nUNIT_READY_DELAY_S=60\n",
    );
    let out = lab.ctl_path(&["submit", "--reason", "never ready"], &never);
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("rolled_back", Duration::from_secs(30));
    let audit = audit(&lab);
    assert!(
        audit.contains(&format!(
            "systemd unit {UNIT} did not start: Result=timeout"
        )),
        "{audit}"
    );
}

#[test]
fn smoke_reads_the_units_journal() {
    if !nspawn::available() {
        return;
    }
    let (mut lab, container) = systemd_lab("lab-unit-smoke", 1, "");
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(4));
    let live = lab.status();

    let out = lab.ctl_path(
        &["smoke", "--reason", "pre-prod"],
        &lab.example("good-v2.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("passed") && said.contains(UNIT), "{said}");
    assert!(
        !lab.path("service.log").exists(),
        "a unit's log is its journal, not service.log"
    );

    let out = lab.ctl_path(
        &["smoke", "--reason", "check"],
        &lab.example("smoke-forbidden.env"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("forbidden line"), "{}", stderr(&out));

    // The known-good serves again, in live.
    let back = lab.wait_state("live", Duration::from_secs(10));
    assert_eq!(back["current_release"], live["current_release"]);
    wait_until(
        "the known-good unit active",
        Duration::from_secs(10),
        || container.property(UNIT, "ActiveState") == "active",
    );
    assert!(journal(&container).contains("trade_mode=live"));
    // The unit's log over the wire: its journal, every run.
    wait_until("the known-good logged", Duration::from_secs(10), || {
        let out = lab.ctl(&["logs", "-n", "1000"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
            && text.contains("order executed BTC-PERP")
            && newest_run_is_live(&text)
    });
    let out = lab.ctl(&["logs", "-n", "5"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    assert!(
        stderr(&out).contains(&format!("journal of unit {UNIT}")),
        "{}",
        stderr(&out)
    );
}

/// The newest run in the log is the live one, after the smoke's.
fn newest_run_is_live(text: &str) -> bool {
    text.rfind("trade_mode=live") > text.rfind("execution_plane=paper")
}

#[test]
fn a_unit_that_does_not_exist_fails_the_candidate_and_changes_nothing() {
    if !nspawn::available() {
        return;
    }
    let (mut lab, container) = systemd_lab("lab-unit-missing", 1, "");
    // The agent on the host, systemd reached through the configured prefix.
    lab.agent_prefix = Vec::new();
    let quoted = |argv: Vec<String>| {
        argv.iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = std::fs::read_to_string(&lab.config).unwrap().replacen(
        &format!("unit = \"{UNIT}\""),
        &format!(
            "unit = \"no-such.service\"\nsystemctl = [{}]\njournalctl = [{}]",
            quoted(container.prefix("systemctl")),
            quoted(container.prefix("journalctl"))
        ),
        1,
    );
    std::fs::write(&lab.config, text).unwrap();
    lab.start_agent();
    let before = lab.tree();

    let out = lab.ctl_path(&["submit", "--reason", "first"], &lab.example("good.env"));
    assert_ne!(out.status.code(), Some(0), "refused: {}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("systemd unit no-such.service does not exist (LoadState=not-found)"),
        "{said}"
    );
    let status = lab.status();
    assert_eq!(status["state"], "idle", "{status:#}");
    assert_eq!(status["current_release"], serde_json::Value::Null);
    assert!(
        !lab.path("current.env").exists(),
        "current.env never named it"
    );
    // deploy_state.json records the rejected deploy; every other file
    // (links, stage.env, releases/) is as it was.
    let files = |mut tree: Vec<(String, Vec<u8>)>| {
        tree.retain(|(name, _)| name != "deploy_state.json");
        tree
    };
    let (before, after) = (files(before), files(lab.tree()));
    let changed: Vec<&String> = before
        .iter()
        .chain(after.iter())
        .filter(|entry| !before.contains(entry) || !after.contains(entry))
        .map(|(name, _)| name)
        .collect();
    assert!(changed.is_empty(), "no file changed, but: {changed:?}");
    assert!(audit(&lab).contains("no-such.service does not exist"));
}

/// The unit's journal, as text.
fn journal(container: &Nspawn) -> String {
    let prefix = container.prefix("journalctl");
    let out = std::process::Command::new(&prefix[0])
        .args(&prefix[1..])
        .args(["-u", UNIT, "-o", "cat", "--no-pager"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

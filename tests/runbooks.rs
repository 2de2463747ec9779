//! Runbooks (issue 15, part 7): `gantry init` ships them and its templates
//! name them; a missing one refuses the config naming the check; status,
//! `ctl runbook` and alerts.jsonl carry them, from a real agent and sim.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{GANTRY, Lab, stderr, wait_until};

const SHIPPED: [&str; 6] = [
    "wont-start.md",
    "positions-not-reconciling.md",
    "circuit-breaker.md",
    "high-latency.md",
    "rollback-failed.md",
    "not-flat-after-estop.md",
];

#[test]
fn init_ships_editable_runbooks_that_every_template_names() {
    let dir = tempfile::tempdir().unwrap();
    let forms: [(&str, Vec<&str>); 3] = [
        ("sim", vec!["--sim"]),
        (
            "unit",
            vec!["--kind", "systemd", "--unit", "trader.service"],
        ),
        (
            "ctr",
            vec!["--kind", "container", "--image", "ghcr.io/acme/trader"],
        ),
    ];
    for (name, args) in &forms {
        let out = Command::new(GANTRY)
            .args(["init", "--host", "h1"])
            .args(args)
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let config = std::fs::read_to_string(dir.path().join(name).join("gantry.toml")).unwrap();
        for runbook in [
            "wont-start.md",
            "rollback-failed.md",
            "not-flat-after-estop.md",
            "circuit-breaker.md",
        ] {
            assert!(
                config.contains(&format!("runbooks/{runbook}")),
                "{name}: {runbook}"
            );
        }
        for file in SHIPPED {
            let text =
                std::fs::read_to_string(dir.path().join(name).join("runbooks").join(file)).unwrap();
            assert!(text.starts_with("# "), "{file} has a title");
            assert!(text.contains("gantry ctl "), "{file} names gantry commands");
        }
    }
    let sim = std::fs::read_to_string(dir.path().join("sim/gantry.toml")).unwrap();
    for runbook in ["positions-not-reconciling.md", "high-latency.md"] {
        assert!(sim.contains(&format!("runbooks/{runbook}")), "{runbook}");
    }
    // An edited runbook survives a second init.
    let edited = dir.path().join("sim/runbooks/circuit-breaker.md");
    std::fs::write(&edited, "# ours\nCall the desk first.\n").unwrap();
    let out = Command::new(GANTRY)
        .args(["init", "--sim", "--force", "--host", "h1"])
        .arg(dir.path().join("sim"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&edited).unwrap(),
        "# ours\nCall the desk first.\n"
    );
}

#[test]
fn a_missing_runbook_refuses_the_config_naming_the_check() {
    let lab = Lab::new("lab-rb-missing", 1);
    let config = std::fs::read_to_string(&lab.config).unwrap();
    let broken = config.replace(
        "runbooks/positions-not-reconciling.md",
        "runbooks/recon-typo.md",
    );
    assert_ne!(broken, config);
    std::fs::write(&lab.config, broken).unwrap();
    let out = Command::new(GANTRY)
        .args(["agent", "--config"])
        .arg(&lab.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("(reconciliation_clean).runbook"), "{said}");
    assert!(said.contains("recon-typo.md"), "{said}");
    assert!(said.contains("cannot be read"), "{said}");
}

#[test]
fn status_ctl_runbook_and_alerts_carry_the_checks_runbook() {
    let mut lab = Lab::new("lab-rb", 1);
    // A URL is a runbook too: shown, never fetched.
    let config = std::fs::read_to_string(&lab.config)
        .unwrap()
        .replace("runbooks/high-latency.md", "https://wiki.example/latency");
    std::fs::write(&lab.config, config).unwrap();
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));

    let status = lab.status();
    let runbook_of = |name: &str| {
        status["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["runbook"].clone())
            .unwrap()
    };
    assert_eq!(
        runbook_of("reconciliation_clean"),
        "runbooks/positions-not-reconciling.md"
    );
    assert_eq!(runbook_of("process_alive"), "runbooks/wont-start.md");
    assert_eq!(runbook_of("telemetry_fresh"), serde_json::Value::Null);

    // The text is read afresh: an edit shows without a restart, inert.
    let out = lab.ctl(&["runbook", "reconciliation_clean"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# Positions not reconciling"));
    let file = lab.path("runbooks/positions-not-reconciling.md");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("edited \u{1b}]0;owned\u{7} marker\n");
    std::fs::write(&file, text).unwrap();
    let out = lab.ctl(&["runbook", "reconciliation_clean"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("edited") && shown.contains("marker"),
        "{shown}"
    );
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
        "{shown:?}"
    );
    let out = lab.ctl(&["runbook", "order_latency_vs_known_good"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("https://wiki.example/latency"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = lab.ctl(&["runbook", "telemetry_fresh"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no runbook is configured"),
        "{}",
        stderr(&out)
    );

    // A release whose positions stop reconciling rolls back; its alert
    // names the runbook.
    let bad = lab.write_release(
        "recon.env",
        b"STRATEGY=momentum\nSIM_FAULT=recon\nSIM_FAULT_AFTER_S=0.2\n",
    );
    let out = lab.ctl_path(&["submit", "--reason", "positions drift"], &bad);
    assert!(out.status.success(), "{}", stderr(&out));
    let rolled = lab.wait_state("rolled_back", Duration::from_secs(20));
    assert!(
        rolled["outcome"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("reconciliation_clean"),
        "{rolled:#}"
    );
    let alerts = lab.path("alerts.jsonl");
    wait_until("the rollback's alert", Duration::from_secs(5), || {
        std::fs::read_to_string(&alerts).is_ok_and(|t| t.contains("rolling back"))
    });
    let text = std::fs::read_to_string(&alerts).unwrap();
    let alert: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| {
            a["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("rolling back"))
        })
        .unwrap();
    assert_eq!(
        alert["runbook"], "runbooks/positions-not-reconciling.md",
        "{alert:#}"
    );
    // An alert about nothing a runbook covers keeps it null.
    assert!(
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(
                |a| a["title"].as_str().is_some_and(|t| t.contains("is live"))
                    && a["runbook"].is_null()
            ),
        "{text}"
    );
}

#[test]
fn a_stop_not_proven_flat_points_at_its_runbook_in_status_and_alerts() {
    let mut lab = Lab::new("lab-rb-notflat", 1);
    // A kill command that fails: the book stays open, the stop is not flat.
    let config = std::fs::read_to_string(&lab.config).unwrap();
    let kill_line = config
        .lines()
        .find(|l| l.starts_with("command = [") && l.contains("\"flatten\""))
        .unwrap()
        .to_string();
    let config = config
        .replace(&kill_line, "command = [\"/bin/false\"]")
        .replace("verify_timeout_s = 10", "verify_timeout_s = 1");
    std::fs::write(&lab.config, config).unwrap();
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    let out = lab.ctl(&["estop", "--reason", "venue outage"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "not proven flat: {}",
        stderr(&out)
    );
    let status = lab.status();
    assert_eq!(status["state"], "halted");
    assert_eq!(status["runbook"]["name"], "not_flat", "{status:#}");
    assert_eq!(
        status["runbook"]["runbook"],
        "runbooks/not-flat-after-estop.md"
    );
    let out = lab.ctl(&["runbook", "not_flat"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("# Not flat after an emergency stop"),
        "{}",
        stderr(&out)
    );
    let alerts = std::fs::read_to_string(lab.path("alerts.jsonl")).unwrap();
    let not_flat: Vec<serde_json::Value> = alerts
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["runbook"] == "runbooks/not-flat-after-estop.md")
        .collect();
    assert!(
        not_flat
            .iter()
            .any(|a| a["title"].as_str().unwrap_or("").contains("NOT FLAT")
                || a["title"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("kill command failed")),
        "{alerts}"
    );
    // A person's stop is not a failed rollback: its own alert has none.
    assert!(
        alerts
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(|a| a["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("halted: emergency stop")
                && a["runbook"].is_null()),
        "{alerts}"
    );
}

#[test]
fn a_halt_with_no_way_back_points_at_the_rollback_failed_runbook() {
    let mut lab = Lab::new("lab-rb-halt", 1);
    lab.start_agent();
    // A first deploy whose positions stop reconciling in canary: real
    // money, nothing to return to, so the agent halts.
    let bad = lab.write_release(
        "recon.env",
        b"STRATEGY=momentum\nSIM_FAULT=recon\nSIM_FAULT_AFTER_S=0.2\n",
    );
    let out = lab.ctl_path(&["submit", "--reason", "first deploy"], &bad);
    assert!(out.status.success(), "{}", stderr(&out));
    let halted = lab.wait_state("halted", Duration::from_secs(20));
    wait_until("the stop settled", Duration::from_secs(15), || {
        lab.status()["runbook"]["name"] == "rollback_failed"
    });
    assert_eq!(
        lab.status()["runbook"]["runbook"],
        "runbooks/rollback-failed.md",
        "{halted:#}"
    );
    let alerts = std::fs::read_to_string(lab.path("alerts.jsonl")).unwrap();
    assert!(
        alerts
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(
                |a| a["title"].as_str().unwrap_or("").starts_with("halted: ")
                    && a["runbook"] == "runbooks/rollback-failed.md"
            ),
        "{alerts}"
    );
}

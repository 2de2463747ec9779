//! The emergency stop proves the book is flat: a real agent, a real
//! `gantry sim` trading at its simulated venue, the kill command and the
//! verify command the `init --sim` config wires to it; then rearm and
//! restore.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{GANTRY, Lab, stderr, wait_until};

const SOAKS: Duration = Duration::from_secs(3);

/// `gantry sim venue --state-dir LAB --json`.
fn venue(lab: &Lab) -> Value {
    let out = Command::new(GANTRY)
        .args(["sim", "venue", "--json", "--state-dir"])
        .arg(lab.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for_positions(lab: &Lab) {
    wait_until(
        "open positions at the venue",
        Duration::from_secs(10),
        || venue(lab)["notional_usd"].as_f64().unwrap_or(0.0) > 0.0,
    );
}

/// Replaces one `key = …` line of the config's `[kill]` section.
fn set_kill(lab: &Lab, key: &str, value: &str) {
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let mut in_kill = false;
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                in_kill = line.trim() == "[kill]";
            }
            if in_kill && line.starts_with(&format!("{key} =")) {
                found = true;
                return format!("{key} = {value}");
            }
            line.to_string()
        })
        .collect();
    assert!(found, "no [kill] {key} in the config");
    std::fs::write(&lab.config, lines.join("\n") + "\n").unwrap();
}

/// A verify command that is a shell script with `body`.
fn verify_script(lab: &Lab, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let script = lab.path("verify.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    set_kill(lab, "verify", &format!(r#"["{}"]"#, script.display()));
}

fn estop_of(lab: &Lab) -> Value {
    lab.status()["estop"].clone()
}

fn alerts(lab: &Lab) -> Vec<Value> {
    std::fs::read_to_string(lab.path("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn an_estop_flattens_the_venue_and_says_so_and_restore_brings_the_release_back() {
    let mut lab = Lab::new("lab-estop-flat", 1);
    lab.start_agent();
    let good = lab.example("good.env");
    lab.deploy_live(&good, SOAKS);
    let live_release = lab.status()["current_release"].clone();
    wait_for_positions(&lab);

    let out = lab.ctl(&["estop", "--reason", "venue outage"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("FLAT"), "{said}");
    let status = lab.status();
    assert_eq!(status["state"], "halted");
    let estop = &status["estop"];
    assert_eq!(estop["flat"]["verified"], true, "{estop:#}");
    assert_eq!(estop["kill"]["ok"], true, "{estop:#}");
    assert_eq!(estop["reason"], "venue outage");
    assert!(
        estop["by"].as_str().is_some_and(|by| by.contains("tester")),
        "{estop:#}"
    );
    assert!(estop["at"].is_string() && estop["flat"]["at"].is_string());
    let book = venue(&lab);
    assert_eq!(book["open_orders"], 0, "{book}");
    assert_eq!(book["positions"], serde_json::json!([]), "{book}");
    assert_eq!(book["notional_usd"], 0.0, "{book}");

    // Restore is an admin's, and only from idle.
    let out = lab.ctl(&["restore", "--reason", "too soon"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        lab.ctl(&["rearm", "--reason", "venue back"])
            .status
            .success()
    );
    assert_eq!(lab.status()["state"], "idle");
    let out = lab.ctl(&["restore", "--reason", "venue back, same release"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Live at once: no soak, the live gate watching.
    let status = lab.status();
    assert_eq!(status["state"], "live", "{status:#}");
    assert_eq!(status["current_release"], live_release);
    assert_eq!(status["stage"], "live");
    wait_until(
        "the restored service trading",
        Duration::from_secs(10),
        || {
            lab.status()["service"]["running"] == true
                && venue(&lab)["notional_usd"].as_f64().unwrap_or(0.0) > 0.0
        },
    );
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    for kind in [
        "\"estop\"",
        "\"kill.done\"",
        "\"flat.verified\"",
        "\"rearm\"",
        "\"restore\"",
    ] {
        assert!(audit.contains(kind), "{kind} missing from the audit log");
    }
    assert!(lab.ctl(&["audit", "verify"]).status.success());

    // With positions open, a restore is refused; so is one with nothing
    // known-good.
    assert!(lab.ctl(&["estop", "--reason", "again"]).status.success());
    assert!(lab.ctl(&["rearm", "--reason", "x"]).status.success());
    std::fs::write(
        lab.path("venue.json"),
        r#"{"format":1,"flatten":"ok","flatten_ms":0,"next_order_id":2,"orders":[],"positions":[{"symbol":"BTC-USD","qty":0.01,"mark":60000.0}]}"#,
    )
    .unwrap();
    let out = lab.ctl(&["restore", "--reason", "positions still open"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not flat"), "{}", stderr(&out));
    assert_eq!(lab.status()["state"], "idle");
}

#[test]
fn a_venue_that_will_not_flatten_is_halted_not_flat_paged_and_exits_1() {
    let mut lab = Lab::new("lab-estop-fail", 1);
    set_kill(&lab, "verify_timeout_s", "1");
    lab.start_agent();
    let release = lab.write_release("no-flatten.env", b"STRATEGY=momentum\nSIM_FLATTEN=fail\n");
    lab.deploy_live(&release, SOAKS);
    wait_for_positions(&lab);

    let started = Instant::now();
    let out = lab.ctl(&["estop", "--reason", "venue outage"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(8));
    let why = stderr(&out);
    assert!(
        why.contains("halted, but the kill command failed") && why.contains("NOT FLAT"),
        "{why}"
    );
    let estop = estop_of(&lab);
    assert_eq!(lab.status()["state"], "halted");
    assert_eq!(estop["kill"]["ok"], false, "{estop:#}");
    assert_eq!(estop["flat"]["verified"], false, "{estop:#}");
    assert!(
        estop["flat"]["summary"]
            .as_str()
            .unwrap()
            .contains("not flat"),
        "{estop:#}"
    );
    assert!(venue(&lab)["notional_usd"].as_f64().unwrap() > 0.0);
    let pages: Vec<Value> = alerts(&lab)
        .into_iter()
        .filter(|a| a["priority"] == "P0")
        .collect();
    let titles: Vec<&str> = pages.iter().filter_map(|a| a["title"].as_str()).collect();
    assert!(
        titles.iter().any(|t| t.contains("kill command failed"))
            && titles.iter().any(|t| t.contains("NOT FLAT")),
        "{titles:?}"
    );
    // ctl status says it in words.
    let out = lab.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT FLAT"), "{text}");
    // Rearm waits for nothing now: the stop has answered.
    assert!(
        lab.ctl(&["rearm", "--reason", "flattened by hand"])
            .status
            .success()
    );
}

#[test]
fn a_verify_command_that_hangs_or_prints_escapes_is_not_flat_and_shown_inert() {
    let mut lab = Lab::new("lab-estop-verify", 1);
    set_kill(&lab, "verify_timeout_s", "1");
    verify_script(&lab, "printf 'still open \\033[2J\\377\\n' >&2; sleep 30");
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), SOAKS);

    let started = Instant::now();
    let out = lab.ctl(&["--json", "estop", "--reason", "drill"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the verify timeout bounds the stop: {:?}",
        started.elapsed()
    );
    let raw = std::process::Command::new(GANTRY)
        .args(["ctl", "--json", "--config"])
        .arg(&lab.config)
        .arg("status")
        .output()
        .unwrap();
    assert!(!raw.stdout.contains(&0x1b), "no escape byte reaches JSON");
    let estop = estop_of(&lab);
    assert_eq!(estop["flat"]["verified"], false, "{estop:#}");
    let summary = estop["flat"]["summary"].as_str().unwrap();
    assert!(summary.contains("timed out"), "{summary}");
    let text = String::from_utf8_lossy(&lab.ctl(&["status"]).stdout).to_string();
    assert!(!text.contains('\x1b'), "{text:?}");
}

#[test]
fn a_verify_output_with_escapes_is_inert_and_no_verify_means_unverified() {
    let mut lab = Lab::new("lab-estop-inert", 1);
    set_kill(&lab, "verify_timeout_s", "1");
    verify_script(
        &lab,
        "printf 'open \\033]0;pwned\\007 \\377\\376 orders=3' >&2; exit 1",
    );
    lab.start_agent();
    assert!(
        !lab.ctl(&["estop", "--reason", "x"]).status.success(),
        "never flat"
    );
    let estop = estop_of(&lab);
    let summary = estop["flat"]["summary"].as_str().unwrap();
    assert!(summary.contains("orders=3"), "{summary}");
    assert!(!summary.chars().any(|c| c.is_control()), "{summary:?}");

    // No verify configured: `flat unverified`, never flat, exit 1.
    let mut lab = Lab::new("lab-estop-noverify", 1);
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("verify"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&lab.config, text).unwrap();
    lab.start_agent();
    let out = lab.ctl(&["estop", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("flat unverified"), "{}", stderr(&out));
    let estop = estop_of(&lab);
    assert_eq!(estop["flat"]["verified"], false);
    assert_eq!(estop["flat"]["verdict"], "unverified");
}

#[test]
fn a_verify_command_that_is_not_executable_is_refused_at_load() {
    let lab = Lab::new("lab-estop-noexec", 1);
    let script = lab.path("check-flat.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    // Mode 0644: written, but nobody made it executable.
    set_kill(
        &lab,
        "verify",
        &format!(r#"["{}", "--token", "s3cret"]"#, script.display()),
    );
    let out = Command::new(GANTRY)
        .args(["agent", "--config"])
        .arg(&lab.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let why = stderr(&out);
    assert!(
        why.contains("kill.verify") && why.contains("not executable"),
        "{why}"
    );
    assert!(!why.contains("s3cret"), "{why}");
}

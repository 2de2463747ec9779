//! The agent as a user meets it: `gantry init --sim`, `gantry agent`, and
//! `gantry ctl`, with a real `gantry sim` as the service.

mod common;

use std::time::{Duration, Instant};

use common::{GANTRY, Lab, alive, stderr, wait_until};

const SOAK: u64 = 1;
const THREE_SOAKS: Duration = Duration::from_secs(3 * SOAK);

#[test]
fn release_goes_live_a_crashing_one_rolls_back_estop_halts_rearm_idles() {
    let mut lab = Lab::new("lab-1", SOAK);
    lab.start_agent();
    let good = lab.example("good.env");
    let out = lab.ctl_path(&["submit", "--reason", "first deploy"], &good);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = lab.wait_state("awaiting_approval", THREE_SOAKS + Duration::from_secs(10));
    let awaiting = &status["awaiting_approval"];
    assert_eq!(awaiting["stage"], "canary");
    assert_eq!(awaiting["deploy_id"], status["deploy_id"]);
    assert_eq!(awaiting["digest"].as_str().unwrap().len(), 64);

    let out = lab.ctl(&["approve", "--reason", "canary clean"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(status["deploy_id"].as_str().unwrap()),
        "approve names the deploy"
    );
    let live = lab.wait_state("live", Duration::from_secs(5));
    let good_release = live["current_release"].as_str().unwrap().to_string();
    assert!(
        std::fs::read_link(lab.path("current.env"))
            .unwrap()
            .ends_with(format!("{good_release}.env"))
    );

    // A crashing release is rolled back by the agent alone.
    let out = lab.ctl_path(
        &["submit", "--reason", "new strategy"],
        &lab.example("bad-crash.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rolled = lab.wait_state("rolled_back", Duration::from_secs(15));
    assert_eq!(rolled["current_release"], good_release.as_str());
    assert_eq!(rolled["previous_release"], good_release.as_str());
    // Give the gate a sample or two of the known-good, then every check is
    // ok; one judged against the known-good is n/a: the known-good serves,
    // and is never judged against itself.
    std::thread::sleep(Duration::from_millis(600));
    let status = lab.wait_state("rolled_back", Duration::from_secs(1));
    for check in status["checks"].as_array().unwrap() {
        if check["baseline_source"] == "known_good" {
            assert_eq!(check["status"], "n/a", "{check}");
            assert!(
                check["evidence"].as_str().unwrap().contains("itself"),
                "{check}"
            );
            continue;
        }
        assert_eq!(check["ok"], true, "check not ok after rollback: {check}");
    }
    let sim = lab.service_pid().expect("sim running");
    assert!(alive(sim));

    // Emergency stop: halted, the sim is down, the kill command flattened
    // the venue and the verify command proved it, submits refused.
    let out = lab.ctl(&["estop", "--reason", "venue outage drill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = lab.status();
    assert_eq!(status["state"], "halted");
    assert!(!alive(sim), "the sim must be stopped by estop");
    assert_eq!(status["estop"]["reason"], "venue outage drill");
    assert_eq!(status["estop"]["flat"]["verified"], true, "{status:#}");
    let kill = status["estop"]["kill"]["summary"].as_str().unwrap_or("");
    assert!(kill.contains("the venue is flat"), "{kill}");
    let out = lab.ctl_path(&["submit", "--reason", "again"], &good);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("halted"), "{}", stderr(&out));

    // Operators cannot rearm over the socket? The local socket is admin: rearm works.
    let out = lab.ctl(&["rearm", "--reason", "venue back"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lab.status()["state"], "idle");

    // The audit chain verifies, and breaks at the line whose byte changed.
    let out = lab.ctl(&["audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = lab.path("audit.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    let lines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let third_line_start = lines[1] + 1;
    let at = third_line_start + 20;
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&log, &bytes).unwrap();
    let out = lab.ctl(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));

    // Every human action carries its reason in the audit log.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    for reason in [
        "first deploy",
        "canary clean",
        "new strategy",
        "venue outage drill",
        "venue back",
    ] {
        assert!(text.contains(reason), "audit lacks {reason:?}");
    }
}

#[test]
fn kill_9_mid_soak_resumes_with_the_time_left_and_the_service_running() {
    let mut lab = Lab::new("lab-kill9", 6);
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "soak me"], &lab.example("good.env"));
    assert!(out.status.success(), "{}", stderr(&out));
    // Let the shadow soak run about half-way.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = lab.status();
    while before["soak_remaining_s"].as_f64().unwrap_or(6.0) > 3.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        before = lab.status();
    }
    assert_eq!(before["state"], "shadow");
    let left = before["soak_remaining_s"].as_f64().unwrap();
    let sim = lab.service_pid().unwrap();
    lab.signal_agent(libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        alive(sim),
        "the service keeps running while the agent is down"
    );
    lab.start_agent();
    let after = lab.status();
    assert_eq!(after["state"], "shadow");
    let resumed = after["soak_remaining_s"].as_f64().unwrap();
    assert!(
        (resumed - left).abs() <= 1.0,
        "soak left {left:.2}s before kill -9, {resumed:.2}s after restart"
    );
    assert_eq!(
        lab.service_pid(),
        Some(sim),
        "the restarted agent adopts the running service"
    );
    let out = lab.ctl(&["audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // And the soak still completes.
    lab.wait_state("paper", Duration::from_secs(10));
}

#[test]
fn sigterm_stops_the_agent_not_the_service() {
    let mut lab = Lab::new("lab-term", SOAK);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), THREE_SOAKS);
    // Live restarts the service off the agent's loop: its pid file names
    // the new run a moment after status says live.
    let mut sim = 0;
    wait_until("the live run's pid", Duration::from_secs(5), || {
        sim = lab.service_pid().unwrap_or(0);
        sim > 0 && alive(sim) && lab.status()["service"]["pid"] == sim
    });
    lab.signal_agent(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(sim));
    let out = lab.ctl(&["status"]);
    assert_eq!(out.status.code(), Some(69), "no agent: unavailable");
}

#[test]
fn drill_rolls_back_and_forward_with_timings() {
    let mut lab = Lab::new("lab-drill", SOAK);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), THREE_SOAKS);
    let first_live = lab.status()["live_since"].clone();
    assert!(first_live.is_string(), "{first_live}");
    assert!(lab.status()["last_drill"].is_null());
    lab.deploy_live(&lab.example("good-v2.env"), THREE_SOAKS);
    let live = lab.status();
    // The drill warning counts from the first time live, which a second
    // deploy does not move.
    assert_eq!(live["live_since"], first_live);
    for _ in 0..3 {
        let report = lab.ctl_json(&["drill", "--reason", "monthly rollback drill"]);
        let t = &report["timings"];
        for key in [
            "detect_ms",
            "swap_ms",
            "restart_ms",
            "healthy_ms",
            "total_ms",
        ] {
            assert!(
                t[key].as_f64().is_some_and(|v| v >= 0.0),
                "{key} missing: {report}"
            );
        }
        let sum = t["detect_ms"].as_f64().unwrap()
            + t["swap_ms"].as_f64().unwrap()
            + t["restart_ms"].as_f64().unwrap()
            + t["healthy_ms"].as_f64().unwrap();
        assert!(
            sum <= t["total_ms"].as_f64().unwrap() + 1.0,
            "steps add up within total: {t}"
        );
        let after = lab.status();
        assert_eq!(after["state"], "live");
        assert_eq!(after["current_release"], live["current_release"]);
        assert!(after["last_drill_at"].is_string());
    }
    let audit = lab.ctl_json(&["audit", "--tail", "50"]);
    let drills = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "drill.done")
        .count();
    assert_eq!(drills, 3);
    // Status keeps the last drill, its verdict and timings, and so does
    // the audit log: a restarted agent (and a console that connects
    // later) still shows it.
    let kept = lab.status()["last_drill"].clone();
    assert_eq!(kept["ok"], true, "{kept}");
    assert!(kept["timings"]["total_ms"].as_f64().is_some(), "{kept}");
    assert!(
        kept["message"]
            .as_str()
            .unwrap()
            .starts_with("drill passed")
    );
    let text = String::from_utf8_lossy(&lab.ctl(&["status"]).stdout).into_owned();
    let drill = text.lines().find(|l| l.starts_with("drill")).unwrap_or("");
    assert!(
        drill.contains(": PASS") && drill.contains("/ SLA 60s"),
        "{text}"
    );
    lab.signal_agent(libc::SIGTERM);
    lab.start_agent();
    let again = lab.status();
    assert_eq!(again["last_drill"]["ok"], true, "{again}");
    assert_eq!(again["last_drill"]["timings"], kept["timings"]);
    assert_eq!(again["live_since"], first_live);
}

#[test]
fn malformed_releases_are_refused_naming_file_and_line_and_change_nothing() {
    let mut lab = Lab::new("lab-bad", SOAK);
    lab.start_agent();
    let before = lab.tree();
    let cases: [(&str, &[u8], &str); 5] = [
        ("no-equals.env", b"A=1\nJUST_A_WORD\n", "line 2"),
        ("dup.env", b"A=1\nB=2\nA=3\n", "line 3"),
        ("utf8.env", b"A=1\nB=caf\xe9\n", "line 2"),
        ("nan.env", b"LIMIT=NaN\n", "line 1"),
        ("stage.env", b"A=1\nTRADE_MODE=live\n", "line 2"),
    ];
    for (name, body, line) in cases {
        let path = lab.write_release(name, body);
        let out = lab.ctl_path(&["submit", "--reason", "bad"], &path);
        assert_eq!(out.status.code(), Some(65), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(name) && err.contains(line), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    }
    // A release the validate command rejects: gantry sim refuses a bogus fault.
    let path = lab.write_release("bogus-fault.env", b"SIM_FAULT=meteor\n");
    let out = lab.ctl_path(&["submit", "--reason", "bad"], &path);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("validat"), "{}", stderr(&out));
    let out = lab.ctl_path(&["validate"], &path);
    assert_eq!(out.status.code(), Some(65));
    let mut after = lab.tree();
    after.retain(|(n, _)| {
        !n.ends_with(".env") || n.starts_with("examples") || n.starts_with("releases")
    });
    let mut before = before;
    before.retain(|(n, _)| {
        !n.ends_with(".env") || n.starts_with("examples") || n.starts_with("releases")
    });
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&before),
        names(&after),
        "no file appeared or vanished"
    );
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        if name == "deploy_state.json" {
            // The write-ahead order saves the state each recorded command
            // applies to; what it says is unchanged.
            let said = |bytes: &[u8]| {
                let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                (
                    v["state"].clone(),
                    v["active_release"].clone(),
                    v["previous_release"].clone(),
                )
            };
            assert_eq!(said(a), said(b), "{name} changed what it says");
            continue;
        }
        assert!(a == b, "{name} changed");
    }
    assert!(
        std::fs::read_dir(lab.path("releases"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(!lab.path("current.env").exists());
    assert_eq!(lab.status()["state"], "idle");
}

#[test]
fn second_submit_is_refused_naming_the_deploy_in_flight() {
    let mut lab = Lab::new("lab-two", 5);
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "one"], &lab.example("good.env"));
    assert!(out.status.success(), "{}", stderr(&out));
    let in_flight = lab.status()["deploy_id"].as_str().unwrap().to_string();
    let out = lab.ctl_path(&["submit", "--reason", "two"], &lab.example("good-v2.env"));
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains(&in_flight), "{}", stderr(&out));
    // Nothing awaits approval yet: approve is refused by policy.
    let out = lab.ctl(&["approve", "--reason", "eager"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn a_second_agent_on_the_same_state_dir_refuses_naming_the_first() {
    let mut lab = Lab::new("lab-lock", SOAK);
    lab.start_agent();
    let first = lab.agent.as_ref().unwrap().id();
    let out = std::process::Command::new(GANTRY)
        .args(["agent", "--config"])
        .arg(&lab.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(&first.to_string()),
        "{}",
        stderr(&out)
    );
    assert!(
        lab.ctl(&["status"]).status.success(),
        "the first agent is unharmed"
    );
}

#[test]
fn bad_config_is_refused_naming_the_field() {
    let lab = Lab::new("lab-config", SOAK);
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let cases = [
        (
            text.replace("[probe]", "[probe]\ncolour = \"red\""),
            "colour",
        ),
        (text.replacen("limit = 2", "limit = nan", 1), "limit"),
        (
            text.replacen(
                "metric = \"sim_last_tick_age_seconds\"",
                "metric = \"rate(sim_ticks_total)\"",
                1,
            ),
            "(telemetry_fresh).metric: \"rate(sim_ticks_total)\": column",
        ),
        (
            text.replacen(
                "stages = [\"canary\", \"live\"]",
                "stages = [\"canary\", \"prod\"]",
                1,
            ),
            "stages",
        ),
        // Refused at load, not discovered by the estop that needs it.
        (
            set_section_command(&text, "kill", "[\"/etc/passwd\", \"--flatten\"]"),
            "kill.command: \"/etc/passwd\" is not executable",
        ),
        (
            set_section_command(&text, "kill", "[\"/\"]"),
            "kill.command: \"/\" is not a regular file",
        ),
        (
            set_section_command(&text, "validate", "[\"\"]"),
            "validate.command: is empty",
        ),
        (
            text.replacen("state_dir = \".\"", "state_dir = \"no-such-dir\"", 1),
            "host.state_dir",
        ),
    ];
    for (body, field) in cases {
        std::fs::write(&lab.config, &body).unwrap();
        let out = std::process::Command::new(GANTRY)
            .args(["agent", "--config"])
            .arg(&lab.config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("gantry.toml") && err.contains(field), "{err}");
        assert!(
            !lab.path("audit.jsonl").exists(),
            "nothing written for a bad config"
        );
    }
}

#[test]
fn usage_errors_and_missing_agent_have_their_exit_codes() {
    let lab = Lab::new("lab-codes", SOAK);
    let out = lab.ctl(&["status"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let out = lab.ctl(&["approve"]);
    assert_eq!(out.status.code(), Some(2), "a reason is required");
    let out = std::process::Command::new(GANTRY)
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `text` with the `command = …` line of `[section]` replaced.
fn set_section_command(text: &str, section: &str, command: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
        }
        if inside && line.starts_with("command =") {
            out.push_str(&format!("command = {command}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out != format!("{text}\n") && out != text,
        "no [{section}] command in the config"
    );
    out
}

#[test]
fn a_slow_kill_command_holds_only_the_estop_reply() {
    let mut lab = Lab::new("lab-slow-kill", 1);
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let slow = format!(
        r#"["sh", "-c", "sleep 3; echo flattened >> killed.log; exec {GANTRY} sim flatten --state-dir ."]"#
    );
    std::fs::write(&lab.config, set_section_command(&text, "kill", &slow)).unwrap();
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));

    let config = lab.config.clone();
    let estop = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let out = std::process::Command::new(common::GANTRY)
            .args(["ctl", "--json", "--config"])
            .arg(&config)
            .args(["estop", "--reason", "slow venue"])
            .output()
            .unwrap();
        (out, started.elapsed())
    });
    lab.wait_state("halted", Duration::from_secs(5));
    // While the kill command runs, the loop still answers what only it
    // can (history goes through it) and keeps sampling.
    let history = lab.ctl_json(&["history"]);
    assert!(history["deploys"].is_array(), "{history}");
    assert!(
        !lab.path("killed.log").exists(),
        "history was answered while the kill command still ran"
    );
    let (out, took) = estop.join().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    // The reply came once the kill command had ended, and says so.
    assert!(
        took >= Duration::from_secs(2),
        "estop replied after {took:?}"
    );
    let killed = std::fs::read_to_string(lab.path("killed.log")).unwrap();
    assert!(killed.contains("flattened"), "{killed}");
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["state"], "halted", "{reply}");
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(audit.contains("\"kill.done\""), "{audit}");
}

/// Issue 15: the agent keeps the last hour of PnL (a sample every 10 s,
/// the newest live) and sends it in the snapshot a new session starts
/// with, so a console opened now draws the hour; a halt clears it.
#[test]
fn a_new_session_gets_the_pnl_history_in_its_snapshot() {
    let mut lab = Lab::new("lab-pnl", SOAK);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), THREE_SOAKS);
    std::thread::sleep(Duration::from_secs(1));
    let snapshot = |lab: &Lab| -> serde_json::Value {
        use std::io::BufRead;
        let mut attach = std::process::Command::new(GANTRY)
            .args(["attach", "--config"])
            .arg(&lab.config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(attach.stdout.take().unwrap()).lines();
        let hello = lines.next().unwrap().unwrap();
        assert!(hello.contains("\"hello\""), "{hello}");
        let line = lines.next().unwrap().unwrap();
        let _ = attach.kill();
        let _ = attach.wait();
        serde_json::from_str(&line).unwrap()
    };
    let first = snapshot(&lab);
    assert_eq!(first["type"], "snapshot", "{first}");
    let points = first["pnl"]
        .as_array()
        .expect("pnl in the snapshot")
        .clone();
    assert!(!points.is_empty(), "{first}");
    let pnl_check = first["status"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().contains("pnl"))
        .unwrap()
        .clone();
    assert!(pnl_check["value"].is_number(), "{pnl_check}");
    for p in &points {
        assert!(p["at"].is_string() && p["value"].is_number(), "{p}");
    }
    // Once stopped, the old story is gone.
    let out = lab.ctl(&["estop", "--reason", "pnl test"]);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{}",
        stderr(&out)
    );
    lab.wait_state("halted", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    let after = snapshot(&lab);
    assert!(after.get("pnl").is_none(), "{after}");
}

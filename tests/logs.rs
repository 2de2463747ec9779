//! `gantry ctl logs`: the service's log over the wire, from a real agent
//! running a real `gantry sim` (issue 15, part 6): the last lines, a
//! follow that shows new ones as they are written, hostile bytes made
//! inert, a client that never reads delaying no rollback, and the same
//! over SSH.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::fleet::DemoFleet;
use common::{GANTRY, Lab, stderr, wait_until};

fn live_lab(name: &str) -> Lab {
    let mut lab = Lab::new(name, 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    lab
}

fn file_lines(lab: &Lab) -> Vec<String> {
    std::fs::read_to_string(lab.path("service.log"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ctl_logs_prints_the_last_lines_of_service_log() {
    let lab = live_lab("lab-logs-tail");
    // The sim logs its start-up phases; wait until it reached idle.
    wait_until(
        "idle reached in service.log",
        Duration::from_secs(10),
        || file_lines(&lab).iter().any(|l| l.contains("idle reached")),
    );
    let before = file_lines(&lab).len();
    let out = lab.ctl(&["logs", "-n", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Vec<String> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let file = file_lines(&lab);
    assert_eq!(printed.len(), 3, "{printed:?}");
    // The service may have written more meanwhile: the three printed are
    // three consecutive lines of the file, the newest at the time.
    let at = file
        .windows(3)
        .rposition(|w| w == printed.as_slice())
        .unwrap_or_else(|| panic!("{printed:?} not in service.log {file:?}"));
    assert!(
        at + 3 >= before,
        "no older than the file's end before the call: at {at}, {before} lines then: {printed:?}"
    );
    assert!(stderr(&out).contains("service.log"), "the source is named");

    let all = lab.ctl(&["logs", "-n", "10000"]);
    let text = String::from_utf8_lossy(&all.stdout);
    for phase in ["starting", "environment validated", "idle reached"] {
        assert!(text.contains(phase), "{phase} missing from {text}");
    }
}

#[test]
fn ctl_logs_follow_shows_lines_as_the_service_writes_them() {
    let lab = live_lab("lab-logs-follow");
    let mut follow = Command::new(GANTRY)
        .args(["ctl", "--config"])
        .arg(&lab.config)
        .args(["logs", "-n", "0", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the follow time to be in place, then make the service write.
    std::thread::sleep(Duration::from_millis(500));
    let release = lab.write_release(
        "marked.env",
        b"STRATEGY=momentum\nSIM_LOG_LINE=follow-marker-7f3a\nSIM_LOG_EVERY_MS=200\n",
    );
    let out = lab.ctl_path(
        &["submit", "--reason", "a release that logs a marker"],
        &release,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        if seen.iter().any(|l| l == "follow-marker-7f3a") && seen.iter().any(|l| is_start(l)) {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        seen.iter().any(|l| is_start(l)),
        "the new release's start-up arrived: {seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "follow-marker-7f3a"),
        "its marker arrived: {seen:?}"
    );
    // -n 0: nothing from before the follow began (the old run's last
    // words come first, then the new release's start).
    let first_start = seen.iter().position(|l| is_start(l)).unwrap();
    assert!(
        seen[..first_start]
            .iter()
            .all(|l| !l.contains("follow-marker")),
        "{seen:?}"
    );
}

fn is_start(line: &str) -> bool {
    line.starts_with("gantry-sim ") && line.contains(" starting host=")
}

#[test]
fn hostile_bytes_in_the_log_reach_no_terminal() {
    let lab = live_lab("lab-logs-inert");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(lab.path("service.log"))
        .unwrap();
    // OSC title, BEL, clear screen, a C1 CSI (U+009B), a bidi override.
    log.write_all(b"evil \x1b]0;owned\x07 \x1b[2J \xc2\x9b31m \xe2\x80\xae end\n")
        .unwrap();
    drop(log);
    for args in [vec!["logs", "-n", "50"], vec!["--json", "logs", "-n", "50"]] {
        let out = lab.ctl(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let bytes = out.stdout;
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("evil") && text.contains("end"), "{text}");
        assert!(!bytes.contains(&0x1b), "no ESC in {args:?}: {text:?}");
        assert!(!bytes.contains(&0x07), "no BEL in {args:?}: {text:?}");
        assert!(!text.contains('\u{9b}'), "no C1 CSI in {args:?}: {text:?}");
        assert!(!text.contains('\u{202e}'), "no bidi override in {args:?}");
    }
}

#[test]
fn a_follower_that_never_reads_delays_no_rollback() {
    let lab = live_lab("lab-logs-slow");
    let chatty = format!(
        "STRATEGY=momentum\nSIM_LOG_LINE=chatter {}\nSIM_LOG_EVERY_MS=1\n",
        "x".repeat(400)
    );
    let release = lab.write_release("chatty.env", chatty.as_bytes());
    lab.deploy_live(&release, Duration::from_secs(3));
    // A client that asks to follow and never reads a byte.
    let mut stuck = std::os::unix::net::UnixStream::connect(lab.path("agent.sock")).unwrap();
    stuck
        .write_all(
            b"{\"type\":\"command\",\"id\":\"f1\",\"op\":\"logs\",\"n\":10000,\"follow\":true}\n",
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let out = lab.ctl(&["rollback", "--reason", "rollback while a reader is stuck"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "rollback took {took:?}");
    assert_eq!(lab.status()["state"], "rolled_back");
    drop(stuck);
}

#[test]
fn ctl_logs_over_ssh() {
    let mut fleet = DemoFleet::start(1, 1);
    let good = fleet.host_dir("demo-1").join("examples/good.env");
    let out = fleet.ctl(
        "demo-1",
        &[
            "submit",
            good.to_str().unwrap(),
            "--reason",
            "logs over ssh",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let log = fleet.host_dir("demo-1").join("service.log");
    wait_until("the service logged idle", Duration::from_secs(15), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("idle reached"))
    });
    let out = fleet.ctl("demo-1", &["logs", "-n", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("idle reached"), "{text}");
    fleet.stop();
}

#[test]
fn a_viewer_may_not_read_the_log_but_may_read_a_runbook() {
    let mut lab = Lab::new("lab-logs-viewer", 1);
    lab.start_agent();
    let stream = lab.socket();
    let mut writer = stream.try_clone().unwrap();
    writer
        .write_all(
            b"{\"type\":\"attach\",\"role\":\"viewer\",\"seen_as\":\"test\"}\n\
              {\"type\":\"command\",\"id\":\"l1\",\"op\":\"logs\",\"n\":5}\n\
              {\"type\":\"command\",\"id\":\"r1\",\"op\":\"runbook\",\"name\":\"reconciliation_clean\"}\n",
        )
        .unwrap();
    let mut replies = std::collections::HashMap::new();
    for line in BufReader::new(stream).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["type"] == "reply" {
            replies.insert(v["id"].as_str().unwrap().to_string(), v);
            if replies.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(replies["l1"]["ok"], false, "{:?}", replies["l1"]);
    assert_eq!(replies["l1"]["code"], "forbidden");
    assert!(
        replies["l1"]["error"]
            .as_str()
            .unwrap()
            .contains("needs operator")
    );
    assert_eq!(replies["r1"]["ok"], true, "{:?}", replies["r1"]);
    assert!(
        replies["r1"]["data"]["text"]
            .as_str()
            .unwrap()
            .contains("gantry ctl")
    );
}

#[test]
fn every_logs_request_gets_its_reply_and_the_latest_ends_the_follow() {
    let mut lab = Lab::new("lab-logs-twice", 1);
    lab.start_agent();
    let stream = lab.socket();
    let mut writer = stream.try_clone().unwrap();
    writer
        .write_all(
            b"{\"type\":\"command\",\"id\":\"a\",\"op\":\"logs\",\"n\":5,\"follow\":true}\n\
              {\"type\":\"command\",\"id\":\"b\",\"op\":\"logs\",\"n\":0}\n",
        )
        .unwrap();
    let mut replies = Vec::new();
    for line in BufReader::new(stream).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["type"] == "reply" {
            assert_eq!(v["ok"], true, "{v}");
            replies.push(v["id"].as_str().unwrap().to_string());
            if replies.len() == 2 {
                break;
            }
        }
    }
    replies.sort();
    assert_eq!(replies, ["a", "b"]);
}

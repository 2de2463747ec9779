//! Issue 10: clients that are not polite. Real agent, real socket.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use std::process::Stdio;

use common::flood::{Flood, rss_kib};
use common::sshd::{self, Sshd};
use common::{GANTRY, Lab};
use serde_json::Value;

/// Sends one command line and returns its reply (skipping events).
fn ask(reader: &mut BufReader<UnixStream>, line: &str) -> Value {
    let mut stream = reader.get_ref().try_clone().unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    loop {
        let mut got = String::new();
        assert!(reader.read_line(&mut got).unwrap() > 0, "agent closed");
        let msg: Value = serde_json::from_str(&got).unwrap();
        if msg["type"] == "reply" {
            return msg;
        }
    }
}

#[test]
fn a_reused_command_id_never_swallows_a_different_command() {
    let mut lab = Lab::new("lab-ids", 1);
    lab.start_agent();
    let stream = lab.socket();
    let mut reader = BufReader::new(stream);
    let first = ask(&mut reader, r#"{"type":"command","id":"x","op":"status"}"#);
    assert_eq!(first["ok"], true, "{first}");
    // The same id and the same command: the same answer again (status is
    // the last published one, so only its clock may have moved).
    let again = ask(&mut reader, r#"{"type":"command","id":"x","op":"status"}"#);
    let without_clock = |reply: &Value| {
        let mut reply = reply.clone();
        reply["data"]["now"] = Value::Null;
        reply["data"]["sampled_at"] = Value::Null;
        reply
    };
    assert_eq!(without_clock(&again), without_clock(&first));
    // The same id for an estop: refused, nothing stops, and it is audited.
    let estop = ask(
        &mut reader,
        r#"{"type":"command","id":"x","op":"estop","reason":"reused id"}"#,
    );
    assert_eq!(estop["ok"], false, "{estop}");
    assert_eq!(estop["code"], "bad_request", "{estop}");
    assert!(
        estop["error"].as_str().unwrap().contains("already used"),
        "{estop}"
    );
    assert_eq!(lab.status()["state"], "idle");
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(audit.contains("estop.refused"), "{audit}");
    // A fresh id acts.
    let estop = ask(
        &mut reader,
        r#"{"type":"command","id":"y","op":"estop","reason":"fresh id"}"#,
    );
    assert_eq!(estop["ok"], true, "{estop}");
    assert_eq!(lab.status()["state"], "halted");
}

/// Under whatever flood is running: the agent answers `ctl status`, no
/// gate failed because of the clients, a crashing release is still rolled
/// back, and the agent's memory stayed bounded.
fn assert_the_pipeline_outlasts_the_flood(lab: &Lab, rss_before: u64) {
    let agent = lab.agent.as_ref().unwrap().id();
    let started = std::time::Instant::now();
    let status = lab.status();
    assert_eq!(status["state"], "live");
    eprintln!("ctl status under the flood: {:?}", started.elapsed());
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(
        !audit.contains("\"gate.fail\""),
        "a gate failed under the flood: {audit}"
    );
    let out = lab.ctl_path(
        &["submit", "--reason", "under flood"],
        &lab.example("bad-crash.env"),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let rolled = lab.wait_state("rolled_back", Duration::from_secs(20));
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    let done = audit
        .lines()
        .rev()
        .find(|l| l.contains("\"rollback.done\""))
        .expect("rollback.done");
    let entry: Value = serde_json::from_str(done).unwrap();
    eprintln!(
        "rollback under the flood: total {} ms",
        entry["detail"]["total_ms"]
    );
    assert_eq!(rolled["current_release"], status["current_release"]);
    let after = rss_kib(agent);
    eprintln!("agent RSS: {rss_before} KiB before, {after} KiB under the flood");
    assert!(after < 300 * 1024, "RSS {after} KiB under the flood");
}

#[test]
fn a_flood_of_idle_and_never_reading_clients_delays_no_rollback() {
    let mut lab = Lab::new("lab-flood", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    let before = rss_kib(lab.agent.as_ref().unwrap().id());
    let _flood = Flood::start(&lab, 3000, 100);
    std::thread::sleep(Duration::from_secs(2));
    assert_the_pipeline_outlasts_the_flood(&lab, before);
}

#[test]
fn a_flood_through_viewer_ssh_sessions_is_bounded_the_same_way() {
    if !sshd::available() {
        return;
    }
    let mut lab = Lab::new("lab-flood-ssh", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    let before = rss_kib(lab.agent.as_ref().unwrap().id());
    let keys = lab.path("ssh");
    std::fs::create_dir_all(&keys).unwrap();
    let (viewer_key, viewer_pub) = sshd::keygen(&keys, "viewer_key");
    let forced = format!(
        "command=\"{GANTRY} attach --config {} --role viewer\",restrict {viewer_pub}",
        lab.config.display()
    );
    let sshd = Sshd::start_with(&lab.path("sshd"), &[forced], |_| {
        "MaxStartups 200\n".to_string()
    });
    let known_hosts = keys.join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line() + "\n").unwrap();

    let _flood = Flood::start(&lab, 3000, 50);
    // 50 viewers over real OpenSSH that ask for status without end and
    // never read a reply: their sessions fill, and the agent drops them.
    let viewers: Vec<_> = (0..50)
        .map(|_| {
            let mut child = std::process::Command::new("ssh")
                .args(["-F", "/dev/null", "-T", "-o", "BatchMode=yes", "-o"])
                .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
                .arg("-i")
                .arg(&viewer_key)
                .args(["-p", &sshd.port.to_string()])
                .arg(format!("{}@127.0.0.1", sshd::user()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || {
                let line = b"{\"type\":\"command\",\"id\":\"\",\"op\":\"status\"}\n";
                while stdin.write_all(line).is_ok() {}
            });
            (child, writer)
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sshd.log_text().matches("Accepted publickey").count() < viewers.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "viewers never all logged in: {}",
            sshd.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_the_pipeline_outlasts_the_flood(&lab, before);
    for (mut child, writer) in viewers {
        let _ = child.kill();
        let _ = child.wait();
        let _ = writer.join();
    }
}

#[test]
fn a_release_diff_shows_values_only_for_public_keys() {
    let mut lab = Lab::new("lab-diff", 1);
    lab.start_agent();
    let old = lab.write_release(
        "v1.env",
        b"STRATEGY=mean_reversion\nDATABASE_URL=postgres://u:hunter2@db/x\nMNEMONIC=abandon ability able\n",
    );
    let new = lab.write_release(
        "v2.env",
        b"STRATEGY=momentum\nDATABASE_URL=postgres://u:swordfish@db/x\nMNEMONIC=zoo zone zero\nSESSION_COOKIE=s3cr3t\n",
    );
    lab.deploy_live(&old, Duration::from_secs(3));
    let first = lab.status()["current_release"]
        .as_str()
        .unwrap()
        .to_string();
    lab.deploy_live(&new, Duration::from_secs(3));
    let second = lab.status()["current_release"]
        .as_str()
        .unwrap()
        .to_string();

    let stream = lab.socket();
    let mut reader = BufReader::new(stream);
    // As a viewer (an attach message lowers the session's role).
    reader
        .get_ref()
        .try_clone()
        .unwrap()
        .write_all(b"{\"type\":\"attach\",\"role\":\"viewer\",\"seen_as\":\"viewer test\"}\n")
        .unwrap();
    let diff = ask(
        &mut reader,
        &format!(
            r#"{{"type":"command","id":"d","op":"release_diff","release":"{second}","against":"{first}"}}"#
        ),
    );
    assert_eq!(diff["ok"], true, "{diff}");
    let text = diff.to_string();
    for secret in ["hunter2", "swordfish", "abandon", "zoo", "s3cr3t"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    // The sim template's allow-list names STRATEGY: its change shows.
    assert!(
        text.contains("momentum") && text.contains("mean_reversion"),
        "{text}"
    );
    assert!(
        text.contains("SESSION_COOKIE"),
        "changed keys are named: {text}"
    );
}

#[test]
fn oversized_and_linked_releases_are_refused_before_anything_is_sent() {
    let mut lab = Lab::new("lab-big", 1);
    lab.start_agent();
    // The agent may answer before its resume line is written: read the
    // log once it is, so only what ctl sends could change it.
    common::wait_until("the resume line", Duration::from_secs(5), || {
        std::fs::read_to_string(lab.path("audit.jsonl")).is_ok_and(|a| a.contains("agent.resume"))
    });
    let audit_before = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();

    // 2 MB: refused by ctl, naming the limit, before a byte is sent.
    let big: Vec<u8> = (0..100_000)
        .flat_map(|i| format!("KEY_{i:06}=0123456\n").into_bytes())
        .collect();
    let big = lab.write_release("big.env", &big);
    let out = lab.ctl_path(&["submit", "--reason", "too big"], &big);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("MAX_RELEASE_BYTES"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");

    // A link out of its directory is not followed.
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("shadow");
    std::fs::write(&secret, "root:$6$salt$hash:19000:0:99999:7:::\n").unwrap();
    let link = lab
        .write_release("v3.env", b"A=1\n")
        .with_file_name("prod.env");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let out = lab.ctl_path(&["validate"], &link);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("symbolic link out of"), "{err}");
    assert!(!err.contains("$6$") && !err.contains("root:"), "{err}");
    assert_eq!(
        std::fs::read_to_string(lab.path("audit.jsonl")).unwrap(),
        audit_before,
        "nothing reached the agent"
    );

    // Over the wire, past ctl: the agent names its limits too.
    let stream = UnixStream::connect(lab.path("agent.sock")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let many_keys: String = (0..5000).map(|i| format!("K{i}=1\\n")).collect();
    let reply = ask(
        &mut reader,
        &format!(
            r#"{{"type":"command","id":"k","op":"validate","name":"keys.env","content":"{many_keys}"}}"#
        ),
    );
    assert_eq!(reply["code"], "invalid", "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("MAX_RELEASE_KEYS"),
        "{reply}"
    );
    let large = "#".repeat(600 * 1024);
    let reply = ask(
        &mut reader,
        &format!(
            r#"{{"type":"command","id":"l","op":"submit","name":"large.env","content":"{large}","reason":"large"}}"#
        ),
    );
    assert_eq!(reply["code"], "invalid", "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("MAX_RELEASE_BYTES"),
        "{reply}"
    );
    assert_eq!(lab.status()["state"], "idle");
}

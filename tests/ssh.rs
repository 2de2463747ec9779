//! ctl over SSH against the embedded russh server: the demo fleet as a user
//! runs it, wrong keys, unknown hosts, bad hosts files, hostile input and
//! the remembered audit head. Runs on a bare machine.

mod common;

use std::time::Duration;

use common::fleet::{DemoFleet, processes_mentioning};
use common::{GANTRY, stderr};

#[test]
fn fleet_status_and_every_action_over_ssh_then_nothing_left_running() {
    let mut fleet = DemoFleet::start(3, 1);
    let out = fleet.ctl_all(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in ["demo-1", "demo-2", "demo-3"] {
        assert!(text.contains(name), "{text}");
    }
    assert!(text.contains("idle"), "{text}");

    // The same commands as the local form, over SSH.
    let good = fleet.host_dir("demo-1").join("examples/good.env");
    let out = fleet.ctl(
        "demo-1",
        &["submit", good.to_str().unwrap(), "--reason", "ssh deploy"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let awaiting = fleet.wait_state("demo-1", "awaiting_approval", Duration::from_secs(20));
    assert_eq!(awaiting["host"], "demo-1");
    let out = fleet.ctl("demo-1", &["approve", "--reason", "canary ok over ssh"]);
    assert!(out.status.success(), "{}", stderr(&out));
    fleet.wait_state("demo-1", "live", Duration::from_secs(5));
    let v2 = fleet.host_dir("demo-1").join("examples/good-v2.env");
    let out = fleet.ctl(
        "demo-1",
        &["submit", v2.to_str().unwrap(), "--reason", "second"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = fleet.ctl(
        "demo-1",
        &["rollback", "--reason", "operator rollback over ssh"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fleet.status("demo-1")["state"], "rolled_back");
    let out = fleet.ctl("demo-2", &["estop", "--reason", "estop over ssh"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fleet.status("demo-2")["state"], "halted");
    // Refusals keep their exit codes over SSH.
    let out = fleet.ctl(
        "demo-2",
        &["submit", good.to_str().unwrap(), "--reason", "while halted"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // The audit log records who the server saw, next to the claimed name.
    let audit = std::fs::read_to_string(fleet.host_dir("demo-2").join("audit.jsonl")).unwrap();
    let estop = audit
        .lines()
        .find(|l| l.contains("\"kind\":\"estop\""))
        .expect("estop audited");
    assert!(estop.contains("\"name\":\"key SHA256:"), "{estop}");
    assert!(estop.contains("\"claimed\":\"tester\""), "{estop}");
    assert!(estop.contains("key SHA256:"), "{estop}");

    let dir = fleet.dir.display().to_string();
    let status = fleet.stop();
    assert!(
        status.success(),
        "demo exits cleanly on SIGTERM: {status:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_mentioning(&dir);
    assert!(left.is_empty(), "left running: {left:#?}");
}

#[test]
fn changed_and_unknown_host_keys_are_refused_and_nothing_is_sent() {
    let fleet = DemoFleet::start(2, 1);
    let original = std::fs::read_to_string(&fleet.known_hosts).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    // demo-1 now "has" demo-2's key: a changed key.
    let demo2_key = lines[1].split_once(' ').unwrap().1;
    let demo1_host = lines[0].split_once(' ').unwrap().0;
    std::fs::write(
        &fleet.known_hosts,
        format!("{demo1_host} {demo2_key}\n{}\n", lines[1]),
    )
    .unwrap();
    let out = fleet.ctl("demo-1", &["estop", "--reason", "must never arrive"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("CHANGED") && err.contains("SHA256:"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        !std::fs::read_to_string(fleet.host_dir("demo-1").join("audit.jsonl"))
            .unwrap()
            .contains("must never arrive"),
        "nothing reached the agent"
    );

    // Unknown host: refused unless asked for accept-new.
    std::fs::write(&fleet.known_hosts, format!("{}\n", lines[1])).unwrap();
    let out = fleet.ctl("demo-1", &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not in known_hosts"),
        "{}",
        stderr(&out)
    );
    let out = fleet.ctl("demo-1", &["--accept-new", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recorded = std::fs::read_to_string(&fleet.known_hosts).unwrap();
    assert!(recorded.lines().count() == 2, "{recorded}");
    let out = fleet.ctl("demo-1", &["status"]);
    assert!(
        out.status.success(),
        "recorded key is trusted next time: {}",
        stderr(&out)
    );
}

#[test]
fn bad_hosts_files_refused_keys_and_unreachable_hosts_get_one_line() {
    let fleet = DemoFleet::start(1, 1);
    let text = std::fs::read_to_string(&fleet.hosts_file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&fleet.identity, dir.path().join("id_ed25519")).unwrap();
    std::fs::copy(&fleet.known_hosts, dir.path().join("known_hosts")).unwrap();

    // A malformed hosts file: named file and line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace("user = \"demo\"", "user = \"demo\"\ncolour = \"red\""),
    )
    .unwrap();
    let out = fleet.ctl_with(&bad, Some("demo-1"), &["status"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.toml") && stderr(&out).contains("line"),
        "{}",
        stderr(&out)
    );

    // An identity that does not exist.
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        text.replace("identity = \"id_ed25519\"", "identity = \"nope\""),
    )
    .unwrap();
    let out = fleet.ctl_with(&missing, Some("demo-1"), &["status"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));

    // A key the server refuses.
    let other = dir.path().join("other_key");
    let key =
        russh::keys::PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519).unwrap();
    key.write_openssh_file(&other, russh::keys::ssh_key::LineEnding::LF)
        .unwrap();
    let refused = dir.path().join("refused.toml");
    std::fs::write(
        &refused,
        text.replace("identity = \"id_ed25519\"", "identity = \"other_key\""),
    )
    .unwrap();
    let out = fleet.ctl_with(&refused, Some("demo-1"), &["status"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused every key"),
        "{}",
        stderr(&out)
    );

    // An unreachable host.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_line = text.lines().find(|l| l.starts_with("port = ")).unwrap();
    let gone = dir.path().join("gone.toml");
    std::fs::write(&gone, text.replace(port_line, &format!("port = {closed}"))).unwrap();
    let out = fleet.ctl_with(&gone, Some("demo-1"), &["status"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn a_truncated_audit_log_is_flagged_by_the_next_client() {
    let fleet = DemoFleet::start(1, 1);
    let host = fleet.host_dir("demo-1");
    for reason in ["one", "two", "three"] {
        let out = fleet.ctl("demo-1", &["estop", "--reason", reason]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = fleet.ctl("demo-1", &["status"]);
    assert!(out.status.success());
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
    // Someone with root on the host stops the agent and cuts the log.
    let pid: i32 = std::fs::read_to_string(host.join("agent.lock"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = host.join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&log, kept.join("\n") + "\n").unwrap();
    let agent = std::process::Command::new(GANTRY)
        .args(["agent", "--config"])
        .arg(host.join("gantry.toml"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = scopeguard(agent);
    std::thread::sleep(Duration::from_millis(500));
    let out = fleet.ctl("demo-1", &["status"]);
    assert!(
        stderr(&out).contains("WARNING") && stderr(&out).contains("SHORTER"),
        "{}",
        stderr(&out)
    );
    let out = fleet.ctl("demo-1", &["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "audit verify fails on a broken head: {}",
        stderr(&out)
    );
    let _ = agent.0.kill();
}

struct Guard(std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
fn scopeguard(child: std::process::Child) -> Guard {
    Guard(child)
}

#[test]
fn hostile_input_gets_error_replies_and_never_crashes_the_agent() {
    use std::io::{Read, Write};
    let mut lab = common::Lab::new("lab-hostile", 1);
    lab.start_agent();
    let run = |input: &[u8]| {
        let mut attach = std::process::Command::new(GANTRY)
            .args(["attach", "--config"])
            .arg(&lab.config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = attach.stdin.take().unwrap();
        // The agent may close on us mid-write (that is the point).
        let _ = stdin.write_all(input);
        drop(stdin);
        let mut out = String::new();
        attach
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = attach.wait();
        out
    };
    let out = run(b"{\"type\":\"launch_missiles\"}\n\xff\xfe\n{\"type\":\"command\",\"id\":\"s\",\"op\":\"status\"}\n");
    assert!(out.contains("\"type\":\"hello\""), "{out}");
    assert!(out.contains("unknown variant"), "{out}");
    assert!(out.contains("not valid UTF-8"), "{out}");
    assert!(out.contains("\"id\":\"s\",\"ok\":true"), "{out}");
    let mut huge = vec![b'x'; 2 << 20];
    huge.push(b'\n');
    let out = run(&huge);
    assert!(out.contains("line longer than"), "{out}");
    // The agent is fine.
    assert!(lab.ctl(&["status"]).status.success());

    // Terminal escapes from a host arrive inert.
    let out = lab.ctl(&[
        "estop",
        "--reason",
        "evil \u{1b}[2J\u{1b}]0;pwned\u{7} reason",
    ]);
    assert!(out.status.success());
    let out = lab.ctl(&["audit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("evil"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "control characters reached the terminal: {text:?}"
    );
}

#[test]
fn an_operator_pinned_session_cannot_rearm_or_submit() {
    let mut lab = common::Lab::new("lab-pinned", 1);
    lab.start_agent();
    let run = |role: &str, line: &str| {
        use std::io::{Read, Write};
        let mut attach = std::process::Command::new(GANTRY)
            .args(["attach", "--role", role, "--operator", "alice", "--config"])
            .arg(&lab.config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = attach.stdin.take().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        drop(stdin);
        let mut out = String::new();
        attach
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = attach.wait();
        out
    };
    let out = run(
        "operator",
        "{\"type\":\"command\",\"id\":\"e\",\"op\":\"estop\",\"reason\":\"drill\"}\n",
    );
    assert!(out.contains("\"role\":\"operator\""), "{out}");
    assert!(out.contains("\"id\":\"e\",\"ok\":true"), "{out}");
    let out = run(
        "operator",
        "{\"type\":\"command\",\"id\":\"r\",\"op\":\"rearm\",\"reason\":\"try\"}\n",
    );
    assert!(out.contains("role operator may not rearm"), "{out}");
    assert!(out.contains("\"code\":\"forbidden\""), "{out}");
    let out = run(
        "viewer",
        "{\"type\":\"command\",\"id\":\"v\",\"op\":\"estop\",\"reason\":\"x\"}\n",
    );
    assert!(out.contains("role viewer may not estop"), "{out}");
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(audit.contains("operator alice (pinned)"), "{audit}");
    assert!(audit.contains("rearm.refused"), "{audit}");
}

//! Interop with OpenSSH: gantry's client against a real `sshd`, and the
//! real `ssh` client speaking the wire through `gantry attach`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::sshd::{self, Sshd};
use common::{GANTRY, Lab, stderr};

struct Setup {
    lab: Lab,
    sshd: Sshd,
    hosts: std::path::PathBuf,
    known_hosts: std::path::PathBuf,
    admin_key: std::path::PathBuf,
    client_state: tempfile::TempDir,
}

fn setup(name: &str) -> Option<Setup> {
    if !sshd::available() {
        return None;
    }
    let mut lab = Lab::new(name, 1);
    lab.start_agent();
    let keys = lab.path("ssh");
    std::fs::create_dir_all(&keys).unwrap();
    let (admin_key, admin_pub) = sshd::keygen(&keys, "admin_key");
    let (op_key, op_pub) = sshd::keygen(&keys, "operator_key");
    let attach = format!("{GANTRY} attach --config {}", lab.config.display());
    let forced = format!("command=\"{attach} --role operator --operator alice\",restrict {op_pub}");
    let sshd = Sshd::start(&lab.path("sshd"), &[admin_pub, forced]);
    let known_hosts = keys.join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line() + "\n").unwrap();
    let hosts = keys.join("hosts.toml");
    let user = sshd::user();
    std::fs::write(
        &hosts,
        format!(
            "[[host]]\nname = \"admin\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\nidentity = \"{}\"\nknown_hosts = \"known_hosts\"\ncommand = \"{attach}\"\n\n\
             [[host]]\nname = \"oncall\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\nidentity = \"{}\"\nknown_hosts = \"known_hosts\"\n",
            admin_key.display(),
            op_key.display(),
            port = sshd.port
        ),
    )
    .unwrap();
    Some(Setup {
        lab,
        sshd,
        hosts,
        known_hosts,
        admin_key,
        client_state: tempfile::tempdir().unwrap(),
    })
}

impl Setup {
    fn ctl(&self, host: &str, args: &[&str]) -> std::process::Output {
        Command::new(GANTRY)
            .arg("ctl")
            .arg("--hosts")
            .arg(&self.hosts)
            .args(["--host", host])
            .args(args)
            .env("USER", "tester")
            .env("GANTRY_CLIENT_STATE", self.client_state.path())
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap()
    }

    fn state(&self) -> String {
        let out = self.ctl("admin", &["--json", "status"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["state"].as_str().unwrap().to_string()
    }

    fn wait(&self, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.state() != state {
            assert!(Instant::now() < deadline, "never reached {state}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn ctl_over_openssh_status_approve_rollback_estop_and_a_pinned_operator() {
    let Some(s) = setup("lab-openssh") else {
        return;
    };
    let good = s.lab.example("good.env");
    let out = s.ctl(
        "admin",
        &["submit", good.to_str().unwrap(), "--reason", "via openssh"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    s.wait("awaiting_approval");
    let out = s.ctl("oncall", &["approve", "--reason", "oncall approves"]);
    assert!(
        out.status.success(),
        "operator may approve: {}",
        stderr(&out)
    );
    s.wait("live");
    let v2 = s.lab.example("good-v2.env");
    let out = s.ctl(
        "admin",
        &["submit", v2.to_str().unwrap(), "--reason", "second"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = s.ctl("oncall", &["rollback", "--reason", "oncall rolls back"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.state(), "rolled_back");
    let out = s.ctl("oncall", &["estop", "--reason", "oncall stops"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.state(), "halted");
    // The forced command pins the role: no rearm, no submit.
    let out = s.ctl("oncall", &["rearm", "--reason", "not mine to do"]);
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("operator") && stderr(&out).contains("rearm"),
        "{}",
        stderr(&out)
    );
    let out = s.ctl(
        "oncall",
        &["submit", good.to_str().unwrap(), "--reason", "nope"],
    );
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let out = s.ctl("admin", &["rearm", "--reason", "admin rearms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Who acted, as sshd saw it, next to the claimed name.
    let audit = std::fs::read_to_string(s.lab.path("audit.jsonl")).unwrap();
    let approve = audit
        .lines()
        .find(|l| l.contains("\"kind\":\"approve\""))
        .unwrap();
    assert!(approve.contains("operator alice (pinned)"), "{approve}");
    assert!(approve.contains("key SHA256:"), "{approve}");
    // --operator alice is pinned by authorized_keys: alice approved, and the
    // name the client claimed ($USER) is only a claim.
    assert!(approve.contains("\"name\":\"alice\""), "{approve}");
    assert!(approve.contains("\"claimed\":\"tester\""), "{approve}");
}

#[test]
fn changed_and_unknown_host_keys_are_refused_by_gantry_against_sshd() {
    let Some(s) = setup("lab-openssh-keys") else {
        return;
    };
    let dir = s.lab.path("other");
    std::fs::create_dir_all(&dir).unwrap();
    let (_, other) = sshd::keygen(&dir, "other_host");
    let other = other
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(
        &s.known_hosts,
        format!("[127.0.0.1]:{} {other}\n", s.sshd.port),
    )
    .unwrap();
    let out = s.ctl("admin", &["estop", "--reason", "must not arrive"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("CHANGED"), "{}", stderr(&out));
    std::fs::write(&s.known_hosts, "").unwrap();
    let out = s.ctl("admin", &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not in known_hosts"),
        "{}",
        stderr(&out)
    );
    let audit = std::fs::read_to_string(s.lab.path("audit.jsonl")).unwrap();
    assert!(
        !audit.contains("must not arrive"),
        "nothing reached the agent"
    );
}

#[test]
fn proxy_jump_through_a_second_sshd() {
    let Some(s) = setup("lab-openssh-jump") else {
        return;
    };
    let (_, admin_pub) = (
        s.admin_key.clone(),
        std::fs::read_to_string(s.admin_key.with_extension("pub")).unwrap(),
    );
    let bastion = Sshd::start(&s.lab.path("bastion"), &[admin_pub.trim().to_string()]);
    let mut known = std::fs::read_to_string(&s.known_hosts).unwrap();
    known.push_str(&bastion.known_hosts_line());
    known.push('\n');
    std::fs::write(&s.known_hosts, known).unwrap();
    let mut hosts = std::fs::read_to_string(&s.hosts).unwrap();
    hosts.push_str(&format!(
        "\n[[host]]\nname = \"bastion\"\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nidentity = \"{}\"\nknown_hosts = \"known_hosts\"\n",
        bastion.port,
        sshd::user(),
        s.admin_key.display()
    ));
    hosts = hosts.replacen(
        "name = \"admin\"",
        "name = \"admin\"\njump = \"bastion\"",
        1,
    );
    std::fs::write(&s.hosts, hosts).unwrap();
    let out = s.ctl("admin", &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("lab-openssh-jump"));
    let log = bastion.log_text();
    assert!(
        log.contains("direct-tcpip") || log.contains("direct_tcpip"),
        "the bastion forwarded: {log}"
    );
}

#[test]
fn the_openssh_client_speaks_the_wire_through_attach() {
    let Some(s) = setup("lab-openssh-wire") else {
        return;
    };
    let commands = "{\"type\":\"command\",\"id\":\"1\",\"op\":\"status\"}\n{\"type\":\"command\",\"id\":\"2\",\"op\":\"audit_tail\",\"n\":3}\n";
    let mut child = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
        ])
        .arg(format!("UserKnownHostsFile={}", s.known_hosts.display()))
        .arg("-i")
        .arg(&s.admin_key)
        .args(["-p", &s.sshd.port.to_string()])
        .arg(format!("{}@127.0.0.1", sshd::user()))
        .arg(format!(
            "{GANTRY} attach --config {}",
            s.lab.config.display()
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let types: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        types.first().map(String::as_str),
        Some("hello"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(types.get(1).map(String::as_str), Some("snapshot"), "{text}");
    assert!(text.contains("\"id\":\"1\",\"ok\":true"), "{text}");
    assert!(text.contains("\"id\":\"2\",\"ok\":true"), "{text}");
}

#[test]
fn hosts_named_by_ssh_config_aliases_and_keys_from_ssh_agent() {
    let Some(s) = setup("lab-openssh-alias") else {
        return;
    };
    // A fresh HOME whose ~/.ssh/config names the host; the key lives only
    // in ssh-agent, so the agent path is what authenticates.
    let home = tempfile::tempdir().unwrap();
    let ssh_dir = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host lab-alias\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  UserKnownHostsFile {}\n  IdentitiesOnly no\n",
            s.sshd.port,
            sshd::user(),
            s.known_hosts.display()
        ),
    )
    .unwrap();
    let agent_sock = home.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&agent_sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !agent_sock.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(s.lab.path("ssh/operator_key"))
        .env("SSH_AUTH_SOCK", &agent_sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "ssh-add: {}", stderr(&added));
    // The operator key's forced command attaches to the lab's agent, so the
    // alias needs no remote command.
    let out = Command::new(GANTRY)
        .args([
            "ctl",
            "--host",
            "lab-alias",
            "--json",
            "status",
            "--ssh-config",
        ])
        .arg(ssh_dir.join("config"))
        .env("HOME", home.path())
        .env("SSH_AUTH_SOCK", &agent_sock)
        .env("GANTRY_CLIENT_STATE", s.client_state.path())
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["host"], "lab-openssh-alias");
}

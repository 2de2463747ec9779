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
    setup_with(name, |_| {})
}

/// [`setup`], with `configure` called on the lab before its agent starts.
fn setup_with(name: &str, configure: impl FnOnce(&Lab)) -> Option<Setup> {
    if !sshd::available() {
        return None;
    }
    let mut lab = Lab::new(name, 1);
    configure(&lab);
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

/// `ssh-keygen -s CA`: certifies `key`'s public half as `key_id` for
/// `principals`, serial `serial`; the certificate lands at `<key>-cert.pub`.
fn certify(
    ca: &std::path::Path,
    key: &std::path::Path,
    key_id: &str,
    principals: &str,
    serial: u64,
) {
    let out = Command::new("ssh-keygen")
        .arg("-q")
        .arg("-s")
        .arg(ca)
        .args(["-I", key_id, "-n", principals, "-z", &serial.to_string()])
        .arg(key.with_extension("pub"))
        .output()
        .expect("ssh-keygen -s");
    assert!(out.status.success(), "ssh-keygen -s: {}", stderr(&out));
}

/// `ssh-keygen -lf`: the SHA256 fingerprint of a public key file.
fn fingerprint(public: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen -lf: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn audit_entry(s: &Setup, kind: &str, reason: &str) -> serde_json::Value {
    let audit = std::fs::read_to_string(s.lab.path("audit.jsonl")).unwrap();
    audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == kind && e["reason"] == reason)
        .unwrap_or_else(|| panic!("no {kind} entry with reason {reason:?} in\n{audit}"))
}

/// Operators signed by a user CA: sshd accepts the certificate by a
/// `cert-authority` line (its principals pick the forced command), attach
/// describes it, and the agent records the key id as who acted. One key
/// id on two keys is one person to four-eyes; two key ids are two.
#[test]
fn user_certificates_name_who_acted() {
    let Some(s) = setup_with("lab-openssh-certs", |lab| {
        let config = std::fs::read_to_string(&lab.config).unwrap();
        let config = config.replace(
            "require_distinct_approver = false",
            "require_distinct_approver = true",
        );
        assert!(config.contains("require_distinct_approver = true"));
        std::fs::write(&lab.config, config).unwrap();
    }) else {
        return;
    };
    let user = sshd::user();
    let keys = s.lab.path("ssh");
    let (ca, ca_pub) = sshd::keygen(&keys, "user_ca");
    let ca_fp = fingerprint(&ca.with_extension("pub"));
    // alice holds two keys certified as alice@desk: one for her login
    // (operator), one for the `deploy` principal (admin).
    let (alice, _) = sshd::keygen(&keys, "alice_key");
    certify(&ca, &alice, "alice@desk", &user, 7);
    let (alice_deploy, _) = sshd::keygen(&keys, "alice_deploy_key");
    certify(&ca, &alice_deploy, "alice@desk", "deploy", 8);
    let (bob, _) = sshd::keygen(&keys, "bob_key");
    certify(&ca, &bob, "bob@desk", &user, 9);
    // dave's certificate lives apart from his key: ssh_config names it.
    let (dave, _) = sshd::keygen(&keys, "dave_key");
    certify(&ca, &dave, "dave@desk", "deploy", 10);
    let certs = keys.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::rename(keys.join("dave_key-cert.pub"), certs.join("dave.pub")).unwrap();
    // A key id that tries to read as a pinned operator and to reach a
    // terminal: the CA chose it, but it is still bytes from outside.
    let (mallory, _) = sshd::keygen(&keys, "mallory_key");
    certify(
        &ca,
        &mallory,
        "eve, operator root (pinned)\x1b[2J",
        &user,
        11,
    );
    // A key whose certificate file is garbage.
    let (broken, _) = sshd::keygen(&keys, "broken_key");
    std::fs::write(
        keys.join("broken_key-cert.pub"),
        "ssh-ed25519-cert-v01@openssh.com AAAA\n",
    )
    .unwrap();

    // sshd reads authorized_keys at each login: the CA lines go in now.
    let attach = format!("{GANTRY} attach --config {}", s.lab.config.display());
    let authorized = s.sshd.dir.join("authorized_keys");
    let mut lines = std::fs::read_to_string(&authorized).unwrap();
    lines.push_str(&format!(
        "cert-authority,principals=\"deploy\",command=\"{attach} --role admin\",restrict {ca_pub}\n\
         cert-authority,command=\"{attach} --role operator\",restrict {ca_pub}\n"
    ));
    std::fs::write(&authorized, lines).unwrap();
    let mut hosts = std::fs::read_to_string(&s.hosts).unwrap();
    for (name, key) in [
        ("alice", &alice),
        ("alice-deploy", &alice_deploy),
        ("bob", &bob),
        ("mallory", &mallory),
        ("broken", &broken),
    ] {
        hosts.push_str(&format!(
            "\n[[host]]\nname = \"{name}\"\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\nidentity = \"{}\"\nknown_hosts = \"known_hosts\"\n",
            s.sshd.port,
            key.display()
        ));
    }
    std::fs::write(&s.hosts, hosts).unwrap();

    // Only the certificate is authorized, so gantry must have offered it.
    let good = s.lab.example("good.env");
    let out = s.ctl(
        "alice-deploy",
        &["submit", good.to_str().unwrap(), "--reason", "cert submits"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    s.wait("awaiting_approval");
    // Another key, the same key id: the same person, whatever she claims.
    let out = s.ctl(
        "alice",
        &[
            "--operator",
            "carol",
            "approve",
            "--reason",
            "alice approves her own",
        ],
    );
    assert!(
        !out.status.success(),
        "alice@desk may not approve her deploy"
    );
    assert!(
        stderr(&out).contains("alice@desk submitted deploy"),
        "{}",
        stderr(&out)
    );
    let refused = audit_entry(&s, "approve.refused", "alice approves her own");
    assert_eq!(refused["actor"]["name"], "alice@desk", "{refused}");
    assert_eq!(refused["actor"]["claimed"], "carol", "{refused}");
    // Another key id from the same CA: another person.
    let out = s.ctl("bob", &["approve", "--reason", "bob approves"]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.wait("live");

    let out = s.ctl(
        "alice",
        &["--operator", "carol", "estop", "--reason", "alice stops"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let estop = audit_entry(&s, "estop", "alice stops");
    let actor = &estop["actor"];
    assert_eq!(actor["name"], "alice@desk", "{estop}");
    assert_eq!(actor["role"], "operator", "{estop}");
    assert_eq!(actor["claimed"], "carol", "{estop}");
    let seen_as = actor["seen_as"].as_str().unwrap();
    assert!(
        seen_as.starts_with(&format!(
            "cert alice@desk (serial 7, CA {ca_fp}), key {}, from 127.0.0.1 via uid ",
            fingerprint(&alice.with_extension("pub"))
        )),
        "{seen_as}"
    );

    // CertificateFile from ~/.ssh/config: dave's certificate, apart from
    // his key, is offered with it (principal deploy: admin).
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host lab-dave\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  UserKnownHostsFile {}\n  IdentityFile {}\n  CertificateFile {}\n",
            s.sshd.port,
            s.known_hosts.display(),
            dave.display(),
            certs.join("dave.pub").display()
        ),
    )
    .unwrap();
    let out = Command::new(GANTRY)
        .args([
            "ctl",
            "--host",
            "lab-dave",
            "rearm",
            "--reason",
            "dave rearms",
        ])
        .arg("--ssh-config")
        .arg(&config)
        .env("HOME", home.path())
        .env("USER", "tester")
        .env("GANTRY_CLIENT_STATE", s.client_state.path())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let rearm = audit_entry(&s, "rearm", "dave rearms");
    assert_eq!(rearm["actor"]["name"], "dave@desk", "{rearm}");
    assert_eq!(rearm["actor"]["role"], "admin", "{rearm}");
    assert_eq!(rearm["actor"]["claimed"], "tester", "{rearm}");

    // History names the certificates' people, never the claims.
    let out = s.ctl("admin", &["--json", "history"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deploy = &history["deploys"][0];
    assert_eq!(deploy["submitted_by"]["name"], "alice@desk", "{deploy}");
    assert!(
        deploy["submitted_by"]["seen_as"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cert alice@desk (serial 8, CA {ca_fp}), key ")),
        "{deploy}"
    );
    assert_eq!(deploy["approved_by"]["name"], "bob@desk", "{deploy}");

    let out = s.ctl("mallory", &["rollback", "--reason", "mallory tries"]);
    assert!(!out.status.success(), "nothing to roll back when idle");
    let refused = audit_entry(&s, "rollback.refused", "mallory tries");
    assert_eq!(
        refused["actor"]["name"], "eve__operator_root__pinned___2J",
        "{refused}"
    );
    assert!(
        refused["actor"]["seen_as"]
            .as_str()
            .unwrap()
            .starts_with("cert eve__operator_root__pinned___2J (serial 11, CA "),
        "{refused}"
    );

    // A certificate that cannot be read is named among what was tried.
    let out = s.ctl("broken", &["status"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("broken_key-cert.pub (cannot load"),
        "{}",
        stderr(&out)
    );
}

/// The fleet stop behind OpenSSH: seven hosts, each an agent reached by a
/// forced command (operator), all trading; `ctl --hosts F estop` halts and
/// flattens every one. Then, with one host's sshd down, the other six still
/// stop and the exit names the one that could not be reached.
#[test]
fn a_fleet_estop_over_openssh_forced_commands_halts_and_flattens_every_host() {
    if !sshd::available() {
        return;
    }
    const HOSTS: usize = 7;
    let labs: Vec<Lab> = (1..=HOSTS)
        .map(|n| {
            let mut lab = Lab::new(&format!("fleet-{n}"), 1);
            lab.start_agent();
            lab
        })
        .collect();
    std::thread::scope(|scope| {
        for lab in &labs {
            scope.spawn(|| lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3)));
        }
    });
    let keys = labs[0].path("fleet-ssh");
    std::fs::create_dir_all(&keys).unwrap();
    let mut forced = Vec::new();
    let mut identities = Vec::new();
    for (n, lab) in labs.iter().enumerate() {
        let (key, public) = sshd::keygen(&keys, &format!("op{}", n + 1));
        let attach = format!("{GANTRY} attach --config {}", lab.config.display());
        forced.push(format!(
            "command=\"{attach} --role operator\",restrict {public}"
        ));
        identities.push(key);
    }
    // Six hosts behind one sshd, the seventh behind its own.
    let main = Sshd::start(&keys.join("sshd-main"), &forced[..HOSTS - 1]);
    let lone = Sshd::start(&keys.join("sshd-lone"), &forced[HOSTS - 1..]);
    let known_hosts = keys.join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("{}\n{}\n", main.known_hosts_line(), lone.known_hosts_line()),
    )
    .unwrap();
    let user = sshd::user();
    let hosts: String = identities
        .iter()
        .enumerate()
        .map(|(n, key)| {
            let port = if n == HOSTS - 1 { lone.port } else { main.port };
            format!(
                "[[host]]\nname = \"fleet-{}\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\nidentity = \"{}\"\nknown_hosts = \"known_hosts\"\n\n",
                n + 1,
                key.display()
            )
        })
        .collect();
    let hosts_file = keys.join("hosts.toml");
    std::fs::write(&hosts_file, hosts).unwrap();
    let client_state = tempfile::tempdir().unwrap();
    let ctl = |args: &[&str]| {
        Command::new(GANTRY)
            .arg("ctl")
            .arg("--hosts")
            .arg(&hosts_file)
            .args(args)
            .env("USER", "tester")
            .env("GANTRY_CLIENT_STATE", client_state.path())
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap()
    };
    for lab in &labs {
        wait_until_trading(lab);
    }

    // A wave that names no host stops nothing.
    let out = ctl(&["--wave", "nope", "estop", "--reason", "typo"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no host in wave"), "{}", stderr(&out));
    assert_eq!(labs[0].status()["state"], "live");

    let out = ctl(&["estop", "--reason", "venue outage, whole fleet"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{table}{}", stderr(&out));
    assert_eq!(table.matches("HALTED · FLAT").count(), HOSTS, "{table}");
    assert!(
        table.contains(&format!("{HOSTS} of {HOSTS} hosts halted and flat")),
        "{table}"
    );
    for lab in &labs {
        let status = lab.status();
        assert_eq!(status["state"], "halted");
        assert_eq!(status["estop"]["flat"]["verified"], true, "{status:#}");
        assert_eq!(venue_notional(lab), 0.0);
    }

    // Everything back to trading, then one sshd down.
    for lab in &labs {
        assert!(
            lab.ctl(&["rearm", "--reason", "venue back"])
                .status
                .success()
        );
        let out = lab.ctl(&["restore", "--reason", "venue back"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for lab in &labs {
        wait_until_trading(lab);
    }
    drop(lone);
    let out = ctl(&["--json", "estop", "--reason", "second outage"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("fleet-7"), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), HOSTS);
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        if name == "fleet-7" {
            assert_eq!(row["ok"], false, "{row}");
            assert_eq!(row["result"], "UNREACHABLE", "{row}");
        } else {
            assert_eq!(row["ok"], true, "{row}");
            assert_eq!(row["estop"]["flat"]["verified"], true, "{row}");
        }
    }
    for lab in &labs[..HOSTS - 1] {
        assert_eq!(lab.status()["state"], "halted");
        assert_eq!(venue_notional(lab), 0.0);
    }
    assert_eq!(
        labs[HOSTS - 1].status()["state"],
        "live",
        "unreachable: untouched"
    );
}

fn venue_notional(lab: &Lab) -> f64 {
    let out = Command::new(GANTRY)
        .args(["sim", "venue", "--json", "--state-dir"])
        .arg(lab.dir.path())
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["notional_usd"]
        .as_f64()
        .unwrap()
}

fn wait_until_trading(lab: &Lab) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while venue_notional(lab) <= 0.0 {
        assert!(Instant::now() < deadline, "never traded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

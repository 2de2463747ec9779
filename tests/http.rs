//! The agent's read-only HTTP endpoint (`[http]`), met as a Prometheus
//! server and a dashboard would: real agents from `gantry init --sim`, plain
//! HTTP/1.1 over TCP, and `promtool check metrics` when it is installed.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{GANTRY, Lab, stderr};
use gantry::prom::{self, Lookup};
use serde_json::Value;

const SOAK: u64 = 1;
const THREE_SOAKS: Duration = Duration::from_secs(3 * SOAK);
const TOKEN: &str = "test-token-0123456789abcdef";

/// A loopback port that was free a moment ago; the agent takes it next.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A lab whose gantry.toml gets `extra` appended before the agent starts.
fn lab_with(name: &str, soak: u64, extra: &str) -> Lab {
    let lab = Lab::new(name, soak);
    let mut text = std::fs::read_to_string(&lab.config).expect("read gantry.toml");
    text.push_str(extra);
    std::fs::write(&lab.config, text).expect("write gantry.toml");
    lab
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Answer {
        status,
        head,
        body: String::from_utf8_lossy(&response[split + 4..]).into_owned(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    let answer = request(addr, "GET", path, None);
    assert_eq!(
        answer.status, 200,
        "GET {path}: {}\n{}",
        answer.head, answer.body
    );
    answer
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let answer = get(addr, path);
    assert!(answer.head.contains("application/json"), "{}", answer.head);
    serde_json::from_str(&answer.body).expect("JSON body")
}

/// /metrics, parsed by our strict parser (and by promtool when present).
fn metrics(addr: SocketAddr) -> (String, prom::Exposition) {
    let answer = get(addr, "/metrics");
    assert!(
        answer.head.contains("text/plain; version=0.0.4"),
        "{}",
        answer.head
    );
    let page = prom::parse(answer.body.as_bytes())
        .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{}", answer.body));
    (answer.body, page)
}

fn value(page: &prom::Exposition, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matchers: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match page.lookup(name, &matchers) {
        Lookup::Found(v) => Some(v),
        Lookup::Missing => None,
        Lookup::Ambiguous(n) => panic!("{name} {labels:?} matches {n} series"),
    }
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()))
}

/// Checks the page with Prometheus' own parser and linter. CI (.ci/run)
/// installs Debian's `prometheus` package for promtool and sets
/// GANTRY_REQUIRE_OPENSSH=1, its flag for "every external tool the tests
/// use must be present": there a missing promtool fails instead of skipping.
fn promtool_accepts(page: &str) {
    if !on_path("promtool") {
        assert!(
            std::env::var_os("GANTRY_REQUIRE_OPENSSH").is_none(),
            "promtool is not on PATH and GANTRY_REQUIRE_OPENSSH is set: apt-get install prometheus"
        );
        eprintln!("skip: promtool is not on PATH (apt-get install prometheus)");
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics refused the page:\n{}{}\n--- page ---\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_status_history_and_audit_follow_deploys_drills_and_rollbacks() {
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut lab = lab_with(
        "http-1",
        SOAK,
        &format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    lab.start_agent();
    let host = [("host", "http-1")];

    // A new host: idle, nothing counted, never drilled.
    let (text, page) = metrics(addr);
    promtool_accepts(&text);
    assert_eq!(value(&page, "gantry_up", &host), Some(1.0));
    assert_eq!(
        value(
            &page,
            "gantry_state",
            &[("host", "http-1"), ("state", "idle")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&page, "gantry_stage_index", &host), Some(0.0));
    assert_eq!(value(&page, "gantry_last_drill_age_seconds", &host), None);
    assert_eq!(value(&page, "gantry_soak_remaining_seconds", &host), None);
    for name in ["gantry_check_ok", "gantry_check_value"] {
        assert!(
            !page.samples().iter().any(|s| s.name == name),
            "idle watches no gate: {text}"
        );
    }

    lab.deploy_live(&lab.example("good.env"), THREE_SOAKS);
    // Give the live gate samples, so every check has a value (a rate needs
    // two in its window of the new process).
    let mut status = lab.status();
    common::wait_until("every live check ok", Duration::from_secs(5), || {
        status = lab.status();
        let (_, page) = metrics(addr);
        status["checks"].as_array().unwrap().iter().all(|c| {
            let name = c["name"].as_str().unwrap();
            c["baseline_source"] == "known_good"
                || value(&page, "gantry_check_ok", &[("check", name)]) == Some(1.0)
        })
    });
    let (text, page) = metrics(addr);
    promtool_accepts(&text);
    for state in [
        "idle",
        "validating",
        "shadow",
        "paper",
        "canary",
        "awaiting_approval",
        "live",
        "rolling_back",
        "rolled_back",
        "halted",
    ] {
        let want = if state == "live" { 1.0 } else { 0.0 };
        assert_eq!(
            value(
                &page,
                "gantry_state",
                &[("host", "http-1"), ("state", state)]
            ),
            Some(want),
            "gantry_state{{state={state:?}}}"
        );
    }
    assert_eq!(
        page.metric_type("gantry_state"),
        Some(prom::MetricType::Gauge)
    );
    assert!(page.help("gantry_state").is_some());
    assert_eq!(value(&page, "gantry_stage_index", &host), Some(4.0));
    let left = value(&page, "gantry_soak_remaining_seconds", &host).expect("watch left");
    assert!(
        left > 3000.0 && left <= 3600.0,
        "post-deploy watch left {left}"
    );
    for check in status["checks"].as_array().unwrap() {
        let name = check["name"].as_str().unwrap();
        let severity = check["severity"].as_str().unwrap();
        if check["baseline_source"] == "known_good" {
            // A first deploy has no known-good to compare with: n/a (or
            // not sampled yet), never ok.
            assert!(
                check["status"] == "n/a" || check["status"] == "pending",
                "{check}"
            );
            assert_eq!(
                value(
                    &page,
                    "gantry_check_ok",
                    &[("check", name), ("severity", severity)]
                ),
                Some(0.0),
                "{name}: {text}"
            );
            continue;
        }
        assert_eq!(
            value(
                &page,
                "gantry_check_ok",
                &[("check", name), ("severity", severity)]
            ),
            Some(1.0),
            "{name}: {text}"
        );
        assert!(
            value(&page, "gantry_check_value", &[("check", name)]).is_some(),
            "{name} has a value"
        );
        assert_eq!(
            value(&page, "gantry_check_failures", &[("check", name)]),
            Some(0.0)
        );
    }
    let drawdown = value(&page, "gantry_check_value", &[("check", "drawdown_budget")]).unwrap();
    assert!((0.0..3.0).contains(&drawdown), "drawdown {drawdown}");
    assert_eq!(
        page.metric_type("gantry_deploys_total"),
        Some(prom::MetricType::Counter)
    );
    assert_eq!(
        value(&page, "gantry_deploys_total", &[("outcome", "live")]),
        Some(1.0)
    );
    assert_eq!(
        value(&page, "gantry_deploys_total", &[("outcome", "rolled_back")]),
        Some(0.0)
    );
    assert_eq!(value(&page, "gantry_rollbacks_total", &host), Some(0.0));
    let seq = value(&page, "gantry_audit_seq", &host).unwrap();
    assert!(seq >= status["audit_head"]["seq"].as_f64().unwrap());

    // /api/v1/deploy/status is ctl status --json.
    let api = get_json(addr, "/api/v1/deploy/status");
    let ctl = lab.status();
    for key in [
        "host",
        "state",
        "deploy_id",
        "current_release",
        "previous_release",
    ] {
        assert_eq!(api[key], ctl[key], "{key}");
    }
    assert_eq!(api["state"], "live");

    // A drill: its age appears, and it is not a rollback.
    lab.deploy_live(&lab.example("good-v2.env"), THREE_SOAKS);
    lab.ctl_json(&["drill", "--reason", "monthly rollback drill"]);
    let (text, page) = metrics(addr);
    promtool_accepts(&text);
    let age = value(&page, "gantry_last_drill_age_seconds", &host).expect("drill age");
    assert!((0.0..30.0).contains(&age), "drill age {age}");
    assert_eq!(value(&page, "gantry_drills_total", &host), Some(1.0));
    assert_eq!(value(&page, "gantry_rollbacks_total", &host), Some(0.0));

    // A crashing release rolls back: counted, and in the history with the
    // stage whose gate failed.
    let out = lab.ctl_path(
        &["submit", "--reason", "new strategy"],
        &lab.example("bad-crash.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("rolled_back", Duration::from_secs(15));
    let (text, page) = metrics(addr);
    promtool_accepts(&text);
    assert_eq!(value(&page, "gantry_rollbacks_total", &host), Some(1.0));
    assert_eq!(
        value(&page, "gantry_deploys_total", &[("outcome", "rolled_back")]),
        Some(1.0)
    );
    assert_eq!(
        value(&page, "gantry_deploys_total", &[("outcome", "live")]),
        Some(2.0)
    );
    assert_eq!(
        value(&page, "gantry_state", &[("state", "rolled_back")]),
        Some(1.0)
    );

    let history = get_json(addr, "/api/v1/deploy/history?limit=10");
    assert_eq!(history["host"], "http-1");
    let deploys = history["deploys"].as_array().unwrap();
    assert_eq!(deploys.len(), 3, "{history:#}");
    let bad = &deploys[0];
    assert_eq!(bad["outcome"], "rolled_back");
    assert_eq!(bad["reason"], "new strategy");
    // The identity the agent saw (the local user), the claim beside it.
    assert_ne!(bad["submitted_by"]["name"], "tester");
    assert_eq!(bad["submitted_by"]["claimed"], "tester");
    let failed: Vec<&Value> = bad["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "one failed stage: {bad:#}");
    assert!(failed[0]["detail"].is_string() && failed[0]["duration_s"].is_number());
    let good = &deploys[2];
    assert_eq!(good["outcome"], "live");
    let stages: Vec<&str> = good["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["shadow", "paper", "canary", "live"]);
    for stage in &good["stages"].as_array().unwrap()[..3] {
        assert_eq!(stage["result"], "passed");
        let d = stage["duration_s"].as_f64().unwrap();
        assert!(
            (0.9..10.0).contains(&d),
            "soak of {SOAK}s took {d}: {stage}"
        );
    }
    let one = get_json(addr, "/api/v1/deploy/history?limit=1");
    assert_eq!(one["deploys"].as_array().unwrap().len(), 1);
    assert_eq!(one["deploys"][0], *bad);

    // ctl history: the same over the socket, as JSON and as a table.
    let ctl = lab.ctl_json(&["history", "--limit", "10"]);
    assert_eq!(ctl["deploys"], history["deploys"]);
    let out = lab.ctl(&["history"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    for word in [
        "DEPLOY", "RELEASE", "OUTCOME", "SHADOW", "PAPER", "CANARY", "LIVE", "BY",
    ] {
        assert!(lines[0].contains(word), "header lacks {word}: {table}");
    }
    assert!(
        lines[1].contains(bad["id"].as_str().unwrap()) && lines[1].contains("rolled_back"),
        "newest first: {table}"
    );
    assert!(
        lines[1].contains('✗'),
        "the failed stage is marked: {table}"
    );
    assert!(lines[2].starts_with("    "), "why it rolled back: {table}");
    assert!(table.contains("(claims tester)"), "{table}");
    let out = lab.ctl(&["history", "--limit", "1"]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        table.lines().filter(|l| l.starts_with("d-")).count(),
        1,
        "{table}"
    );

    // The audit tail, in log order, ending at the head status names.
    let audit = get_json(addr, "/api/v1/deploy/audit?limit=5");
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    let head = lab.status()["audit_head"]["seq"].as_u64().unwrap();
    assert_eq!(entries[4]["seq"].as_u64(), Some(head));
    assert!(entries.iter().any(|e| e["kind"] == "rollback.done"));

    // Read-only, and strict about what it is asked.
    let answer = request(addr, "POST", "/api/v1/deploy/status", None);
    assert_eq!(answer.status, 405, "{}", answer.head);
    assert!(answer.head.contains("GET"), "{}", answer.head);
    assert_eq!(request(addr, "DELETE", "/metrics", None).status, 405);
    assert_eq!(request(addr, "GET", "/nope", None).status, 404);
    assert_eq!(
        request(addr, "GET", "/api/v1/deploy/history?limit=ten", None).status,
        400
    );
    // Still serving, and the pipeline never noticed.
    assert_eq!(lab.status()["state"], "rolled_back");
    lab.signal_agent(libc::SIGTERM);
}

#[test]
fn a_check_without_data_has_no_value_series() {
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // A series the sim never serves, watched in shadow with a long
    // staleness limit: shadow shows it as "no data" without failing yet.
    let mut lab = lab_with(
        "http-nodata",
        30,
        &format!(
            r#"
[[check]]
name = "ghost_series"
metric = "sim_no_such_series"
op = "<"
limit = 1
severity = "P1"
stages = ["shadow"]
stale_after_s = 3600

[http]
listen = "127.0.0.1:{port}"
"#
        ),
    );
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "ghost"], &lab.example("good.env"));
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("shadow", Duration::from_secs(10));
    common::wait_until(
        "a value for telemetry_fresh",
        Duration::from_secs(5),
        || {
            let (_, page) = metrics(addr);
            value(&page, "gantry_check_value", &[("check", "telemetry_fresh")]).is_some()
        },
    );
    let (text, page) = metrics(addr);
    promtool_accepts(&text);
    assert_eq!(
        value(
            &page,
            "gantry_check_ok",
            &[("check", "ghost_series"), ("severity", "P1")]
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&page, "gantry_check_value", &[("check", "ghost_series")]),
        None,
        "no data is never a number: {text}"
    );
    let status = lab.status();
    let ghost = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ghost_series")
        .unwrap();
    assert_eq!(ghost["status"], "no data");
    // Checks outside shadow have no series at all.
    assert!(!text.contains("check=\"drawdown_budget\""), "{text}");
    let left = value(&page, "gantry_soak_remaining_seconds", &[]).unwrap();
    assert!(left > 0.0 && left <= 30.0, "{left}");
    assert_eq!(value(&page, "gantry_stage_index", &[]), Some(1.0));
}

#[test]
fn a_token_is_required_when_set() {
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut lab = lab_with(
        "http-token",
        SOAK,
        &format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n"),
    );
    lab.start_agent();
    for path in ["/metrics", "/api/v1/deploy/status", "/nope"] {
        let answer = request(addr, "GET", path, None);
        assert_eq!(answer.status, 401, "{path}: {}", answer.head);
        assert!(
            answer
                .head
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{}",
            answer.head
        );
        assert!(!answer.body.contains("gantry_"), "{}", answer.body);
    }
    assert_eq!(
        request(addr, "GET", "/metrics", Some("wrong-token-0123456789")).status,
        401
    );
    assert_eq!(
        request(addr, "GET", "/metrics", Some(&TOKEN[..TOKEN.len() - 1])).status,
        401
    );
    // Not even a 405 before the token: nothing is said to a stranger.
    assert_eq!(request(addr, "POST", "/metrics", None).status, 401);
    let answer = request(addr, "GET", "/metrics", Some(TOKEN));
    assert_eq!(answer.status, 200, "{}", answer.head);
    prom::parse(answer.body.as_bytes()).expect("parses");
    let answer = request(addr, "GET", "/api/v1/deploy/status", Some(TOKEN));
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("\"host\": \"http-token\""),
        "{}",
        answer.body
    );
    assert_eq!(request(addr, "POST", "/metrics", Some(TOKEN)).status, 405);
    // The token never shows in the agent's log.
    assert!(!lab.agent_log().contains(TOKEN), "{}", lab.agent_log());
}

#[test]
fn beyond_loopback_without_a_token_is_refused_at_load() {
    let lab = lab_with("http-open", SOAK, "\n[http]\nlisten = \"0.0.0.0:9600\"\n");
    let out = Command::new(GANTRY)
        .args(["agent", "--config"])
        .arg(&lab.config)
        .output()
        .expect("run agent");
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("http.listen") && err.contains("http.token"),
        "{err}"
    );
    assert!(
        !lab.path("agent.sock").exists(),
        "refused before anything started"
    );

    for (extra, field) in [
        ("\n[http]\nlisten = \"localhost:9600\"\n", "http.listen"),
        (
            "\n[http]\nlisten = \"127.0.0.1:9600\"\ntoken = \"short\"\n",
            "http.token",
        ),
        (
            "\n[http]\nlisten = \"127.0.0.1:9600\"\ncolour = \"red\"\n",
            "colour",
        ),
    ] {
        let lab = lab_with("http-bad", SOAK, extra);
        let out = Command::new(GANTRY)
            .args(["agent", "--config"])
            .arg(&lab.config)
            .output()
            .expect("run agent");
        assert_eq!(out.status.code(), Some(78), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(field), "{extra}: {}", stderr(&out));
    }
}

#[test]
fn c1_controls_in_a_check_name_are_escaped_in_ctl_json_and_the_http_api() {
    // A check name is the config's text and reaches every status answer;
    // U+009B is a C1 CSI, which serde_json writes raw.
    let port = free_port();
    let mut lab = lab_with(
        "lab-c1",
        1,
        &format!(
            "\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n[[check]]\nname = \"lag\\u009b31m\\u007f\"\nmetric = \"sim_last_tick_age_seconds\"\nop = \"<\"\nlimit = 5\nseverity = \"P1\"\n"
        ),
    );
    lab.start_agent();
    let raw_c1 = |text: &str| text.chars().any(|c| matches!(c, '\u{7f}'..='\u{9f}'));

    let out = lab.ctl(&["--json", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.contains("lag\\u009b31m\\u007f"), "{stdout}");
    assert!(!raw_c1(&stdout), "raw C1 in ctl --json: {stdout:?}");
    let status: Value = serde_json::from_str(&stdout).expect("still JSON");
    assert!(
        status["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "lag\u{9b}31m\u{7f}"),
        "the same name once decoded: {status}"
    );

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let answer = get(addr, "/api/v1/deploy/status");
    assert!(
        answer.body.contains("lag\\u009b31m\\u007f"),
        "{}",
        answer.body
    );
    assert!(!raw_c1(&answer.body), "raw C1 over HTTP: {:?}", answer.body);
}

#[test]
fn clients_trickling_header_bytes_never_starve_a_scrape() {
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut lab = lab_with(
        "http-slowloris",
        SOAK,
        &format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    lab.start_agent();
    // 100 connections, each sending one header byte a second, forever.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tricklers: Vec<_> = (0..100)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let Ok(mut stream) = TcpStream::connect(addr) else {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    };
                    for byte in b"GET /metrics HTTP/1.1\r\n".iter().cycle() {
                        if stop.load(std::sync::atomic::Ordering::SeqCst)
                            || stream.write_all(&[*byte]).is_err()
                        {
                            break;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    // A scrape as Prometheus makes it, which gives up at 10 s: it answers.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = request(addr, "GET", "/metrics", None);
        assert_eq!(answer.status, 200, "{}", answer.head);
        eprintln!(
            "scrape under 100 trickling clients: {:?}",
            started.elapsed()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tricklers {
        let _ = t.join();
    }
}

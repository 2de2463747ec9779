//! Alerts against local HTTP receivers: a real agent pages a Slack-format
//! and a Discord-format webhook by priority; a receiver that hangs and one
//! that answers 500 do not slow a rollback; a webhook URL that is not
//! http(s) keeps the agent from starting.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{GANTRY, Lab, stderr};
use serde_json::Value;

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Read the request, then say nothing, holding the connection open.
    Hang,
}

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    content_type: String,
    body: Value,
}

/// A tiny HTTP/1.1 receiver on loopback that records every request.
struct Receiver {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || serve(stream, answer, &recorded));
            }
        });
        Self { base, hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} got {} requests, wanted {n}",
            self.base,
            self.hits().len()
        );
    }
}

fn serve(mut stream: TcpStream, answer: Answer, hits: &Mutex<Vec<Hit>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    hits.lock().unwrap().push(Hit {
        path,
        content_type: header("content-type"),
        body,
    });
    match answer {
        Answer::Status(code) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        // Bounded: the agent gives up long before, and the test ends.
        Answer::Hang => std::thread::sleep(Duration::from_secs(60)),
    }
}

fn append_config(lab: &Lab, extra: &str) {
    let mut text = std::fs::read_to_string(&lab.config).unwrap();
    text.push_str(extra);
    std::fs::write(&lab.config, text).unwrap();
}

fn alerts_lines(lab: &Lab) -> Vec<Value> {
    std::fs::read_to_string(lab.path("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A started lab whose alerts go to a Slack receiver (P0) and a Discord
/// receiver (from `discord_min`), with `extra` lines in `[alerts]`.
fn slack_and_discord_lab(name: &str, discord_min: &str, extra: &str) -> (Lab, Receiver, Receiver) {
    let slack = Receiver::start(Answer::Status(200));
    let discord = Receiver::start(Answer::Status(204));
    let mut lab = Lab::new(name, 1);
    append_config(
        &lab,
        &format!(
            r#"
[alerts]
timeout_ms = 2000
{extra}webhooks = [
  {{ url = "{}/services/T0/B0/secret", format = "slack", min_priority = "P0" }},
  {{ url = "{}/api/webhooks/1/token", format = "discord", min_priority = "{discord_min}" }},
]
"#,
            slack.base, discord.base
        ),
    );
    lab.start_agent();
    (lab, slack, discord)
}

#[test]
fn slack_and_discord_receivers_get_their_payloads_by_priority() {
    let (lab, slack, discord) = slack_and_discord_lab("lab-alerts", "P2", "retries = 2\n");
    // Awaiting approval and live are P2: Discord takes them, Slack (P0 only) not.
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    let hits = discord.wait_for(2, Duration::from_secs(5));
    let contents: Vec<&str> = hits
        .iter()
        .map(|h| h.body["content"].as_str().unwrap())
        .collect();
    assert!(
        contents[0].starts_with("[P2] lab-alerts: deploy of ")
            && contents[0].contains("awaits approval"),
        "{contents:?}"
    );
    assert!(contents[1].contains("is live"), "{contents:?}");

    let out = lab.ctl(&["estop", "--reason", "venue outage"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let hits = slack.wait_for(1, Duration::from_secs(5));
    assert_eq!(hits.len(), 1, "slack takes P0 only: {hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.path, "/services/T0/B0/secret");
    assert_eq!(hit.content_type, "application/json");
    let text = hit.body["text"].as_str().unwrap();
    // The identity the agent saw acts; the claimed name is shown as a claim.
    assert!(
        text.starts_with("[P0] lab-alerts: halted: emergency stop by ")
            && text.contains(" (claims tester): venue outage"),
        "{text}"
    );
    let blocks = hit.body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert!(
        blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["text"] == "*state*\nhalted"),
        "{blocks:?}"
    );

    let hits = discord.wait_for(3, Duration::from_secs(5));
    let hit = &hits[2];
    assert_eq!(hit.path, "/api/webhooks/1/token");
    assert_eq!(hit.content_type, "application/json");
    assert!(
        hit.body["content"]
            .as_str()
            .unwrap()
            // Discord escapes the parentheses of the claim (markup).
            .contains("claims tester"),
        "{}",
        hit.body
    );
    let embed = &hit.body["embeds"][0];
    assert_eq!(embed["title"], "P0 · lab-alerts");
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .contains("venue outage")
    );
    assert!(embed["color"].is_u64() && embed["timestamp"].is_string());
    assert_eq!(hit.body["allowed_mentions"]["parse"], serde_json::json!([]));

    // Every alert is in alerts.jsonl too, whatever the webhooks took.
    let lines = alerts_lines(&lab);
    let priorities: Vec<&str> = lines
        .iter()
        .map(|l| l["priority"].as_str().unwrap())
        .collect();
    // The P3 first: the agent starting is a lifecycle alert.
    assert_eq!(priorities, ["P3", "P2", "P2", "P0"], "{lines:?}");
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The `total_ms` of the newest rollback.done entry: breach sampled to the
/// known-good answering healthy.
fn last_rollback_ms(lab: &Lab) -> f64 {
    let audit = lab.ctl_json(&["audit", "--tail", "20"]);
    audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "rollback.done")
        .and_then(|e| e["detail"]["total_ms"].as_f64())
        .expect("rollback.done carries total_ms")
}

/// Submits the crashing release and waits for the agent to roll it back.
fn crash_and_roll_back(lab: &Lab) -> f64 {
    let out = lab.ctl_path(
        &["submit", "--reason", "crash me"],
        &lab.example("bad-crash.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("rolled_back", Duration::from_secs(15));
    last_rollback_ms(lab)
}

#[test]
fn hanging_and_failing_receivers_do_not_delay_a_rollback() {
    const ROUNDS: usize = 7;
    let hang = Receiver::start(Answer::Hang);
    let fail = Receiver::start(Answer::Status(500));
    let mut quiet = Lab::new("lab-quiet", 1);
    let mut noisy = Lab::new("lab-noisy", 1);
    append_config(
        &noisy,
        &format!(
            r#"
[alerts]
timeout_ms = 2000
retries = 2
webhooks = [
  {{ url = "{}/hang", format = "slack" }},
  {{ url = "{}/fail", format = "discord" }},
]
"#,
            hang.base, fail.base
        ),
    );
    quiet.start_agent();
    noisy.start_agent();
    quiet.deploy_live(&quiet.example("good.env"), Duration::from_secs(3));
    noisy.deploy_live(&noisy.example("good.env"), Duration::from_secs(3));

    // Interleaved, so the machine's noise falls on both alike.
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        without.push(crash_and_roll_back(&quiet));
        with.push(crash_and_roll_back(&noisy));
    }
    let (m_without, m_with) = (median(&mut without), median(&mut with));
    eprintln!(
        "rollback total_ms over {ROUNDS} crash rollbacks each: median {m_without:.1} ms without webhooks, \
         {m_with:.1} ms with a hanging and a 500 receiver (+{:.1} ms); without {without:?}, with {with:?}",
        m_with - m_without
    );
    assert!(
        m_with - m_without < 50.0,
        "webhooks delayed rollbacks: median {m_with:.1} ms vs {m_without:.1} ms"
    );

    // The receivers really were in the way: P0 pages reached both, the
    // failing one was retried (1 + 2 retries for the first alert).
    assert!(!hang.hits().is_empty(), "the hanging receiver was called");
    let fails = fail.wait_for(3, Duration::from_secs(10));
    assert!(fails.iter().all(|h| h.path == "/fail"));
    // And the failure after retries is recorded locally.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let failed = alerts_lines(&noisy)
            .into_iter()
            .filter(|l| l["kind"] == "delivery_failed")
            .collect::<Vec<_>>();
        if let Some(line) = failed
            .iter()
            .find(|l| l["error"] == "HTTP 500 Internal Server Error")
        {
            assert_eq!(line["attempts"], 3, "{line}");
            assert!(
                line["webhook"].as_str().unwrap().ends_with("/…"),
                "the URL's path (its secret) is not logged: {line}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery_failed line: {failed:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_webhooks_are_refused_naming_the_field() {
    let lab = Lab::new("lab-alerts-bad", 1);
    let base = std::fs::read_to_string(&lab.config).unwrap();
    let cases = [
        (
            "webhooks = [{ url = \"ftp://hooks.example/x\", format = \"slack\" }]",
            "alerts.webhooks[0].url",
        ),
        (
            "webhooks = [{ url = \"http://ok.example/x\", format = \"slack\" }, { url = \"hooks.example/y\", format = \"discord\" }]",
            "alerts.webhooks[1].url",
        ),
        (
            "webhooks = [{ url = \"https://ok.example/x\", format = \"teams\" }]",
            "alerts.webhooks[0].format",
        ),
        (
            "webhooks = [{ url = \"https://ok.example/x\", format = \"slack\", min_priority = \"P9\" }]",
            "alerts.webhooks[0].min_priority",
        ),
    ];
    for (body, field) in cases {
        std::fs::write(&lab.config, format!("{base}\n[alerts]\n{body}\n")).unwrap();
        let out = std::process::Command::new(GANTRY)
            .args(["agent", "--config"])
            .arg(&lab.config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{field}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("gantry.toml") && err.contains(field), "{err}");
        assert!(!lab.path("audit.jsonl").exists(), "nothing written");
    }
}

#[test]
fn webhook_text_has_markup_escaped_and_controls_removed() {
    let (lab, slack, discord) = slack_and_discord_lab("lab-markup", "P0", "");
    // A reason as a hostile operator or a pasted message would carry it.
    let reason = "see [link](http://x) <!channel> @everyone @here *now* \u{202E}gnp \u{200B}";
    let out = lab.ctl(&["estop", "--reason", reason]);
    assert!(out.status.success(), "{}", stderr(&out));

    let invisible = |text: &str| {
        text.chars().any(|c| {
            c.is_control() && c != '\n' || gantry::text::is_invisible_format(c) && c != '\u{200B}'
        })
    };
    let hit = &slack.wait_for(1, Duration::from_secs(5))[0];
    let text = hit.body["text"].as_str().unwrap();
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    assert!(!invisible(text), "{text:?}");
    let block = hit.body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        block.contains("&lt;!channel&gt;") && !block.contains("<!"),
        "{block}"
    );

    let hit = &discord.wait_for(1, Duration::from_secs(5))[0];
    for text in [
        hit.body["content"].as_str().unwrap(),
        hit.body["embeds"][0]["description"].as_str().unwrap(),
    ] {
        assert!(text.contains("\\[link\\]\\(http://x\\)"), "{text}");
        assert!(text.contains("\\*now\\*"), "{text}");
        assert!(
            !text.contains("@everyone") && !text.contains("@here"),
            "{text}"
        );
        assert!(!text.contains('\u{202E}'), "{text:?}");
        assert!(!invisible(text), "{text:?}");
    }
}

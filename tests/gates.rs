//! Check expressions, bands and actions on a real agent and a real sim: a
//! rate computed from the agent's own scrapes, a two-sided band, a `warn`
//! check that pages and lets the deploy go on, an `observe` check that is
//! shown and never acts.

mod common;

use std::time::Duration;

use common::*;

const CHECKS: &str = r#"
[[check]]
name = "fill_rate_fast"
metric = "rate(sim_fills_total[3s])"
op = ">"
limit = 1000
severity = "P0"
stages = ["paper", "canary", "live"]
action = "observe"

[[check]]
name = "always_warns"
metric = "sim_up"
op = "<"
limit = 0
severity = "P0"
action = "warn"

[[check]]
name = "pnl_band"
metric = "sim_pnl_usd"
between = [-1000, 1000000]
severity = "P1"
"#;

fn check<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {status:#}"))
}

#[test]
fn a_rate_a_band_a_warning_and_an_observed_check_on_a_real_deploy() {
    let mut lab = Lab::new("lab-gates", 2);
    let mut config = std::fs::read_to_string(&lab.config).unwrap();
    config.push_str(CHECKS);
    std::fs::write(&lab.config, config).unwrap();
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "gates"], &lab.example("good.env"));
    assert!(out.status.success(), "submit: {}", stderr(&out));

    // Paper trades: the rate has a value, computed from the agent's own
    // scrapes, and breaks its (observe-only) limit without acting.
    let mut paper = lab.wait_state("paper", Duration::from_secs(15));
    wait_until("a fill rate in paper", Duration::from_secs(10), || {
        paper = lab.status();
        check(&paper, "fill_rate_fast")["value"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    });
    let fill_rate = check(&paper, "fill_rate_fast");
    assert_eq!(fill_rate["metric"], "rate(sim_fills_total[3s])");
    assert_eq!(fill_rate["action"], "observe");
    assert_eq!(fill_rate["status"], "failing", "{fill_rate:#}");
    let band = check(&paper, "pnl_band");
    assert_eq!(band["op"], "between");
    assert_eq!(band["between"], serde_json::json!([-1000.0, 1000000.0]));
    assert_eq!(band["status"], "ok", "{band:#}");

    // The warning paged, and nothing rolled back: the deploy reaches the
    // approval with an observed check failing and a warning standing.
    let waiting = lab.wait_state("awaiting_approval", Duration::from_secs(20));
    assert_eq!(check(&waiting, "always_warns")["status"], "failing");
    let alerts = std::fs::read_to_string(lab.path("alerts.jsonl")).unwrap();
    let warnings: Vec<&str> = alerts
        .lines()
        .filter(|l| l.contains("warning in "))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("always_warns = 1 breaks < 0") && l.contains("P2")),
        "{alerts}"
    );
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(audit.contains("\"gate.warn\""), "{audit}");
    assert!(!audit.contains("\"gate.fail\""), "{audit}");

    // ctl says which checks only warn or observe, in words.
    let out = lab.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.contains("fill_rate_fast")).unwrap();
    assert!(row.contains("[observe]"), "{text}");
    let row = text.lines().find(|l| l.contains("pnl_band")).unwrap();
    assert!(row.contains("in [-1000,1000000]"), "{text}");
}

#[test]
fn a_release_four_times_slower_passes_every_fixed_limit_and_the_baseline_rolls_it_back() {
    let mut lab = Lab::new("lab-baseline", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    // The known-good's window: it was recorded from paper on.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.path("deploy_state.json")).unwrap()).unwrap();
    let windows = state["pipeline"]["windows"].as_array().unwrap();
    assert!(
        windows[0]["values"]["order_latency_vs_known_good"]
            .as_array()
            .is_some_and(|v| v.len() >= 5),
        "{windows:#?}"
    );
    let out = lab.ctl_path(
        &["submit", "--reason", "slower"],
        &lab.example("bad-slow.env"),
    );
    assert!(out.status.success(), "submit: {}", stderr(&out));
    // In paper the candidate is judged against the known-good: status names
    // both sides and the ratio while it is judged.
    let mut judged = serde_json::Value::Null;
    let mut seen = false;
    wait_until("the rollback", Duration::from_secs(30), || {
        let status = lab.status();
        let check = check(&status, "order_latency_vs_known_good");
        if check["ratio"].is_number() && check["baseline"].is_number() && !seen {
            judged = check.clone();
            seen = true;
        }
        status["state"] == "rolled_back"
    });
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    let fail = audit
        .lines()
        .find(|l| l.contains("\"gate.fail\""))
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        fail.contains("order_latency_vs_known_good")
            && fail.contains("candidate ")
            && fail.contains("vs baseline ")
            && fail.contains("> ×2.00 increase"),
        "{fail}"
    );
    // Every fixed limit held: the baseline check alone failed the gate.
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("\"gate.fail\""))
            .count(),
        1,
        "{audit}"
    );
    if seen {
        assert_eq!(judged["baseline_source"], "known_good", "{judged:#}");
        assert!(judged["samples"].is_array(), "{judged:#}");
    }
    // After the rollback, status still says why: the deploy's outcome.
    let status = lab.status();
    let detail = status["outcome"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("vs baseline") && detail.contains("×"),
        "{status:#}"
    );
}

/// Today's and tomorrow's weekday as gantry.toml names them (UTC).
fn weekdays() -> (&'static str, &'static str) {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    // 1970-01-01 was a Thursday.
    let today = ((days + 3) % 7) as usize;
    (NAMES[today], NAMES[(today + 1) % 7])
}

#[test]
fn a_soak_waits_for_the_market_and_for_fills_and_says_why() {
    let mut lab = Lab::new("lab-market", 1);
    let base = std::fs::read_to_string(&lab.config).unwrap();
    let (today, tomorrow) = weekdays();
    let with = |day: &str| {
        base.replace(
            "[pipeline.soak_s]",
            &format!(
                "[pipeline.sessions]\nzone = \"UTC\"\nweekly = {{ days = [\"{day}\"], from = \"00:00\", to = \"24:00\" }}\n\n[pipeline.soak_s]"
            ),
        )
    };
    // The market trades tomorrow only: the soak clock stands still.
    std::fs::write(&lab.config, with(tomorrow)).unwrap();
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "closed"], &lab.example("good.env"));
    assert!(out.status.success(), "submit: {}", stderr(&out));
    let mut status = serde_json::Value::Null;
    wait_until("a paused soak", Duration::from_secs(10), || {
        status = lab.status();
        status["soak_paused"] == "soak paused: market closed"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.status()["state"], "shadow", "the clock stood still");
    let text = String::from_utf8_lossy(&lab.ctl(&["status"]).stdout).to_string();
    assert!(text.contains("soak paused: market closed"), "{text}");

    // The session opens (the agent restarts on the new calendar): the soak
    // goes on, paper waits for its fills, and the release reaches approval.
    lab.signal_agent(libc::SIGTERM);
    std::fs::write(&lab.config, with(today)).unwrap();
    lab.start_agent();
    lab.wait_state("awaiting_approval", Duration::from_secs(20));

    // A release that trades nothing: paper never completes, and says why.
    let out = lab.ctl(&["approve", "--reason", "fine"]);
    assert!(out.status.success(), "approve: {}", stderr(&out));
    lab.wait_state("live", Duration::from_secs(5));
    let out = lab.ctl_path(
        &["submit", "--reason", "closed"],
        &lab.example("market-closed.env"),
    );
    assert!(out.status.success(), "submit: {}", stderr(&out));
    lab.wait_state("paper", Duration::from_secs(10));
    let mut why = String::new();
    wait_until("paper to say why it waits", Duration::from_secs(10), || {
        why = lab.status()["soak_paused"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        why.contains("fills") && why.contains("0/2")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lab.status()["state"], "paper", "no fills, no proof: {why}");
    let text = String::from_utf8_lossy(&lab.ctl(&["status"]).stdout).to_string();
    assert!(text.contains("fills") && text.contains("0/2"), "{text}");
}

#[test]
fn a_soak_waiting_for_a_closed_market_completes_once_trading_resumes() {
    let mut lab = Lab::new("lab-opens", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(5));
    // Closed for the first 5 s of each start, then trading: paper waits
    // and says so, then completes on its fills; so does canary.
    let out = lab.ctl_path(
        &["submit", "--reason", "opens later"],
        &lab.example("market-opens.env"),
    );
    assert!(out.status.success(), "submit: {}", stderr(&out));
    lab.wait_state("paper", Duration::from_secs(10));
    let mut why = String::new();
    wait_until("paper to wait for fills", Duration::from_secs(4), || {
        why = lab.status()["soak_paused"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        why.contains("fills") && why.contains("0/2")
    });
    assert_eq!(lab.status()["state"], "paper", "{why}");
    let status = lab.wait_state("awaiting_approval", Duration::from_secs(30));
    assert!(status["soak_paused"].is_null(), "{status:#}");
}

#[test]
fn a_check_against_a_baseline_host_is_judged_on_what_that_host_serves_now() {
    // A host still on the known-good: a sim trading paper on its own port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = tempfile::tempdir().unwrap();
    let mut baseline_host = std::process::Command::new(GANTRY)
        .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
        .env("TRADE_MODE", "paper")
        .env("SIM_STATE_DIR", state.path())
        .current_dir(state.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lab = Lab::new("lab-vs-host", 1);
    let mut config = std::fs::read_to_string(&lab.config).unwrap();
    config.push_str(&format!(
        r#"
[[check]]
name = "latency_vs_host"
metric = "histogram_quantile(0.5, rate(sim_order_latency_seconds_bucket[2s]))"
baseline = {{ url = "http://127.0.0.1:{port}/metrics" }}
max_ratio = 2
min_samples = 3
severity = "P0"
stages = ["paper", "canary", "live"]
"#
    ));
    std::fs::write(&lab.config, config).unwrap();
    lab.start_agent();
    let out = lab.ctl_path(&["submit", "--reason", "vs host"], &lab.example("good.env"));
    assert!(out.status.success(), "submit: {}", stderr(&out));
    let mut judged = serde_json::Value::Null;
    wait_until(
        "a judgement against the host",
        Duration::from_secs(20),
        || {
            let status = lab.status();
            judged = check(&status, "latency_vs_host").clone();
            judged["ratio"].is_number()
        },
    );
    let _ = baseline_host.kill();
    let _ = baseline_host.wait();
    assert_eq!(
        judged["baseline_source"],
        format!("http://127.0.0.1:{port}/metrics")
    );
    assert!(
        judged["baseline"].as_f64().is_some_and(|b| b > 0.0),
        "{judged:#}"
    );
    let ratio = judged["ratio"].as_f64().unwrap();
    assert!(
        (0.5..2.0).contains(&ratio),
        "the same release on both: {judged:#}"
    );
}

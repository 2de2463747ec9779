//! Control room figures (docs/benchmarks.md): `cargo bench --bench console`.
//!
//! 1. Building and rendering one frame with 200 hosts (TestBackend, 160×45).
//! 2. Resident memory of `gantry watch` with 200 demo hosts connected.
//! 3. CPU of `gantry watch` idle with 20 hosts connected (each agent
//!    beating once a second), over 60 s.
//!
//! 2 and 3 run the real binary in tmux against `gantry demo --headless`.
//! `cargo bench --bench console -- cpu` runs 3 alone.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::fleet::DemoFleet;
use gantry::console::keymap::Keymap;
use gantry::console::state::{HostView, Link, Model};
use gantry::console::theme::Theme;
use gantry::console::view;
use gantry::wire::{CheckView, ServiceView, Status};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn synthetic_status(i: usize) -> Status {
    let check = |name: &str, value: f64, limit: f64| CheckView {
        name: name.into(),
        ok: true,
        status: "ok".into(),
        value: Some(value),
        op: "<".into(),
        limit,
        severity: "P0".into(),
        failures: 0,
        failures_allowed: 1,
        age_s: Some(0.2),
        applies: true,
        ..CheckView::default()
    };
    Status {
        host: format!("host-{i}"),
        state: [
            "shadow",
            "paper",
            "canary",
            "awaiting_approval",
            "live",
            "rolled_back",
        ][i % 6]
            .into(),
        deploy_id: Some(format!("d-20261124T120000Z-{i}")),
        current_release: Some("20261124T120000Z-ab12cd34".into()),
        current_digest: None,
        promotion: None,
        deploy_release: None,
        deploy_digest: None,
        previous_release: Some("20261120T090000Z-9f00e1a2".into()),
        stage_started_at: None,
        soak_remaining_s: Some(120.0),
        soak_total_s: Some(300.0),
        soak_paused: None,
        stage: None,
        checks: vec![
            check("process_alive", 1.0, 2.0),
            check("telemetry_fresh", 0.1, 2.0),
            check("pnl_in_band", 100.0 + i as f64, 1e9),
            check("drawdown_budget", 0.5, 3.0),
        ],
        last_drill_at: None,
        awaiting_approval: None,
        halted_reason: None,
        runbook: None,
        estop: None,
        tier: None,
        submitted_by: None,
        deploy_reason: None,
        commit: None,
        outcome: None,
        service: ServiceView {
            kind: "command".into(),
            running: true,
            pid: Some(1000 + i as u32),
            ..Default::default()
        },
        audit_head: None,
        sampled_at: None,
        scrape_error: None,
        freeze: None,
        agent_version: "0.1.0".into(),
        now: String::new(),
    }
}

fn render_bench() {
    let now = Utc::now();
    let hosts = (0..200)
        .map(|i| {
            let mut h = HostView::new(&format!("host-{i}"), Some("full".into()));
            h.link = Link::Up {
                rtt: Some(Duration::from_micros(300)),
            };
            h.heard_at = Some(now);
            h.status = Some(synthetic_status(i));
            h.pnl = (0..120).map(f64::from).collect();
            h
        })
        .collect();
    let mut model = Model::new("bench", hosts, now);
    model.size = (160, 45);
    model.selected = 150;
    let keymap = Keymap::default_map();
    let theme = Theme::default_theme(false);
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();
    let mut runs: Vec<f64> = (0..500)
        .map(|_| {
            let start = Instant::now();
            terminal
                .draw(|frame| view::draw(frame, &model, &keymap, &theme))
                .unwrap();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "frame with 200 hosts, 160×45: median {:.3} ms, p99 {:.3} ms (target < 2 ms)",
        runs[runs.len() / 2],
        runs[runs.len() * 99 / 100]
    );
}

/// Starts `gantry watch` on the fleet in tmux; returns (session, pid).
fn watch_in_tmux(fleet: &DemoFleet, name: &str) -> (String, u32) {
    let session = format!("bench-{name}-{}", std::process::id());
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "160", "-y", "45"])
        .arg(format!(
            "{} watch --hosts {}",
            common::GANTRY,
            fleet.hosts_file.display()
        ))
        .env("GANTRY_CLIENT_STATE", fleet.client_state.path())
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("tmux")
        .args(["display-message", "-p", "-t", &session, "#{pane_pid}"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (session, pid)
}

fn screen(session: &str) -> String {
    let out = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", session])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_connected(session: &str, hosts: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !screen(session).contains(&format!("{hosts} hosts"))
        || screen(session).contains("connecting")
    {
        assert!(
            Instant::now() < deadline,
            "watch never connected:\n{}",
            screen(session)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let every link finish its handshake and first pings.
    std::thread::sleep(Duration::from_secs(8));
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn kill(session: &str) {
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", session])
        .status();
}

fn main() {
    let cpu_only = std::env::args().any(|a| a == "cpu");
    if !cpu_only {
        render_bench();
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tmux not installed: memory and CPU figures skipped");
        return;
    }

    if !cpu_only {
        let fleet = DemoFleet::start(200, 60);
        let (session, pid) = watch_in_tmux(&fleet, "rss");
        wait_connected(&session, 200);
        println!(
            "gantry watch with 200 hosts connected: RSS {:.1} MB (target < 60 MB)",
            rss_mb(pid)
        );
        kill(&session);
        drop(fleet);
    }

    let fleet = DemoFleet::start(20, 60);
    let (session, pid) = watch_in_tmux(&fleet, "cpu");
    wait_connected(&session, 20);
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    let window = Duration::from_secs(60);
    std::thread::sleep(window);
    let used = (cpu_ticks(pid) - before) as f64 / ticks_per_s;
    println!(
        "gantry watch idle with 20 hosts: {:.2} % of a core over {} s (target < 1 %)",
        used / window.as_secs_f64() * 100.0,
        window.as_secs()
    );
    kill(&session);
}

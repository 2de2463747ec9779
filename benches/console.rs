//! Control room figures (docs/benchmarks.md): `cargo bench --bench console`.
//!
//! 1. Building and rendering one frame with 200 and 1 000 hosts
//!    (TestBackend, 160×45).
//! 2. Resident memory of `gantry watch` with 200 demo hosts connected, and
//!    with 1 000 light demo hosts (`demo --light`), with the time to
//!    connect them all.
//! 3. CPU of `gantry watch` idle with 20 hosts connected (each agent
//!    beating once a second), over 60 s.
//!
//! 2 and 3 run the real binary in tmux against `gantry demo --headless`.
//! `cargo bench --bench console -- frame|rss|thousand|cpu` runs one part.

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
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render_bench(n: usize) {
    let now = Utc::now();
    let hosts = (0..n)
        .map(|i| {
            let mut h = HostView::new(&format!("host-{i}"), Some("full".into()));
            h.link = Link::Up {
                rtt: Some(Duration::from_micros(300)),
            };
            h.heard_at = Some(now);
            // An hour of samples, as a fresh console gets from each agent.
            for s in 0..361 {
                h.pnl
                    .record(now - chrono::Duration::seconds((360 - s) * 10), s as f64);
            }
            h
        })
        .collect();
    let mut model = Model::new("bench", hosts, now);
    model.size = (160, 45);
    model.selected = n * 3 / 4;
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
        "frame with {n} hosts, 160×45: median {:.3} ms, p99 {:.3} ms (target < 2 ms)",
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

/// How long `wait_connected` waits once no host says `connecting`.
const SETTLE: Duration = Duration::from_secs(8);

fn wait_connected(session: &str, hosts: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    // Connected: no row says `connecting` and the header counts no host
    // stale (rows go by urgency, so a connecting one may be off screen).
    let connected = |screen: &str| {
        let header = screen.lines().next().unwrap_or("");
        header.contains(&format!("{hosts} hosts"))
            && !header.contains(" stale ")
            && !screen.contains("connecting")
    };
    while !connected(&screen(session)) {
        assert!(
            Instant::now() < deadline,
            "watch never connected:\n{}",
            screen(session)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let every link finish its handshake and first pings.
    std::thread::sleep(SETTLE);
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

/// `cargo bench --bench console [-- frame|rss|thousand|cpu]`: one part,
/// or all of them.
fn main() {
    let part = std::env::args()
        .skip(1)
        .find(|a| ["frame", "rss", "thousand", "cpu"].contains(&a.as_str()));
    let runs = |name: &str| part.as_deref().is_none_or(|p| p == name);
    if runs("frame") {
        render_bench(200);
        render_bench(1000);
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tmux not installed: memory and CPU figures skipped");
        return;
    }
    if runs("rss") {
        let fleet = DemoFleet::start(200, 60);
        let (session, pid) = watch_in_tmux(&fleet, "rss");
        wait_connected(&session, 200);
        println!(
            "gantry watch with 200 hosts connected: RSS {:.1} MB (target < 60 MB)",
            rss_mb(pid)
        );
        kill(&session);
    }
    if runs("thousand") {
        let fleet = DemoFleet::start_light(1000);
        let started = Instant::now();
        let (session, pid) = watch_in_tmux(&fleet, "thousand");
        wait_connected(&session, 1000);
        let connected = started.elapsed().as_secs_f64() - SETTLE.as_secs_f64();
        println!(
            "gantry watch with 1000 light hosts: all connected in {connected:.1} s, RSS {:.1} MB (target < 150 MB)",
            rss_mb(pid)
        );
        println!(
            "gantry watch idle with 1000 light hosts: {:.1} % of a core over 20 s",
            cpu_percent(pid, Duration::from_secs(20))
        );
        kill(&session);
    }
    if runs("cpu") {
        let fleet = DemoFleet::start(20, 60);
        let (session, pid) = watch_in_tmux(&fleet, "cpu");
        wait_connected(&session, 20);
        let window = Duration::from_secs(60);
        println!(
            "gantry watch idle with 20 hosts: {:.2} % of a core over {} s (target < 1 %)",
            cpu_percent(pid, window),
            window.as_secs()
        );
        kill(&session);
    }
}

/// The share of a core `pid` used over `window`.
fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = (cpu_ticks(pid) - before) as f64 / ticks_per_s;
    used / window.as_secs_f64() * 100.0
}

//! The fleet stop, timed end to end (docs/benchmarks.md):
//! `cargo bench --bench fleet_stop`.
//!
//! 50 demo hosts (real agents behind gantry's SSH server, each with a real
//! `gantry sim` trading at its venue), then five rounds of: every host
//! trading with positions open → stop them all → the last host halted
//! **and** verified flat.
//! 1. `gantry ctl --hosts FILE estop` (a new process, new SSH handshakes);
//! 2. the control room's way: every estop sent at once over links already
//!    open (`ssh::link`, as `X` does).
//!
//! Between rounds each host is rearmed and restored (known-good straight to
//! live), then waits until its venue holds positions again.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::fleet::DemoFleet;
use gantry::ssh::link::{self, LinkEvent};
use gantry::wire::{AgentMsg, Request};

const HOSTS: usize = 50;
const RUNS: usize = 5;

fn local_ctl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::GANTRY)
        .arg("ctl")
        .arg("--config")
        .arg(dir.join("gantry.toml"))
        .args(args)
        .output()
        .unwrap()
}

fn notional(dir: &Path) -> f64 {
    let out = Command::new(common::GANTRY)
        .args(["sim", "venue", "--json", "--state-dir"])
        .arg(dir)
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["notional_usd"].as_f64())
        .unwrap_or(0.0)
}

/// Waits for the first deploy to await approval. On a loaded machine a
/// sim's port (picked free at init) may be taken by then and the deploy
/// stops in idle: it is submitted again, at most three times.
fn awaiting_approval(dir: &Path) {
    let release = dir.join("examples/good.env");
    let mut tries = 1;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let out = local_ctl(dir, &["--json", "status"]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        match status["state"].as_str() {
            Some("awaiting_approval") => return,
            Some("idle") if tries < 3 => {
                tries += 1;
                let release = release.to_str().unwrap();
                let out = local_ctl(dir, &["submit", release, "--reason", "bench again"]);
                assert!(out.status.success(), "{}", common::stderr(&out));
            }
            _ => assert!(Instant::now() < deadline, "{}: {status:#}", dir.display()),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every host trading with positions open.
fn wait_all_open(dirs: &[std::path::PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for dir in dirs {
        while notional(dir) <= 0.0 {
            assert!(Instant::now() < deadline, "{} never traded", dir.display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// After a round: rearm and restore every host, back to trading live.
fn restore_all(dirs: &[std::path::PathBuf]) {
    for dir in dirs {
        let out = local_ctl(dir, &["rearm", "--reason", "bench round"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let out = local_ctl(dir, &["restore", "--reason", "bench round"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    wait_all_open(dirs);
}

fn summary(what: &str, ms: Vec<f64>) {
    summary_of(what, HOSTS, ms);
}

fn summary_of(what: &str, hosts: usize, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}, {hosts} hosts: median {:.0} ms, max {:.0} ms over {} runs ({:?})",
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len(),
        ms.iter().map(|m| m.round() as i64).collect::<Vec<_>>()
    );
}

fn main() {
    let fleet = DemoFleet::start(HOSTS, 1);
    let dirs: Vec<_> = (1..=HOSTS)
        .map(|n| fleet.host_dir(&format!("demo-{n}")))
        .collect();
    // A release live on every host, so each trades and a restore has
    // something to bring back.
    for dir in &dirs {
        let out = local_ctl(
            dir,
            &[
                "submit",
                dir.join("examples/good.env").to_str().unwrap(),
                "--reason",
                "bench",
            ],
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    for dir in &dirs {
        awaiting_approval(dir);
        let out = local_ctl(dir, &["approve", "--reason", "bench"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    wait_all_open(&dirs);

    let mut ctl_ms = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = fleet.ctl_all(&["estop", "--reason", "bench: venue outage"]);
        let took = started.elapsed().as_secs_f64() * 1000.0;
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            common::stderr(&out)
        );
        ctl_ms.push(took);
        for dir in &dirs {
            assert_eq!(notional(dir), 0.0, "{} not flat", dir.display());
        }
        restore_all(&dirs);
    }
    summary(
        "`gantry ctl --hosts FILE estop`, command to last host halted and flat",
        ctl_ms,
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let link_ms = runtime.block_on(async {
        let targets = gantry::ssh::target::Fleet::load(&fleet.hosts_file, false)
            .unwrap()
            .targets;
        let (tx, mut events) = tokio::sync::mpsc::channel(65_536);
        let handles: Vec<_> = targets
            .into_iter()
            .enumerate()
            .map(|(i, target)| link::spawn(target, i, tx.clone()))
            .collect();
        let mut up = std::collections::HashSet::new();
        while up.len() < HOSTS {
            if let Some((i, LinkEvent::Message(AgentMsg::Snapshot { .. }))) = events.recv().await {
                up.insert(i);
            }
        }
        // Keep draining events so no link waits on a full channel.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        // One host alone over its link: the stop's own cost, the baseline
        // for the fleet figure below (the same machine serves all 50).
        let mut one_ms = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            let reply = handles[0]
                .ask(
                    Request::Estop,
                    Some("bench: one host".into()),
                    Some("bench".into()),
                )
                .await
                .unwrap();
            assert!(reply.ok, "{reply:?}");
            one_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            let dir = dirs[..1].to_vec();
            tokio::task::spawn_blocking(move || restore_all(&dir))
                .await
                .unwrap();
        }
        summary_of(
            "one host alone over its open link, to halted and flat",
            1,
            one_ms,
        );
        let mut link_ms = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            let asks: Vec<_> = handles
                .iter()
                .map(|h| {
                    let h = h.clone();
                    tokio::spawn(async move {
                        h.ask(
                            Request::Estop,
                            Some("bench: venue outage".into()),
                            Some("bench".into()),
                        )
                        .await
                    })
                })
                .collect();
            for ask in asks {
                let reply = ask.await.unwrap().unwrap();
                let flat = reply.ok
                    && reply
                        .data
                        .as_ref()
                        .is_some_and(|d| d["estop"]["flat"]["verified"] == true);
                assert!(flat, "{reply:?}");
            }
            link_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            let dirs = dirs.clone();
            tokio::task::spawn_blocking(move || restore_all(&dirs))
                .await
                .unwrap();
        }
        link_ms
    });
    summary(
        "the control room's fleet stop over open links, to last host halted and flat",
        link_ms,
    );
    phases(&dirs);
}

/// Where the last stop's time went on each host, from its audit log:
/// `estop` (recorded, service stopped, state saved) → `kill.done` →
/// `flat.verified`.
fn phases(dirs: &[std::path::PathBuf]) {
    let at = |entry: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(entry["at"].as_str().unwrap_or_default()).ok()
    };
    let (mut kill, mut verify) = (Vec::new(), Vec::new());
    for dir in dirs {
        let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
        let entries: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let last = |kind: &str| {
            entries
                .iter()
                .rev()
                .find(|e| e["kind"] == kind)
                .and_then(at)
        };
        if let (Some(estop), Some(killed), Some(flat)) =
            (last("estop"), last("kill.done"), last("flat.verified"))
        {
            kill.push((killed - estop).num_milliseconds() as f64);
            verify.push((flat - killed).num_milliseconds() as f64);
        }
    }
    summary(
        "per host, estop recorded → kill command done (last round)",
        kill,
    );
    summary(
        "per host, kill command done → verified flat (last round)",
        verify,
    );
}

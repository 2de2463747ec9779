//! Fleet figures over SSH, in one run (docs/benchmarks.md):
//! `cargo bench --bench fleet`.
//!
//! 1. `gantry ctl --hosts FILE status` over 50 demo hosts (parallel, one
//!    process) against a loop of OpenSSH `ssh host gantry ctl status` calls
//!    over the same hosts; the ratio is the figure.
//! 2. Latency from an agent's transition to its audit event arriving at a
//!    client connected over SSH (estop/rearm, 200 transitions).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::fleet::DemoFleet;
use gantry::pipeline::AuditKind;
use gantry::ssh::link::{self, LinkEvent};
use gantry::wire::{AgentMsg, Request};

const HOSTS: usize = 50;
const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let fleet = DemoFleet::start(HOSTS, 1);
    let gantry_ms = median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let out = fleet.ctl_all(&["status"]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    );
    println!("gantry ctl --hosts status, {HOSTS} hosts: median {gantry_ms:.0} ms over {RUNS} runs");

    let have_ssh = Command::new("ssh").arg("-V").output().is_ok();
    if have_ssh {
        let text = std::fs::read_to_string(&fleet.hosts_file).unwrap();
        let ports: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("port = ").map(str::to_string))
            .collect();
        let loop_ms = median(
            (0..3)
                .map(|_| {
                    let start = Instant::now();
                    for (i, port) in ports.iter().enumerate() {
                        let config = fleet
                            .host_dir(&format!("demo-{}", i + 1))
                            .join("gantry.toml");
                        let out = Command::new("ssh")
                            .args([
                                "-F",
                                "/dev/null",
                                "-o",
                                "BatchMode=yes",
                                "-o",
                                "StrictHostKeyChecking=yes",
                            ])
                            .arg(format!(
                                "-oUserKnownHostsFile={}",
                                fleet.known_hosts.display()
                            ))
                            .arg("-i")
                            .arg(&fleet.identity)
                            .args(["-p", port, "demo@127.0.0.1"])
                            .arg(format!(
                                "{} ctl --config {} status",
                                common::GANTRY,
                                config.display()
                            ))
                            .output()
                            .unwrap();
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    start.elapsed().as_secs_f64() * 1000.0
                })
                .collect(),
        );
        println!(
            "loop of OpenSSH `ssh host gantry ctl status`, {HOSTS} hosts: median {loop_ms:.0} ms over 3 runs"
        );
        println!("ratio: gantry is {:.1}x faster", loop_ms / gantry_ms);
    } else {
        println!("ssh not installed: the OpenSSH loop was skipped");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let targets = gantry::ssh::target::Fleet::load(&fleet.hosts_file, false)
            .unwrap()
            .targets;
        let target = targets.into_iter().next().unwrap();
        let (tx, mut events) = tokio::sync::mpsc::channel(1024);
        let handle = link::spawn(target, 0, tx);
        loop {
            if let Some((_, LinkEvent::Message(AgentMsg::Snapshot { .. }))) = events.recv().await {
                break;
            }
        }
        let collector = tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Some((_, event)) = events.recv().await {
                if let LinkEvent::Message(AgentMsg::Audit { entry }) = event
                    && matches!(entry.kind, AuditKind::Estop | AuditKind::Rearm)
                {
                    let at = chrono::DateTime::parse_from_rfc3339(&entry.at).unwrap();
                    let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap() as f64 / 1000.0;
                    latencies.push(ms);
                }
            }
            latencies
        });
        for _ in 0..100 {
            for request in [Request::Estop, Request::Rearm] {
                let reply = handle.ask(request, Some("latency bench".into()), Some("bench".into())).await.unwrap();
                assert!(reply.ok, "{reply:?}");
            }
        }
        // Dropping the handle stops the link, which ends the collector.
        drop(handle);
        let mut latencies = tokio::time::timeout(Duration::from_secs(30), collector).await.unwrap().unwrap();
        latencies.sort_by(f64::total_cmp);
        let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "transition → audit event at a client over SSH, {} transitions: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (timestamps have 1 ms resolution)",
            latencies.len(),
            p(0.5),
            p(0.99),
            p(1.0)
        );
    });
}

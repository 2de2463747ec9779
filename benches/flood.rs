//! `ctl status` and a rollback drill on a real agent, quiet and then under
//! 3 000 idle and 100 never-reading connections:
//! `cargo bench --bench flood` (figures in docs/benchmarks.md). The figures
//! that matter are the ratios of flooded to quiet in one run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Lab;
use common::flood::{Flood, rss_kib};

const STATUS_RUNS: usize = 200;
const DRILLS: usize = 5;

struct Figures {
    status_p50: f64,
    status_p99: f64,
    drill_median: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

fn measure(lab: &Lab) -> Figures {
    let mut status: Vec<f64> = (0..STATUS_RUNS)
        .map(|_| {
            let started = Instant::now();
            let out = lab.ctl(&["--json", "status"]);
            assert!(out.status.success(), "{}", common::stderr(&out));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    status.sort_by(f64::total_cmp);
    let mut drills: Vec<f64> = (0..DRILLS)
        .map(|_| {
            let report = lab.ctl_json(&["drill", "--reason", "flood benchmark"]);
            report["timings"]["total_ms"].as_f64().expect("total_ms")
        })
        .collect();
    drills.sort_by(f64::total_cmp);
    Figures {
        status_p50: percentile(&status, 0.5),
        status_p99: percentile(&status, 0.99),
        drill_median: drills[DRILLS / 2],
    }
}

fn main() {
    let mut lab = Lab::new("bench-flood", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    lab.deploy_live(&lab.example("good-v2.env"), Duration::from_secs(3));
    let agent = lab.agent.as_ref().expect("agent").id();

    let quiet = measure(&lab);
    let rss_quiet = rss_kib(agent);
    let flood = Flood::start(&lab, 3000, 100);
    std::thread::sleep(Duration::from_secs(2));
    let flooded = measure(&lab);
    let rss_flooded = rss_kib(agent);
    drop(flood);

    println!("{STATUS_RUNS} `ctl status` runs and {DRILLS} drills each, milliseconds:");
    println!(
        "{:<28} {:>9} {:>9} {:>7}",
        "figure", "quiet", "flooded", "ratio"
    );
    for (name, a, b) in [
        ("ctl status p50", quiet.status_p50, flooded.status_p50),
        ("ctl status p99", quiet.status_p99, flooded.status_p99),
        (
            "drill total_ms median",
            quiet.drill_median,
            flooded.drill_median,
        ),
    ] {
        println!("{name:<28} {a:>9.1} {b:>9.1} {:>6.1}x", b / a);
    }
    println!(
        "agent RSS: {} MiB quiet, {} MiB under 3 100 clients",
        rss_quiet / 1024,
        rss_flooded / 1024
    );
}

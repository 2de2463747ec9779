//! Rollback drill timings on a real agent and a real `gantry sim`:
//! `cargo bench --bench rollback` (figures in docs/benchmarks.md).
//!
//! Ten drills in a row on one host; each rolls back to the known-good
//! release, waits for it to answer healthy, and rolls forward.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Lab;

const DRILLS: usize = 10;

fn main() {
    let mut lab = Lab::new("bench-1", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    lab.deploy_live(&lab.example("good-v2.env"), Duration::from_secs(3));
    let keys = [
        "detect_ms",
        "swap_ms",
        "restart_ms",
        "healthy_ms",
        "total_ms",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); keys.len()];
    for n in 0..DRILLS {
        let report = lab.ctl_json(&["drill", "--reason", "benchmark drill"]);
        for (i, key) in keys.iter().enumerate() {
            let v = report["timings"][key].as_f64().expect("timing present");
            samples[i].push(v);
        }
        println!("drill {:>2}: total {:>7.1} ms", n + 1, samples[4][n]);
    }
    println!("\n{DRILLS} drills, milliseconds:");
    println!("{:<12} {:>8} {:>8} {:>8}", "step", "min", "median", "max");
    for (key, values) in keys.iter().zip(samples.iter_mut()) {
        values.sort_by(f64::total_cmp);
        println!(
            "{:<12} {:>8.1} {:>8.1} {:>8.1}",
            key,
            values[0],
            values[values.len() / 2],
            values[values.len() - 1]
        );
    }
    let total_median = samples[4][DRILLS / 2];
    println!(
        "\nmedian total {total_median:.1} ms: {:.0}x under the ADR's 60 s SLA, target 250 ms",
        60_000.0 / total_median
    );
}

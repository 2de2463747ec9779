//! Rollback time per service kind, in one run: the same drills on a
//! `command` service, on a `systemd` unit (Type=notify, in a real
//! systemd: PID 1 of a systemd-nspawn container, tests/common/nspawn.rs),
//! and on a `container` with docker and with podman
//! (tests/common/engines.rs). `cargo bench --bench rollback_kinds` (root,
//! systemd-container, docker.io, podman, runc and docker-registry
//! installed); figures in docs/benchmarks.md.
//!
//! Each drill injects a gate failure, rolls back to the known-good
//! release (breach sampled → known-good answering healthy, the agent's
//! `timings`), and rolls forward.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Lab;
use common::engines::{self, Engine, Kind};
use common::nspawn::{self, Nspawn};

const DRILLS: usize = 10;
const KEYS: [&str; 5] = [
    "detect_ms",
    "swap_ms",
    "restart_ms",
    "healthy_ms",
    "total_ms",
];

fn drills(kind: &str, lab: &Lab) -> Vec<Vec<f64>> {
    drills_of(
        kind,
        lab,
        &lab.example("good.env"),
        &lab.example("good-v2.env"),
    )
}

fn drills_of(
    kind: &str,
    lab: &Lab,
    good: &std::path::Path,
    good_v2: &std::path::Path,
) -> Vec<Vec<f64>> {
    lab.deploy_live(good, Duration::from_secs(20));
    lab.deploy_live(good_v2, Duration::from_secs(20));
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); KEYS.len()];
    for n in 0..DRILLS {
        let report = lab.ctl_json(&["drill", "--reason", "benchmark drill"]);
        for (i, key) in KEYS.iter().enumerate() {
            samples[i].push(report["timings"][key].as_f64().expect("timing present"));
        }
        println!("{kind} drill {:>2}: total {:>7.1} ms", n + 1, samples[4][n]);
    }
    samples
}

fn main() {
    let mut command = Lab::new("bench-command", 1);
    command.start_agent();
    let mut results = vec![("command", drills("command", &command))];
    drop(command);
    let _container: Option<Nspawn> = if nspawn::available() {
        let (mut unit, container) = nspawn::systemd_lab("bench-systemd", 1, "");
        unit.start_agent();
        results.push(("systemd", drills("systemd", &unit)));
        drop(unit);
        Some(container)
    } else {
        None
    };
    for kind in [Kind::Docker, Kind::Podman] {
        if !engines::available(kind) {
            continue;
        }
        let engine = Engine::start(kind);
        let (mut lab, port) = engines::container_lab(&engine, "bench-container", "bench-sim");
        let release = |file: &str, drift: u32| {
            let body =
                format!("IMAGE_TAG=good\nSIM_LISTEN=127.0.0.1:{port}\nSIM_PNL_DRIFT={drift}\n");
            lab.write_release(file, body.as_bytes())
        };
        let (good, good_v2) = (release("good.env", 5), release("good-v2.env", 6));
        lab.start_agent();
        let name = kind.program();
        results.push((name, drills_of(name, &lab, &good, &good_v2)));
        drop(lab);
    }
    println!("\n{DRILLS} drills per kind, milliseconds:");
    println!(
        "{:<8} {:<12} {:>8} {:>8} {:>8}",
        "kind", "step", "min", "median", "max"
    );
    for (kind, mut samples) in results {
        for (key, values) in KEYS.iter().zip(samples.iter_mut()) {
            values.sort_by(f64::total_cmp);
            println!(
                "{kind:<8} {key:<12} {:>8.1} {:>8.1} {:>8.1}",
                values[0],
                values[values.len() / 2],
                values[values.len() - 1]
            );
        }
    }
}

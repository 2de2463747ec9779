//! Parse speed of the strict Prometheus text parser on a real node_exporter
//! page: `cargo bench --bench prom_parse` (figures in docs/benchmarks.md).

use std::time::Instant;

const PAGE: &str = include_str!("../tests/fixtures/node_exporter.prom");
const RUNS: usize = 500;

fn main() {
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let page = gantry::prom::parse(PAGE.as_bytes()).expect("fixture parses");
            std::hint::black_box(&page);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let median = runs[RUNS / 2];
    println!(
        "node_exporter page: {} bytes, {} samples; median {median:.0} µs, p90 {:.0} µs ({:.0} MB/s)",
        PAGE.len(),
        gantry::prom::parse(PAGE.as_bytes())
            .map(|p| p.samples().len())
            .unwrap_or(0),
        runs[RUNS * 9 / 10],
        PAGE.len() as f64 / median
    );
}

//! What one sample costs the agent with 20 checks: parse the page, record
//! it, evaluate every expression (series, rates, increases, ratios,
//! histogram quantiles) and judge two checks against a baseline.
//! `cargo bench --bench probe_eval` (figures in docs/benchmarks.md); the
//! parse alone is measured in the same run, so the ratio holds on a noisy
//! machine.

use std::time::Instant;

use gantry::pipeline::baseline::{BaselineRule, Direction, Test, judge};
use gantry::prom::query::{History, Query};

const SAMPLES: usize = 2_000;
const BUCKETS: [&str; 11] = [
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
];

/// A service's page at tick `n`: gauges, counters, a latency histogram.
fn page(n: u64) -> String {
    let mut text = String::new();
    for g in 0..10 {
        text.push_str(&format!(
            "# TYPE gauge_{g} gauge\ngauge_{g} {}\n",
            (n + g) as f64 * 0.5
        ));
    }
    for c in 0..5 {
        text.push_str(&format!(
            "# TYPE counter_{c}_total counter\ncounter_{c}_total {}\n",
            n * (c + 1)
        ));
    }
    text.push_str("# TYPE latency_seconds histogram\n");
    for (i, le) in BUCKETS.iter().enumerate() {
        let count = n * 20 * (i as u64 + 1) / BUCKETS.len() as u64;
        text.push_str(&format!("latency_seconds_bucket{{le=\"{le}\"}} {count}\n"));
    }
    text.push_str(&format!(
        "latency_seconds_sum {}\nlatency_seconds_count {}\n",
        n as f64 * 0.08,
        n * 20
    ));
    text
}

fn main() {
    let mut exprs: Vec<String> = (0..8).map(|g| format!("gauge_{g}")).collect();
    exprs.extend((0..5).map(|c| format!("rate(counter_{c}_total[10s])")));
    exprs.push("increase(counter_0_total[30s])".into());
    exprs.push("rate(counter_1_total[10s]) / rate(counter_2_total[10s])".into());
    exprs.push("increase(counter_3_total[5s]) / increase(counter_4_total[5s])".into());
    exprs.push("histogram_quantile(0.99, rate(latency_seconds_bucket[10s]))".into());
    exprs.push("histogram_quantile(0.5, rate(latency_seconds_bucket[10s]))".into());
    exprs.push("histogram_quantile(0.9, latency_seconds_bucket)".into());
    exprs.push("gauge_9".into());
    assert_eq!(exprs.len(), 20);
    let queries: Vec<Query> = exprs
        .iter()
        .map(|e| Query::parse(e).expect("parses"))
        .collect();
    let rule = BaselineRule {
        max_ratio: Some(2.0),
        max_delta: None,
        direction: Direction::Increase,
        min_samples: 10,
        test: Test::Rank,
    };
    let baseline: Vec<f64> = (0..600).map(|i| 0.01 + (i % 7) as f64 * 0.001).collect();
    let pages: Vec<String> = (0..SAMPLES as u64).map(page).collect();

    let mut history = History::new(&queries);
    let mut candidate: Vec<f64> = Vec::new();
    let mut full = Vec::with_capacity(SAMPLES);
    let mut parse_only = Vec::with_capacity(SAMPLES);
    for (n, text) in pages.iter().enumerate() {
        let start = Instant::now();
        let parsed = gantry::prom::parse(text.as_bytes()).expect("page parses");
        parse_only.push(start.elapsed().as_secs_f64() * 1e6);

        let start = Instant::now();
        let parsed2 = gantry::prom::parse(text.as_bytes()).expect("page parses");
        history
            .record(n as i64 * 200, Some(&parsed2))
            .expect("in order");
        let values: Vec<Option<f64>> = queries
            .iter()
            .map(|q| q.eval(&history, n as i64 * 200).value())
            .collect();
        candidate.push(values[17].unwrap_or(0.0));
        if candidate.len() > 20 {
            candidate.remove(0);
        }
        for _ in 0..2 {
            std::hint::black_box(judge(&candidate, &baseline, &rule));
        }
        std::hint::black_box((&values, &parsed));
        full.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() * 99 / 100])
    };
    let (parse_med, parse_p99) = median(&mut parse_only);
    let (full_med, full_p99) = median(&mut full);
    println!(
        "20 checks (8 series, 6 rates/increases, 2 ratios, 3 quantiles, 1 more) + 2 baseline judgements, {SAMPLES} samples at 200 ms:\n  \
         per sample median {full_med:.1} µs, p99 {full_p99:.1} µs\n  \
         parse alone median {parse_med:.1} µs, p99 {parse_p99:.1} µs\n  \
         everything ÷ parse = {:.1}×",
        full_med / parse_med
    );
}

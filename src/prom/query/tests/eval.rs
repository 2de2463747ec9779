//! Evaluation over a recorded history: each operand's semantics, its
//! reasons for no data, and the history's bounds.

use super::super::{Evaluation, History, MAX_POINTS_PER_SERIES, OutOfOrder, Query};
use crate::prom::{Exposition, parse};

fn q(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn page(text: &str) -> Exposition {
    parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// A history of `query` fed `pages` at the given times (`None`: failed).
fn fed(query: &Query, pages: &[(i64, Option<&str>)]) -> History {
    let mut history = History::new(std::slice::from_ref(query));
    for (t, text) in pages {
        let page = text.map(page);
        history.record(*t, page.as_ref()).expect("times increase");
    }
    history
}

fn value(e: Evaluation) -> f64 {
    match e {
        Evaluation::Value(v) => v,
        Evaluation::NoData(why) => panic!("expected a value, got no data: {why}"),
    }
}

fn no_data(e: Evaluation) -> String {
    match e {
        Evaluation::NoData(why) => why,
        Evaluation::Value(v) => panic!("expected no data, got {v}"),
    }
}

fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[test]
fn a_plain_selector_reads_the_latest_scrape() {
    let up = q("up{job=\"a\"}");
    let h = fed(
        &up,
        &[
            (1_000, Some("up{job=\"a\"} 0\n")),
            (2_000, Some("up{job=\"a\"} 1\nup{job=\"b\"} 0\n")),
        ],
    );
    assert_eq!(up.eval(&h, 2_000), Evaluation::Value(1.0));
    assert_eq!(
        up.eval(&h, 1_500),
        Evaluation::Value(0.0),
        "the latest at or before now"
    );
    assert_eq!(no_data(up.eval(&h, 999)), "up{job=\"a\"}: no scrape yet");

    let h = fed(&up, &[(1_000, Some("up{job=\"a\"} 1\n")), (2_000, None)]);
    assert_eq!(
        no_data(up.eval(&h, 2_000)),
        "up{job=\"a\"}: the latest scrape failed"
    );

    let h = fed(
        &up,
        &[
            (1_000, Some("up{job=\"a\"} 1\n")),
            (2_000, Some("other 1\n")),
        ],
    );
    assert_eq!(
        no_data(up.eval(&h, 2_000)),
        "up{job=\"a\"} is missing from the latest scrape"
    );

    let loose = q("up");
    let h = fed(
        &loose,
        &[(
            1_000,
            Some("up{job=\"a\"} 1\nup{job=\"b\"} 1\nup{job=\"c\"} 1\n"),
        )],
    );
    assert_eq!(
        no_data(loose.eval(&h, 1_000)),
        "up matches 3 series: add labels to pick one"
    );

    let h = fed(&loose, &[(1_000, Some("up NaN\n"))]);
    assert_eq!(no_data(loose.eval(&h, 1_000)), "up is NaN");
    let h = fed(&loose, &[(1_000, Some("up +Inf\n"))]);
    assert_eq!(loose.eval(&h, 1_000), Evaluation::Value(f64::INFINITY));

    // An empty matcher matches a series without the label, as in Prometheus.
    let bare = q("up{job=\"\"}");
    let h = fed(&bare, &[(1_000, Some("up{job=\"a\"} 1\nup 7\n"))]);
    assert_eq!(bare.eval(&h, 1_000), Evaluation::Value(7.0));
}

#[test]
fn increase_sums_deltas_inside_the_window_without_extrapolation() {
    let inc = q("increase(c[1m])");
    let pages: Vec<(i64, String)> = [
        (0, 100.0),
        (15_000, 110.0),
        (30_000, 125.0),
        (45_000, 130.0),
    ]
    .iter()
    .map(|(t, v)| (*t, format!("c {v}\n")))
    .collect();
    let refs: Vec<(i64, Option<&str>)> =
        pages.iter().map(|(t, s)| (*t, Some(s.as_str()))).collect();
    let h = fed(&inc, &refs);
    // All four points: 30 over 45 s; Prometheus would extrapolate to 40.
    assert_eq!(inc.eval(&h, 45_000), Evaluation::Value(30.0));
    // The window is left-open: at 60 s the point at 0 is out.
    assert_eq!(inc.eval(&h, 60_000), Evaluation::Value(20.0));
    assert_eq!(
        inc.eval(&h, 105_000),
        Evaluation::NoData("increase(c[1m]) needs 2 samples in 1m, has 0".into())
    );
    assert_eq!(
        no_data(inc.eval(&h, 90_000)),
        "increase(c[1m]) needs 2 samples in 1m, has 1"
    );
}

#[test]
fn a_counter_reset_counts_the_new_value_from_zero() {
    let inc = q("increase(c[1m])");
    let h = fed(
        &inc,
        &[
            (0, Some("c 10\n")),
            (10_000, Some("c 50\n")),
            (20_000, Some("c 5\n")),
            (30_000, Some("c 8\n")),
        ],
    );
    // 40, then a restart worth 5, then 3.
    assert_eq!(inc.eval(&h, 30_000), Evaluation::Value(48.0));
}

#[test]
fn failed_and_missing_scrapes_are_gaps_in_a_window() {
    let rate = q("rate(c[1m])");
    let h = fed(
        &rate,
        &[
            (0, Some("c 0\n")),
            (10_000, None),
            (20_000, Some("other 1\n")),
            (30_000, Some("c 60\n")),
        ],
    );
    assert_close(value(rate.eval(&h, 30_000)), 2.0);
    // The series became ambiguous: said so, though older points would do.
    let h = fed(
        &rate,
        &[
            (0, Some("c 0\n")),
            (10_000, Some("c 5\n")),
            (20_000, Some("c{a=\"1\"} 1\nc{a=\"2\"} 1\n")),
        ],
    );
    assert_eq!(
        no_data(rate.eval(&h, 20_000)),
        "rate(c[1m]): c matches 2 series: add labels to pick one"
    );
}

#[test]
fn rate_divides_by_the_seconds_between_the_samples_used() {
    let rate = q("rate(c[1m])");
    let h = fed(
        &rate,
        &[
            (0, Some("c 0\n")),
            (500, Some("c 2\n")),
            (4_500, Some("c 18\n")),
        ],
    );
    assert_close(value(rate.eval(&h, 4_500)), 4.0);
    let h = fed(&rate, &[(0, Some("c 7\n"))]);
    assert_eq!(
        no_data(rate.eval(&h, 0)),
        "rate(c[1m]) needs 2 samples in 1m, has 1"
    );
}

#[test]
fn a_ratio_is_no_data_when_a_side_is_or_the_denominator_is_zero() {
    let ratio = q("rate(errors[1m]) / rate(orders[1m])");
    let h = fed(
        &ratio,
        &[
            (0, Some("errors 0\norders 0\n")),
            (10_000, Some("errors 2\norders 100\n")),
        ],
    );
    assert_close(value(ratio.eval(&h, 10_000)), 0.02);

    let h = fed(
        &ratio,
        &[
            (0, Some("errors 0\norders 5\n")),
            (10_000, Some("errors 0\norders 5\n")),
        ],
    );
    assert_eq!(
        no_data(ratio.eval(&h, 10_000)),
        "rate(orders[1m]) is 0: no rate to divide by"
    );
    let h = fed(
        &ratio,
        &[
            (0, Some("errors 0\norders 5\n")),
            (10_000, Some("orders 9\n")),
        ],
    );
    assert_eq!(
        no_data(ratio.eval(&h, 10_000)),
        "rate(errors[1m]) needs 2 samples in 1m, has 1"
    );
    let h = fed(
        &ratio,
        &[(0, Some("errors 0\n")), (10_000, Some("errors 3\n"))],
    );
    assert_eq!(
        no_data(ratio.eval(&h, 10_000)),
        "rate(orders[1m]) needs 2 samples in 1m, has 0"
    );
    let inf = q("a / b");
    let h = fed(&inf, &[(0, Some("a +Inf\nb +Inf\n"))]);
    assert!(no_data(inf.eval(&h, 0)).contains("is not a number"));
}

const LATENCY: &str = "# TYPE lat histogram
lat_bucket{le=\"0.1\"} 10
lat_bucket{le=\"0.2\"} 30
lat_bucket{le=\"0.4\"} 40
lat_bucket{le=\"+Inf\"} 40
lat_sum 5
lat_count 40
";

#[test]
fn quantiles_interpolate_inside_the_bucket_like_prometheus() {
    let at = |qv: f64| {
        let query = q(&format!("histogram_quantile({qv}, lat_bucket)"));
        let h = fed(&query, &[(0, Some(LATENCY))]);
        value(query.eval(&h, 0))
    };
    // rank 20 of 40: 10 below, in (0.1, 0.2] holding 20 → halfway.
    assert_close(at(0.5), 0.15);
    assert_close(at(0.25), 0.1);
    assert_close(at(0.125), 0.05);
    assert_close(at(1.0), 0.4);
    // The 0-quantile: the first occupied bucket's lower bound.
    assert_close(at(0.0), 0.0);
    let h_text = "x_bucket{le=\"0.1\"} 0\nx_bucket{le=\"0.2\"} 4\nx_bucket{le=\"+Inf\"} 4\n";
    let zero = q("histogram_quantile(0, x_bucket)");
    assert_close(value(zero.eval(&fed(&zero, &[(0, Some(h_text))]), 0)), 0.1);
}

#[test]
fn a_quantile_in_the_inf_bucket_is_the_highest_finite_bound() {
    let p99 = q("histogram_quantile(0.99, x_bucket)");
    let text = "x_bucket{le=\"1\"} 50\nx_bucket{le=\"2\"} 60\nx_bucket{le=\"+Inf\"} 100\n";
    assert_eq!(
        p99.eval(&fed(&p99, &[(0, Some(text))]), 0),
        Evaluation::Value(2.0)
    );
}

#[test]
fn histograms_that_cannot_answer_are_no_data() {
    let p50 = q("histogram_quantile(0.5, x_bucket)");
    let cases = [
        (
            "x_bucket{le=\"1\"} 5\n",
            "histogram x_bucket has no +Inf bucket",
        ),
        ("x_bucket{le=\"+Inf\"} 5\n", "has only the +Inf bucket"),
        (
            "x_bucket{le=\"1\"} 0\nx_bucket{le=\"+Inf\"} 0\n",
            "histogram x_bucket has no observations",
        ),
        ("x_bucket 5\n", "has a series with no le label"),
        (
            "x_bucket{le=\"fast\"} 5\n",
            "le=\"fast\", which is not a bound",
        ),
        (
            "x_bucket{le=\"1\",v=\"a\"} 1\nx_bucket{le=\"1\",v=\"b\"} 1\nx_bucket{le=\"+Inf\",v=\"a\"} 1\n",
            "histogram x_bucket has 2 series for one le",
        ),
        (
            "y 1\n",
            "histogram x_bucket is missing from the latest scrape",
        ),
    ];
    for (text, needle) in cases {
        let why = no_data(p50.eval(&fed(&p50, &[(0, Some(text))]), 0));
        assert!(why.contains(needle), "{text:?}: {why:?} lacks {needle:?}");
    }
    let why = no_data(p50.eval(&fed(&p50, &[(0, None)]), 0));
    assert_eq!(why, "histogram x_bucket: the latest scrape failed");
    // Counts that fall as le grows are evened out, as Prometheus does.
    let uneven = "x_bucket{le=\"1\"} 10\nx_bucket{le=\"2\"} 8\nx_bucket{le=\"+Inf\"} 10\n";
    assert_close(value(p50.eval(&fed(&p50, &[(0, Some(uneven))]), 0)), 0.5);
}

fn buckets(fast: u32, slow: u32, all: u32) -> String {
    format!(
        "x_bucket{{le=\"0.1\"}} {fast}\nx_bucket{{le=\"1\"}} {slow}\nx_bucket{{le=\"+Inf\"}} {all}\n"
    )
}

#[test]
fn a_windowed_quantile_reads_each_buckets_increase_resets_included() {
    let p50 = q("histogram_quantile(0.5, rate(x_bucket[1m]))");
    // 100 fast observations, then 20 more over 90 s, half of them fast.
    let (b0, b1, b2) = (
        buckets(100, 100, 100),
        buckets(105, 110, 110),
        buckets(110, 120, 120),
    );
    let h = fed(
        &p50,
        &[(0, Some(&b0)), (70_000, Some(&b1)), (90_000, Some(&b2))],
    );
    // Window (30 s, 90 s]: increases 5 fast, 10 in all; rank 5 → 0.1.
    assert_close(value(p50.eval(&h, 90_000)), 0.1);
    // Window (10 s, 70 s] holds one scrape.
    assert_eq!(
        no_data(p50.eval(&h, 70_000)),
        "histogram_quantile(0.5, rate(x_bucket[1m])) needs 2 samples in 1m, has 1"
    );
    // A restart mid-window: the new counts are increases from zero.
    let (r1, r2) = (buckets(0, 0, 0), buckets(2, 10, 10));
    let h = fed(
        &p50,
        &[(0, Some(&b0)), (10_000, Some(&r1)), (20_000, Some(&r2))],
    );
    // 2 fast, 8 slow: rank 5 → 0.1 + 0.9 · 3/8.
    assert_close(value(p50.eval(&h, 20_000)), 0.1 + 0.9 * 3.0 / 8.0);
    // Nothing observed in the window.
    let h = fed(&p50, &[(0, Some(&b0)), (10_000, Some(&b0))]);
    assert_eq!(
        no_data(p50.eval(&h, 10_000)),
        "histogram x_bucket has no observations in 1m"
    );
    // The last scrape failing is a gap; the last scrape ambiguous is said.
    let h = fed(&p50, &[(0, Some(&b0)), (10_000, Some(&b2)), (20_000, None)]);
    assert!(p50.eval(&h, 20_000).value().is_some());
    let two = format!(
        "{}x_bucket{{le=\"1\",v=\"2\"}} 1\n",
        buckets(1, 1, 1).replace("\"}", "\",v=\"1\"}")
    );
    let h = fed(&p50, &[(0, Some(&b0)), (10_000, Some(&two))]);
    assert!(no_data(p50.eval(&h, 10_000)).contains("has 2 series for one le"));
}

#[test]
fn a_bucket_missing_for_a_while_keeps_its_running_total() {
    let p50 = q("histogram_quantile(0.5, rate(x_bucket[1m]))");
    let no_fast = "x_bucket{le=\"1\"} 110\nx_bucket{le=\"+Inf\"} 110\n";
    let (b0, b2) = (buckets(100, 100, 100), buckets(110, 120, 120));
    let h = fed(
        &p50,
        &[(0, Some(&b0)), (10_000, Some(no_fast)), (20_000, Some(&b2))],
    );
    // 10 fast of 20: rank 10 → exactly 0.1, not a negative increase.
    assert_close(value(p50.eval(&h, 20_000)), 0.1);
}

#[test]
fn unregistered_queries_and_time_going_backwards() {
    let h = History::new(&[q("a")]);
    assert_eq!(
        no_data(q("b").eval(&h, 0)),
        "b is not recorded: its query was not registered"
    );
    let mut h = History::new(&[q("a")]);
    h.record(1_000, None).unwrap();
    assert_eq!(
        h.record(1_000, None),
        Err(OutOfOrder {
            at_ms: 1_000,
            last_ms: 1_000
        })
    );
    assert_eq!(
        h.record(500, None),
        Err(OutOfOrder {
            at_ms: 500,
            last_ms: 1_000
        })
    );
    assert_eq!(h.len(), 1, "a refused scrape records nothing");
}

#[test]
fn readings_older_than_the_longest_window_and_margin_are_dropped() {
    let queries = [q("up"), q("rate(c[1m])")];
    let mut h = History::new(&queries);
    for t in 0..200 {
        h.record(t * 1_000, Some(&page("up 1\nc 1\n"))).unwrap();
    }
    // 60 s window + 10 s margin: the readings at 129..=199 s, per series.
    assert_eq!(h.len(), 2 * 71);
    assert_eq!(queries[1].eval(&h, 199_000), Evaluation::Value(0.0));
}

#[test]
fn a_full_series_is_thinned_and_its_increase_is_unchanged() {
    let inc = q("increase(c[1h])");
    let mut h = History::with_max_points(std::slice::from_ref(&inc), 64);
    let mut c = 0.0;
    for t in 0..1_000i64 {
        // Steps of 1, with a restart every 300 scrapes.
        c = if t % 300 == 0 { 0.0 } else { c + 1.0 };
        h.record(t * 1_000, Some(&page(&format!("c {c}\n"))))
            .unwrap();
        assert!(h.len() <= 64);
    }
    // 999 scrapes after the first: each worth 1 (a restart to 0 is worth 0).
    assert_eq!(inc.eval(&h, 999_000), Evaluation::Value(996.0));
    assert_eq!(MAX_POINTS_PER_SERIES, 4096);
}

#[test]
fn thinning_keeps_recent_readings_at_full_resolution() {
    let (long, short) = (q("increase(c[1h])"), q("increase(c[10s])"));
    let mut h = History::with_max_points(&[long.clone(), short.clone()], 64);
    for t in 0..1_000i64 {
        h.record(t * 1_000, Some(&page(&format!("c {t}\n"))))
            .unwrap();
    }
    // (989 s, 999 s]: ten readings, one apart, all kept.
    assert_eq!(short.eval(&h, 999_000), Evaluation::Value(9.0));
    assert_eq!(long.eval(&h, 999_000), Evaluation::Value(999.0));
}

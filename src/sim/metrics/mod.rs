//! What `/metrics` says: a [`Sample`] of the model rendered as Prometheus
//! text exposition 0.0.4, and the deliberately broken variant the `garbage`
//! fault serves.
//!
//! The model fills a `Sample`; the server renders it. Series names are a
//! contract with gates and docs/sim.md: keep them stable.
//!
//! `histogram`: the order-latency histogram, kept here rather than in the
//! model because its buckets are part of the exposition contract (the `le`
//! values a quantile check is written against), so they are fixed beside
//! the code that prints them.

mod histogram;

use std::fmt::Write as _;

pub use histogram::{LATENCY_BUCKETS, LatencyHistogram};

/// The `Content-Type` of text exposition 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Every value `/metrics` shows, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub host: String,
    pub trade_mode: &'static str,
    pub canary: bool,
    pub execution_plane: &'static str,
    pub version: &'static str,
    /// False under the `missing` fault: only `sim_up`, `sim_info` and
    /// `sim_uptime_seconds` are served.
    pub health_series: bool,
    pub uptime_seconds: f64,
    pub pnl_usd: f64,
    pub pnl_usd_rate1m: f64,
    pub drawdown_pct: f64,
    pub last_tick_age_seconds: f64,
    pub ticks_total: u64,
    pub orders_total: u64,
    pub kill_events_total: u64,
    pub recon_mismatches_total: u64,
    pub canary_breaches_total: u64,
    /// Orders this process filled at the venue.
    pub fills_total: u64,
    /// Order requests this process sent to its venue (paper and live,
    /// market open), and the ones the venue rejected.
    pub order_requests_total: u64,
    pub order_errors_total: u64,
    /// The round trip of every order request, in seconds.
    pub order_latency: LatencyHistogram,
    /// The venue's book; `None` while the sim has no word from its venue
    /// (not yet, or its file is unreadable): the series are then absent,
    /// since a zero would read as flat.
    pub venue: Option<VenueFigures>,
}

/// What `/metrics` shows of the venue's book.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VenueFigures {
    pub open_orders: u64,
    /// Absolute notional of every position, summed, USD.
    pub notional_usd: f64,
}

enum Kind {
    Gauge,
    Counter,
}

struct Exposition(String);

impl Exposition {
    fn series(&mut self, name: &str, kind: Kind, help: &str, labels: &str, value: f64) {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        // Writing to a String cannot fail.
        let _ = write!(
            self.0,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {}\n",
            number(value)
        );
    }
}

/// Renders the sample as valid text exposition 0.0.4.
pub fn render(sample: &Sample) -> String {
    let mut out = Exposition(String::with_capacity(2048));
    out.series(
        "sim_up",
        Kind::Gauge,
        "1 while the simulated service answers.",
        "",
        1.0,
    );
    let info = format!(
        "{{host=\"{}\",trade_mode=\"{}\",canary=\"{}\",execution_plane=\"{}\",version=\"{}\"}}",
        escape(&sample.host),
        sample.trade_mode,
        u8::from(sample.canary),
        sample.execution_plane,
        sample.version,
    );
    out.series(
        "sim_info",
        Kind::Gauge,
        "What this process was started as (always 1).",
        &info,
        1.0,
    );
    out.series(
        "sim_uptime_seconds",
        Kind::Gauge,
        "Seconds since the process started.",
        "",
        sample.uptime_seconds,
    );
    if !sample.health_series {
        return out.0;
    }
    out.series(
        "sim_pnl_usd",
        Kind::Gauge,
        "Profit and loss since trading started, in USD.",
        "",
        sample.pnl_usd,
    );
    // A recording-rule style name: real exporters and federated Prometheus
    // servers serve colons, so parsers and gates must accept them.
    out.series(
        "sim:pnl_usd:rate1m",
        Kind::Gauge,
        "Average PnL change over the last minute, in USD per second.",
        "",
        sample.pnl_usd_rate1m,
    );
    out.series(
        "sim_drawdown_pct",
        Kind::Gauge,
        "Current drawdown from the PnL peak, in percent.",
        "",
        sample.drawdown_pct,
    );
    out.series(
        "sim_last_tick_age_seconds",
        Kind::Gauge,
        "Seconds since the internal tick last ran (telemetry freshness).",
        "",
        sample.last_tick_age_seconds,
    );
    let counters = [
        ("sim_ticks_total", "Internal ticks run.", sample.ticks_total),
        (
            "sim_orders_total",
            "Orders executed on a venue.",
            sample.orders_total,
        ),
        (
            "sim_kill_events_total",
            "Kill switch trips.",
            sample.kill_events_total,
        ),
        (
            "sim_recon_mismatches_total",
            "Reconciliation mismatches between local positions and the venue.",
            sample.recon_mismatches_total,
        ),
        (
            "sim_canary_breaches_total",
            "Canary limit breaches (only in CANARY_MODE=1).",
            sample.canary_breaches_total,
        ),
        (
            "sim_fills_total",
            "Orders this process filled at the venue.",
            sample.fills_total,
        ),
        (
            "sim_order_requests_total",
            "Order requests this process sent to its venue.",
            sample.order_requests_total,
        ),
        (
            "sim_order_errors_total",
            "Order requests the venue rejected.",
            sample.order_errors_total,
        ),
    ];
    for (name, help, value) in counters {
        // Counters stay far below 2^53, so the conversion is exact.
        out.series(name, Kind::Counter, help, "", value as f64);
    }
    out.histogram(
        "sim_order_latency_seconds",
        "Round-trip latency of each order request, in seconds.",
        &sample.order_latency,
    );
    if let Some(venue) = sample.venue {
        out.series(
            "sim_open_orders",
            Kind::Gauge,
            "Orders open at the venue.",
            "",
            venue.open_orders as f64,
        );
        out.series(
            "sim_position_notional_usd",
            Kind::Gauge,
            "Absolute notional of the positions open at the venue, summed, in USD.",
            "",
            venue.notional_usd,
        );
    }
    out.0
}

/// What the `garbage` fault serves: it starts like exposition text, then
/// breaks every rule a parser checks (an unclosed label set, a value that is
/// not a number, a bad TYPE, a line that is no sample at all).
pub fn render_garbage(sample: &Sample) -> String {
    format!(
        "# HELP sim_up 1 while the simulated service answers.\n\
         # TYPE sim_up gauge\n\
         sim_up 1\n\
         # TYPE sim_pnl_usd gauge-ish\n\
         sim_pnl_usd{{host=\"{}\" {}\n\
         sim_drawdown_pct twelve\n\
         }}}}{{{{ <html>502 Bad Gateway</html>\n",
        escape(&sample.host),
        number(sample.pnl_usd),
    )
}

use crate::prom::escape_label_value as escape;

/// Rounded to microunits so the text stays short; Display never uses an
/// exponent, which every parser accepts.
fn number(value: f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    // -0 would print as "-0"; valid, but odd for a counter-like gauge.
    if rounded == 0.0 {
        "0".into()
    } else {
        rounded.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        Sample {
            host: "lhr-\"1\"\\x\n".into(),
            trade_mode: "paper",
            canary: false,
            execution_plane: "paper",
            version: "0.1.0",
            health_series: true,
            uptime_seconds: 12.5,
            pnl_usd: 61.123_456_789,
            pnl_usd_rate1m: 5.0,
            drawdown_pct: 0.25,
            last_tick_age_seconds: 0.1,
            ticks_total: 120,
            orders_total: 0,
            kill_events_total: 0,
            recon_mismatches_total: 0,
            canary_breaches_total: 0,
            fills_total: 3,
            order_requests_total: 5,
            order_errors_total: 1,
            order_latency: [0.003, 0.004, 0.0025, 0.012, 2.0].into_iter().fold(
                LatencyHistogram::default(),
                |mut h, v| {
                    h.observe(v);
                    h
                },
            ),
            venue: Some(VenueFigures {
                open_orders: 2,
                notional_usd: 2_400.5,
            }),
        }
    }

    /// A small structural check of exposition text: every sample line is
    /// `name{labels} value` with a known metric name, a closed label set and
    /// a number, and every family has HELP and TYPE before its samples.
    fn check(text: &str) -> Result<Vec<(String, f64)>, String> {
        let mut typed = Vec::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or(line)?;
                if !["gauge", "counter", "histogram"].contains(&kind) {
                    return Err(format!("bad TYPE: {line}"));
                }
                typed.push(name.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name_end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .ok_or(line)?;
            let name = &line[..name_end];
            let mut rest = &line[name_end..];
            if rest.starts_with('{') {
                let close = rest.find("} ").ok_or(format!("unclosed labels: {line}"))?;
                rest = &rest[close + 1..];
            }
            let value: f64 = rest
                .trim()
                .parse()
                .map_err(|_| format!("bad value: {line}"))?;
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| typed.iter().any(|t| t == base))
                .unwrap_or(name);
            if !typed.iter().any(|t| t == family) {
                return Err(format!("no TYPE for {name}"));
            }
            samples.push((name.to_string(), value));
        }
        Ok(samples)
    }

    #[test]
    fn renders_every_series_with_help_and_type() {
        let text = render(&sample());
        let samples = check(&text).unwrap();
        let names: Vec<&str> = samples.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "sim_up",
                "sim_info",
                "sim_uptime_seconds",
                "sim_pnl_usd",
                "sim:pnl_usd:rate1m",
                "sim_drawdown_pct",
                "sim_last_tick_age_seconds",
                "sim_ticks_total",
                "sim_orders_total",
                "sim_kill_events_total",
                "sim_recon_mismatches_total",
                "sim_canary_breaches_total",
                "sim_fills_total",
                "sim_order_requests_total",
                "sim_order_errors_total",
            ]
            .into_iter()
            .chain(["sim_order_latency_seconds_bucket"; 11])
            .chain([
                "sim_order_latency_seconds_sum",
                "sim_order_latency_seconds_count",
                "sim_open_orders",
                "sim_position_notional_usd",
            ])
            .collect::<Vec<_>>()
        );
        assert_eq!(text.matches("# HELP ").count(), names.len() - 12);
        assert!(text.contains("\nsim_pnl_usd 61.123457\n"));
        assert!(text.contains(
            "sim_info{host=\"lhr-\\\"1\\\"\\\\x\\n\",trade_mode=\"paper\",canary=\"0\",execution_plane=\"paper\",version=\"0.1.0\"} 1\n"
        ));
        assert!(text.contains("# TYPE sim_kill_events_total counter\n"));
        assert!(text.contains("# TYPE sim_fills_total counter\nsim_fills_total 3\n"));
        assert!(text.contains("# TYPE sim_open_orders gauge\nsim_open_orders 2\n"));
        assert!(text.contains("\nsim_position_notional_usd 2400.5\n"));
    }

    #[test]
    fn order_latency_is_a_histogram_with_an_inf_bucket() {
        let text = render(&sample());
        let family = "# HELP sim_order_latency_seconds Round-trip latency of each order request, in seconds.\n\
             # TYPE sim_order_latency_seconds histogram\n\
             sim_order_latency_seconds_bucket{le=\"0.001\"} 0\n\
             sim_order_latency_seconds_bucket{le=\"0.0025\"} 1\n\
             sim_order_latency_seconds_bucket{le=\"0.005\"} 3\n\
             sim_order_latency_seconds_bucket{le=\"0.01\"} 3\n\
             sim_order_latency_seconds_bucket{le=\"0.025\"} 4\n\
             sim_order_latency_seconds_bucket{le=\"0.05\"} 4\n\
             sim_order_latency_seconds_bucket{le=\"0.1\"} 4\n\
             sim_order_latency_seconds_bucket{le=\"0.25\"} 4\n\
             sim_order_latency_seconds_bucket{le=\"0.5\"} 4\n\
             sim_order_latency_seconds_bucket{le=\"1\"} 4\n\
             sim_order_latency_seconds_bucket{le=\"+Inf\"} 5\n\
             sim_order_latency_seconds_sum 2.0215\n\
             sim_order_latency_seconds_count 5\n";
        assert!(text.contains(family), "{text}");
        assert!(
            text.contains("# TYPE sim_order_requests_total counter\nsim_order_requests_total 5\n")
        );
        assert!(text.contains("# TYPE sim_order_errors_total counter\nsim_order_errors_total 1\n"));
        // The page as a gate reads it: gantry's own parser takes it whole.
        let page = crate::prom::parse(text.as_bytes()).unwrap();
        assert_eq!(
            page.metric_type("sim_order_latency_seconds_bucket"),
            Some(crate::prom::MetricType::Histogram)
        );
        let empty = render(&Sample {
            order_latency: LatencyHistogram::default(),
            ..sample()
        });
        assert!(empty.contains("sim_order_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(
            empty.contains("sim_order_latency_seconds_sum 0\nsim_order_latency_seconds_count 0\n")
        );
    }

    #[test]
    fn no_word_from_the_venue_is_no_venue_series() {
        let text = render(&Sample {
            venue: None,
            ..sample()
        });
        assert!(!text.contains("sim_open_orders") && !text.contains("sim_position_notional"));
        assert!(text.contains("sim_fills_total"));
    }

    #[test]
    fn missing_fault_keeps_only_liveness() {
        let text = render(&Sample {
            health_series: false,
            ..sample()
        });
        let names: Vec<String> = check(&text).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["sim_up", "sim_info", "sim_uptime_seconds"]);
    }

    #[test]
    fn garbage_is_not_exposition() {
        assert!(check(&render_garbage(&sample())).is_err());
    }

    #[test]
    fn numbers_are_short_and_plain() {
        assert_eq!(number(-0.000_000_1), "0");
        assert_eq!(number(1e12), "1000000000000");
        assert_eq!(number(-250.5), "-250.5");
    }
}

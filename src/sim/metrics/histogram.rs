//! The order-latency histogram: observations counted into fixed buckets,
//! and rendered as a Prometheus histogram family (`_bucket` per bound, then
//! `+Inf`, `_sum`, `_count`). The bounds are a contract with the gates that
//! read quantiles from them: keep them stable.

use std::fmt::Write as _;

use super::{Exposition, number};

/// The upper bounds of [`LatencyHistogram`]'s buckets, in seconds; the
/// `+Inf` bucket comes after them. Healthy orders take 2 to 10 ms.
pub const LATENCY_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// A Prometheus histogram of order latency: how many observations fell at
/// or below each of [`LATENCY_BUCKETS`], their count and their sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Cumulative, as the exposition shows them: `at_or_below[i]` counts
    /// every observation `<= LATENCY_BUCKETS[i]`.
    at_or_below: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl LatencyHistogram {
    pub fn observe(&mut self, seconds: f64) {
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&mut self.at_or_below) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// Observations so far (the `+Inf` bucket and `_count`).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their sum, seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Observations at or below `LATENCY_BUCKETS[i]`.
    pub fn at_or_below(&self, i: usize) -> u64 {
        self.at_or_below[i]
    }
}

impl Exposition {
    /// A histogram family: a `_bucket` per bound then `+Inf`, `_sum`,
    /// `_count`, in the order Prometheus' own clients write them.
    pub(super) fn histogram(&mut self, name: &str, help: &str, histogram: &LatencyHistogram) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                self.0,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                histogram.at_or_below(i)
            );
        }
        let count = histogram.count();
        let _ = write!(
            self.0,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}\n",
            number(histogram.sum())
        );
    }
}

//! The order stream: the order requests a trading service sends its venue,
//! the ones the venue rejects, and how long each round trip takes. These
//! are the series a baseline compares (error ratio, latency quantiles),
//! and the ones the subtle faults bend.
//!
//! The stream flows while the service sends orders (paper or live, market
//! open; see [`crate::sim::knobs::Knobs::sends_orders`]): one request every
//! [`REQUEST_EVERY`] of trading, from `idle reached` on. The requests are
//! the quotes a market maker keeps sending (new, amend, cancel); they do
//! not touch the venue file, whose book steps on its own every
//! [`crate::sim::trader::STEP_EVERY`] and is where fills come from.
//!
//! Everything is deterministic, so tests and baselines see the same
//! numbers run after run:
//!
//! - latency: request `n` takes `2 + 8·u³` ms, `u` spread over [0, 1) so
//!   that every second's 20 requests cover it evenly: between 2 and 10 ms,
//!   median 3 ms, p99 about 9.8 ms, mean 4 ms, in any one second as over
//!   an hour. `slow` multiplies it by `SIM_FAULT_FACTOR`.
//! - errors: one request in [`ERROR_EVERY`] (the 100th, the 200th, …) is
//!   rejected; `errors` multiplies that share by `SIM_FAULT_FACTOR` (up to
//!   every request), spread evenly by a credit counter.
//! - fills: see [`Sim::next_step_quiet`]; `fills` makes the venue fill
//!   `SIM_FAULT_FACTOR` times less often.
//!
//! Requests are sent on the tick, each at its own due time, so a tick that
//! runs late catches up (the rate is right whatever `SIM_TICK_MS` is) and
//! a fault that starts between two ticks bends exactly the requests after
//! it. When the tick stops (the `stale` fault: the loop has wedged), so
//! does the stream.

use std::time::Duration;

use super::Sim;
use crate::sim::knobs::Fault;
use crate::sim::metrics::LatencyHistogram;

/// How often a trading service sends an order request: 20 a second, so a
/// 10 s rate window holds 200 of them and 2 rejections.
pub const REQUEST_EVERY: Duration = Duration::from_millis(50);
/// Healthy, one request in this many is rejected (1 %).
pub const ERROR_EVERY: u64 = 100;
/// The most requests one tick catches up: 500 s of them. A loop that
/// wakes later than that skips the rest, as a wedged service sends
/// nothing; the bound keeps a tick's work small whatever the clock did.
const MAX_CATCH_UP: u32 = 10_000;
/// The rejected share is counted in millionths, so 1 % (or 2.5 %) is
/// exact and the error credit never drifts.
const MILLION: u64 = 1_000_000;

/// The order stream's state and its counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct OrderFlow {
    /// When the next request is due; `None`: the stream does not flow.
    next_at: Option<Duration>,
    requests: u64,
    errors: u64,
    /// Millionths of a rejection owed; a request is rejected when a whole
    /// one is.
    error_credit: u64,
    latency: LatencyHistogram,
}

impl OrderFlow {
    pub(super) fn start(&mut self, at: Duration) {
        self.next_at = Some(at);
    }

    pub(super) fn requests(&self) -> u64 {
        self.requests
    }

    pub(super) fn errors(&self) -> u64 {
        self.errors
    }

    pub(super) fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// Sends one request: its latency times `slow`, rejected at `errors`
    /// times the healthy share.
    fn send(&mut self, slow: f64, errors: f64) {
        self.latency.observe(healthy_latency(self.requests) * slow);
        self.error_credit += share(errors / ERROR_EVERY as f64);
        if self.error_credit >= MILLION {
            self.error_credit -= MILLION;
            self.errors += 1;
        }
        self.requests += 1;
    }
}

impl Sim {
    /// Sends every request due by `now`, each judged at its own due time
    /// (a fault that started in between bends only the later ones).
    pub(super) fn send_orders(&mut self, now: Duration) {
        for _ in 0..MAX_CATCH_UP {
            let Some(at) = self.flow.next_at.filter(|at| *at <= now) else {
                return;
            };
            let slow = self.fault_factor(Fault::Slow, at);
            let errors = self.fault_factor(Fault::Errors, at);
            self.flow.send(slow, errors);
            self.flow.next_at = Some(at + REQUEST_EVERY);
        }
        // Caught up as far as allowed: the rest were never sent.
        self.flow.next_at = Some(now + REQUEST_EVERY);
    }

    /// Whether the next venue step is a quiet one (nothing fills, nothing
    /// new is placed; positions are only marked). Healthy, none is; under
    /// the `fills` fault all but one in `SIM_FAULT_FACTOR` are, so orders
    /// rest that many times longer and fills come that much slower.
    pub(super) fn next_step_quiet(&mut self, now: Duration) -> bool {
        self.fill_credit += 1.0 / self.fault_factor(Fault::Fills, now);
        // A whole step, give or take rounding: 1/3 added three times is a
        // step, not 0.9999999.
        if self.fill_credit >= 1.0 - 1e-9 {
            self.fill_credit -= 1.0;
            false
        } else {
            true
        }
    }

    /// `SIM_FAULT_FACTOR` when `fault` is ours and on at `at`, else 1.
    fn fault_factor(&self, fault: Fault, at: Duration) -> f64 {
        if self.fault_active(fault, at) {
            self.knobs.fault_factor
        } else {
            1.0
        }
    }
}

/// A share (0 to 1, clamped) in millionths.
fn share(of_one: f64) -> u64 {
    // Clamped to [0, 1] first, so the cast cannot truncate.
    (of_one.clamp(0.0, 1.0) * MILLION as f64).round() as u64
}

/// Request `n`'s healthy round trip, seconds: `2 + 8·u³` ms.
pub(super) fn healthy_latency(n: u64) -> f64 {
    let u = spread(n);
    0.002 + 0.008 * u * u * u
}

/// Slices of [0, 1) that every [`SLICES`] consecutive requests visit once.
const SLICES: u64 = 20;
/// The order they are visited in: `n·7 mod 20` (7 is prime to 20), so
/// consecutive requests are far apart rather than climbing.
const STRIDE: u64 = 7;

/// Request `n`'s place in [0, 1): in slice `7n mod 20`, at a golden-ratio
/// offset within it. Any 20 consecutive requests (a second's worth) hold
/// one from every slice, so every second shows the whole distribution
/// (mean within 2 % of 4 ms) and a short rate window reads like a long one.
fn spread(n: u64) -> f64 {
    let slice = (n % SLICES) * STRIDE % SLICES;
    // Both below 2^53: exact as f64.
    (slice as f64 + golden(n)) / SLICES as f64
}

/// The golden-ratio (Weyl) sequence in [0, 1), in 64-bit fixed point so
/// it stays exact for every `n`.
fn golden(n: u64) -> f64 {
    let fraction = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // The top 53 bits, exactly representable.
    (fraction >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::super::rig::{ms, run, sim};
    use super::*;

    fn quantile(latencies: &mut [f64], q: f64) -> f64 {
        latencies.sort_by(f64::total_cmp);
        latencies[((latencies.len() - 1) as f64 * q) as usize]
    }

    #[test]
    fn healthy_latency_spreads_between_2_and_10_ms() {
        let mut all: Vec<f64> = (0..10_000).map(healthy_latency).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        assert!((0.0038..0.0042).contains(&mean), "{mean}");
        assert!(all.iter().all(|l| (0.002..0.010).contains(l)));
        let p50 = quantile(&mut all, 0.5);
        let p99 = quantile(&mut all, 0.99);
        assert!((0.0028..0.0032).contains(&p50), "{p50}");
        assert!((0.0095..0.0100).contains(&p99), "{p99}");
    }

    #[test]
    fn a_second_of_requests_already_shows_the_whole_spread() {
        for start in [0, 1_000, 123_456, u64::from(u32::MAX)] {
            let mut second: Vec<f64> = (start..start + 20).map(healthy_latency).collect();
            let mean = second.iter().sum::<f64>() / 20.0;
            assert!((0.0039..0.0041).contains(&mean), "{start}: {mean}");
            assert!(quantile(&mut second, 0.5) < 0.0035, "{start}");
            assert!(quantile(&mut second, 0.95) > 0.0075, "{start}");
        }
    }

    #[test]
    fn paper_sends_twenty_requests_a_second_and_one_in_a_hundred_fails() {
        let mut s = sim(&[("TRADE_MODE", "paper")]);
        run(&mut s, ms(10_000));
        let sample = s.sample(ms(10_000));
        // From idle at 0 to 10 s inclusive.
        assert_eq!(sample.order_requests_total, 201);
        assert_eq!(sample.order_errors_total, 2);
        assert_eq!(sample.order_latency.count(), 201);
        let mean = sample.order_latency.sum() / 201.0;
        assert!((0.0035..0.0045).contains(&mean), "{mean}");
        // No request is slower than 10 ms; most are faster than 5 ms.
        assert_eq!(sample.order_latency.at_or_below(3), 201);
        assert!(sample.order_latency.at_or_below(2) > 120);
        assert!(sample.order_latency.at_or_below(0) == 0);
    }

    #[test]
    fn shadow_idle_and_a_closed_market_send_nothing() {
        for pairs in [
            &[("TRADE_MODE", "shadow")][..],
            &[][..],
            &[("TRADE_MODE", "paper"), ("SIM_SESSION", "closed")][..],
            &[("TRADE_MODE", "live"), ("SIM_SESSION", "closed")][..],
        ] {
            let mut s = sim(pairs);
            run(&mut s, ms(5_000));
            let sample = s.sample(ms(5_000));
            assert_eq!(sample.order_requests_total, 0, "{pairs:?}");
            assert_eq!(sample.order_errors_total, 0, "{pairs:?}");
            assert_eq!(sample.order_latency.count(), 0, "{pairs:?}");
        }
    }

    #[test]
    fn slow_multiplies_latency_from_its_start_only() {
        let mut s = sim(&[
            ("TRADE_MODE", "live"),
            ("SIM_FAULT", "slow"),
            ("SIM_FAULT_AFTER_S", "5"),
            ("SIM_TICK_MS", "50"),
        ]);
        run(&mut s, ms(4_950));
        let before = s.sample(ms(4_950)).order_latency;
        assert_eq!(before.count(), 100);
        run(&mut s, ms(9_950));
        let after = s.sample(ms(9_950)).order_latency;
        let mean_before = before.sum() / 100.0;
        let mean_after = (after.sum() - before.sum()) / 100.0;
        let ratio = mean_after / mean_before;
        assert!((3.9..4.1).contains(&ratio), "{ratio}");
        // Faster than 10 ms before, never after (8 ms at the least).
        assert_eq!(before.at_or_below(3), 100);
        assert_eq!(after.at_or_below(2), before.at_or_below(2));
        // Same error share as healthy.
        assert_eq!(s.sample(ms(9_950)).order_errors_total, 2);
    }

    #[test]
    fn errors_multiplies_the_rejected_share_by_the_factor() {
        let mut s = sim(&[
            ("TRADE_MODE", "paper"),
            ("SIM_FAULT", "errors"),
            ("SIM_FAULT_AFTER_S", "0"),
            ("SIM_FAULT_FACTOR", "2.5"),
            ("SIM_TICK_MS", "50"),
        ]);
        run(&mut s, ms(19_950));
        let sample = s.sample(ms(19_950));
        assert_eq!(sample.order_requests_total, 400);
        assert_eq!(sample.order_errors_total, 10);
        let healthy = sample.order_latency.sum() / 400.0;
        assert!((0.0035..0.0045).contains(&healthy), "latency unchanged");

        let mut all = sim(&[
            ("TRADE_MODE", "paper"),
            ("SIM_FAULT", "errors"),
            ("SIM_FAULT_FACTOR", "1e9"),
        ]);
        run(&mut all, ms(2_000));
        let sample = all.sample(ms(2_000));
        // Healthy for the first second (one request in 100: none yet).
        assert_eq!(sample.order_errors_total, sample.order_requests_total - 20);
    }

    #[test]
    fn the_subtle_faults_leave_every_absolute_series_healthy() {
        let healthy = {
            let mut s = sim(&[("TRADE_MODE", "paper")]);
            run(&mut s, ms(30_000));
            s.sample(ms(30_000))
        };
        for fault in ["slow", "errors", "fills"] {
            let mut s = sim(&[
                ("TRADE_MODE", "paper"),
                ("SIM_FAULT", fault),
                ("SIM_FAULT_AFTER_S", "0"),
            ]);
            run(&mut s, ms(30_000));
            let bad = s.sample(ms(30_000));
            assert_eq!(bad.pnl_usd, healthy.pnl_usd, "{fault}");
            assert_eq!(bad.pnl_usd_rate1m, healthy.pnl_usd_rate1m, "{fault}");
            assert_eq!(bad.drawdown_pct, healthy.drawdown_pct, "{fault}");
            assert_eq!(
                bad.last_tick_age_seconds, healthy.last_tick_age_seconds,
                "{fault}"
            );
            assert_eq!(bad.ticks_total, healthy.ticks_total, "{fault}");
            assert_eq!(bad.kill_events_total, 0, "{fault}");
            assert_eq!(bad.recon_mismatches_total, 0, "{fault}");
            assert_eq!(bad.canary_breaches_total, 0, "{fault}");
            assert!(bad.health_series, "{fault}");
            assert_eq!(bad.order_requests_total, healthy.order_requests_total);
        }
    }

    #[test]
    fn fills_makes_most_venue_steps_quiet() {
        let mut healthy = sim(&[("TRADE_MODE", "paper"), ("SIM_FAULT", "fills")]);
        // Before the fault (1 s), every step trades.
        assert!(!(0..2).any(|n| healthy.next_step_quiet(ms(n * 500))));
        let quiet: Vec<bool> = (2..14)
            .map(|n| healthy.next_step_quiet(ms(n * 500)))
            .collect();
        assert_eq!(quiet.iter().filter(|q| !**q).count(), 3, "{quiet:?}");
        let mut once = sim(&[
            ("TRADE_MODE", "paper"),
            ("SIM_FAULT", "fills"),
            ("SIM_FAULT_FACTOR", "1"),
        ]);
        assert!(!(0..20).any(|n| once.next_step_quiet(ms(n * 500))));
    }

    #[test]
    fn a_late_tick_catches_up_within_its_bound() {
        let mut s = sim(&[("TRADE_MODE", "paper"), ("SIM_TICK_MS", "2000")]);
        run(&mut s, ms(10_000));
        assert_eq!(s.sample(ms(10_000)).order_requests_total, 201);
        let mut s = sim(&[("TRADE_MODE", "paper"), ("SIM_TICK_MS", "86400000")]);
        run(&mut s, ms(0));
        s.handle_timeout(ms(86_400_000));
        let sent = s.sample(ms(86_400_000)).order_requests_total;
        assert_eq!(sent, 1 + u64::from(MAX_CATCH_UP));
    }
}

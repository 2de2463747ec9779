//! The strategy on the internal tick: the tick itself (which also paces
//! the venue exchanges), the `strategy tick` summary line, the live plane's
//! `order executed` lines, and the healthy PnL and drawdown curves that
//! `sample` reads. Faults bend those curves in `pnl_at` and `drawdown_at`.

use std::time::Duration;

use super::{Effect, Sim};
use crate::sim::knobs::Fault;
use crate::sim::trader;

/// How often the `strategy tick` summary line is logged while trading.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);
/// How often an order is executed when orders go to a venue.
pub const ORDER_EVERY: Duration = Duration::from_secs(2);

impl Sim {
    pub(super) fn tick(&mut self, now: Duration, out: &mut Vec<Effect>) {
        if self.fault == Some(Fault::Stale) && self.fault_fired {
            // The loop has wedged: no more ticks, so the age grows unbounded
            // while the HTTP server keeps answering.
            self.next_tick_at = None;
            return;
        }
        self.ticks += 1;
        self.last_tick = Some(now);
        let next = self.next_tick_at.unwrap_or(now) + self.knobs.tick;
        // Keep the cadence, but skip missed ticks rather than burst them.
        self.next_tick_at = Some(if next <= now {
            now + self.knobs.tick
        } else {
            next
        });
        if let Some(at) = self.next_venue_at
            && at <= now
        {
            // The cadence is kept, as the tick's is: counting from `now`,
            // which a real loop reaches a little after the tick was due,
            // would put each step on the tick after, every 600 ms.
            let next = at + trader::STEP_EVERY;
            self.next_venue_at = Some(if next <= now {
                now + trader::STEP_EVERY
            } else {
                next
            });
            out.push(Effect::Venue(self.venue_request(now)));
        }
        self.send_orders(now);
        if !self.knobs.trading() {
            return;
        }
        let secs = now.as_secs_f64();
        if now >= self.next_summary_at {
            self.next_summary_at = now + SUMMARY_EVERY;
            out.push(Effect::Log(format!(
                "strategy tick n={} mode={} pnl_usd={:.2} drawdown_pct={:.2} orders={}",
                self.ticks,
                self.knobs.trade_mode_label(),
                self.pnl_at(secs),
                self.drawdown_at(secs),
                self.orders,
            )));
        }
        if self.knobs.executes_orders()
            && self.knobs.market_open_at(now)
            && now >= self.next_order_at
        {
            self.next_order_at = now + ORDER_EVERY;
            self.orders += 1;
            let tau = self.trading_secs(secs);
            out.push(Effect::Log(format!(
                "order executed id={} side={} qty=0.010 price={:.2} plane={}",
                self.orders,
                if self.orders % 2 == 1 { "buy" } else { "sell" },
                trader::price(100.0, tau),
                self.knobs.execution_plane_label(),
            )));
        }
    }

    /// Seconds of trading by time `secs` (0 before idle, when not trading,
    /// and while the market is closed: PnL and drawdown then stay flat).
    pub(super) fn trading_secs(&self, secs: f64) -> f64 {
        match (self.idle_at, self.knobs.market_opens_at()) {
            (Some(idle), Some(opens)) if self.knobs.trading() => {
                (secs - idle.max(opens).as_secs_f64()).max(0.0)
            }
            _ => 0.0,
        }
    }

    /// Healthy PnL grows about `drift` USD/s and never dips below zero
    /// (the wobble is at most 20 %); the pnl fault then loses
    /// `100 + 20·drift` USD/s, so any band breaks within a second or two.
    pub(super) fn pnl_at(&self, secs: f64) -> f64 {
        let tau = self.trading_secs(secs);
        let drift = self.knobs.pnl_drift;
        let healthy = drift * tau * (1.0 + 0.2 * tau.sin());
        let after = self.fault_after_secs(Fault::Pnl, secs);
        healthy - (100.0 + 20.0 * drift) * after
    }

    /// Healthy drawdown wanders between 0 and 0.5 %; the drawdown fault
    /// jumps it to 12 % and climbs 1 %/s, capped at 25 %.
    pub(super) fn drawdown_at(&self, secs: f64) -> f64 {
        let tau = self.trading_secs(secs);
        let healthy = 0.25 * (1.0 - (tau / 3.0).cos());
        if self.fault == Some(Fault::Drawdown) && secs >= self.knobs.fault_after.as_secs_f64() {
            let after = self.fault_after_secs(Fault::Drawdown, secs);
            healthy.max((12.0 + after).min(25.0))
        } else {
            healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rig::{logs, ms, run, sim};
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn smoke_mode_logs_nothing_after_idle_but_keeps_ticking() {
        let mut s = sim(&[("SIM_LOG_LINE", "planted line")]);
        let effects = run(&mut s, Duration::from_secs(30));
        let lines = logs(&effects);
        assert_eq!(lines[lines.len() - 2..], ["idle reached", "planted line"]);
        let sample = s.sample(Duration::from_secs(30));
        assert!(sample.ticks_total > 250);
        assert!(sample.last_tick_age_seconds <= 0.1);
        assert_eq!(sample.pnl_usd, 0.0);
    }

    #[test]
    fn trading_logs_a_summary_every_five_seconds_and_orders_only_live() {
        let mut paper = sim(&[("TRADE_MODE", "paper"), ("EXECUTION_PLANE", "paper")]);
        let lines: Vec<String> = logs(&run(&mut paper, ms(12_000)))
            .into_iter()
            .map(String::from)
            .collect();
        let ticks = lines
            .iter()
            .filter(|l| l.starts_with("strategy tick "))
            .count();
        assert_eq!(ticks, 3, "{lines:?}");
        assert!(!lines.iter().any(|l| l.starts_with("order executed")));

        let mut live = sim(&[("TRADE_MODE", "live"), ("EXECUTION_PLANE", "live")]);
        let effects = run(&mut live, ms(10_000));
        let orders = logs(&effects)
            .iter()
            .filter(|l| l.starts_with("order executed id="))
            .count();
        assert_eq!(orders, 6);
        assert_eq!(live.sample(ms(10_000)).orders_total, 6);
    }

    #[test]
    fn a_closed_market_ticks_and_logs_but_trades_nothing() {
        let mut live = sim(&[
            ("TRADE_MODE", "live"),
            ("EXECUTION_PLANE", "live"),
            ("SIM_SESSION", "closed"),
        ]);
        let lines: Vec<String> = logs(&run(&mut live, ms(12_000)))
            .into_iter()
            .map(String::from)
            .collect();
        let idle = lines.iter().position(|l| l == "idle reached").unwrap();
        assert_eq!(
            lines[idle + 1],
            "market closed: no orders, no fills (SIM_SESSION=closed)"
        );
        let ticks: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("strategy tick "))
            .collect();
        assert_eq!(ticks.len(), 3, "{lines:?}");
        assert!(
            ticks.iter().all(|l| l.contains(" pnl_usd=0.00 ")),
            "{ticks:?}"
        );
        assert!(!lines.iter().any(|l| l.starts_with("order executed")));
        let sample = live.sample(ms(12_000));
        assert_eq!((sample.pnl_usd, sample.drawdown_pct), (0.0, 0.0));
        assert_eq!(sample.orders_total, 0);
        assert!(sample.ticks_total > 100 && sample.last_tick_age_seconds <= 0.1);

        // The smoke mode says nothing about the market: nothing after idle.
        let mut smoke = sim(&[("SIM_SESSION", "closed")]);
        let lines = logs(&run(&mut smoke, ms(2_000)))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        assert_eq!(lines.last().map(String::as_str), Some("idle reached"));
    }

    #[test]
    fn a_market_that_opens_later_starts_trading_then() {
        let mut paper = sim(&[
            ("TRADE_MODE", "paper"),
            ("SIM_SESSION", "closed"),
            ("SIM_SESSION_OPENS_AFTER_S", "3"),
        ]);
        let closed = logs(&run(&mut paper, ms(2_900)))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        assert!(
            closed
                .iter()
                .any(|l| l.starts_with("market closed:") && l.contains("3.0s")),
            "{closed:?}"
        );
        let at_close = paper.sample(ms(2_900));
        assert_eq!((at_close.pnl_usd, at_close.order_requests_total), (0.0, 0));
        let opened = logs(&run(&mut paper, ms(6_000)))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        assert!(
            opened.iter().any(|l| l == "market open: trading"),
            "{opened:?}"
        );
        let later = paper.sample(ms(6_000));
        assert!(later.order_requests_total > 20, "{later:?}");
        assert!(later.pnl_usd > 0.0, "PnL grows from the opening");
    }

    proptest! {
        #[test]
        fn healthy_pnl_never_negative_and_drawdown_small(
            drift in 0.0f64..1000.0,
            secs in 0.0f64..100_000.0,
            mode in prop::sample::select(vec!["shadow", "paper", "live"]),
        ) {
            let drift = drift.to_string();
            let mut s = sim(&[("TRADE_MODE", mode), ("SIM_PNL_DRIFT", &drift)]);
            s.handle_timeout(Duration::ZERO);
            let sample = s.sample(Duration::from_secs_f64(secs));
            prop_assert!(sample.pnl_usd >= 0.0);
            prop_assert!((0.0..=0.5).contains(&sample.drawdown_pct));
            prop_assert!(sample.pnl_usd_rate1m.is_finite());
        }
    }
}

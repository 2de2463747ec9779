//! The simulated service itself, as a pure state machine on virtual time:
//! start-up phases, the internal tick, trading, and faults.
//!
//! Time is an argument (`now`, the time since the process started); nothing
//! here reads a clock, binds a port or prints. The shell (`shell.rs`)
//! drives it with this contract:
//!
//! 1. call [`Sim::handle_timeout`] with the current time and perform the
//!    returned effects in order (stop at [`Effect::Exit`]);
//! 2. sleep until [`Sim::poll_timeout`] (or forever if `None`), or until a
//!    signal arrives; repeat.
//!
//! The HTTP server reads [`Sim::sample`] and [`Sim::answer`] at any time in
//! between. Metric faults that are pure functions of time (drawdown, pnl,
//! hang, garbage, missing) are computed from `now` in those getters, so a
//! scrape is exact even if the loop has not woken yet; faults that log
//! (crash, kill events, reconciliation, canary) and the tick are events, so
//! the log and the counters always agree.
//!
//! The venue (`venue`, `trader`): from the persistence phase on, the model
//! asks the shell for an exchange with the venue file ([`Effect::Venue`]),
//! then every [`trader::STEP_EVERY`] on the tick (a trading step in paper
//! and live, a read elsewhere). The shell performs it and hands the outcome
//! back through [`Sim::handle_venue`] before it performs the next effect.
//! What the venue said last is what `/metrics` shows; until it has said
//! anything, or while its file is unreadable, the venue series are absent
//! (no data), never zero.
//!
//! One [`Sim`], its methods by job:
//!
//! - this file: the state, the driver's three calls and the metric sample;
//! - `startup`: the smoke-deploy phases, in order, and what each one does;
//! - `strategy`: the internal tick, the summary and `order executed` lines,
//!   and the healthy PnL and drawdown curves;
//! - `faults`: firing and repeating `SIM_FAULT`, and when a fault is on;
//! - `orders`: the order stream (requests, rejections, latency) and the
//!   subtle faults that bend it and the venue's fills;
//! - `venue_view`: what the model asks of the venue and makes of the answer.

mod faults;
mod orders;
#[cfg(test)]
mod rig;
mod startup;
mod strategy;
mod venue_view;

use std::path::PathBuf;
use std::time::Duration;

use super::knobs::{Fault, Knobs};
use super::metrics::{Sample, VenueFigures};
use super::trader::Request;
use super::venue::Book;

pub use faults::REPEAT_EVERY;
use orders::OrderFlow;
pub use orders::{ERROR_EVERY, REQUEST_EVERY};
use startup::BANNER;
pub use startup::PHASES;
pub use strategy::{ORDER_EVERY, SUMMARY_EVERY};
use venue_view::VenueView;

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Bind the metrics port and start answering.
    Serve,
    /// Log `metrics listening on ADDR` with the address actually bound
    /// (only the shell knows it when the port was 0).
    LogListening,
    Log(String),
    /// Exchange with the venue file, then call [`Sim::handle_venue`] with
    /// the outcome.
    Venue(Request),
    /// Flush the log and exit the process with this status.
    Exit(i32),
}

/// How the HTTP server answers a request right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Metrics,
    /// Accept, read the request, never answer.
    Hang,
    /// Answer 200 with malformed exposition text.
    Garbage,
}

/// Where the service keeps its state, and what is wrong with it if anything
/// (the shell looks at the disk; the model only reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    pub path: PathBuf,
    pub problem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Sim {
    knobs: Knobs,
    host: String,
    persistence: Persistence,
    /// The configured fault if it applies on this host in this mode.
    fault: Option<Fault>,
    next_phase: usize,
    /// When idle was reached: the internal tick, and trading, start here.
    idle_at: Option<Duration>,
    last_tick: Option<Duration>,
    next_tick_at: Option<Duration>,
    ticks: u64,
    orders: u64,
    next_summary_at: Duration,
    next_order_at: Duration,
    fault_fired: bool,
    next_repeat_at: Option<Duration>,
    kill_events: u64,
    recon_mismatches: u64,
    canary_breaches: u64,
    exited: bool,
    venue: VenueView,
    /// The venue file holds this release's account settings.
    venue_recorded: bool,
    /// The last write to the venue that failed, logged once.
    venue_write_failed: Option<String>,
    next_venue_at: Option<Duration>,
    /// Trading steps that placed an order (quiet ones do not count).
    venue_steps: u64,
    fills: u64,
    /// The order stream and its counters.
    flow: OrderFlow,
    /// The share of a trading step owed under the `fills` fault; a step
    /// trades when a whole one is (healthy, every step does).
    fill_credit: f64,
    /// When a market closed at idle opens (`SIM_SESSION_OPENS_AFTER_S`).
    next_open_at: Option<Duration>,
}

impl Sim {
    pub fn new(knobs: Knobs, host: String, persistence: Persistence) -> Self {
        let fault = knobs.fault_applies(&host);
        Self {
            knobs,
            host,
            persistence,
            fault,
            next_phase: BANNER,
            idle_at: None,
            last_tick: None,
            next_tick_at: None,
            ticks: 0,
            orders: 0,
            next_summary_at: Duration::ZERO,
            next_order_at: Duration::ZERO,
            fault_fired: false,
            next_repeat_at: None,
            kill_events: 0,
            recon_mismatches: 0,
            canary_breaches: 0,
            exited: false,
            venue: VenueView::Unknown,
            venue_recorded: false,
            venue_write_failed: None,
            next_venue_at: None,
            venue_steps: 0,
            fills: 0,
            flow: OrderFlow::default(),
            fill_credit: 0.0,
            next_open_at: None,
        }
    }

    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Advances to `now`: logs due phases, fires a due fault, runs a due
    /// tick. Returns what the shell must do, in order.
    pub fn handle_timeout(&mut self, now: Duration) -> Vec<Effect> {
        let mut out = Vec::new();
        while !self.exited
            && let Some(phase) = self.pending_phase()
            && self.phase_due(phase) <= now
        {
            self.next_phase += 1;
            self.enter_phase(phase, now, &mut out);
        }
        if !self.exited
            && !self.fault_fired
            && self.fault.is_some()
            && self.knobs.fault_after <= now
        {
            self.fire_fault(now, &mut out);
        }
        if !self.exited
            && let Some(at) = self.next_repeat_at
            && at <= now
        {
            self.repeat_fault(now, &mut out);
        }
        if !self.exited
            && let Some(at) = self.next_open_at
            && at <= now
        {
            self.next_open_at = None;
            out.push(Effect::Log("market open: trading".into()));
            if self.knobs.trades_at_venue() {
                self.flow.start(now);
            }
        }
        if !self.exited
            && let Some(at) = self.next_tick_at
            && at <= now
        {
            self.tick(now, &mut out);
        }
        out
    }

    /// The next time [`Self::handle_timeout`] has work, or `None` when only
    /// a signal can change anything.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.exited {
            return None;
        }
        let phase = self.pending_phase().map(|p| self.phase_due(p));
        let fault = (self.fault.is_some() && !self.fault_fired).then_some(self.knobs.fault_after);
        [
            phase,
            fault,
            self.next_repeat_at,
            self.next_open_at,
            self.next_tick_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn answer(&self, now: Duration) -> Answer {
        if self.fault_active(Fault::Hang, now) {
            Answer::Hang
        } else if self.fault_active(Fault::Garbage, now) {
            Answer::Garbage
        } else {
            Answer::Metrics
        }
    }

    /// Every metric value at `now`.
    pub fn sample(&self, now: Duration) -> Sample {
        let secs = now.as_secs_f64();
        let window_start = (secs - 60.0).max(0.0);
        let pnl = self.pnl_at(secs);
        let rate = if secs > window_start {
            (pnl - self.pnl_at(window_start)) / (secs - window_start)
        } else {
            0.0
        };
        Sample {
            host: self.host.clone(),
            trade_mode: self.knobs.trade_mode_label(),
            canary: self.knobs.canary,
            execution_plane: self.knobs.execution_plane_label(),
            version: env!("CARGO_PKG_VERSION"),
            health_series: !self.fault_active(Fault::Missing, now),
            uptime_seconds: secs,
            pnl_usd: pnl,
            pnl_usd_rate1m: rate,
            drawdown_pct: self.drawdown_at(secs),
            last_tick_age_seconds: now
                .saturating_sub(self.last_tick.unwrap_or_default())
                .as_secs_f64(),
            ticks_total: self.ticks,
            orders_total: self.orders,
            kill_events_total: self.kill_events,
            recon_mismatches_total: self.recon_mismatches,
            canary_breaches_total: self.canary_breaches,
            fills_total: self.fills,
            order_requests_total: self.flow.requests(),
            order_errors_total: self.flow.errors(),
            order_latency: self.flow.latency().clone(),
            venue: match &self.venue {
                VenueView::Seen(book) => Some(VenueFigures {
                    open_orders: book.as_ref().map_or(0, |b| b.orders().len() as u64),
                    notional_usd: book.as_ref().map_or(0.0, Book::notional_usd),
                }),
                VenueView::Unknown | VenueView::Unreadable(_) => None,
            },
        }
    }
}

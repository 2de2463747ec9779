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

use std::path::PathBuf;
use std::time::Duration;

use super::knobs::{Fault, Knobs};
use super::metrics::{Sample, VenueFigures};
use super::trader::{self, Exchanged, Request, Trade};
use super::venue::{self, Book};

/// The start-up phases of the smoke-deploy model, in the order they are
/// logged. Smoke gates match these strings; keep them stable.
pub const PHASES: [&str; 6] = [
    "starting",
    "environment validated",
    "persistence mounted",
    "replay started (0 events)",
    "orchestrator initialized",
    "idle reached",
];
const BANNER: usize = 0;
const PERSISTENCE: usize = 2;
const ORCHESTRATOR: usize = 4;
const IDLE: usize = 5;

/// How often the `strategy tick` summary line is logged while trading.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);
/// How often an order is executed when orders go to a venue.
pub const ORDER_EVERY: Duration = Duration::from_secs(2);
/// How often a reconciliation mismatch or canary breach repeats once its
/// fault has fired.
pub const REPEAT_EVERY: Duration = Duration::from_secs(5);

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

/// What the model last heard from the venue.
#[derive(Debug, Clone, PartialEq)]
enum VenueView {
    /// Nothing yet (or the state dir failed): no data.
    Unknown,
    /// The venue file as read; `None`: no file, nothing open.
    Seen(Option<Book>),
    /// The venue file cannot be read (the text names it): no data.
    Unreadable(String),
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
    venue_steps: u64,
    fills: u64,
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
        [phase, fault, self.next_repeat_at, self.next_tick_at]
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
            venue: match &self.venue {
                VenueView::Seen(book) => Some(VenueFigures {
                    open_orders: book.as_ref().map_or(0, |b| b.orders().len() as u64),
                    notional_usd: book.as_ref().map_or(0.0, Book::notional_usd),
                }),
                VenueView::Unknown | VenueView::Unreadable(_) => None,
            },
        }
    }

    /// The outcome of the last [`Effect::Venue`]; returns lines to log.
    pub fn handle_venue(&mut self, exchanged: Exchanged) -> Vec<Effect> {
        let mut out = Vec::new();
        match exchanged {
            // A flatten holds the venue: the next step asks again.
            Exchanged::Busy => {}
            Exchanged::Done {
                book,
                fills,
                recorded,
            } => {
                self.fills += fills;
                self.venue_recorded |= recorded;
                if self.venue_write_failed.take().is_some() {
                    out.push(Effect::Log(format!(
                        "venue writable again path={}",
                        self.venue_path().display()
                    )));
                }
                self.see_venue(book, &mut out);
            }
            Exchanged::Unwritable { book, why } => {
                if self.venue_write_failed.as_ref() != Some(&why) {
                    out.push(Effect::Log(format!("venue write failed: {why}")));
                }
                self.venue_write_failed = Some(why);
                self.see_venue(book, &mut out);
            }
            Exchanged::Unreadable(why) => {
                if !matches!(&self.venue, VenueView::Unreadable(was) if *was == why) {
                    out.push(Effect::Log(format!("venue unreadable: {why}")));
                }
                self.venue = VenueView::Unreadable(why);
            }
        }
        out
    }

    fn see_venue(&mut self, book: Option<Book>, out: &mut Vec<Effect>) {
        let said = match self.venue {
            VenueView::Unknown => Some("venue opened"),
            VenueView::Unreadable(_) => Some("venue readable again"),
            VenueView::Seen(_) => None,
        };
        if let Some(said) = said {
            out.push(Effect::Log(format!(
                "{said} path={} open_orders={} positions={} notional_usd={:.2}",
                self.venue_path().display(),
                book.as_ref().map_or(0, |b| b.orders().len()),
                book.as_ref().map_or(0, |b| b.positions().len()),
                book.as_ref().map_or(0.0, Book::notional_usd),
            )));
        }
        self.venue = VenueView::Seen(book);
    }

    fn venue_path(&self) -> std::path::PathBuf {
        self.persistence.path.join(venue::FILE_NAME)
    }

    /// The next exchange with the venue: in paper and live, this release's
    /// account settings until recorded and, once idle, a trading step;
    /// elsewhere only a read (a sim that does not trade, such as a smoke
    /// deploy, leaves the venue's settings be).
    fn venue_request(&mut self, now: Duration) -> Request {
        let trades = self.knobs.trades_at_venue();
        let trade = (trades && self.idle_at.is_some()).then(|| {
            let step = self.venue_steps;
            self.venue_steps += 1;
            let tau = self.trading_secs(now.as_secs_f64());
            Trade {
                step,
                // Seconds of trading to whole milliseconds: far below 2^64.
                tau_ms: (tau * 1000.0) as u64,
            }
        });
        Request {
            dir: self.persistence.path.clone(),
            record: (trades && !self.venue_recorded).then(|| self.knobs.account()),
            trade,
        }
    }

    /// The next phase to log, unless `SIM_NEVER_IDLE` holds the service
    /// just short of idle forever.
    fn pending_phase(&self) -> Option<usize> {
        let phase = self.next_phase;
        (phase < PHASES.len() && !(phase == IDLE && self.knobs.never_idle)).then_some(phase)
    }

    /// `SIM_STARTUP_MS` spread evenly: the banner at 0, idle at the full delay.
    fn phase_due(&self, phase: usize) -> Duration {
        // PHASES has 6 entries, so these casts cannot truncate.
        self.knobs.startup * phase as u32 / (PHASES.len() - 1) as u32
    }

    fn enter_phase(&mut self, phase: usize, now: Duration, out: &mut Vec<Effect>) {
        // With no start-up delay the port is bound before the first line, so
        // a restarted known-good release answers as early as possible. A slow
        // start brings the port up with the orchestrator, as a real service's.
        let fast = self.knobs.startup.is_zero();
        match phase {
            BANNER => {
                if fast {
                    out.push(Effect::Serve);
                }
                out.push(Effect::Log(format!(
                    "gantry-sim {} starting host={} trade_mode={} canary={} execution_plane={}",
                    env!("CARGO_PKG_VERSION"),
                    self.host,
                    self.knobs.trade_mode_label(),
                    u8::from(self.knobs.canary),
                    self.knobs.execution_plane_label(),
                )));
                if fast {
                    out.push(Effect::LogListening);
                }
            }
            PERSISTENCE => {
                let path = self.persistence.path.display();
                if let Some(problem) = &self.persistence.problem {
                    out.push(Effect::Log(format!(
                        "fatal: persistence mount failed path={path}: {problem}"
                    )));
                    out.push(Effect::Exit(1));
                    self.exited = true;
                } else {
                    out.push(Effect::Log(format!("persistence mounted path={path}")));
                    // The venue as a restarted service finds it, and this
                    // release's flatten behaviour recorded in it.
                    out.push(Effect::Venue(self.venue_request(now)));
                }
            }
            ORCHESTRATOR => {
                if !fast {
                    out.push(Effect::Serve);
                    out.push(Effect::LogListening);
                }
                out.push(Effect::Log(PHASES[ORCHESTRATOR].into()));
            }
            IDLE => {
                out.push(Effect::Log(PHASES[IDLE].into()));
                self.idle_at = Some(now);
                self.next_tick_at = Some(now);
                self.next_venue_at = Some(now);
                if let Some(line) = &self.knobs.log_line {
                    out.push(Effect::Log(line.clone()));
                }
            }
            _ => out.push(Effect::Log(PHASES[phase].into())),
        }
    }

    fn fire_fault(&mut self, now: Duration, out: &mut Vec<Effect>) {
        self.fault_fired = true;
        match self.fault {
            Some(Fault::Crash) => {
                out.push(Effect::Log("fatal: simulated crash".into()));
                out.push(Effect::Exit(self.knobs.exit_code));
                self.exited = true;
            }
            Some(Fault::KillEvent) => {
                self.kill_events += 1;
                out.push(Effect::Log(
                    "kill switch tripped reason=simulated kill event".into(),
                ));
            }
            Some(Fault::Recon | Fault::Canary) => self.repeat_fault(now, out),
            // Stale: the tick checks `fault_fired` and stops. The rest are
            // functions of time read by `sample` and `answer`.
            _ => {}
        }
    }

    /// A reconciliation mismatch or canary breach, again every
    /// [`REPEAT_EVERY`]: a real one does not fix itself.
    fn repeat_fault(&mut self, now: Duration, out: &mut Vec<Effect>) {
        match self.fault {
            Some(Fault::Recon) => {
                self.recon_mismatches += 1;
                out.push(Effect::Log(format!(
                    "reconciliation mismatch n={} position differs from venue",
                    self.recon_mismatches
                )));
            }
            Some(Fault::Canary) => {
                self.canary_breaches += 1;
                out.push(Effect::Log(format!(
                    "canary breach n={} slippage over canary limit",
                    self.canary_breaches
                )));
            }
            _ => return,
        }
        self.next_repeat_at = Some(now + REPEAT_EVERY);
    }

    fn tick(&mut self, now: Duration, out: &mut Vec<Effect>) {
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
            self.next_venue_at = Some(now + trader::STEP_EVERY);
            out.push(Effect::Venue(self.venue_request(now)));
        }
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
        if self.knobs.executes_orders() && now >= self.next_order_at {
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

    fn fault_active(&self, fault: Fault, now: Duration) -> bool {
        self.fault == Some(fault) && now >= self.knobs.fault_after
    }

    /// Seconds of trading by time `secs` (0 before idle or when not trading).
    fn trading_secs(&self, secs: f64) -> f64 {
        match self.idle_at {
            Some(idle) if self.knobs.trading() => (secs - idle.as_secs_f64()).max(0.0),
            _ => 0.0,
        }
    }

    /// Healthy PnL grows about `drift` USD/s and never dips below zero
    /// (the wobble is at most 20 %); the pnl fault then loses
    /// `100 + 20·drift` USD/s, so any band breaks within a second or two.
    fn pnl_at(&self, secs: f64) -> f64 {
        let tau = self.trading_secs(secs);
        let drift = self.knobs.pnl_drift;
        let healthy = drift * tau * (1.0 + 0.2 * tau.sin());
        let after = self.fault_after_secs(Fault::Pnl, secs);
        healthy - (100.0 + 20.0 * drift) * after
    }

    /// Healthy drawdown wanders between 0 and 0.5 %; the drawdown fault
    /// jumps it to 12 % and climbs 1 %/s, capped at 25 %.
    fn drawdown_at(&self, secs: f64) -> f64 {
        let tau = self.trading_secs(secs);
        let healthy = 0.25 * (1.0 - (tau / 3.0).cos());
        if self.fault == Some(Fault::Drawdown) && secs >= self.knobs.fault_after.as_secs_f64() {
            let after = self.fault_after_secs(Fault::Drawdown, secs);
            healthy.max((12.0 + after).min(25.0))
        } else {
            healthy
        }
    }

    /// Seconds since `fault` took effect, 0 if it has not (or is not ours).
    fn fault_after_secs(&self, fault: Fault, secs: f64) -> f64 {
        if self.fault == Some(fault) {
            (secs - self.knobs.fault_after.as_secs_f64()).max(0.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sim(pairs: &[(&str, &str)]) -> Sim {
        let knobs = Knobs::from_pairs(pairs.iter().copied()).unwrap();
        let persistence = Persistence {
            path: "/var/lib/sim".into(),
            problem: None,
        };
        Sim::new(knobs, "h1".into(), persistence)
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn logs(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Log(line) => Some(line.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Runs the shell's loop on virtual time up to `until`, returning all effects.
    fn run(sim: &mut Sim, until: Duration) -> Vec<Effect> {
        let mut all = sim.handle_timeout(Duration::ZERO);
        while let Some(at) = sim.poll_timeout() {
            if at > until {
                break;
            }
            let effects = sim.handle_timeout(at);
            let exit = effects.iter().any(|e| matches!(e, Effect::Exit(_)));
            all.extend(effects);
            if exit {
                break;
            }
        }
        all
    }

    /// As [`run`], from `from` (exclusive of work already done) to `until`.
    fn run_from(sim: &mut Sim, from: Duration, until: Duration) -> Vec<Effect> {
        let mut all = sim.handle_timeout(from);
        while let Some(at) = sim.poll_timeout() {
            if at > until {
                break;
            }
            all.extend(sim.handle_timeout(at));
        }
        all
    }

    #[test]
    fn phases_in_order_with_the_port_bound_first() {
        let mut s = sim(&[("GANTRY_HOST", "lhr-1")]);
        let effects = s.handle_timeout(Duration::ZERO);
        assert_eq!(effects[0], Effect::Serve);
        assert!(
            matches!(&effects[1], Effect::Log(l) if l.starts_with("gantry-sim ") && l.contains(" starting host=h1 trade_mode=idle canary=0 execution_plane=unset"))
        );
        assert_eq!(effects[2], Effect::LogListening);
        assert_eq!(
            logs(&effects)[1..],
            [
                "environment validated",
                "persistence mounted path=/var/lib/sim",
                "replay started (0 events)",
                "orchestrator initialized",
                "idle reached",
            ]
        );
    }

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
    fn slow_start_spreads_phases_and_serves_with_the_orchestrator() {
        let mut s = sim(&[("SIM_STARTUP_MS", "500")]);
        let first = s.handle_timeout(Duration::ZERO);
        assert!(!first.contains(&Effect::Serve));
        assert_eq!(s.poll_timeout(), Some(ms(100)));
        assert_eq!(
            logs(&s.handle_timeout(ms(300))),
            [
                "environment validated",
                "persistence mounted path=/var/lib/sim",
                "replay started (0 events)"
            ]
        );
        let orchestrator = s.handle_timeout(ms(400));
        assert_eq!(
            orchestrator,
            [
                Effect::Serve,
                Effect::LogListening,
                Effect::Log("orchestrator initialized".into())
            ]
        );
        assert_eq!(logs(&s.handle_timeout(ms(500))), ["idle reached"]);
    }

    #[test]
    fn never_idle_stops_short() {
        let mut s = sim(&[("SIM_NEVER_IDLE", "1"), ("TRADE_MODE", "paper")]);
        let effects = run(&mut s, Duration::from_secs(10));
        assert_eq!(logs(&effects).last(), Some(&"orchestrator initialized"));
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(
            s.sample(Duration::from_secs(10)).last_tick_age_seconds,
            10.0
        );
    }

    #[test]
    fn bad_persistence_stops_at_that_phase() {
        let knobs = Knobs::default();
        let persistence = Persistence {
            path: "/nope".into(),
            problem: Some("not a directory".into()),
        };
        let mut s = Sim::new(knobs, "h".into(), persistence);
        let effects = s.handle_timeout(Duration::ZERO);
        assert_eq!(effects.last(), Some(&Effect::Exit(1)));
        assert!(
            logs(&effects).contains(&"fatal: persistence mount failed path=/nope: not a directory")
        );
        assert_eq!(s.poll_timeout(), None);
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
    fn crash_exits_with_the_configured_status() {
        let mut s = sim(&[
            ("SIM_FAULT", "crash"),
            ("SIM_FAULT_AFTER_S", "0.3"),
            ("SIM_EXIT_CODE", "7"),
        ]);
        let effects = run(&mut s, Duration::from_secs(5));
        assert_eq!(effects.last(), Some(&Effect::Exit(7)));
        assert_eq!(logs(&effects).last(), Some(&"fatal: simulated crash"));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn drawdown_and_pnl_faults_move_their_series() {
        let mut dd = sim(&[("TRADE_MODE", "paper"), ("SIM_FAULT", "drawdown")]);
        run(&mut dd, ms(900));
        assert!(dd.sample(ms(900)).drawdown_pct <= 0.5);
        assert!(dd.sample(ms(1000)).drawdown_pct >= 10.0);
        assert_eq!(dd.sample(ms(60_000)).drawdown_pct, 25.0);

        let mut pnl = sim(&[("TRADE_MODE", "paper"), ("SIM_FAULT", "pnl")]);
        run(&mut pnl, ms(3000));
        assert!(pnl.sample(ms(900)).pnl_usd >= 0.0);
        assert!(pnl.sample(ms(2000)).pnl_usd < -100.0);
        assert!(pnl.sample(ms(3000)).pnl_usd_rate1m < -100.0);
    }

    #[test]
    fn counter_faults_count_and_log() {
        let mut kill = sim(&[("SIM_FAULT", "kill_event"), ("SIM_FAULT_AFTER_S", "0.5")]);
        let effects = run(&mut kill, ms(20_000));
        assert_eq!(
            logs(&effects)
                .iter()
                .filter(|l| l.starts_with("kill switch tripped"))
                .count(),
            1
        );
        assert_eq!(kill.sample(ms(20_000)).kill_events_total, 1);

        let mut recon = sim(&[("SIM_FAULT", "recon"), ("SIM_FAULT_AFTER_S", "0")]);
        run(&mut recon, ms(11_000));
        assert_eq!(recon.sample(ms(11_000)).recon_mismatches_total, 3);

        let mut not_canary = sim(&[("SIM_FAULT", "canary")]);
        run(&mut not_canary, ms(5_000));
        assert_eq!(not_canary.sample(ms(5_000)).canary_breaches_total, 0);
        let mut canary = sim(&[("SIM_FAULT", "canary"), ("CANARY_MODE", "1")]);
        run(&mut canary, ms(5_000));
        assert_eq!(canary.sample(ms(5_000)).canary_breaches_total, 1);
    }

    #[test]
    fn stale_stops_the_tick() {
        let mut s = sim(&[("TRADE_MODE", "shadow"), ("SIM_FAULT", "stale")]);
        run(&mut s, ms(5_000));
        assert_eq!(s.poll_timeout(), None);
        let age = s.sample(ms(5_000)).last_tick_age_seconds;
        assert!((3.9..=4.2).contains(&age), "{age}");
        assert!(s.sample(ms(9_000)).last_tick_age_seconds > age);
    }

    #[test]
    fn server_faults_change_the_answer_on_time() {
        let s = sim(&[("SIM_FAULT", "hang")]);
        assert_eq!(s.answer(ms(999)), Answer::Metrics);
        assert_eq!(s.answer(ms(1000)), Answer::Hang);
        let s = sim(&[("SIM_FAULT", "garbage")]);
        assert_eq!(s.answer(ms(1500)), Answer::Garbage);
        let s = sim(&[("SIM_FAULT", "missing")]);
        assert!(s.sample(ms(10)).health_series);
        assert!(!s.sample(ms(1000)).health_series);
    }

    #[test]
    fn fault_hosts_limit_where_the_fault_fires() {
        let mut elsewhere = sim(&[("SIM_FAULT", "crash"), ("SIM_FAULT_HOSTS", "h2,h3")]);
        let effects = run(&mut elsewhere, ms(5_000));
        assert!(!effects.iter().any(|e| matches!(e, Effect::Exit(_))));
        let mut here = sim(&[("SIM_FAULT", "crash"), ("SIM_FAULT_HOSTS", "h2,h1")]);
        assert_eq!(run(&mut here, ms(5_000)).last(), Some(&Effect::Exit(1)));
    }

    fn venue_requests(effects: &[Effect]) -> Vec<&Request> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Venue(request) => Some(request),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn paper_records_its_account_then_trades_every_half_second() {
        let mut s = sim(&[("TRADE_MODE", "paper"), ("SIM_FLATTEN", "partial")]);
        let effects = run(&mut s, ms(3_000));
        let requests = venue_requests(&effects);
        let account = venue::Account {
            flatten: venue::Flatten::Partial,
            flatten_ms: 3_000,
        };
        assert_eq!(
            *requests[0],
            Request {
                dir: "/var/lib/sim".into(),
                record: Some(account),
                trade: None,
            }
        );
        let steps: Vec<Trade> = requests[1..].iter().filter_map(|r| r.trade).collect();
        assert_eq!(steps.len(), 7, "{requests:?}");
        assert_eq!(steps[0], Trade { step: 0, tau_ms: 0 });
        assert_eq!(
            steps[6],
            Trade {
                step: 6,
                tau_ms: 3_000
            }
        );
        // The account is asked for until the venue says it has it.
        assert!(requests.iter().all(|r| r.record == Some(account)));
        s.handle_venue(Exchanged::Done {
            book: None,
            fills: 0,
            recorded: true,
        });
        let later = run_from(&mut s, ms(3_000), ms(3_500));
        assert_eq!(venue_requests(&later)[0].record, None);
    }

    #[test]
    fn shadow_and_idle_only_read_the_venue() {
        for mode in ["shadow", ""] {
            // Not even a flatten fault: a smoke deploy leaves the account be.
            let mut s = sim(&[("TRADE_MODE", mode), ("SIM_FLATTEN", "fail")]);
            let effects = run(&mut s, ms(2_000));
            let requests = venue_requests(&effects);
            assert_eq!(requests.len(), 6, "{mode}: at start, then 0, 0.5, … 2 s");
            assert!(requests.iter().all(|r| !r.writes()), "{requests:?}");
        }
    }

    #[test]
    fn the_venue_drives_its_series_and_logs_only_changes() {
        let mut s = sim(&[("TRADE_MODE", "paper")]);
        run(&mut s, ms(100));
        assert_eq!(s.sample(ms(100)).venue, None, "no word yet: no data");
        let mut book = Book::default();
        let id = book
            .place("BTC-USD", venue::Side::Buy, 0.01, 60_000.0)
            .unwrap();
        book.fill(id);
        let said = s.handle_venue(Exchanged::Done {
            book: Some(book.clone()),
            fills: 1,
            recorded: true,
        });
        assert_eq!(
            logs(&said),
            [
                "venue opened path=/var/lib/sim/venue.json open_orders=0 positions=1 notional_usd=600.00"
            ]
        );
        let sample = s.sample(ms(100));
        assert_eq!(sample.fills_total, 1);
        assert_eq!(
            sample.venue,
            Some(VenueFigures {
                open_orders: 0,
                notional_usd: 600.0
            })
        );
        let broken = || Exchanged::Unreadable("/var/lib/sim/venue.json: not a venue file".into());
        assert_eq!(
            logs(&s.handle_venue(broken())),
            ["venue unreadable: /var/lib/sim/venue.json: not a venue file"]
        );
        assert!(s.handle_venue(broken()).is_empty(), "said once");
        assert_eq!(
            s.sample(ms(100)).venue,
            None,
            "unreadable is no data, not flat"
        );
        assert!(s.handle_venue(Exchanged::Busy).is_empty());
        let unwritable = || Exchanged::Unwritable {
            book: Some(book.clone()),
            why: "cannot write /var/lib/sim/venue.json: No space left on device".into(),
        };
        let said = s.handle_venue(unwritable());
        assert_eq!(logs(&said).len(), 2, "{said:?}");
        assert!(logs(&said)[0].starts_with("venue write failed: cannot write"));
        assert!(logs(&said)[1].starts_with("venue readable again path="));
        assert!(s.handle_venue(unwritable()).is_empty());
        let said = s.handle_venue(Exchanged::Done {
            book: None,
            fills: 0,
            recorded: true,
        });
        assert_eq!(
            logs(&said),
            ["venue writable again path=/var/lib/sim/venue.json"]
        );
        assert_eq!(s.sample(ms(100)).venue.unwrap().notional_usd, 0.0);
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

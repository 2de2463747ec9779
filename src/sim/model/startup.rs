//! The start-up phases a smoke deploy looks for, in order: when each is
//! due (`SIM_STARTUP_MS` spreads them), what each logs, and what each
//! starts (the port, the first venue exchange, the tick at idle).

use std::time::Duration;

use super::{Effect, Sim};

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
pub(super) const BANNER: usize = 0;
const PERSISTENCE: usize = 2;
const ORCHESTRATOR: usize = 4;
const IDLE: usize = 5;

impl Sim {
    /// The next phase to log, unless `SIM_NEVER_IDLE` holds the service
    /// just short of idle forever.
    pub(super) fn pending_phase(&self) -> Option<usize> {
        let phase = self.next_phase;
        (phase < PHASES.len() && !(phase == IDLE && self.knobs.never_idle)).then_some(phase)
    }

    /// `SIM_STARTUP_MS` spread evenly: the banner at 0, idle at the full delay.
    pub(super) fn phase_due(&self, phase: usize) -> Duration {
        // PHASES has 6 entries, so these casts cannot truncate.
        self.knobs.startup * phase as u32 / (PHASES.len() - 1) as u32
    }

    pub(super) fn enter_phase(&mut self, phase: usize, now: Duration, out: &mut Vec<Effect>) {
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
                if self.knobs.sends_orders_at(now) {
                    self.flow.start(now);
                }
                if let Some(line) = &self.knobs.log_line {
                    out.push(Effect::Log(line.clone()));
                    self.next_log_at = self.knobs.log_every.map(|every| now + every);
                }
                // Said once, so a log reader knows why nothing trades; never
                // in the smoke mode, which logs nothing after idle.
                if self.knobs.trading() && !self.knobs.market_open_at(now) {
                    out.push(Effect::Log(match self.knobs.market_opens_at() {
                        None => "market closed: no orders, no fills (SIM_SESSION=closed)".into(),
                        Some(at) => {
                            self.next_open_at = Some(at);
                            format!(
                                "market closed: no orders, no fills until it opens {:.1}s after the start (SIM_SESSION_OPENS_AFTER_S)",
                                at.as_secs_f64()
                            )
                        }
                    }));
                }
            }
            _ => out.push(Effect::Log(PHASES[phase].into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rig::{logs, ms, run, sim};
    use super::super::{Effect, Persistence, Sim};
    use crate::sim::knobs::Knobs;
    use std::time::Duration;

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
}

//! `SIM_FAULT` over time: firing the fault once it is due (a crash, a kill
//! event, the first mismatch or breach), repeating the ones that repeat,
//! and whether a fault is on at a given instant, for the getters that
//! compute fault-bent values from `now`.

use std::time::Duration;

use super::{Effect, Sim};
use crate::sim::knobs::Fault;

/// How often a reconciliation mismatch or canary breach repeats once its
/// fault has fired.
pub const REPEAT_EVERY: Duration = Duration::from_secs(5);

impl Sim {
    pub(super) fn fire_fault(&mut self, now: Duration, out: &mut Vec<Effect>) {
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
            Some(Fault::Drawdown) => {
                // What a real strategy prints as its risk limit goes: the
                // line an operator looks for in the log after a rollback.
                out.push(Effect::Log(
                    "fatal: risk limit breached: drawdown 25.0% (simulated drawdown fault)".into(),
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
    pub(super) fn repeat_fault(&mut self, now: Duration, out: &mut Vec<Effect>) {
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

    pub(super) fn fault_active(&self, fault: Fault, now: Duration) -> bool {
        self.fault == Some(fault) && now >= self.knobs.fault_after
    }

    /// Seconds since `fault` took effect, 0 if it has not (or is not ours).
    pub(super) fn fault_after_secs(&self, fault: Fault, secs: f64) -> f64 {
        if self.fault == Some(fault) {
            (secs - self.knobs.fault_after.as_secs_f64()).max(0.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rig::{logs, ms, run, sim};
    use super::super::{Answer, Effect};
    use std::time::Duration;

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
        let mut told = sim(&[("TRADE_MODE", "paper"), ("SIM_FAULT", "drawdown")]);
        let logged = run(&mut told, ms(5_000));
        assert!(
            logged.iter().any(
                |e| matches!(e, Effect::Log(l) if l.starts_with("fatal: risk limit breached"))
            ),
            "the fault says so in the log: {logged:?}"
        );
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
}

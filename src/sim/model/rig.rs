//! The test rig of the model's tests: a `Sim` from knob pairs, and the
//! shell's loop run on virtual time.

use std::time::Duration;

use super::{Effect, Persistence, Sim};
use crate::sim::knobs::Knobs;
use crate::sim::trader::Request;

pub(super) fn sim(pairs: &[(&str, &str)]) -> Sim {
    let knobs = Knobs::from_pairs(pairs.iter().copied()).unwrap();
    let persistence = Persistence {
        path: "/var/lib/sim".into(),
        problem: None,
    };
    Sim::new(knobs, "h1".into(), persistence)
}

pub(super) fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub(super) fn logs(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log(line) => Some(line.as_str()),
            _ => None,
        })
        .collect()
}

/// Runs the shell's loop on virtual time up to `until`, returning all effects.
pub(super) fn run(sim: &mut Sim, until: Duration) -> Vec<Effect> {
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
pub(super) fn run_from(sim: &mut Sim, from: Duration, until: Duration) -> Vec<Effect> {
    let mut all = sim.handle_timeout(from);
    while let Some(at) = sim.poll_timeout() {
        if at > until {
            break;
        }
        all.extend(sim.handle_timeout(at));
    }
    all
}

pub(super) fn venue_requests(effects: &[Effect]) -> Vec<&Request> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Venue(request) => Some(request),
            _ => None,
        })
        .collect()
}

//! The crash-point suite (docs/reliability.md): the agent SIGKILLs itself
//! at each named point between a durable change and the next (an audit
//! append, a state save, a link swap, a service start or stop…), again and
//! again through a realistic sequence; after every restart the state is the
//! last recorded decision, the process running is the one status names,
//! nothing else carries the agent's marker, and the audit log verifies.

mod common;

use common::crash::{Driver, Plan};

/// Deaths per point: the agent started after the kth death dies at the
/// (1 + k mod SPREAD)th hit of the point, so early and later hits are both
/// taken, then MAX_DEATHS later the sequence finishes undisturbed.
const SPREAD: usize = 4;
const MAX_DEATHS: usize = 8;

fn crash_at_every_hit_of(points: &[&'static str]) {
    for &point in points {
        let plan = Plan::Points(Box::new(move |deaths| {
            (deaths < MAX_DEATHS).then(|| (point.to_string(), 1 + (deaths % SPREAD) as u64))
        }));
        let mut driver = Driver::new(&format!("crash-{point}"), plan);
        driver.start();
        driver.run();
        eprintln!(
            "crash point {point}: {} deaths, {} checks, 0 failures",
            driver.restarts, driver.checks
        );
        assert!(
            driver.restarts > 0,
            "point {point} was never reached by the sequence"
        );
    }
}

#[test]
fn every_crash_point_keeps_the_invariants() {
    // One test, points in turn: the agents' timing must not compete.
    crash_at_every_hit_of(gantry::faults::AGENT_POINTS);
}

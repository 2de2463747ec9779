//! kill -9 at random moments of a realistic sequence (docs/reliability.md):
//! after each restart the state is the last recorded decision, the process
//! running is the one status names, nothing else carries the agent's
//! marker, and the audit log verifies.

mod common;

use common::crash::{Driver, Killer, Plan};

/// Random kills the suite must reach; `GANTRY_CRASH_KILLS` raises it.
fn kills_wanted() -> usize {
    std::env::var("GANTRY_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}

#[test]
fn random_kill_9_keeps_the_invariants() {
    let wanted = kills_wanted();
    let mut total = 0;
    let mut checks = 0;
    let mut round = 0u64;
    while total < wanted {
        round += 1;
        let mut driver = Driver::new(&format!("kill9-{round}"), Plan::External);
        driver.start();
        let killer = Killer::start(driver.pid.clone(), 0x9e37_79b9 ^ round, 150, 1500);
        driver.run();
        let kills = killer.finish();
        // The last kill may land after the sequence's final check.
        driver.run_check_after_last_kill();
        total += kills;
        checks += driver.checks;
        eprintln!(
            "round {round}: {kills} kills, {} restarts, {} checks",
            driver.restarts, driver.checks
        );
    }
    eprintln!("{total} random kills, {checks} checks, 0 failures");
}

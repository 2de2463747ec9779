//! The disk-full suite (docs/reliability.md): `GANTRY_DISK_FULL_AT=N`
//! makes every durable write from the Nth on fail with ENOSPC (an append
//! first writes half its line, as a short write does). For each N the
//! agent deploys, is asked to approve and to stop on that full disk, is
//! killed, and restarts with space again. Every time: the emergency stop
//! stopped the service, the chain verifies, the state is the last recorded
//! decision and the process running is the one status names.

mod common;

use std::time::{Duration, Instant};

use common::crash::{Driver, Plan, marked_processes};

/// A bound on the sweep: the sequence makes far fewer durable writes.
const MAX_WRITES: u64 = 200;

#[test]
fn a_disk_that_fills_at_any_write_keeps_the_invariants_and_estop_stops() {
    let mut refused = 0;
    let mut recorded = 0;
    let mut swept = 0;
    // From the first write on, until the disk fills after the whole
    // sequence is done (every write of it has failed once).
    for n in 1..=MAX_WRITES {
        swept = n;
        let mut driver = Driver::new(&format!("full-{n}"), Plan::External);
        driver.first_env = vec![("GANTRY_DISK_FULL_AT".into(), n.to_string())];
        driver.start();
        let lab = &driver.lab;
        let _ = lab.ctl_path(
            &["submit", "--reason", "full disk"],
            &lab.example("good.env"),
        );
        // Three 1 s soaks, if the deploy got that far.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let state = lab.status()["state"].clone();
            if state == "awaiting_approval" || state == "idle" || state == "halted" {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let approve = lab.ctl(&["approve", "--reason", "full disk approve"]);
        let estop = lab.ctl(&["estop", "--reason", "full disk stop"]);
        assert!(
            estop.status.success(),
            "write {n}: estop always stops: {}",
            common::stderr(&estop)
        );
        assert_eq!(lab.status()["state"], "halted", "write {n}");
        assert!(
            marked_processes(lab.dir.path()).is_empty(),
            "write {n}: the service still runs after estop"
        );
        let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap_or_default();
        if approve.status.success() {
            assert!(
                text.contains("full disk approve"),
                "write {n}: an approval done is recorded"
            );
        } else if common::stderr(&approve).contains("cannot be") {
            refused += 1;
            assert!(
                !text.contains("full disk approve"),
                "write {n}: a refused approval left its entry"
            );
        }
        let stop_recorded = text.contains("full disk stop");
        if stop_recorded {
            recorded += 1;
        }
        let untouched = approve.status.success() && stop_recorded;
        driver.lab.signal_agent(libc::SIGKILL);
        driver.run_check_after_last_kill();
        let status = driver.lab.status();
        assert_eq!(
            status["state"], "halted",
            "write {n}: the stop survives the crash"
        );
        let text = std::fs::read_to_string(driver.lab.path("audit.jsonl")).unwrap();
        assert!(
            text.contains("full disk stop"),
            "write {n}: the stop is recorded once it can be"
        );
        if untouched {
            break;
        }
    }
    assert!(
        swept < MAX_WRITES,
        "the sequence never ran without a failed write"
    );
    eprintln!(
        "{swept} fault positions: every estop stopped; {refused} approvals refused; {recorded} stops recorded at once, the rest on restart"
    );
}

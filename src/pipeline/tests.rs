//! Scenario tests on virtual time, and property tests over random event
//! sequences checked against the pipeline's invariants.

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

const SOAK_MS: u64 = 2_000;
const TICK_MS: i64 = 250;

fn check(
    name: &str,
    cmp: Comparison,
    limit: f64,
    severity: Severity,
    stages: &[Stage],
) -> CheckSpec {
    CheckSpec {
        name: name.into(),
        comparison: cmp,
        limit,
        severity,
        stages: stages.to_vec(),
        consecutive: 3,
        stale_after_ms: 1_000,
    }
}

fn config() -> Config {
    Config {
        soak_ms: [SOAK_MS; 3],
        watch_ms: 10_000,
        require_approval_for_live: true,
        require_distinct_approver: false,
        checks: vec![
            check(
                "process_alive",
                Comparison::Eq,
                1.0,
                Severity::P0,
                &Stage::ALL,
            ),
            check(
                "drawdown",
                Comparison::Lt,
                3.0,
                Severity::P0,
                &Stage::ALL[1..],
            ),
            check("tick_age", Comparison::Lt, 5.0, Severity::P1, &Stage::ALL),
        ],
        max_sample_gap_ms: 1_000,
        verify_timeout_ms: 5_000,
    }
}

fn healthy() -> Sample {
    Sample {
        values: vec![Some(1.0), Some(0.5), Some(0.1)],
    }
}

fn dead() -> Sample {
    Sample {
        values: vec![Some(0.0), None, None],
    }
}

fn no_data() -> Sample {
    Sample {
        values: vec![Some(1.0), None, None],
    }
}

fn admin(name: &str) -> Actor {
    Actor {
        name: name.into(),
        role: Role::Admin,
        seen_as: None,
        claimed: None,
    }
}

fn operator(name: &str) -> Actor {
    Actor {
        name: name.into(),
        role: Role::Operator,
        seen_as: None,
        claimed: None,
    }
}

fn release(n: u8) -> ReleaseRef {
    ReleaseRef {
        id: format!("20261124T000000Z-{n:08x}"),
        digest: format!("{n:02x}").repeat(32),
    }
}

/// A pipeline driven on a virtual clock, recording every effect.
struct Rig {
    config: Config,
    pipeline: Pipeline,
    now: Time,
    effects: Vec<Effect>,
}

impl Rig {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(config: Config) -> Self {
        Self {
            config,
            pipeline: Pipeline::default(),
            now: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
            effects: Vec::new(),
        }
    }

    fn step(&mut self, event: Event) -> Result<Vec<Effect>, Refusal> {
        let t = self.pipeline.step(&self.config, &event, self.now)?;
        self.pipeline = t.next;
        self.effects.extend(t.effects.clone());
        Ok(t.effects)
    }

    fn advance(&mut self, ms: i64) {
        self.now += Duration::milliseconds(ms);
    }

    fn sample(&mut self, sample: Sample) -> Vec<Effect> {
        self.advance(TICK_MS);
        self.step(Event::Sampled(sample))
            .expect("samples are never refused")
    }

    /// Healthy samples until the state changes or `max_ms` pass.
    fn run_healthy(&mut self, max_ms: i64) {
        let start = self.pipeline.word();
        let mut waited = 0;
        while self.pipeline.word() == start && waited < max_ms {
            self.sample(healthy());
            waited += TICK_MS;
        }
    }

    fn submit(&mut self, n: u8) -> Result<Vec<Effect>, Refusal> {
        self.step(Event::Submit(Submission {
            release: release(n),
            tier: Tier::Balanced,
            by: admin("ci"),
            reason: "promoted".into(),
            commit: Some("abc123".into()),
            promotion: None,
            freeze: None,
            override_freeze: false,
        }))
    }

    /// The validate command passed.
    fn validated(&mut self) -> Vec<Effect> {
        self.step(Event::Validated {
            passed: true,
            detail: String::new(),
        })
        .expect("validation result accepted")
    }

    fn deploy_to_awaiting(&mut self, n: u8) {
        self.submit(n).unwrap();
        self.step(Event::Validated {
            passed: true,
            detail: String::new(),
        })
        .unwrap();
        for _ in 0..3 {
            self.run_healthy(10_000);
        }
        assert_eq!(self.pipeline.word(), StateWord::AwaitingApproval);
    }

    fn approve_as(&mut self, by: Actor) -> Result<Vec<Effect>, Refusal> {
        let deploy = self.pipeline.deploy.clone().unwrap();
        self.step(Event::Approve(ApprovalRequest {
            deploy_id: deploy.id,
            digest: deploy.release.digest,
            stage: Stage::Canary,
            by,
            reason: "numbers look right".into(),
        }))
    }

    fn deploy_live(&mut self, n: u8) {
        self.deploy_to_awaiting(n);
        self.approve_as(operator("oncall")).unwrap();
        assert_eq!(self.pipeline.word(), StateWord::Live);
    }
}

fn activations(effects: &[Effect]) -> Vec<(String, Stage)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Activate { release, stage } => Some((release.id.clone(), *stage)),
            _ => None,
        })
        .collect()
}

#[test]
fn good_release_soaks_to_approval_then_live() {
    let mut rig = Rig::new();
    let effects = rig.submit(1).unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Validating);
    assert!(matches!(effects[0], Effect::Audit(_)));
    assert!(effects.contains(&Effect::Validate {
        release: release(1)
    }));
    rig.validated();
    assert_eq!(rig.pipeline.word(), StateWord::Shadow);
    rig.run_healthy(10_000);
    assert_eq!(rig.pipeline.word(), StateWord::Paper);
    rig.run_healthy(10_000);
    assert_eq!(rig.pipeline.word(), StateWord::Canary);
    rig.run_healthy(10_000);
    assert_eq!(rig.pipeline.word(), StateWord::AwaitingApproval);
    // Waiting for a human does not time out, and the canary is still watched.
    rig.run_healthy(60_000);
    assert_eq!(rig.pipeline.word(), StateWord::AwaitingApproval);
    rig.approve_as(operator("oncall")).unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Live);
    let stages: Vec<Stage> = activations(&rig.effects).iter().map(|a| a.1).collect();
    assert_eq!(stages, Stage::ALL);
    let deploy = rig.pipeline.deploy.as_ref().unwrap();
    assert!(deploy.passed_all_soaks());
    assert_eq!(deploy.commit.as_deref(), Some("abc123"));
}

#[test]
fn soak_takes_its_full_time() {
    let mut rig = Rig::new();
    rig.submit(1).unwrap();
    rig.validated();
    let started = rig.now;
    rig.run_healthy(10_000);
    let took = (rig.now - started).num_milliseconds();
    // First healthy sample starts the clock: soak + one tick.
    assert!(
        (SOAK_MS as i64..=SOAK_MS as i64 + TICK_MS).contains(&took),
        "took {took} ms"
    );
}

#[test]
fn a_soak_ends_at_the_deadline_the_machine_names() {
    let mut rig = Rig::new();
    assert_eq!(rig.pipeline.next_deadline(), None, "idle waits for nothing");
    rig.submit(1).unwrap();
    rig.validated();
    rig.sample(healthy());
    let due = rig.pipeline.next_deadline().expect("a soak has an end");
    assert_eq!(due, rig.now + Duration::milliseconds(SOAK_MS as i64));
    // Healthy samples keep the deadline where it is...
    let before = rig.pipeline.word();
    while rig.now + Duration::milliseconds(TICK_MS) < due {
        rig.sample(healthy());
        assert_eq!(rig.pipeline.next_deadline(), Some(due));
    }
    assert_eq!(rig.pipeline.word(), before);
    // ...and a sample exactly at it passes the stage.
    rig.now = due;
    rig.step(Event::Sampled(healthy())).unwrap();
    assert_ne!(
        rig.pipeline.word(),
        before,
        "the soak ended at its deadline"
    );
}

#[test]
fn no_data_never_passes_and_fails_closed_after_staleness() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    let mut rig2 = Rig::new();
    rig2.submit(1).unwrap();
    rig2.validated();
    rig2.run_healthy(10_000); // into paper, where drawdown applies
    assert_eq!(rig2.pipeline.word(), StateWord::Paper);
    // Three no-data samples: under the 1 s staleness limit, still paper, not ok.
    rig2.sample(healthy());
    let left = rig2.pipeline.soak_remaining_ms().unwrap();
    for _ in 0..3 {
        rig2.sample(no_data());
    }
    assert_eq!(rig2.pipeline.word(), StateWord::Paper);
    let gate = rig2.pipeline.gate.as_ref().unwrap();
    assert_eq!(gate.checks[1].status, CheckStatus::NoData);
    assert_eq!(gate.checks[1].value, None);
    // Soak does not progress on no data.
    assert_eq!(rig2.pipeline.soak_remaining_ms().unwrap(), left);
    // At the staleness limit it fails closed: no known-good, paper → stop, idle.
    rig2.sample(no_data());
    assert_eq!(rig2.pipeline.word(), StateWord::Idle);
    assert!(rig2.effects.contains(&Effect::StopService));
}

#[test]
fn p0_fails_at_once_p1_after_consecutive() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    rig.validated();
    let p1 = Sample {
        values: vec![Some(1.0), Some(0.5), Some(9.0)],
    };
    rig.sample(p1.clone());
    rig.sample(p1.clone());
    assert_eq!(rig.pipeline.word(), StateWord::Shadow);
    rig.sample(p1);
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);

    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    rig.validated();
    rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
}

#[test]
fn failed_gate_rolls_back_to_known_good_and_verifies() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    let effects = rig
        .step(Event::Validated {
            passed: true,
            detail: String::new(),
        })
        .unwrap();
    assert!(effects.contains(&Effect::SetKnownGood {
        release: release(1)
    }));
    rig.run_healthy(10_000);
    let effects = rig.sample(Sample {
        values: vec![Some(1.0), Some(12.0), Some(0.1)],
    });
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
    assert_eq!(
        activations(&effects),
        vec![(release(1).id, Stage::Live)],
        "rollback restarts the known-good in live mode"
    );
    assert_eq!(rig.pipeline.serving, Some(release(1)));
    rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    let deploy = rig.pipeline.deploy.as_ref().unwrap();
    assert!(matches!(deploy.outcome, Outcome::RolledBack(_)));
    assert_eq!(deploy.stages.last().unwrap().result, StageResult::Failed);
    // A new deploy may start from rolled_back.
    assert!(rig.submit(3).is_ok());
}

#[test]
fn known_good_failing_after_rollback_halts_instead_of_flapping() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    rig.validated();
    rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
    let effects = rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    assert!(effects.contains(&Effect::Kill));
    assert!(effects.contains(&Effect::StopService));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Alert {
            priority: Priority::P0,
            ..
        }
    )));
    // After rolled_back, a failing known-good halts too.
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    rig.validated();
    rig.sample(dead());
    rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
}

#[test]
fn rollback_that_never_answers_halts_at_deadline() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    rig.validated();
    rig.sample(dead());
    let p1_failing = Sample {
        values: vec![Some(1.0), Some(0.5), Some(9.0)],
    };
    // P1 failing twice, then fine, then failing: never healthy, never breached.
    let mut n = 0;
    while rig.pipeline.word() == StateWord::RollingBack && n < 100 {
        let s = if n % 3 == 2 {
            healthy_but_p1_reset()
        } else {
            p1_failing.clone()
        };
        rig.sample(s);
        n += 1;
    }
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    assert!(
        n * TICK_MS as usize >= 5_000 / 2,
        "halted early after {n} samples"
    );
}

/// Resets P1's count without being healthy: drawdown briefly has no data.
fn healthy_but_p1_reset() -> Sample {
    Sample {
        values: vec![Some(1.0), None, Some(0.1)],
    }
}

#[test]
fn first_deploy_failure_stops_without_known_good() {
    let mut rig = Rig::new();
    rig.submit(1).unwrap();
    rig.validated();
    let effects = rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Idle);
    assert!(effects.contains(&Effect::StopService));
    assert!(!effects.contains(&Effect::Kill));
    // In canary, real money: halt with the kill command.
    let mut rig = Rig::new();
    rig.deploy_to_awaiting(1);
    let effects = rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    assert!(effects.contains(&Effect::Kill));
}

#[test]
fn second_submit_is_refused_naming_the_first() {
    let mut rig = Rig::new();
    rig.submit(1).unwrap();
    let refusal = rig.submit(2).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Policy);
    let id = rig.pipeline.in_flight().unwrap().id.clone();
    assert!(refusal.message.contains(&id), "{}", refusal.message);
    rig.validated();
    let refusal = rig.submit(2).unwrap_err();
    assert!(refusal.message.contains(&id), "{}", refusal.message);
}

#[test]
fn failed_validation_changes_nothing() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    let before = rig.pipeline.clone();
    rig.submit(2).unwrap();
    let effects = rig
        .step(Event::Validated {
            passed: false,
            detail: "exit 1".into(),
        })
        .unwrap();
    assert!(activations(&effects).is_empty());
    assert_eq!(rig.pipeline.word(), StateWord::Live);
    assert_eq!(rig.pipeline.serving, before.serving);
    assert_eq!(rig.pipeline.known_good, before.known_good);
    assert_eq!(rig.pipeline.deploy, before.deploy);
    assert_eq!(rig.pipeline.history, before.history);
    assert!(!effects.contains(&Effect::Persist));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Settled { ok: false, .. }))
    );
}

#[test]
fn approvals_name_what_they_approve() {
    let mut rig = Rig::new();
    rig.deploy_to_awaiting(1);
    let deploy = rig.pipeline.deploy.clone().unwrap();
    let stale = |id: &str, digest: &str, stage| {
        Event::Approve(ApprovalRequest {
            deploy_id: id.into(),
            digest: digest.into(),
            stage,
            by: operator("oncall"),
            reason: "ok".into(),
        })
    };
    for event in [
        stale("d-old", &deploy.release.digest, Stage::Canary),
        stale(&deploy.id, &release(9).digest, Stage::Canary),
        stale(&deploy.id, &deploy.release.digest, Stage::Paper),
    ] {
        let refusal = rig.step(event).unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Policy);
        assert!(refusal.message.starts_with("stale approval"));
    }
    assert_eq!(rig.pipeline.word(), StateWord::AwaitingApproval);
    let refusal = rig
        .approve_as(Actor {
            name: "intern".into(),
            role: Role::Viewer,
            seen_as: None,
            claimed: None,
        })
        .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Forbidden);
    assert!(refusal.message.contains("viewer"));
    let mut no_reason = rig.clone_event_approve();
    if let Event::Approve(ApprovalRequest { reason, .. }) = &mut no_reason {
        reason.clear();
    }
    assert_eq!(rig.step(no_reason).unwrap_err().kind, RefusalKind::Invalid);
    rig.approve_as(operator("oncall")).unwrap();
    // A second approval of the same deploy is stale: it is live now.
    assert_eq!(
        rig.approve_as(operator("oncall")).unwrap_err().kind,
        RefusalKind::Policy
    );
}

impl Rig {
    fn clone_event_approve(&self) -> Event {
        let deploy = self.pipeline.deploy.clone().unwrap();
        Event::Approve(ApprovalRequest {
            deploy_id: deploy.id,
            digest: deploy.release.digest,
            stage: Stage::Canary,
            by: operator("oncall"),
            reason: "r".into(),
        })
    }
}

#[test]
fn distinct_approver_and_aggressive_tier() {
    let mut distinct = config();
    distinct.require_distinct_approver = true;
    let mut rig = Rig::with(distinct);
    rig.deploy_to_awaiting(1);
    let refusal = rig.approve_as(admin("ci")).unwrap_err();
    assert!(
        refusal.message.contains("may not approve"),
        "{}",
        refusal.message
    );
    rig.approve_as(operator("oncall")).unwrap();

    let mut config = config();
    config.require_approval_for_live = false;
    let mut rig = Rig::with(config.clone());
    rig.submit(1).unwrap();
    rig.validated();
    for _ in 0..3 {
        rig.run_healthy(10_000);
    }
    assert_eq!(
        rig.pipeline.word(),
        StateWord::Live,
        "balanced goes live alone"
    );

    let mut rig = Rig::with(config);
    let refusal = rig
        .step(Event::Submit(Submission {
            release: release(1),
            tier: Tier::Aggressive,
            by: operator("ops"),
            reason: "yolo".into(),
            commit: None,
            promotion: None,
            freeze: None,
            override_freeze: false,
        }))
        .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Forbidden);
    rig.step(Event::Submit(Submission {
        release: release(1),
        tier: Tier::Aggressive,
        by: admin("lead"),
        reason: "measured".into(),
        commit: None,
        promotion: None,
        freeze: None,
        override_freeze: false,
    }))
    .unwrap();
    rig.validated();
    for _ in 0..3 {
        rig.run_healthy(10_000);
    }
    assert_eq!(
        rig.pipeline.word(),
        StateWord::AwaitingApproval,
        "aggressive always needs approval"
    );
}

#[test]
fn estop_from_anywhere_and_only_rearm_leaves() {
    let mut rig = Rig::new();
    rig.deploy_to_awaiting(1);
    let effects = rig
        .step(Event::Estop {
            by: operator("oncall"),
            reason: "venue outage".into(),
        })
        .unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    assert_eq!(
        &effects[1..4],
        &[Effect::StopService, Effect::Persist, Effect::Kill],
        "audit first, then stop trading, save, then flatten"
    );
    assert!(rig.submit(2).unwrap_err().message.contains("rearm"));
    rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    let early = rig
        .step(Event::Rearm {
            by: admin("lead"),
            reason: "too soon".into(),
        })
        .unwrap_err();
    assert!(
        early.message.contains("kill command is still running"),
        "{early}"
    );
    settle_stop(&mut rig, true, FlatVerdict::Flat);
    let refusal = rig
        .step(Event::Rearm {
            by: operator("oncall"),
            reason: "fixed".into(),
        })
        .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Forbidden);
    rig.step(Event::Rearm {
        by: admin("lead"),
        reason: "venue back".into(),
    })
    .unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Idle);
    assert!(rig.submit(2).is_ok());
}

#[test]
fn an_estop_is_answered_flat_only_when_the_venue_says_so() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "venue outage".into(),
    })
    .unwrap();
    let stop = rig.pipeline.stop.clone().unwrap();
    assert_eq!(stop.by.as_ref().unwrap().name, "oncall");
    assert_eq!(stop.reason, "venue outage");
    assert!(!stop.settled());
    // The kill command answers; the venue is verified next, whatever it said.
    let effects = rig
        .step(Event::Killed {
            skipped: false,
            ok: false,
            summary: "exit 3 in 40 ms: venue timeout".into(),
        })
        .unwrap();
    assert!(effects.contains(&Effect::VerifyFlat));
    assert!(effects.iter().any(|e| matches!(e, Effect::Alert { priority: Priority::P0, title } if title.contains("kill command failed"))));
    // A resumed agent runs the step that has no answer: the verify.
    let resumed = rig.step(Event::Resumed).unwrap();
    assert!(resumed.contains(&Effect::VerifyFlat) && !resumed.contains(&Effect::Kill));
    let effects = rig
        .step(Event::FlatChecked {
            verdict: FlatVerdict::Flat,
            summary: "nothing open".into(),
        })
        .unwrap();
    let settled = effects.iter().find_map(|e| match e {
        Effect::Settled {
            pending: Pending::Estop,
            ok,
            message,
        } => Some((*ok, message.clone())),
        _ => None,
    });
    let (ok, message) = settled.unwrap();
    assert!(
        !ok,
        "a failed kill is never answered as done, even if the book is flat"
    );
    assert!(
        message.contains("the kill command failed: exit 3"),
        "{message}"
    );
    // A fact for a step already answered is a bug, refused with its name.
    let late = rig
        .step(Event::Killed {
            skipped: false,
            ok: true,
            summary: "x".into(),
        })
        .unwrap_err();
    assert!(
        matches!(late.kind, RefusalKind::Unexpected { .. }),
        "{late:?}"
    );

    // Not flat: P0, and the reply names the step.
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "again".into(),
    })
    .unwrap();
    let effects = settle_stop(&mut rig, true, FlatVerdict::NotFlat);
    assert!(effects.iter().any(|e| matches!(e, Effect::Alert { priority: Priority::P0, title } if title.contains("NOT FLAT"))));
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Settled { ok: false, message, .. } if message.contains("NOT FLAT"))
    ));

    // Nobody checked: never flat.
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "third".into(),
    })
    .unwrap();
    let effects = settle_stop(&mut rig, true, FlatVerdict::Unverified);
    assert!(effects.iter().any(|e| matches!(e, Effect::Settled { ok: false, message, .. } if message.contains("flat unverified"))));
    assert!(!rig.pipeline.stop.as_ref().unwrap().proven_flat());

    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "fourth".into(),
    })
    .unwrap();
    let effects = settle_stop(&mut rig, true, FlatVerdict::Flat);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Settled { ok: true, .. }))
    );
    assert!(rig.pipeline.stop.as_ref().unwrap().proven_flat());
}

#[test]
fn restore_brings_the_known_good_straight_to_live_into_a_flat_venue_only() {
    let restore = |venue| {
        Event::Restore(RestoreRequest {
            by: admin("lead"),
            reason: "venue back".into(),
            venue,
            venue_summary: "checked".into(),
        })
    };
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.deploy_to_awaiting(2);
    let known_good = rig.pipeline.known_good.clone().unwrap();
    assert_eq!(known_good, release(1));
    let refused = rig.step(restore(FlatVerdict::Flat)).unwrap_err();
    assert!(refused.message.contains("from idle"), "{refused}");
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "outage".into(),
    })
    .unwrap();
    settle_stop(&mut rig, true, FlatVerdict::Flat);
    rig.step(Event::Rearm {
        by: admin("lead"),
        reason: "venue back".into(),
    })
    .unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Idle);
    let refused = rig.step(restore(FlatVerdict::NotFlat)).unwrap_err();
    assert!(refused.message.contains("not flat"), "{refused}");
    let refused = rig.step(restore(FlatVerdict::Unverified)).unwrap_err();
    assert!(refused.message.contains("no verify command"), "{refused}");
    let by_operator = rig
        .step(Event::Restore(RestoreRequest {
            by: operator("oncall"),
            reason: "x".into(),
            venue: FlatVerdict::Flat,
            venue_summary: "v".into(),
        }))
        .unwrap_err();
    assert_eq!(by_operator.kind, RefusalKind::Forbidden);
    let effects = rig.step(restore(FlatVerdict::Flat)).unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Live);
    assert_eq!(rig.pipeline.serving.as_ref(), Some(&known_good));
    assert!(
        matches!(&effects[0], Effect::Audit(note) if note.kind == AuditKind::Restore && note.state == StateWord::Live)
    );
    assert!(effects.contains(&Effect::Activate {
        release: known_good.clone(),
        stage: Stage::Live
    }));
    let deploy = rig.pipeline.deploy.as_ref().unwrap();
    assert!(deploy.restore && deploy.release == known_good);
    assert_eq!(rig.pipeline.watched_stage(), Some(Stage::Live));
    // Its live gate applies at once: a failing sample acts on it.
    rig.sample(dead());
    assert_ne!(rig.pipeline.word(), StateWord::Live);
}

#[test]
fn restore_brings_back_what_was_live_when_a_human_stopped_it_never_what_failed() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    assert_eq!(
        rig.pipeline.known_good, None,
        "a first deploy has no known-good"
    );
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "venue outage".into(),
    })
    .unwrap();
    let stop = rig.pipeline.stop.clone().unwrap();
    assert_eq!(stop.restore_to, Some(release(1)), "live, every gate passed");

    // The known-good failing its own verification halts: nothing to restore.
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.deploy_to_awaiting(2);
    rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
    for _ in 0..20 {
        rig.sample(dead());
    }
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    assert_eq!(rig.pipeline.stop.as_ref().unwrap().restore_to, None);
}

#[test]
fn restore_is_refused_with_nothing_known_good() {
    let mut rig = Rig::new();
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "x".into(),
    })
    .unwrap();
    settle_stop(&mut rig, true, FlatVerdict::Flat);
    rig.step(Event::Rearm {
        by: admin("lead"),
        reason: "x".into(),
    })
    .unwrap();
    let refused = rig
        .step(Event::Restore(RestoreRequest {
            by: admin("lead"),
            reason: "x".into(),
            venue: FlatVerdict::Flat,
            venue_summary: "v".into(),
        }))
        .unwrap_err();
    assert!(refused.message.contains("no known-good"), "{refused}");
}

#[test]
fn operator_rollback_waits_for_healthy_known_good() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    assert!(
        rig.step(Event::Rollback {
            by: operator("oncall"),
            reason: "x".into()
        })
        .unwrap_err()
        .message
        .contains("no known-good")
    );
    rig.deploy_live(2);
    rig.step(Event::Rollback {
        by: operator("oncall"),
        reason: "pnl looks off".into(),
    })
    .unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
    let effects = rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Settled {
            pending: Pending::Rollback,
            ok: true,
            ..
        }
    )));
}

#[test]
fn drill_rolls_back_and_forward() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.deploy_live(2);
    let effects = rig
        .step(Event::Drill {
            by: operator("oncall"),
            reason: "monthly drill".into(),
        })
        .unwrap();
    assert_eq!(activations(&effects), vec![(release(1).id, Stage::Live)]);
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
    let effects = rig.sample(healthy());
    assert_eq!(activations(&effects), vec![(release(2).id, Stage::Live)]);
    let effects = rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::Live);
    assert_eq!(rig.pipeline.serving, Some(release(2)));
    assert_eq!(rig.pipeline.last_drill_at, Some(rig.now));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Settled {
            pending: Pending::Drill,
            ok: true,
            ..
        }
    )));
}

#[test]
fn restart_keeps_soak_left_and_does_not_count_downtime() {
    let mut rig = Rig::new();
    rig.submit(1).unwrap();
    rig.validated();
    for _ in 0..4 {
        rig.sample(healthy());
    }
    let left = rig.pipeline.soak_remaining_ms().unwrap();
    assert_eq!(left, SOAK_MS - 3 * TICK_MS as u64);
    // Persist, "crash", come back 30 s later.
    let saved = serde_json::to_string(&rig.pipeline).unwrap();
    rig.pipeline = serde_json::from_str(&saved).unwrap();
    rig.advance(30_000);
    let effects = rig.step(Event::Resumed).unwrap();
    assert!(matches!(&effects[0], Effect::Audit(n) if n.kind == "agent.resume"));
    assert!(effects.contains(&Effect::Reconcile {
        release: release(1),
        stage: Stage::Shadow
    }));
    assert_eq!(rig.pipeline.soak_remaining_ms().unwrap(), left);
    rig.sample(healthy());
    assert_eq!(rig.pipeline.soak_remaining_ms().unwrap(), left);
    rig.sample(healthy());
    assert_eq!(
        rig.pipeline.soak_remaining_ms().unwrap(),
        left - TICK_MS as u64
    );
}

#[test]
fn facts_out_of_place_are_errors() {
    let mut rig = Rig::new();
    let refusal = rig
        .step(Event::Validated {
            passed: true,
            detail: String::new(),
        })
        .unwrap_err();
    assert_eq!(
        refusal.kind,
        RefusalKind::Unexpected {
            fact: "a validation result",
            expected: "validating",
            got: StateWord::Idle
        }
    );
    assert!(refusal.message.contains("expected validating"));
}

// ---- properties -------------------------------------------------------

/// Short soaks; half the runs start with a release live, so that the next
/// deploy has a known-good to roll back to.
fn fast_rig(live_first: bool) -> Rig {
    let mut config = config();
    config.soak_ms = [500; 3];
    let mut rig = Rig::with(config);
    if live_first {
        rig.deploy_live(9);
    }
    rig
}

/// The kill command and the verify command answer.
fn settle_stop(rig: &mut Rig, kill_ok: bool, verdict: FlatVerdict) -> Vec<Effect> {
    let mut effects = rig
        .step(Event::Killed {
            skipped: false,
            ok: kill_ok,
            summary: "exit 0 in 5 ms".into(),
        })
        .unwrap();
    effects.extend(
        rig.step(Event::FlatChecked {
            verdict,
            summary: "verify command said flat".into(),
        })
        .unwrap(),
    );
    effects
}

#[derive(Debug, Clone)]
enum Act {
    Submit(u8, bool),
    Validated(bool),
    Sample(u8),
    Approve(bool),
    Rollback,
    Estop,
    Rearm,
    Drill,
    Resume,
    Killed(bool),
    FlatChecked(u8),
    Restore(u8),
    Wait(u16),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        2 => (1u8..4, any::<bool>()).prop_map(|(n, aggressive)| Act::Submit(n, aggressive)),
        2 => any::<bool>().prop_map(Act::Validated),
        16 => (0u8..12).prop_map(Act::Sample),
        2 => any::<bool>().prop_map(Act::Approve),
        1 => Just(Act::Rollback),
        1 => Just(Act::Estop),
        1 => Just(Act::Rearm),
        1 => Just(Act::Drill),
        1 => Just(Act::Resume),
        1 => any::<bool>().prop_map(Act::Killed),
        1 => (0u8..3).prop_map(Act::FlatChecked),
        1 => (0u8..3).prop_map(Act::Restore),
        1 => (0u16..5000).prop_map(Act::Wait),
    ]
}

fn verdict_of(n: u8) -> FlatVerdict {
    [
        FlatVerdict::Flat,
        FlatVerdict::NotFlat,
        FlatVerdict::Unverified,
    ][usize::from(n % 3)]
}

fn event_for(rig: &Rig, act: &Act) -> Option<Event> {
    let by = admin("ci");
    Some(match act {
        Act::Submit(n, aggressive) => Event::Submit(Submission {
            release: release(*n),
            tier: if *aggressive {
                Tier::Aggressive
            } else {
                Tier::Balanced
            },
            by,
            reason: "r".into(),
            commit: None,
            promotion: None,
            freeze: None,
            override_freeze: false,
        }),
        Act::Validated(passed) => Event::Validated {
            passed: *passed,
            detail: "v".into(),
        },
        Act::Sample(kind) => Event::Sampled(match kind {
            0 => dead(),
            1 => no_data(),
            2 => Sample {
                values: vec![Some(1.0), Some(5.0), Some(0.1)],
            },
            _ => healthy(),
        }),
        Act::Approve(right) => {
            let deploy = rig.pipeline.deploy.clone()?;
            Event::Approve(ApprovalRequest {
                deploy_id: if *right { deploy.id } else { "d-stale".into() },
                digest: deploy.release.digest,
                stage: Stage::Canary,
                by: operator("oncall"),
                reason: "r".into(),
            })
        }
        Act::Rollback => Event::Rollback {
            by: operator("oncall"),
            reason: "r".into(),
        },
        Act::Estop => Event::Estop {
            by: operator("oncall"),
            reason: "r".into(),
        },
        Act::Rearm => Event::Rearm {
            by,
            reason: "r".into(),
        },
        Act::Drill => Event::Drill {
            by: operator("oncall"),
            reason: "r".into(),
        },
        Act::Resume => Event::Resumed,
        Act::Killed(ok) => Event::Killed {
            skipped: false,
            ok: *ok,
            summary: "k".into(),
        },
        Act::FlatChecked(n) => Event::FlatChecked {
            verdict: verdict_of(*n),
            summary: "f".into(),
        },
        Act::Restore(n) => Event::Restore(RestoreRequest {
            by,
            reason: "r".into(),
            venue: verdict_of(*n),
            venue_summary: "v".into(),
        }),
        Act::Wait(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_sequences(live_first in any::<bool>(), acts in proptest::collection::vec(act(), 1..120)) {
        let mut rig = fast_rig(live_first);
        let mut ids = std::collections::HashSet::new();
        for act in &acts {
            if let Act::Wait(ms) = act {
                rig.advance(i64::from(*ms));
                continue;
            }
            rig.advance(TICK_MS);
            let Some(event) = event_for(&rig, act) else { continue };
            let before = rig.pipeline.clone();
            match before.step(&rig.config, &event, rig.now) {
                Err(_) => {}
                Ok(t) => {
                    let after = &t.next;
                    // Every change of state is audited, and the audit comes first.
                    if after.word() != before.word() {
                        prop_assert!(t.effects.iter().any(|e| matches!(e, Effect::Audit(_))),
                            "{:?} -> {:?} on {:?} without audit", before.word(), after.word(), event);
                    }
                    let acts = t.effects.iter().any(|e| matches!(e,
                        Effect::Activate { .. } | Effect::StopService | Effect::Kill | Effect::SetKnownGood { .. }));
                    if acts {
                        prop_assert!(matches!(t.effects[0], Effect::Audit(_)), "action before audit: {:?}", t.effects);
                    }
                    // Halted is left only by rearm.
                    if before.word() == StateWord::Halted && after.word() != StateWord::Halted {
                        prop_assert!(matches!(event, Event::Rearm { .. }), "left halted on {:?}", event);
                        prop_assert!(before.stop.as_ref().is_some_and(|s| s.settled()), "rearmed before the venue answered");
                    }
                    // A stop is answered as flat only when the kill did not
                    // fail and the verify command said flat.
                    for effect in &t.effects {
                        if let Effect::Settled { pending: Pending::Estop, ok, .. } = effect {
                            let stop = after.stop.as_ref().unwrap();
                            prop_assert_eq!(*ok, stop.kill.as_ref().unwrap().ok
                                && stop.flat.as_ref().unwrap().verdict == FlatVerdict::Flat);
                        }
                    }
                    // Exactly one release active: at most one activation per step,
                    // and something serves whenever a gate is watched.
                    let activations = t.effects.iter().filter(|e| matches!(e, Effect::Activate { .. })).count();
                    prop_assert!(activations <= 1);
                    if after.gate.is_some() {
                        prop_assert!(after.serving.is_some());
                    }
                    // Never live without passing every earlier gate (and approval when needed).
                    // A restore is the exception: the known-good release, from
                    // idle, into a venue verified flat.
                    if matches!(event, Event::Restore(_)) {
                        prop_assert_eq!(before.word(), StateWord::Idle);
                        prop_assert_eq!(after.serving.as_ref(), before.stop.as_ref().and_then(|s| s.restore_to.as_ref()));
                        prop_assert!(matches!(&event, Event::Restore(r) if r.venue == FlatVerdict::Flat));
                    } else if after.word() == StateWord::Live && before.word() != StateWord::Live
                        && before.word() != StateWord::RollingBack {
                        let deploy = after.deploy.as_ref().unwrap();
                        // (A restored release comes back live from a dropped
                        // candidate's validation: its soaks were passed before.)
                        prop_assert!(deploy.passed_all_soaks() || deploy.restore, "live without soaks: {:?}", deploy.stages);
                        if deploy.needs_approval {
                            prop_assert!(deploy.approval.is_some());
                        }
                        prop_assert_eq!(after.serving.as_ref(), Some(&deploy.release));
                    }
                    if let Phase::Live { .. } = after.phase {
                        let deploy = after.deploy.as_ref().unwrap();
                        prop_assert!(deploy.passed_all_soaks() || deploy.restore);
                        prop_assert_eq!(after.serving.as_ref(), Some(&deploy.release));
                    }
                    if let Some(d) = after.in_flight() {
                        ids.insert(d.id.clone());
                    }
                    rig.pipeline = t.next;
                }
            }
        }
        // Deploy ids are unique across the run.
        let mut all: Vec<_> = rig.pipeline.history.iter().map(|d| d.id.clone()).collect();
        all.extend(rig.pipeline.deploy.iter().map(|d| d.id.clone()));
        let unique: std::collections::HashSet<_> = all.iter().collect();
        prop_assert_eq!(unique.len(), all.len());
    }

    /// The machine's `else { return }` branches that types do not rule out
    /// yet call `impossible`, which panics in a debug build: no sequence of
    /// events (restarts, drills and estops anywhere) may reach one.
    #[test]
    fn no_sequence_reaches_an_impossible_branch(live_first in any::<bool>(), acts in proptest::collection::vec(act(), 1..200)) {
        let mut rig = fast_rig(live_first);
        for act in &acts {
            if let Act::Wait(ms) = act {
                rig.advance(i64::from(*ms));
                continue;
            }
            rig.advance(TICK_MS);
            if let Some(event) = event_for(&rig, act) {
                let _ = rig.step(event);
            }
        }
    }

    #[test]
    fn persisted_pipeline_round_trips(acts in proptest::collection::vec(act(), 1..60)) {
        let mut rig = Rig::new();
        for act in &acts {
            rig.advance(TICK_MS);
            if let Some(event) = event_for(&rig, act) {
                let _ = rig.step(event);
            }
        }
        let json = serde_json::to_string(&rig.pipeline).unwrap();
        let back: Pipeline = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, rig.pipeline);
    }
}

/// The random sequences above must actually reach the states the invariants
/// are about, or the property proves nothing.
#[test]
fn random_sequences_reach_live_rollback_and_halt() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..500 {
        let acts = proptest::collection::vec(act(), 1..120)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut rig = fast_rig(runner.rng().random_bool(0.5));
        for act in &acts {
            if let Act::Wait(ms) = act {
                rig.advance(i64::from(*ms));
                continue;
            }
            rig.advance(TICK_MS);
            if let Some(event) = event_for(&rig, act) {
                let _ = rig.step(event);
                seen.insert(rig.pipeline.word());
            }
        }
    }
    for word in [
        StateWord::Live,
        StateWord::RolledBack,
        StateWord::Halted,
        StateWord::AwaitingApproval,
    ] {
        assert!(seen.contains(&word), "never reached {word}: {seen:?}");
    }
}

fn submit_frozen(by: Actor, override_freeze: bool) -> Event {
    Event::Submit(Submission {
        release: release(1),
        tier: Tier::Balanced,
        by,
        reason: "hotfix for the venue change".into(),
        commit: None,
        promotion: None,
        freeze: Some("friday-afternoon (fri 14:00–24:00 America/New_York)".into()),
        override_freeze,
    })
}

#[test]
fn a_freeze_refuses_a_submit_naming_the_window_and_changes_nothing() {
    let mut rig = Rig::new();
    let before = rig.pipeline.clone();
    let refusal = rig.step(submit_frozen(admin("ci"), false)).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Policy);
    assert!(
        refusal.message.contains(
            "deploy freeze friday-afternoon (fri 14:00–24:00 America/New_York) is active"
        ) && refusal.message.contains("--override-freeze"),
        "{}",
        refusal.message
    );
    assert_eq!(rig.pipeline, before);
    assert!(rig.effects.is_empty());
}

#[test]
fn only_an_admin_overrides_a_freeze_and_the_override_is_audited() {
    let mut rig = Rig::new();
    let refusal = rig.step(submit_frozen(operator("ops"), true)).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Forbidden);
    let effects = rig.step(submit_frozen(admin("lead"), true)).unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Validating);
    let Some(Effect::Audit(note)) = effects.first() else {
        panic!("the submit is audited first: {effects:?}");
    };
    assert_eq!(note.kind, "deploy.submit");
    assert!(
        note.message.starts_with(
            "FREEZE OVERRIDE of friday-afternoon (fri 14:00–24:00 America/New_York): "
        ),
        "{}",
        note.message
    );
    assert_eq!(note.reason.as_deref(), Some("hotfix for the venue change"));
    assert_eq!(note.actor.as_ref().map(|a| a.name.as_str()), Some("lead"));
}

#[test]
fn no_freeze_no_override_note() {
    let mut rig = Rig::new();
    let effects = rig.step(Event::Submit(Submission {
        release: release(1),
        tier: Tier::Balanced,
        by: admin("ci"),
        reason: "r".into(),
        commit: None,
        promotion: None,
        freeze: None,
        override_freeze: true,
    }));
    let Some(Effect::Audit(note)) = effects.unwrap().first().cloned() else {
        panic!("audited");
    };
    assert!(!note.message.contains("FREEZE"), "{}", note.message);
}

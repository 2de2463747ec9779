//! A release on its way live and back: soaks, gates, rollback,
//! approvals, drills, restarts, freezes.

use super::*;

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
    let deploy = rig.pipeline.deploy().unwrap();
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
    let gate = rig2.pipeline.gate().unwrap();
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
    let p1 = Sample::of(vec![Some(1.0), Some(0.5), Some(9.0)]);
    rig.sample(p1.clone());
    rig.sample(p1.clone());
    assert_eq!(rig.pipeline.word(), StateWord::Shadow);
    rig.sample(p1);
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);

    let rig = rolling_back();
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
    let effects = rig.sample(Sample::of(vec![Some(1.0), Some(12.0), Some(0.1)]));
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack);
    assert_eq!(
        activations(&effects),
        vec![(release(1).id, Stage::Live)],
        "rollback restarts the known-good in live mode"
    );
    assert_eq!(rig.pipeline.serving, Some(release(1)));
    rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    let deploy = rig.pipeline.deploy().unwrap();
    assert!(matches!(deploy.outcome, Outcome::RolledBack(_)));
    assert_eq!(deploy.stages.last().unwrap().result, StageResult::Failed);
    // A new deploy may start from rolled_back.
    assert!(rig.submit(3).is_ok());
}

#[test]
fn known_good_failing_after_rollback_halts_instead_of_flapping() {
    let mut rig = rolling_back();
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
    let mut rig = rolling_back();
    rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
}

#[test]
fn rollback_that_never_answers_halts_at_deadline() {
    let mut rig = rolling_back();
    let p1_failing = Sample::of(vec![Some(1.0), Some(0.5), Some(9.0)]);
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
    Sample::of(vec![Some(1.0), None, Some(0.1)])
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
    // The deploy ended, and its record says which stage failed and how.
    let deploy = rig.pipeline.deploy().unwrap();
    assert_eq!(deploy.outcome.word(), OutcomeWord::Stopped);
    let shadow = deploy.stages.last().unwrap();
    assert_eq!(
        (shadow.stage, shadow.result),
        (Stage::Shadow, StageResult::Failed)
    );
    assert!(rig.pipeline.phase.deploy().is_none());
    // In canary, real money: halt with the kill command.
    let mut rig = Rig::new();
    rig.deploy_to_awaiting(1);
    let effects = rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    assert!(effects.contains(&Effect::Kill));
    let deploy = rig.pipeline.deploy().unwrap();
    assert_eq!(deploy.outcome.word(), OutcomeWord::Halted);
    let canary = deploy.stages.last().unwrap();
    assert_eq!(canary.stage, Stage::Canary);
    assert_eq!(
        canary.result,
        StageResult::Passed,
        "the soak passed before the approval wait"
    );
    assert_eq!(rig.pipeline.history.last().map(|d| &d.id), Some(&deploy.id));
}

#[test]
fn a_live_gate_failure_with_nothing_to_return_to_records_the_failed_stage() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.sample(dead());
    assert_eq!(rig.pipeline.word(), StateWord::Halted);
    let deploy = rig.pipeline.deploy().unwrap();
    let live = deploy.stages.last().unwrap();
    assert_eq!(
        (live.stage, live.result),
        (Stage::Live, StageResult::Failed)
    );
    assert!(live.detail.as_deref().unwrap().contains("process_alive"));
    assert_eq!(deploy.outcome.word(), OutcomeWord::Halted);
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
    assert_eq!(rig.pipeline.deploy(), before.deploy());
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
    let deploy = rig.pipeline.deploy().cloned().unwrap();
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
        let deploy = self.pipeline.deploy().cloned().unwrap();
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
fn operator_rollback_waits_for_healthy_known_good() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    assert!(
        rig.step(Event::Rollback {
            by: operator("oncall"),
            reason: "x".into(),
            to: None,
        })
        .unwrap_err()
        .message
        .contains("no known-good")
    );
    rig.deploy_live(2);
    rig.step(Event::Rollback {
        by: operator("oncall"),
        reason: "pnl looks off".into(),
        to: None,
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
fn named_rollback_goes_to_an_older_live_release_and_records_it_first() {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.deploy_live(2);
    rig.deploy_live(3);
    let to = |name: &str| Event::Rollback {
        by: operator("oncall"),
        reason: "back two".into(),
        to: Some(name.into()),
    };
    let effects = rig.step(to(&release(1).id)).unwrap();
    // Audit entries lead; previous.env names the target before the restart.
    assert!(matches!(&effects[0], Effect::Audit(n) if n.message.contains(&release(1).id)));
    let known = effects
        .iter()
        .position(|e| matches!(e, Effect::SetKnownGood { release: r } if *r == release(1)))
        .expect("previous.env follows");
    let activate = effects
        .iter()
        .position(|e| matches!(e, Effect::Activate { release: r, .. } if *r == release(1)))
        .expect("the target starts");
    assert!(known < activate);
    rig.sample(healthy());
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    assert_eq!(rig.pipeline.serving, Some(release(1)));
    // A digest prefix names it too; the serving one is refused.
    let refusal = rig.step(to(&release(1).digest[..8])).unwrap_err();
    assert!(refusal.message.contains("already serving"), "{refusal}");
}

#[test]
fn named_rollback_is_refused_for_a_release_that_never_passed_live_and_when_halted() {
    let mut rig = rolling_back();
    rig.sample(healthy());
    rig.deploy_live(3);
    let to = |n: u8| Event::Rollback {
        by: operator("oncall"),
        reason: "r".into(),
        to: Some(release(n).id),
    };
    let refusal = rig.step(to(2)).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Policy);
    assert!(
        refusal
            .message
            .contains(&format!("release {} never passed live", release(2).id)),
        "{refusal}"
    );
    assert!(rig.step(to(9)).unwrap_err().message.contains("no release"));
    rig.step(Event::Estop {
        by: operator("oncall"),
        reason: "outage".into(),
    })
    .unwrap();
    let refusal = rig.step(to(1)).unwrap_err();
    assert!(
        refusal
            .message
            .starts_with(&format!("halted: rollback to {} refused", release(1).id)),
        "{refusal}"
    );
}

/// Issue 15: the 30-day drill warning counts from the first time a
/// release went live on the host, which a later deploy does not move.
#[test]
fn the_first_time_live_is_kept_across_deploys() {
    let mut rig = Rig::new();
    assert_eq!(rig.pipeline.first_live_at, None);
    rig.deploy_live(1);
    let first = rig.pipeline.first_live_at.expect("set on going live");
    assert!(first <= rig.now);
    rig.advance(60_000);
    rig.deploy_live(2);
    assert_eq!(rig.pipeline.first_live_at, Some(first));
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

#[test]
fn an_approval_left_waiting_escalates_once_per_threshold() {
    let mut rig = Rig::new();
    rig.deploy_to_awaiting(1);
    let pages = |effects: &[Effect]| {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Alert { priority: Priority::P1, title } if title.contains("has waited")))
            .count()
    };
    rig.advance(59_000);
    assert_eq!(pages(&rig.sample(healthy())), 0, "not before 60 s");
    rig.advance(2_000);
    let effects = rig.sample(healthy());
    assert_eq!(pages(&effects), 1);
    assert!(matches!(&effects[0], Effect::Audit(n) if n.kind == AuditKind::ApprovalEscalated));
    rig.advance(1_000);
    assert_eq!(pages(&rig.sample(healthy())), 0, "once per threshold");
    rig.advance(60_000);
    assert_eq!(pages(&rig.sample(healthy())), 1, "the second threshold");
    rig.advance(600_000);
    assert_eq!(pages(&rig.sample(healthy())), 0, "no third");
    assert_eq!(rig.pipeline.word(), StateWord::AwaitingApproval);
}

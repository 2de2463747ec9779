//! The emergency stop, the venue's answers, rearm and restore.

use super::*;

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
    let deploy = rig.pipeline.deploy().unwrap();
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

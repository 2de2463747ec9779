//! Random event sequences, checked against the machine's invariants.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Act {
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

pub(super) fn event_for(rig: &Rig, act: &Act) -> Option<Event> {
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
            2 => Sample::of(vec![Some(1.0), Some(5.0), Some(0.1)]),
            _ => healthy(),
        }),
        Act::Approve(right) => {
            let deploy = rig.pipeline.deploy().cloned()?;
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
            to: None,
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
                        prop_assert!(matches!(t.effects.first(), Some(Effect::Audit(_))),
                            "{:?} -> {:?} on {:?} not audited first: {:?}", before.word(), after.word(), event, t.effects);
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
                    if after.gate().is_some() {
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
                        let deploy = after.deploy().unwrap();
                        // (A restored release comes back live from a dropped
                        // candidate's validation: its soaks were passed before.)
                        prop_assert!(deploy.passed_all_soaks() || deploy.restore, "live without soaks: {:?}", deploy.stages);
                        if deploy.needs_approval {
                            prop_assert!(deploy.approval.is_some());
                        }
                        prop_assert_eq!(after.serving.as_ref(), Some(&deploy.release));
                    }
                    if let Phase::Live { .. } = after.phase {
                        let deploy = after.deploy().unwrap();
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
        all.extend(rig.pipeline.phase.deploy().into_iter().map(|d| d.id.clone()));
        let unique: std::collections::HashSet<_> = all.iter().collect();
        prop_assert_eq!(unique.len(), all.len());
    }

    /// No sequence of events (restarts, drills and estops anywhere) makes
    /// the machine panic: a debug build checks every assertion and overflow
    /// on the way. (The phases carry their deploy and gate, so no branch
    /// has to return early for want of one.)
    #[test]
    fn no_sequence_panics(live_first in any::<bool>(), acts in proptest::collection::vec(act(), 1..200)) {
        let mut rig = fast_rig(live_first);
        for act in &acts {
            let _ = rig.play(act);
        }
    }

    #[test]
    fn persisted_pipeline_round_trips(acts in proptest::collection::vec(act(), 1..60)) {
        let mut rig = Rig::new();
        for act in &acts {
            let _ = rig.play(act);
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
            if rig.play(act).is_some() {
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

//! Check conditions and actions: a two-sided band, a `warn` check that
//! alerts once per failing streak in each stage's gate and lets the deploy
//! go on, an `observe` check that never acts; a check judged against the
//! known-good release's recorded window.

use super::*;

/// The rig's config with one more check, `extra`, on a fourth value.
fn rig_with(condition: Condition, action: Action) -> Rig {
    let mut config = config();
    config.checks.push(CheckSpec {
        name: "extra".into(),
        condition: Some(condition),
        baseline: None,
        action,
        severity: Severity::P0,
        stages: Stage::ALL.to_vec(),
        consecutive: 1,
        stale_after_ms: 1_000,
    });
    Rig::with(config)
}

fn with_extra(value: Option<f64>) -> Sample {
    let mut sample = healthy();
    sample.values.push(value);
    sample
}

/// A first deploy stopped (nothing known-good to return to), its failed
/// stage saying `words`.
fn assert_stopped_saying(rig: &Rig, words: &str) {
    assert_eq!(rig.pipeline.word(), StateWord::Idle);
    let failed = rig.pipeline.deploy().unwrap().stages.last().unwrap();
    let detail = failed.detail.as_deref().unwrap_or_default();
    assert!(detail.contains(words), "{failed:?}");
}

fn alerts(effects: &[Effect]) -> Vec<(Priority, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Alert { priority, title } => Some((*priority, title.clone())),
            _ => None,
        })
        .collect()
}

fn audit_kinds(effects: &[Effect]) -> Vec<AuditKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(note) => Some(note.kind.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_band_holds_inside_and_fails_on_either_side() {
    let band = Condition::Between {
        lo: -500.0,
        hi: 1_000.0,
    };
    assert!(band.holds(-500.0) && band.holds(0.0) && band.holds(1_000.0));
    assert!(!band.holds(-500.1) && !band.holds(1_000.1) && !band.holds(f64::NAN));
    assert_eq!(band.to_string(), "in [-500, 1000]");
    for outside in [-501.0, 2_000.0] {
        let mut rig = rig_with(band, Action::Rollback);
        rig.submit(1).unwrap();
        rig.validated();
        rig.sample(with_extra(Some(-20.0)));
        assert_eq!(
            rig.pipeline.word(),
            StateWord::Shadow,
            "negative inside the band holds"
        );
        rig.sample(with_extra(Some(outside)));
        // {outside} is outside: a first deploy stops.
        assert_stopped_saying(&rig, "breaks in [-500, 1000]");
    }
}

#[test]
fn a_warn_check_alerts_once_per_streak_and_the_deploy_goes_on() {
    let mut rig = rig_with(
        Condition::Compare {
            comparison: Comparison::Lt,
            limit: 1.0,
        },
        Action::Warn,
    );
    rig.submit(1).unwrap();
    rig.validated();
    let first = rig.step(Event::Sampled(with_extra(Some(5.0)))).unwrap();
    assert_eq!(audit_kinds(&first), [AuditKind::GateWarn]);
    let warned = alerts(&first);
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].0, Priority::P2);
    assert!(
        warned[0].1.contains("extra = 5 breaks < 1"),
        "{:?}",
        warned[0]
    );
    let gate = rig.pipeline.gate().unwrap();
    assert_eq!(gate.checks[3].status, CheckStatus::Failing, "shown failing");
    // Still failing: no second alert in shadow; the soak runs on and
    // passes, and paper's gate, a new one, warns once more.
    let mut later = Vec::new();
    for _ in 0..12 {
        rig.advance(TICK_MS);
        later.extend(rig.step(Event::Sampled(with_extra(Some(5.0)))).unwrap());
    }
    assert_eq!(
        rig.pipeline.word(),
        StateWord::Paper,
        "a warning never rolls back"
    );
    let warned_in: Vec<StateWord> = later
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(note) if note.kind == AuditKind::GateWarn => Some(note.state),
            _ => None,
        })
        .collect();
    assert_eq!(warned_in, [StateWord::Paper]);
    // Back to ok, then failing again: a new streak, a new alert.
    rig.advance(TICK_MS);
    rig.step(Event::Sampled(with_extra(Some(0.5)))).unwrap();
    rig.advance(TICK_MS);
    let again = rig.step(Event::Sampled(with_extra(Some(7.0)))).unwrap();
    assert_eq!(audit_kinds(&again), [AuditKind::GateWarn]);
}

#[test]
fn an_observe_check_is_shown_and_never_acts() {
    let mut rig = rig_with(
        Condition::Compare {
            comparison: Comparison::Lt,
            limit: 1.0,
        },
        Action::Observe,
    );
    rig.submit(1).unwrap();
    rig.validated();
    let mut effects = Vec::new();
    for _ in 0..12 {
        rig.advance(TICK_MS);
        effects.extend(rig.step(Event::Sampled(with_extra(Some(9.0)))).unwrap());
    }
    assert!(alerts(&effects).iter().all(|(_, t)| !t.contains("extra")));
    assert!(!audit_kinds(&effects).contains(&AuditKind::GateWarn));
    assert_eq!(rig.pipeline.word(), StateWord::Paper);
    // No data for an observed check never fails the gate either.
    for _ in 0..12 {
        rig.advance(TICK_MS);
        rig.step(Event::Sampled(with_extra(None))).unwrap();
    }
    assert_eq!(rig.pipeline.word(), StateWord::Canary);
    assert_eq!(
        rig.pipeline.gate().unwrap().checks[3].status,
        CheckStatus::NoData
    );
}

/// A P0 check judged only against `source`: fails at twice the baseline's
/// median, in `stages`.
fn baseline_check(
    source: BaselineSource,
    min_samples: usize,
    max_extend_ms: u64,
    stages: &[Stage],
) -> CheckSpec {
    CheckSpec {
        name: "latency".into(),
        condition: None,
        baseline: Some(BaselineSpec {
            source,
            rule: crate::pipeline::baseline::BaselineRule {
                max_ratio: Some(2.0),
                max_delta: None,
                direction: crate::pipeline::baseline::Direction::Increase,
                min_samples,
                test: crate::pipeline::baseline::Test::Median,
            },
            max_extend_ms,
        }),
        action: Action::Rollback,
        severity: Severity::P0,
        stages: stages.to_vec(),
        consecutive: 1,
        stale_after_ms: 1_000,
    }
}

fn baseline_rig(max_extend_ms: u64) -> Rig {
    let mut config = config();
    config.checks.push(baseline_check(
        BaselineSource::KnownGood,
        5,
        max_extend_ms,
        &Stage::ALL[1..],
    ));
    Rig::with(config)
}

/// Healthy samples with `latency` until the state changes or `max_ms` pass.
fn run_with(rig: &mut Rig, latency: f64, max_ms: i64) {
    let start = rig.pipeline.word();
    let mut waited = 0;
    while rig.pipeline.word() == start && waited < max_ms {
        rig.sample(with_extra(Some(latency)));
        waited += TICK_MS;
    }
}

fn to_live(rig: &mut Rig, n: u8, latency: f64) {
    rig.submit(n).unwrap();
    rig.validated();
    for _ in 0..3 {
        run_with(rig, latency, 10_000);
    }
    assert_eq!(rig.pipeline.word(), StateWord::AwaitingApproval);
    rig.approve_as(operator("oncall")).unwrap();
    assert_eq!(rig.pipeline.word(), StateWord::Live);
}

#[test]
fn a_candidate_four_times_slower_than_the_known_good_is_rolled_back_naming_both() {
    let mut rig = baseline_rig(30_000);
    // A first deploy has nothing to compare with: judged by its limits
    // alone, the baseline check shown n/a, never ok.
    rig.submit(1).unwrap();
    rig.validated();
    run_with(&mut rig, 0.010, 10_000);
    rig.sample(with_extra(Some(0.010)));
    assert_eq!(rig.pipeline.word(), StateWord::Paper);
    let gate = rig.pipeline.gate().unwrap();
    assert_eq!(gate.checks[3].status, CheckStatus::NotApplicable);
    for _ in 0..2 {
        run_with(&mut rig, 0.010, 10_000);
    }
    rig.approve_as(operator("oncall")).unwrap();
    for _ in 0..20 {
        rig.sample(with_extra(Some(0.010)));
    }
    // The known-good's window was recorded while it soaked and served.
    let window = &rig.pipeline.windows[0];
    assert_eq!(window.digest, release(1).digest);
    assert!(window.values["latency"].len() >= 20);

    rig.submit(2).unwrap();
    rig.validated();
    run_with(&mut rig, 0.041, 10_000);
    assert_eq!(
        rig.pipeline.word(),
        StateWord::Paper,
        "shadow is not judged"
    );
    let effects = {
        let mut all = Vec::new();
        for _ in 0..40 {
            all.extend(rig.sample(with_extra(Some(0.041))));
            if rig.pipeline.word() != StateWord::Paper {
                break;
            }
        }
        all
    };
    assert_eq!(
        rig.pipeline.word(),
        StateWord::RollingBack,
        "rolled back by the baseline"
    );
    let fail = effects
        .iter()
        .find_map(|e| match e {
            Effect::Audit(note) if note.kind == AuditKind::GateFail => Some(note.message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        fail.contains("candidate 0.041")
            && fail.contains("baseline 0.01")
            && fail.contains("×4.10"),
        "{fail}"
    );
    // The known-good, just restarted, serves no latency yet: a check it
    // cannot be judged by does not hold its healthy answer back.
    rig.sample(with_extra(None));
    assert_eq!(rig.pipeline.word(), StateWord::RolledBack);
    let gate = rig.pipeline.gate().unwrap();
    assert_eq!(gate.checks[3].status, CheckStatus::NotApplicable);
}

#[test]
fn thin_baseline_evidence_holds_the_soak_then_fails_closed() {
    let mut rig = baseline_rig(2_000);
    to_live(&mut rig, 1, 0.010);
    // Nothing recorded of the known-good: the window is emptied.
    rig.pipeline.windows.clear();
    rig.submit(2).unwrap();
    rig.validated();
    run_with(&mut rig, 0.010, 10_000);
    run_with(&mut rig, 0.010, 1_500);
    assert_eq!(
        rig.pipeline.word(),
        StateWord::Paper,
        "the soak waits for evidence"
    );
    let gate = rig.pipeline.gate().unwrap();
    assert_eq!(gate.checks[3].status, CheckStatus::NoData);
    run_with(&mut rig, 0.010, 5_000);
    assert_eq!(rig.pipeline.word(), StateWord::RollingBack, "fails closed");
    let deploy = rig.pipeline.phase.deploy().unwrap();
    let paper = deploy.stages.last().unwrap();
    assert!(
        paper
            .detail
            .as_deref()
            .unwrap()
            .contains("baseline evidence still no data"),
        "{paper:?}"
    );
}

fn evidence_rig() -> Rig {
    let mut config = config();
    config.evidence = Some(EvidenceRule {
        noun: "fills".into(),
        min_per_stage: [0, 6, 6],
        quiet_ms: 1_000,
    });
    Rig::with(config)
}

fn market(open: bool, fills: f64) -> Sample {
    let mut sample = healthy();
    sample.session_open = Some(open);
    sample.evidence = Some(fills);
    sample
}

fn soak_paused(rig: &Rig) -> Option<String> {
    match &rig.pipeline.phase {
        Phase::Soaking { soak, .. } => soak.paused.clone(),
        _ => None,
    }
}

#[test]
fn a_soak_counts_only_while_the_market_trades_and_needs_its_fills() {
    let mut rig = evidence_rig();
    rig.submit(1).unwrap();
    rig.validated();
    // Shadow needs no fills, and a closed market pauses its clock too.
    for _ in 0..12 {
        rig.sample(market(false, 0.0));
    }
    assert_eq!(rig.pipeline.word(), StateWord::Shadow);
    assert_eq!(
        soak_paused(&rig).as_deref(),
        Some("soak paused: market closed")
    );
    for _ in 0..10 {
        rig.sample(market(true, 0.0));
    }
    assert_eq!(rig.pipeline.word(), StateWord::Paper);
    // Paper: open, but no fills: the clock runs only until the counter has
    // been quiet too long, and the stage waits for its share.
    let mut fills = 0.0;
    for _ in 0..20 {
        rig.sample(market(true, fills));
    }
    assert_eq!(rig.pipeline.word(), StateWord::Paper);
    let why = soak_paused(&rig).unwrap();
    assert!(why.contains("no new fills") && why.contains("0/6"), "{why}");
    // Fills arrive (with a counter reset on the way): it completes.
    for n in 0..16 {
        fills = if n == 8 { 1.0 } else { fills + 1.0 };
        rig.sample(market(true, fills));
        if rig.pipeline.word() != StateWord::Paper {
            break;
        }
    }
    assert_eq!(
        rig.pipeline.word(),
        StateWord::Canary,
        "{:?}",
        soak_paused(&rig)
    );
    let paper = &rig.pipeline.deploy().unwrap().stages[1];
    assert_eq!(paper.result, StageResult::Passed);
}

#[test]
fn time_alone_is_not_enough_the_stage_waits_for_fills() {
    let mut rig = evidence_rig();
    rig.submit(1).unwrap();
    rig.validated();
    rig.run_healthy(10_000);
    // Fills trickle: one every other sample, the soak's time is up before
    // six have come.
    let mut fills = 0.0;
    for n in 0..10 {
        if n % 2 == 0 {
            fills += 0.5;
        }
        rig.sample(market(true, fills));
    }
    assert_eq!(rig.pipeline.word(), StateWord::Paper);
    let why = soak_paused(&rig).unwrap();
    assert_eq!(why, "waiting for fills 2/6");
}

#[test]
fn an_unreachable_baseline_host_is_no_data_never_a_pass() {
    let mut config = config();
    let host = BaselineSource::Url("http://127.0.0.1:9/metrics".into());
    config
        .checks
        .push(baseline_check(host, 3, 1_000, &Stage::ALL));
    let mut rig = Rig::with(config);
    rig.submit(1).unwrap();
    rig.validated();
    // The candidate answers; the baseline host never does.
    let mut sample = with_extra(Some(0.01));
    sample.baselines = vec![None; 4];
    rig.sample(sample.clone());
    let state = &rig.pipeline.gate().unwrap().checks[3];
    assert_eq!(state.status, CheckStatus::NoData);
    assert_ne!(state.status, CheckStatus::Ok);
    for _ in 0..8 {
        rig.sample(sample.clone());
    }
    // Fails closed: a first deploy stops.
    assert_stopped_saying(&rig, "baseline evidence still no data");
}

#[test]
fn silence_while_the_service_restarted_is_not_held_against_it() {
    let mut rig = Rig::new();
    rig.submit(1).unwrap();
    rig.validated();
    // The restart took 3 s (a slow stop): nothing was sampled meanwhile.
    rig.advance(3_000);
    let started = rig.now;
    let mut sample = no_data();
    sample.service_since = Some(started);
    rig.sample(sample.clone());
    assert_eq!(
        rig.pipeline.word(),
        StateWord::Shadow,
        "its own second of silence only"
    );
    // Its own silence still counts: past the staleness limit, it fails.
    for _ in 0..5 {
        rig.sample(sample.clone());
    }
    assert_eq!(rig.pipeline.word(), StateWord::Idle);
}

/// The known-good window asks for a checkpoint every 25 samples. When that
/// sample also ends a soak, the entry recording the change must still come
/// before any save: the agent writes the leading entries, then the state
/// (a kill -9 between the two once resumed in canary with no record).
#[test]
fn a_change_of_state_is_recorded_before_any_save_whatever_the_sample_count() {
    // Soaks of 2 s to 8 s: one of them ends on a 25th window sample.
    for extra_ticks in 0..25u64 {
        let mut rig = baseline_rig(30_000);
        rig.config.soak_ms = [SOAK_MS + extra_ticks * TICK_MS as u64; 3];
        rig.submit(1).unwrap();
        rig.validated();
        for _ in 0..200 {
            let before = rig.pipeline.word();
            let effects = rig.sample(with_extra(Some(0.010)));
            if rig.pipeline.word() != before {
                assert!(
                    matches!(effects.first(), Some(Effect::Audit(_))),
                    "soak +{extra_ticks} ticks: {before} -> {} with {effects:?}",
                    rig.pipeline.word()
                );
            }
        }
        assert_eq!(rig.pipeline.word(), StateWord::AwaitingApproval);
    }
}

//! The machine's tests on virtual time: the rig that drives it (here),
//! scenarios of a release on its way live and back (`deploying`), the
//! emergency stop, rearm and restore (`stopping`), and property tests
//! over random event sequences checked against the invariants
//! (`properties`).

mod checks;
mod deploying;
mod properties;
mod stopping;

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
        condition: Some(Condition::Compare {
            comparison: cmp,
            limit,
        }),
        baseline: None,
        action: Action::Rollback,
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
        evidence: None,
        escalate_after_ms: vec![60_000, 120_000],
    }
}

fn healthy() -> Sample {
    Sample::of(vec![Some(1.0), Some(0.5), Some(0.1)])
}

fn dead() -> Sample {
    Sample::of(vec![Some(0.0), None, None])
}

fn no_data() -> Sample {
    Sample::of(vec![Some(1.0), None, None])
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

    /// Plays one random act: waits, or steps its event one tick later.
    /// Returns what the step said, if an event was stepped.
    fn play(&mut self, act: &properties::Act) -> Option<Result<Vec<Effect>, Refusal>> {
        if let properties::Act::Wait(ms) = act {
            self.advance(i64::from(*ms));
            return None;
        }
        self.advance(TICK_MS);
        let event = properties::event_for(self, act)?;
        Some(self.step(event))
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
        let deploy = self.pipeline.deploy().cloned().unwrap();
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

/// Release 1 live, release 2 failed its shadow gate: rolling back to 1.
fn rolling_back() -> Rig {
    let mut rig = Rig::new();
    rig.deploy_live(1);
    rig.submit(2).unwrap();
    rig.validated();
    rig.sample(dead());
    rig
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

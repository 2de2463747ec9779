//! The rollback drill: back to the known-good, verified, and forward again.

use super::{
    Config, Drill, DrillStep, Effect, Pending, Phase, Pipeline, Priority, Refusal, RefusalKind,
    Soak, seconds,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::Gate;
use crate::pipeline::gate::{Breach, Verdict};
use crate::pipeline::policy::Actor;
use crate::pipeline::policy::Stage;

impl Pipeline {
    pub(super) fn drill(
        &mut self,
        config: &Config,
        by: &Actor,
        reason: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Phase::Live {
            watch,
            watch_done,
            deploy,
            ..
        } = &self.phase
        else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("a drill needs a live release (state {})", self.word()),
            ));
        };
        let (watch, watch_done, deploy) = (watch.clone(), *watch_done, deploy.clone());
        let (Some(drilled), Some(known_good)) = (self.serving.clone(), self.known_good.clone())
        else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "a drill needs a known-good release to roll back to",
            ));
        };
        if drilled == known_good {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "a drill needs a known-good release different from the live one",
            ));
        }
        out.push(Effect::Audit(self.human_note(
            AuditKind::DrillStart,
            by,
            reason,
            format!(
                "drill: injected gate failure on {}; rolling back to {}",
                drilled.id, known_good.id
            ),
        )));
        self.serving = Some(known_good.clone());
        self.phase = Phase::Drilling(Box::new(Drill {
            step: DrillStep::Back,
            since: now,
            deadline: now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64),
            drilled,
            known_good_healthy: false,
            watch: Soak {
                healthy_at: None,
                ..watch
            },
            watch_done,
            deploy,
            gate: Gate::new(Stage::Live, &config.checks, now),
        }));
        out.push(Effect::Activate {
            release: known_good,
            stage: Stage::Live,
        });
        out.push(Effect::Persist);
        Ok(())
    }

    /// A sample (or a failed start) during a drill; `drill` is the
    /// drilling phase's.
    pub(super) fn drill_sampled(
        &mut self,
        config: &Config,
        drill: Drill,
        verdict: Verdict,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let Drill {
            step,
            deadline,
            drilled,
            known_good_healthy,
            watch,
            watch_done,
            deploy,
            gate,
            ..
        } = drill;
        let settled = match verdict {
            Verdict::Healthy => Some((true, String::new())),
            Verdict::Breach(breach) => Some((false, breach.detail)),
            Verdict::Unsettled if now >= deadline => Some((
                false,
                format!("not healthy within {}", seconds(config.verify_timeout_ms)),
            )),
            Verdict::Unsettled => None,
        };
        let Some((healthy, detail)) = settled else {
            return;
        };
        match step {
            DrillStep::Back => {
                let message = if healthy {
                    format!(
                        "drill: known-good {} answered healthy; rolling forward to {}",
                        self.serving_id(),
                        drilled.id
                    )
                } else {
                    format!(
                        "drill: known-good {} did NOT answer healthy ({detail}); rolling forward to {}",
                        self.serving_id(),
                        drilled.id
                    )
                };
                out.push(Effect::Audit(self.note(AuditKind::DrillBack, message)));
                self.serving = Some(drilled.clone());
                self.phase = Phase::Drilling(Box::new(Drill {
                    step: DrillStep::Forward,
                    since: now,
                    deadline: now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64),
                    drilled: drilled.clone(),
                    known_good_healthy: healthy,
                    watch,
                    watch_done,
                    deploy,
                    gate: Gate::new(Stage::Live, &config.checks, now),
                }));
                out.push(Effect::Activate {
                    release: drilled,
                    stage: Stage::Live,
                });
                out.push(Effect::Persist);
            }
            DrillStep::Forward if healthy => {
                self.phase = Phase::Live {
                    since: now,
                    watch,
                    watch_done,
                    deploy,
                    gate,
                };
                if known_good_healthy {
                    // Only a drill that proved the way back counts.
                    self.last_drill_at = Some(now);
                }
                let ok = known_good_healthy;
                let message = if ok {
                    format!("drill passed: rolled back and forward, {} live", drilled.id)
                } else {
                    format!(
                        "drill FAILED: the known-good release did not answer healthy; {} live again",
                        drilled.id
                    )
                };
                out.push(Effect::Audit(
                    self.note(AuditKind::DrillDone, message.clone()),
                ));
                if !ok {
                    out.push(Effect::Alert {
                        priority: Priority::P0,
                        title: message.clone(),
                    });
                }
                out.push(Effect::Persist);
                out.push(Effect::Settled {
                    pending: Pending::Drill,
                    ok,
                    message,
                });
            }
            DrillStep::Forward => {
                // The release that was live fails after coming back: treat it
                // as any live gate failure.
                self.phase = Phase::Live {
                    since: now,
                    watch,
                    watch_done,
                    deploy: deploy.clone(),
                    gate,
                };
                let message = format!(
                    "drill: {} failed after rolling forward: {detail}",
                    drilled.id
                );
                let breach = Breach {
                    check: "drill".into(),
                    detail,
                };
                // The failure is recorded (and acted on) before the reply.
                self.gate_failed(config, Stage::Live, *deploy, &breach, now, out);
                out.push(Effect::Settled {
                    pending: Pending::Drill,
                    ok: false,
                    message,
                });
            }
        }
    }
}

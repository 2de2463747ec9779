//! Rolling back to the known-good release and verifying it, by a failed
//! gate or by an operator.

use super::{
    Config, Effect, Halt, Outcome, Pending, Phase, Pipeline, Priority, Refusal, RefusalKind,
    StageResult,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::Gate;
use crate::pipeline::policy::Actor;
use crate::pipeline::policy::Stage;

impl Pipeline {
    pub(super) fn start_rollback(
        &mut self,
        config: &Config,
        stage: Stage,
        cause: &str,
        requested: bool,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let known_good = self
            .known_good
            .clone()
            .filter(|kg| self.serving.as_ref() != Some(kg));
        match known_good {
            Some(known_good) => {
                self.serving = Some(known_good.clone());
                self.phase = Phase::RollingBack {
                    since: now,
                    deadline: now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64),
                    cause: cause.to_string(),
                    requested,
                };
                self.gate = Some(Gate::new(Stage::Live, &config.checks, now));
                out.push(Effect::Audit(self.note(
                    AuditKind::RollbackStart,
                    format!("rolling back to known-good release {}", known_good.id),
                )));
                out.push(Effect::Alert {
                    priority: Priority::P0,
                    title: format!("rolling back to {}: {cause}", known_good.id),
                });
                out.push(Effect::Activate {
                    release: known_good,
                    stage: Stage::Live,
                });
                out.push(Effect::Persist);
            }
            None if matches!(stage, Stage::Canary | Stage::Live) => {
                // Real money was at stake and there is nothing to return to.
                let reason = format!("{cause}; no known-good release to return to");
                self.halt(Halt::Fault(reason), now, out);
            }
            None => {
                let message =
                    format!("{cause}; no known-good release to return to: service stopped");
                if let Some(deploy) = &mut self.deploy {
                    deploy.finish(Outcome::Stopped(message.clone()), now);
                }
                self.phase = Phase::Idle;
                self.gate = None;
                out.push(Effect::Audit(
                    self.note(AuditKind::DeployStopped, message.clone()),
                ));
                out.push(Effect::StopService);
                out.push(Effect::Alert {
                    priority: Priority::P0,
                    title: message,
                });
                out.push(Effect::Persist);
            }
        }
    }

    pub(super) fn rolled_back(
        &mut self,
        requested: bool,
        passing: usize,
        total: usize,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let cause = match &self.phase {
            Phase::RollingBack { cause, .. } => cause.clone(),
            _ => String::new(),
        };
        if let Some(deploy) = &mut self.deploy {
            deploy.finish(Outcome::RolledBack(cause.clone()), now);
        }
        self.phase = Phase::RolledBack { since: now };
        let message = format!(
            "rolled back to {}: healthy, {passing}/{total} checks",
            self.serving_id()
        );
        out.push(Effect::Audit(
            self.note(AuditKind::RollbackDone, message.clone()),
        ));
        out.push(Effect::Alert {
            priority: Priority::P0,
            title: format!("rolled back to {} ({cause})", self.serving_id()),
        });
        out.push(Effect::Persist);
        if requested {
            out.push(Effect::Settled {
                pending: Pending::Rollback,
                ok: true,
                message,
            });
        }
    }

    pub(super) fn rollback_requested(
        &mut self,
        config: &Config,
        by: &Actor,
        reason: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let stage = match &self.phase {
            Phase::Soaking { stage, .. } => *stage,
            Phase::AwaitingApproval { .. } => Stage::Canary,
            Phase::Live { .. } => Stage::Live,
            _ => {
                return Err(Refusal::new(
                    RefusalKind::Policy,
                    format!("nothing to roll back (state {})", self.word()),
                ));
            }
        };
        if self.known_good.is_none() || self.known_good == self.serving {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "no known-good release to roll back to; use estop to stop the service",
            ));
        }
        let cause = format!("rollback by {}: {reason}", by.who());
        out.push(Effect::Audit(self.human_note(
            AuditKind::Rollback,
            by,
            reason,
            format!("rollback requested in {}", self.word()),
        )));
        if let Some(deploy) = &mut self.deploy {
            deploy.close_stage(now, StageResult::Aborted, Some(cause.clone()));
        }
        self.start_rollback(config, stage, &cause, true, now, out);
        Ok(())
    }
}

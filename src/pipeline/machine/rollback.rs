//! Rolling back to the known-good release and verifying it, by a failed
//! gate or by an operator.

use super::{
    Config, Deploy, Effect, Halt, Outcome, Pending, Phase, Pipeline, Priority, Refusal,
    RefusalKind, StageResult,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::Gate;
use crate::pipeline::policy::Actor;
use crate::pipeline::policy::Stage;

/// Why a rollback starts: a failed gate, or a person whose reply waits
/// for the known-good to answer.
pub(super) struct RollbackCause {
    pub detail: String,
    pub requested: bool,
}

impl Pipeline {
    /// Returns to the known-good release (or stops, or halts, when there is
    /// none). `deploy` is the one being rolled back, its stage closed.
    pub(super) fn start_rollback(
        &mut self,
        config: &Config,
        stage: Stage,
        mut deploy: Deploy,
        cause: RollbackCause,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let RollbackCause { detail, requested } = cause;
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
                    cause: detail.clone(),
                    requested,
                    deploy: Box::new(deploy),
                    gate: Gate::new(Stage::Live, &config.checks, now),
                };
                out.push(Effect::Audit(self.note(
                    AuditKind::RollbackStart,
                    format!("rolling back to known-good release {}", known_good.id),
                )));
                out.push(Effect::Alert {
                    priority: Priority::P0,
                    title: format!("rolling back to {}: {detail}", known_good.id),
                });
                out.push(Effect::Activate {
                    release: known_good,
                    stage: Stage::Live,
                });
                out.push(Effect::Persist);
            }
            None if matches!(stage, Stage::Canary | Stage::Live) => {
                // Real money was at stake and there is nothing to return to.
                let reason = format!("{detail}; no known-good release to return to");
                self.halt_with(Halt::Fault(reason), Some(deploy), now, out);
            }
            None => {
                let message =
                    format!("{detail}; no known-good release to return to: service stopped");
                deploy.finish(Outcome::Stopped(message.clone()), now);
                self.push_history(deploy);
                self.phase = Phase::Idle;
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

    /// The known-good answered healthy: the rollback is done. `deploy`,
    /// `cause` and `gate` are the rolling-back phase's.
    pub(super) fn rolled_back(
        &mut self,
        config: &Config,
        mut deploy: Deploy,
        cause: RollbackCause,
        gate: Gate,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let RollbackCause { detail, requested } = cause;
        let (passing, total) = gate.tally(&config.checks);
        deploy.finish(Outcome::RolledBack(detail.clone()), now);
        self.push_history(deploy);
        self.phase = Phase::RolledBack { since: now, gate };
        let message = format!(
            "rolled back to {}: healthy, {passing}/{total} checks",
            self.serving_id()
        );
        out.push(Effect::Audit(
            self.note(AuditKind::RollbackDone, message.clone()),
        ));
        out.push(Effect::Alert {
            priority: Priority::P0,
            title: format!("rolled back to {} ({detail})", self.serving_id()),
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
        let (stage, deploy) = match &self.phase {
            Phase::Soaking { stage, deploy, .. } => (*stage, deploy),
            Phase::AwaitingApproval { deploy, .. } => (Stage::Canary, deploy),
            Phase::Live { deploy, .. } => (Stage::Live, deploy),
            _ => {
                return Err(Refusal::new(
                    RefusalKind::Policy,
                    format!("nothing to roll back (state {})", self.word()),
                ));
            }
        };
        let mut deploy = (**deploy).clone();
        if self.known_good.is_none() || self.known_good == self.serving {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "no known-good release to roll back to; use estop to stop the service",
            ));
        }
        let detail = format!("rollback by {}: {reason}", by.who());
        out.push(Effect::Audit(self.human_note(
            AuditKind::Rollback,
            by,
            reason,
            format!("rollback requested in {}", self.word()),
        )));
        deploy.close_stage(now, StageResult::Aborted, Some(detail.clone()));
        let cause = RollbackCause {
            detail,
            requested: true,
        };
        self.start_rollback(config, stage, deploy, cause, now, out);
        Ok(())
    }

    /// `rollback --to NAME`: as a requested rollback, to a release that
    /// passed live here before. It becomes the known-good (previous.env
    /// follows before the restart), so a failure while it is verified
    /// halts, as a failing known-good does.
    pub(super) fn rollback_to_requested(
        &mut self,
        config: &Config,
        by: &Actor,
        reason: &str,
        name: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        // Halted and idle first: nothing may start there but a restore.
        if matches!(self.phase, Phase::Halted { .. } | Phase::Idle) {
            return Err(self.refuse_named_rollback_in(name));
        }
        let target = self.return_target(name)?;
        let (stage, deploy) = match &self.phase {
            Phase::Soaking { stage, deploy, .. } => (*stage, deploy),
            Phase::AwaitingApproval { deploy, .. } => (Stage::Canary, deploy),
            Phase::Live { deploy, .. } => (Stage::Live, deploy),
            _ => return Err(self.refuse_named_rollback_in(&target.id)),
        };
        let mut deploy = (**deploy).clone();
        let detail = format!("rollback by {} to {}: {reason}", by.who(), target.id);
        out.push(Effect::Audit(self.human_note(
            AuditKind::Rollback,
            by,
            reason,
            format!(
                "rollback to {} (sha256 {}) requested in {}",
                target.id,
                super::short(&target.digest),
                self.word()
            ),
        )));
        deploy.close_stage(now, StageResult::Aborted, Some(detail.clone()));
        self.known_good = Some(target.clone());
        let cause = RollbackCause {
            detail,
            requested: true,
        };
        let mark = out.len();
        self.start_rollback(config, stage, deploy, cause, now, out);
        // previous.env names the target before the service restarts on it,
        // after the audit entries that lead the transition.
        let activate = out[mark..]
            .iter()
            .position(|e| matches!(e, Effect::Activate { .. }))
            .map_or(out.len(), |i| mark + i);
        out.insert(activate, Effect::SetKnownGood { release: target });
        Ok(())
    }
}

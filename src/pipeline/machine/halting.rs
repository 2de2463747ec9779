//! The emergency stop and every other halt, and the rearm that leaves it.

use super::{
    Effect, Halt, Outcome, Pending, Phase, Pipeline, Priority, Refusal, RefusalKind, StageResult,
    StateWord, seconds,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::millis_between;
use crate::pipeline::policy::Actor;

impl Pipeline {
    pub(super) fn halt(&mut self, cause: Halt, now: Time, out: &mut Vec<Effect>) {
        let reason = cause.to_string();
        let pending = match &self.phase {
            Phase::Validating { candidate, .. } => Some(Pending::Submit {
                deploy_id: candidate.id.clone(),
            }),
            Phase::RollingBack {
                requested: true, ..
            } => Some(Pending::Rollback),
            Phase::Drilling { .. } => Some(Pending::Drill),
            _ => None,
        };
        if let Phase::Validating { candidate, .. } = &self.phase {
            let mut candidate = (**candidate).clone();
            candidate.finish(Outcome::Rejected(reason.clone()), now);
            self.push_history(candidate);
        }
        if let Some(deploy) = &mut self.deploy
            && deploy.ended_at.is_none()
        {
            deploy.close_stage(now, StageResult::Aborted, Some(reason.clone()));
            deploy.finish(Outcome::Halted(reason.clone()), now);
        }
        let note = match &cause {
            Halt::Estop { by, reason: why } => {
                self.human_note(AuditKind::Estop, by, why, format!("halted: {reason}"))
            }
            Halt::Fault(_) => self.note(AuditKind::Halt, format!("halted: {reason}")),
        };
        self.phase = Phase::Halted {
            since: now,
            reason: reason.clone(),
        };
        self.gate = None;
        let mut note = note;
        note.state = StateWord::Halted;
        out.push(Effect::Audit(note));
        // Trading stops first, then the decision is saved, then the venue
        // is flattened: a kill command that takes seconds neither lets the
        // strategy reopen what it closes nor leaves the halt unsaved.
        out.push(Effect::StopService);
        out.push(Effect::Persist);
        out.push(Effect::Kill);
        out.push(Effect::Alert {
            priority: Priority::P0,
            title: format!("halted: {reason}"),
        });
        if let Some(pending) = pending {
            out.push(Effect::Settled {
                pending,
                ok: false,
                message: format!("halted: {reason}"),
            });
        }
    }

    pub(super) fn rearm(
        &mut self,
        by: &Actor,
        reason: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Phase::Halted { since, .. } = &self.phase else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "not halted (state {}); rearm only leaves halted",
                    self.word()
                ),
            ));
        };
        let held = millis_between(*since, now);
        self.phase = Phase::Idle;
        self.gate = None;
        out.push(Effect::Audit(self.human_note(
            AuditKind::Rearm,
            by,
            reason,
            format!("rearmed after {} halted; nothing is serving", seconds(held)),
        )));
        out.push(Effect::Persist);
        Ok(())
    }
}

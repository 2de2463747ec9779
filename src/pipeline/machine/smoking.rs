//! The smoke deploy: a candidate started without trading while its log
//! is checked, then what served before comes back.

use super::{
    Config, Effect, Pending, Phase, Pipeline, Priority, Refusal, RefusalKind, ReleaseRef,
    unexpected,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::policy::Actor;

impl Pipeline {
    pub(super) fn smoke(
        &mut self,
        release: &ReleaseRef,
        by: &Actor,
        reason: &str,
        overridden: Option<&str>,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        if let Some(deploy) = self.in_flight() {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "deploy {} is in flight ({}); a smoke deploy waits for it",
                    deploy.id,
                    self.word()
                ),
            ));
        }
        if matches!(self.phase, Phase::Halted { .. } | Phase::Smoking { .. }) {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("state {}: no smoke deploy now", self.word()),
            ));
        }
        let prior = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = Phase::Smoking {
            prior: Box::new(prior),
            release: release.clone(),
            since: now,
        };
        // The serving release is stopped for the smoke; nobody watches it
        // (`Phase::gate` is none while smoking).
        let mut note = self.human_note(
            AuditKind::SmokeStart,
            by,
            reason,
            format!(
                "{}smoke deploy of {} with EXECUTION_PLANE=paper, no trading",
                overridden.map_or(String::new(), |w| format!("FREEZE OVERRIDE of {w}: ")),
                release.id
            ),
        );
        note.release = Some(release.id.clone());
        out.push(Effect::Audit(note));
        out.push(Effect::StartSmoke {
            release: release.clone(),
        });
        Ok(())
    }

    pub(super) fn smoke_finished(
        &mut self,
        config: &Config,
        passed: bool,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Phase::Smoking { prior, release, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            let word = self.word();
            return Err(unexpected("a smoke result", "smoke", word));
        };
        self.phase = *prior;
        let (kind, message) = if passed {
            (
                AuditKind::SmokePass,
                format!("smoke deploy of {} passed: {detail}", release.id),
            )
        } else {
            (
                AuditKind::SmokeFail,
                format!("smoke deploy of {} FAILED: {detail}", release.id),
            )
        };
        let mut note = self.note(kind, message.clone());
        note.release = Some(release.id.clone());
        out.push(Effect::Audit(note));
        if !passed {
            out.push(Effect::Alert {
                priority: Priority::P1,
                title: format!("smoke deploy of {} failed", release.id),
            });
        }
        // Bring back what served before, and watch it afresh.
        self.phase.watch_afresh(&config.checks, now);
        if let (Some(stage), Some(serving)) = (self.watched_stage(), self.serving.clone()) {
            out.push(Effect::Reconcile {
                release: serving,
                stage,
            });
        }
        out.push(Effect::Persist);
        out.push(Effect::Settled {
            pending: Pending::Smoke,
            ok: passed,
            message,
        });
        Ok(())
    }
}

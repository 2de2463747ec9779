//! The emergency stop and every other halt: the kill command, the proof
//! that the venue is flat, the rearm that leaves halted and the restore
//! that brings the known-good release back.

use super::{
    Config, Deploy, Effect, FlatResult, FlatVerdict, Halt, KillResult, Outcome, Pending, Phase,
    Pipeline, Priority, Refusal, RefusalKind, ReleaseRef, RestoreRequest, Soak, StageResult,
    StateWord, StopRecord, seconds, unexpected,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::{Gate, millis_between};
use crate::pipeline::policy::{Actor, Stage, Tier};

impl Pipeline {
    pub(super) fn halt(&mut self, cause: Halt, now: Time, out: &mut Vec<Effect>) {
        let serving = self.phase.deploy().cloned();
        self.halt_with(cause, serving, now, out);
    }

    /// Halts; `serving` is the deploy being served as the caller last
    /// changed it (a failed gate has closed its stage already).
    pub(super) fn halt_with(
        &mut self,
        cause: Halt,
        serving: Option<Deploy>,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
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
        // The deploy being served ends here, unless its watch already ended.
        let mut halted = serving;
        if let Some(deploy) = &mut halted
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
        let restore_to = self.restore_target(&cause);
        let (by, why) = match cause {
            Halt::Estop { by, reason } => (Some(by), reason),
            Halt::Fault(reason) => (None, reason),
        };
        self.stop = Some(StopRecord {
            at: now,
            by,
            reason: why,
            kill: None,
            flat: None,
            restore_to,
        });
        self.phase = Phase::Halted {
            since: now,
            reason: reason.clone(),
        };
        if let Some(deploy) = halted {
            self.push_history(deploy);
        }
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

    /// What a restore after this halt may bring back (see
    /// [`StopRecord::restore_to`]).
    fn restore_target(&self, cause: &Halt) -> Option<ReleaseRef> {
        let serving_live =
            |phase: &Phase| matches!(phase, Phase::Live { .. } | Phase::RolledBack { .. });
        let was_live = match &self.phase {
            Phase::Validating { prior, .. } | Phase::Smoking { prior, .. } => serving_live(prior),
            phase => serving_live(phase),
        };
        match cause {
            Halt::Estop { .. } if was_live => self.serving.clone(),
            // The known-good failed its own verification: nothing is good.
            Halt::Fault(_) if matches!(self.phase, Phase::RollingBack { .. }) => None,
            _ => self.known_good.clone(),
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
        if let Some(stop) = self.stop.as_ref().filter(|s| !s.settled()) {
            let step = if stop.kill.is_none() {
                "the kill command is still running"
            } else {
                "the venue is still being verified flat"
            };
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("{step}; rearm once the emergency stop has answered"),
            ));
        }
        let held = millis_between(*since, now);
        self.phase = Phase::Idle;
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

impl Pipeline {
    /// The kill command ended: recorded, and the venue is verified next,
    /// whatever the kill said (a failed kill may still have closed some).
    pub(super) fn killed(
        &mut self,
        ok: bool,
        skipped: bool,
        summary: &str,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Some(stop) = self.stop.as_mut().filter(|s| s.kill.is_none()) else {
            return Err(unexpected(
                "the kill command's result",
                "a halt whose kill command runs",
                self.word(),
            ));
        };
        stop.kill = Some(KillResult {
            ok,
            summary: summary.to_string(),
        });
        let kind = match (skipped, ok) {
            (true, _) => AuditKind::KillSkipped,
            (false, true) => AuditKind::KillDone,
            (false, false) => AuditKind::KillFailed,
        };
        let message = if skipped {
            summary.to_string()
        } else {
            format!("kill command: {summary}")
        };
        out.push(Effect::Audit(self.note(kind, message)));
        if !ok {
            out.push(Effect::Alert {
                priority: Priority::P0,
                title: format!("kill command failed: {summary}"),
            });
        }
        out.push(Effect::Persist);
        out.push(Effect::VerifyFlat);
        Ok(())
    }

    /// The verify command decided: the stop is settled, and its reply says
    /// whether the book is proven flat.
    pub(super) fn flat_checked(
        &mut self,
        verdict: FlatVerdict,
        summary: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Some(stop) = self
            .stop
            .as_mut()
            .filter(|s| s.kill.is_some() && s.flat.is_none())
        else {
            return Err(unexpected(
                "the verify command's answer",
                "a halt whose venue is being verified",
                self.word(),
            ));
        };
        stop.flat = Some(FlatResult {
            verdict,
            at: now,
            summary: summary.to_string(),
        });
        let stop = stop.clone();
        let kind = match verdict {
            FlatVerdict::Flat => AuditKind::FlatVerified,
            FlatVerdict::NotFlat => AuditKind::FlatFailed,
            FlatVerdict::Unverified => AuditKind::FlatUnverified,
        };
        out.push(Effect::Audit(
            self.note(kind, format!("{}: {summary}", verdict.headline())),
        ));
        if verdict != FlatVerdict::Flat {
            out.push(Effect::Alert {
                priority: Priority::P0,
                title: format!("HALTED · {}: {summary}", verdict.headline()),
            });
        }
        out.push(Effect::Persist);
        let (ok, message) = stop.answer();
        out.push(Effect::Settled {
            pending: Pending::Estop,
            ok,
            message,
        });
        Ok(())
    }

    /// After an agent restart: a stop whose kill or verify has no recorded
    /// answer runs that step (again: cancel, flatten and verify are
    /// idempotent).
    pub(super) fn resume_stop(&self, out: &mut Vec<Effect>) {
        match &self.stop {
            Some(stop) if stop.kill.is_none() => out.push(Effect::Kill),
            Some(stop) if stop.flat.is_none() => out.push(Effect::VerifyFlat),
            _ => {}
        }
    }

    /// From idle after a rearm: the last known-good release, straight into
    /// live (it passed every gate before; the live gate applies at once),
    /// only into a venue just verified flat.
    pub(super) fn restore(
        &mut self,
        config: &Config,
        request: &RestoreRequest,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let RestoreRequest {
            by,
            reason,
            venue,
            venue_summary,
        } = request;
        if !matches!(self.phase, Phase::Idle) {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "restore starts from idle after a rearm (state {})",
                    self.word()
                ),
            ));
        }
        let Some(release) = self.stop.as_ref().and_then(|s| s.restore_to.clone()) else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                "no known-good release to restore (nothing was live when the pipeline halted)",
            ));
        };
        match *venue {
            FlatVerdict::Flat => {}
            FlatVerdict::NotFlat => {
                return Err(Refusal::new(
                    RefusalKind::Policy,
                    format!("the venue is not flat ({venue_summary}); flatten it before restoring"),
                ));
            }
            FlatVerdict::Unverified => {
                return Err(Refusal::new(
                    RefusalKind::Policy,
                    "no verify command is configured, so the venue cannot be proven flat; restore refused",
                ));
            }
        }
        let tier = (self.history.iter().rev())
            .find(|d| d.release == release)
            .map_or(Tier::Balanced, |d| d.tier);
        let mut deploy = Deploy {
            id: self.next_deploy_id(now),
            release: release.clone(),
            tier,
            submitted_by: by.clone(),
            submitted_at: now,
            reason: reason.to_string(),
            commit: None,
            promotion: Some("restore".into()),
            needs_approval: false,
            restore: true,
            stages: Vec::new(),
            approval: None,
            outcome: Outcome::Live,
            ended_at: None,
        };
        deploy.open_stage(Stage::Live, now);
        self.first_live_at.get_or_insert(now);
        self.serving = Some(release.clone());
        self.phase = Phase::Live {
            since: now,
            watch: Soak::new(config.watch_ms, now),
            watch_done: false,
            deploy: Box::new(deploy),
            gate: Gate::new(Stage::Live, &config.checks, now),
        };
        out.push(Effect::Audit(self.human_note(
            AuditKind::Restore,
            by,
            reason,
            format!(
                "restored known-good release {} straight to live (venue flat: {venue_summary})",
                release.id
            ),
        )));
        out.push(Effect::Activate {
            release: release.clone(),
            stage: Stage::Live,
        });
        out.push(Effect::Alert {
            priority: Priority::P1,
            title: format!("restored {} to live after a halt", release.id),
        });
        out.push(Effect::Persist);
        Ok(())
    }
}

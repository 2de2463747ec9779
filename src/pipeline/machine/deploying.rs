//! A release on its way live: submit, validation, each soak passing,
//! the approval, going live; and resuming after the agent restarts.

use super::{
    Approval, ApprovalRequest, Config, Deploy, Effect, Outcome, Pending, Phase, Pipeline, Priority,
    Refusal, RefusalKind, Soak, StageResult, StateWord, Submission, seconds, short, unexpected,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::Gate;
use crate::pipeline::policy::Stage;
use crate::pipeline::policy::Tier;

impl Pipeline {
    pub(super) fn resume(&mut self, config: &Config, now: Time, out: &mut Vec<Effect>) {
        if let Some(gate) = self.phase.gate_mut() {
            gate.resume(now);
        }
        match &mut self.phase {
            Phase::Soaking { soak, .. } => soak.healthy_at = None,
            Phase::Live { watch, .. } => watch.healthy_at = None,
            Phase::RollingBack { deadline, .. } => {
                *deadline = now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64)
            }
            Phase::Drilling(drill) => {
                drill.watch.healthy_at = None;
                drill.deadline =
                    now + chrono::Duration::milliseconds(config.verify_timeout_ms as i64);
            }
            Phase::Smoking { .. } => {
                // The smoke procedure died with the old agent: what served
                // before comes back, watched afresh.
                let Phase::Smoking { prior, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    unreachable!("matched Smoking above")
                };
                self.phase = *prior;
                self.phase.watch_afresh(&config.checks, now);
            }
            Phase::Validating { .. } => {
                // The validate command died with the old agent; the candidate
                // is dropped rather than guessed at.
                let Phase::Validating { prior, candidate } =
                    std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    unreachable!("matched Validating above")
                };
                self.phase = *prior;
                let mut candidate = *candidate;
                candidate.finish(
                    Outcome::Rejected("agent restarted during validation; submit again".into()),
                    now,
                );
                self.push_history(candidate);
            }
            _ => {}
        }
        let message = match self.soak_remaining_ms() {
            Some(ms) => format!(
                "agent resumed in {}; {:.1}s left to soak",
                self.word(),
                ms as f64 / 1000.0
            ),
            None => format!("agent resumed in {}", self.word()),
        };
        out.push(Effect::Audit(
            self.note(AuditKind::AgentResume, message.clone()),
        ));
        // Lifecycle: a restart nobody asked for shows in the daily stream.
        out.push(Effect::Alert {
            priority: Priority::P3,
            title: message,
        });
        match &self.phase {
            // Nothing may run: whatever a crash left running is stopped.
            Phase::Halted { .. } | Phase::Idle => {
                out.push(Effect::StopService);
                self.resume_stop(out);
            }
            _ => {
                if let (Some(release), Some(stage)) = (self.serving.clone(), self.watched_stage()) {
                    // A drill or rollback restarts on purpose; everything else
                    // keeps the running service as it is.
                    out.push(Effect::Reconcile { release, stage });
                }
            }
        }
        out.push(Effect::Persist);
    }

    pub(super) fn submit(
        &mut self,
        config: &Config,
        submission: &Submission,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let Submission {
            release,
            by,
            reason,
            commit,
            promotion,
            ..
        } = submission;
        let tier = submission.tier;
        // The active freeze window, and whether an admin overrides it.
        let freeze = (submission.freeze.as_deref()).map(|w| (w, submission.override_freeze));
        if let Phase::Halted { since, reason } = &self.phase {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "halted since {} ({reason}); an admin must rearm first",
                    since.format("%Y-%m-%d %H:%M:%SZ")
                ),
            ));
        }
        if let Some(deploy) = self.in_flight() {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "deploy {} (release {}) is in flight ({}); one deploy at a time",
                    deploy.id,
                    deploy.release.id,
                    self.word()
                ),
            ));
        }
        if matches!(self.phase, Phase::Live { .. })
            && self
                .serving
                .as_ref()
                .is_some_and(|s| s.digest == release.digest)
        {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("release {} is already live here", release.id),
            ));
        }
        if let Some((window, false)) = freeze {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "deploy freeze {window} is active; an admin may override with --override-freeze and a reason"
                ),
            ));
        }
        let candidate = Deploy {
            id: self.next_deploy_id(now),
            release: release.clone(),
            tier,
            submitted_by: by.clone(),
            submitted_at: now,
            reason: reason.to_string(),
            commit: commit.clone(),
            promotion: promotion.clone(),
            needs_approval: config.require_approval_for_live || tier == Tier::Aggressive,
            restore: false,
            stages: Vec::new(),
            approval: None,
            outcome: Outcome::InFlight,
            ended_at: None,
        };
        let mut note = self.human_note(
            AuditKind::DeploySubmit,
            by,
            reason,
            format!(
                "{}release {} (sha256 {}) submitted, tier {tier}; validating",
                match freeze {
                    Some((window, true)) => format!("FREEZE OVERRIDE of {window}: "),
                    _ => String::new(),
                },
                release.id,
                short(&release.digest)
            ),
        );
        note.deploy_id = Some(candidate.id.clone());
        note.state = StateWord::Validating;
        out.push(Effect::Audit(note));
        out.push(Effect::Validate {
            release: release.clone(),
        });
        let prior = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = Phase::Validating {
            prior: Box::new(prior),
            candidate: Box::new(candidate),
        };
        Ok(())
    }

    pub(super) fn validated(
        &mut self,
        config: &Config,
        passed: bool,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        if !matches!(self.phase, Phase::Validating { .. }) {
            return Err(unexpected("a validation result", "validating", self.word()));
        }
        let Phase::Validating { prior, candidate } =
            std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            unreachable!("checked above")
        };
        let mut candidate = *candidate;
        let pending = Pending::Submit {
            deploy_id: candidate.id.clone(),
        };
        if !passed {
            self.phase = *prior;
            candidate.finish(Outcome::Rejected(detail.to_string()), now);
            let mut note = self.note(
                AuditKind::DeployRejected,
                format!(
                    "release {} failed validation: {detail}",
                    candidate.release.id
                ),
            );
            note.deploy_id = Some(candidate.id.clone());
            out.push(Effect::Audit(note));
            // Someone meant to ship this: a refusal at the door pages.
            out.push(Effect::Alert {
                priority: Priority::P1,
                title: format!(
                    "release {} rejected: failed validation",
                    candidate.release.id
                ),
            });
            out.push(Effect::Settled {
                pending,
                ok: false,
                message: format!(
                    "release {} failed validation: {detail}",
                    candidate.release.id
                ),
            });
            // A rejected candidate changes nothing on disk but the audit log.
            return Ok(());
        }
        // A release that served healthy becomes the one to return to. From
        // idle (a new host, or after rearm) nothing serves: a failing deploy
        // stops, it never starts what served before an emergency stop (only
        // an admin's explicit restore may).
        match (&*prior, &self.serving) {
            (Phase::Live { .. } | Phase::RolledBack { .. }, Some(serving)) => {
                self.known_good = Some(serving.clone())
            }
            (Phase::Idle, _) => self.known_good = None,
            _ => {}
        }
        if let Some(old) = prior.into_deploy() {
            self.push_history(old);
        }
        candidate.open_stage(Stage::Shadow, now);
        let release = candidate.release.clone();
        let message = format!(
            "deploy {} started: release {} in shadow, soak {}",
            candidate.id,
            release.id,
            seconds(config.soak_ms(Stage::Shadow))
        );
        self.serving = Some(release.clone());
        self.phase = Phase::Soaking {
            stage: Stage::Shadow,
            soak: Soak::new(config.soak_ms(Stage::Shadow), now),
            deploy: Box::new(candidate),
            gate: Gate::new(Stage::Shadow, &config.checks, now),
        };
        out.push(Effect::Audit(
            self.note(AuditKind::StageStart, message.clone()),
        ));
        if let Some(known_good) = &self.known_good {
            out.push(Effect::SetKnownGood {
                release: known_good.clone(),
            });
        }
        out.push(Effect::Activate {
            release,
            stage: Stage::Shadow,
        });
        out.push(Effect::Persist);
        out.push(Effect::Settled {
            pending,
            ok: true,
            message,
        });
        Ok(())
    }

    /// While a candidate validates, the serving release goes on being
    /// watched: `f` acts on the phase beneath. If that moves the pipeline,
    /// the candidate is dropped, since the ground it was submitted on has
    /// changed. Returns whether a candidate was validating.
    pub(super) fn beneath_candidate(
        &mut self,
        now: Time,
        out: &mut Vec<Effect>,
        f: impl FnOnce(&mut Self, &mut Vec<Effect>),
    ) -> bool {
        if !matches!(self.phase, Phase::Validating { .. }) {
            return false;
        }
        let Phase::Validating { prior, candidate } =
            std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            unreachable!("matched above")
        };
        self.phase = *prior;
        let before = self.word();
        f(self, out);
        if self.word() == before {
            let prior = std::mem::replace(&mut self.phase, Phase::Idle);
            self.phase = Phase::Validating {
                prior: Box::new(prior),
                candidate,
            };
        } else {
            let mut candidate = *candidate;
            let message = format!(
                "deploy {} cancelled: the serving release's gate moved the pipeline to {}",
                candidate.id,
                self.word()
            );
            candidate.finish(Outcome::Rejected(message.clone()), now);
            out.push(Effect::Settled {
                pending: Pending::Submit {
                    deploy_id: candidate.id.clone(),
                },
                ok: false,
                message,
            });
            self.push_history(candidate);
        }
        true
    }

    /// A soak completed on a healthy gate: on to the next stage, to the
    /// approval, or live. `deploy` and `gate` are the soaking phase's.
    pub(super) fn soak_passed(
        &mut self,
        config: &Config,
        stage: Stage,
        mut deploy: Deploy,
        gate: Gate,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let (passing, total) = gate.tally(&config.checks);
        deploy.close_stage(
            now,
            StageResult::Passed,
            Some(format!("{passing}/{total} checks")),
        );
        let release = deploy.release.clone();
        out.push(Effect::Audit(self.note(
            AuditKind::GatePass,
            format!(
                "{stage} soak complete, {passing}/{total} checks passed for {}",
                seconds(config.soak_ms(stage))
            ),
        )));
        match stage.next().filter(|next| *next != Stage::Live) {
            Some(next) => {
                deploy.open_stage(next, now);
                self.phase = Phase::Soaking {
                    stage: next,
                    soak: Soak::new(config.soak_ms(next), now),
                    deploy: Box::new(deploy),
                    gate: Gate::new(next, &config.checks, now),
                };
                out.push(Effect::Audit(self.note(
                    AuditKind::StageStart,
                    format!("{next} started, soak {}", seconds(config.soak_ms(next))),
                )));
                out.push(Effect::Activate {
                    release,
                    stage: next,
                });
                out.push(Effect::Persist);
            }
            None if deploy.needs_approval => {
                // The canary keeps running and keeps being watched.
                self.phase = Phase::AwaitingApproval {
                    since: now,
                    deploy: Box::new(deploy),
                    gate,
                    escalated: 0,
                };
                out.push(Effect::Audit(
                    self.note(AuditKind::StageAwait, "canary → live needs approval"),
                ));
                out.push(Effect::Alert {
                    priority: Priority::P2,
                    title: format!("deploy of {} awaits approval for live", release.id),
                });
                out.push(Effect::Persist);
            }
            None => self.go_live(config, deploy, now, out),
        }
    }

    pub(super) fn go_live(
        &mut self,
        config: &Config,
        mut deploy: Deploy,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        deploy.open_stage(Stage::Live, now);
        deploy.outcome = Outcome::Live;
        self.first_live_at.get_or_insert(now);
        let release = deploy.release.clone();
        self.phase = Phase::Live {
            since: now,
            watch: Soak::new(config.watch_ms, now),
            watch_done: false,
            deploy: Box::new(deploy),
            gate: Gate::new(Stage::Live, &config.checks, now),
        };
        out.push(Effect::Audit(self.note(
            AuditKind::StageLive,
            format!(
                "release {} live; post-deploy watch {}",
                release.id,
                seconds(config.watch_ms)
            ),
        )));
        out.push(Effect::Activate {
            release: release.clone(),
            stage: Stage::Live,
        });
        out.push(Effect::Alert {
            priority: Priority::P2,
            title: format!("release {} is live", release.id),
        });
        out.push(Effect::Persist);
    }

    pub(super) fn approve(
        &mut self,
        config: &Config,
        approval: &ApprovalRequest,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let ApprovalRequest { by, reason, .. } = approval;
        let (deploy_id, digest, stage) = (
            approval.deploy_id.as_str(),
            approval.digest.as_str(),
            approval.stage,
        );
        let Phase::AwaitingApproval { deploy, .. } = &self.phase else {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!("nothing awaits approval (state {})", self.word()),
            ));
        };
        let mut deploy = (**deploy).clone();
        if deploy.id != deploy_id || deploy.release.digest != digest || stage != Stage::Canary {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "stale approval: it names deploy {deploy_id} (sha256 {}, stage {stage}) but deploy {} (sha256 {}, stage canary) awaits approval",
                    short(digest),
                    deploy.id,
                    short(&deploy.release.digest)
                ),
            ));
        }
        // Distinct by identity (the pinned operator, the certificate's key
        // id, the key or the local user the agent saw), never by the name a
        // session claims.
        let same_person = deploy.submitted_by.name == by.name;
        if config.require_distinct_approver && same_person {
            return Err(Refusal::new(
                RefusalKind::Policy,
                format!(
                    "{} submitted deploy {} and may not approve it (require_distinct_approver)",
                    by.name, deploy.id
                ),
            ));
        }
        let message = format!(
            "approved canary → live for deploy {} (release {})",
            deploy.id, deploy.release.id
        );
        out.push(Effect::Audit(self.human_note(
            AuditKind::Approve,
            by,
            reason,
            message,
        )));
        deploy.approval = Some(Approval {
            by: by.clone(),
            at: now,
            reason: reason.to_string(),
        });
        self.go_live(config, deploy, now, out);
        Ok(())
    }
}

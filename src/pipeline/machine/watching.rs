//! Samples against the gate: a check failing, the service failing to
//! start, and what a failed gate does (roll back or stop).

use super::rollback::RollbackCause;
use super::{
    Config, Deploy, Effect, Halt, Phase, Pipeline, Priority, Refusal, ReleaseRef, StageResult,
    seconds, unexpected,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::baseline::{BaselineSource, LiveWindow};
use crate::pipeline::gate::Sample;
use crate::pipeline::gate::{Breach, CheckSpec, KnownGood, Observed, Verdict};
use crate::pipeline::policy::Stage;

impl Pipeline {
    pub(super) fn sampled(
        &mut self,
        config: &Config,
        sample: &Sample,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        if self.beneath_candidate(now, out, |p, out| p.sampled(config, sample, now, out)) {
            return;
        }
        self.record_window(config, sample, out);
        // A release is never judged against itself (a rollback, a drill,
        // after one): only a candidate has a known-good to compare with.
        let known_good = match &self.known_good {
            Some(release) if self.serving.as_ref() != Some(release) => KnownGood::Window(
                (self.windows.iter())
                    .find(|w| w.digest == release.digest)
                    .map(|w| &w.values),
            ),
            Some(_) => KnownGood::Serving,
            None => KnownGood::None,
        };
        // The market's own pause: a soak counts only while it trades, and a
        // closed session holds every check's silence.
        let market = match &mut self.phase {
            Phase::Soaking { soak, stage, .. } => {
                soak.market(config.evidence.as_ref(), *stage, sample, now)
            }
            _ => None,
        };
        let market_paused = market.is_some() || sample.session_open == Some(false);
        // Idle, halted or a smoke deploy: nothing is watched.
        let Some(gate) = self.phase.gate_mut() else {
            return;
        };
        let Observed { verdict, warnings } =
            gate.observe(&config.checks, sample, known_good, market_paused, now);
        let stage = gate.stage;
        for Breach { check, detail } in warnings {
            out.push(Effect::Audit(self.note(
                AuditKind::GateWarn,
                format!("{stage} check {check} warns: {detail} (action warn: the deploy goes on)"),
            )));
            out.push(Effect::Alert {
                priority: Priority::P2,
                title: format!("warning in {stage}: {detail}"),
            });
        }
        match &mut self.phase {
            Phase::Idle
            | Phase::Halted { .. }
            | Phase::Validating { .. }
            | Phase::Smoking { .. } => {}
            Phase::Soaking {
                stage,
                soak,
                deploy,
                gate,
            } => {
                let stage = *stage;
                let rule = config.evidence.as_ref();
                let paused = market;
                match verdict {
                    Verdict::Breach(breach) => {
                        let deploy = (**deploy).clone();
                        self.gate_failed(config, stage, deploy, &breach, now, out)
                    }
                    Verdict::Healthy if paused.is_some() => {
                        // Time without trading is not proof: it does not count.
                        soak.healthy_at = None;
                        soak.paused = paused;
                        out.push(Effect::Checkpoint);
                    }
                    Verdict::Healthy => {
                        soak.accrue(now, config.max_sample_gap_ms);
                        soak.paused = match soak.done() {
                            true => soak.evidence_short(rule, stage),
                            false => None,
                        };
                        if soak.done() && soak.paused.is_none() {
                            let (deploy, gate) = ((**deploy).clone(), gate.clone());
                            self.soak_passed(config, stage, deploy, gate, now, out);
                        } else {
                            out.push(Effect::Checkpoint);
                        }
                    }
                    Verdict::Unsettled => {
                        soak.healthy_at = None;
                        soak.paused = paused;
                    }
                }
            }
            Phase::AwaitingApproval {
                deploy,
                since,
                escalated,
                ..
            } => {
                if let Verdict::Breach(breach) = verdict {
                    let deploy = (**deploy).clone();
                    self.gate_failed(config, Stage::Canary, deploy, &breach, now, out);
                } else if let Some(&after) = config.escalate_after_ms.get(*escalated)
                    && crate::pipeline::gate::millis_between(*since, now) >= after
                {
                    *escalated += 1;
                    let (id, release) = (deploy.id.clone(), deploy.release.id.clone());
                    let waited = seconds(crate::pipeline::gate::millis_between(*since, now));
                    let message = format!(
                        "approval of deploy {id} (release {release}) has waited {waited} \
                         (escalation {} of {}): gantry ctl approve --reason R, or rollback",
                        *escalated,
                        config.escalate_after_ms.len()
                    );
                    out.push(Effect::Audit(
                        self.note(AuditKind::ApprovalEscalated, message.clone()),
                    ));
                    out.push(Effect::Alert {
                        priority: Priority::P1,
                        title: message,
                    });
                    out.push(Effect::Persist);
                }
            }
            Phase::Live {
                watch,
                watch_done,
                deploy,
                gate,
                ..
            } => match verdict {
                Verdict::Breach(breach) => {
                    let deploy = (**deploy).clone();
                    self.gate_failed(config, Stage::Live, deploy, &breach, now, out)
                }
                Verdict::Healthy => {
                    watch.accrue(now, config.max_sample_gap_ms);
                    if watch.done() && !*watch_done {
                        *watch_done = true;
                        deploy.close_stage(
                            now,
                            StageResult::Passed,
                            Some("post-deploy watch complete".into()),
                        );
                        deploy.ended_at = Some(now);
                        let (passing, total) = gate.tally(&config.checks);
                        let note = self.note(
                            AuditKind::WatchDone,
                            format!("post-deploy watch complete, {passing}/{total} checks"),
                        );
                        out.push(Effect::Audit(note));
                        out.push(Effect::Persist);
                    } else if !*watch_done {
                        out.push(Effect::Checkpoint);
                    }
                }
                Verdict::Unsettled => watch.healthy_at = None,
            },
            Phase::RollingBack {
                deadline,
                requested,
                cause,
                deploy,
                gate,
                ..
            } => {
                let deadline = *deadline;
                match verdict {
                    Verdict::Healthy => {
                        let cause = RollbackCause {
                            detail: cause.clone(),
                            requested: *requested,
                        };
                        let (deploy, gate) = ((**deploy).clone(), gate.clone());
                        self.rolled_back(config, deploy, cause, gate, now, out)
                    }
                    Verdict::Breach(breach) => {
                        let reason = format!(
                            "known-good release {} failed its gate after rollback: {}",
                            self.serving_id(),
                            breach.detail
                        );
                        self.halt(Halt::Fault(reason), now, out)
                    }
                    Verdict::Unsettled if now >= deadline => {
                        let reason = format!(
                            "known-good release {} did not answer healthy within {}",
                            self.serving_id(),
                            seconds(config.verify_timeout_ms)
                        );
                        self.halt(Halt::Fault(reason), now, out)
                    }
                    Verdict::Unsettled => {}
                }
            }
            Phase::RolledBack { .. } => {
                if let Verdict::Breach(breach) = verdict {
                    let reason = format!(
                        "known-good release {} failed its gate after rollback: {}; halting rather than rolling back and forth",
                        self.serving_id(),
                        breach.detail
                    );
                    self.halt(Halt::Fault(reason), now, out);
                }
            }
            Phase::Drilling(drill) => {
                let drill = (**drill).clone();
                self.drill_sampled(config, drill, verdict, now, out)
            }
        }
    }

    /// While a release serves under a gate (its soaks, the approval wait,
    /// live, or again after a rollback), its values of the checks judged
    /// against `known_good` are recorded, where each check applies: the
    /// baseline of the next deploy, once it is the known-good. Only the
    /// serving release's window and the known-good's are kept, the newest
    /// samples of each; a checkpoint every 25 samples keeps them on disk.
    fn record_window(&mut self, config: &Config, sample: &Sample, out: &mut Vec<Effect>) {
        let stage = match &self.phase {
            Phase::Soaking { gate, .. }
            | Phase::AwaitingApproval { gate, .. }
            | Phase::Live { gate, .. }
            | Phase::RolledBack { gate, .. } => gate.stage,
            _ => return,
        };
        let Some(serving) = &self.serving else {
            return;
        };
        let judged_by_known_good = |spec: &CheckSpec| {
            spec.applies_to(stage)
                && (spec.baseline.as_ref()).is_some_and(|b| b.source == BaselineSource::KnownGood)
        };
        if !config.checks.iter().any(judged_by_known_good) {
            return;
        }
        let known_good = self.known_good.as_ref().map(|r| r.digest.as_str());
        (self.windows)
            .retain(|w| w.digest == serving.digest || Some(w.digest.as_str()) == known_good);
        if !self.windows.iter().any(|w| w.digest == serving.digest) {
            self.windows.push(LiveWindow::new(&serving.digest));
        }
        let Some(window) = self.windows.iter_mut().find(|w| w.digest == serving.digest) else {
            return;
        };
        for (spec, value) in config.checks.iter().zip(&sample.values) {
            if let (true, Some(value)) = (judged_by_known_good(spec), value) {
                window.record(&spec.name, *value);
            }
        }
        window.recorded += 1;
        if window.recorded.is_multiple_of(25) {
            out.push(Effect::Checkpoint);
        }
    }

    /// An activation failed: the release it named is not running. On the
    /// way to live that fails the gate (rollback, or stop on a first
    /// deploy); on the way back (a rollback, a restart after one) it halts.
    pub(super) fn activation_failed(
        &mut self,
        config: &Config,
        release: &ReleaseRef,
        stage: Stage,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let serving = match &self.phase {
            Phase::Validating { .. } | Phase::Smoking { .. } => self.serving.as_ref(),
            _ if self.watched_stage().is_some() => self.serving.as_ref(),
            _ => None,
        };
        if serving != Some(release) {
            let mut refusal = unexpected(
                "an activation failure",
                "one for the serving release",
                self.word(),
            );
            refusal.message = format!("{refusal} ({})", self.serving_id());
            return Err(refusal);
        }
        let detail = format!("cannot start {} in {stage}: {detail}", release.id);
        if !self.beneath_candidate(now, out, |p, out| {
            p.serving_failed(config, &detail, now, out)
        }) {
            self.serving_failed(config, &detail, now, out);
        }
        Ok(())
    }

    pub(super) fn serving_failed(
        &mut self,
        config: &Config,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let breach = Breach {
            check: "activation".into(),
            detail: detail.to_string(),
        };
        match &self.phase {
            Phase::Soaking { stage, deploy, .. } => {
                let (stage, deploy) = (*stage, (**deploy).clone());
                self.gate_failed(config, stage, deploy, &breach, now, out)
            }
            Phase::AwaitingApproval { deploy, .. } => {
                let deploy = (**deploy).clone();
                self.gate_failed(config, Stage::Canary, deploy, &breach, now, out)
            }
            Phase::Live { deploy, .. } => {
                let deploy = (**deploy).clone();
                self.gate_failed(config, Stage::Live, deploy, &breach, now, out)
            }
            Phase::RollingBack { .. } | Phase::RolledBack { .. } => {
                let reason = format!("known-good release failed to start: {detail}");
                self.halt(Halt::Fault(reason), now, out)
            }
            Phase::Drilling(drill) => {
                let drill = (**drill).clone();
                self.drill_sampled(config, drill, Verdict::Breach(breach), now, out)
            }
            Phase::Idle
            | Phase::Halted { .. }
            | Phase::Validating { .. }
            | Phase::Smoking { .. } => {}
        }
    }

    /// A gate failed: return to the known-good, or stop when there is none.
    /// `deploy` is the failing phase's.
    pub(super) fn gate_failed(
        &mut self,
        config: &Config,
        stage: Stage,
        mut deploy: Deploy,
        breach: &Breach,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        let Breach { check, detail } = breach;
        deploy.close_stage(now, StageResult::Failed, Some(detail.clone()));
        out.push(Effect::Audit(self.note(
            AuditKind::GateFail,
            format!("{stage} gate failed on {check}: {detail}"),
        )));
        let cause = RollbackCause {
            detail: detail.clone(),
            requested: false,
        };
        self.start_rollback(config, stage, deploy, cause, now, out);
    }
}

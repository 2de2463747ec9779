//! Samples against the gate: a check failing, the service failing to
//! start, and what a failed gate does (roll back or stop).

use super::{
    Config, Effect, Halt, Phase, Pipeline, Refusal, ReleaseRef, StageResult, seconds, unexpected,
};
use crate::pipeline::Time;
use crate::pipeline::audit_kind::AuditKind;
use crate::pipeline::gate::Sample;
use crate::pipeline::gate::Verdict;
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
        let Some(gate) = &mut self.gate else {
            return;
        };
        let verdict = gate.observe(&config.checks, sample, now);
        let (passing, total) = gate.tally(&config.checks);
        match &mut self.phase {
            Phase::Idle
            | Phase::Halted { .. }
            | Phase::Validating { .. }
            | Phase::Smoking { .. } => {}
            Phase::Soaking { stage, soak } => {
                let stage = *stage;
                match verdict {
                    Verdict::Breach { check, detail } => {
                        self.gate_failed(config, stage, &check, &detail, now, out)
                    }
                    Verdict::Healthy => {
                        soak.accrue(now, config.max_sample_gap_ms);
                        if soak.done() {
                            self.soak_passed(config, stage, passing, total, now, out);
                        } else {
                            out.push(Effect::Checkpoint);
                        }
                    }
                    Verdict::Unsettled => soak.healthy_at = None,
                }
            }
            Phase::AwaitingApproval { .. } => {
                if let Verdict::Breach { check, detail } = verdict {
                    self.gate_failed(config, Stage::Canary, &check, &detail, now, out);
                }
            }
            Phase::Live {
                watch, watch_done, ..
            } => match verdict {
                Verdict::Breach { check, detail } => {
                    self.gate_failed(config, Stage::Live, &check, &detail, now, out)
                }
                Verdict::Healthy => {
                    watch.accrue(now, config.max_sample_gap_ms);
                    if watch.done() && !*watch_done {
                        *watch_done = true;
                        if let Some(deploy) = &mut self.deploy {
                            deploy.close_stage(
                                now,
                                StageResult::Passed,
                                Some("post-deploy watch complete".into()),
                            );
                            deploy.ended_at = Some(now);
                        }
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
                ..
            } => {
                let (deadline, requested) = (*deadline, *requested);
                match verdict {
                    Verdict::Healthy => self.rolled_back(requested, passing, total, now, out),
                    Verdict::Breach { detail, .. } => {
                        let reason = format!(
                            "known-good release {} failed its gate after rollback: {detail}",
                            self.serving_id()
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
                if let Verdict::Breach { detail, .. } = verdict {
                    let reason = format!(
                        "known-good release {} failed its gate after rollback: {detail}; halting rather than rolling back and forth",
                        self.serving_id()
                    );
                    self.halt(Halt::Fault(reason), now, out);
                }
            }
            Phase::Drilling { .. } => self.drill_sampled(config, verdict, now, out),
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
        const CHECK: &str = "activation";
        match &self.phase {
            Phase::Soaking { stage, .. } => {
                let stage = *stage;
                self.gate_failed(config, stage, CHECK, detail, now, out)
            }
            Phase::AwaitingApproval { .. } => {
                self.gate_failed(config, Stage::Canary, CHECK, detail, now, out)
            }
            Phase::Live { .. } => self.gate_failed(config, Stage::Live, CHECK, detail, now, out),
            Phase::RollingBack { .. } | Phase::RolledBack { .. } => {
                let reason = format!("known-good release failed to start: {detail}");
                self.halt(Halt::Fault(reason), now, out)
            }
            Phase::Drilling { .. } => self.drill_sampled(
                config,
                Verdict::Breach {
                    check: CHECK.into(),
                    detail: detail.to_string(),
                },
                now,
                out,
            ),
            Phase::Idle
            | Phase::Halted { .. }
            | Phase::Validating { .. }
            | Phase::Smoking { .. } => {}
        }
    }

    /// A gate failed (or a person asked): return to the known-good, or stop
    /// when there is none.
    pub(super) fn gate_failed(
        &mut self,
        config: &Config,
        stage: Stage,
        check: &str,
        detail: &str,
        now: Time,
        out: &mut Vec<Effect>,
    ) {
        if let Some(deploy) = &mut self.deploy {
            deploy.close_stage(now, StageResult::Failed, Some(detail.to_string()));
        }
        out.push(Effect::Audit(self.note(
            AuditKind::GateFail,
            format!("{stage} gate failed on {check}: {detail}"),
        )));
        self.start_rollback(config, stage, detail, false, now, out);
    }
}

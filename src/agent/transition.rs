//! Stepping the pipeline and carrying out what it decided, in the
//! write-ahead order (recovery.rs): pre-image, first audit entry, effects,
//! new state. Effects that touch the host (the service, the links, the kill
//! command) are performed here.

use std::time::Instant;

use chrono::Utc;

use super::releases::Validation;
use super::restart::Start;
use super::timing::{RollbackTimer, entered_rollback};
use super::{Agent, recovery};
use crate::pipeline::{Effect, Event, Pending, Pipeline, ReleaseRef, Stage, Time, Transition};

impl Agent {
    /// Steps a fact (not a command): it is never refused by policy, and its
    /// effects go ahead even if the audit log cannot be written, because
    /// a rollback must not wait on a disk.
    pub(super) async fn fact(&mut self, event: Event) {
        self.fact_at(event, Utc::now()).await;
    }

    pub(super) async fn fact_at(&mut self, event: Event, now: Time) {
        self.step_fact(event, now).await;
        self.step_followups().await;
    }

    pub(super) async fn step_fact(&mut self, event: Event, now: Time) {
        let before = self.pipeline.word();
        match self.pipeline.step(&self.config.pipeline, &event, now) {
            Ok(transition) => {
                if entered_rollback(&self.pipeline.phase, &transition.next.phase) {
                    self.rollback_timer = Some(RollbackTimer::started(self.health.sample_instant));
                }
                if let Err(e) = self.commit(transition, false, &event, now).await {
                    eprintln!("gantry agent: {e}");
                }
            }
            Err(refusal) => eprintln!("gantry agent: {refusal} (event {event:?} in {before})"),
        }
    }

    /// Steps the facts that performing effects gave rise to (a loop, not
    /// recursion: each may add more).
    pub(super) async fn step_followups(&mut self) {
        while let Some(event) = self.followups.pop_front() {
            self.step_fact(event, Utc::now()).await;
        }
    }

    /// Performs a transition in the write-ahead order (recovery.rs): the
    /// state it applies to is on disk, then its first audit entry (which
    /// carries `event`), then the effects, then the new state. If that
    /// first entry cannot be written, a human command is refused and
    /// nothing changes; an emergency stop and the agent's own facts (a
    /// rollback must not wait on a disk) go ahead, and the entries are
    /// written once the log takes them.
    pub(super) async fn commit(
        &mut self,
        transition: Transition,
        human: bool,
        event: &Event,
        now: Time,
    ) -> Result<(), String> {
        let Transition { next, effects } = transition;
        let stop = matches!(event, Event::Estop { .. });
        let leading = effects
            .iter()
            .take_while(|e| matches!(e, Effect::Audit(_)))
            .count();
        let recorded = recovery::Recorded {
            at: now,
            event: event.clone(),
            to: Some(next.word()),
        };
        // The pre-image a replay starts from; an emergency stop and the
        // agent's facts go ahead without it (replay then starts earlier).
        if leading > 0
            && self.dirty
            && let Err(e) = self.save_now()
            && human
            && !stop
        {
            return Err(format!(
                "refused: deploy_state.json cannot be saved ({e}); nothing was done"
            ));
        }
        self.drill_ok = effects.iter().find_map(|e| match e {
            Effect::Settled {
                pending: Pending::Drill,
                ok,
                ..
            } => Some(*ok),
            _ => None,
        });
        for (index, effect) in effects[..leading].iter().enumerate() {
            let Effect::Audit(note) = effect else {
                continue;
            };
            let event = (index == 0)
                .then(|| serde_json::to_value(&recorded).ok())
                .flatten();
            if let Err(e) = self.write_audit_timed(note, event) {
                if index == 0 && human && !stop {
                    return Err(format!(
                        "refused: the audit log cannot be written ({e}); nothing was done"
                    ));
                }
                if index == 0
                    && stop
                    && let Some(flag) = &self.estop_flag
                    && let Err(e) = flag.write(&recorded)
                {
                    eprintln!("gantry agent: EMERGENCY STOP NOT RECORDED ANYWHERE: {e}");
                }
                eprintln!(
                    "gantry agent: AUDIT WRITE FAILED, acting anyway ({}): {e}",
                    if stop {
                        "an emergency stop always stops"
                    } else {
                        "a fact is not refused"
                    }
                );
                self.unrecorded.push(note.clone());
            }
        }
        let moved = next.word() != self.pipeline.word()
            || effects.iter().any(|e| matches!(e, Effect::Persist));
        let previous = std::mem::replace(&mut self.pipeline, next);
        self.dirty = true;
        // An alert carries the audit line that explains it: the last entry
        // of this transition before it.
        let mut evidence = effects[..leading].iter().rev().find_map(|e| match e {
            Effect::Audit(note) => Some(note.message.clone()),
            _ => None,
        });
        for effect in effects.into_iter().skip(leading) {
            match effect {
                Effect::Alert { priority, title } => {
                    let extra = evidence.iter().map(|e| ("evidence".to_string(), e.clone()));
                    self.alert(priority, title, extra.collect());
                }
                Effect::Audit(ref note) => {
                    evidence = Some(note.message.clone());
                    self.perform(effect, &previous).await;
                }
                effect => self.perform(effect, &previous).await,
            }
        }
        if leading > 0 && self.dirty {
            // Whatever was recorded is saved, Persist effect or not.
            self.save(true);
        }
        // Soak progress alone goes out at most once a second.
        self.publish(moved);
        Ok(())
    }

    pub(super) async fn perform(&mut self, effect: Effect, previous: &Pipeline) {
        match effect {
            Effect::Audit(note) => {
                if let Err(e) = self.write_audit_timed(&note, None) {
                    eprintln!("gantry agent: audit write failed: {e}");
                    self.unrecorded.push(note);
                }
            }
            Effect::Validate { release } => self.start_validation(&release, Validation::Deploy),
            Effect::Activate { release, stage } => {
                if let Err(e) = self.activate(&release, stage, true).await {
                    self.activation_failed(release, stage, &e);
                }
            }
            Effect::Reconcile { release, stage } => {
                if let Some(known_good) = self.pipeline.known_good.clone()
                    && let Err(e) = self.store.point("previous.env", &known_good)
                {
                    eprintln!(
                        "gantry agent: cannot point previous.env at {}: {e}",
                        known_good.id
                    );
                }
                if let Err(e) = self.activate(&release, stage, false).await {
                    self.activation_failed(release, stage, &e);
                }
            }
            Effect::SetKnownGood { release } => {
                if let Err(e) = self.store.point("previous.env", &release) {
                    self.note_failure(
                        "previous.env",
                        &format!("cannot point previous.env at {}: {e}", release.id),
                    );
                }
            }
            Effect::StartSmoke { release } => {
                self.start_validation(&release.clone(), Validation::Smoke(release))
            }
            Effect::StopService => {
                self.cancel_restart();
                if let Err(e) = self.service.stop().await {
                    self.note_failure("stop", &format!("cannot stop the service: {e:#}"));
                }
                self.health.service_alive = false;
            }
            Effect::Kill => self.start_kill(previous),
            Effect::VerifyFlat => self.start_verify(),
            // alerts.jsonl, then the webhook queue (never waits): notify.rs.
            Effect::Alert { priority, title } => self.alert(priority, title, Vec::new()),
            Effect::Persist => self.save(true),
            Effect::Checkpoint => self.save(false),
            Effect::Settled {
                pending,
                ok,
                message,
            } => self.settle(pending, ok, message),
        }
    }

    /// The service is not running what the pipeline named: the machine
    /// hears of it (it fails the gate), never a silent note.
    pub(super) fn activation_failed(
        &mut self,
        release: ReleaseRef,
        stage: Stage,
        error: &anyhow::Error,
    ) {
        eprintln!(
            "gantry agent: cannot start {} in {stage}: {error:#}",
            release.id
        );
        self.followups.push_back(Event::ActivationFailed {
            release,
            stage,
            detail: format!("{error:#}"),
        });
    }

    /// current.env → release, stage.env, then (re)start the service. With
    /// `restart` false (after an agent restart) a running service that was
    /// started with exactly these files is left alone.
    pub(super) async fn activate(
        &mut self,
        release: &ReleaseRef,
        stage: Stage,
        restart: bool,
    ) -> anyhow::Result<()> {
        self.ensure_stored(release)?;
        let swap_started = Instant::now();
        let moved = self.store.point("current.env", release)?;
        let restaged = self.store.write_stage(stage)?;
        let swapped = Instant::now();
        let env = self.store.service_env()?;
        if !restart
            && !moved
            && !restaged
            && self.restarting.is_none()
            && self.service.alive().await
            && self.service.runs(&env, &release.id)
        {
            return Ok(());
        }
        if let Some(timer) = &mut self.rollback_timer
            && timer.swap.is_none()
        {
            timer.swap = Some(swapped - swap_started);
        }
        let next = Start {
            env,
            release: release.clone(),
            stage,
        };
        self.restart_service(next, swapped).await;
        Ok(())
    }
}

//! What the agent writes down: audit entries (and those a full disk held
//! back), `deploy_state.json`, and the status it publishes to sessions and
//! the HTTP endpoint.

use std::time::Instant;

use chrono::Utc;

use super::{Agent, CHECKPOINT_EVERY, HEARTBEAT, status, wire_line};
use crate::pipeline::{AuditKind, Note};
use crate::wire::{AgentMsg, AuditEntry};

impl Agent {
    pub(super) fn agent_note(&self, kind: AuditKind, message: String) -> Note {
        Note {
            kind,
            actor: None,
            reason: None,
            message,
            deploy_id: self.pipeline.deploy().map(|d| d.id.clone()),
            release: self.pipeline.serving.as_ref().map(|r| r.id.clone()),
            state: self.pipeline.word(),
        }
    }

    pub(super) fn note_failure(&mut self, kind: &str, message: &str) {
        eprintln!("gantry agent: {message}");
        let note = self.agent_note(AuditKind::Error(kind.to_string()), message.to_string());
        let _ = self.write_audit(&note, None);
    }

    /// Writes a pipeline note (with the event it records, on a
    /// transition's first entry); the entry that closes a rollback (or a
    /// drill's rollback) carries its measured timings.
    pub(super) fn write_audit_timed(
        &mut self,
        note: &Note,
        event: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let detail = match note.kind {
            AuditKind::RollbackDone | AuditKind::DrillBack => {
                self.rollback_timer.as_mut().map(|t| {
                    t.healthy = Some(self.health.sample_instant);
                    t.report()
                })
            }
            _ => None,
        };
        if note.kind == AuditKind::DrillBack {
            self.drill_report = detail.clone();
        }
        // The drill's end carries its verdict and timings: a console that
        // connects later (or this agent, restarted) finds them there.
        let detail = match (&note.kind, self.drill_ok) {
            (AuditKind::DrillDone, Some(ok)) => {
                let drill = self.drill_view(ok, &note.message, self.drill_report.clone());
                self.last_drill = Some(drill.clone());
                serde_json::to_value(drill).ok()
            }
            _ => detail,
        };
        self.append_audit(note, detail, event)
    }

    /// The drill that just ended, as status shows it.
    pub(super) fn drill_view(
        &self,
        ok: bool,
        message: &str,
        timings: Option<serde_json::Value>,
    ) -> crate::wire::drill::DrillView {
        crate::wire::drill::DrillView {
            at: crate::stamp::rfc3339(Utc::now()),
            ok,
            message: message.to_string(),
            timings: timings.and_then(|t| serde_json::from_value(t).ok()),
        }
    }

    pub(super) fn write_audit(
        &mut self,
        note: &Note,
        detail: Option<serde_json::Value>,
    ) -> Result<(), String> {
        self.append_audit(note, detail, None)
    }

    /// Writes the entries a full disk held back, oldest first, each saying
    /// it is late (and without its event: its decision is in the state).
    pub(super) fn flush_unrecorded(&mut self) {
        while let Some(note) = self.unrecorded.first().cloned() {
            let mut late = note;
            late.message = format!(
                "RECORDED LATE (the audit log could not be written when it happened): {}",
                late.message
            );
            if self.write_audit(&late, None).is_err() {
                return;
            }
            self.unrecorded.remove(0);
        }
    }

    pub(super) fn append_audit(
        &mut self,
        note: &Note,
        detail: Option<serde_json::Value>,
        event: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let entry = AuditEntry {
            seq: 0,
            at: crate::stamp::rfc3339(Utc::now()),
            host: self.config.host.clone(),
            kind: note.kind.clone(),
            state: note.state.as_str().to_string(),
            actor: note.actor.clone(),
            reason: note.reason.clone(),
            deploy_id: note.deploy_id.clone(),
            release: note.release.clone(),
            message: note.message.clone(),
            detail,
            event,
            prev: String::new(),
            hash: String::new(),
        };
        let entry = self.audit.append(entry).map_err(|e| e.to_string())?;
        let _ = self.events.send(wire_line(&AgentMsg::Audit {
            entry: Box::new(entry),
        }));
        Ok(())
    }

    pub(super) fn save(&mut self, now: bool) {
        if !now && self.last_saved.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        if let Err(e) = self.save_now() {
            eprintln!("gantry agent: cannot save deploy_state.json: {e}");
        }
    }

    /// Saves the pipeline with the audit head it reflects.
    pub(super) fn save_now(&mut self) -> std::io::Result<()> {
        let stamp = crate::stamp::rfc3339(Utc::now());
        let seq = self.audit.head().map_or(0, |h| h.seq);
        self.store
            .save_state(&self.config.host, &self.pipeline, seq, &stamp)?;
        self.last_saved = Instant::now();
        self.dirty = false;
        Ok(())
    }

    /// Updates the status everyone sees; sends a `state` event on a
    /// transition, and otherwise at most once a second.
    pub(super) fn publish(&mut self, transition: bool) {
        let status = self.status();
        self.metrics.publish(&self.pipeline, &status);
        self.record_pnl(&status);
        let _ = self.status_tx.send(status.clone());
        if transition || self.last_state_sent.elapsed() >= HEARTBEAT {
            self.last_state_sent = Instant::now();
            let _ = self.events.send(wire_line(&AgentMsg::State {
                status: Box::new(status),
            }));
        }
    }

    /// Keeps the PnL check's value (the first check named `pnl…` with
    /// one) in the hour-long ring a new session's snapshot carries.
    fn record_pnl(&self, status: &crate::wire::Status) {
        // A halt ends the story that PnL told; what comes after starts anew.
        if status.state == crate::wire::StateWord::Halted {
            if let Ok(mut ring) = self.pnl.lock() {
                ring.clear();
            }
            return;
        }
        let Some(value) = status
            .checks
            .iter()
            .find(|c| c.name.contains("pnl"))
            .and_then(|c| c.value)
        else {
            return;
        };
        if let Ok(mut ring) = self.pnl.lock() {
            ring.record(Utc::now(), value);
        }
    }

    pub(super) fn status(&self) -> crate::wire::Status {
        status::build(
            &self.config,
            &self.pipeline,
            status::Seen {
                service_kind: self.service.kind_name(),
                running: self.service.pid().is_some()
                    || (self.service.kind_name() == "systemd" && self.health.service_alive),
                pid: self.service.pid(),
                facts: self.service.facts(),
                audit_head: self.audit.head(),
                sampled_at: self.health.sampled_at,
                scrape_error: self.health.scrape_error.clone(),
                reasons: &self.health.reasons,
                last_drill: self.last_drill.clone(),
            },
            Utc::now(),
        )
    }
}

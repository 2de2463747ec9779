//! Restarting the service off the loop. An activation swaps the files and
//! signals the old process at once; a task waits for it to be gone (up to
//! the stop timeout, then SIGKILL) and reports; the new process starts on
//! that report. Meanwhile requests, the kill command and the verify go on,
//! and nothing samples a service that is between two processes.
//!
//! An emergency stop cancels a restart under way (the new process never
//! starts); a later activation replaces what starts.

use std::time::Instant;

use super::Agent;
use crate::pipeline::{ReleaseRef, Stage};

/// What starts once the old process is gone.
pub(super) struct Start {
    pub(super) env: Vec<(String, String)>,
    pub(super) release: ReleaseRef,
    pub(super) stage: Stage,
}

/// A restart under way.
pub(super) struct Restart {
    generation: u64,
    next: Start,
    /// When the files were swapped, to time the restart.
    swapped: Instant,
    /// The files changed again after the restart began.
    superseded: bool,
}

/// A restart task's report: the old process is gone (or the unit's
/// restart ended).
pub(super) struct Restarted {
    generation: u64,
    result: anyhow::Result<()>,
}

impl Agent {
    /// Begins a restart into `next`, or, with one under way, makes `next`
    /// what it starts.
    pub(super) async fn restart_service(&mut self, next: Start, swapped: Instant) {
        if let Some(restart) = &mut self.restarting {
            restart.next = next;
            restart.superseded = true;
            return;
        }
        self.restart_generation += 1;
        let generation = self.restart_generation;
        let stopping = self
            .service
            .begin_restart(&next.env, &next.release.id)
            .await;
        let report = self.inbox.restarts_tx.clone();
        tokio::spawn(async move {
            let result = stopping.await;
            let _ = report.send(Restarted { generation, result });
        });
        self.restarting = Some(Restart {
            generation,
            next,
            swapped,
            superseded: false,
        });
    }

    /// A restart task reported: the new process starts, or the machine
    /// hears that it could not. A report from a cancelled restart is
    /// dropped.
    pub(super) async fn restarted(&mut self, report: Restarted) {
        let Some(restart) = self
            .restarting
            .take_if(|r| r.generation == report.generation)
        else {
            return;
        };
        let Restart {
            next,
            swapped,
            superseded,
            ..
        } = restart;
        if superseded && self.service.reads_files_at_start() {
            // The unit may have read the files the later activation replaced.
            self.restart_service(next, swapped).await;
            return;
        }
        let Start {
            env,
            release,
            stage,
        } = next;
        let started = match report.result {
            Ok(()) => self.service.finish_restart(&env, &release.id).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => {
                self.health.prober.forget();
                self.health.service_since = Some(chrono::Utc::now());
                let now = Instant::now();
                if let Some(timer) = &mut self.rollback_timer
                    && timer.restarted.is_none()
                {
                    timer.restart = Some(now - swapped);
                    timer.restarted = Some(now);
                }
            }
            Err(e) => {
                self.activation_failed(release, stage, &e);
                self.step_followups().await;
            }
        }
        self.publish(true);
    }

    /// An emergency stop (or any stop the machine orders) wins over a
    /// restart under way: its new process never starts.
    pub(super) fn cancel_restart(&mut self) {
        self.restarting = None;
    }
}

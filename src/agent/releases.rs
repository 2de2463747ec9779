//! Releases on their way in: the candidate the pipeline accepted, its
//! validate command, storing it once it passed, and the smoke deploy that
//! runs it without trading.

use chrono::Utc;
use serde_json::json;

use super::replies::Waiter;
use super::store::ReleaseMeta;
use super::{Agent, command, smoke};
use crate::pipeline::{Actor, Event, Phase, ReleaseRef};
use crate::wire::{ErrorCode, Reply};

/// What the agent is doing about a validate command it started.
pub(super) enum Validation {
    Deploy,
    Smoke(ReleaseRef),
    DryRun(Waiter),
}

pub(super) struct ValidationDone {
    pub(super) purpose: Validation,
    pub(super) passed: bool,
    pub(super) detail: String,
}

/// A release the pipeline accepted, not yet stored: it is stored once it
/// passes validation (or when a smoke deploy runs it).
pub(super) struct Candidate {
    pub(super) release: ReleaseRef,
    pub(super) bytes: Vec<u8>,
    pub(super) meta: ReleaseMeta,
}

/// Who sent a release and why, as its metadata (releases/<id>.json)
/// records it.
pub(super) struct Provenance<'a> {
    pub actor: &'a Actor,
    pub reason: &'a str,
    pub tier: crate::pipeline::Tier,
    pub commit: &'a Option<String>,
    pub promotion: &'a Option<String>,
}

impl Agent {
    pub(super) fn start_validation(&mut self, release: &ReleaseRef, purpose: Validation) {
        let bytes = match &purpose {
            Validation::Deploy | Validation::Smoke(_) => self
                .candidate
                .as_ref()
                .filter(|c| c.release == *release)
                .map(|c| c.bytes.clone()),
            Validation::DryRun(..) => None,
        };
        self.run_validate(bytes.unwrap_or_default(), &release.digest, purpose);
    }

    /// Runs the validate command on a copy under candidates/ (0600, removed
    /// when it ends and on every start), so a rejected candidate leaves no
    /// trace among the releases and no secret in a shared temp dir.
    pub(super) fn run_validate(&mut self, bytes: Vec<u8>, digest: &str, purpose: Validation) {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tx = self.inbox.validations_tx.clone();
        let validate = self.config.validate.clone();
        let cwd = self.config.state_dir.clone();
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let short = digest.get(..12).unwrap_or(digest);
        let copy = match &validate {
            None => Ok(None),
            Some(_) => self
                .store
                .write_candidate(&format!("{short}-{run}"), &bytes)
                .map(Some),
        };
        let preflight = self.service.preflight(&bytes);
        tokio::spawn(async move {
            // The service first: a unit that cannot start, or an image
            // that cannot be pulled, fails the candidate before its
            // validate command runs.
            if let Some(preflight) = preflight
                && let Err(detail) = preflight.await
            {
                if let Ok(Some(path)) = &copy {
                    let _ = std::fs::remove_file(path);
                }
                let _ = tx.send(ValidationDone {
                    purpose,
                    passed: false,
                    detail,
                });
                return;
            }
            let (passed, detail) = match (validate, copy) {
                (None, _) => (true, "parsed; no validate command configured".to_string()),
                (Some(_), Err(e)) => (false, format!("cannot write the copy to validate: {e}")),
                (Some((argv, timeout_ms)), Ok(path)) => {
                    let path = path.unwrap_or_default();
                    let shown = path.display().to_string();
                    let ran =
                        command::run(&argv, &[("{env}", &shown)], &[], &cwd, timeout_ms).await;
                    let _ = std::fs::remove_file(&path);
                    let mut detail = format!("validate command {}", ran.summary);
                    if !ran.ok && !ran.output.is_empty() {
                        detail.push_str(&format!(": {}", ran.output));
                    }
                    (ran.ok, detail)
                }
            };
            let _ = tx.send(ValidationDone {
                purpose,
                passed,
                detail,
            });
        });
    }

    pub(super) async fn validated(&mut self, done: ValidationDone) {
        match done.purpose {
            Validation::Deploy => {
                // A release that passed is stored before the machine hears
                // of it, so a replayed `Validated` finds it on disk.
                let (mut passed, mut detail) = (done.passed, done.detail);
                if passed
                    && let Phase::Validating { candidate, .. } = &self.pipeline.phase
                    && let Err(e) = self.ensure_stored(&candidate.release.clone())
                {
                    passed = false;
                    detail = format!("passed validation but cannot be stored: {e:#}");
                }
                self.candidate = None;
                self.fact(Event::Validated { passed, detail }).await;
            }
            Validation::Smoke(release) => {
                if done.passed {
                    self.begin_smoke(release).await;
                } else {
                    let _ = self.inbox.smokes_tx.send(smoke::SmokeResult {
                        passed: false,
                        detail: done.detail,
                    });
                }
            }
            Validation::DryRun(waiter) => {
                let answer = if done.passed {
                    Reply::ok(&waiter.id, Some(json!({ "message": done.detail })))
                } else {
                    Reply::err(&waiter.id, ErrorCode::Invalid, done.detail)
                };
                self.answer(waiter, answer);
            }
        }
    }

    /// A release is written to releases/ the first time it is used, from
    /// the candidate that brought it.
    pub(super) fn ensure_stored(&mut self, release: &ReleaseRef) -> anyhow::Result<()> {
        if self.store.has_release(&release.id) {
            // An id is its content: a name given at submit that this host
            // already keeps for other bytes is refused, never reused.
            let stored = self.store.release_digest(&release.id)?;
            if stored != release.digest {
                anyhow::bail!(
                    "release {} is already stored here with other content (sha256 {})",
                    release.id,
                    stored.get(..12).unwrap_or(&stored)
                );
            }
            return Ok(());
        }
        let candidate = self
            .candidate
            .as_ref()
            .filter(|c| c.release == *release)
            .ok_or_else(|| anyhow::anyhow!("release {} is not stored", release.id))?;
        self.store
            .store_release(&release.id, &candidate.bytes, &candidate.meta)?;
        self.candidate = None;
        Ok(())
    }

    /// Names a received release: the id it was sent with (`named`, the
    /// same on every host), else the id its bytes already have here, else a
    /// new `<UTC stamp>-<hash8>`. It becomes the candidate only once the
    /// machine accepts its command.
    pub(super) fn make_candidate(
        &self,
        name: &str,
        content: &str,
        digest: String,
        named: Option<String>,
        sent: Provenance<'_>,
    ) -> Candidate {
        let Provenance {
            actor,
            reason,
            tier,
            commit,
            promotion,
        } = sent;
        let bytes = content.as_bytes().to_vec();
        let now = Utc::now();
        let release_id = named
            .or_else(|| self.store.find_release(&digest))
            .unwrap_or_else(|| format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &digest[..8]));
        let release = ReleaseRef {
            id: release_id.clone(),
            digest: digest.clone(),
        };
        Candidate {
            release,
            bytes,
            meta: ReleaseMeta {
                id: release_id,
                sha256: digest,
                source_name: crate::text::inert(name),
                stored_at: crate::stamp::rfc3339(now),
                submitted_by: actor.name.clone(),
                reason: reason.to_string(),
                tier: tier.as_str().to_string(),
                commit: commit.clone(),
                promotion: promotion.clone(),
            },
        }
    }

    /// The smoke's validate command passed: run the candidate in smoke mode
    /// and watch its log.
    pub(super) async fn begin_smoke(&mut self, release: ReleaseRef) {
        let Some(config) = self.config.smoke.clone() else {
            return;
        };
        let mark = self.service.log_mark();
        // The smoke's own restart replaces any still under way; what
        // served comes back when the smoke ends (Reconcile).
        self.cancel_restart();
        let started = async {
            self.ensure_stored(&release)?;
            self.store.point("current.env", &release)?;
            self.store.write_smoke_stage()?;
            let env = self.store.service_env()?;
            self.service.restart(&env, &release.id).await
        }
        .await;
        let tx = self.inbox.smokes_tx.clone();
        if let Err(e) = started {
            let _ = tx.send(smoke::SmokeResult {
                passed: false,
                detail: format!("running: cannot start {}: {e:#}", release.id),
            });
            return;
        }
        let watch = smoke::Watch {
            run: self.service.current_run(mark, &release.id).await,
            config,
        };
        tokio::spawn(async move {
            let _ = tx.send(smoke::watch(watch).await);
        });
    }

    /// The smoke ended: stop it, put back what served, tell the pipeline.
    pub(super) async fn finish_smoke(&mut self, result: smoke::SmokeResult) {
        if let Err(e) = self.service.stop().await {
            self.note_failure("stop", &format!("cannot stop the smoke deploy: {e:#}"));
        }
        // The pipeline restarts what served (if it was running); the links
        // go back in any case, so current.env never names a smoke.
        if let Some(serving) = self.pipeline.serving.clone() {
            let _ = self.store.point("current.env", &serving);
            let _ = self.store.write_stage(crate::pipeline::Stage::Live);
        }
        self.fact(Event::SmokeFinished {
            passed: result.passed,
            detail: result.detail,
        })
        .await;
    }
}

//! The on-host layout under the state dir, and every write to it.
//!
//! ```text
//! releases/<UTC stamp>-<hash8>.env   immutable releases (0400), with .json metadata
//! candidates/<sha256>.env            a submitted release while it validates (0600)
//! current.env -> releases/…          what the service runs
//! previous.env -> releases/…         the last known-good
//! stage.env                          TRADE_MODE / CANARY_MODE overlay
//! deploy_state.json                  the pipeline, rewritten atomically (0640)
//! audit.jsonl                        see audit.rs
//! agent.lock, agent.sock, service.pid, service.log, alerts.jsonl
//! ```
//! All writes go through `crate::durable`, with exact modes: a release holds
//! secrets, so only the agent's user reads it, whatever the umask.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::envfile::EnvFile;
use crate::pipeline::{Pipeline, ReleaseRef, Stage};

pub struct Store {
    pub dir: PathBuf,
}

/// deploy_state.json: the ADR's fields at the top for people and scripts,
/// then the whole pipeline the agent resumes from.
#[derive(Debug, Serialize, Deserialize)]
pub struct StateFile {
    /// The layout of `pipeline` (`state_upgrade.rs` reads older ones).
    #[serde(default)]
    pub format: u64,
    pub host: String,
    pub state: String,
    pub active_release: Option<String>,
    pub previous_release: Option<String>,
    pub updated_at: String,
    /// The audit head when this was saved: every decision up to it is in
    /// `pipeline`; recovery replays those after it (docs/layout.md).
    #[serde(default)]
    pub audit_seq: u64,
    pub pipeline: Pipeline,
}

/// Modes of what the agent writes (exact, not subject to the umask).
pub const RELEASE_MODE: u32 = 0o400;
pub const PRIVATE_MODE: u32 = 0o600;
pub const SHARED_MODE: u32 = 0o640;

/// releases/<id>.json
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseMeta {
    pub id: String,
    pub sha256: String,
    pub source_name: String,
    pub stored_at: String,
    pub submitted_by: String,
    pub reason: String,
    pub tier: String,
    pub commit: Option<String>,
    pub promotion: Option<String>,
}

impl Store {
    pub fn new(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir.join("releases"))?;
        fs::create_dir_all(dir.join("candidates"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn release_path(&self, id: &str) -> PathBuf {
        self.dir.join("releases").join(format!("{id}.env"))
    }

    pub fn load_state(&self) -> io::Result<Option<StateFile>> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
        match fs::read(self.path("deploy_state.json")) {
            Ok(bytes) => {
                let mut json: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
                super::state_upgrade::upgrade(&mut json).map_err(invalid)?;
                serde_json::from_value(json)
                    .map(Some)
                    .map_err(|e| invalid(e.to_string()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save_state(
        &self,
        host: &str,
        pipeline: &Pipeline,
        audit_seq: u64,
        now: &str,
    ) -> io::Result<()> {
        let file = StateFile {
            format: super::state_upgrade::STATE_FORMAT,
            host: host.to_string(),
            state: pipeline.word().as_str().to_string(),
            active_release: pipeline.serving.as_ref().map(|r| r.id.clone()),
            previous_release: pipeline.known_good.as_ref().map(|r| r.id.clone()),
            updated_at: now.to_string(),
            audit_seq,
            pipeline: pipeline.clone(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        durable::write_atomic_mode(&self.path("deploy_state.json"), &json, SHARED_MODE)?;
        crate::faults::point("state.saved");
        Ok(())
    }

    /// Keeps a submitted release's bytes while it validates: the validate
    /// command reads this file, and nothing else under the state dir
    /// changes until it passes.
    pub fn write_candidate(&self, digest: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.candidate_path(digest);
        durable::write_atomic_mode(&path, bytes, PRIVATE_MODE)?;
        Ok(path)
    }

    pub fn candidate_path(&self, digest: &str) -> PathBuf {
        self.dir.join("candidates").join(format!("{digest}.env"))
    }

    /// Removes every candidate copy: on start (a validation that a crash
    /// interrupted is dropped) and once a validation ends.
    pub fn clear_candidates(&self) -> io::Result<()> {
        for entry in fs::read_dir(self.dir.join("candidates"))?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        durable::sync_dir(&self.dir.join("candidates"))
    }

    /// The id of a stored release with this digest, if any: the same bytes
    /// submitted twice are one release.
    pub fn find_release(&self, digest: &str) -> Option<String> {
        let hash8 = digest.get(..8)?;
        let entries = fs::read_dir(self.dir.join("releases")).ok()?;
        entries.filter_map(Result::ok).find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".env")?;
            (id.ends_with(hash8)
                && fs::read(e.path()).is_ok_and(|b| crate::stamp::sha256_hex(&b) == digest))
            .then(|| id.to_string())
        })
    }

    /// Stores a release once; an existing one is left as it is.
    pub fn store_release(&self, id: &str, bytes: &[u8], meta: &ReleaseMeta) -> io::Result<()> {
        let path = self.release_path(id);
        if path.exists() {
            return Ok(());
        }
        let meta_json = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
        let meta_path = self.dir.join("releases").join(format!("{id}.json"));
        if !meta_path.exists() {
            durable::create_new(&meta_path, &meta_json, RELEASE_MODE)?;
        }
        durable::create_new(&path, bytes, RELEASE_MODE)?;
        crate::faults::point("release.stored");
        Ok(())
    }

    /// The sha256 of a stored release's bytes.
    pub fn release_digest(&self, id: &str) -> io::Result<String> {
        Ok(crate::stamp::sha256_hex(&fs::read(self.release_path(id))?))
    }

    pub fn has_release(&self, id: &str) -> bool {
        self.release_path(id).exists()
    }

    /// Points `link` (current.env or previous.env) at a stored release;
    /// returns whether it changed.
    pub fn point(&self, link: &str, release: &ReleaseRef) -> io::Result<bool> {
        let target = PathBuf::from("releases").join(format!("{}.env", release.id));
        let link = self.path(link);
        if fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
            return Ok(false);
        }
        durable::symlink_atomic(&target, &link)?;
        crate::faults::point("link.swapped");
        Ok(true)
    }

    /// The release id a link points at.
    pub fn pointed(&self, link: &str) -> Option<String> {
        let target = fs::read_link(self.path(link)).ok()?;
        let name = target.file_name()?.to_string_lossy().into_owned();
        name.strip_suffix(".env").map(str::to_string)
    }

    pub fn stage_overlay(stage: Stage) -> String {
        let mut text = format!("# written by gantry: the {stage} stage's overlay\n");
        for (k, v) in stage.overlay() {
            text.push_str(&format!("{k}={v}\n"));
        }
        text
    }

    /// Writes stage.env; returns whether it changed.
    pub fn write_stage(&self, stage: Stage) -> io::Result<bool> {
        let text = Self::stage_overlay(stage);
        let path = self.path("stage.env");
        if fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            return Ok(false);
        }
        durable::write_atomic_mode(&path, text.as_bytes(), SHARED_MODE)?;
        crate::faults::point("stage.written");
        Ok(true)
    }

    /// stage.env for a smoke deploy: the paper plane and no trade mode, so
    /// the service starts, replays and idles without trading.
    pub fn write_smoke_stage(&self) -> io::Result<()> {
        durable::write_atomic_mode(
            &self.path("stage.env"),
            b"# written by gantry: a smoke deploy (no trading)\nEXECUTION_PLANE=paper\n",
            SHARED_MODE,
        )
    }

    /// The environment the service runs with: current.env, then stage.env
    /// (the stage wins, as with systemd's EnvironmentFile order).
    pub fn service_env(&self) -> io::Result<Vec<(String, String)>> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = Default::default();
        for name in ["current.env", "stage.env"] {
            let bytes = crate::envfile::read_file(&self.path(name))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let parsed: EnvFile = crate::envfile::parse(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}")))?;
            for (k, v) in parsed.iter() {
                match at.get(k) {
                    Some(&i) => env[i].1 = v.to_string(),
                    None => {
                        at.insert(k.to_string(), env.len());
                        env.push((k.to_string(), v.to_string()));
                    }
                }
            }
        }
        Ok(env)
    }
}

/// The key-level diff between two stored releases (docs/protocol.md,
/// `release_diff`): values only for `public` keys.
pub fn release_diff(
    releases_dir: &Path,
    public: &[String],
    release: &str,
    against: Option<&str>,
) -> Result<Vec<crate::envfile::DiffLine>, String> {
    let read = |id: &str| -> Result<EnvFile, String> {
        // Ids are file names the agent made; refuse anything else.
        if id.contains('/') || id.starts_with('.') || id.is_empty() {
            return Err(format!("{} is not a release id", crate::text::inert(id)));
        }
        let shown = crate::text::inert(id);
        let bytes = crate::envfile::read_file(&releases_dir.join(format!("{id}.env")))
            .map_err(|e| format!("release {shown}: {e}"))?;
        crate::envfile::parse(&bytes).map_err(|e| format!("release {shown}: {e}"))
    };
    let new = read(release)?;
    let old = match against {
        Some(id) => read(id)?,
        None => EnvFile::default(),
    };
    Ok(crate::envfile::diff(&old, &new, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_immutable_and_found_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path()).unwrap();
        let bytes = b"A=1\n";
        let digest = crate::stamp::sha256_hex(bytes);
        let id = format!("20261124T120000Z-{}", &digest[..8]);
        let meta = ReleaseMeta {
            id: id.clone(),
            sha256: digest.clone(),
            source_name: "good.env".into(),
            stored_at: "now".into(),
            submitted_by: "ci".into(),
            reason: "r".into(),
            tier: "balanced".into(),
            commit: None,
            promotion: None,
        };
        store.store_release(&id, bytes, &meta).unwrap();
        store.store_release(&id, b"B=2\n", &meta).unwrap();
        assert_eq!(fs::read(store.release_path(&id)).unwrap(), bytes);
        assert_eq!(store.find_release(&digest), Some(id.clone()));
        let r = ReleaseRef {
            id: id.clone(),
            digest,
        };
        assert!(store.point("current.env", &r).unwrap());
        assert!(!store.point("current.env", &r).unwrap());
        assert_eq!(store.pointed("current.env"), Some(id));
        store.write_stage(Stage::Canary).unwrap();
        let env = store.service_env().unwrap();
        assert!(env.contains(&("CANARY_MODE".into(), "1".into())));
        assert!(env.contains(&("A".into(), "1".into())));
    }
}

//! The releases a host served live, as clients see them: `ctl releases`
//! (the `releases` op) and the control room's rollback picker.
//!
//! Built from `Pipeline::lived` (the agent's record of deploys, bounded by
//! `HISTORY_LIMIT`), newest first. Times are RFC 3339 UTC strings.

use serde::{Deserialize, Serialize};

use crate::pipeline::{OutcomeWord, Pipeline};
use crate::stamp::rfc3339;

/// The reply to `releases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Releases {
    pub host: String,
    /// What current.env points at.
    #[serde(default)]
    pub serving: Option<String>,
    /// Where a plain `rollback` goes (previous.env).
    #[serde(default)]
    pub known_good: Option<String>,
    pub releases: Vec<ReleaseEntry>,
}

/// One stint of a release in live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseEntry {
    pub release: String,
    pub digest: String,
    pub deploy_id: String,
    pub live_from: String,
    /// When the next deploy took over or the deploy ended; `null` while
    /// it serves.
    #[serde(default)]
    pub live_until: Option<String>,
    /// `live` (replaced, or serving), `rolled_back`, `halted`, `stopped`.
    pub ended: OutcomeWord,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub replaced_by: Option<String>,
    pub serving: bool,
    pub known_good: bool,
    /// `rollback --to` may go to it (passed live, not serving now).
    pub eligible: bool,
}

impl Releases {
    /// The releases a rollback may go to, newest first, each once.
    pub fn eligible(&self) -> Vec<&ReleaseEntry> {
        let mut seen = std::collections::HashSet::new();
        self.releases
            .iter()
            .filter(|r| r.eligible && seen.insert(r.digest.as_str()))
            .collect()
    }
}

pub fn of(pipeline: &Pipeline, host: &str) -> Releases {
    let serving = pipeline.serving.as_ref();
    let known_good = pipeline.known_good.as_ref();
    let releases = pipeline
        .lived()
        .into_iter()
        .map(|stint| ReleaseEntry {
            serving: serving == Some(&stint.release),
            known_good: known_good == Some(&stint.release),
            eligible: serving != Some(&stint.release) && pipeline.may_return_to(&stint.release),
            release: stint.release.id,
            digest: stint.release.digest,
            deploy_id: stint.deploy_id,
            live_from: rfc3339(stint.live_from),
            live_until: stint.live_until.map(rfc3339),
            ended: stint.ended,
            detail: stint.detail,
            replaced_by: stint.replaced_by,
        })
        .collect();
    Releases {
        host: host.to_string(),
        serving: serving.map(|r| r.id.clone()),
        known_good: known_good.map(|r| r.id.clone()),
        releases,
    }
}

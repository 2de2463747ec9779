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

/// The longest release name a client may give.
pub const MAX_NAME: usize = 64;

/// The release id a name given at submit (`ctl submit --name`, or the one a
/// rollout carries to every host) becomes: `<name>-<sha256 prefix>`, unless
/// it already ends with its own prefix, so the same content under the same
/// name has the same id on every host, and the id still names its content
/// (the `<UTC stamp>-<hash8>` ids an agent makes up have the same shape).
pub fn named_id(name: &str, digest: &str) -> Result<String, String> {
    let hash8 = digest.get(..8).unwrap_or(digest);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "release name {:?}: 1 to {MAX_NAME} characters",
            crate::text::inert(name)
        ));
    }
    if !name.chars().all(allowed) || name.starts_with(['.', '-']) {
        return Err(format!(
            "release name {:?}: only letters, digits, '.', '_' and '-', not first '.' or '-' (it names a file under releases/)",
            crate::text::inert(name)
        ));
    }
    Ok(if name.ends_with(&format!("-{hash8}")) {
        name.to_string()
    } else {
        format!("{name}-{hash8}")
    })
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

#[cfg(test)]
mod tests {
    use super::named_id;

    #[test]
    fn a_given_name_carries_its_content_prefix_once() {
        let digest = "ab12cd34".repeat(8);
        assert_eq!(named_id("v1.4.2", &digest).unwrap(), "v1.4.2-ab12cd34");
        // A rollout carries a whole id: it is kept as it is.
        let id = "20261130T104057Z-ab12cd34";
        assert_eq!(named_id(id, &digest).unwrap(), id);
        // Another content's prefix is only part of the name.
        assert_eq!(
            named_id("v1-deadbeef", &digest).unwrap(),
            "v1-deadbeef-ab12cd34"
        );
        for bad in [
            "",
            "../x",
            ".hidden",
            "-x",
            "a b",
            "v1/2",
            "é",
            &"x".repeat(65),
        ] {
            let e = named_id(bad, &digest).unwrap_err();
            assert!(e.starts_with("release name"), "{e}");
        }
    }
}

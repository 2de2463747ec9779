//! The releases this host served live, how each stint ended, and which of
//! them a named rollback (`rollback --to`) may return to.
//!
//! Read from the deploys the pipeline remembers (`HISTORY_LIMIT`): a
//! release is eligible when one of its deploys went live and stayed healthy
//! until another deploy replaced it (outcome `live`), or when it is the
//! known-good. A release rolled back or halted out of live never is: it
//! failed in front of real money.

use super::{Deploy, OutcomeWord, Pipeline, Refusal, RefusalKind, ReleaseRef, StateWord};
use crate::pipeline::Time;
use crate::pipeline::policy::Stage;

/// One stint of a release in live, newest first in `Pipeline::lived`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStint {
    pub release: ReleaseRef,
    pub deploy_id: String,
    pub live_from: Time,
    /// When the next deploy took over, or the deploy ended (a rollback, a
    /// halt); `None` while it still serves.
    pub live_until: Option<Time>,
    /// `live` (replaced, or still serving), `rolled_back`, `halted`, `stopped`.
    pub ended: OutcomeWord,
    pub detail: Option<String>,
    /// The deploy that replaced it, if one did.
    pub replaced_by: Option<String>,
}

impl Pipeline {
    /// Every deploy that reached live, newest first.
    pub fn lived(&self) -> Vec<LiveStint> {
        let mut deploys: Vec<&Deploy> = self.deploys().filter(|d| !d.stages.is_empty()).collect();
        deploys.sort_by_key(|d| d.stages[0].started_at);
        let mut stints = Vec::new();
        for (i, deploy) in deploys.iter().enumerate() {
            let Some(live) = deploy.stages.iter().find(|s| s.stage == Stage::Live) else {
                continue;
            };
            let next = deploys.get(i + 1);
            let ended = deploy.outcome.word();
            let live_until = match ended {
                OutcomeWord::Live => next.map(|n| n.stages[0].started_at),
                _ => deploy.ended_at,
            };
            stints.push(LiveStint {
                release: deploy.release.clone(),
                deploy_id: deploy.id.clone(),
                live_from: live.started_at,
                live_until,
                ended,
                detail: deploy.outcome.detail().map(str::to_string),
                replaced_by: next
                    .filter(|_| ended == OutcomeWord::Live)
                    .map(|n| n.id.clone()),
            });
        }
        stints.reverse();
        stints
    }

    /// Whether a named rollback may go to `release` (by digest).
    pub fn may_return_to(&self, release: &ReleaseRef) -> bool {
        self.known_good.as_ref() == Some(release)
            || self
                .deploys()
                .any(|d| d.release == *release && d.outcome.word() == OutcomeWord::Live)
    }

    /// `name` (a release id, or a digest prefix of 8 or more hex digits)
    /// as a release a named rollback may go to, or why not.
    pub fn return_target(&self, name: &str) -> Result<ReleaseRef, Refusal> {
        let named = |r: &ReleaseRef| {
            r.id == name
                || (name.len() >= 8
                    && name.bytes().all(|b| b.is_ascii_hexdigit())
                    && r.digest.starts_with(&name.to_ascii_lowercase()))
        };
        let known: Vec<&ReleaseRef> = (self.known_good.iter())
            .chain(self.deploys().map(|d| &d.release))
            .filter(|r| named(r))
            .collect();
        let refuse = |message: String| Err(Refusal::new(RefusalKind::Policy, message));
        if known.is_empty() {
            return refuse(format!(
                "no release {name:?} on this host: name one from `gantry ctl releases`"
            ));
        }
        match known.iter().find(|r| self.may_return_to(r)) {
            Some(release) if self.serving.as_ref() == Some(*release) => refuse(format!(
                "release {} is already serving (state {})",
                release.id,
                self.word()
            )),
            Some(release) => Ok((*release).clone()),
            None => refuse(format!(
                "release {} never passed live on this host (no deploy of it went live and \
                 stayed healthy); a named rollback goes only to a release that did",
                known[0].id
            )),
        }
    }

    /// The states a named rollback leaves: a deploy soaking, awaiting
    /// approval, or live.
    pub(super) fn refuse_named_rollback_in(&self, name: &str) -> Refusal {
        let word = self.word();
        let message = match word {
            StateWord::Halted => format!(
                "halted: rollback to {name} refused; an admin must rearm first (then `restore`)"
            ),
            StateWord::Idle => format!(
                "nothing is serving (state idle): rollback to {name} refused; after a rearm an \
                 admin restores the known-good with `restore`"
            ),
            _ => format!(
                "rollback to {name} refused in state {word}; it goes from shadow, paper, canary, \
                 awaiting_approval or live"
            ),
        };
        Refusal::new(RefusalKind::Policy, message)
    }
}

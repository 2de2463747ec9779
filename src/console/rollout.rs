//! What the control room knows of a rollout in progress, worked out from
//! the hosts' own statuses: a rollout marks each deploy it starts
//! "rollout wave W", so the fleet needs no rollout state of its own.
//! [`Rollout::of`] computes it from the hosts;
//! `view/fleet.rs` draws it as the fleet table's title.

use super::state::HostView;
use crate::wire::StateWord;
use crate::wire::Status;

/// The promotion a rollout writes on each deploy it starts, before the wave.
const MARK: &str = "rollout wave";

/// The wave of hosts that have none in the hosts file.
pub const NO_WAVE: &str = "—";

/// One release going out wave by wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// The release's sha256, in full.
    pub digest: String,
    /// In the order the hosts file first names them.
    pub waves: Vec<Wave>,
}

/// How far one wave is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    /// Hosts of the wave that have reported a status.
    pub hosts: usize,
    /// Of those, the ones live on the rollout's release.
    pub live: usize,
    /// A host of the wave rolled back or halted on the release.
    pub failed: bool,
    /// Hosts whose deploy of the release waits for an approval, by name.
    pub awaiting_approval: Vec<String>,
}

/// Where a wave stands, as the title marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Every host that reported is live on the release.
    Done,
    /// Not done, and a host rolled back or halted.
    Failed,
    /// Neither yet.
    Going,
}

impl Wave {
    pub fn standing(&self) -> Standing {
        if self.live == self.hosts {
            Standing::Done
        } else if self.failed {
            Standing::Failed
        } else {
            Standing::Going
        }
    }
}

impl Rollout {
    /// The rollout the first marked deploy belongs to, or `None` when no
    /// host is deploying for a rollout (or the marked deploy has no digest).
    pub fn of(hosts: &[HostView]) -> Option<Rollout> {
        let statuses: Vec<(&HostView, &Status)> = hosts
            .iter()
            .filter_map(|h| h.status.as_ref().map(|s| (h, s)))
            .collect();
        let digest = statuses
            .iter()
            .find(|(_, s)| s.promotion.as_deref().is_some_and(|p| p.starts_with(MARK)))
            .and_then(|(_, s)| s.deploy_digest.clone())?;
        let on_release = |d: &Option<String>| d.as_deref() == Some(digest.as_str());
        let mut names: Vec<&str> = Vec::new();
        for host in hosts {
            let name = wave_of(host);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let waves = names
            .into_iter()
            .map(|name| {
                let members: Vec<&(&HostView, &Status)> = statuses
                    .iter()
                    .filter(|(h, _)| wave_of(h) == name)
                    .collect();
                Wave {
                    name: name.to_string(),
                    hosts: members.len(),
                    live: members
                        .iter()
                        .filter(|(_, s)| {
                            s.state == StateWord::Live && on_release(&s.current_digest)
                        })
                        .count(),
                    failed: members.iter().any(|(_, s)| {
                        on_release(&s.deploy_digest)
                            && matches!(s.state, StateWord::RolledBack | StateWord::Halted)
                    }),
                    awaiting_approval: members
                        .iter()
                        .filter(|(_, s)| {
                            s.state == StateWord::AwaitingApproval && on_release(&s.deploy_digest)
                        })
                        .map(|(h, _)| h.name.clone())
                        .collect(),
                }
            })
            .collect();
        Some(Rollout { digest, waves })
    }
}

fn wave_of(host: &HostView) -> &str {
    host.wave.as_deref().unwrap_or(NO_WAVE)
}

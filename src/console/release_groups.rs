//! Hosts grouped by the release they serve: is the fleet on one release,
//! and which hosts are the odd ones out. Release names are the same on
//! every host a rollout (or `--name`) reached, so equal names are equal
//! releases. The RELEASE column marks an odd host, the header counts the
//! releases, `:releases` lists the groups.

use super::state::HostView;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReleaseGroups {
    /// Each release served and its hosts (indices), biggest group first,
    /// then by name.
    pub groups: Vec<(String, Vec<usize>)>,
}

impl ReleaseGroups {
    /// From what each host last said it serves (a host without a status or
    /// a release is in no group).
    pub fn of(hosts: &[HostView]) -> Self {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let Some(release) = host
                .status
                .as_ref()
                .and_then(|s| s.current_release.as_deref())
            else {
                continue;
            };
            match groups.iter_mut().find(|(r, _)| r == release) {
                Some((_, members)) => members.push(i),
                None => groups.push((release.to_string(), vec![i])),
            }
        }
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        Self { groups }
    }

    /// The release most hosts serve, if one group is bigger than every
    /// other (a tie has no majority, so no one is odd).
    pub fn majority(&self) -> Option<&str> {
        match self.groups.as_slice() {
            [] => None,
            [(only, _)] => Some(only),
            [(first, a), (_, b), ..] => (a.len() > b.len()).then_some(first.as_str()),
        }
    }

    /// Whether `host` serves a release other than the fleet's majority.
    pub fn is_odd(&self, host: usize) -> bool {
        let Some(majority) = self.majority() else {
            return false;
        };
        self.groups
            .iter()
            .any(|(release, members)| release != majority && members.contains(&host))
    }

    /// `3 releases: good-ae98c27c ×5 · v2-1f00aa12 ×1 (fra-1) · …`: the
    /// groups in one line, naming the hosts of every group but the biggest.
    pub fn summary(&self, hosts: &[HostView]) -> String {
        if self.groups.is_empty() {
            return "no host has said what it serves yet".into();
        }
        let parts: Vec<String> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, (release, members))| {
                let release = crate::text::inert(release);
                if i == 0 && self.majority().is_some() {
                    return format!("{release} ×{}", members.len());
                }
                let names: Vec<String> = members
                    .iter()
                    .filter_map(|m| hosts.get(*m))
                    .map(|h| crate::text::inert(&h.name))
                    .collect();
                format!("{release} ×{} ({})", members.len(), names.join(" "))
            })
            .collect();
        match self.groups.len() {
            1 => format!("one release: {}", parts.join("")),
            n => format!("{n} releases: {}", parts.join(" · ")),
        }
    }
}

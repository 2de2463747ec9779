//! What a host's link said, filed into the model: the link's state and
//! the role its agent grants, the host's status and checks, its PnL trail,
//! and audit entries (in time order, the newest `AUDIT_KEPT`; the open
//! dialog's own entry kept aside).

use chrono::{DateTime, Utc};

use super::state::{AUDIT_KEPT, HostView, Link, Model, Phase};
use crate::ssh::link::LinkEvent;
use crate::wire::pnl::PnlHistory;
use crate::wire::{AgentMsg, StateWord, Status};

/// Files one link event for host `index`, heard at `now`.
pub fn apply(model: &mut Model, index: usize, event: LinkEvent, now: DateTime<Utc>) {
    let Some(host) = model.hosts.get_mut(index) else {
        return;
    };
    match event {
        LinkEvent::Connecting { attempt } => {
            if !matches!(host.link, Link::Down { .. }) {
                host.link = Link::Connecting { attempt };
            }
        }
        LinkEvent::Up { role } => {
            host.role = Some(role);
            host.link = Link::Up { rtt: None };
            host.heard_at = Some(now);
        }
        LinkEvent::Rtt(rtt) => {
            if let Link::Up { rtt: slot } = &mut host.link {
                *slot = Some(rtt);
            }
        }
        LinkEvent::Down { error, retry_in } => {
            host.link = Link::Down {
                error,
                retry_at: now + chrono::Duration::from_std(retry_in).unwrap_or_default(),
            };
        }
        LinkEvent::Message(msg) => {
            host.heard_at = Some(now);
            match msg {
                AgentMsg::Heartbeat { .. } => {}
                AgentMsg::Snapshot { status, audit, pnl } => {
                    host.pnl = PnlHistory::from_points(&pnl);
                    track_pnl(host, &status, now);
                    host.took_status(*status, now);
                    for entry in audit {
                        let known = model
                            .audit
                            .iter()
                            .any(|(h, e)| *h == index && e.seq == entry.seq);
                        if !known {
                            model.audit.push_back((index, entry));
                        }
                    }
                    sort_and_trim(model);
                }
                AgentMsg::State { status } => {
                    track_pnl(host, &status, now);
                    host.took_status(*status, now);
                }
                AgentMsg::Health { checks, .. } => {
                    if let Some(status) = &mut host.status {
                        status.checks = checks;
                        host.checks_at = Some(now);
                    }
                    if let Some(pnl) = host.check_value("pnl")
                        && !matches!(host.state(), StateWord::Halted | StateWord::Idle)
                    {
                        host.pnl.record(now, pnl);
                    }
                }
                AgentMsg::Audit { entry } => {
                    if let Some(dialog) = &mut model.dialog
                        && dialog.host == index
                        && entry.kind == dialog.kind.audit_kind()
                        && !matches!(dialog.phase, Phase::Editing)
                        && dialog.audit.is_none()
                    {
                        dialog.audit = Some(entry.clone());
                    }
                    model.audit.push_back((index, *entry));
                    sort_and_trim(model);
                }
                AgentMsg::Log { lines, skipped, .. } => {
                    if let Some(view) = &mut model.logs
                        && view.host == index
                    {
                        view.append(lines, skipped);
                    }
                }
                AgentMsg::Hello { .. } | AgentMsg::Reply(_) => {}
            }
        }
    }
}

/// A new status and the sparkline: a halt (or idle after it) clears the
/// old line, since the service that drew it is stopped; otherwise the PnL
/// check's value is a sample.
fn track_pnl(host: &mut HostView, status: &Status, now: DateTime<Utc>) {
    if matches!(status.state, StateWord::Halted | StateWord::Idle) {
        host.pnl.clear();
        return;
    }
    let value = (status.checks.iter())
        .find(|c| c.name.contains("pnl"))
        .and_then(|c| c.value);
    if let Some(value) = value {
        host.pnl.record(now, value);
    }
}

fn sort_and_trim(model: &mut Model) {
    model
        .audit
        .make_contiguous()
        .sort_by(|a, b| a.1.at.cmp(&b.1.at));
    while model.audit.len() > AUDIT_KEPT {
        model.audit.pop_front();
    }
}

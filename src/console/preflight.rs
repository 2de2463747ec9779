//! What an action needs before its dialog opens, and what can make an
//! open dialog untrue: an action that cannot apply to the host as it
//! stands (`r` with no known-good, `d` on a host that is not live,
//! `:rearm` on a host not halted) is refused with one line and no dialog,
//! before any typing; a dialog remembers the host as it opened, so a
//! change under it (state, deploy) is said at its top; an approval names
//! the earlier waves that still wait.
//!
//! A refusal here reads the host's last status, and only fresh data is
//! trusted with it: on a stale host the dialog opens (saying it is stale)
//! and the agent decides, since the host may have changed meanwhile.

use chrono::{DateTime, Utc};

use super::state::{Dialog, DialogKind, HostView, Model};
use crate::text::inert;
use crate::wire::StateWord;

/// Why `kind` cannot apply to `host` as it stands, if it cannot: the
/// agent's own refusal, said before a dialog opens.
pub fn refusal(kind: DialogKind, host: &HostView, now: DateTime<Utc>) -> Option<String> {
    if host.stale_for(now).is_some() {
        return None;
    }
    let status = host.status.as_ref()?;
    let state = status.state;
    let known_good = status.previous_release.as_deref();
    let why = match kind {
        DialogKind::Approve if status.awaiting_approval.is_none() => {
            format!("nothing awaits approval (state {state})")
        }
        DialogKind::Rollback if matches!(state, StateWord::Idle | StateWord::Halted) => {
            format!("nothing to roll back (state {state})")
        }
        DialogKind::Rollback if known_good.is_none() => {
            "known-good none: nothing to roll back to".into()
        }
        DialogKind::Drill if state != StateWord::Live => {
            format!("a drill needs a live release (state {state})")
        }
        DialogKind::Drill if known_good.is_none() => {
            "known-good none: a drill needs one to roll back to".into()
        }
        DialogKind::Drill if known_good == status.current_release.as_deref() => {
            "the known-good is the live release: nothing to drill to".into()
        }
        DialogKind::Rearm if state != StateWord::Halted => {
            format!("not halted (state {state})")
        }
        DialogKind::Rearm if status.estop.as_ref().is_some_and(|e| !e.settled()) => {
            "the emergency stop has not answered yet; rearm once it has".into()
        }
        DialogKind::Restore if state != StateWord::Idle => {
            format!("restore starts from idle, after a rearm (state {state})")
        }
        _ => return None,
    };
    let op = match kind {
        DialogKind::Drill => "drill",
        other => other.audit_kind(),
    };
    Some(inert(&format!("{}: {op} refused: {why}", host.name)))
}

/// What changed on `host` since `dialog` opened (state, deploy), in a
/// few words; `None` when nothing did.
pub fn changed_under(dialog: &Dialog, host: &HostView) -> Option<String> {
    let (state, deploy) = (
        host.state(),
        host.status.as_ref().and_then(|s| s.deploy_id.clone()),
    );
    let mut what = Vec::new();
    if state != dialog.opened_state {
        what.push(format!("state {} → {state}", dialog.opened_state));
    }
    if deploy != dialog.opened_deploy {
        let id = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
        what.push(format!(
            "deploy {} → {}",
            id(&dialog.opened_deploy),
            id(&deploy)
        ));
    }
    (!what.is_empty()).then(|| inert(&what.join(", ")))
}

/// Waves in rollout order: the hosts file's `waves`, else as the hosts
/// (in hosts-file order) first name them.
fn wave_order(model: &Model) -> Vec<&str> {
    if !model.waves.is_empty() {
        return model.waves.iter().map(String::as_str).collect();
    }
    let mut waves: Vec<&str> = Vec::new();
    for wave in model.hosts.iter().filter_map(|h| h.wave.as_deref()) {
        if !waves.contains(&wave) {
            waves.push(wave);
        }
    }
    waves
}

/// Hosts of a wave before `host`'s that still wait: awaiting approval or
/// still soaking (shadow, paper, canary, validating): (wave, host, state).
pub fn earlier_waves_waiting(model: &Model, host: usize) -> Vec<(String, String, StateWord)> {
    let Some(wave) = model.hosts.get(host).and_then(|h| h.wave.as_deref()) else {
        return Vec::new();
    };
    let order = wave_order(model);
    let Some(position) = order.iter().position(|w| *w == wave) else {
        return Vec::new();
    };
    let before = &order[..position];
    model
        .hosts
        .iter()
        .filter(|h| h.wave.as_deref().is_some_and(|w| before.contains(&w)))
        .filter(|h| {
            matches!(
                h.state(),
                StateWord::AwaitingApproval
                    | StateWord::Shadow
                    | StateWord::Paper
                    | StateWord::Canary
                    | StateWord::Validating
            )
        })
        .map(|h| {
            (
                h.wave.clone().unwrap_or_default(),
                h.name.clone(),
                h.state(),
            )
        })
        .collect()
}

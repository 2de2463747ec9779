//! One wave of a rollout, run to its end: submit where this rollout has not
//! been (or, once decided, only watch), then poll every host until each is
//! live or failed, saying once who waits for an approval or cannot be
//! reached.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::standing::{Standing, standing};
use super::{POLL, Rollout, Wave, connect, futures_join, look_with, promotion, standing_of};
use crate::ssh::target::Target;
use crate::text::inert;
use crate::wire::Request;

/// Submits on one host unless this rollout already has it there; with
/// `submit` false (the rollout was decided), only says where it stands.
async fn start_host(
    target: &Target,
    rollout: &Rollout,
    wave: &str,
    submit: bool,
) -> Result<String, String> {
    let (_session, mut client) = connect(target)
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    let (status, history) = look_with(&mut client).await?;
    let release = &rollout.release;
    match standing(&status, &history, &release.digest, &rollout.id) {
        Standing::Live => return Ok("already live on this release; skipped".into()),
        Standing::Moved(now) => {
            return Ok(format!(
                "went live on this release in this rollout, now {now}; left as it is"
            ));
        }
        Standing::InFlight(state) => {
            return Ok(format!("already deploying it ({state}); waiting"));
        }
        Standing::Failed(why) => {
            return Err(format!(
                "failed earlier in {} ({why}); not sent again",
                rollout.id
            ));
        }
        Standing::RolledBack => {
            return Err(format!("rolled back by {}; not sent again", rollout.id));
        }
        Standing::NotStarted if !submit => {
            return Err("not started: the rollout had already failed".into());
        }
        Standing::NotStarted => {}
    }
    let reply = client
        .ask(
            Request::Submit {
                name: release.name.clone(),
                content: release.content.clone(),
                tier: release.tier,
                commit: release.commit.clone(),
                promotion: Some(promotion(wave, &rollout.id, release.promotion.as_deref())),
                override_freeze: release.override_freeze,
                release: Some(rollout.release_id.clone()),
            },
            Some(release.reason.clone()),
            Some(&rollout.operator),
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
    if reply.ok {
        Ok(reply.message().unwrap_or("submitted").to_string())
    } else {
        Err(format!(
            "refused: {}",
            reply.error.unwrap_or_else(|| "no reason given".into())
        ))
    }
}

/// How a wave is run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Mode {
    /// Submit where this rollout has not been; end the wave at its first
    /// failure when `stop_early` (the primary wave: its failure rolls back
    /// at once, so waiting for the rest would only widen the exposure).
    Deploy { stop_early: bool },
    /// The rollout is decided: submit nothing, wait for the deploys in flight.
    Watch,
}

/// How a wave ended: each host's result, and the hosts that failed.
pub(super) struct WaveEnd {
    pub(super) results: Vec<(String, Result<(), String>)>,
    pub(super) failed: Vec<(String, String)>,
}

/// Runs one wave to the end: every host live, or some failed.
pub(super) async fn run_wave(wave: &Wave, rollout: &Arc<Rollout>, mode: Mode) -> WaveEnd {
    let submit = matches!(mode, Mode::Deploy { .. });
    let starts = futures_join(wave.hosts.iter().cloned().map(|target| {
        let (rollout, wave) = (rollout.clone(), wave.name.clone());
        async move { start_host(&target, &rollout, &wave, submit).await }
    }))
    .await;
    if submit {
        crate::faults::point("rollout.submitted");
    }
    let mut outcome: BTreeMap<String, Option<Result<(), String>>> = BTreeMap::new();
    for (target, started) in wave.hosts.iter().zip(starts) {
        match started {
            Ok(message) => {
                println!("  {}: {}", inert(&target.name), inert(&message));
                outcome.insert(target.name.clone(), None);
            }
            Err(e) => {
                println!("  {}: FAILED: {}", inert(&target.name), inert(&e));
                outcome.insert(target.name.clone(), Some(Err(e)));
            }
        }
    }
    let stop_early = mode == Mode::Deploy { stop_early: true };
    let failed = |outcome: &BTreeMap<String, Option<Result<(), String>>>| {
        outcome.values().any(|o| matches!(o, Some(Err(_))))
    };
    let mut told_waiting: Vec<String> = Vec::new();
    let mut told_unreachable: Vec<String> = Vec::new();
    while outcome.values().any(Option::is_none) && !(stop_early && failed(&outcome)) {
        tokio::time::sleep(POLL).await;
        let pending: Vec<&Target> = wave
            .hosts
            .iter()
            .filter(|t| outcome.get(&t.name).is_some_and(Option::is_none))
            .collect();
        let standings = futures_join(pending.iter().map(|t| {
            let (target, rollout) = ((*t).clone(), rollout.clone());
            async move { standing_of(&target, &rollout).await }
        }))
        .await;
        for (target, seen) in pending.into_iter().zip(standings) {
            let name = inert(&target.name);
            let (standing, status) = match seen {
                Ok(seen) => seen,
                Err(e) => {
                    // An unreachable host is not a failed deploy: its agent
                    // goes on; keep watching, and say so once.
                    if !told_unreachable.contains(&target.name) {
                        told_unreachable.push(target.name.clone());
                        println!("  {name}: unreachable ({}); still waiting", inert(&e));
                    }
                    continue;
                }
            };
            let ended = match standing {
                Standing::Live | Standing::Moved(_) => {
                    println!("  {name}: live");
                    Ok(())
                }
                Standing::InFlight(state) => {
                    if state == "awaiting_approval" && !told_waiting.contains(&target.name) {
                        told_waiting.push(target.name.clone());
                        println!(
                            "  {name}: waiting for a human to approve deploy {} (gantry ctl --host {name} approve --reason …)",
                            inert(status.deploy_id.as_deref().unwrap_or("?"))
                        );
                    }
                    continue;
                }
                Standing::Failed(why) => Err(why),
                Standing::RolledBack => Err(format!("rolled back by {}", rollout.id)),
                Standing::NotStarted => Err(format!(
                    "state {}, not on this release",
                    status.state.as_str()
                )),
            };
            if let Err(why) = &ended {
                println!("  {name}: FAILED: {}", inert(why));
            }
            outcome.insert(target.name.clone(), Some(ended));
        }
    }
    let failed = outcome
        .iter()
        .filter_map(|(name, o)| match o {
            Some(Err(why)) => Some((name.clone(), why.clone())),
            _ => None,
        })
        .collect();
    let results = outcome
        .into_iter()
        .map(|(name, result)| {
            // Only when the wave stopped early; the decision rolls it back.
            let result =
                result.unwrap_or_else(|| Err("still deploying when the wave failed".into()));
            (name, result)
        })
        .collect();
    WaveEnd { results, failed }
}

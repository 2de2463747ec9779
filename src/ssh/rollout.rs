//! `gantry ctl --hosts FILE rollout ENVFILE --reason R`: one release across
//! a fleet, wave by wave, in the order the hosts file declares its waves.
//!
//! - A wave starts when every host of the wave before is live. An approval
//!   still waits for a human; the rollout says whom it waits for.
//! - A failure in the first wave (canary) stops the rollout.
//! - A failure in the second wave (primary) rolls back, at once, every host
//!   of the first two waves that took the release; no later wave starts.
//! - A failure in a later wave is reported; the primary keeps the release.
//!
//! # Killed and run again
//!
//! The rollout keeps no state of its own. What it did is written on the
//! hosts it touched, and every run reads all of it back before it acts, so
//! a run after a kill ends where an uninterrupted run would have:
//!
//! - A rollout is named by its release's sha256 and the fleet's waves (wave
//!   names and host names, in order): `rollout-<12 hex>`, the same each
//!   time the command is run again. Every deploy it submits carries
//!   `rollout wave W (rollout-…)` as its promotion, then the user's
//!   `--promotion`, so a host's history tells which deploy is this rollout's.
//! - A deploy of this rollout that ended badly (rolled back, rejected,
//!   stopped, halted) or is rolling back is a failure record. When the
//!   rollout itself rolled it back, the rollback's reason names the rollout:
//!   that record is the primary-wave decision being carried out, not a
//!   failure of its own.
//! - The decision is derived from those records: a rollback by the rollout
//!   means the primary wave failed; otherwise the earliest wave with a
//!   failure decides. Once decided, nothing is submitted again anywhere:
//!   the rollout finishes what the decision asks (rollbacks, or waiting for
//!   the failed wave's deploys in flight) and exits as the first run would.
//!   A host with a failure record of this rollout is never sent the release
//!   again, decision or not.
//! - The P1 names the rollout as well; one already in the audit of a host of
//!   the failed wave is not raised again.
//!
//! Crash points (src/faults.rs; a kill at each is tested):
//! `rollout.submitted` (the first wave's submits are sent),
//! `rollout.failed` (a wave failed, nothing acted on),
//! `rollout.rolled-back-one` (after the first rollback),
//! `rollout.rolled-back-all` (every rollback done, the P1 not raised).
//!
//! Whether this process lives or not, every host finishes or rolls back on
//! its own: the agents own the pipeline; the rollout submits, watches, and
//! rolls back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{Session, Target};
use super::hosts::HostsFile;
use crate::client::WireClient;
use crate::exit::{Code, fail};
use crate::pipeline::Tier;
use crate::text::inert;
use crate::wire::history::{History, HistoryEntry};
use crate::wire::{AuditEntry, Request, Status};

/// How often each host's status is polled while a wave runs.
const POLL: Duration = Duration::from_millis(500);

/// How long a rollback waits for a host to leave `validating` or
/// `rolling_back` before it says it could not.
const SETTLE: Duration = Duration::from_secs(120);

/// Audit entries searched for an earlier run's P1 on each host of the failed
/// wave. A rollout's P1 follows its deploys by seconds, so a few hundred
/// entries reach back far enough; older, it is raised again.
const AUDIT_SCAN: usize = 500;

pub struct Release {
    pub name: String,
    pub content: String,
    pub digest: String,
    pub tier: Tier,
    pub reason: String,
    pub commit: Option<String>,
    pub promotion: Option<String>,
    pub override_freeze: bool,
}

/// One wave: its name and its hosts, in file order.
pub struct Wave {
    pub name: String,
    pub hosts: Vec<Target>,
}

/// The waves in the order the file declares them (its `waves` list, else
/// first appearance); hosts with no wave go last.
pub fn waves(file: &HostsFile, targets: Vec<Target>) -> Vec<Wave> {
    let mut order: Vec<String> = file.waves.clone();
    for entry in &file.hosts {
        let wave = entry.wave.clone().unwrap_or_else(|| "(no wave)".into());
        if !order.contains(&wave) {
            order.push(wave);
        }
    }
    let mut by_wave: BTreeMap<usize, Vec<Target>> = BTreeMap::new();
    for (entry, target) in file.hosts.iter().zip(targets) {
        let wave = entry.wave.clone().unwrap_or_else(|| "(no wave)".into());
        let index = order.iter().position(|w| *w == wave).unwrap_or(order.len());
        by_wave.entry(index).or_default().push(target);
    }
    by_wave
        .into_iter()
        .map(|(index, hosts)| Wave {
            name: order.get(index).cloned().unwrap_or_default(),
            hosts,
        })
        .collect()
}

/// The rollout's name: the same release over the same waves of the same
/// hosts is the same rollout. Addresses are left out (a host that moves is
/// the same host), and so is `--promotion` (a label; forgetting it on a
/// re-run must not make the failed release welcome again).
pub fn rollout_id(digest: &str, waves: &[Wave]) -> String {
    let fleet: Vec<(&str, Vec<&str>)> = waves
        .iter()
        .map(|w| {
            (
                w.name.as_str(),
                w.hosts.iter().map(|h| h.name.as_str()).collect(),
            )
        })
        .collect();
    // JSON: an unambiguous encoding of names that may hold any character.
    let text = json!(["gantry rollout", digest, fleet]).to_string();
    format!(
        "rollout-{}",
        &crate::stamp::sha256_hex(text.as_bytes())[..12]
    )
}

/// The promotion a rollout's deploy carries: it starts with `rollout wave`
/// (the control room reads that) and names the rollout (re-runs read that).
fn promotion(wave: &str, id: &str, user: Option<&str>) -> String {
    match user {
        Some(user) => format!("rollout wave {wave} ({id}) {user}"),
        None => format!("rollout wave {wave} ({id})"),
    }
}

/// Who runs the rollout, what, and under which name.
struct Rollout {
    id: String,
    release: Release,
    operator: String,
}

/// Where one host stands with this rollout.
#[derive(Debug, Clone, PartialEq)]
enum Standing {
    /// This rollout has not sent the release here: it may submit.
    NotStarted,
    /// Live on the release.
    Live,
    /// Went live on it in this rollout and has since moved on (to what):
    /// done, and nothing of the release to roll back.
    Moved(String),
    /// Deploying it (the state word).
    InFlight(String),
    /// The release failed here (why): a record that decides the rollout.
    Failed(String),
    /// Rolled back, or rolling back, by this rollout's own decision.
    RolledBack,
}

/// Reads one host's standing from its status and its history (newest
/// first); pure, so every case is a unit test.
fn standing(status: &Status, history: &[HistoryEntry], digest: &str, id: &str) -> Standing {
    let state = status.state.as_str();
    let deploying_it = status.deploy_digest.as_deref() == Some(digest);
    // A candidate being validated is not in the history yet.
    if state == "validating" && deploying_it {
        return Standing::InFlight(state.into());
    }
    let mine = history
        .iter()
        .find(|e| e.digest == digest && e.promotion.as_deref().is_some_and(|p| p.contains(id)));
    let Some(mine) = mine else {
        // Not this rollout's deploy: a release already live (or deploying)
        // counts, as when it was put there by hand.
        let on_it = status.current_digest.as_deref() == Some(digest);
        return match state {
            "live" if on_it => Standing::Live,
            "shadow" | "paper" | "canary" | "awaiting_approval" if deploying_it => {
                Standing::InFlight(state.into())
            }
            _ => Standing::NotStarted,
        };
    };
    let details = || {
        mine.outcome_detail
            .iter()
            .chain(mine.stages.iter().filter_map(|s| s.detail.as_ref()))
    };
    let by_us = details().any(|d| d.contains(id));
    let current = status.deploy_id.as_deref() == Some(mine.id.as_str());
    let why = || {
        // The outcome's detail, else the last stage's word (a stage that
        // failed says which check).
        let detail = mine
            .outcome_detail
            .clone()
            .or_else(|| mine.stages.last().and_then(|s| s.detail.clone()))
            .unwrap_or_default();
        format!("{}: {detail}", mine.outcome)
    };
    if current && state == "rolling_back" {
        // The outcome is written once the rollback is done; the aborted or
        // failed stage already says who asked.
        return if by_us {
            Standing::RolledBack
        } else {
            Standing::Failed(format!("rolling back: {}", why()))
        };
    }
    match mine.outcome.as_str() {
        "live" if state == "live" && status.current_digest.as_deref() == Some(digest) => {
            Standing::Live
        }
        "live" => Standing::Moved(format!(
            "{state} on {}",
            status.current_release.as_deref().unwrap_or("nothing")
        )),
        "in_flight" => Standing::InFlight(state.into()),
        // rolled_back, rejected, stopped, halted, or a word a newer agent
        // knows: never a reason to send the release again.
        _ if by_us => Standing::RolledBack,
        _ => Standing::Failed(why()),
    }
}

/// What the rollout decided: the failed wave, and its failed hosts (none
/// when only the rollbacks of an earlier run say it).
#[derive(Debug, Clone, PartialEq)]
struct Decision {
    wave: usize,
    failed: Vec<(String, String)>,
}

/// The decision the hosts' records imply, if they imply one.
fn decide(waves: &[Wave], standings: &BTreeMap<String, Standing>) -> Option<Decision> {
    let failed_in = |index: usize| -> Vec<(String, String)> {
        waves[index]
            .hosts
            .iter()
            .filter_map(|t| match standings.get(&t.name) {
                Some(Standing::Failed(why)) => Some((t.name.clone(), why.clone())),
                _ => None,
            })
            .collect()
    };
    // Only a primary-wave decision rolls back: one rollback of ours, and the
    // rest of them are still owed.
    if waves.len() > 1 && standings.values().any(|s| *s == Standing::RolledBack) {
        return Some(Decision {
            wave: 1,
            failed: failed_in(1),
        });
    }
    (0..waves.len()).find_map(|index| {
        let failed = failed_in(index);
        (!failed.is_empty()).then_some(Decision {
            wave: index,
            failed,
        })
    })
}

type Client = WireClient<russh::ChannelStream<russh::client::Msg>>;

async fn connect(target: &Target) -> Result<(Session, Client), String> {
    Session::open(target).await.map_err(|e| format!("{e:#}"))
}

/// A host's status and history, on one session.
async fn look_with(client: &mut Client) -> Result<(Status, Vec<HistoryEntry>), String> {
    let status = client.status().await.map_err(|e| format!("{e:#}"))?;
    let reply = client
        .ask(
            Request::History {
                limit: crate::pipeline::machine::HISTORY_LIMIT,
            },
            None,
            None,
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
    if !reply.ok {
        return Err(format!(
            "history refused: {}",
            reply.error.unwrap_or_default()
        ));
    }
    let history: History = serde_json::from_value(reply.data.unwrap_or(Value::Null))
        .map_err(|e| format!("history unreadable: {e}"))?;
    Ok((status, history.deploys))
}

async fn standing_of(target: &Target, rollout: &Rollout) -> Result<(Standing, Status), String> {
    let (_session, mut client) = connect(target).await?;
    let (status, history) = look_with(&mut client).await?;
    Ok((
        standing(&status, &history, &rollout.release.digest, &rollout.id),
        status,
    ))
}

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
            },
            Some(release.reason.clone()),
            Some(&rollout.operator),
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
    if reply.ok {
        Ok(reply
            .data
            .and_then(|d| {
                d.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "submitted".into()))
    } else {
        Err(format!(
            "refused: {}",
            reply.error.unwrap_or_else(|| "no reason given".into())
        ))
    }
}

/// How a wave is run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Submit where this rollout has not been; end the wave at its first
    /// failure when `stop_early` (the primary wave: its failure rolls back
    /// at once, so waiting for the rest would only widen the exposure).
    Deploy { stop_early: bool },
    /// The rollout is decided: submit nothing, wait for the deploys in flight.
    Watch,
}

/// How a wave ended: each host's result, and the hosts that failed.
struct WaveEnd {
    results: Vec<(String, Result<(), String>)>,
    failed: Vec<(String, String)>,
}

/// Runs one wave to the end: every host live, or some failed.
async fn run_wave(wave: &Wave, rollout: &Arc<Rollout>, mode: Mode) -> WaveEnd {
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

/// Rolls back one host if it serves or deploys the release; waits out a
/// validation or a rollback in progress first. `Ok(true)` when it asked.
async fn roll_back_host(target: &Target, rollout: &Rollout, why: &str) -> Result<bool, String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_session, mut client) = connect(target).await?;
        let status = client.status().await.map_err(|e| format!("{e:#}"))?;
        let digest = Some(rollout.release.digest.as_str());
        let took_it =
            status.current_digest.as_deref() == digest || status.deploy_digest.as_deref() == digest;
        match status.state.as_str() {
            _ if !took_it => return Ok(false),
            "rolled_back" | "halted" | "idle" => return Ok(false),
            // Nothing to roll back yet, or already under way: the agent
            // refuses a rollback in both; wait for it to settle.
            "validating" | "rolling_back" => {
                if Instant::now() > deadline {
                    return Err(format!("still {} after {SETTLE:?}", status.state));
                }
                drop(client);
                tokio::time::sleep(POLL).await;
            }
            _ => {
                // The reason names the rollout: the record that this rollback
                // carries out its decision (see the module doc).
                let reply = client
                    .ask(
                        Request::Rollback,
                        Some(format!("{}: {why}", rollout.id)),
                        Some(&rollout.operator),
                    )
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                return if reply.ok {
                    Ok(true)
                } else {
                    Err(reply.error.unwrap_or_else(|| "refused".into()))
                };
            }
        }
    }
}

/// Rolls back every host of `targets` that serves or deploys the release,
/// in file order; names those it could not.
async fn roll_back(targets: &[&Target], rollout: &Rollout, why: &str) -> Vec<String> {
    let mut failed = Vec::new();
    let mut asked = 0;
    for target in targets {
        let name = inert(&target.name);
        match roll_back_host(target, rollout, why).await {
            Ok(true) => {
                println!("  {name}: rolled back");
                asked += 1;
                if asked == 1 {
                    crate::faults::point("rollout.rolled-back-one");
                }
            }
            Ok(false) => println!("  {name}: not on the release; left as it is"),
            Err(e) => {
                println!("  {name}: rollback FAILED: {}", inert(&e));
                failed.push(target.name.clone());
            }
        }
    }
    failed
}

/// Carries out a decision (rollbacks for the primary wave) and raises the
/// P1; returns the message the rollout exits with. The same code for the
/// run that saw the failure and for any run after it.
async fn conclude(waves: &[Wave], rollout: &Rollout, decision: &Decision) -> String {
    crate::faults::point("rollout.failed");
    let wave = &waves[decision.wave];
    let names = if decision.failed.is_empty() {
        "a host (recorded by an earlier run)".to_string()
    } else {
        decision
            .failed
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = match decision.wave {
        0 => format!(
            "canary wave {} failed on {names}: rollout stopped; later waves not started",
            wave.name
        ),
        1 => {
            let why = format!("primary wave {} failed on {names}", wave.name);
            println!("{why}: rolling back every host that took the release");
            let took: Vec<&Target> = waves[..=1].iter().flat_map(|w| w.hosts.iter()).collect();
            let failed = roll_back(&took, rollout, &why).await;
            crate::faults::point("rollout.rolled-back-all");
            if failed.is_empty() {
                format!(
                    "{why}; every host that took the release was rolled back; later waves not started"
                )
            } else {
                format!(
                    "{why}; the rollback FAILED on {} (run the rollout again to retry); later waves not started",
                    failed.join(", ")
                )
            }
        }
        _ => format!(
            "wave {} failed on {names}; earlier waves keep the release; later waves not started",
            wave.name
        ),
    };
    raise_p1(&wave.hosts, &message, rollout).await;
    message
}

/// The audit sequence number of this rollout's P1 on a host, if raised.
async fn p1_raised(target: &Target, id: &str) -> Option<u64> {
    let (_session, mut client) = connect(target).await.ok()?;
    let reply = client
        .ask(Request::AuditTail { n: AUDIT_SCAN }, None, None)
        .await
        .ok()?;
    let entries: Vec<AuditEntry> = serde_json::from_value(reply.data?).ok()?;
    entries
        .iter()
        .find(|e| e.kind == "notify" && e.message.contains(id))
        .map(|e| e.seq)
}

/// A partial rollout failure is a P1 for the people on call: raised once,
/// through the first host of the failed wave that answers (its agent's
/// webhooks), and audited there. Once per rollout: an earlier run's P1
/// stands.
async fn raise_p1(hosts: &[Target], message: &str, rollout: &Rollout) {
    for target in hosts {
        if let Some(seq) = p1_raised(target, &rollout.id).await {
            println!(
                "P1 alert already raised through {} (audit #{seq})",
                inert(&target.name)
            );
            return;
        }
    }
    for target in hosts {
        let sent = async {
            let (_session, mut client) = connect(target).await.ok()?;
            let reply = client
                .ask(
                    Request::Notify {
                        priority: crate::pipeline::Priority::P1,
                        title: format!("rollout: {message} ({})", rollout.id),
                    },
                    Some("rollout failure".into()),
                    Some(&rollout.operator),
                )
                .await
                .ok()?;
            reply.ok.then_some(())
        }
        .await;
        if sent.is_some() {
            println!("P1 alert raised through {}", inert(&target.name));
            return;
        }
    }
    println!("could not raise the P1 alert: no host of the wave answered");
}

/// Every host's standing; a host that does not answer is left out (the
/// waves will try it again).
async fn survey(waves: &[Wave], rollout: &Arc<Rollout>) -> BTreeMap<String, Standing> {
    let targets: Vec<Target> = waves.iter().flat_map(|w| w.hosts.iter().cloned()).collect();
    let seen = futures_join(targets.iter().cloned().map(|target| {
        let rollout = rollout.clone();
        async move { standing_of(&target, &rollout).await }
    }))
    .await;
    targets
        .into_iter()
        .zip(seen)
        .filter_map(|(target, seen)| seen.ok().map(|(standing, _)| (target.name, standing)))
        .collect()
}

/// Awaits futures concurrently (bounded), results in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    // At most MAX_PARALLEL_SSH sessions at once, however large the wave.
    super::bounded(futures)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("rollout task panicked: {e}")))
        .collect()
}

fn wave_report(wave: &str, results: &[(String, Result<(), String>)]) -> Value {
    json!({
        "wave": wave,
        "hosts": results.iter().map(|(name, r)| json!({
            "host": name,
            "ok": r.is_ok(),
            "error": r.as_ref().err(),
        })).collect::<Vec<_>>(),
    })
}

/// A wave's results as the survey read them (for a decided rollout).
fn surveyed(
    wave: &Wave,
    standings: &BTreeMap<String, Standing>,
) -> Vec<(String, Result<(), String>)> {
    wave.hosts
        .iter()
        .map(|t| {
            let result = match standings.get(&t.name) {
                Some(Standing::Live | Standing::Moved(_)) => Ok(()),
                Some(Standing::Failed(why)) => Err(why.clone()),
                Some(Standing::RolledBack) => Err("rolled back by the rollout".into()),
                Some(Standing::InFlight(state)) => Err(format!("{state} when the wave failed")),
                Some(Standing::NotStarted) => Err("not started".into()),
                None => Err("unreachable".into()),
            };
            (t.name.clone(), result)
        })
        .collect()
}

pub async fn run(
    waves: Vec<Wave>,
    release: Release,
    operator: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let rollout = Arc::new(Rollout {
        id: rollout_id(&release.digest, &waves),
        release,
        operator: operator.to_string(),
    });
    println!(
        "rollout of {} (sha256 {}) in {} waves: {} [{}]",
        inert(&rollout.release.name),
        &rollout.release.digest[..12],
        waves.len(),
        waves
            .iter()
            .map(|w| format!("{} ({})", w.name, w.hosts.len()))
            .collect::<Vec<_>>()
            .join(" → "),
        rollout.id
    );
    // Read every host before acting: an earlier run's decision stands.
    let standings = survey(&waves, &rollout).await;
    if let Some(decision) = decide(&waves, &standings) {
        let wave = &waves[decision.wave];
        println!(
            "{} was decided by an earlier run: wave {} failed{}; nothing is sent again",
            rollout.id,
            inert(&wave.name),
            decision
                .failed
                .iter()
                .map(|(host, why)| format!("; {}: {}", inert(host), inert(why)))
                .collect::<String>()
        );
        let mut report: Vec<Value> = waves[..decision.wave]
            .iter()
            .map(|w| wave_report(&w.name, &surveyed(w, &standings)))
            .collect();
        let results = if decision.wave == 1 {
            // The primary's decision does not wait for the wave: it rolls back.
            surveyed(wave, &standings)
        } else {
            println!("wave {} ({}):", inert(&wave.name), wave.hosts.len());
            run_wave(wave, &rollout, Mode::Watch).await.results
        };
        report.push(wave_report(&wave.name, &results));
        let message = conclude(&waves, &rollout, &decision).await;
        return finish(false, message, report, as_json);
    }
    let mut report = Vec::new();
    for (index, wave) in waves.iter().enumerate() {
        println!("wave {} ({}):", inert(&wave.name), wave.hosts.len());
        let mode = Mode::Deploy {
            stop_early: index == 1,
        };
        let WaveEnd { results, failed } = run_wave(wave, &rollout, mode).await;
        report.push(wave_report(&wave.name, &results));
        if failed.is_empty() {
            continue;
        }
        let decision = Decision {
            wave: index,
            failed,
        };
        let message = conclude(&waves, &rollout, &decision).await;
        return finish(false, message, report, as_json);
    }
    let message = format!(
        "rollout complete: every host is live on {}",
        rollout.release.name
    );
    finish(true, message, report, as_json)
}

/// Prints the summary; a failure exits 1 with the message on stderr.
fn finish(ok: bool, message: String, report: Vec<Value>, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(
                &json!({ "ok": ok, "message": message, "waves": report })
            )?)
        );
    } else if ok {
        println!("{message}");
    }
    if ok {
        Ok(())
    } else {
        Err(fail(Code::Failed, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "ab";
    const ID: &str = "rollout-0123456789ab";

    fn status(state: &str, deploy: Option<(&str, &str)>, current: &str) -> Status {
        serde_json::from_value(json!({
            "host": "h", "state": state, "checks": [],
            "deploy_id": deploy.map(|d| d.0), "deploy_digest": deploy.map(|d| d.1),
            "current_digest": current, "current_release": format!("rel-{current}"),
            "service": {"kind": "command", "running": true, "pid": null},
            "agent_version": "0", "now": "2026-01-05T12:00:00Z",
        }))
        .unwrap()
    }

    fn entry(id: &str, promotion: &str, outcome: &str, detail: Option<&str>) -> HistoryEntry {
        serde_json::from_value(json!({
            "id": id, "release": "rel-ab", "digest": DIGEST, "tier": "balanced",
            "submitted_by": {"name": "amy", "role": "admin"},
            "submitted_at": "2026-01-05T12:00:00Z", "reason": "why",
            "promotion": promotion, "outcome": outcome, "outcome_detail": detail,
            "stages": [{"stage": "paper", "started_at": "2026-01-05T12:00:01Z",
                        "result": "aborted", "detail": detail}],
        }))
        .unwrap()
    }

    fn ours() -> String {
        promotion("primary", ID, Some("PR-42"))
    }

    #[test]
    fn a_host_reads_as_this_rollout_left_it() {
        let s = |state, deploy, current, history: &[HistoryEntry]| {
            standing(&status(state, deploy, current), history, DIGEST, ID)
        };
        // Nothing of ours: on it anyway counts; elsewhere may be sent it.
        assert_eq!(
            s("live", Some(("d-0", DIGEST)), DIGEST, &[]),
            Standing::Live
        );
        assert_eq!(
            s("live", Some(("d-0", "cd")), "cd", &[]),
            Standing::NotStarted
        );
        assert_eq!(
            s("rolled_back", Some(("d-0", DIGEST)), "cd", &[]),
            Standing::NotStarted,
            "a failure not of this rollout is not its record"
        );
        assert_eq!(
            s("validating", Some(("d-1", DIGEST)), "cd", &[]),
            Standing::InFlight("validating".into())
        );
        let live = [entry("d-1", &ours(), "live", None)];
        assert_eq!(
            s("live", Some(("d-1", DIGEST)), DIGEST, &live),
            Standing::Live
        );
        assert_eq!(
            s("live", Some(("d-2", "cd")), "cd", &live),
            Standing::Moved("live on rel-cd".into())
        );
        let flying = [entry("d-1", &ours(), "in_flight", None)];
        assert_eq!(
            s("paper", Some(("d-1", DIGEST)), DIGEST, &flying),
            Standing::InFlight("paper".into())
        );
        // Its own gate rolled it back, or is rolling it back: a failure.
        let gate = [entry("d-1", &ours(), "rolled_back", Some("drawdown 9 > 5"))];
        assert_eq!(
            s("rolled_back", Some(("d-1", DIGEST)), "cd", &gate),
            Standing::Failed("rolled_back: drawdown 9 > 5".into())
        );
        assert!(matches!(
            s("rolling_back", Some(("d-1", DIGEST)), "cd", &flying),
            Standing::Failed(_)
        ));
        // The record stays a failure after the host moved on.
        assert!(matches!(
            s("live", Some(("d-2", "ef")), "ef", &gate),
            Standing::Failed(_)
        ));
        // Rolled back by this rollout: its reason names the rollout, in
        // the outcome once done and in the aborted stage while under way.
        let reason = format!("rollback by amy: {ID}: primary wave primary failed on b");
        let done = [entry("d-1", &ours(), "rolled_back", Some(&reason))];
        assert_eq!(
            s("rolled_back", Some(("d-1", DIGEST)), "cd", &done),
            Standing::RolledBack
        );
        let mut under_way = entry("d-1", &ours(), "live", None);
        under_way.stages[0].detail = Some(reason.clone());
        assert_eq!(
            s("rolling_back", Some(("d-1", DIGEST)), "cd", &[under_way]),
            Standing::RolledBack
        );
        // Another rollout's deploy of the same release is not ours.
        let other = [entry(
            "d-1",
            &promotion("primary", "rollout-ffffffffffff", None),
            "rolled_back",
            Some("gate"),
        )];
        assert_eq!(
            s("rolled_back", Some(("d-1", DIGEST)), "cd", &other),
            Standing::NotStarted
        );
        // An outcome word this client does not know never invites a resend.
        let newer = [entry("d-1", &ours(), "quarantined", None)];
        assert!(matches!(
            s("idle", Some(("d-1", DIGEST)), "cd", &newer),
            Standing::Failed(_)
        ));
    }

    fn target(name: &str) -> Target {
        Target {
            name: name.into(),
            address: "127.0.0.1".into(),
            port: 22,
            user: "u".into(),
            identities: Vec::new(),
            certificates: Vec::new(),
            known_hosts: Vec::new(),
            host_key_alias: None,
            accept_new: false,
            jump: None,
            command: "gantry attach".into(),
            connect_timeout: Duration::from_secs(1),
        }
    }

    fn fleet() -> Vec<Wave> {
        [
            ("canary", &["a"][..]),
            ("primary", &["b", "c"]),
            ("full", &["d"]),
        ]
        .iter()
        .map(|(name, hosts)| Wave {
            name: (*name).into(),
            hosts: hosts.iter().map(|h| target(h)).collect(),
        })
        .collect()
    }

    #[test]
    fn the_records_decide_as_the_first_run_did() {
        let waves = fleet();
        let of = |pairs: &[(&str, Standing)]| -> BTreeMap<String, Standing> {
            pairs
                .iter()
                .map(|(h, s)| (h.to_string(), s.clone()))
                .collect()
        };
        let failed = || Standing::Failed("gate".into());
        assert_eq!(decide(&waves, &of(&[("a", Standing::Live)])), None);
        assert_eq!(
            decide(&waves, &of(&[("a", Standing::Live), ("b", failed())])),
            Some(Decision {
                wave: 1,
                failed: vec![("b".into(), "gate".into())],
            })
        );
        // Killed amid the rollbacks: the canary's says what was decided,
        // even where the failed primary cannot be read.
        assert_eq!(
            decide(
                &waves,
                &of(&[("a", Standing::RolledBack), ("c", Standing::Live)])
            ),
            Some(Decision {
                wave: 1,
                failed: Vec::new()
            })
        );
        assert_eq!(
            decide(&waves, &of(&[("a", failed()), ("d", failed())])).map(|d| d.wave),
            Some(0),
            "the earliest wave decides"
        );
        assert_eq!(
            decide(&waves, &of(&[("a", Standing::Live), ("d", failed())])).map(|d| d.wave),
            Some(2)
        );
    }

    #[test]
    fn the_same_command_is_the_same_rollout() {
        let waves = fleet();
        let id = rollout_id("ab", &waves);
        assert_eq!(id, rollout_id("ab", &fleet()));
        assert!(id.starts_with("rollout-") && id.len() == "rollout-".len() + 12);
        assert_ne!(id, rollout_id("cd", &waves));
        let mut regrouped = fleet();
        let moved = regrouped[1].hosts.pop().unwrap();
        regrouped[2].hosts.push(moved);
        assert_ne!(id, rollout_id("ab", &regrouped));
        let p = promotion("canary", &id, None);
        assert!(
            p.starts_with("rollout wave canary") && p.contains(&id),
            "{p}"
        );
    }
}

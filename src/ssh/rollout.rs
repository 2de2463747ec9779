//! `gantry ctl --hosts FILE rollout ENVFILE --reason R`: one release across
//! a fleet, wave by wave, in the order the hosts file declares its waves.
//!
//! - A wave starts when every host of the wave before is live. An approval
//!   still waits for a human; the rollout says whom it waits for.
//! - A failure in the first wave (canary) stops the rollout.
//! - A failure in the second wave (primary) rolls back every host that took
//!   the release, and no later wave starts.
//! - A failure in a later wave is reported; the primary keeps the release.
//!
//! Running the same rollout again resumes it: hosts already live on the
//! release are skipped, deploys of it still in flight are waited for. If
//! this process dies, every host finishes or rolls back on its own: the
//! agents own the pipeline; the rollout only submits and watches.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::client::{Session, Target};
use super::hosts::HostsFile;
use crate::client::WireClient;
use crate::exit::{Code, fail};
use crate::pipeline::Tier;
use crate::text::inert;
use crate::wire::{Request, Status};

/// How often each host's status is polled while a wave runs.
const POLL: Duration = Duration::from_millis(500);

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

/// Where one host stands with this release.
#[derive(Debug, Clone, PartialEq)]
enum Standing {
    Live,
    InFlight,
    Failed(String),
}

fn standing(status: &Status, digest: &str) -> Standing {
    let on_it = status.current_digest.as_deref() == Some(digest);
    let deploying_it = status.deploy_digest.as_deref() == Some(digest);
    match status.state.as_str() {
        "live" if on_it => Standing::Live,
        "validating" | "shadow" | "paper" | "canary" | "awaiting_approval" | "rolling_back"
            if deploying_it =>
        {
            if status.state == "rolling_back" {
                Standing::Failed("rolling back".into())
            } else {
                Standing::InFlight
            }
        }
        "rolled_back" if deploying_it => Standing::Failed("rolled back by its gate".into()),
        "halted" => Standing::Failed(format!(
            "halted: {}",
            status.halted_reason.as_deref().unwrap_or("")
        )),
        "idle" if deploying_it => {
            Standing::Failed("stopped: the first deploy failed its gate".into())
        }
        state => Standing::Failed(format!("state {state}, not on this release")),
    }
}

async fn connect(
    target: &Target,
) -> anyhow::Result<(
    Session,
    WireClient<russh::ChannelStream<russh::client::Msg>>,
)> {
    Session::open(target).await
}

/// Submits on one host unless it is already on (or deploying) the release.
async fn start_host(
    target: &Target,
    release: &Release,
    operator: &str,
    wave: &str,
) -> Result<String, String> {
    let (_session, mut client) = connect(target).await.map_err(|e| format!("{e:#}"))?;
    let status = client.status().await.map_err(|e| format!("{e:#}"))?;
    match standing(&status, &release.digest) {
        Standing::Live => return Ok("already live on this release; skipped".into()),
        Standing::InFlight => {
            return Ok(format!("already deploying it ({}); waiting", status.state));
        }
        Standing::Failed(_) => {}
    }
    let reply = client
        .ask(
            Request::Submit {
                name: release.name.clone(),
                content: release.content.clone(),
                tier: release.tier,
                commit: release.commit.clone(),
                promotion: release
                    .promotion
                    .clone()
                    .or_else(|| Some(format!("rollout wave {wave}"))),
                override_freeze: release.override_freeze,
            },
            Some(release.reason.clone()),
            Some(operator),
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
        Err(reply.error.unwrap_or_else(|| "refused".into()))
    }
}

async fn status_of(target: &Target) -> Result<Status, String> {
    let (_session, mut client) = connect(target).await.map_err(|e| format!("{e:#}"))?;
    client.status().await.map_err(|e| format!("{e:#}"))
}

/// Runs one wave to the end: every host live, or some failed.
async fn run_wave(
    wave: &Wave,
    release: &Arc<Release>,
    operator: &str,
) -> Vec<(String, Result<(), String>)> {
    let starts = futures_join(wave.hosts.iter().cloned().map(|target| {
        let (release, operator, wave) = (release.clone(), operator.to_string(), wave.name.clone());
        async move { start_host(&target, &release, &operator, &wave).await }
    }))
    .await;
    let mut outcome: BTreeMap<String, Option<Result<(), String>>> = BTreeMap::new();
    for (target, started) in wave.hosts.iter().zip(starts) {
        match started {
            Ok(message) => {
                println!("  {}: {}", inert(&target.name), inert(&message));
                outcome.insert(target.name.clone(), None);
            }
            Err(e) => {
                println!("  {}: refused: {}", inert(&target.name), inert(&e));
                outcome.insert(target.name.clone(), Some(Err(e)));
            }
        }
    }
    let mut told_waiting: Vec<String> = Vec::new();
    let mut told_unreachable: Vec<String> = Vec::new();
    while outcome.values().any(Option::is_none) {
        tokio::time::sleep(POLL).await;
        let pending: Vec<&Target> = wave
            .hosts
            .iter()
            .filter(|t| outcome.get(&t.name).is_some_and(Option::is_none))
            .collect();
        let statuses = futures_join(pending.iter().map(|t| {
            let target = (*t).clone();
            async move { status_of(&target).await }
        }))
        .await;
        for (target, status) in pending.into_iter().zip(statuses) {
            let name = inert(&target.name);
            match status {
                Err(e) => {
                    // An unreachable host is not a failed deploy: its agent
                    // goes on; keep watching, and say so once.
                    if !told_unreachable.contains(&target.name) {
                        told_unreachable.push(target.name.clone());
                        println!("  {name}: unreachable ({}); still waiting", inert(&e));
                    }
                }
                Ok(status) => match standing(&status, &release.digest) {
                    Standing::Live => {
                        println!("  {name}: live");
                        outcome.insert(target.name.clone(), Some(Ok(())));
                    }
                    Standing::InFlight => {
                        if status.state == "awaiting_approval"
                            && !told_waiting.contains(&target.name)
                        {
                            told_waiting.push(target.name.clone());
                            println!(
                                "  {name}: waiting for a human to approve deploy {} (gantry ctl --host {name} approve --reason …)",
                                inert(status.deploy_id.as_deref().unwrap_or("?"))
                            );
                        }
                    }
                    Standing::Failed(why) => {
                        println!("  {name}: FAILED: {}", inert(&why));
                        outcome.insert(target.name.clone(), Some(Err(why)));
                    }
                },
            }
        }
    }
    outcome
        .into_iter()
        .map(|(name, result)| (name, result.unwrap_or(Ok(()))))
        .collect()
}

/// Rolls back every host of `targets` that serves or deploys the release.
async fn roll_back(targets: &[&Target], release: &Release, operator: &str, why: &str) {
    for target in targets {
        let name = inert(&target.name);
        let result = async {
            let (_session, mut client) = connect(target).await.map_err(|e| format!("{e:#}"))?;
            let status = client.status().await.map_err(|e| format!("{e:#}"))?;
            let took_it = status.current_digest.as_deref() == Some(&release.digest)
                || status.deploy_digest.as_deref() == Some(&release.digest);
            if !took_it || matches!(status.state.as_str(), "rolled_back" | "halted" | "idle") {
                return Ok("did not take the release; left as it is".to_string());
            }
            let reply = client
                .ask(
                    Request::Rollback,
                    Some(format!("rollout: {why}")),
                    Some(operator),
                )
                .await
                .map_err(|e| format!("{e:#}"))?;
            if reply.ok {
                Ok("rolled back".into())
            } else {
                Err(reply.error.unwrap_or_default())
            }
        }
        .await;
        match result {
            Ok(m) => println!("  {name}: {m}"),
            Err(e) => println!("  {name}: rollback FAILED: {}", inert(&e)),
        }
    }
}

/// A partial rollout failure is a P1 for the people on call: raised once,
/// through the first host of the failed wave that answers (its agent's
/// webhooks), and audited there.
async fn raise_p1(hosts: &[Target], message: &str, operator: &str) {
    for target in hosts {
        let sent = async {
            let (_session, mut client) = connect(target).await.ok()?;
            let reply = client
                .ask(
                    Request::Notify {
                        priority: crate::pipeline::Priority::P1,
                        title: format!("rollout: {message}"),
                    },
                    Some("rollout failure".into()),
                    Some(operator),
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

/// Awaits futures concurrently, results in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(value) => out.push(value),
            Err(e) => panic!("rollout task panicked: {e}"),
        }
    }
    out
}

pub async fn run(
    waves: Vec<Wave>,
    release: Release,
    operator: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let release = Arc::new(release);
    println!(
        "rollout of {} (sha256 {}) in {} waves: {}",
        inert(&release.name),
        &release.digest[..12],
        waves.len(),
        waves
            .iter()
            .map(|w| format!("{} ({})", w.name, w.hosts.len()))
            .collect::<Vec<_>>()
            .join(" → ")
    );
    let mut report = Vec::new();
    for (index, wave) in waves.iter().enumerate() {
        println!("wave {} ({}):", inert(&wave.name), wave.hosts.len());
        let results = run_wave(wave, &release, operator).await;
        let failed: Vec<&(String, Result<(), String>)> =
            results.iter().filter(|(_, r)| r.is_err()).collect();
        report.push(json!({
            "wave": wave.name,
            "hosts": results.iter().map(|(name, r)| json!({
                "host": name,
                "ok": r.is_ok(),
                "error": r.as_ref().err(),
            })).collect::<Vec<_>>(),
        }));
        if failed.is_empty() {
            continue;
        }
        let names = failed
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let message = match index {
            0 => format!(
                "canary wave {} failed on {names}: rollout stopped; later waves not started",
                wave.name
            ),
            1 => {
                let why = format!("primary wave {} failed on {names}", wave.name);
                println!("{why}: rolling back every host that took the release");
                let took: Vec<&Target> = waves[..=1].iter().flat_map(|w| w.hosts.iter()).collect();
                roll_back(&took, &release, operator, &why).await;
                format!(
                    "{why}; every host that took the release was rolled back; later waves not started"
                )
            }
            _ => format!(
                "wave {} failed on {names}; earlier waves keep the release; later waves not started",
                wave.name
            ),
        };
        raise_p1(&wave.hosts, &message, operator).await;
        if as_json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({ "ok": false, "message": message, "waves": report })
                )?
            );
        }
        return Err(fail(Code::Failed, message));
    }
    let message = format!("rollout complete: every host is live on {}", release.name);
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "ok": true, "message": message, "waves": report })
            )?
        );
    } else {
        println!("{message}");
    }
    Ok(())
}

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
//!
//! Files: this one names the rollout and runs it; `standing.rs` reads where
//! a host stands and what the records decide (pure); `wave.rs` runs one
//! wave; `conclude.rs` carries out a failure (rollbacks, the P1).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use self::conclude::conclude;
use self::standing::{Decision, Standing, decide, standing};
use self::wave::{Mode, WaveEnd, run_wave};
use crate::client::WireClient;
use crate::exit::{Code, fail};
use crate::pipeline::Tier;
use crate::ssh::client::Session;
use crate::ssh::target::{Fleet, Target};
use crate::text::inert;
use crate::wire::Request;
use crate::wire::Status;
use crate::wire::history::{History, HistoryEntry};

mod conclude;
mod standing;
mod wave;

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
    /// `--name`: the release's name on every host.
    pub given_name: Option<String>,
}

/// One wave: its name and its hosts, in file order.
pub struct Wave {
    pub name: String,
    pub hosts: Vec<Target>,
}

/// The waves in the order the file declares them (its `waves` list, else
/// first appearance); hosts with no wave go last.
pub fn waves(fleet: Fleet) -> Vec<Wave> {
    let Fleet { file, targets } = fleet;
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
    /// The release's id on every host it is sent to (`release_name`).
    release_id: String,
    operator: String,
}

/// One name for the release on every host: `--name` if given; else the
/// id a host already knows this content by (an earlier, killed run of this
/// rollout, or a deploy by hand), first in wave order; else a new
/// `<UTC stamp>-<hash8>`, as an agent would make up.
fn release_name(
    given: Option<&str>,
    known: &[Option<String>],
    digest: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    if let Some(given) = given {
        return crate::wire::releases::named_id(given, digest);
    }
    Ok(known.iter().flatten().next().cloned().unwrap_or_else(|| {
        format!(
            "{}-{}",
            now.format("%Y%m%dT%H%M%SZ"),
            digest.get(..8).unwrap_or(digest)
        )
    }))
}

/// The id a host knows `digest` by: serving, deploying, or in its history.
fn known_id(status: &Status, history: &[HistoryEntry], digest: &str) -> Option<String> {
    let serving = (status.current_digest.as_deref() == Some(digest))
        .then(|| status.current_release.clone())
        .flatten();
    let deploying = (status.deploy_digest.as_deref() == Some(digest))
        .then(|| status.deploy_release.clone())
        .flatten();
    serving.or(deploying).or_else(|| {
        history
            .iter()
            .find(|e| e.digest == digest)
            .map(|e| e.release.clone())
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
    let (standing, status, _) = look_at(target, &rollout.id, &rollout.release.digest).await?;
    Ok((standing, status))
}

/// A host's standing in rollout `id`, its status, and the id it knows
/// `digest` by.
async fn look_at(
    target: &Target,
    id: &str,
    digest: &str,
) -> Result<(Standing, Status, Option<String>), String> {
    let (_session, mut client) = connect(target).await?;
    let (status, history) = look_with(&mut client).await?;
    let known = known_id(&status, &history, digest);
    Ok((standing(&status, &history, digest, id), status, known))
}

/// Every host's standing (a host that does not answer is left out: the
/// waves will try it again), and the ids hosts know the release by, in
/// wave order.
async fn survey(
    waves: &[Wave],
    id: &str,
    digest: &str,
) -> (BTreeMap<String, Standing>, Vec<Option<String>>) {
    let targets: Vec<Target> = waves.iter().flat_map(|w| w.hosts.iter().cloned()).collect();
    let seen = futures_join(targets.iter().cloned().map(|target| {
        let (id, digest) = (id.to_string(), digest.to_string());
        async move { look_at(&target, &id, &digest).await }
    }))
    .await;
    let mut known = Vec::new();
    let mut standings = BTreeMap::new();
    for (target, seen) in targets.into_iter().zip(seen) {
        if let Ok((standing, _, name)) = seen {
            standings.insert(target.name, standing);
            known.push(name);
        }
    }
    (standings, known)
}

/// Awaits futures concurrently (bounded), results in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    // At most MAX_PARALLEL_SSH sessions at once, however large the wave.
    crate::ssh::bounded(futures)
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
    let id = rollout_id(&release.digest, &waves);
    // Read every host before acting: an earlier run's decision stands, and
    // a name a host already knows the release by is kept.
    let (standings, known) = survey(&waves, &id, &release.digest).await;
    let release_id = release_name(
        release.given_name.as_deref(),
        &known,
        &release.digest,
        chrono::Utc::now(),
    )
    .map_err(|e| fail(Code::Usage, format!("--name: {e}")))?;
    let rollout = Arc::new(Rollout {
        id,
        release,
        release_id,
        operator: operator.to_string(),
    });
    println!(
        "rollout of {} as {} (sha256 {}) in {} waves: {} [{}]",
        inert(&rollout.release.name),
        inert(&rollout.release_id),
        &rollout.release.digest[..12],
        waves.len(),
        waves
            .iter()
            .map(|w| format!("{} ({})", w.name, w.hosts.len()))
            .collect::<Vec<_>>()
            .join(" → "),
        rollout.id
    );
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
        rollout.release_id
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

    pub(super) fn target(name: &str) -> Target {
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

    pub(super) fn fleet() -> Vec<Wave> {
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
        // One name: --name, else what a host knows it by, else new.
        let digest = "ab12cd34".repeat(8);
        let now = chrono::Utc::now();
        let known = [None, Some("20261101T000000Z-ab12cd34".to_string())];
        assert_eq!(
            release_name(Some("v7"), &known, &digest, now).unwrap(),
            "v7-ab12cd34"
        );
        assert_eq!(
            release_name(None, &known, &digest, now).unwrap(),
            "20261101T000000Z-ab12cd34"
        );
        let made = release_name(None, &[None], &digest, now).unwrap();
        assert!(made.ends_with("Z-ab12cd34") && made.len() == 25, "{made}");
        assert!(release_name(Some("../x"), &[], &digest, now).is_err());
        assert!(
            p.starts_with("rollout wave canary") && p.contains(&id),
            "{p}"
        );
    }
}

//! A failed wave, carried out: for the primary wave, every host of the
//! first two waves that took the release is rolled back; then one P1 is
//! raised through a host of the failed wave (once per rollout).

use std::time::{Duration, Instant};

use super::standing::Decision;
use super::{POLL, Rollout, Wave, connect};
use crate::pipeline::AuditKind;
use crate::ssh::target::Target;
use crate::text::inert;
use crate::wire::StateWord;
use crate::wire::{AuditEntry, Request};

/// How long a rollback waits for a host to leave `validating` or
/// `rolling_back` before it says it could not.
const SETTLE: Duration = Duration::from_secs(120);

/// Audit entries searched for an earlier run's P1 on each host of the failed
/// wave. A rollout's P1 follows its deploys by seconds, so a few hundred
/// entries reach back far enough; older, it is raised again.
const AUDIT_SCAN: usize = 500;

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
        match status.state {
            _ if !took_it => return Ok(false),
            StateWord::RolledBack | StateWord::Halted | StateWord::Idle => return Ok(false),
            // Nothing to roll back yet, or already under way: the agent
            // refuses a rollback in both; wait for it to settle.
            StateWord::Validating | StateWord::RollingBack => {
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
                        Request::Rollback { to: None },
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
pub(super) async fn conclude(waves: &[Wave], rollout: &Rollout, decision: &Decision) -> String {
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
        .find(|e| e.kind == AuditKind::Notify && e.message.contains(id))
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

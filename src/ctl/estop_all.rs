//! `gantry ctl --hosts FILE estop --reason R [--wave W]`: every host's
//! emergency stop at once, one row per host as each answers (halted, the
//! venue verified flat or not, the time it took). Exit 0 only if every
//! host is halted and flat; a host that could not be reached or refused is
//! named, and the others still stop.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::exit::{Code, fail};
use crate::ssh::client::Session;
use crate::ssh::target::{Fleet, Target};
use crate::text::inert;
use crate::wire::Request;
use crate::wire::estop::EstopView;

/// How one host's stop ended.
struct Row {
    name: String,
    took: Duration,
    /// Halted and proven flat.
    flat: bool,
    /// What the screen shows after the host name: `HALTED · FLAT`, …
    result: String,
    detail: String,
    estop: Option<EstopView>,
}

/// The hosts of `wave` (all of them without one), in file order.
pub(super) fn chosen(fleet: Fleet, wave: Option<&str>) -> anyhow::Result<Vec<Target>> {
    let Fleet { file, targets } = fleet;
    let Some(wave) = wave else {
        return Ok(targets);
    };
    let picked: Vec<Target> = (file.hosts.iter().zip(targets))
        .filter(|(entry, _)| entry.wave.as_deref() == Some(wave))
        .map(|(_, target)| target)
        .collect();
    if picked.is_empty() {
        let mut known: Vec<&str> = file
            .hosts
            .iter()
            .filter_map(|h| h.wave.as_deref())
            .collect();
        known.dedup();
        return Err(fail(
            Code::Usage,
            format!(
                "{}: no host in wave {:?} (waves: {})",
                file.path.display(),
                inert(wave),
                inert(&known.join(", "))
            ),
        ));
    }
    Ok(picked)
}

/// Stops every host in parallel: no bound, since the last host of a
/// large fleet must not wait for the first ones' handshakes.
pub(super) async fn run(
    targets: Vec<Target>,
    reason: &str,
    operator: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let total = targets.len();
    let mut tasks = JoinSet::new();
    for target in targets {
        let (reason, operator) = (reason.to_string(), operator.to_string());
        tasks.spawn(async move { stop_one(target, reason, operator, started).await });
    }
    if !as_json {
        println!("{:<14} {:<24} {:>7}  DETAIL", "HOST", "RESULT", "TIME");
    }
    let mut rows = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok(row) = joined else { continue };
        if !as_json {
            println!(
                "{:<14} {:<24} {:>6.2}s  {}",
                inert(&row.name),
                row.result,
                row.took.as_secs_f64(),
                inert(&row.detail)
            );
        }
        rows.push(row);
    }
    let not_flat: Vec<String> = rows
        .iter()
        .filter(|r| !r.flat)
        .map(|r| format!("{} ({})", r.name, r.result))
        .collect();
    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "ok": r.flat,
                    "result": r.result,
                    "took_ms": r.took.as_secs_f64() * 1000.0,
                    "detail": r.detail,
                    "estop": r.estop,
                })
            })
            .collect();
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&out)?)
        );
    } else {
        println!(
            "{} of {total} hosts halted and flat in {:.2}s",
            total - not_flat.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if !not_flat.is_empty() || rows.len() < total {
        return Err(fail(
            Code::Failed,
            format!(
                "not every host is halted and flat: {}",
                inert(&not_flat.join(", "))
            ),
        ));
    }
    Ok(())
}

async fn stop_one(target: Target, reason: String, operator: String, started: Instant) -> Row {
    let name = target.name.clone();
    let answer = async {
        let (_session, mut client) = Session::open(&target)
            .await
            .map_err(|e| ("UNREACHABLE", format!("{e:#}")))?;
        client
            .ask(Request::Estop, Some(reason), Some(&operator))
            .await
            .map_err(|e| ("LINK LOST", format!("{e:#}")))
    }
    .await;
    let took = started.elapsed();
    match answer {
        Err((result, detail)) => Row {
            name,
            took,
            flat: false,
            result: result.into(),
            detail,
            estop: None,
        },
        Ok(reply) => {
            let data = reply.data.unwrap_or_default();
            let estop: Option<EstopView> =
                serde_json::from_value(data.get("estop").cloned().unwrap_or_default()).ok();
            let halted = data.get("state").and_then(|s| s.as_str()) == Some("halted");
            let (result, detail) = match (&estop, halted) {
                (Some(stop), true) => (
                    format!("HALTED · {}", stop.headline()),
                    stop.evidence().unwrap_or_default().to_string(),
                ),
                // Refused (a viewer's key, a policy): the host was not stopped.
                _ => (
                    "REFUSED".to_string(),
                    reply
                        .error
                        .unwrap_or_else(|| "no estop in the reply".into()),
                ),
            };
            Row {
                name,
                took,
                flat: reply.ok && estop.as_ref().is_some_and(EstopView::proven_flat),
                result,
                detail,
                estop,
            }
        }
    }
}

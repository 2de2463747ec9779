//! `gantry ctl --hosts FILE status`: every host's status at once, fetched
//! in parallel (bounded by `ssh::MAX_PARALLEL_SSH`), as one table or one
//! JSON array; exits 69 when a host could not be reached.

use std::time::Duration;

use serde_json::json;

use super::remote::check_continuity;
use crate::exit::{Code, fail};
use crate::ssh::client::Session;
use crate::ssh::target::Target;
use crate::text::inert;
use crate::wire::Status;

/// One host's status for `ctl --hosts FILE status`.
async fn fetch_status(
    target: Target,
) -> Result<(Status, Option<Duration>, Option<String>), String> {
    let (session, mut client) = Session::open(&target).await.map_err(|e| format!("{e:#}"))?;
    let rtt = session.round_trip().await;
    let warning = check_continuity(&target, &mut client).await;
    let status = client.status().await.map_err(|e| format!("{e:#}"))?;
    Ok((status, rtt, warning))
}

pub(super) async fn run(targets: Vec<Target>, as_json: bool) -> anyhow::Result<()> {
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    // Bounded: a large fleet must not open every host at once.
    let results: Vec<_> = crate::ssh::bounded(targets.into_iter().map(fetch_status))
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| Err(format!("task failed: {e}"))))
        .collect();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if as_json {
        let rows: Vec<_> = names
            .iter()
            .zip(&results)
            .map(|(name, result)| match result {
                Ok((status, rtt, warning)) => json!({
                    "name": name,
                    "ok": true,
                    "rtt_ms": rtt.map(|d| d.as_secs_f64() * 1000.0),
                    "audit_warning": warning,
                    "status": status,
                }),
                Err(e) => json!({ "name": name, "ok": false, "error": e }),
            })
            .collect();
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&rows)?)
        );
    } else {
        println!(
            "{:<14} {:<18} {:<28} {:>9} {:>6} {:>8}",
            "HOST", "STATE", "RELEASE", "SOAK", "GATES", "LINK"
        );
        for (name, result) in names.iter().zip(&results) {
            match result {
                Ok((status, rtt, warning)) => {
                    let applicable: Vec<_> = status.checks.iter().filter(|c| c.counts()).collect();
                    let passing = applicable.iter().filter(|c| c.ok).count();
                    let soak = status
                        .soak_remaining_s
                        .map_or("—".to_string(), |s| format!("{s:.1}s"));
                    let link = rtt.map_or("—".to_string(), |d| {
                        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
                    });
                    println!(
                        "{:<14} {:<18} {:<28} {:>9} {:>6} {:>8}{}",
                        inert(name),
                        status.state,
                        inert(status.current_release.as_deref().unwrap_or("—")),
                        soak,
                        format!("{passing}/{}", applicable.len()),
                        link,
                        if warning.is_some() {
                            "  AUDIT LOG BROKEN"
                        } else {
                            ""
                        }
                    );
                }
                Err(e) => println!("{:<14} {:<18} {}", inert(name), "unreachable", inert(e)),
            }
        }
    }
    if failed > 0 {
        return Err(fail(
            Code::Unavailable,
            format!("{failed} of {} hosts unreachable", names.len()),
        ));
    }
    Ok(())
}

//! `gantry ctl --hosts FILE drill`: rehearses the rollback path host by
//! host and reports each host's timings against the rollback SLA.

use serde_json::json;

use crate::exit::{Code, fail};
use crate::ssh::client::Session;
use crate::ssh::target::Target;
use crate::text::inert;
use crate::wire::Request;

// The rollback SLA of the ADR, and gantry's own target, for drill reports:
// the same figures the control room judges a drill by.
use crate::wire::drill::{SLA_MS, TARGET_MS};

/// `ctl --hosts FILE drill`: rehearses rollback host by host (never two at
/// once, so the fleet keeps serving), with each host's timings against the
/// SLA.
pub(super) async fn run(
    targets: Vec<Target>,
    reason: &str,
    operator: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut failed = 0;
    if !as_json {
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}  verdict",
            "HOST", "detect", "swap", "restart", "healthy", "total"
        );
    }
    for target in targets {
        let name = target.name.clone();
        let result = async {
            let (_session, mut client) =
                Session::open(&target).await.map_err(|e| format!("{e:#}"))?;
            client
                .ask(Request::Drill, Some(reason.to_string()), Some(operator))
                .await
                .map_err(|e| format!("{e:#}"))
        }
        .await;
        let row = match result {
            Ok(reply) if reply.ok => {
                let t = reply
                    .data
                    .as_ref()
                    .and_then(|d| d.get("timings"))
                    .cloned()
                    .unwrap_or_default();
                let ms = |k: &str| t.get(k).and_then(serde_json::Value::as_f64);
                let total = ms("total_ms").unwrap_or(f64::INFINITY);
                let verdict = if total <= TARGET_MS {
                    "ok (within 250 ms)"
                } else if total <= SLA_MS {
                    "within the 60 s SLA, over the 250 ms target"
                } else {
                    "OVER the 60 s SLA"
                };
                if total > SLA_MS {
                    failed += 1;
                }
                if !as_json {
                    let f = |k: &str| ms(k).map_or("—".to_string(), |v| format!("{v:.1}ms"));
                    println!(
                        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}  {verdict}",
                        inert(&name),
                        f("detect_ms"),
                        f("swap_ms"),
                        f("restart_ms"),
                        f("healthy_ms"),
                        f("total_ms")
                    );
                }
                json!({ "name": name, "ok": total <= SLA_MS, "timings": t, "verdict": verdict })
            }
            Ok(reply) => {
                failed += 1;
                let error = reply.error.unwrap_or_default();
                if !as_json {
                    println!(
                        "{:<14} drill refused or failed: {}",
                        inert(&name),
                        inert(&error)
                    );
                }
                json!({ "name": name, "ok": false, "error": error })
            }
            Err(error) => {
                failed += 1;
                if !as_json {
                    println!("{:<14} unreachable: {}", inert(&name), inert(&error));
                }
                json!({ "name": name, "ok": false, "error": error })
            }
        };
        rows.push(row);
    }
    if as_json {
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&rows)?)
        );
    }
    if failed > 0 {
        return Err(fail(
            Code::Failed,
            format!(
                "{failed} of {} hosts did not drill within the SLA",
                rows.len()
            ),
        ));
    }
    Ok(())
}

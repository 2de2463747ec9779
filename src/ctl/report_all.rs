//! `gantry ctl --hosts FILE report`: every host's risk ledger, fetched in
//! parallel (bounded by `ssh::MAX_PARALLEL_SSH`), a row per host and the
//! fleet's totals (from every host's samples: `Report::merge`); exits 69
//! when a host could not be reached, after printing the others.

use serde_json::json;

use crate::exit::{Code, fail};
use crate::ssh::client::Session;
use crate::ssh::target::Target;
use crate::text::inert;
use crate::wire::Request;
use crate::wire::ledger::Report;
use crate::wire::ledger::text::{duration, lines};

async fn fetch(target: Target, request: Request) -> Result<Report, String> {
    let (_session, mut client) = Session::open(&target).await.map_err(|e| format!("{e:#}"))?;
    let reply = client
        .ask(request, None, None)
        .await
        .map_err(|e| format!("{e:#}"))?;
    if !reply.ok {
        return Err(reply.error.unwrap_or_else(|| "refused".into()));
    }
    serde_json::from_value(reply.data.unwrap_or_default()).map_err(|e| e.to_string())
}

pub(super) async fn run(
    targets: Vec<Target>,
    request: Request,
    as_json: bool,
) -> anyhow::Result<()> {
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let results: Vec<Result<Report, String>> = crate::ssh::bounded(
        targets
            .into_iter()
            .map(|target| fetch(target, request.clone())),
    )
    .await
    .into_iter()
    .map(|r| r.unwrap_or_else(|e| Err(format!("task failed: {e}"))))
    .collect();
    let reports: Vec<Report> = results.iter().filter_map(|r| r.clone().ok()).collect();
    let fleet = Report::merge("fleet", &reports);
    let failed = results.iter().filter(|r| r.is_err()).count();
    if as_json {
        let hosts: Vec<_> = names
            .iter()
            .zip(&results)
            .map(|(name, result)| match result {
                Ok(report) => json!({ "name": name, "ok": true, "report": report }),
                Err(e) => json!({ "name": name, "ok": false, "error": e }),
            })
            .collect();
        let out = json!({ "hosts": hosts, "fleet": fleet });
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&out)?)
        );
    } else {
        print!("{}", table(&names, &results));
        println!();
        for line in lines(&fleet) {
            println!("{line}");
        }
    }
    if failed > 0 {
        return Err(fail(
            Code::Unavailable,
            format!(
                "{failed} of {} hosts unreachable; the fleet totals leave them out",
                names.len()
            ),
        ));
    }
    Ok(())
}

/// A row per host: the figures that compare across hosts.
fn table(names: &[String], results: &[Result<Report, String>]) -> String {
    let mut out = format!(
        "{:<14} {:>8} {:>5} {:>7} {:>9} {:>9} {:>13} {:>7} {:>9}\n",
        "HOST", "DEPLOYS", "LIVE", "CFR", "LEAD p50", "RECOVERY", "CAUGHT <LIVE", "DRILLS", "P0/P1"
    );
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(r) => {
                let median = |s: Option<f64>| s.map_or("—".to_string(), duration);
                out.push_str(&format!(
                    "{:<14} {:>8} {:>5} {:>7} {:>9} {:>9} {:>13} {:>7} {:>9}\n",
                    inert(name),
                    r.deploys.submitted,
                    r.deploys.reached_live,
                    r.change_failure_rate
                        .map_or("—".to_string(), |c| format!("{:.1}%", c * 100.0)),
                    median(r.lead_time.median_s),
                    median(r.recovery.median_s),
                    r.caught.before_live(),
                    format!("{}/{}", r.drills.passed, r.drills.started),
                    format!("{}/{}", r.alerts.p0, r.alerts.p1),
                ));
            }
            Err(e) => out.push_str(&format!("{:<14} unreachable: {}\n", inert(name), inert(e))),
        }
    }
    out
}

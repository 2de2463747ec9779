//! How `ctl` prints a reply: one JSON object with `--json`, else the text
//! a person reads; a refused reply becomes an [`Exit`] with its status.

use serde_json::Value;

use super::{AuditAction, CtlCommand, code_for, history, releases};
use crate::exit::Exit;
use crate::text::inert;
use crate::wire::StateWord;
use crate::wire::{AuditEntry, Reply, Status};

pub(super) fn report(json: bool, command: &CtlCommand, reply: &Reply) -> anyhow::Result<()> {
    if json {
        let out = if reply.ok {
            reply.data.clone().unwrap_or(Value::Null)
        } else {
            serde_json::json!({ "ok": false, "error": reply.error, "code": reply.code, "data": reply.data })
        };
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&out)?)
        );
    } else if reply.ok {
        print_text(command, reply.data.as_ref())?;
    }
    if reply.ok {
        Ok(())
    } else {
        Err(Exit::new(
            code_for(reply.code),
            inert(reply.error.as_deref().unwrap_or("refused")),
        )
        .into())
    }
}

fn print_text(command: &CtlCommand, data: Option<&Value>) -> anyhow::Result<()> {
    let Some(data) = data else {
        return Ok(());
    };
    match command {
        CtlCommand::Status => {
            let status: Status = serde_json::from_value(data.clone())?;
            print!("{}", render_status(&status));
        }
        CtlCommand::History { .. } => {
            let history: crate::wire::history::History = serde_json::from_value(data.clone())?;
            print!("{}", history::render(&history, chrono::Utc::now()));
        }
        CtlCommand::Report { .. } => {
            let report: crate::wire::ledger::Report = serde_json::from_value(data.clone())?;
            for line in crate::wire::ledger::text::lines(&report) {
                println!("{line}");
            }
        }
        CtlCommand::Runbook { .. } => {
            let runbook: crate::wire::runbook::RunbookText = serde_json::from_value(data.clone())?;
            match (&runbook.url, &runbook.text) {
                (Some(url), _) => {
                    println!("{} is a web page: {}", inert(&runbook.name), inert(url))
                }
                (None, Some(text)) => {
                    eprintln!("── {} ──", inert(&runbook.runbook));
                    for line in text.lines() {
                        println!("{}", inert(line));
                    }
                    if runbook.truncated {
                        eprintln!("… cut at 256 KiB: the rest is in the file on the host");
                    }
                }
                (None, None) => {}
            }
        }
        CtlCommand::Releases => {
            let list: crate::wire::releases::Releases = serde_json::from_value(data.clone())?;
            print!("{}", releases::render(&list));
        }
        CtlCommand::Audit { action: None, .. } => {
            let entries: Vec<AuditEntry> = serde_json::from_value(data.clone())?;
            for entry in &entries {
                println!("{}", render_audit(entry));
            }
        }
        CtlCommand::Audit {
            action: Some(AuditAction::Verify),
            ..
        } => {
            let entries = data.get("entries").and_then(Value::as_u64).unwrap_or(0);
            let head = data
                .get("head")
                .and_then(|h| h.get("hash"))
                .and_then(Value::as_str)
                .unwrap_or("-");
            println!("audit chain ok: {entries} entries, head {}", inert(head));
        }
        CtlCommand::Drill { .. } => {
            println!(
                "{}",
                inert(data.get("message").and_then(Value::as_str).unwrap_or(""))
            );
            if let Some(t) = data.get("timings") {
                let ms = |k: &str| {
                    t.get(k)
                        .and_then(Value::as_f64)
                        .map_or("-".to_string(), |v| format!("{v:.1}"))
                };
                println!(
                    "detect {} ms · swap {} ms · restart {} ms · healthy {} ms · total {} ms",
                    ms("detect_ms"),
                    ms("swap_ms"),
                    ms("restart_ms"),
                    ms("healthy_ms"),
                    ms("total_ms")
                );
            }
        }
        _ => {
            if let Some(message) = data.get("message").and_then(Value::as_str) {
                println!("{}", inert(message));
            }
        }
    }
    Ok(())
}

pub fn render_audit(entry: &AuditEntry) -> String {
    let time = entry.at.get(11..19).unwrap_or(&entry.at);
    let who = entry
        .actor
        .as_ref()
        .map(|a| format!(" [{} as {}]", a.name, a.role))
        .unwrap_or_default();
    let why = entry
        .reason
        .as_ref()
        .map(|r| format!(" — {r:?}"))
        .unwrap_or_default();
    inert(&format!(
        "{time} #{:<4} {:<16} {}{who}{why}",
        entry.seq, entry.kind, entry.message
    ))
}

pub fn render_status(s: &Status) -> String {
    let mut out = String::new();
    let mut line =
        |label: &str, value: String| out.push_str(&format!("{label:<10} {}\n", inert(&value)));
    line("host", s.host.clone());
    let since = s
        .stage_started_at
        .clone()
        .map(|t| format!("  (since {t})"))
        .unwrap_or_default();
    line("state", format!("{}{since}", s.state));
    if let Some(reason) = &s.halted_reason {
        line("halted", reason.clone());
    }
    if let Some(stop) = &s.estop {
        let by = stop
            .by
            .as_deref()
            .map_or("the agent".to_string(), |b| format!("by {b}"));
        line("estop", format!("{} {by}: {}", stop.at, stop.reason));
        line("  venue", stop.headline().to_string());
        if let Some(summary) = &stop.kill.summary {
            line("  kill", summary.clone());
        }
        if let Some(summary) = &stop.flat.summary {
            line("  verify", summary.clone());
        }
    }
    if let Some(window) = &s.freeze {
        line(
            "freeze",
            format!("FROZEN: {window}; submits need an admin's --override-freeze"),
        );
    }
    if let Some(id) = &s.deploy_id {
        let tier = s.tier.map(|t| t.to_string()).unwrap_or_default();
        let by = s
            .submitted_by
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let why = s.deploy_reason.clone().unwrap_or_default();
        line("deploy", format!("{id}  tier {tier}  by {by}: {why:?}"));
    }
    line(
        "release",
        format!(
            "{}  (known-good {})",
            s.current_release.as_deref().unwrap_or("none"),
            s.previous_release.as_deref().unwrap_or("none")
        ),
    );
    if let (Some(left), Some(total)) = (s.soak_remaining_s, s.soak_total_s) {
        let what = if s.state == StateWord::Live {
            "watch"
        } else {
            "soak"
        };
        line(what, format!("{left:.1}s left of {total:.1}s"));
    }
    if let Some(paused) = &s.soak_paused {
        line("", paused.clone());
    }
    // A unit is named, with what systemd says of its last run.
    let kind = match &s.service.unit {
        Some(unit) => format!("{} {}", s.service.kind, crate::text::inert(unit)),
        None => s.service.kind.clone(),
    };
    let mut service = match s.service.pid {
        Some(pid) => format!("{kind} running, pid {pid}"),
        None if s.service.running => format!("{kind} running"),
        None => format!("{kind} not running"),
    };
    if s.service.unit.is_some() {
        if let Some(since) = &s.service.started_at {
            service.push_str(&format!(", active since {since}"));
        }
        if let Some(result) = &s.service.result {
            service.push_str(&format!(", result {}", crate::text::inert(result)));
        }
    }
    line("service", service);
    if let Some(a) = &s.awaiting_approval {
        line(
            "approval",
            format!(
                "deploy {} (release {}, sha256 {}) awaits approval at {} → live: gantry ctl approve --reason R",
                a.deploy_id,
                a.release,
                a.digest.get(..12).unwrap_or(&a.digest),
                a.stage
            ),
        );
    }
    if let Some(e) = &s.scrape_error {
        line("scrape", e.clone());
    }
    // The last drill with its verdict against the SLA, when the agent
    // keeps it; else when the last one that passed ran.
    let drill = match (&s.last_drill, &s.last_drill_at) {
        (Some(d), _) => match d.steps() {
            Some(steps) => format!("last at {}: {} ({steps})", d.at, d.verdict()),
            None => format!("last at {}: {}", d.at, d.verdict()),
        },
        (None, Some(t)) => format!("last at {t}"),
        (None, None) => "never".into(),
    };
    line("drill", drill);
    if let Some(head) = &s.audit_head {
        line(
            "audit",
            format!(
                "#{} {}",
                head.seq,
                head.hash.get(..16).unwrap_or(&head.hash)
            ),
        );
    }
    out.push_str("checks\n");
    for c in &s.checks {
        let (mark, value) = (c.mark(), c.shown_value());
        let (op, limit) = c.limit_columns();
        let age = c
            .age_s
            .map(|a| format!("  {a:.1}s ago"))
            .unwrap_or_default();
        let action = match c.action {
            crate::pipeline::Action::Rollback => String::new(),
            other => format!("  [{}]", other.as_str()),
        };
        let why = c
            .detail
            .as_ref()
            .map(|d| format!("  ({d})"))
            .unwrap_or_default();
        out.push_str(&inert(&format!(
            "  {mark} {:<22} {:<10} {op} {limit:<8} {}  {}/{}{age}{action}{why}",
            c.name, value, c.severity, c.failures, c.failures_allowed
        )));
        out.push('\n');
        // A baseline comparison says what it compared, on a line of its own.
        if let Some(evidence) = &c.evidence {
            let source = c.baseline_source.as_deref().unwrap_or("baseline");
            out.push_str(&inert(&format!("      vs {source}: {evidence}")));
            out.push('\n');
        }
    }
    out
}

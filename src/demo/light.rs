//! Light demo hosts, for measuring a control room over a thousand hosts
//! on one machine (`gantry demo --headless --light --hosts 1000`,
//! docs/benchmarks.md). Each is a real SSH server whose sessions are
//! answered in process with the traffic of an idle agent: `hello` and
//! `snapshot`, a `heartbeat` every second and a `state` every five. A
//! `status` command is answered; anything else is refused, saying there
//! is no agent here.

use std::sync::Arc;

use russh::ChannelStream;
use russh::server::Msg;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::ssh::server::InProcess;
use crate::wire::{
    AgentMsg, CheckView, ClientMsg, ErrorCode, HEARTBEAT_EVERY, PROTOCOL, Reply, Request,
    ServiceView, Status,
};

/// A `state` goes out with every fifth beat, as from an idle agent.
const STATE_EVERY_BEATS: u64 = 5;

/// The in-process answer for light host `i`'s sessions.
pub fn serve(i: usize) -> InProcess {
    Arc::new(move |stream| Box::pin(session(stream, i)))
}

async fn session(stream: ChannelStream<Msg>, i: usize) -> u32 {
    let (read, mut write) = tokio::io::split(stream);
    let mut status = status(i);
    let hello = AgentMsg::Hello {
        protocol: PROTOCOL,
        host: status.host.clone(),
        role: crate::pipeline::Role::Viewer,
        agent_version: format!("{} (light demo host)", env!("CARGO_PKG_VERSION")),
    };
    let snapshot = AgentMsg::Snapshot {
        status: Box::new(status.clone()),
        audit: Vec::new(),
        pnl: Vec::new(),
    };
    let opening = crate::wire::encode(&hello) + &crate::wire::encode(&snapshot);
    if write.write_all(opening.as_bytes()).await.is_err() {
        return 0;
    }
    let mut lines = BufReader::new(read).lines();
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut beats = 0u64;
    loop {
        let out = tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => answer(&line, &status),
                _ => return 0,
            },
            _ = beat.tick() => {
                beats += 1;
                let now = crate::stamp::rfc3339(chrono::Utc::now());
                let mut out = crate::wire::encode(&AgentMsg::Heartbeat { at: now.clone() });
                if beats.is_multiple_of(STATE_EVERY_BEATS) {
                    status.now = now;
                    out += &crate::wire::encode(&AgentMsg::State { status: Box::new(status.clone()) });
                }
                out
            }
        };
        if write.write_all(out.as_bytes()).await.is_err() {
            return 0;
        }
    }
}

/// The reply to one client line: `status` is answered, the rest refused.
fn answer(line: &str, status: &Status) -> String {
    let reply = match serde_json::from_str::<ClientMsg>(line) {
        Ok(ClientMsg::Command(command)) => match command.request {
            Request::Status => Reply::ok(&command.id, serde_json::to_value(status).ok()),
            _ => Reply::err(
                &command.id,
                ErrorCode::Refused,
                format!(
                    "{} is a light demo host (for benchmarks): there is no agent here to act",
                    status.host
                ),
            ),
        },
        Ok(ClientMsg::Attach(_)) => return String::new(),
        Err(e) => Reply::err(
            "",
            ErrorCode::BadRequest,
            format!("cannot read message: {e}"),
        ),
    };
    crate::wire::encode(&AgentMsg::Reply(reply))
}

/// Light host `i`'s status: a mix of states across the fleet, four checks,
/// a release and a service, as an agent would report them.
pub fn status(i: usize) -> Status {
    let check = |name: &str, value: f64, limit: f64| CheckView {
        name: name.into(),
        ok: true,
        status: "ok".into(),
        value: Some(value),
        op: "<".into(),
        limit,
        severity: "P0".into(),
        failures: 0,
        failures_allowed: 1,
        age_s: Some(0.2),
        applies: true,
        ..CheckView::default()
    };
    Status {
        host: format!("demo-{}", i + 1),
        state: [
            "shadow",
            "paper",
            "canary",
            "awaiting_approval",
            "live",
            "rolled_back",
        ][i % 6]
            .into(),
        deploy_id: Some(format!("d-20261124T120000Z-{i}")),
        current_release: Some("20261124T120000Z-ab12cd34".into()),
        previous_release: Some("20261120T090000Z-9f00e1a2".into()),
        soak_remaining_s: Some(120.0),
        soak_total_s: Some(300.0),
        checks: vec![
            check("process_alive", 1.0, 2.0),
            check("telemetry_fresh", 0.1, 2.0),
            check("pnl_in_band", 100.0 + i as f64, 1e9),
            check("drawdown_budget", 0.5, 3.0),
        ],
        service: ServiceView {
            kind: "command".into(),
            running: true,
            pid: Some(1000 + i as u32),
            ..Default::default()
        },
        agent_version: "0.1.0".into(),
        ..Status::default()
    }
}

//! `gantry ctl logs [-n N] [--follow]`: the service's log, its last lines
//! and then, with `--follow`, new ones as the agent streams them, until
//! the agent closes the connection or the command is stopped. Every line
//! is printed inert (a host's bytes never reach the terminal as control
//! sequences); with `--json`, one JSON object a line, each as inert.

use tokio::io::{AsyncRead, AsyncWrite};

use super::code_for;
use crate::client::WireClient;
use crate::exit::{Code, Exit, fail};
use crate::text::{inert, json_inert};
use crate::wire::logs::LogTail;
use crate::wire::{AgentMsg, Request};

pub(super) async fn run<S: AsyncRead + AsyncWrite>(
    mut client: WireClient<S>,
    json: bool,
    lines: usize,
    follow: bool,
    operator: &str,
) -> anyhow::Result<()> {
    let id = client
        .send(Request::Logs { n: lines, follow }, None, Some(operator))
        .await?;
    let reply = loop {
        match client.next_message().await? {
            AgentMsg::Reply(reply) if reply.id == id => break reply,
            _ => {}
        }
    };
    if !reply.ok {
        return Err(Exit::new(
            code_for(reply.code),
            inert(reply.error.as_deref().unwrap_or("refused")),
        )
        .into());
    }
    let tail: LogTail = serde_json::from_value(reply.data.unwrap_or_default())
        .map_err(|e| fail(Code::Failed, format!("the agent's logs reply: {e}")))?;
    if json {
        let head = serde_json::json!({ "source": tail.source, "following": tail.following });
        println!("{}", json_inert(&head.to_string()));
    } else {
        eprintln!("── {} ──", inert(&tail.source));
    }
    print_lines(json, &tail.lines, 0);
    if !follow {
        return Ok(());
    }
    loop {
        match client.next_message().await {
            Ok(AgentMsg::Log {
                id: of,
                lines,
                skipped,
            }) if of == id => print_lines(json, &lines, skipped),
            Ok(_) => {}
            // The agent stopped (or restarted): the follow is over.
            Err(e) => return Err(e),
        }
    }
}

fn print_lines(json: bool, lines: &[String], skipped: u64) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if skipped > 0 {
        if json {
            let _ = writeln!(out, "{}", serde_json::json!({ "skipped": skipped }));
        } else {
            let _ = writeln!(out, "… {skipped} lines skipped (this reader fell behind)");
        }
    }
    for line in lines {
        let _ = if json {
            writeln!(
                out,
                "{}",
                json_inert(&serde_json::json!({ "line": line }).to_string())
            )
        } else {
            writeln!(out, "{}", inert(line))
        };
    }
    let _ = out.flush();
}

//! The client side of the wire: one connection to an agent, over its unix
//! socket or over an SSH channel running `gantry attach`. Used by ctl, the
//! demo and (later) the control room.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

use crate::exit::{Code, fail};
use crate::pipeline::Role;
use crate::wire::{self, AgentMsg, AuditEntry, ClientMsg, Command, Reply, Request, Status};

/// How long a client waits for the agent's greeting.
const GREETING_TIMEOUT: Duration = Duration::from_secs(15);

pub struct WireClient<S> {
    reader: WireReader<S>,
    writer: WireWriter<S>,
    /// What the agent said on connect.
    pub host: String,
    pub role: Role,
    pub snapshot: Option<Status>,
    pub audit_tail: Vec<AuditEntry>,
    /// The last hour of PnL the agent sent on connect.
    pub pnl: Vec<crate::wire::pnl::PnlPoint>,
}

/// The read buffer of one connection (see `handshake`).
const READ_BUFFER: usize = 2048;

impl<S: AsyncRead + AsyncWrite> WireClient<S> {
    /// Reads `hello` and `snapshot`; refuses another protocol version.
    pub async fn handshake(stream: S) -> anyhow::Result<Self> {
        let (read, writer) = tokio::io::split(stream);
        let mut client = Self {
            reader: WireReader {
                // Not the default 8 KiB: a control room holds one per host,
                // and a line longer than this is only read in more steps.
                reader: BufReader::with_capacity(READ_BUFFER, read),
            },
            writer: WireWriter { writer, next_id: 0 },
            host: String::new(),
            role: Role::Viewer,
            snapshot: None,
            audit_tail: Vec::new(),
            pnl: Vec::new(),
        };
        let greeting = tokio::time::timeout(GREETING_TIMEOUT, async {
            loop {
                match client.next_message().await? {
                    AgentMsg::Hello {
                        protocol,
                        host,
                        role,
                        ..
                    } => {
                        if protocol != wire::PROTOCOL {
                            return Err(fail(
                                Code::Unavailable,
                                format!(
                                    "{} speaks protocol {protocol}; this gantry speaks {}",
                                    crate::text::inert(&host),
                                    wire::PROTOCOL
                                ),
                            ));
                        }
                        client.host = host;
                        client.role = role;
                    }
                    AgentMsg::Snapshot { status, audit, pnl } => {
                        client.snapshot = Some(*status);
                        client.audit_tail = audit;
                        client.pnl = pnl;
                        return Ok(());
                    }
                    _ => {}
                }
            }
        })
        .await;
        match greeting {
            Ok(result) => result.map(|()| client),
            Err(_) => Err(fail(
                Code::Unavailable,
                "the agent did not greet within 15 s",
            )),
        }
    }

    /// The next message; lines that are not a known message are skipped
    /// (new types may appear).
    pub async fn next_message(&mut self) -> anyhow::Result<AgentMsg> {
        self.reader
            .next_message()
            .await
            .ok_or_else(|| fail(Code::Unavailable, "the agent closed the connection"))
    }

    pub async fn send(
        &mut self,
        request: Request,
        reason: Option<String>,
        operator: Option<&str>,
    ) -> anyhow::Result<String> {
        self.writer.send(request, reason, operator).await
    }

    /// Sends a command and waits for its reply, passing every other
    /// message to `on_event`.
    pub async fn ask_with(
        &mut self,
        request: Request,
        reason: Option<String>,
        operator: Option<&str>,
        mut on_event: impl FnMut(&AgentMsg),
    ) -> anyhow::Result<Reply> {
        let id = self.send(request, reason, operator).await?;
        loop {
            match self.next_message().await? {
                AgentMsg::Reply(reply) if reply.id == id => return Ok(reply),
                other => on_event(&other),
            }
        }
    }

    pub async fn ask(
        &mut self,
        request: Request,
        reason: Option<String>,
        operator: Option<&str>,
    ) -> anyhow::Result<Reply> {
        self.ask_with(request, reason, operator, |_| {}).await
    }

    /// Splits into a reader (for a task that only listens) and a writer,
    /// since reading a line is not cancel-safe inside a `select!`.
    pub fn split(self) -> (WireReader<S>, WireWriter<S>) {
        (self.reader, self.writer)
    }

    pub async fn status(&mut self) -> anyhow::Result<Status> {
        let reply = self.ask(Request::Status, None, None).await?;
        let data = reply
            .data
            .ok_or_else(|| fail(Code::Failed, "status reply had no data"))?;
        Ok(serde_json::from_value(data)?)
    }
}

pub struct WireReader<S> {
    reader: BufReader<ReadHalf<S>>,
}

impl<S: AsyncRead + AsyncWrite> WireReader<S> {
    /// The next known message; `None` when the agent closed the stream.
    /// Lines that are not a known message are skipped (new types may
    /// appear).
    pub async fn next_message(&mut self) -> Option<AgentMsg> {
        let mut line = Vec::new();
        loop {
            line.clear();
            // A host that sends a longer line is treated as gone.
            match crate::lines::read_line(&mut self.reader, &mut line, crate::wire::MAX_AGENT_LINE)
                .await
            {
                Ok(0) | Err(_) => return None,
                Ok(_) => {
                    if let Ok(msg) = serde_json::from_slice::<AgentMsg>(&line) {
                        return Some(msg);
                    }
                }
            }
        }
    }
}

pub struct WireWriter<S> {
    writer: WriteHalf<S>,
    next_id: u64,
}

impl<S: AsyncRead + AsyncWrite> WireWriter<S> {
    /// Sends a command; returns its id.
    pub async fn send(
        &mut self,
        request: Request,
        reason: Option<String>,
        operator: Option<&str>,
    ) -> anyhow::Result<String> {
        self.next_id += 1;
        write_command(&mut self.writer, self.next_id, request, reason, operator).await
    }
}

/// Writes one command line with a fresh id (process, time, counter: unique
/// across reconnects, which matters since the agent remembers replies by id).
async fn write_command<W: AsyncWrite + Unpin>(
    writer: &mut W,
    n: u64,
    request: Request,
    reason: Option<String>,
    operator: Option<&str>,
) -> anyhow::Result<String> {
    let id = format!(
        "c-{}-{}-{n}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let command = ClientMsg::Command(Command {
        id: id.clone(),
        operator: operator.filter(|o| !o.is_empty()).map(str::to_string),
        reason,
        request,
    });
    let sent = async {
        writer.write_all(wire::encode(&command).as_bytes()).await?;
        writer.flush().await
    };
    // The agent closing mid-command (a limit, a restart) is its answer's
    // absence, not a bare "Broken pipe".
    sent.await.map_err(|e| {
        crate::exit::fail(
            crate::exit::Code::Unavailable,
            format!("the agent closed the connection while the command was being sent ({e}); check `gantry ctl status` before sending it again"),
        )
    })?;
    Ok(id)
}

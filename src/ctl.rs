//! `gantry ctl`: the control room's commands from a script, CI or a shell.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::exit::{Code, Exit, fail};
use crate::pipeline::{Stage, Tier};
use crate::text::inert;
use crate::wire::{AuditEntry, ErrorCode, Reply, Request, Status};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::WireClient;

pub mod history;

#[derive(Args, Debug, Clone)]
pub struct CtlArgs {
    /// The agent's config (its socket is found from it).
    #[arg(long, env = "GANTRY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Reach this host over SSH: a name in the hosts file, or a ~/.ssh/config alias.
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// The hosts file (TOML, docs/hosts.md); with no --host, `status` shows every host.
    #[arg(long, env = "GANTRY_HOSTS", global = true)]
    pub hosts: Option<PathBuf>,
    /// The ssh_config file for --host aliases (like `ssh -F`; default ~/.ssh/config).
    #[arg(long, env = "GANTRY_SSH_CONFIG", global = true)]
    pub ssh_config: Option<PathBuf>,
    /// Trust and record a host key never seen before (like StrictHostKeyChecking=accept-new).
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The name recorded as the actor (default: $USER).
    #[arg(long, global = true)]
    pub operator: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum CtlCommand {
    /// Submit a release: validate, then shadow → paper → canary → live.
    Submit {
        envfile: PathBuf,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "balanced")]
        tier: String,
        #[arg(long)]
        commit: Option<String>,
        #[arg(long)]
        promotion: Option<String>,
        /// Deploy inside an active freeze window (admin; the reason is audited).
        #[arg(long)]
        override_freeze: bool,
    },
    /// Where the pipeline is, with every check.
    Status,
    /// Approve canary → live for the deploy awaiting approval.
    Approve {
        #[arg(long)]
        reason: String,
        #[arg(long)]
        deploy: Option<String>,
        #[arg(long)]
        stage: Option<String>,
    },
    /// Roll back to the known-good release now.
    Rollback {
        #[arg(long)]
        reason: String,
    },
    /// Emergency stop: kill command, stop the service, halt.
    Estop {
        #[arg(long)]
        reason: String,
    },
    /// Leave `halted` (admin).
    Rearm {
        #[arg(long)]
        reason: String,
    },
    /// Rehearse the rollback path on the live service and time each step.
    Drill {
        #[arg(long)]
        reason: String,
    },
    /// The audit log: its tail, or `audit verify`.
    Audit {
        #[arg(long, default_value_t = 20)]
        tail: usize,
        #[command(subcommand)]
        action: Option<AuditAction>,
    },
    /// Parse a release and run the validate command on it; change nothing.
    Validate { envfile: PathBuf },
    /// Past deploys, newest first: outcome and each stage's time.
    History {
        /// How many deploys to list.
        #[arg(long, default_value_t = crate::wire::history::DEFAULT_LIMIT)]
        limit: usize,
    },
    /// Smoke deploy: run a release once with EXECUTION_PLANE=paper and no trading,
    /// check its startup log, stop it, restore the known-good.
    Smoke {
        envfile: PathBuf,
        #[arg(long)]
        reason: String,
        /// Run inside a freeze window (admin; audited).
        #[arg(long)]
        override_freeze: bool,
    },
    /// Roll a release across the hosts file, wave by wave (needs --hosts, no --host).
    Rollout {
        envfile: PathBuf,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "balanced")]
        tier: String,
        #[arg(long)]
        commit: Option<String>,
        #[arg(long)]
        promotion: Option<String>,
        /// Deploy inside a freeze window (admin; audited on every host).
        #[arg(long)]
        override_freeze: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditAction {
    /// Check the hash chain; name the first line that does not chain.
    Verify,
}

pub fn run(args: &CtlArgs, command: CtlCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args, command))
}

async fn run_async(args: &CtlArgs, command: CtlCommand) -> anyhow::Result<()> {
    let operator = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    if let Some(remote) = crate::ssh::remote::Remote::from_args(args)? {
        return remote.run(args, command, &operator).await;
    }
    let socket = crate::agent_socket::find(args.config.as_deref())?;
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| {
            fail(
                Code::Unavailable,
                format!(
                    "cannot reach the agent at {}: {e} (is `gantry agent` running?)",
                    socket.display()
                ),
            )
        })?;
    let client = WireClient::handshake(stream).await?;
    execute(client, args, command, &operator).await
}

/// Runs one ctl command on a connected agent and prints its result; the
/// same for the local socket and for SSH.
pub async fn execute<S: AsyncRead + AsyncWrite>(
    mut client: WireClient<S>,
    args: &CtlArgs,
    command: CtlCommand,
    operator: &str,
) -> anyhow::Result<()> {
    let (request, reason) = build_request(&mut client, &command).await?;
    let reply = client.ask(request, reason, Some(operator)).await?;
    report(args.json, &command, &reply)
}

/// Turns a ctl command into a wire request. Approve looks up what awaits
/// approval when the deploy is not named, so the approval always names the
/// deploy, the release digest and the stage it approves.
async fn build_request<S: AsyncRead + AsyncWrite>(
    client: &mut WireClient<S>,
    command: &CtlCommand,
) -> anyhow::Result<(Request, Option<String>)> {
    Ok(match command {
        CtlCommand::Submit {
            envfile,
            reason,
            tier,
            commit,
            promotion,
            override_freeze,
        } => {
            let tier: Tier = tier.parse().map_err(|e: String| fail(Code::Usage, e))?;
            let (name, content) = read_release(envfile)?;
            (
                Request::Submit {
                    name,
                    content,
                    tier,
                    commit: commit.clone(),
                    promotion: promotion.clone(),
                    override_freeze: *override_freeze,
                },
                Some(reason.clone()),
            )
        }
        CtlCommand::Smoke {
            envfile,
            reason,
            override_freeze,
        } => {
            let (name, content) = read_release(envfile)?;
            (
                Request::Smoke {
                    name,
                    content,
                    override_freeze: *override_freeze,
                },
                Some(reason.clone()),
            )
        }
        CtlCommand::Validate { envfile } => {
            let (name, content) = read_release(envfile)?;
            (Request::Validate { name, content }, None)
        }
        CtlCommand::Status => (Request::Status, None),
        CtlCommand::History { limit } => (Request::History { limit: *limit }, None),
        CtlCommand::Rollout { .. } => {
            return Err(fail(
                Code::Usage,
                "rollout runs across a fleet: gantry ctl --hosts FILE rollout ENVFILE --reason R (without --host)",
            ));
        }
        CtlCommand::Approve {
            reason,
            deploy,
            stage,
        } => {
            let status = client.status().await?;
            let Some(awaiting) = status.awaiting_approval else {
                return Err(fail(
                    Code::Refused,
                    format!(
                        "nothing awaits approval on {} (state {})",
                        inert(&status.host),
                        status.state
                    ),
                ));
            };
            let stage: Stage = match stage {
                Some(s) => s.parse().map_err(|e: String| fail(Code::Usage, e))?,
                None => awaiting.stage,
            };
            eprintln!(
                "approving deploy {} (release {}, sha256 {}) at {stage} → live on {}",
                inert(deploy.as_deref().unwrap_or(&awaiting.deploy_id)),
                inert(&awaiting.release),
                inert(awaiting.digest.get(..12).unwrap_or(&awaiting.digest)),
                inert(&status.host)
            );
            (
                Request::Approve {
                    deploy_id: deploy.clone().unwrap_or(awaiting.deploy_id),
                    digest: awaiting.digest,
                    stage,
                },
                Some(reason.clone()),
            )
        }
        CtlCommand::Rollback { reason } => (Request::Rollback, Some(reason.clone())),
        CtlCommand::Estop { reason } => (Request::Estop, Some(reason.clone())),
        CtlCommand::Rearm { reason } => (Request::Rearm, Some(reason.clone())),
        CtlCommand::Drill { reason } => (Request::Drill, Some(reason.clone())),
        CtlCommand::Audit { tail, action } => match action {
            Some(AuditAction::Verify) => (Request::AuditVerify, None),
            None => (Request::AuditTail { n: *tail }, None),
        },
    })
}

/// Reads and checks a release file locally, so a malformed one is refused
/// naming its file and line before anything is sent.
pub fn read_release(path: &Path) -> anyhow::Result<(String, String)> {
    // Size, file type and where a link points are checked before reading,
    // so nothing too large for the agent is read or sent.
    let bytes = crate::envfile::read_file(path).map_err(|e| fail(Code::DataErr, e))?;
    crate::envfile::parse(&bytes)
        .map_err(|e| fail(Code::DataErr, format!("{}: {e}", path.display())))?;
    // parse() accepted it, so it is UTF-8.
    let content = String::from_utf8(bytes).map_err(|_| {
        fail(
            Code::DataErr,
            format!("{}: not valid UTF-8", path.display()),
        )
    })?;
    Ok((path.display().to_string(), content))
}

/// The exit status for a refused reply.
pub fn code_for(code: Option<ErrorCode>) -> Code {
    match code {
        Some(ErrorCode::Refused) => Code::Refused,
        Some(ErrorCode::Forbidden) => Code::Forbidden,
        Some(ErrorCode::Invalid) => Code::DataErr,
        Some(ErrorCode::BadRequest) => Code::Usage,
        Some(ErrorCode::Failed | ErrorCode::Internal) | None => Code::Failed,
    }
}

fn report(json: bool, command: &CtlCommand, reply: &Reply) -> anyhow::Result<()> {
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
        let what = if s.state == "live" { "watch" } else { "soak" };
        line(what, format!("{left:.1}s left of {total:.1}s"));
    }
    line(
        "service",
        match s.service.pid {
            Some(pid) => format!("{} running, pid {pid}", s.service.kind),
            None if s.service.running => format!("{} running", s.service.kind),
            None => format!("{} not running", s.service.kind),
        },
    );
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
    line(
        "drill",
        s.last_drill_at
            .clone()
            .map_or("never".into(), |t| format!("last at {t}")),
    );
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
        let mark = match c.status.as_str() {
            "ok" => "✓",
            "n/a" => "·",
            "pending" => "…",
            _ => "✗",
        };
        let value = match (c.status.as_str(), c.value) {
            ("no data", _) => "no data".to_string(),
            (_, Some(v)) => crate::pipeline::gate::format_value(v),
            (status, None) => status.to_string(),
        };
        let age = c
            .age_s
            .map(|a| format!("  {a:.1}s ago"))
            .unwrap_or_default();
        out.push_str(&inert(&format!(
            "  {mark} {:<22} {:<10} {} {:<8} {}  {}/{}{age}",
            c.name,
            value,
            c.op,
            crate::pipeline::gate::format_value(c.limit),
            c.severity,
            c.failures,
            c.failures_allowed
        )));
        out.push('\n');
    }
    out
}

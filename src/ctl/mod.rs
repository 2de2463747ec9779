//! `gantry ctl`: the control room's commands from a script, CI or a shell.
//!
//! One command, three reaches, chosen by `ssh::target::choose`:
//! - no `--host`/`--hosts`: the agent on this machine, through its socket
//!   (found by `agent_socket`), as `admin`;
//! - `--host NAME`: one host over SSH (`remote.rs`), with the same output
//!   and exit statuses as the local form;
//! - `--hosts FILE` alone: the fleet, for `status` (`status_all.rs`),
//!   `report` (`report_all.rs`),
//!   `drill` (`drill_all.rs`) and `rollout` (`rollout/`).
//!
//! This file turns a command into a request; `report.rs` prints the reply.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::WireClient;
use crate::exit::{Code, fail};
use crate::pipeline::{Stage, Tier};
use crate::ssh::target::{self, Chosen, Fleet};
use crate::text::inert;
use crate::wire::{ErrorCode, Request};

mod drill_all;
mod estop_all;
pub mod history;
mod logs;
mod releases;
mod remote;
mod report;
mod report_all;
pub mod rollout;
mod status_all;

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
    /// With --hosts and no --host, `estop` stops only this wave's hosts.
    #[arg(long, global = true)]
    pub wave: Option<String>,
}

/// A release to deploy, on one host (`submit`) or the fleet (`rollout`).
#[derive(Args, Debug, Clone)]
pub struct ReleaseArgs {
    pub envfile: PathBuf,
    #[arg(long)]
    pub reason: String,
    #[arg(long, default_value = "balanced")]
    pub tier: String,
    #[arg(long)]
    pub commit: Option<String>,
    #[arg(long)]
    pub promotion: Option<String>,
    /// Deploy inside an active freeze window (admin; the reason is audited on every host).
    #[arg(long)]
    pub override_freeze: bool,
    /// The release's name on every host it reaches: the id becomes
    /// NAME-<sha256 prefix> (letters, digits, '.', '_', '-').
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

impl ReleaseArgs {
    /// The release file, checked, and the tier: `(name, content, tier)`.
    fn read(&self) -> anyhow::Result<(String, String, Tier)> {
        let tier = self
            .tier
            .parse()
            .map_err(|e: String| fail(Code::Usage, e))?;
        let (name, content) = read_release(&self.envfile)?;
        if let Some(given) = &self.name {
            let digest = crate::stamp::sha256_hex(content.as_bytes());
            crate::wire::releases::named_id(given, &digest)
                .map_err(|e| fail(Code::Usage, format!("--name: {e}")))?;
        }
        Ok((name, content, tier))
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum CtlCommand {
    /// Submit a release: validate, then shadow → paper → canary → live.
    Submit(ReleaseArgs),
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
    /// Roll back to the known-good release now, or with --to to any
    /// release that passed live on this host (`ctl releases` lists them).
    Rollback {
        #[arg(long)]
        reason: String,
        /// A release id (or a digest prefix of 8+ hex digits) from `ctl releases`.
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
    },
    /// The releases that served live on this host, newest first: when, how
    /// each ended, and which `rollback --to` may go to.
    Releases,
    /// The risk ledger from the audit log: deploys, lead time, change-failure
    /// rate, recovery time, failures caught per stage, approvals, drills,
    /// alerts. With --hosts and no --host: per host and fleet totals.
    Report {
        /// The window: 30d, 12h, 2w, … or `all`.
        #[arg(long, default_value = crate::wire::ledger::DEFAULT_SINCE)]
        since: String,
    },
    /// Emergency stop: halt, stop the service, run the kill command, then
    /// wait until the venue is verified flat. Exit 0 only if it is.
    Estop {
        #[arg(long)]
        reason: String,
    },
    /// Leave `halted` for `idle` (admin).
    Rearm {
        #[arg(long)]
        reason: String,
    },
    /// After a rearm: start the last known-good release directly in live,
    /// if the venue is verified flat (admin).
    Restore {
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
    Rollout(ReleaseArgs),
    /// A runbook the config names: its text, or its URL (a check's name,
    /// or not_flat, rollback_failed).
    Runbook {
        /// The check (`ctl status` lists them), or not_flat, rollback_failed.
        name: String,
    },
    /// The service's log: its last lines (service.log, the unit's journal or
    /// the container's logs), and with --follow new ones as they come (operator).
    Logs {
        /// How many of the last lines (at most 10 000).
        #[arg(short = 'n', long = "lines", default_value_t = crate::wire::logs::DEFAULT_LINES)]
        lines: usize,
        /// Keep printing new lines until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
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
    if args.wave.is_some()
        && !(matches!(command, CtlCommand::Estop { .. })
            && args.host.is_none()
            && args.hosts.is_some())
    {
        return Err(fail(
            Code::Usage,
            "--wave picks the hosts of a fleet estop: use it with --hosts, no --host, and estop",
        ));
    }
    let chosen = target::choose(
        args.host.as_deref(),
        args.hosts.as_deref(),
        args.ssh_config.as_deref(),
        args.accept_new,
    )?;
    match chosen {
        Chosen::Local => {}
        Chosen::One(target) => return remote::run(&target, args, command, &operator).await,
        Chosen::Fleet(fleet) => return on_fleet(fleet, args, command, &operator).await,
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
    if let CtlCommand::Logs { lines, follow } = command {
        return logs::run(client, args.json, lines, follow, operator).await;
    }
    let (request, reason) = build_request(&mut client, &command).await?;
    let reply = client.ask(request, reason, Some(operator)).await?;
    report::report(args.json, &command, &reply)
}

/// `--hosts FILE` without `--host`: the commands that run on every host.
async fn on_fleet(
    fleet: Fleet,
    args: &CtlArgs,
    command: CtlCommand,
    operator: &str,
) -> anyhow::Result<()> {
    match &command {
        CtlCommand::Status => status_all::run(fleet.targets, args.json).await,
        CtlCommand::Report { since } => {
            report_all::run(fleet.targets, report_request(since)?, args.json).await
        }
        CtlCommand::Drill { reason } => {
            drill_all::run(fleet.targets, reason, operator, args.json).await
        }
        CtlCommand::Rollout(release) => {
            let (name, content, tier) = release.read()?;
            let release = rollout::Release {
                digest: crate::stamp::sha256_hex(content.as_bytes()),
                name,
                content,
                tier,
                reason: release.reason.clone(),
                commit: release.commit.clone(),
                promotion: release.promotion.clone(),
                override_freeze: release.override_freeze,
                given_name: release.name.clone(),
            };
            rollout::run(rollout::waves(fleet), release, operator, args.json).await
        }
        CtlCommand::Estop { reason } => {
            let targets = estop_all::chosen(fleet, args.wave.as_deref())?;
            estop_all::run(targets, reason, operator, args.json).await
        }
        _ => Err(fail(
            Code::Usage,
            "with --hosts and no --host, only status, report, drill, rollout and estop run on every host; name one with --host",
        )),
    }
}

/// Turns a ctl command into a wire request. Approve looks up what awaits
/// approval when the deploy is not named, so the approval always names the
/// deploy, the release digest and the stage it approves.
async fn build_request<S: AsyncRead + AsyncWrite>(
    client: &mut WireClient<S>,
    command: &CtlCommand,
) -> anyhow::Result<(Request, Option<String>)> {
    Ok(match command {
        CtlCommand::Submit(release) => {
            let (name, content, tier) = release.read()?;
            (
                Request::Submit {
                    name,
                    content,
                    tier,
                    commit: release.commit.clone(),
                    promotion: release.promotion.clone(),
                    override_freeze: release.override_freeze,
                    release: release.name.clone(),
                },
                Some(release.reason.clone()),
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
        CtlCommand::Releases => (Request::Releases, None),
        CtlCommand::Report { since } => (report_request(since)?, None),
        CtlCommand::Runbook { name } => (Request::Runbook { name: name.clone() }, None),
        CtlCommand::Logs { lines, follow } => (
            Request::Logs {
                n: *lines,
                follow: *follow,
            },
            None,
        ),
        CtlCommand::Rollout(_) => {
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
        CtlCommand::Rollback { reason, to } => {
            if let Some(to) = to {
                eprintln!("rolling back to release {}", inert(to));
            }
            (Request::Rollback { to: to.clone() }, Some(reason.clone()))
        }
        CtlCommand::Estop { reason } => (Request::Estop, Some(reason.clone())),
        CtlCommand::Rearm { reason } => (Request::Rearm, Some(reason.clone())),
        CtlCommand::Restore { reason } => (Request::Restore, Some(reason.clone())),
        CtlCommand::Drill { reason } => (Request::Drill, Some(reason.clone())),
        CtlCommand::Audit { tail, action } => match action {
            Some(AuditAction::Verify) => (Request::AuditVerify, None),
            None => (Request::AuditTail { n: *tail }, None),
        },
    })
}

/// `report --since S`, checked before anything is sent.
fn report_request(since: &str) -> anyhow::Result<Request> {
    let window = crate::wire::ledger::parse_since(since).map_err(|e| fail(Code::Usage, e))?;
    Ok(Request::Report {
        since_s: window.map(|d| d.num_seconds().max(0) as u64),
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

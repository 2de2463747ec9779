//! `gantry ctl`: the control room's commands from a script, CI or a shell.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Args, Debug, Clone)]
pub struct CtlArgs {
    /// The agent's config (its socket is found from it).
    #[arg(long, env = "GANTRY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
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
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditAction {
    /// Check the hash chain; name the first line that does not chain.
    Verify,
}

pub fn run(_args: &CtlArgs, _command: CtlCommand) -> anyhow::Result<()> {
    anyhow::bail!("ctl not built yet")
}

//! `gantry sim`: a simulated trading service for development, the demo,
//! tests and drills. It reads its knobs from its environment (the release),
//! logs the smoke-deploy start-up phases, serves Prometheus metrics and
//! misbehaves on request, so a bad release can carry its own fault and a
//! rollback to the known-good release cures it. Users' guide: docs/sim.md.
//!
//! - `knobs`: the environment keys, parsed and validated (pure);
//! - `model`: the service as a state machine on virtual time (pure);
//! - `metrics`: the model's values as text exposition (pure);
//! - `server`: HTTP/1.1 `/metrics` over the model;
//! - `shell`: runtime, signals, log, and the loop that drives the model;
//! - `venue`: the simulated venue's book and its file format (pure);
//! - `trader`: what the model asks of the venue, and the trading step (pure);
//! - `venue_file`: the venue file on disk: lock, load, durable save;
//! - `venue_cli`: `gantry sim venue` and `gantry sim flatten`.
//!
//! This file is the entry point: validate, gather what needs the host (host
//! name, state directory), then hand off to the shell.

pub mod knobs;
pub mod metrics;
pub mod model;
pub mod server;
pub mod shell;
pub mod trader;
pub mod venue;
pub mod venue_cli;
pub mod venue_file;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::envfile;
use crate::exit::{Code, fail};
use knobs::Knobs;
use model::{Persistence, Sim};
use shell::Outcome;

/// `gantry sim [--listen ADDR] [--validate-config ENVFILE]`.
pub fn main(listen: Option<String>, validate_config: Option<PathBuf>) -> anyhow::Result<()> {
    // Fault times count from here: as close to process start as we get.
    let start = Instant::now();
    if let Some(path) = validate_config {
        return validate_file(&path);
    }
    let pairs = environment()?;
    let mut knobs = Knobs::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| fail(Code::Config, format!("environment validation failed: {e}")))?;
    if let Some(listen) = listen {
        knobs.listen = knobs::parse_listen(&listen)
            .map_err(|why| fail(Code::Usage, format!("--listen {listen} {why}")))?;
    }
    let host = knobs.host.clone().unwrap_or_else(machine_name);
    let persistence = persistence(knobs.state_dir.as_deref());
    let listen = knobs.listen;
    let shared = server::Shared::new(Sim::new(knobs, host, persistence), start);
    match shell::run(shared, listen)? {
        Outcome::Shutdown => Ok(()),
        // A simulated crash exits with an arbitrary status (SIM_EXIT_CODE),
        // which the documented exit codes of `anyhow` errors cannot carry;
        // the log line has already been flushed.
        Outcome::Exit(code) => std::process::exit(code),
    }
}

/// `--validate-config`: the sim's validate command. Silent on success.
fn validate_file(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    let bytes = envfile::read_file(path).map_err(|e| fail(Code::DataErr, e))?;
    let env = envfile::parse(&bytes).map_err(|e| fail(Code::DataErr, format!("{shown}: {e}")))?;
    Knobs::from_pairs(env.iter()).map_err(|e| {
        let line = env
            .entries
            .iter()
            .find(|entry| entry.key == e.key())
            .map_or(0, |entry| entry.line);
        fail(Code::Config, format!("{shown}: line {line}: {e}"))
    })?;
    Ok(())
}

/// The keys the sim reads from its own environment, sorted so that the
/// first error reported does not depend on the environment's order.
fn environment() -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (key, value) in std::env::vars_os() {
        // A key that is not UTF-8 cannot be one of ours.
        let Some(key) = key.to_str() else { continue };
        if !knobs::is_relevant(key) {
            continue;
        }
        let value = value.into_string().map_err(|_| {
            fail(
                Code::Config,
                format!("environment validation failed: {key} is not valid UTF-8"),
            )
        })?;
        pairs.push((key.to_string(), value));
    }
    pairs.sort();
    Ok(pairs)
}

/// The host name when the agent did not pass `GANTRY_HOST`.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The "persistence mounted" phase: `SIM_STATE_DIR` must be a directory;
/// without it the working directory is used.
fn persistence(state_dir: Option<&Path>) -> Persistence {
    match state_dir {
        Some(dir) => Persistence {
            path: dir.to_path_buf(),
            problem: (!dir.is_dir()).then(|| "not a directory (SIM_STATE_DIR)".into()),
        },
        None => match std::env::current_dir() {
            Ok(path) => Persistence {
                path,
                problem: None,
            },
            Err(e) => Persistence {
                path: ".".into(),
                problem: Some(format!("working directory unavailable: {e}")),
            },
        },
    }
}

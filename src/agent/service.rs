//! The supervised service: a process the agent starts itself (`command`),
//! or a systemd unit (`systemd`).
//!
//! A command service runs in its own process group, so a signal meant for
//! the agent (Ctrl-C, SIGTERM) never reaches it and it outlives an agent
//! restart. Its pid and start time go to service.pid, so a restarted agent
//! adopts the running process instead of starting a second one, and a
//! recycled pid is never mistaken for it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::mpsc;

use super::config::ServiceKind;
use crate::durable;

/// Sent to the agent's loop when a service process exits.
#[derive(Debug)]
pub struct Exited {
    pub pid: u32,
    pub code: Option<i32>,
}

pub struct Service {
    kind: ServiceKind,
    state_dir: PathBuf,
    host: String,
    stop_timeout: Duration,
    running: Option<Running>,
    exits: mpsc::UnboundedSender<Exited>,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    pid: u32,
    start_ticks: u64,
}

impl Service {
    pub fn new(
        kind: ServiceKind,
        state_dir: &Path,
        host: &str,
        stop_timeout_ms: u64,
        exits: mpsc::UnboundedSender<Exited>,
    ) -> Self {
        let mut service = Self {
            kind,
            state_dir: state_dir.to_path_buf(),
            host: host.to_string(),
            stop_timeout: Duration::from_millis(stop_timeout_ms),
            running: None,
            exits,
        };
        service.adopt();
        service
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ServiceKind::Command { .. } => "command",
            ServiceKind::Systemd { .. } => "systemd",
        }
    }

    fn pid_path(&self) -> PathBuf {
        self.state_dir.join("service.pid")
    }

    /// Takes over a process a previous agent started, if it still runs.
    fn adopt(&mut self) {
        let Ok(text) = fs::read_to_string(self.pid_path()) else {
            return;
        };
        let mut parts = text.split_whitespace();
        let (Some(Ok(pid)), Some(Ok(start_ticks))) = (
            parts.next().map(str::parse::<u32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            return;
        };
        if start_time(pid) == Some(start_ticks) {
            self.running = Some(Running { pid, start_ticks });
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.running.filter(is_same).map(|r| r.pid)
    }

    /// Whether the service is up right now.
    pub async fn alive(&self) -> bool {
        match &self.kind {
            ServiceKind::Command { .. } => self.running.is_some_and(|r| is_same(&r)),
            ServiceKind::Systemd { unit } => {
                systemctl(&["is-active", "--quiet", unit]).await.is_ok()
            }
        }
    }

    /// Stops whatever runs and starts the service with `env`.
    pub async fn restart(&mut self, env: &[(String, String)], release: &str) -> anyhow::Result<()> {
        match self.kind.clone() {
            ServiceKind::Command { argv } => {
                self.stop().await?;
                self.spawn(&argv, env, release)
            }
            ServiceKind::Systemd { unit } => systemctl(&["restart", &unit]).await,
        }
    }

    fn spawn(
        &mut self,
        argv: &[String],
        env: &[(String, String)],
        release: &str,
    ) -> anyhow::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state_dir.join("service.log"))?;
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_clear()
            .current_dir(&self.state_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(false);
        // A service gets a plain environment: the basics, then the release
        // and the stage overlay, then who it is.
        for key in ["PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME"] {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        for (k, v) in env {
            command.env(k, v);
        }
        command
            .env("GANTRY_HOST", &self.host)
            .env("GANTRY_RELEASE", release);
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", argv[0]))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("service exited at once"))?;
        let start_ticks = start_time(pid).unwrap_or(0);
        self.running = Some(Running { pid, start_ticks });
        durable::write_atomic(
            &self.pid_path(),
            format!("{pid} {start_ticks}\n").as_bytes(),
        )?;
        let exits = self.exits.clone();
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code());
            let _ = exits.send(Exited { pid, code });
        });
        Ok(())
    }

    /// Stops the service: SIGTERM to its process group, SIGKILL after the
    /// stop timeout.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self.kind.clone() {
            ServiceKind::Systemd { unit } => systemctl(&["stop", &unit]).await,
            ServiceKind::Command { .. } => {
                let Some(running) = self.running.take() else {
                    return Ok(());
                };
                let _ = durable::remove(&self.pid_path());
                if !is_same(&running) {
                    return Ok(());
                }
                signal_group(running.pid, libc::SIGTERM);
                let deadline = Instant::now() + self.stop_timeout;
                while is_same(&running) {
                    if Instant::now() >= deadline {
                        signal_group(running.pid, libc::SIGKILL);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Ok(())
            }
        }
    }
}

fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) with a negative pid signals a process group; no memory
    // is involved. The group was created for the service (process_group(0)).
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// The process is the one we started: same pid and same start time, and
/// not a zombie waiting to be reaped.
fn is_same(running: &Running) -> bool {
    match stat_fields(running.pid) {
        Some((state, ticks)) => ticks == running.start_ticks && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Whether `pid` is a live process (not a zombie waiting to be reaped).
pub fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid).map(|(_, ticks)| ticks)
}

/// (state, starttime) from /proc/PID/stat.
fn stat_fields(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // starttime is field 22 overall, the 20th after comm.
    let ticks = fields.nth(18)?.parse().ok()?;
    Some((state, ticks))
}

async fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("systemctl")
        .args(args)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("systemctl {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "systemctl {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    }
}

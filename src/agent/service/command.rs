//! The `command` kind: a process the agent starts itself.
//!
//! It runs in its own process group, so a signal meant for the agent
//! (Ctrl-C, SIGTERM) never reaches it and it outlives an agent restart.
//! Its pid and start time go to service.pid, so a restarted agent adopts
//! the running process instead of starting a second one, and a recycled
//! pid is never mistaken for it.
//!
//! service.pid can lag a crash (it is written after the spawn, removed
//! after the stop), so it is never the only truth: every process the agent
//! starts carries `GANTRY_OWNER=<state dir>` in its environment, inherited
//! by its children. On start the agent adopts the one service process that
//! matches, and stops every other process carrying its marker before it
//! starts anything; a stop stops them all. Health is read only from a port
//! one of those processes listens on ([`CommandService::answers_on`]).

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::mpsc;

use super::log::ServiceLog;
use super::procfs;
use super::{Exited, OWNER_VAR};
use crate::agent::config::LogLimits;
use crate::durable;

pub(super) struct CommandService {
    argv: Vec<String>,
    state_dir: PathBuf,
    /// The marker's value: the state dir's canonical path.
    owner: String,
    host: String,
    stop_timeout: Duration,
    running: Option<Running>,
    exits: mpsc::UnboundedSender<Exited>,
    log: ServiceLog,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    pid: u32,
    start_ticks: u64,
}

impl CommandService {
    pub(super) fn new(
        argv: Vec<String>,
        log: LogLimits,
        state_dir: &Path,
        host: &str,
        stop_timeout_ms: u64,
        exits: mpsc::UnboundedSender<Exited>,
    ) -> Self {
        let owner = fs::canonicalize(state_dir)
            .unwrap_or_else(|_| state_dir.to_path_buf())
            .display()
            .to_string();
        let mut service = Self {
            argv,
            owner,
            state_dir: state_dir.to_path_buf(),
            host: host.to_string(),
            stop_timeout: Duration::from_millis(stop_timeout_ms),
            running: None,
            exits,
            log: ServiceLog::new(state_dir, log),
        };
        service.adopt();
        service
    }

    pub(super) fn log(&self) -> &ServiceLog {
        &self.log
    }

    fn pid_path(&self) -> PathBuf {
        self.state_dir.join("service.pid")
    }

    /// Takes over the service a previous agent started, if it still runs,
    /// and stops every other process carrying the marker: a crash between
    /// a start and its pid file, or a stop and its removal, leaves no
    /// process that the agent does not know of.
    fn adopt(&mut self) {
        let marked = marked_processes(&self.owner);
        let recorded = fs::read_to_string(self.pid_path())
            .ok()
            .and_then(|text| {
                let mut parts = text.split_whitespace();
                Some(Running {
                    pid: parts.next()?.parse().ok()?,
                    start_ticks: parts.next()?.parse().ok()?,
                })
            })
            .filter(is_same);
        // Without a pid file, the one process group the marker names is the
        // service (it was started just before a crash); more than one is
        // never guessed at.
        let leaders: Vec<Running> = marked
            .iter()
            .filter(|m| m.pgid == m.pid)
            .map(|m| m.running)
            .collect();
        let adopted = recorded.or(match leaders.as_slice() {
            [only] => Some(*only),
            _ => None,
        });
        let strays: Vec<&Marked> = marked
            .iter()
            .filter(|m| adopted.is_none_or(|a| m.pgid != a.pid))
            .collect();
        if !strays.is_empty() {
            eprintln!(
                "gantry agent: stopping {} process(es) carrying {OWNER_VAR}={} that no record names: pid {}",
                strays.len(),
                self.owner,
                strays
                    .iter()
                    .map(|m| m.pid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for stray in &strays {
                signal_group(stray.pgid, libc::SIGKILL);
                signal_pid(stray.pid, libc::SIGKILL);
            }
        }
        self.running = adopted;
        match adopted {
            Some(running) if recorded.is_none() => {
                let _ = durable::write_atomic_mode(
                    &self.pid_path(),
                    format!("{} {}\n", running.pid, running.start_ticks).as_bytes(),
                    crate::agent::store::SHARED_MODE,
                );
            }
            None => {
                let _ = durable::remove(&self.pid_path());
            }
            _ => {}
        }
    }

    /// Whether the running process was started with exactly `env` as
    /// release `release` (it carries them in its environment).
    pub(super) fn runs(&self, env: &[(String, String)], release: &str) -> bool {
        let Some(pid) = self.pid() else { return false };
        let Some(actual) = procfs::environ(pid) else {
            return false;
        };
        let has = |k: &str, v: &str| actual.iter().any(|(ak, av)| ak == k && av == v);
        has("GANTRY_RELEASE", release)
            && has(OWNER_VAR, &self.owner)
            && env.iter().all(|(k, v)| has(k, v))
    }

    /// Whether a process the agent started listens on local TCP `port`:
    /// false when another process answers there or nothing local does
    /// (the agent cannot tell who would).
    pub(super) fn answers_on(&self, port: u16) -> bool {
        let inodes = procfs::listening_inodes(port);
        if inodes.is_empty() {
            return false;
        }
        let ours = |pid: u32| procfs::holds_socket(pid, &inodes);
        // The service itself first; a child it forked is found by marker.
        self.pid().is_some_and(ours) || marked_processes(&self.owner).iter().any(|m| ours(m.pid))
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.running.filter(is_same).map(|r| r.pid)
    }

    /// When the running process started.
    pub(super) fn started_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.running
            .filter(is_same)
            .and_then(|r| procfs::started_at(r.start_ticks))
    }

    pub(super) fn alive(&self) -> bool {
        self.running.is_some_and(|r| is_same(&r))
    }

    fn spawn(&mut self, env: &[(String, String)], release: &str) -> anyhow::Result<()> {
        let argv = &self.argv;
        let log = self.log.open_for_service()?;
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
            .env("GANTRY_RELEASE", release)
            .env(OWNER_VAR, &self.owner);
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", argv[0]))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("service exited at once"))?;
        let start_ticks = procfs::stat(pid).map_or(0, |s| s.start_ticks);
        self.running = Some(Running { pid, start_ticks });
        crate::faults::point("service.spawned");
        durable::write_atomic_mode(
            &self.pid_path(),
            format!("{pid} {start_ticks}\n").as_bytes(),
            crate::agent::store::SHARED_MODE,
        )?;
        let exits = self.exits.clone();
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code());
            let _ = exits.send(Exited { pid, code });
        });
        Ok(())
    }

    /// Stops the service and every other process carrying the marker:
    /// SIGTERM to their process groups, SIGKILL after the stop timeout. The
    /// pid file goes only once they are gone, so a crash in between leaves
    /// the record (and the marker) to find them by.
    pub(super) async fn stop(&mut self) -> anyhow::Result<()> {
        self.signal_stop().await.wait().await;
        self.stopped()
    }

    /// The process is signalled to stop now; the future waits for it to
    /// be gone.
    pub(super) async fn begin_restart(
        &mut self,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        let stopping = self.signal_stop().await;
        Box::pin(async move {
            stopping.wait().await;
            Ok(())
        })
    }

    /// The old process is gone: the new one starts with `env`.
    pub(super) fn finish_restart(
        &mut self,
        env: &[(String, String)],
        release: &str,
    ) -> anyhow::Result<()> {
        self.stopped()?;
        self.spawn(env, release)
    }

    /// SIGTERM to the service's group and to every other process carrying
    /// the marker; what to wait for.
    async fn signal_stop(&mut self) -> Stopping {
        // The process we run stops trading first; the scan of /proc for
        // any other process with our marker (a child that left the group)
        // follows on a blocking thread, while that one exits.
        let mut groups: Vec<u32> = Vec::new();
        let mut members: Vec<Running> = Vec::new();
        if let Some(running) = self.running.take().filter(is_same) {
            signal_group(running.pid, libc::SIGTERM);
            groups.push(running.pid);
            members.push(running);
        }
        let owner = self.owner.clone();
        let marked = tokio::task::spawn_blocking(move || marked_processes(&owner))
            .await
            .unwrap_or_default();
        for m in marked {
            if !groups.contains(&m.pgid) {
                signal_group(m.pgid, libc::SIGTERM);
                groups.push(m.pgid);
            }
            members.push(m.running);
        }
        Stopping {
            groups,
            members,
            deadline: Instant::now() + self.stop_timeout,
        }
    }

    /// Every signalled process is gone: the record goes.
    fn stopped(&self) -> anyhow::Result<()> {
        crate::faults::point("service.stopped");
        durable::remove(&self.pid_path())?;
        Ok(())
    }
}

/// Processes signalled to stop, and when they get SIGKILL.
struct Stopping {
    groups: Vec<u32>,
    members: Vec<Running>,
    deadline: Instant,
}

impl Stopping {
    /// Until every signalled process is gone, SIGKILL at the deadline.
    async fn wait(self) {
        while self.members.iter().any(is_same) {
            if Instant::now() >= self.deadline {
                for group in &self.groups {
                    signal_group(*group, libc::SIGKILL);
                }
                for member in &self.members {
                    signal_pid(member.pid, libc::SIGKILL);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A process carrying the agent's marker.
struct Marked {
    pid: u32,
    pgid: u32,
    running: Running,
}

/// Every live process whose environment holds `GANTRY_OWNER=owner`, but
/// this one. Processes of other users cannot be read and are not ours.
fn marked_processes(owner: &str) -> Vec<Marked> {
    let me = std::process::id();
    procfs::pids()
        .into_iter()
        .filter(|pid| *pid != me)
        .filter(|pid| {
            procfs::environ(*pid)
                .is_some_and(|env| env.iter().any(|(k, v)| k == OWNER_VAR && v == owner))
        })
        .filter_map(|pid| {
            let stat = procfs::stat(pid).filter(procfs::Stat::live)?;
            Some(Marked {
                pid,
                pgid: stat.pgid,
                running: Running {
                    pid,
                    start_ticks: stat.start_ticks,
                },
            })
        })
        .collect()
}

fn signal_pid(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) on one pid that carries our marker; no memory involved.
    unsafe {
        libc::kill(pid, signal);
    }
}

fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: getpgrp(2) has no failure mode and touches no memory.
    if pid <= 1 || pid == unsafe { libc::getpgrp() } {
        // Never the agent's own group (a marked process that joined it).
        return;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; no memory
    // is involved. The group was created for the service (process_group(0)).
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// The process is the one we started: same pid and same start time, and
/// not a zombie waiting to be reaped.
fn is_same(running: &Running) -> bool {
    procfs::stat(running.pid).is_some_and(|s| s.start_ticks == running.start_ticks && s.live())
}

//! The supervised service: a process the agent starts itself (`command`),
//! or a systemd unit (`systemd`).
//!
//! A command service runs in its own process group, so a signal meant for
//! the agent (Ctrl-C, SIGTERM) never reaches it and it outlives an agent
//! restart. Its pid and start time go to service.pid, so a restarted agent
//! adopts the running process instead of starting a second one, and a
//! recycled pid is never mistaken for it.
//!
//! service.pid can lag a crash (it is written after the spawn, removed
//! after the stop), so it is never the only truth: every process the agent
//! starts carries `GANTRY_OWNER=<state dir>` in its environment, inherited
//! by its children. On start the agent adopts the one service process that
//! matches, and stops every other process carrying its marker before it
//! starts anything; a stop stops them all. Health is read only from a port
//! one of those processes listens on ([`Service::answers_on`]).

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::mpsc;

/// The environment marker every service process carries.
pub const OWNER_VAR: &str = "GANTRY_OWNER";

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
    /// The marker's value: the state dir's canonical path.
    owner: String,
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
        let owner = fs::canonicalize(state_dir)
            .unwrap_or_else(|_| state_dir.to_path_buf())
            .display()
            .to_string();
        let mut service = Self {
            kind,
            owner,
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
                    super::store::SHARED_MODE,
                );
            }
            None => {
                let _ = durable::remove(&self.pid_path());
            }
            _ => {}
        }
    }

    /// Whether the running service was started with exactly `env` (the
    /// release and the stage overlay) as release `release`: after a crash
    /// between a link swap and a restart, the files say one thing and the
    /// process another. A systemd unit reads its files on every start;
    /// it is trusted to match.
    pub fn runs(&self, env: &[(String, String)], release: &str) -> bool {
        match &self.kind {
            ServiceKind::Systemd { .. } => true,
            ServiceKind::Command { .. } => {
                let Some(pid) = self.pid() else { return false };
                let Some(actual) = environ(pid) else {
                    return false;
                };
                let has = |k: &str, v: &str| actual.iter().any(|(ak, av)| ak == k && av == v);
                has("GANTRY_RELEASE", release)
                    && has(OWNER_VAR, &self.owner)
                    && env.iter().all(|(k, v)| has(k, v))
            }
        }
    }

    /// Whether a process the agent started listens on local TCP `port`:
    /// health is read only from such a port. False when another process
    /// answers there or nothing local does (the agent cannot tell who
    /// would). A systemd unit's processes are the unit's, started by
    /// systemd, not marked: for it this holds.
    pub fn answers_on(&self, port: u16) -> bool {
        if matches!(self.kind, ServiceKind::Systemd { .. }) {
            return true;
        }
        let inodes = listening_inodes(port);
        if inodes.is_empty() {
            return false;
        }
        let ours = |pid: u32| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    fs::read_link(fd.path()).is_ok_and(|target| {
                        let target = target.to_string_lossy();
                        inodes
                            .iter()
                            .any(|inode| target == format!("socket:[{inode}]"))
                    })
                })
            })
        };
        // The service itself first; a child it forked is found by marker.
        self.pid().is_some_and(ours) || marked_processes(&self.owner).iter().any(|m| ours(m.pid))
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
        self.begin_restart().await.await?;
        self.finish_restart(env, release)
    }

    /// Whether a restart reads the release's files itself (a unit does,
    /// when systemd starts it): one begun before the files changed again
    /// must be done over.
    pub fn reads_files_at_start(&self) -> bool {
        matches!(self.kind, ServiceKind::Systemd { .. })
    }

    fn spawn(
        &mut self,
        argv: &[String],
        env: &[(String, String)],
        release: &str,
    ) -> anyhow::Result<()> {
        let log = {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(self.state_dir.join("service.log"))?;
            // A service may print its secrets: only the agent's user reads.
            log.set_permissions(fs::Permissions::from_mode(0o600))?;
            log
        };
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
        let start_ticks = start_time(pid).unwrap_or(0);
        self.running = Some(Running { pid, start_ticks });
        crate::faults::point("service.spawned");
        durable::write_atomic_mode(
            &self.pid_path(),
            format!("{pid} {start_ticks}\n").as_bytes(),
            super::store::SHARED_MODE,
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
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let ServiceKind::Systemd { unit } = &self.kind {
            return systemctl(&["stop", unit]).await;
        }
        self.signal_stop().await.wait().await;
        self.stopped()
    }

    /// A restart's slow half, to be awaited off the agent's loop: the
    /// command service is signalled to stop now and the returned future
    /// waits for it to be gone; a unit's whole `systemctl restart` runs in
    /// it. Then [`Service::finish_restart`].
    pub async fn begin_restart(
        &mut self,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        match self.kind.clone() {
            ServiceKind::Command { .. } => {
                let stopping = self.signal_stop().await;
                Box::pin(async move {
                    stopping.wait().await;
                    Ok(())
                })
            }
            ServiceKind::Systemd { unit } => {
                Box::pin(async move { systemctl(&["restart", &unit]).await })
            }
        }
    }

    /// A restart's second half, once [`Service::begin_restart`]'s future
    /// is done: the command service starts with `env`.
    pub fn finish_restart(
        &mut self,
        env: &[(String, String)],
        release: &str,
    ) -> anyhow::Result<()> {
        match self.kind.clone() {
            ServiceKind::Command { argv } => {
                self.stopped()?;
                self.spawn(&argv, env, release)
            }
            ServiceKind::Systemd { .. } => Ok(()),
        }
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
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            environ(*pid).is_some_and(|env| env.iter().any(|(k, v)| k == OWNER_VAR && v == owner))
        })
        .filter_map(|pid| {
            let (state, start_ticks, pgid) = stat_fields(pid)?;
            (state != 'Z' && state != 'X').then_some(Marked {
                pid,
                pgid,
                running: Running { pid, start_ticks },
            })
        })
        .collect()
}

/// A process's environment, as it was when it started.
fn environ(pid: u32) -> Option<Vec<(String, String)>> {
    let bytes = fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter_map(|pair| {
                let pair = std::str::from_utf8(pair).ok()?;
                let (k, v) = pair.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// Inodes of the TCP sockets listening on `port`, any local address.
fn listening_inodes(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if *state == LISTEN && local_port == Some(port) {
                inodes.push(inode.to_string());
            }
        }
    }
    inodes
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
    match stat_fields(running.pid) {
        Some((state, ticks, _)) => ticks == running.start_ticks && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Whether `pid` is a live process (not a zombie waiting to be reaped).
pub fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _, _)| state != 'Z' && state != 'X')
}

fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid).map(|(_, ticks, _)| ticks)
}

/// (state, starttime, process group) from /proc/PID/stat.
fn stat_fields(pid: u32) -> Option<(char, u64, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // pgrp is field 5 overall, the 3rd after comm; starttime is field 22.
    let pgid = fields.nth(1)?.parse().ok()?;
    let ticks = fields.nth(16)?.parse().ok()?;
    Some((state, ticks, pgid))
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

//! One run of the service, as a smoke deploy watches it: its log lines
//! as they come (service.log from where the run began, the unit's
//! journal for this invocation, or the container's `logs`), whether it
//! still runs, and whether it runs the release it was given.

use std::path::PathBuf;

use super::log::{LogReader, ServiceLog};
use super::{container, procfs, systemd};

pub enum Run {
    Process {
        pid: u32,
        release: String,
        log: ServiceLog,
        /// Where the run's lines begin ([`ServiceLog::mark`]).
        mark: u64,
    },
    Unit {
        unit: systemd::Unit,
        /// systemd's InvocationID of this run: its journal lines carry it.
        invocation: String,
        main_pid: Option<u32>,
        state_dir: PathBuf,
    },
    Container {
        container: container::Container,
        /// The engine's id of the container this run started.
        id: String,
        release: String,
    },
}

impl Run {
    /// The log, read from the run's beginning.
    pub fn lines(&self) -> Lines {
        match self {
            Run::Process { log, mark, .. } => Lines::File(log.reader(*mark)),
            Run::Unit {
                unit, invocation, ..
            } => Lines::Journal {
                unit: unit.clone(),
                invocation: Some(invocation.clone()),
                cursor: None,
            },
            Run::Container { container, id, .. } => Lines::Container(container.follow_logs(id)),
        }
    }

    /// Whether this run is still going (for a unit: active, same
    /// invocation).
    pub async fn running(&self) -> bool {
        match self {
            Run::Process { pid, .. } => procfs::running(*pid),
            Run::Unit {
                unit, invocation, ..
            } => unit
                .show()
                .await
                .is_ok_and(|f| f.active() && f.invocation.as_deref() == Some(invocation.as_str())),
            Run::Container { container, id, .. } => container
                .inspect()
                .await
                .is_ok_and(|f| f.is_some_and(|f| f.running && f.id == *id)),
        }
    }

    /// That the run serves the release it was given, in words; or why
    /// not. A process carries GANTRY_RELEASE; a unit's main process must
    /// have started after current.env and stage.env were pointed at it.
    pub async fn proof(&self) -> Result<String, String> {
        match self {
            Run::Process { pid, release, .. } => {
                let ok = procfs::environ(*pid).is_some_and(|env| {
                    env.iter()
                        .any(|(k, v)| k == "GANTRY_RELEASE" && v == release)
                });
                if ok {
                    Ok(format!("running pid {pid}, release {release}"))
                } else {
                    Err(format!("release: pid {pid} does not run {release}"))
                }
            }
            Run::Unit {
                unit,
                invocation,
                main_pid,
                state_dir,
            } => {
                let facts = unit.show().await.map_err(|e| format!("running: {e:#}"))?;
                if facts.invocation.as_deref() != Some(invocation.as_str()) {
                    return Err(format!(
                        "running: unit {} was restarted by something else during the smoke",
                        unit.name
                    ));
                }
                if !systemd::read_files(&facts, state_dir) {
                    return Err(format!(
                        "release: unit {} started before current.env and stage.env named the smoke",
                        unit.name
                    ));
                }
                let pid = main_pid.map_or("none".to_string(), |p| p.to_string());
                Ok(format!(
                    "unit {} active, main pid {pid}, invocation {invocation}",
                    unit.name
                ))
            }
            Run::Container {
                container,
                id,
                release,
            } => container.proof(id, release).await,
        }
    }
}

/// A run's log lines, read as they come.
pub enum Lines {
    /// service.log, across the agent's cuts of it.
    File(LogReader),
    /// The unit's journal after `cursor`: one run's, or with no
    /// invocation every run's.
    Journal {
        unit: systemd::Unit,
        invocation: Option<String>,
        cursor: Option<String>,
    },
    Container(container::LogFollow),
}

impl Lines {
    /// The whole lines written since the last call.
    pub async fn fresh(&mut self) -> Vec<String> {
        match self {
            Lines::File(reader) => reader.fresh(),
            Lines::Journal {
                unit,
                invocation,
                cursor,
            } => match unit
                .journal_after(invocation.as_deref(), cursor.as_deref())
                .await
            {
                Ok((lines, next)) => {
                    *cursor = next;
                    lines
                }
                // journald busy or restarting: the next poll asks again.
                Err(_) => Vec::new(),
            },
            Lines::Container(follow) => follow.fresh(),
        }
    }
}

//! The supervised service, one file per kind: a process the agent starts
//! itself (`command.rs`), a systemd unit (`systemd.rs`) or a container
//! (`container.rs`); what /proc says
//! of processes (`procfs.rs`); one run as a smoke deploy watches it
//! (`run.rs`). The agent talks to [`Service`] only, which hands each call
//! to its kind. A new kind is one more file and one more arm here.

mod command;
mod container;
mod log;
mod procfs;
mod run;
mod sockdiag;
mod systemd;
mod tail;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use tokio::sync::mpsc;

pub use container::{Container, ContainerFacts, LogFollow};
pub use log::{LogReader, ServiceLog};
pub use procfs::running;
pub use run::{Lines, Run};
pub use systemd::{Unit, UnitFacts};
pub use tail::{Follow, LogSource};

use super::config::ServiceKind;
use command::CommandService;

/// The environment marker every service process carries.
pub const OWNER_VAR: &str = "GANTRY_OWNER";

/// Sent to the agent's loop when a service process exits (command kind:
/// the agent is its parent; a unit's exits are seen by sampling).
#[derive(Debug)]
pub struct Exited {
    pub pid: u32,
    pub code: Option<i32>,
}

/// A check run off the loop before a candidate changes anything: Err
/// says why it cannot run.
pub type Preflight = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What the status shows of the service beyond running and pid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub unit: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub result: Option<String>,
    /// Container kind: the container's name, the image reference it runs
    /// and that image's id.
    pub container_name: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
}

pub struct Service {
    kind: Kind,
    state_dir: PathBuf,
}

enum Kind {
    Command(CommandService),
    Systemd {
        unit: Unit,
        /// The last `systemctl show`; None until the first, or when it failed.
        facts: Option<UnitFacts>,
    },
    Container {
        container: Container,
        /// The last `container inspect`; None until the first, when it
        /// failed, or when there is no container of that name.
        facts: Option<ContainerFacts>,
    },
}

impl Service {
    pub fn new(
        kind: ServiceKind,
        state_dir: &Path,
        host: &str,
        stop_timeout_ms: u64,
        exits: mpsc::UnboundedSender<Exited>,
    ) -> Self {
        let kind = match kind {
            ServiceKind::Command { argv, log } => Kind::Command(CommandService::new(
                argv,
                log,
                state_dir,
                host,
                stop_timeout_ms,
                exits,
            )),
            ServiceKind::Systemd {
                unit,
                systemctl,
                journalctl,
            } => Kind::Systemd {
                unit: Unit::new(&unit, &systemctl, &journalctl),
                facts: None,
            },
            ServiceKind::Container(spec) => Kind::Container {
                container: Container::new(spec, state_dir, host, stop_timeout_ms),
                facts: None,
            },
        };
        Self {
            kind,
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Command(_) => "command",
            Kind::Systemd { .. } => "systemd",
            Kind::Container { .. } => "container",
        }
    }

    /// Whether the running service was started with exactly `env` (the
    /// release and the stage overlay) as release `release`: after a crash
    /// between a link swap and a restart, the files say one thing and the
    /// process another. A unit reads the files at every start, so it runs
    /// them if its main process started after they last changed. A
    /// container must carry gantry's label, the release's label and image,
    /// and the env (as of the last inspect).
    pub fn runs(&self, env: &[(String, String)], release: &str) -> bool {
        match &self.kind {
            Kind::Command(c) => c.runs(env, release),
            Kind::Systemd { facts, .. } => facts
                .as_ref()
                .is_some_and(|f| systemd::read_files(f, &self.state_dir)),
            Kind::Container { container, facts } => facts
                .as_ref()
                .is_some_and(|f| container.runs(f, env, release)),
        }
    }

    /// Whether a process of the service listens on local TCP `port`:
    /// health is read only from such a port. False when another process
    /// answers there or nothing local does (the agent cannot tell who
    /// would). A unit's processes are its cgroup's, as of the last sample.
    pub fn answers_on(&self, port: u16) -> bool {
        match &self.kind {
            Kind::Command(c) => c.answers_on(port),
            Kind::Systemd { facts, .. } => {
                facts.as_ref().is_some_and(|f| systemd::answers_on(f, port))
            }
            Kind::Container { facts, .. } => facts
                .as_ref()
                .is_some_and(|f| container::answers_on(f, port)),
        }
    }

    /// The service's process (a unit's MainPID, as of the last sample).
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Command(c) => c.pid(),
            Kind::Systemd { facts, .. } => facts.as_ref().and_then(|f| f.main_pid),
            Kind::Container { facts, .. } => facts.as_ref().and_then(|f| f.pid),
        }
    }

    /// What the status shows beyond the pid.
    pub fn facts(&self) -> Facts {
        match &self.kind {
            Kind::Command(c) => Facts {
                started_at: c.started_at(),
                ..Facts::default()
            },
            Kind::Systemd { unit, facts } => Facts {
                unit: Some(unit.name.clone()),
                started_at: facts.as_ref().and_then(|f| f.active_since),
                result: facts
                    .as_ref()
                    .map(|f| f.result.clone())
                    .filter(|r| !r.is_empty()),
                ..Facts::default()
            },
            Kind::Container { container, facts } => {
                let running = facts.as_ref().filter(|f| f.running);
                Facts {
                    container_name: Some(container.spec.name.clone()),
                    started_at: running.and_then(|f| f.started_at),
                    image: facts.as_ref().map(|f| f.image.clone()),
                    image_id: facts.as_ref().map(|f| f.image_id.clone()),
                    ..Facts::default()
                }
            }
        }
    }

    /// Whether the service is up right now. For a unit this asks systemd
    /// (`systemctl show`) and keeps the answer for the calls above.
    pub async fn alive(&mut self) -> bool {
        match &mut self.kind {
            Kind::Command(c) => c.alive(),
            Kind::Systemd { unit, facts } => {
                let shown = unit.show().await;
                // Said once per change, not at every sample: systemctl that
                // cannot be run or reached fails process_alive.
                let was_ok = facts.is_some();
                if let Err(e) = &shown
                    && was_ok
                {
                    eprintln!("gantry agent: cannot read the unit's state: {e:#}");
                }
                *facts = shown.ok();
                facts.as_ref().is_some_and(UnitFacts::active)
            }
            Kind::Container { container, facts } => {
                let seen = container.inspect().await;
                if let Err(e) = &seen
                    && facts.is_some()
                {
                    eprintln!("gantry agent: cannot read the container's state: {e:#}");
                }
                // A container of that name gantry did not start is not the
                // service, running or not.
                *facts = seen.ok().flatten().filter(|f| f.owned_by_agent(container));
                facts.as_ref().is_some_and(|f| f.running)
            }
        }
    }

    /// What must hold before a candidate (`release`, its bytes) changes
    /// anything: a unit that does not exist, or a container whose image
    /// cannot be pulled, fails it at validation, so current.env never
    /// names a release nothing can run. A future to run off the loop.
    pub fn preflight(&self, release: &[u8]) -> Option<Preflight> {
        match &self.kind {
            Kind::Command(_) => None,
            Kind::Systemd { unit, .. } => {
                let unit = unit.clone();
                Some(Box::pin(async move { unit.check_loaded().await }))
            }
            Kind::Container { container, .. } => {
                let container = container.clone();
                let release = release.to_vec();
                Some(Box::pin(async move { container.preflight(&release).await }))
            }
        }
    }

    /// Stops whatever runs and starts the service with `env`.
    pub async fn restart(&mut self, env: &[(String, String)], release: &str) -> anyhow::Result<()> {
        self.begin_restart(env, release).await.await?;
        self.finish_restart(env, release).await
    }

    /// Whether a restart takes the release's env when it begins (a unit
    /// reads the files when systemd starts it; a container gets the env
    /// given to `begin_restart`): one begun before the files changed
    /// again must be done over.
    pub fn reads_files_at_start(&self) -> bool {
        matches!(self.kind, Kind::Systemd { .. } | Kind::Container { .. })
    }

    /// Stops the service: the command kind's process group and every
    /// process carrying the marker; a unit through `systemctl stop`.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match &mut self.kind {
            Kind::Command(c) => c.stop().await,
            Kind::Systemd { unit, facts } => {
                let stopped = unit.stop().await;
                *facts = unit.show().await.ok();
                stopped
            }
            Kind::Container { container, facts } => {
                let stopped = container.stop().await;
                *facts = container.inspect().await.ok().flatten();
                stopped
            }
        }
    }

    /// A restart's slow half, to be awaited off the agent's loop: the
    /// command service is signalled to stop now and the returned future
    /// waits for it to be gone; a unit's whole `systemctl restart` runs in
    /// it (until READY=1 for a Type=notify unit); so do a container's
    /// pull, stop, remove and run with `env` as release `release`. Then
    /// [`Service::finish_restart`].
    pub async fn begin_restart(
        &mut self,
        env: &[(String, String)],
        release: &str,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        match &mut self.kind {
            Kind::Command(c) => c.begin_restart().await,
            Kind::Systemd { unit, .. } => {
                let unit = unit.clone();
                Box::pin(async move { unit.restart().await })
            }
            Kind::Container { container, .. } => {
                let container = container.clone();
                let (env, release) = (env.to_vec(), release.to_string());
                Box::pin(async move { container.replace(env, release).await })
            }
        }
    }

    /// A restart's second half, once [`Service::begin_restart`]'s future
    /// is done: the command service starts with `env`; what systemd says
    /// of the unit's new run is read, so status names its MainPID at once.
    pub async fn finish_restart(
        &mut self,
        env: &[(String, String)],
        release: &str,
    ) -> anyhow::Result<()> {
        match &mut self.kind {
            Kind::Command(c) => c.finish_restart(env, release),
            Kind::Systemd { unit, facts } => {
                *facts = unit.show().await.ok();
                Ok(())
            }
            Kind::Container { container, facts } => {
                *facts = container.inspect().await.ok().flatten();
                Ok(())
            }
        }
    }

    /// Cuts service.log back to its limit if it is over (command kind; a
    /// unit's journal is journald's to keep, a container's its engine's):
    /// the bytes moved, if any.
    pub fn cut_log_if_over(&self) -> std::io::Result<Option<u64>> {
        match &self.kind {
            Kind::Command(c) => c.log().cut_if_over(),
            Kind::Systemd { .. } | Kind::Container { .. } => Ok(None),
        }
    }

    /// Where the service's log is, for sessions that read it.
    pub fn log_source(&self) -> LogSource {
        match &self.kind {
            Kind::Command(c) => LogSource::File(c.log().clone()),
            Kind::Systemd { unit, .. } => LogSource::Journal(unit.clone()),
            Kind::Container { container, .. } => LogSource::Container(container.clone()),
        }
    }

    /// Where the service's log is now, taken before a restart: lines
    /// after it are the next run's.
    pub fn log_mark(&self) -> u64 {
        match &self.kind {
            Kind::Command(c) => c.log().mark(),
            Kind::Systemd { .. } | Kind::Container { .. } => 0,
        }
    }

    /// The run a restart just started, for a smoke deploy to watch: the
    /// process and service.log from `mark`, or the unit's invocation and
    /// its journal.
    pub async fn current_run(&mut self, mark: u64, release: &str) -> Option<Run> {
        match &mut self.kind {
            Kind::Command(c) => Some(Run::Process {
                pid: c.pid()?,
                release: release.to_string(),
                log: c.log().clone(),
                mark,
            }),
            Kind::Systemd { unit, facts } => {
                *facts = unit.show().await.ok();
                let f = facts.as_ref().filter(|f| f.active())?;
                Some(Run::Unit {
                    unit: unit.clone(),
                    invocation: f.invocation.clone()?,
                    main_pid: f.main_pid,
                    state_dir: self.state_dir.clone(),
                })
            }
            Kind::Container { container, facts } => {
                *facts = container.inspect().await.ok().flatten();
                let f = facts.as_ref().filter(|f| f.running)?;
                Some(Run::Container {
                    container: container.clone(),
                    id: f.id.clone(),
                    release: release.to_string(),
                })
            }
        }
    }
}

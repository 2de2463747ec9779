//! The `container` kind: one container, named by the config, that the
//! agent runs with the engine's CLI (`docker` or `podman`, found on PATH;
//! DOCKER_HOST / CONTAINER_HOST and the engines' own config variables
//! reach it unchanged from the agent's environment).
//!
//! A restart: the image `REPO:IMAGE_TAG` must be there (pulled if not;
//! a pull that fails stops nothing), then the old container is stopped
//! and removed, then the new one runs with the release and the stage
//! overlay as its environment (an env file, 0600, removed once `run`
//! returned: values never reach argv), and the restart succeeds only
//! once the engine says it is running. Every container the agent starts
//! carries the label `io.gantry.owner` = the canonical state dir: a
//! container of that name without it is someone else's and is never
//! stopped nor removed. State comes from `container inspect` (JSON),
//! logs from `logs -f`.
//!
//! Health is read only from the container's own processes: State.Pid and
//! its descendants, holding a socket that listens on the probe's port in
//! the container's network namespace (/proc/PID/net/tcp), so the agent
//! must share the engine's pid namespace (it does on a host).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::mpsc;

use super::procfs;
use crate::agent::config::container::{ContainerSpec, image_tag};

/// The label that says gantry started a container, and for which state dir.
pub const OWNER_LABEL: &str = "io.gantry.owner";
/// The label naming the release a container runs.
pub const RELEASE_LABEL: &str = "io.gantry.release";

/// How long one engine call may take before it is called failed.
const QUICK: Duration = Duration::from_secs(30);
/// A pull may fetch a large image over a slow link.
const PULL: Duration = Duration::from_secs(600);

/// How to reach the engine about the one container; cheap to clone into tasks.
#[derive(Debug, Clone)]
pub struct Container {
    pub(super) spec: ContainerSpec,
    owner: String,
    host: String,
    stop_timeout_s: u64,
    state_dir: PathBuf,
    /// Held by a replace and by a stop, so that they never overlap: a
    /// restart the agent gave up on (a smoke or an emergency stop came)
    /// still finishes off the loop, and what runs after it must see the
    /// container it left, not race its `rm` and `run`.
    busy: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// What `container inspect` says of the container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerFacts {
    pub id: String,
    /// Without docker's leading '/'.
    pub name: String,
    pub running: bool,
    /// State.Pid, as the host numbers it; None when not running.
    pub pid: Option<u32>,
    pub started_at: Option<DateTime<Utc>>,
    /// Config.Image: the reference it was run from.
    pub image: String,
    /// The image's id.
    pub image_id: String,
    pub labels: HashMap<String, String>,
    /// Config.Env, `KEY=VALUE` each: never printed.
    pub env: Vec<String>,
    pub exit_code: Option<i64>,
    pub error: String,
}

impl ContainerFacts {
    pub fn owned_by(&self, owner: &str) -> bool {
        self.labels.get(OWNER_LABEL).map(String::as_str) == Some(owner)
    }

    pub(super) fn owned_by_agent(&self, container: &Container) -> bool {
        self.owned_by(&container.owner)
    }
}

impl Container {
    pub(super) fn new(
        spec: ContainerSpec,
        state_dir: &Path,
        host: &str,
        stop_timeout_ms: u64,
    ) -> Self {
        let owner = std::fs::canonicalize(state_dir)
            .unwrap_or_else(|_| state_dir.to_path_buf())
            .display()
            .to_string();
        // A file a crash left between writing and `run`.
        let _ = std::fs::remove_file(state_dir.join(ENV_FILE));
        Self {
            spec,
            owner,
            host: host.to_string(),
            stop_timeout_s: stop_timeout_ms.div_ceil(1000),
            state_dir: state_dir.to_path_buf(),
            busy: Default::default(),
        }
    }

    fn engine(&self) -> &'static str {
        self.spec.engine.program()
    }

    /// `REPO:TAG` of a release.
    pub fn image_ref(&self, tag: &str) -> String {
        format!("{}:{tag}", self.spec.image)
    }

    /// Runs `ENGINE ARGS` within `limit`; Ok with stdout on exit 0, else
    /// an error naming the engine, what was asked and its first line of
    /// complaint (made inert: it is the engine's text).
    async fn cli(&self, args: &[&str], limit: Duration) -> Result<String, CliError> {
        let engine = self.engine();
        let mut command = Command::new(engine);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let shown = || format!("{engine} {}", args.first().copied().unwrap_or(""));
        let output = match tokio::time::timeout(limit, command.output()).await {
            Err(_) => {
                return Err(CliError::Failed(format!(
                    "`{}` did not answer within {} s",
                    shown(),
                    limit.as_secs()
                )));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::Failed(format!(
                    "container engine {engine} is not installed: no `{engine}` on PATH"
                )));
            }
            Ok(Err(e)) => {
                return Err(CliError::Failed(format!("cannot run `{}`: {e}", shown())));
            }
            Ok(Ok(output)) => output,
        };
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let lower = said.to_ascii_lowercase();
        if lower.contains("no such container") || lower.contains("no such object") {
            return Err(CliError::NoSuch);
        }
        let said: String = crate::text::inert(said).chars().take(300).collect();
        if lower.contains("cannot connect") || lower.contains("is the docker daemon running") {
            return Err(CliError::Failed(format!(
                "container engine {engine} cannot be reached (is its daemon running?): {said}"
            )));
        }
        Err(CliError::Failed(format!(
            "`{}` failed ({}): {said}",
            shown(),
            output.status
        )))
    }

    /// The container of the configured name, if there is one.
    pub async fn inspect(&self) -> anyhow::Result<Option<ContainerFacts>> {
        match self
            .cli(&["container", "inspect", "--", &self.spec.name], QUICK)
            .await
        {
            Ok(text) => parse_inspect(&text).map(Some),
            Err(CliError::NoSuch) => Ok(None),
            Err(CliError::Failed(e)) => Err(anyhow::anyhow!(e)),
        }
    }

    /// The container, if it exists and gantry started it; an error naming
    /// it if it exists and gantry did not.
    async fn inspect_ours(&self) -> anyhow::Result<Option<ContainerFacts>> {
        match self.inspect().await? {
            Some(f) if !f.owned_by(&self.owner) => anyhow::bail!(
                "container {} exists and was not started by gantry for this host (no {OWNER_LABEL} label naming {}): refusing to stop or remove it; remove or rename it yourself, or set service.name",
                self.spec.name,
                self.owner
            ),
            other => Ok(other),
        }
    }

    /// What must hold before a candidate changes anything: it names an
    /// image tag, the engine answers, the name is free or gantry's, every
    /// bind mount's host path exists, and the image can be pulled.
    pub async fn preflight(&self, release: &[u8]) -> Result<(), String> {
        let env = crate::envfile::parse(release)
            .map_err(|e| format!("the release does not parse: {e}"))?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let tag = image_tag(&env)?;
        env_file(&env, &self.host, "check")?;
        self.check_volumes()?;
        self.inspect_ours().await.map_err(|e| format!("{e:#}"))?;
        self.pull(&self.image_ref(&tag)).await
    }

    fn check_volumes(&self) -> Result<(), String> {
        for v in self.spec.volumes.iter().filter(|v| v.is_bind()) {
            if let Err(e) = std::fs::metadata(&v.source) {
                return Err(format!(
                    "service.volumes: host path {} of {} cannot be mounted ({})",
                    v.source,
                    v.arg(),
                    match e.kind() {
                        std::io::ErrorKind::NotFound => "it does not exist".to_string(),
                        _ => e.to_string(),
                    }
                ));
            }
        }
        Ok(())
    }

    async fn pull(&self, image: &str) -> Result<(), String> {
        match self.cli(&["pull", "-q", "--", image], PULL).await {
            Ok(_) => Ok(()),
            Err(CliError::NoSuch) => Err(format!("image {image} cannot be pulled: not found")),
            Err(CliError::Failed(e)) => Err(format!("image {image} cannot be pulled: {e}")),
        }
    }

    /// The restart, off the agent's loop: the image (pulled only if it is
    /// not here: what was validated runs), then stop and remove the old
    /// container, then run the new one; Ok once it is running.
    pub async fn replace(&self, env: Vec<(String, String)>, release: String) -> anyhow::Result<()> {
        let _busy = self.busy.lock().await;
        let tag = image_tag(&env).map_err(|e| anyhow::anyhow!(e))?;
        let image = self.image_ref(&tag);
        let file = env_file(&env, &self.host, &release).map_err(|e| anyhow::anyhow!(e))?;
        self.check_volumes().map_err(|e| anyhow::anyhow!(e))?;
        let present = self
            .cli(&["image", "inspect", "--", &image], QUICK)
            .await
            .is_ok();
        if !present {
            self.pull(&image).await.map_err(|e| anyhow::anyhow!(e))?;
        }
        self.remove().await?;
        let path = self.state_dir.join(ENV_FILE);
        crate::durable::write_atomic_mode(&path, file.as_bytes(), 0o600)?;
        let owner = format!("{OWNER_LABEL}={}", self.owner);
        let labelled = format!("{RELEASE_LABEL}={release}");
        let stop = self.stop_timeout_s.to_string();
        let mut args: Vec<&str> = vec![
            "run",
            "-d",
            "--name",
            &self.spec.name,
            "--label",
            &owner,
            "--label",
            &labelled,
            "--network",
            &self.spec.network,
            "--stop-timeout",
            &stop,
        ];
        let volumes: Vec<String> = self.spec.volumes.iter().map(|v| v.arg()).collect();
        for v in &volumes {
            args.extend(["-v", v]);
        }
        let env_path = path.display().to_string();
        args.extend(["--env-file", &env_path, "--", &image]);
        let ran = self.cli(&args, QUICK).await;
        let _ = std::fs::remove_file(&path);
        match ran {
            Ok(_) => {}
            Err(CliError::NoSuch) => {
                anyhow::bail!("container {} did not start: no such image", self.spec.name)
            }
            Err(CliError::Failed(e)) => {
                anyhow::bail!("container {} did not start: {e}", self.spec.name)
            }
        }
        match self.inspect().await? {
            Some(f) if f.running => Ok(()),
            Some(f) => anyhow::bail!(
                "container {} exited at once (exit code {}){}",
                self.spec.name,
                f.exit_code.map_or("unknown".into(), |c| c.to_string()),
                if f.error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::text::inert(&f.error))
                }
            ),
            None => anyhow::bail!("container {} vanished after it started", self.spec.name),
        }
    }

    /// Stops and removes gantry's container of that name (nothing to do
    /// when there is none).
    async fn remove(&self) -> anyhow::Result<()> {
        if self.inspect_ours().await?.is_none() {
            return Ok(());
        }
        self.stop_now().await?;
        match self.cli(&["rm", "-f", "--", &self.spec.name], QUICK).await {
            Ok(_) | Err(CliError::NoSuch) => Ok(()),
            Err(CliError::Failed(e)) => Err(anyhow::anyhow!(
                "cannot remove container {}: {e}",
                self.spec.name
            )),
        }
    }

    /// `stop -t STOP_TIMEOUT`: the engine signals, waits, then kills.
    /// The container stays (stopped) for inspection until the next start.
    /// A replace under way finishes first, so what it started is stopped.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let _busy = self.busy.lock().await;
        self.stop_now().await
    }

    async fn stop_now(&self) -> anyhow::Result<()> {
        let Some(facts) = self.inspect_ours().await? else {
            return Ok(());
        };
        if !facts.running {
            return Ok(());
        }
        let stop = self.stop_timeout_s.to_string();
        let limit = QUICK + Duration::from_secs(self.stop_timeout_s);
        match self
            .cli(&["stop", "-t", &stop, "--", &self.spec.name], limit)
            .await
        {
            Ok(_) | Err(CliError::NoSuch) => Ok(()),
            Err(CliError::Failed(e)) => Err(anyhow::anyhow!(
                "cannot stop container {}: {e}",
                self.spec.name
            )),
        }
    }

    /// Whether `facts` (the running container) was started by gantry with
    /// exactly `env` as release `release`, from the image the release
    /// names: after an agent restart, such a container is adopted.
    pub fn runs(&self, facts: &ContainerFacts, env: &[(String, String)], release: &str) -> bool {
        let Ok(tag) = image_tag(env) else {
            return false;
        };
        facts.running
            && facts.owned_by(&self.owner)
            && facts.labels.get(RELEASE_LABEL).map(String::as_str) == Some(release)
            && same_image(&facts.image, &self.image_ref(&tag))
            && env
                .iter()
                .all(|(k, v)| facts.env.iter().any(|e| *e == format!("{k}={v}")))
    }

    /// That the smoke's container (`id`) still runs release `release`
    /// from the image it names, in words; or which check failed.
    pub async fn proof(&self, id: &str, release: &str) -> Result<String, String> {
        let facts = self
            .inspect()
            .await
            .map_err(|e| format!("running: {e:#}"))?
            .ok_or_else(|| format!("running: container {} is gone", self.spec.name))?;
        if facts.id != id || !facts.running {
            return Err(format!(
                "running: container {} is not the one the smoke started, or it stopped",
                self.spec.name
            ));
        }
        if facts.labels.get(RELEASE_LABEL).map(String::as_str) != Some(release) {
            return Err(format!(
                "release: container {} does not carry {RELEASE_LABEL}={release}",
                self.spec.name
            ));
        }
        let tag = facts
            .env
            .iter()
            .find_map(|e| e.strip_prefix("IMAGE_TAG="))
            .unwrap_or("");
        let expected = self.image_ref(tag);
        if tag.is_empty() || !same_image(&facts.image, &expected) {
            return Err(format!(
                "image: container {} runs {}, not {expected}",
                self.spec.name,
                crate::text::inert(&facts.image)
            ));
        }
        let started = facts
            .started_at
            .map_or("unknown".into(), crate::stamp::rfc3339);
        Ok(format!(
            "container {} running image {} ({}), release {release}, started_at {started}",
            self.spec.name,
            crate::text::inert(&facts.image),
            crate::text::inert(&facts.image_id)
        ))
    }

    /// The container's log from its start, followed.
    pub fn follow_logs(&self, id: &str) -> LogFollow {
        LogFollow::start(self.engine(), &["logs", "-f", "--", id])
    }

    /// The container's log from now on, followed.
    pub fn follow_new_logs(&self, id: &str) -> LogFollow {
        LogFollow::start(self.engine(), &["logs", "-f", "--tail", "0", "--", id])
    }

    /// The last `n` lines of the container's log (`logs --tail N`, stdout
    /// and stderr as they arrive), and the id of the container they are
    /// from; an error when there is no container of that name.
    pub async fn log_tail(&self, n: usize) -> Result<(Vec<String>, String), String> {
        let facts = self
            .inspect()
            .await
            .map_err(|e| format!("{e:#}"))?
            .ok_or_else(|| format!("no container named {}", self.spec.name))?;
        let n = n.to_string();
        let mut tail = LogFollow::start(self.engine(), &["logs", "--tail", &n, "--", &facts.id]);
        let lines = tail.collect(Duration::from_secs(10)).await;
        Ok((lines, facts.id))
    }
}

enum CliError {
    /// The engine says the container or image does not exist.
    NoSuch,
    Failed(String),
}

/// The env file `run` reads, written in the state dir and removed once
/// `run` returned.
const ENV_FILE: &str = ".container.env";

/// The env file's text: one `KEY=VALUE` a line, taken literally by both
/// engines; then who it is. A value that spans lines cannot be carried:
/// refused naming its key (never its value).
fn env_file(env: &[(String, String)], host: &str, release: &str) -> Result<String, String> {
    let mut text = String::new();
    for (k, v) in env {
        if v.contains(['\n', '\r', '\0']) {
            return Err(format!(
                "release key {k}: a value that spans lines cannot be passed to a container"
            ));
        }
        text.push_str(&format!("{k}={v}\n"));
    }
    text.push_str(&format!("GANTRY_HOST={host}\nGANTRY_RELEASE={release}\n"));
    Ok(text)
}

/// Whether two references name the same image, whatever default
/// registry an engine spelled out.
fn same_image(a: &str, b: &str) -> bool {
    let short = |s: &str| {
        s.strip_prefix("docker.io/library/")
            .or_else(|| s.strip_prefix("docker.io/"))
            .or_else(|| s.strip_prefix("localhost/"))
            .unwrap_or(s)
            .to_string()
    };
    short(a) == short(b)
}

/// `container inspect` prints a JSON array of one object, for both engines.
pub(super) fn parse_inspect(text: &str) -> anyhow::Result<ContainerFacts> {
    let all: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("container inspect printed no JSON: {e}"))?;
    let v = all
        .get(0)
        .ok_or_else(|| anyhow::anyhow!("container inspect printed an empty list"))?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let state = &v["State"];
    let running = state["Running"].as_bool().unwrap_or(false);
    let started_at = state["StartedAt"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        // Docker's "never": year 1.
        .filter(|t| t.timestamp() > 0);
    let labels = v["Config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), s(v)))
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default();
    let env = v["Config"]["Env"]
        .as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default();
    Ok(ContainerFacts {
        id: s(&v["Id"]),
        name: s(&v["Name"]).trim_start_matches('/').to_string(),
        running,
        pid: state["Pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| running && *p != 0),
        started_at,
        image: s(&v["Config"]["Image"]),
        image_id: s(&v["Image"]),
        labels,
        env,
        exit_code: state["ExitCode"].as_i64(),
        error: s(&state["Error"]),
    })
}

/// Whether one of the container's processes listens on TCP `port` in the
/// container's network namespace (the host's, with network = "host").
pub(super) fn answers_on(facts: &ContainerFacts, port: u16) -> bool {
    let Some(pid) = facts.pid else { return false };
    let inodes = procfs::listening_inodes_of(pid, port);
    !inodes.is_empty()
        && procfs::with_descendants(pid)
            .into_iter()
            .any(|p| procfs::holds_socket(p, &inodes))
}

/// `ENGINE logs -f ID`, read line by line as it comes (stdout and stderr
/// both); killed when dropped. A line longer than [`MAX_LINE`] is cut
/// there; the reader waits while unread lines pile up, so memory is
/// bounded by the channel.
pub struct LogFollow {
    _child: Option<tokio::process::Child>,
    lines: mpsc::Receiver<String>,
    /// Both of the engine's outputs closed: it exited.
    ended: bool,
}

const MAX_LINE: usize = 64 * 1024;

impl LogFollow {
    fn start(engine: &str, args: &[&str]) -> Self {
        let (tx, lines) = mpsc::channel(4096);
        let child = Command::new(engine)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let Ok(mut child) = child else {
            return Self {
                _child: None,
                lines,
                ended: true,
            };
        };
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_lines(out, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_lines(err, tx));
        }
        Self {
            _child: Some(child),
            lines,
            ended: false,
        }
    }

    /// The whole lines read since the last call.
    pub fn fresh(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match self.lines.try_recv() {
                Ok(line) => out.push(line),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.ended = true;
                    break;
                }
            }
        }
        out
    }

    /// The engine exited and every line it printed was read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Every line until the engine exits, or what came within `limit`.
    async fn collect(&mut self, limit: Duration) -> Vec<String> {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.recv().await {
                out.push(line);
            }
        })
        .await;
        out
    }
}

async fn read_lines(mut from: impl tokio::io::AsyncRead + Unpin, to: mpsc::Sender<String>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if to.send(text).await.is_err() {
                return;
            }
        }
        if pending.len() > MAX_LINE {
            let text = String::from_utf8_lossy(&pending).into_owned();
            pending.clear();
            if to.send(text).await.is_err() {
                return;
            }
        }
    }
    if !pending.is_empty() {
        let _ = to
            .send(String::from_utf8_lossy(&pending).trim_end().to_string())
            .await;
    }
}

impl std::fmt::Debug for LogFollow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogFollow")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_of_both_engines_is_read() {
        // Trimmed from docker 20.10 and podman 4.3 on the same image.
        let docker = r#"[{"Id":"abc","Name":"/trader","Image":"sha256:1f2e","State":{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2026-11-30T07:44:28.147734372Z"},"Config":{"Image":"127.0.0.1:5000/trader:good","Env":["IMAGE_TAG=good","PATH=/bin"],"Labels":{"io.gantry.owner":"/srv/g","io.gantry.release":"r1"}}}]"#;
        let f = parse_inspect(docker).unwrap();
        assert_eq!(f.name, "trader");
        assert_eq!(f.pid, Some(4242));
        assert!(f.owned_by("/srv/g"));
        assert_eq!(
            f.started_at.map(|t| t.to_rfc3339()),
            Some("2026-11-30T07:44:28.147734372+00:00".into())
        );
        let stopped = r#"[{"Id":"abc","Name":"trader","Image":"1f2e","State":{"Running":false,"Pid":0,"ExitCode":137,"StartedAt":"0001-01-01T00:00:00Z"},"Config":{"Image":"x","Labels":null}}]"#;
        let f = parse_inspect(stopped).unwrap();
        assert_eq!(f.pid, None);
        assert_eq!(f.started_at, None);
        assert_eq!(f.exit_code, Some(137));
        assert!(!f.owned_by("/srv/g"));
        assert!(parse_inspect("[]").is_err());
        assert!(same_image("docker.io/library/trader:1", "trader:1"));
        assert!(!same_image("a:1", "a:2"));
    }

    #[test]
    fn the_env_file_refuses_a_value_on_two_lines_naming_only_the_key() {
        let env = vec![("SECRET".to_string(), "hunter2\nx".to_string())];
        let e = env_file(&env, "h", "r").unwrap_err();
        assert!(e.contains("SECRET") && !e.contains("hunter2"), "{e}");
        let ok = env_file(&[("A".into(), "b c=d".into())], "h", "r").unwrap();
        assert_eq!(ok, "A=b c=d\nGANTRY_HOST=h\nGANTRY_RELEASE=r\n");
    }
}

//! `gantry demo`: simulated hosts on loopback with real agents, real
//! `gantry sim` services and, for a fleet, real SSH.
//!
//! - `gantry demo`: one host end to end, printed as it happens. The script
//!   submits a good release, approves it at canary, then submits a bad one
//!   and lets the gate roll it back.
//! - `gantry demo --headless --hosts N`: N hosts, each an agent behind its
//!   own embedded SSH server, with a hosts file and known_hosts written for
//!   them; it runs until Ctrl-C, SIGTERM or SIGHUP.
//!
//! Everything started is stopped however the demo ends: `q`, the end of
//! the story, an error, a panic that unwinds, SIGINT, SIGTERM, SIGHUP or a
//! terminal that hangs up. The demo makes itself the child subreaper, so a
//! service whose agent is gone is re-parented to the demo rather than to
//! init, and [`Hosts::stop`] ends every process below the demo that runs
//! in or names a host dir before the temp dir goes. Only SIGKILL of the
//! demo itself leaves things behind.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::UnixStream;

use crate::client::WireClient;
use crate::console::signals::Signals;
use crate::exit::{Code, fail};
use crate::init::InitArgs;
use crate::text::inert;
use crate::wire::StateWord;
use crate::wire::{AgentMsg, AuditEntry, Request, Status};
use fleet::Fleet;

pub mod fleet;
pub mod light;

const OPERATOR: &str = "demo";

pub struct DemoArgs {
    pub soak: u64,
    pub headless: bool,
    pub hosts: usize,
    /// With `headless`: light hosts, answered in this process (benchmarks).
    pub light: bool,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    become_subreaper();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Before anything starts, so that no signal finds a process to
        // strand (see console::signals).
        let mut signals = Signals::listen()?;
        if args.headless {
            fleet::run(args, &mut signals).await
        } else if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            control_room(args, &mut signals).await
        } else {
            // No terminal to draw on (CI, a pipe): print one host's story.
            story(args.soak, &mut signals).await
        }
    })
}

/// Orphans below the demo come to it instead of to init: an agent's
/// service outlives the agent on purpose, and the demo must still find it.
fn become_subreaper() {
    // SAFETY: prctl(2) with an integer argument; it touches no memory of
    // ours. Failure (not Linux ≥ 3.4) only loses the orphan sweep.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Aborts a spawned task when dropped, on every exit path.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Soaks per demo host, chosen so that within 30 s one host awaits
/// approval, one has rolled back a bad release, one is mid-paper and one
/// is live in its watch window.
const STORY_SOAKS: [u64; 5] = [2, 2, 12, 2, 60];

/// `gantry demo` in a terminal: five hosts over SSH, a scripted story, and
/// the control room on them. `q` leaves nothing running.
async fn control_room(args: &DemoArgs, signals: &mut Signals) -> anyhow::Result<()> {
    let n = args.hosts.max(STORY_SOAKS.len());
    let soaks: Vec<u64> = (0..n)
        .map(|i| STORY_SOAKS.get(i).copied().unwrap_or(args.soak))
        .collect();
    // Starting five hosts takes a few seconds, before the terminal is in
    // raw mode: Ctrl-C and a hangup must be heard here too. Dropping the
    // half-started fleet stops what it had started.
    let fleet = tokio::select! {
        fleet = Fleet::start_with(&soaks) => fleet?,
        _ = signals.recv() => return Ok(()),
    };
    let script = AbortOnDrop(tokio::spawn(fleet_story(fleet.dir.path().to_path_buf())));
    let (_, watched) = crate::console::resolve(&crate::console::WatchArgs {
        hosts_file: Some(fleet.hosts_file.clone()),
        hosts: Vec::new(),
        ssh_config: None,
        accept_new: false,
    })?;
    let result = crate::console::watch("demo", watched, signals).await;
    drop(script);
    drop(fleet);
    result
}

/// The scripted story, through each agent's local socket (the control
/// room watches over SSH). Failures are ignored: the operator may be
/// pressing keys on the same hosts.
async fn fleet_story(dir: PathBuf) {
    let host = |n: usize| dir.join(format!("demo-{n}"));
    let first_release = |n: usize| {
        let dir = host(n);
        async move {
            let mut c = connect(&dir.join("agent.sock")).await.ok()?;
            submit(
                &mut c,
                &dir.join("examples/good.env"),
                "demo: nightly promotion",
            )
            .await
            .ok()?;
            Some((c, dir))
        }
    };
    let approve_when_ready = |mut c: WireClient<UnixStream>| async move {
        let status = wait_for(&mut c, StateWord::AwaitingApproval, Duration::from_secs(60))
            .await
            .ok()?;
        let a = status.awaiting_approval?;
        c.ask(
            Request::Approve {
                deploy_id: a.deploy_id,
                digest: a.digest,
                stage: a.stage,
            },
            Some("demo: canary clean".into()),
            Some("demo-script"),
        )
        .await
        .ok()?;
        wait_for(&mut c, StateWord::Live, Duration::from_secs(10))
            .await
            .ok()?;
        Some(c)
    };
    let one = first_release(1);
    let two = async {
        let (c, dir) = first_release(2).await?;
        let mut c = approve_when_ready(c).await?;
        submit(
            &mut c,
            &dir.join("examples/bad-drawdown.env"),
            "demo: riskier strategy",
        )
        .await
        .ok()
    };
    let three = first_release(3);
    // demo-4 goes live twice, so it has a known-good to drill back to.
    let four = async {
        let (c, dir) = first_release(4).await?;
        let mut c = approve_when_ready(c).await?;
        submit(
            &mut c,
            &dir.join("examples/good-v2.env"),
            "demo: wider position limit",
        )
        .await
        .ok()?;
        approve_when_ready(c).await.map(|_| ())
    };
    let five = first_release(5);
    let _ = tokio::join!(one, two, three, four, five);
}

/// Agents (and through them their services) started by the demo.
pub struct Hosts {
    agents: Vec<(Child, PathBuf)>,
}

impl Hosts {
    fn new() -> Self {
        Self { agents: Vec::new() }
    }

    /// `gantry init --sim` in `dir` and an agent on it.
    fn start(&mut self, dir: &Path, name: &str, soak: u64) -> anyhow::Result<PathBuf> {
        let config = crate::init::write(&InitArgs {
            dir: dir.to_path_buf(),
            name: Some(name.into()),
            host: None,
            sim: true,
            soak: Some(soak.max(1)),
            force: false,
            kind: None,
        })?;
        let exe = std::env::current_exe()?;
        let log = std::fs::File::create(dir.join("agent.log"))?;
        // Its own process group, out of the terminal's: a hangup or Ctrl-C
        // reaches the demo alone, which then stops the agent with SIGTERM
        // (the agent saves its state) before it stops the service, instead
        // of the agent dying mid-restart with a service it never recorded.
        let child = Command::new(exe)
            .args(["agent", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()?;
        self.agents.push((child, dir.to_path_buf()));
        Ok(config)
    }

    /// Stops the agents, then their services, then anything else of theirs
    /// still running below the demo. Idempotent; [`Drop`] calls it too.
    fn stop(&mut self) {
        if self.agents.is_empty() {
            return;
        }
        for (agent, _) in &mut self.agents {
            // SAFETY: SIGTERM to an agent this demo spawned.
            unsafe {
                libc::kill(agent.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (agent, dir) in &mut self.agents {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = agent.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = agent.kill();
            let _ = agent.wait();
            // The agent leaves its service running on SIGTERM (as it must on
            // a real host); the demo owns both, so it stops the service too.
            stop_service(dir);
        }
        let dirs: Vec<PathBuf> = self.agents.drain(..).map(|(_, dir)| dir).collect();
        // What service.pid cannot name: a service started just before its
        // agent stopped, the embedded servers' `gantry attach` sessions.
        stop_leftovers(&dirs);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGKILLs every process below this one that runs in one of `dirs` (its
/// working directory, as a service's is) or names it (an agent's or
/// `gantry attach`'s `--config`), with whatever runs below those, and waits
/// until each is gone, reaping those re-parented to us (we are the
/// subreaper). Other children of this process are not ours to end.
fn stop_leftovers(dirs: &[PathBuf]) {
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut killed = Vec::new();
    // A process may fork between the scan and the kill: scan again until a
    // scan finds nothing.
    loop {
        let ours = in_dirs(&descendants(me), dirs);
        if ours.is_empty() || Instant::now() >= deadline {
            break;
        }
        for &pid in &ours {
            // SAFETY: kill(2) on a process below this one, just seen alive.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        killed.extend(ours);
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in descendants(me) {
        if p.zombie && p.ppid == me && killed.contains(&p.pid) {
            // SAFETY: waitpid(2) on our own exited child, one we killed and
            // no `Child` handle waits for; WNOHANG never blocks.
            unsafe {
                libc::waitpid(p.pid as i32, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Proc {
    pid: u32,
    ppid: u32,
    zombie: bool,
}

/// Every process whose chain of parents reaches `root`, from /proc.
fn descendants(root: u32) -> Vec<Proc> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // comm may hold spaces and parentheses: fields start after the last ')'.
        let mut fields = stat
            .get(stat.rfind(')').map_or(stat.len(), |i| i + 1)..)
            .unwrap_or("")
            .split_whitespace();
        let state = fields.next().unwrap_or("X");
        let Some(Ok(ppid)) = fields.next().map(str::parse::<u32>) else {
            continue;
        };
        all.push(Proc {
            pid,
            ppid,
            zombie: matches!(state, "Z" | "X"),
        });
    }
    let mut found = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            parents.push(p.pid);
            found.push(*p);
        }
    }
    found
}

/// The living pids among `procs` that run in or name one of `dirs`, and
/// every living pid below those.
fn in_dirs(procs: &[Proc], dirs: &[PathBuf]) -> Vec<u32> {
    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let mut ours: Vec<u32> = procs
        .iter()
        .filter(|p| !p.zombie)
        .filter(|p| {
            let cwd = std::fs::read_link(format!("/proc/{}/cwd", p.pid));
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            dirs.iter().zip(&names).any(|(dir, name)| {
                cwd.as_ref().is_ok_and(|c| c.starts_with(dir)) || cmdline.contains(name.as_str())
            })
        })
        .map(|p| p.pid)
        .collect();
    // `procs` lists parents before children, so one pass finds every level.
    for p in procs {
        if !p.zombie && ours.contains(&p.ppid) && !ours.contains(&p.pid) {
            ours.push(p.pid);
        }
    }
    ours
}

fn stop_service(dir: &Path) {
    if let Ok(text) = std::fs::read_to_string(dir.join("service.pid"))
        && let Some(Ok(pid)) = text.split_whitespace().next().map(str::parse::<i32>)
    {
        // SAFETY: the sim runs in its own process group, led by `pid`.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

async fn connect(socket: &Path) -> anyhow::Result<WireClient<UnixStream>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UnixStream::connect(socket).await {
            Ok(stream) => return WireClient::handshake(stream).await,
            Err(e) if Instant::now() >= deadline => {
                return Err(fail(Code::Unavailable, format!("agent did not start: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A line on stdout. The story's reader may go away (`gantry demo | head`):
/// that ends the story like a signal, with everything stopped, where
/// `println!` would panic.
fn say(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| fail(Code::Failed, format!("stdout: {e}; everything stopped")))
}

async fn story(soak: u64, signals: &mut Signals) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("gantry-demo-").tempdir()?;
    let mut hosts = Hosts::new();
    let outcome = tokio::select! {
        result = async {
            hosts.start(dir.path(), "demo-1", soak)?;
            say(&format!(
                "gantry demo: one simulated host (demo-1), a real agent and a real `gantry sim`, {soak} s soaks\nstate dir {}\n",
                dir.path().display()
            ))?;
            script(dir.path(), soak).await
        } => result,
        ending = signals.recv() => Err(fail(
            Code::Failed,
            format!("interrupted by {}; everything stopped", ending.name()),
        )),
    };
    // Agents and services first, the directory they live in last.
    hosts.stop();
    drop(dir);
    outcome
}

async fn script(dir: &Path, soak: u64) -> anyhow::Result<()> {
    let socket = dir.join("agent.sock");
    let examples = dir.join("examples");
    let mut control = connect(&socket).await?;
    // A second connection only listens, printing audit entries as they land.
    let mut watcher = connect(&socket).await?;
    let printer = AbortOnDrop(tokio::spawn(async move {
        while let Ok(msg) = watcher.next_message().await {
            if let AgentMsg::Audit { entry } = msg
                && say(&line(&entry)).is_err()
            {
                break;
            }
        }
    }));
    let stage_wait = Duration::from_secs(soak * 3 + 20);

    step("submit a healthy release: it soaks through shadow, paper and canary")?;
    submit(
        &mut control,
        &examples.join("good.env"),
        "demo: first release",
    )
    .await?;
    let status = wait_for(&mut control, StateWord::AwaitingApproval, stage_wait).await?;
    let awaiting = status
        .awaiting_approval
        .ok_or_else(|| fail(Code::Failed, "awaiting approval without a deploy"))?;

    step(&format!(
        "a human approves canary → live, naming deploy {} and sha256 {}",
        awaiting.deploy_id,
        awaiting.digest.get(..12).unwrap_or(&awaiting.digest)
    ))?;
    expect_ok(
        control
            .ask(
                Request::Approve {
                    deploy_id: awaiting.deploy_id,
                    digest: awaiting.digest,
                    stage: awaiting.stage,
                },
                Some("demo: canary numbers look right".into()),
                Some(OPERATOR),
            )
            .await?,
    )?;
    wait_for(&mut control, StateWord::Live, Duration::from_secs(10)).await?;

    step(
        "submit a bad release: its drawdown breaches the paper gate, and the agent rolls back alone",
    )?;
    submit(
        &mut control,
        &examples.join("bad-drawdown.env"),
        "demo: riskier strategy",
    )
    .await?;
    let status = wait_for(&mut control, StateWord::RolledBack, stage_wait).await?;

    let verify = expect_ok(
        control
            .ask(Request::AuditVerify, None, Some(OPERATOR))
            .await?,
    )?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(printer);
    say(&format!(
        "\ndone: {} serves the known-good release {} again; audit chain verified ({} entries)",
        inert(&status.host),
        inert(status.current_release.as_deref().unwrap_or("?")),
        verify.get("entries").and_then(|v| v.as_u64()).unwrap_or(0)
    ))?;
    say(
        "next: `gantry demo --headless --hosts 5` for a fleet over SSH, or `gantry init DIR --sim` (docs/cli.md)",
    )
}

fn step(text: &str) -> anyhow::Result<()> {
    say(&format!("\n▶ {text}"))
}

async fn submit(
    control: &mut WireClient<UnixStream>,
    path: &Path,
    reason: &str,
) -> anyhow::Result<()> {
    let content = std::fs::read_to_string(path)?;
    expect_ok(
        control
            .ask(
                Request::Submit {
                    name: path.display().to_string(),
                    content,
                    tier: crate::pipeline::Tier::Balanced,
                    commit: None,
                    promotion: None,
                    override_freeze: false,
                    // One name on every demo host: the file's, e.g.
                    // good-ae98c27c.
                    release: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
                },
                Some(reason.into()),
                Some(OPERATOR),
            )
            .await?,
    )?;
    Ok(())
}

fn expect_ok(reply: crate::wire::Reply) -> anyhow::Result<serde_json::Value> {
    if reply.ok {
        Ok(reply.data.unwrap_or_default())
    } else {
        Err(fail(
            Code::Failed,
            inert(reply.error.as_deref().unwrap_or("refused")),
        ))
    }
}

async fn wait_for(
    control: &mut WireClient<UnixStream>,
    state: StateWord,
    timeout: Duration,
) -> anyhow::Result<Status> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = control.status().await?;
        if status.state == state {
            return Ok(status);
        }
        if status.state == StateWord::Halted {
            return Err(fail(
                Code::Failed,
                format!("the host halted: {:?}", status.halted_reason),
            ));
        }
        if Instant::now() >= deadline {
            return Err(fail(
                Code::Failed,
                format!(
                    "waited {timeout:?} for {state}; the host is {}",
                    status.state
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn line(entry: &AuditEntry) -> String {
    let time = entry.at.get(11..19).unwrap_or(&entry.at);
    let who = entry
        .actor
        .as_ref()
        .map(|a| format!("  [{}]", a.name))
        .unwrap_or_default();
    inert(&format!(
        "  {time}  {:<18} {:<16} {}{who}",
        entry.state, entry.kind, entry.message
    ))
}

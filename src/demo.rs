//! `gantry demo`: one simulated host end to end, printed as it happens.
//!
//! A real agent (this binary, `gantry agent`) runs in a temporary state dir
//! with `gantry sim` as its service and short soaks. The script submits a
//! good release, approves it at canary, then submits a bad one and lets the
//! gate roll it back. Every audit entry is printed the moment the agent
//! writes it. Everything started is stopped on exit, on error and on Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::ctl::Link;
use crate::exit::{Code, fail};
use crate::init::InitArgs;
use crate::text::inert;
use crate::wire::{AgentMsg, AuditEntry, Request};

const OPERATOR: &str = "demo";

pub fn run(soak: u64) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("gantry-demo-").tempdir()?;
    let config = crate::init::write(&InitArgs {
        dir: dir.path().to_path_buf(),
        name: Some("demo-1".into()),
        sim: true,
        soak: Some(soak.max(1)),
        force: false,
    })?;
    let mut fleet = Fleet {
        agent: None,
        dir: dir.path().to_path_buf(),
    };
    fleet.agent = Some(spawn_agent(&config, dir.path())?);
    println!(
        "gantry demo: one simulated host (demo-1), a real agent and a real `gantry sim`, {soak} s soaks\nstate dir {}\n",
        dir.path().display()
    );

    // The script runs on its own thread so that Ctrl-C can stop everything
    // even while it waits on the agent.
    let (done_tx, done_rx) = mpsc::channel();
    let socket = dir.path().join("agent.sock");
    let examples = dir.path().join("examples");
    std::thread::spawn(move || {
        let result = script(&socket, &examples, soak);
        let _ = done_tx.send(result);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let wait = tokio::task::spawn_blocking(move || done_rx.recv());
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Err(fail(Code::Failed, "interrupted; everything stopped")),
            result = wait => match result {
                Ok(Ok(result)) => result,
                _ => Err(fail(Code::Failed, "the demo script stopped unexpectedly")),
            },
        }
    });
    fleet.stop();
    drop(dir);
    outcome
}

/// The agent and its service; stopping it leaves nothing running.
struct Fleet {
    agent: Option<Child>,
    dir: PathBuf,
}

impl Fleet {
    fn stop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            // SAFETY: SIGTERM to the agent we spawned.
            unsafe {
                libc::kill(agent.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = agent.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = agent.kill();
            let _ = agent.wait();
        }
        // The agent leaves its service running on SIGTERM (as it must on a
        // real host); the demo owns both, so it stops the service too.
        if let Ok(text) = std::fs::read_to_string(self.dir.join("service.pid"))
            && let Some(Ok(pid)) = text.split_whitespace().next().map(str::parse::<i32>)
        {
            // SAFETY: the sim runs in its own process group, led by `pid`.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
            std::thread::sleep(Duration::from_millis(50));
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_agent(config: &Path, dir: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let log = std::fs::File::create(dir.join("agent.log"))?;
    Ok(Command::new(exe)
        .args(["agent", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

fn connect(socket: &Path) -> anyhow::Result<Link> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Link::connect(socket) {
            Ok(link) => return Ok(link),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn script(socket: &Path, examples: &Path, soak: u64) -> anyhow::Result<()> {
    let mut control = connect(socket)?;
    // A second connection only listens, printing audit entries as they land.
    let mut watcher = connect(socket)?;
    std::thread::spawn(move || {
        while let Ok(msg) = watcher.next_message() {
            if let AgentMsg::Audit { entry } = msg {
                println!("{}", line(&entry));
            }
        }
    });
    let stage_wait = Duration::from_secs(soak * 3 + 20);

    step("submit a healthy release: it soaks through shadow, paper and canary");
    submit(
        &mut control,
        &examples.join("good.env"),
        "demo: first release",
    )?;
    let status = wait_for(&mut control, "awaiting_approval", stage_wait)?;
    let awaiting = status
        .awaiting_approval
        .ok_or_else(|| fail(Code::Failed, "awaiting approval without a deploy"))?;

    step(&format!(
        "a human approves canary → live, naming deploy {} and sha256 {}",
        awaiting.deploy_id,
        awaiting.digest.get(..12).unwrap_or(&awaiting.digest)
    ));
    expect_ok(control.ask(
        Request::Approve {
            deploy_id: awaiting.deploy_id,
            digest: awaiting.digest,
            stage: awaiting.stage,
        },
        Some("demo: canary numbers look right".into()),
        OPERATOR,
    )?)?;
    wait_for(&mut control, "live", Duration::from_secs(10))?;

    step(
        "submit a bad release: its drawdown breaches the paper gate, and the agent rolls back alone",
    );
    submit(
        &mut control,
        &examples.join("bad-drawdown.env"),
        "demo: riskier strategy",
    )?;
    let status = wait_for(&mut control, "rolled_back", stage_wait)?;

    let verify = expect_ok(control.ask(Request::AuditVerify, None, OPERATOR)?)?;
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "\ndone: {} serves the known-good release {} again; audit chain verified ({} entries)",
        inert(&status.host),
        inert(status.current_release.as_deref().unwrap_or("?")),
        verify.get("entries").and_then(|v| v.as_u64()).unwrap_or(0)
    );
    println!("next: `gantry init DIR --sim` and docs/cli.md to drive a host yourself");
    Ok(())
}

fn step(text: &str) {
    println!("\n▶ {text}");
}

fn submit(control: &mut Link, path: &Path, reason: &str) -> anyhow::Result<()> {
    let content = std::fs::read_to_string(path)?;
    expect_ok(control.ask(
        Request::Submit {
            name: path.display().to_string(),
            content,
            tier: crate::pipeline::Tier::Balanced,
            commit: None,
            promotion: None,
        },
        Some(reason.into()),
        OPERATOR,
    )?)?;
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

fn wait_for(
    control: &mut Link,
    state: &str,
    timeout: Duration,
) -> anyhow::Result<crate::wire::Status> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = control.status(OPERATOR)?;
        if status.state == state {
            return Ok(status);
        }
        if status.state == "halted" {
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
        std::thread::sleep(Duration::from_millis(100));
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

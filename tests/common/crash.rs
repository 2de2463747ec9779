//! The crash driver: runs a realistic sequence (deploys, a bad release
//! rolled back, a drill, an emergency stop, a rearm) against a real agent
//! that keeps dying, restarts it after every death, and checks what a user
//! would after each restart (docs/reliability.md):
//! - `audit verify` passes;
//! - the state the agent resumed in is the one the last recorded decision
//!   named (the `to` of the last entry carrying an event);
//! - the process running is the one status names, with the release and
//!   TRADE_MODE it names, and no other process carries the agent's marker
//!   (none at all when idle or halted).
//!
//! The sequence is goal-driven, so it reaches its end whatever a crash
//! interrupted: each step looks at the state and does what gets it to its
//! goal (submit, approve, estop, rearm, drill, or wait).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{GANTRY, Lab};

/// What to do to each new agent process.
pub enum Plan {
    /// Die at a named crash point: (point, nth hit) for the agent started
    /// after `restarts` deaths; `None` runs it without a crash plan.
    Points(Box<dyn FnMut(usize) -> Option<(String, u64)>>),
    /// Left alone; another thread kills it (see [`Killer`]).
    External,
}

pub struct Driver {
    pub lab: Lab,
    plan: Plan,
    /// The live agent's pid, for a killer thread.
    pub pid: Arc<AtomicI32>,
    pub restarts: usize,
    pub checks: usize,
    pub log: Vec<String>,
    /// Environment for the first agent only (a fault it starts with).
    pub first_env: Vec<(String, String)>,
    good: PathBuf,
    good2: PathBuf,
    bad: PathBuf,
}

#[derive(Clone, Copy, Debug)]
enum Goal {
    Live(usize),
    Drilled,
    RolledBack,
    Halted,
    Idle,
}

const SEQUENCE: &[Goal] = &[
    Goal::Live(0),
    Goal::Live(1),
    Goal::Drilled,
    Goal::RolledBack,
    Goal::Halted,
    Goal::Idle,
    Goal::Live(0),
];

impl Driver {
    pub fn new(name: &str, plan: Plan) -> Self {
        let lab = Lab::new(name, 1);
        let good = lab.example("good.env");
        let good2 = lab.example("good-v2.env");
        let bad = lab.example("bad-crash.env");
        assert!(good2.exists(), "init --sim writes good-v2.env");
        Self {
            lab,
            plan,
            pid: Arc::new(AtomicI32::new(0)),
            restarts: 0,
            checks: 0,
            log: Vec::new(),
            first_env: Vec::new(),
            good,
            good2,
            bad,
        }
    }

    fn note(&mut self, line: String) {
        self.log.push(line);
    }

    fn fail(&self, what: &str) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(30).collect();
        panic!(
            "{what}\nlast driver steps (newest first): {tail:#?}\nagent log:\n{}",
            self.lab.agent_log()
        );
    }

    fn spawn(&mut self) {
        let mut command = Command::new(GANTRY);
        command
            .args(["agent", "--config"])
            .arg(&self.lab.config)
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.lab.path("agent.stderr"))
                    .expect("stderr file"),
            );
        if self.restarts == 0 {
            command.envs(self.first_env.iter().map(|(k, v)| (k, v)));
        }
        if let Plan::Points(next) = &mut self.plan
            && let Some((point, nth)) = next(self.restarts)
        {
            command.env("GANTRY_CRASH_AT", format!("{point}:{nth}"));
            self.log
                .push(format!("agent #{} dies at {point}:{nth}", self.restarts));
        }
        let child: Child = command.spawn().expect("spawn agent");
        self.pid.store(child.id() as i32, Ordering::SeqCst);
        self.lab.agent = Some(child);
    }

    fn dead(&mut self) -> bool {
        match &mut self.lab.agent {
            Some(child) => matches!(child.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Starts the first agent.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_up();
    }

    /// Restarts a dead agent (again, if it dies while starting) and checks
    /// the invariants once one answers. Returns whether it had died.
    fn revive(&mut self) -> bool {
        if !self.dead() {
            return false;
        }
        while self.dead() {
            self.restarts += 1;
            let n = self.restarts;
            self.note(format!("restart #{n}"));
            self.spawn();
            self.wait_up();
        }
        self.check();
        true
    }

    fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.dead() {
                return;
            }
            if self.lab.ctl(&["status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.fail("the agent did not answer after a restart");
    }

    /// Status, or None if the agent died meanwhile.
    fn status(&mut self) -> Option<Value> {
        let out = self.lab.ctl(&["--json", "status"]);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).ok();
        }
        None
    }

    fn ctl(&mut self, args: &[&str]) {
        let out = self.lab.ctl(args);
        let line = format!(
            "ctl {args:?} -> {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        self.note(line);
    }

    fn ctl_release(&mut self, verb: &str, release: &Path, reason: &str) {
        let path = release.to_str().expect("utf-8").to_string();
        self.ctl(&[verb, &path, "--reason", reason]);
    }

    /// Runs the whole sequence; every death on the way is revived and
    /// checked.
    pub fn run(&mut self) {
        for goal in SEQUENCE {
            self.reach(*goal);
        }
        // A last check with the agent as the sequence left it.
        self.check();
    }

    fn reach(&mut self, goal: Goal) {
        self.note(format!("goal {goal:?}"));
        let deadline = Instant::now() + Duration::from_secs(90);
        let drills_before = self.status_after_revive()["last_drill_at"].clone();
        let mut drilled = false;
        loop {
            if Instant::now() > deadline {
                self.fail(&format!("goal {goal:?} not reached in 90 s"));
            }
            if self.revive() {
                continue;
            }
            let Some(status) = self.status() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let state = status["state"].as_str().unwrap_or("").to_string();
            let digest = status["current_digest"].as_str().unwrap_or("").to_string();
            let deploy_digest = status["deploy_digest"].as_str().unwrap_or("").to_string();
            let busy = matches!(
                state.as_str(),
                "validating" | "shadow" | "paper" | "canary" | "rolling_back"
            );
            match goal {
                Goal::Live(which) => {
                    let release = if which == 0 {
                        self.good.clone()
                    } else {
                        self.good2.clone()
                    };
                    let want = digest_of(&release);
                    match state.as_str() {
                        "live" if digest == want => return,
                        "awaiting_approval" => self.ctl(&["approve", "--reason", "crash suite"]),
                        "halted" => self.ctl(&["rearm", "--reason", "crash suite"]),
                        _ if busy => std::thread::sleep(Duration::from_millis(50)),
                        _ => self.ctl_release("submit", &release, "crash suite"),
                    }
                }
                Goal::RolledBack => {
                    let bad = digest_of(&self.bad);
                    match state.as_str() {
                        "rolled_back" if deploy_digest == bad => return,
                        "live" => self.ctl_release("submit", &self.bad.clone(), "crash suite bad"),
                        "awaiting_approval" => self.fail("a crashing release reached approval"),
                        "halted" | "idle" => self.fail(&format!(
                            "a crashing release with a known-good ended {state}"
                        )),
                        _ => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                Goal::Drilled => {
                    if status["last_drill_at"] != drills_before && state == "live" {
                        return;
                    }
                    match state.as_str() {
                        "live" if !drilled || !busy => {
                            drilled = true;
                            self.ctl(&["drill", "--reason", "crash suite"]);
                        }
                        _ => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                Goal::Halted => match state.as_str() {
                    "halted" => return,
                    _ => self.ctl(&["estop", "--reason", "crash suite"]),
                },
                Goal::Idle => match state.as_str() {
                    "idle" => return,
                    "halted" => self.ctl(&["rearm", "--reason", "crash suite"]),
                    other => self.fail(&format!("rearm's goal reached from {other}")),
                },
            }
        }
    }

    /// Revives and checks an agent that died after the sequence ended.
    pub fn run_check_after_last_kill(&mut self) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if !self.revive() {
            self.check();
        }
    }

    fn status_after_revive(&mut self) -> Value {
        loop {
            self.revive();
            if let Some(status) = self.status() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The invariants, checked after each restart.
    fn check(&mut self) {
        self.checks += 1;
        let out = self.lab.ctl(&["audit", "verify"]);
        if !out.status.success() && !self.dead() {
            self.fail(&format!(
                "audit verify failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        self.check_resumed_as_recorded();
        self.check_process_is_the_one_status_names();
    }

    /// The newest `agent.resume` entry's state is what the last recorded
    /// decision before it named.
    fn check_resumed_as_recorded(&mut self) {
        let text = std::fs::read_to_string(self.lab.path("audit.jsonl")).unwrap_or_default();
        let entries: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let Some(resume_at) = entries.iter().rposition(|e| e["kind"] == "agent.resume") else {
            self.fail("no agent.resume entry after a restart");
        };
        let resumed = entries[resume_at]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let Some(decision) = entries[..resume_at]
            .iter()
            .rev()
            .find(|e| e["event"].is_object())
        else {
            return;
        };
        let kind = decision["kind"].as_str().unwrap_or("").to_string();
        let to = if kind == "agent.resume" {
            decision["state"].as_str().unwrap_or("").to_string()
        } else {
            decision["event"]["to"].as_str().unwrap_or("").to_string()
        };
        let allowed: Vec<&str> = match to.as_str() {
            // A validation or a smoke dies with the agent: what served
            // before comes back.
            "validating" | "smoke" => vec![
                "idle",
                "live",
                "rolled_back",
                "shadow",
                "paper",
                "canary",
                "awaiting_approval",
            ],
            other => vec![other],
        };
        if !allowed.contains(&resumed.as_str()) {
            self.fail(&format!(
                "resumed in {resumed}, but the last recorded decision (#{} {kind}) was {to}",
                decision["seq"]
            ));
        }
        self.note(format!(
            "resumed in {resumed} after #{} {kind} → {to}",
            decision["seq"]
        ));
    }

    /// Within a few seconds (a restart may be under way): the service
    /// status names runs with its release and trade mode, and nothing
    /// else carries the marker.
    fn check_process_is_the_one_status_names(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut last = String::new();
        while Instant::now() < deadline {
            if self.dead() {
                return;
            }
            let Some(status) = self.status() else {
                continue;
            };
            match self.process_matches(&status) {
                Ok(()) => return,
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.fail(&format!(
            "the running process is not the one status names: {last}"
        ));
    }

    fn process_matches(&self, status: &Value) -> Result<(), String> {
        let state = status["state"].as_str().unwrap_or("");
        let marked = marked_processes(self.lab.dir.path());
        let pids: Vec<i32> = marked.iter().map(|(pid, _)| *pid).collect();
        if matches!(state, "idle" | "halted") {
            return if marked.is_empty() {
                Ok(())
            } else {
                Err(format!("{state}, yet marked processes run: {pids:?}"))
            };
        }
        if matches!(state, "validating" | "rolling_back") {
            return Err(format!("still {state}"));
        }
        let [(pid, env)] = marked.as_slice() else {
            return Err(format!(
                "{state}: marked processes {pids:?}, want exactly one"
            ));
        };
        if status["service"]["pid"].as_i64() != Some(i64::from(*pid)) {
            return Err(format!(
                "status names pid {}, the marked process is {pid}",
                status["service"]["pid"]
            ));
        }
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let release = status["current_release"].as_str();
        if get("GANTRY_RELEASE") != release {
            return Err(format!(
                "runs {:?}, status says {release:?}",
                get("GANTRY_RELEASE")
            ));
        }
        let mode = match status["stage"].as_str() {
            Some("shadow") => "shadow",
            Some("paper") => "paper",
            _ => "live",
        };
        if get("TRADE_MODE") != Some(mode) {
            return Err(format!(
                "{state}: TRADE_MODE {:?}, the stage wants {mode}",
                get("TRADE_MODE")
            ));
        }
        Ok(())
    }
}

/// A thread that SIGKILLs the agent at random moments until dropped.
pub struct Killer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Killer {
    /// Kills the agent whose pid is in `pid` after a random pause of
    /// `min..max` milliseconds, again and again.
    pub fn start(pid: Arc<AtomicI32>, seed: u64, min_ms: u64, max_ms: u64) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut rng = seed | 1;
            let mut kills = 0;
            while !stopping.load(Ordering::SeqCst) {
                // xorshift: deterministic pauses for a given seed.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let pause = min_ms + rng % (max_ms - min_ms);
                let until = Instant::now() + Duration::from_millis(pause);
                while Instant::now() < until && !stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let target = pid.load(Ordering::SeqCst);
                if target > 0 {
                    // SAFETY: kill(2) on the agent process this test started.
                    let sent = unsafe { libc::kill(target, libc::SIGKILL) };
                    if sent == 0 {
                        kills += 1;
                        pid.store(0, Ordering::SeqCst);
                    }
                }
            }
            kills
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops killing; returns how many kills were sent.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

pub fn digest_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("release")))
}

/// Processes whose environment carries GANTRY_OWNER=<dir>: (pid, env).
pub fn marked_processes(dir: &Path) -> Vec<(i32, Vec<(String, String)>)> {
    let owner = std::fs::canonicalize(dir)
        .expect("state dir")
        .display()
        .to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(bytes) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let env: Vec<(String, String)> = bytes
            .split(|b| *b == 0)
            .filter_map(|p| {
                let (k, v) = std::str::from_utf8(p).ok()?.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect();
        if env.iter().any(|(k, v)| k == "GANTRY_OWNER" && *v == owner) && super::alive(pid) {
            out.push((pid, env));
        }
    }
    out
}

//! A lab for integration tests: a temp dir with `gantry init --sim`, a real
//! agent process, a real `gantry sim`, and `gantry ctl` run as a user would.
//! Everything started is killed on drop, pass or fail.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod crash;
pub mod engines;
pub mod fleet;
pub mod flood;
pub mod nspawn;
pub mod procs;
pub mod sshd;

pub const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub agent: Option<Child>,
    /// argv the agent runs under (empty: directly), e.g. an `nsenter`
    /// into a container.
    pub agent_prefix: Vec<String>,
    /// Set in the agent's environment (e.g. DOCKER_HOST for a private
    /// engine).
    pub agent_env: Vec<(String, String)>,
}

impl Lab {
    pub fn new(name: &str, soak: u64) -> Self {
        Self::init_in(tempfile::tempdir().expect("temp dir"), name, soak)
    }

    /// A lab in `dir` (a temp dir on a file system of the test's choice).
    pub fn init_in(dir: tempfile::TempDir, name: &str, soak: u64) -> Self {
        let out = Command::new(GANTRY)
            .args(["init", "--sim", "--name", name, "--soak", &soak.to_string()])
            .arg(dir.path())
            .output()
            .expect("run gantry init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("gantry.toml");
        Self {
            dir,
            config,
            agent: None,
            agent_prefix: Vec::new(),
            agent_env: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A raw session on the agent's socket (admin), whose reads give up
    /// after 10 s rather than hang a test.
    pub fn socket(&self) -> std::os::unix::net::UnixStream {
        let stream = std::os::unix::net::UnixStream::connect(self.path("agent.sock"))
            .expect("connect to the agent's socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream
    }

    pub fn example(&self, name: &str) -> PathBuf {
        self.dir.path().join("examples").join(name)
    }

    pub fn write_release(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write release");
        path
    }

    pub fn spawn_agent(&self) -> Child {
        let mut command = match self.agent_prefix.split_first() {
            None => Command::new(GANTRY),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(GANTRY);
                c
            }
        };
        command
            .envs(self.agent_env.iter().map(|(k, v)| (k, v)))
            .args(["agent", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("agent.stderr")).expect("stderr file"))
            .spawn()
            .expect("spawn agent")
    }

    /// Starts the agent and waits until it answers.
    pub fn start_agent(&mut self) {
        let child = self.spawn_agent();
        self.agent = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ctl(&["status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("agent did not answer: {}", self.agent_log());
    }

    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.path("agent.stderr")).unwrap_or_default()
    }

    pub fn signal_agent(&mut self, signal: i32) {
        if let Some(child) = &mut self.agent {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
            let _ = child.wait();
        }
        self.agent = None;
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(GANTRY)
            .arg("ctl")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("USER", "tester")
            .output()
            .expect("run gantry ctl")
    }

    /// `ctl logs -n 0 --follow`, its lines arriving on the receiver; kill
    /// the child to stop it.
    pub fn follow_logs(&self) -> (Child, std::sync::mpsc::Receiver<String>) {
        use std::io::BufRead;
        let mut child = Command::new(GANTRY)
            .args(["ctl", "--config"])
            .arg(&self.config)
            .args(["logs", "-n", "0", "--follow"])
            .envs(self.agent_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ctl logs --follow");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    pub fn ctl_path(&self, args: &[&str], path: &Path) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let p = path.to_str().expect("utf-8 path");
        all.insert(1, p);
        self.ctl(&all)
    }

    /// Runs ctl with --json, asserts success, returns the object.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        assert!(
            out.status.success(),
            "ctl {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("ctl --json prints JSON")
    }

    pub fn status(&self) -> Value {
        self.ctl_json(&["status"])
    }

    /// Polls status until `state`, panicking with the last status after
    /// `timeout`.
    pub fn wait_state(&self, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            last = self.status();
            if last["state"] == state {
                return last;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "never reached {state}; last status {last:#}\nagent log:\n{}",
            self.agent_log()
        );
    }

    /// Submits a release and takes it to live (approving it).
    pub fn deploy_live(&self, release: &Path, soak_total: Duration) {
        let out = self.ctl_path(&["submit", "--reason", "rollout"], release);
        assert!(
            out.status.success(),
            "submit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_state("awaiting_approval", soak_total + Duration::from_secs(10));
        let out = self.ctl(&["approve", "--reason", "canary looks right"]);
        assert!(
            out.status.success(),
            "approve: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_state("live", Duration::from_secs(5));
    }

    /// Turns the sim template's command service into `service` (the
    /// lines after `kind = `) and returns the sim's listen address
    /// (`127.0.0.1:PORT`), which the new service must use. The command
    /// kind's service.log settings go: the other kinds refuse them.
    pub fn swap_service(&self, service: &str) -> String {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let command = text
            .lines()
            .find(|l| l.starts_with("command = [") && l.contains("\"sim\", \"--listen\""))
            .expect("the sim's command line")
            .to_string();
        let listen = command
            .split('"')
            .find(|w| w.starts_with("127.0.0.1:"))
            .expect("its listen address")
            .to_string();
        let text: String = text
            .replacen("kind = \"command\"", &format!("kind = {service}"), 1)
            .replacen(&format!("{command}\n"), "", 1)
            .lines()
            .filter(|l| !l.starts_with("log_max_size =") && !l.starts_with("log_keep ="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&self.config, text).unwrap();
        listen
    }

    pub fn service_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.path("service.pid")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    /// A snapshot of every file under the state dir but the audit log and
    /// the agent's own logs: what "nothing changed" means.
    pub fn tree(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.retain(|(name, _)| {
            !matches!(
                name.as_str(),
                "audit.jsonl" | "agent.stderr" | "service.log" | "alerts.jsonl"
            )
        });
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let name = path
            .strip_prefix(root)
            .expect("under root")
            .display()
            .to_string();
        // A temp file of an atomic write may be gone by now.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("link");
            out.push((name, target.display().to_string().into_bytes()));
        } else if meta.is_dir() {
            walk(root, &path, out);
        } else if !name.ends_with(".sock") {
            out.push((name, std::fs::read(&path).unwrap_or_default()));
        }
    }
}

pub fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X"))
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(child) = &mut self.agent {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.service_pid() {
            // SAFETY: signalling the sim's process group that this lab started.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// Polls `done` until it holds, panicking with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what} ({timeout:?})");
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

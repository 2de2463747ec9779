//! `gantry demo --headless --hosts N` as a test fixture: the real binary,
//! its printed hosts file, and helpers to run `gantry ctl --hosts … --host …`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::GANTRY;

pub struct DemoFleet {
    pub child: Child,
    pub hosts_file: PathBuf,
    pub known_hosts: PathBuf,
    pub identity: PathBuf,
    pub dir: PathBuf,
    /// Isolates the client's remembered audit heads per test.
    pub client_state: tempfile::TempDir,
}

impl DemoFleet {
    pub fn start(hosts: usize, soak: u64) -> Self {
        Self::launch(&["--hosts", &hosts.to_string(), "--soak", &soak.to_string()])
    }

    /// `hosts` light hosts in one process (`demo --light`): real SSH, a
    /// fixed status, no agent.
    pub fn start_light(hosts: usize) -> Self {
        Self::launch(&["--light", "--hosts", &hosts.to_string()])
    }

    fn launch(args: &[&str]) -> Self {
        let mut child = Command::new(GANTRY)
            .args(["demo", "--headless"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start demo fleet");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut hosts_file, mut known_hosts, mut identity) = (None, None, None);
        while hosts_file.is_none() || known_hosts.is_none() || identity.is_none() {
            let line = lines
                .next()
                .expect("demo printed its files")
                .expect("utf-8");
            let value = |prefix: &str| line.strip_prefix(prefix).map(|v| PathBuf::from(v.trim()));
            hosts_file = hosts_file.or_else(|| value("hosts file:"));
            known_hosts = known_hosts.or_else(|| value("known_hosts:"));
            identity = identity.or_else(|| value("identity:"));
        }
        // Keep draining stdout so the demo never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let hosts_file = hosts_file.expect("hosts file");
        let dir = hosts_file.parent().expect("dir").to_path_buf();
        let fleet = Self {
            child,
            hosts_file,
            known_hosts: known_hosts.expect("known_hosts"),
            identity: identity.expect("identity"),
            dir,
            client_state: tempfile::tempdir().expect("temp"),
        };
        // Wait until every agent answers over SSH.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = fleet.ctl_all(&["status"]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "fleet never came up: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        fleet
    }

    pub fn host_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn ctl_all(&self, args: &[&str]) -> Output {
        self.ctl_with(&self.hosts_file, None, args)
    }

    pub fn ctl(&self, host: &str, args: &[&str]) -> Output {
        self.ctl_with(&self.hosts_file, Some(host), args)
    }

    pub fn ctl_with(&self, hosts_file: &Path, host: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(GANTRY);
        command.arg("ctl").arg("--hosts").arg(hosts_file);
        if let Some(host) = host {
            command.args(["--host", host]);
        }
        command
            .args(args)
            .env("USER", "tester")
            .env("GANTRY_CLIENT_STATE", self.client_state.path())
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("run ctl")
    }

    pub fn status(&self, host: &str) -> Value {
        let out = self.ctl(host, &["--json", "status"]);
        assert!(
            out.status.success(),
            "status of {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    pub fn wait_state(&self, host: &str, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status(host);
            if status["state"] == state {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{host} never reached {state}: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ctl --hosts FILE ARGS…` as a child process, for a test to kill.
    pub fn spawn_ctl(&self, hosts_file: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut command = Command::new(GANTRY);
        command
            .arg("ctl")
            .arg("--hosts")
            .arg(hosts_file)
            .args(args)
            .env("USER", "tester")
            .env("GANTRY_CLIENT_STATE", self.client_state.path())
            .env_remove("SSH_AUTH_SOCK")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        command.spawn().expect("spawn ctl")
    }

    /// `ctl history --json` of one host: its deploys, newest first.
    pub fn history(&self, host: &str) -> Vec<Value> {
        let out = self.ctl(host, &["--json", "history", "--limit", "50"]);
        assert!(
            out.status.success(),
            "history of {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: Value = serde_json::from_slice(&out.stdout).expect("json");
        value["deploys"].as_array().cloned().unwrap_or_default()
    }

    /// A copy of the hosts file, beside it, with each host in the wave
    /// `wave_of` names for it.
    pub fn regrouped(&self, file_name: &str, wave_of: impl Fn(&str) -> &'static str) -> PathBuf {
        let text = std::fs::read_to_string(&self.hosts_file).expect("hosts file");
        let mut host = String::new();
        let mut out = String::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("name = ") {
                host = name.trim_matches('"').to_string();
            }
            if line.starts_with("wave = ") {
                out.push_str(&format!("wave = {:?}\n", wave_of(&host)));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        let path = self.dir.join(file_name);
        std::fs::write(&path, out).expect("write hosts file");
        path
    }

    /// Approves every host that awaits approval (as another person, since
    /// the submitter may not approve its own deploy), until `stop`.
    pub fn approver(&self, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let hosts_file = self.hosts_file.clone();
        let state = self.client_state.path().to_path_buf();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let out = Command::new(GANTRY)
                    .args(["ctl", "--json", "--hosts"])
                    .arg(&hosts_file)
                    .arg("status")
                    .env("GANTRY_CLIENT_STATE", &state)
                    .output()
                    .expect("run ctl");
                if let Ok(rows) = serde_json::from_slice::<Value>(&out.stdout) {
                    for row in rows.as_array().into_iter().flatten() {
                        if row["status"]["state"] == "awaiting_approval" {
                            let _ = Command::new(GANTRY)
                                .args(["ctl", "--hosts"])
                                .arg(&hosts_file)
                                .args([
                                    "--host",
                                    row["name"].as_str().unwrap_or_default(),
                                    "approve",
                                    "--reason",
                                    "on-call approves",
                                ])
                                .env("GANTRY_CLIENT_STATE", &state)
                                .env("USER", "oncall")
                                .output();
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    }

    /// SIGTERM, as Ctrl-C would; returns once the demo has exited.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling the demo process this fixture started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("wait demo")
    }
}

impl Drop for DemoFleet {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
    }
}

/// Processes whose command line mentions `needle` (for "nothing left running").
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle)
                && super::alive(entry.file_name().to_string_lossy().parse().unwrap_or(0))
            {
                found.push(text);
            }
        }
    }
    found
}

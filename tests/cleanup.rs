//! Processes end with their owner (issue 9, item 6): `gantry demo` stops
//! every process it started and removes its temp dir however it is ended
//! (SIGHUP, SIGTERM, a reader that goes away), and `gantry ctl` writing
//! into a closed pipe ends quietly, as `cat` would, while a closed agent
//! socket is still reported. The control room killed with its tmux
//! session is in tests/tmux.rs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::procs::{self, Proc};
use common::{GANTRY, Lab};

/// A `gantry demo` process under test; whatever a failing test leaves is
/// killed on drop.
struct Demo {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
    dir: PathBuf,
    seen: Vec<Proc>,
}

impl Demo {
    /// Spawns `gantry demo ARGS` with stdout and stderr piped, and reads
    /// stdout until a line starting with `prefix` names its directory.
    fn start(args: &[&str], prefix: &str, dir_of: impl Fn(PathBuf) -> PathBuf) -> Self {
        let mut child = Command::new(GANTRY)
            .arg("demo")
            .args(args)
            .env("USER", "tester")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn demo");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let path = loop {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read demo stdout");
            assert!(n > 0, "demo ended before naming its directory");
            if let Some(rest) = line.strip_prefix(prefix) {
                break PathBuf::from(rest.trim());
            }
        };
        Self {
            child,
            stdout: Some(stdout),
            dir: dir_of(path),
            seen: Vec::new(),
        }
    }

    /// Waits until every host dir under the demo has a live service, then
    /// remembers every process below the demo.
    fn wait_serving(&mut self, hosts: &[PathBuf]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let serving = hosts
                .iter()
                .all(|h| service_pid(h).is_some_and(|pid| procs::read(pid).is_some()));
            if serving {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no service in every host dir of {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.seen = procs::descendants(self.child.id() as i32);
        // Each host: an agent, and its service below it.
        for host in hosts {
            let pid = service_pid(host).expect("service pid");
            assert!(
                self.seen.iter().any(|p| p.pid == pid),
                "service {pid} of {} not below the demo: {:#?}",
                host.display(),
                self.seen
            );
        }
        assert!(self.seen.len() >= 2 * hosts.len(), "{:#?}", self.seen);
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the demo process this test spawned.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Waits for the demo to exit; returns its status and stderr.
    fn wait(&mut self, timeout: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "demo still running {timeout:?} later"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        (status, stderr)
    }

    fn assert_all_gone(&self) {
        procs::assert_all_gone(&self.seen, &self.dir, Duration::from_secs(5));
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        procs::kill_all(&self.seen);
        procs::kill_all(&procs::in_dir(&self.dir));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn service_pid(host_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(host_dir.join("service.pid")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A headless fleet of `n` hosts with a release submitted on each (over
/// the local socket) so that every host has a service running.
fn serving_fleet(n: usize) -> (Demo, Vec<PathBuf>) {
    let mut demo = Demo::start(
        &["--headless", "--hosts", &n.to_string(), "--soak", "1"],
        "hosts file:",
        |hosts_file| hosts_file.parent().expect("fleet dir").to_path_buf(),
    );
    let hosts: Vec<PathBuf> = (1..=n)
        .map(|i| demo.dir.join(format!("demo-{i}")))
        .collect();
    for host in &hosts {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new(GANTRY)
                .arg("ctl")
                .arg("--config")
                .arg(host.join("gantry.toml"))
                .arg("submit")
                .arg(host.join("examples/good.env"))
                .args(["--reason", "cleanup test"])
                .env("USER", "tester")
                .output()
                .expect("run ctl");
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "submit to {}: {}",
                host.display(),
                common::stderr(&out)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    demo.wait_serving(&hosts);
    (demo, hosts)
}

fn headless_ends_cleanly_on(signal: i32) {
    let (mut demo, _) = serving_fleet(2);
    // Nobody reads any more: the demo's last line fails with EPIPE, which
    // must neither kill it (SIGPIPE) nor skip its cleanup.
    demo.stdout = None;
    demo.signal(signal);
    let (status, stderr) = demo.wait(Duration::from_secs(15));
    assert!(
        status.success(),
        "headless demo ends with 0 on signal {signal}: {status:?}\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    demo.assert_all_gone();
}

#[test]
fn headless_demo_on_sighup_stops_everything_and_removes_its_dir() {
    headless_ends_cleanly_on(libc::SIGHUP);
}

#[test]
fn headless_demo_on_sigterm_stops_everything_and_removes_its_dir() {
    headless_ends_cleanly_on(libc::SIGTERM);
}

/// `gantry demo` with stdout not a terminal tells the story of one host.
fn story() -> Demo {
    let mut demo = Demo::start(&["--soak", "1"], "state dir ", |dir| dir);
    let host = demo.dir.clone();
    demo.wait_serving(&[host]);
    demo
}

#[test]
fn story_demo_on_sighup_stops_everything_and_removes_its_dir() {
    let mut demo = story();
    demo.signal(libc::SIGHUP);
    let (status, stderr) = demo.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by SIGHUP"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    demo.assert_all_gone();
}

#[test]
fn story_demo_whose_reader_goes_away_stops_everything() {
    // `gantry demo | head -3`: the next line of the story fails.
    let mut demo = story();
    demo.stdout = None;
    let (status, stderr) = demo.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gantry: stdout:"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    demo.assert_all_gone();
}

/// `gantry ctl ARGS` against the lab's agent with stdout into a pipe whose
/// reader is already gone: the first write fails, every time.
fn ctl_into_closed_pipe(lab: &Lab, args: &[&str]) -> (ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(GANTRY)
        .arg("ctl")
        .arg("--config")
        .arg(&lab.config)
        .args(args)
        .env("USER", "tester")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run ctl");
    (out.status, common::stderr(&out))
}

#[test]
fn ctl_into_a_closed_pipe_ends_quietly_as_sigpipe() {
    let mut lab = Lab::new("pipe-1", 1);
    lab.start_agent();
    for args in [
        &["status"][..],
        &["--json", "status"],
        &["audit"],
        &["--json", "audit"],
        &["history"],
    ] {
        let (status, stderr) = ctl_into_closed_pipe(&lab, args);
        assert_eq!(
            status.signal(),
            Some(libc::SIGPIPE),
            "ctl {args:?} into a closed pipe ends as `cat` would (141 in a shell): {status:?}\n{stderr}"
        );
        assert_eq!(stderr, "", "ctl {args:?} says nothing");
    }
}

#[test]
fn init_into_a_closed_pipe_ends_quietly_as_sigpipe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(GANTRY)
        .args(["init", "--sim", "--name", "pipe"])
        .arg(dir.path().join("host"))
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run init");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    assert_eq!(common::stderr(&out), "");
}

#[test]
fn ctl_status_head_c1_has_no_panic() {
    // `gantry ctl --json status | head -c1`, with a real pipe.
    let mut lab = Lab::new("pipe-2", 1);
    lab.start_agent();
    for args in [&["status"][..], &["--json", "status"]] {
        let mut child = Command::new(GANTRY)
            .arg("ctl")
            .arg("--config")
            .arg(&lab.config)
            .args(args)
            .env("USER", "tester")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ctl");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut byte = [0u8; 1];
        stdout.read_exact(&mut byte).expect("one byte");
        drop(stdout);
        let out = child.wait_with_output().expect("wait ctl");
        let stderr = common::stderr(&out);
        // Whether ctl had written everything before the read end closed is
        // a race; either way it ends without a word.
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "ctl {args:?} | head -c1: {:?}\n{stderr}",
            out.status
        );
        assert_eq!(stderr, "", "ctl {args:?} | head -c1 says nothing");
    }
}

#[test]
fn ctl_still_reports_an_agent_socket_that_stops_reading() {
    // ctl dies by SIGPIPE for a broken stdout (main.rs), which is safe only
    // because sockets do not raise it (std sends with MSG_NOSIGNAL): a
    // request written to an agent socket whose reader is gone must stay an
    // error with a message, not a silent death.
    let mut lab = Lab::new("pipe-3", 1);
    lab.start_agent();
    let socket = lab.path("agent.sock");
    // The real agent's greeting, to replay from a fake one.
    let mut greeting = String::new();
    {
        let mut reader = BufReader::new(UnixStream::connect(&socket).expect("connect agent"));
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).expect("read greeting") > 0);
            greeting.push_str(&line);
            if line.contains("\"type\":\"snapshot\"") {
                break;
            }
        }
    }
    lab.signal_agent(libc::SIGTERM);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).expect("bind fake agent");
    let (done, ctl_done) = std::sync::mpsc::channel::<()>();
    let fake = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept ctl");
        // Stop reading first, so that ctl's request meets EPIPE for sure.
        stream
            .shutdown(std::net::Shutdown::Read)
            .expect("shutdown read");
        stream.write_all(greeting.as_bytes()).expect("greet");
        // Hold the connection open until ctl is done with it.
        let _ = ctl_done.recv();
    });
    let out = lab.ctl(&["status"]);
    let stderr = common::stderr(&out);
    assert_eq!(
        out.status.signal(),
        None,
        "ctl must not die of the socket's SIGPIPE: {:?}\n{stderr}",
        out.status
    );
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.starts_with("gantry: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = done.send(());
    fake.join().expect("fake agent");
}

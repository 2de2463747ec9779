//! `gantry sim` as a real process: its log, its `/metrics`, its faults, its
//! signals, its exit statuses, and its venue (`gantry sim venue`, `gantry
//! sim flatten`). Every child is killed by a guard, even when an assertion
//! fails.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PHASES: [&str; 6] = [
    "gantry-sim ",
    "environment validated",
    "persistence mounted",
    "replay started (0 events)",
    "orchestrator initialized",
    "idle reached",
];

/// The child's stdout so far, filled by a reader thread.
#[derive(Default)]
struct Stdout {
    lines: Vec<String>,
    closed: bool,
}

/// A running `gantry sim`, killed and reaped on drop.
struct Sim {
    child: Child,
    lines: Arc<(Mutex<Stdout>, Condvar)>,
    /// All of stderr, once it has closed.
    stderr: Arc<(Mutex<Option<String>>, Condvar)>,
    started: Instant,
    addr: Option<SocketAddr>,
    /// Its working directory: the state dir (and so the venue file) when
    /// `SIM_STATE_DIR` is unset, kept out of the source tree.
    _cwd: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    /// Starts `gantry sim --listen LISTEN` with only `env` in its environment.
    fn spawn(env: &[(&str, &str)], listen: &str) -> Self {
        Self::spawn_args(env, &["sim", "--listen", listen])
    }

    fn spawn_args(env: &[(&str, &str)], args: &[&str]) -> Self {
        let cwd = tempfile::tempdir().expect("a working directory");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(args)
            .current_dir(cwd.path())
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gantry sim");
        let lines = Arc::new((Mutex::new(Stdout::default()), Condvar::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&lines);
        thread::spawn(move || {
            let (lines, ready) = &*sink;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().lines.push(line);
                ready.notify_all();
            }
            lines.lock().unwrap().closed = true;
            ready.notify_all();
        });
        let stderr = Arc::new((Mutex::new(None), Condvar::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let (slot, ready) = &*sink;
            *slot.lock().unwrap() = Some(text);
            ready.notify_all();
        });
        Self {
            child,
            lines,
            stderr,
            started,
            addr: None,
            _cwd: cwd,
        }
    }

    /// Starts on an OS-chosen port and waits until it says where it listens.
    fn ready(env: &[(&str, &str)]) -> Self {
        let mut sim = Self::spawn(env, "127.0.0.1:0");
        let line = sim
            .wait_line(|l| l.starts_with("metrics listening on "), 5)
            .unwrap_or_else(|| panic!("no listening line; log: {:?}", sim.lines()));
        let addr = line.trim_start_matches("metrics listening on ");
        sim.addr = Some(addr.parse().expect("listening address"));
        sim
    }

    fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().lines.clone()
    }

    /// The first line matching `pred`, waiting up to `secs` for it.
    fn wait_line(&self, pred: impl Fn(&str) -> bool, secs: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (lines, ready) = &*self.lines;
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(line) = guard.lines.iter().find(|l| pred(l)) {
                return Some(line.clone());
            }
            if guard.closed {
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            guard = ready.wait_timeout(guard, left).unwrap().0;
        }
    }

    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread take the last lines before callers look.
                let (lines, ready) = &*self.lines;
                let guard = lines.lock().unwrap();
                let _ = ready
                    .wait_timeout_while(guard, Duration::from_secs(2), |out| !out.closed)
                    .unwrap();
                return Some(status);
            }
            thread::sleep(Duration::from_millis(1));
        }
        None
    }

    /// All of stderr; waits (briefly) for it to close, so call after exit.
    fn stderr(&self) -> String {
        let (slot, ready) = &*self.stderr;
        let guard = slot.lock().unwrap();
        let (guard, _) = ready
            .wait_timeout_while(guard, Duration::from_secs(2), |s| s.is_none())
            .unwrap();
        guard
            .clone()
            .unwrap_or_else(|| "<stderr still open>".into())
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        // SAFETY: kill(2) on our own child's pid; it has not been reaped yet
        // (the guard reaps it on drop), so the pid cannot have been reused.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn metrics(&self) -> Metrics {
        let response = get(self.addr.expect("ready() first"), "/metrics").expect("GET /metrics");
        assert_eq!(response.status, 200, "{}", response.body);
        Metrics::parse(&response.body)
    }

    /// Scrapes until `pred` holds, for up to `secs`; returns the last scrape.
    fn metrics_until(&self, secs: f64, pred: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let metrics = self.metrics();
            if pred(&metrics) || Instant::now() > deadline {
                return metrics;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`, read to the end.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    get_with_timeout(addr, path, Duration::from_secs(3))
}

fn get_with_timeout(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no end of headers"))?;
    let mut head_lines = head.lines();
    let status = head_lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = head_lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Sample lines keyed by the series as written (`name{labels}`), plus the
/// HELP and TYPE lines seen.
struct Metrics {
    samples: BTreeMap<String, f64>,
    help: Vec<String>,
    types: Vec<(String, String)>,
}

impl Metrics {
    fn parse(body: &str) -> Self {
        let mut samples = BTreeMap::new();
        let mut help = Vec::new();
        let mut types = Vec::new();
        for line in body.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                help.push(rest.split(' ').next().unwrap_or_default().to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                types.push((name.to_string(), kind.to_string()));
            } else if !line.is_empty() {
                let (series, value) = line.rsplit_once(' ').expect("sample line");
                let value = value
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}"));
                samples.insert(series.to_string(), value);
            }
        }
        Self {
            samples,
            help,
            types,
        }
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(series, _)| series.split('{').next() == Some(name))
            .map(|(_, v)| *v)
    }

    fn value(&self, name: &str) -> f64 {
        self.get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.samples.keys()))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn assert_in_order(lines: &[String], expected: &[&str]) {
    let mut at = 0;
    for want in expected {
        match lines[at..].iter().position(|l| l.contains(want)) {
            Some(offset) => at += offset + 1,
            None => panic!("{want:?} missing or out of order in {lines:#?}"),
        }
    }
}

#[test]
fn healthy_release_logs_phases_in_order_and_serves_every_series() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let sim = Sim::ready(&[
        ("GANTRY_HOST", "lhr-1"),
        ("TRADE_MODE", "paper"),
        ("CANARY_MODE", "0"),
        ("EXECUTION_PLANE", "paper"),
        ("SIM_STATE_DIR", state_dir),
    ]);
    sim.wait_line(|l| l.starts_with("strategy tick "), 5)
        .expect("a strategy tick line");
    let lines = sim.lines();
    assert_in_order(&lines, &PHASES);
    assert!(
        lines[0].starts_with("gantry-sim ")
            && lines[0]
                .ends_with(" starting host=lhr-1 trade_mode=paper canary=0 execution_plane=paper"),
        "{}",
        lines[0]
    );
    assert!(lines.contains(&format!("persistence mounted path={state_dir}")));

    let response = get(sim.addr.unwrap(), "/metrics").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    let metrics = Metrics::parse(&response.body);
    let expected = [
        ("sim_up", "gauge"),
        ("sim_info", "gauge"),
        ("sim_uptime_seconds", "gauge"),
        ("sim_pnl_usd", "gauge"),
        ("sim:pnl_usd:rate1m", "gauge"),
        ("sim_drawdown_pct", "gauge"),
        ("sim_last_tick_age_seconds", "gauge"),
        ("sim_ticks_total", "counter"),
        ("sim_orders_total", "counter"),
        ("sim_kill_events_total", "counter"),
        ("sim_recon_mismatches_total", "counter"),
        ("sim_canary_breaches_total", "counter"),
    ];
    for (name, kind) in expected {
        assert!(metrics.help.iter().any(|h| h == name), "no HELP for {name}");
        assert!(
            metrics
                .types
                .contains(&(name.to_string(), kind.to_string())),
            "no TYPE {kind} for {name}"
        );
        metrics.value(name);
    }
    assert_eq!(metrics.value("sim_up"), 1.0);
    let version = env!("CARGO_PKG_VERSION");
    let info = format!(
        "sim_info{{host=\"lhr-1\",trade_mode=\"paper\",canary=\"0\",execution_plane=\"paper\",version=\"{version}\"}}"
    );
    assert_eq!(
        metrics.samples.get(&info),
        Some(&1.0),
        "{:?}",
        metrics.samples
    );
    assert!(metrics.value("sim_uptime_seconds") > 0.0);
    assert!(metrics.value("sim_pnl_usd") >= 0.0);
    assert!((0.0..=0.5).contains(&metrics.value("sim_drawdown_pct")));
    assert!(metrics.value("sim_last_tick_age_seconds") < 1.0);
    assert!(metrics.value("sim_ticks_total") >= 1.0);
    for counter in [
        "sim_orders_total",
        "sim_kill_events_total",
        "sim_recon_mismatches_total",
        "sim_canary_breaches_total",
    ] {
        assert_eq!(metrics.value(counter), 0.0, "{counter}");
    }

    assert_eq!(get(sim.addr.unwrap(), "/").unwrap().status, 404);
    assert_eq!(get(sim.addr.unwrap(), "/metricsx").unwrap().status, 404);
    assert!(!sim.lines().iter().any(|l| l.starts_with("order executed")));
}

#[test]
fn smoke_mode_logs_nothing_after_idle_except_the_planted_line() {
    let sim = Sim::ready(&[
        ("EXECUTION_PLANE", "paper"),
        ("SIM_LOG_LINE", "planted: order executed id=0"),
        ("SIM_TICK_MS", "10"),
    ]);
    sim.wait_line(|l| l == "idle reached", 5).expect("idle");
    thread::sleep(Duration::from_millis(300));
    let lines = sim.lines();
    let idle = lines.iter().position(|l| l == "idle reached").unwrap();
    assert_eq!(lines[idle + 1..], ["planted: order executed id=0"]);
    assert!(lines[0].contains(" trade_mode=idle canary=0 execution_plane=paper"));
    let metrics = sim.metrics();
    assert_eq!(metrics.value("sim_pnl_usd"), 0.0);
    assert_eq!(metrics.value("sim_orders_total"), 0.0);
}

#[test]
fn live_trading_off_the_paper_plane_executes_orders() {
    let sim = Sim::ready(&[
        ("TRADE_MODE", "live"),
        ("CANARY_MODE", "1"),
        ("EXECUTION_PLANE", "live"),
    ]);
    sim.wait_line(|l| l.starts_with("order executed id=1 "), 5)
        .expect("an order");
    assert!(sim.metrics().value("sim_orders_total") >= 1.0);
}

#[test]
fn port_answers_at_once_and_a_restart_rebinds_it() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let addr: SocketAddr = listen.parse().unwrap();
    for round in 0..2 {
        let mut sim = Sim::spawn(&[("TRADE_MODE", "paper")], &listen);
        let answered = loop {
            if let Ok(response) = get_with_timeout(addr, "/metrics", Duration::from_millis(500))
                && response.status == 200
            {
                break sim.started.elapsed();
            }
            assert!(
                sim.started.elapsed() < Duration::from_secs(3),
                "round {round}: no answer; log {:?} stderr {}",
                sim.lines(),
                sim.stderr()
            );
            thread::sleep(Duration::from_millis(1));
        };
        eprintln!("round {round}: answered {answered:?} after spawn");
        // Generous for a loaded debug build; typically a few ms.
        assert!(
            answered < Duration::from_secs(1),
            "round {round}: {answered:?}"
        );
        sim.signal(libc::SIGTERM);
        assert!(sim.wait_exit(Duration::from_secs(2)).unwrap().success());
    }
}

#[test]
fn crash_exits_with_its_status_after_the_delay() {
    let mut default = Sim::spawn(
        &[("SIM_FAULT", "crash"), ("SIM_FAULT_AFTER_S", "0.3")],
        "127.0.0.1:0",
    );
    let mut custom = Sim::spawn(
        &[
            ("SIM_FAULT", "crash"),
            ("SIM_FAULT_AFTER_S", "0.3"),
            ("SIM_EXIT_CODE", "42"),
        ],
        "127.0.0.1:0",
    );
    for (sim, code) in [(&mut default, 1), (&mut custom, 42)] {
        let status = sim
            .wait_exit(Duration::from_millis(1500))
            .expect("exited within 1.5 s");
        let elapsed = sim.started.elapsed();
        assert_eq!(status.code(), Some(code));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        let lines = sim.lines();
        assert_eq!(
            lines.last().map(String::as_str),
            Some("fatal: simulated crash")
        );
        assert_in_order(&lines, &PHASES);
    }
}

#[test]
fn drawdown_fault_breaches_the_budget() {
    let sim = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_FAULT", "drawdown"),
        ("SIM_FAULT_AFTER_S", "0.3"),
    ]);
    let metrics = sim.metrics_until(3.0, |m| m.value("sim_drawdown_pct") >= 10.0);
    assert!(metrics.value("sim_drawdown_pct") >= 10.0);
    assert!(metrics.value("sim_uptime_seconds") >= 0.3);
}

#[test]
fn stale_fault_stops_the_tick_while_the_server_answers() {
    let sim = Sim::ready(&[
        ("TRADE_MODE", "shadow"),
        ("SIM_FAULT", "stale"),
        ("SIM_FAULT_AFTER_S", "0.2"),
    ]);
    let first = sim.metrics_until(3.0, |m| m.value("sim_last_tick_age_seconds") > 0.4);
    let age = first.value("sim_last_tick_age_seconds");
    assert!(age > 0.4, "{age}");
    thread::sleep(Duration::from_millis(300));
    let later = sim.metrics();
    assert!(later.value("sim_last_tick_age_seconds") >= age + 0.25);
    assert_eq!(
        later.value("sim_ticks_total"),
        first.value("sim_ticks_total")
    );
}

#[test]
fn counter_and_pnl_faults_move_their_series() {
    let after = ("SIM_FAULT_AFTER_S", "0.1");
    let paper = ("TRADE_MODE", "paper");
    let kill = Sim::ready(&[paper, after, ("SIM_FAULT", "kill_event")]);
    let recon = Sim::ready(&[paper, after, ("SIM_FAULT", "recon")]);
    let canary = Sim::ready(&[
        ("TRADE_MODE", "live"),
        ("CANARY_MODE", "1"),
        after,
        ("SIM_FAULT", "canary"),
    ]);
    let not_canary = Sim::ready(&[("TRADE_MODE", "live"), after, ("SIM_FAULT", "canary")]);
    let pnl = Sim::ready(&[paper, after, ("SIM_FAULT", "pnl")]);
    let missing = Sim::ready(&[paper, after, ("SIM_FAULT", "missing")]);

    kill.wait_line(|l| l.starts_with("kill switch tripped"), 3)
        .expect("kill switch line");
    assert_eq!(kill.metrics().value("sim_kill_events_total"), 1.0);
    let m = recon.metrics_until(3.0, |m| m.value("sim_recon_mismatches_total") >= 1.0);
    assert!(m.value("sim_recon_mismatches_total") >= 1.0);
    let m = canary.metrics_until(3.0, |m| m.value("sim_canary_breaches_total") >= 1.0);
    assert!(m.value("sim_canary_breaches_total") >= 1.0);
    let m = pnl.metrics_until(3.0, |m| m.value("sim_pnl_usd") < -50.0);
    assert!(m.value("sim_pnl_usd") < -50.0, "{}", m.value("sim_pnl_usd"));
    let m = missing.metrics_until(3.0, |m| m.get("sim_pnl_usd").is_none());
    assert!(m.get("sim_pnl_usd").is_none() && m.get("sim_last_tick_age_seconds").is_none());
    assert_eq!(m.value("sim_up"), 1.0);

    // By now (> 0.1 s) a canary fault without CANARY_MODE=1 would have fired.
    let m = not_canary.metrics_until(0.3, |m| m.value("sim_uptime_seconds") > 0.3);
    assert_eq!(m.value("sim_canary_breaches_total"), 0.0);
}

#[test]
fn hang_and_garbage_faults_break_the_scrape() {
    let after = ("SIM_FAULT_AFTER_S", "0.2");
    let hang = Sim::ready(&[after, ("SIM_FAULT", "hang")]);
    let garbage = Sim::ready(&[after, ("SIM_FAULT", "garbage")]);
    thread::sleep(Duration::from_millis(300));

    let addr = hang.addr.unwrap();
    let err = get_with_timeout(addr, "/metrics", Duration::from_millis(300))
        .err()
        .expect("a hung server answers nothing");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );

    let response = get(garbage.addr.unwrap(), "/metrics").unwrap();
    assert_eq!(response.status, 200);
    let broken = response.body.lines().any(|line| {
        !line.starts_with('#')
            && line
                .rsplit_once(' ')
                .is_none_or(|(_, v)| v.parse::<f64>().is_err())
    });
    assert!(broken, "{}", response.body);
}

#[test]
fn sigterm_and_sigint_exit_zero_promptly() {
    let mut term = Sim::ready(&[("TRADE_MODE", "paper")]);
    let mut int = Sim::ready(&[]);
    // A signal during a slow start-up is a clean shutdown too.
    let mut starting = Sim::spawn(&[("SIM_STARTUP_MS", "5000")], "127.0.0.1:0");
    term.wait_line(|l| l == "idle reached", 5).expect("idle");
    int.wait_line(|l| l == "idle reached", 5).expect("idle");
    starting
        .wait_line(|l| l.starts_with("gantry-sim "), 5)
        .expect("banner");
    for (sim, signal) in [
        (&mut term, libc::SIGTERM),
        (&mut int, libc::SIGINT),
        (&mut starting, libc::SIGTERM),
    ] {
        let sent = Instant::now();
        sim.signal(signal);
        let status = sim.wait_exit(Duration::from_secs(2)).expect("exited");
        let took = sent.elapsed();
        eprintln!("signal {signal}: exited in {took:?}");
        assert!(status.success(), "{status:?}");
        // The promise is < 50 ms; the bound is loose for a loaded machine.
        assert!(took < Duration::from_millis(500), "{took:?}");
        assert_eq!(sim.lines().last().map(String::as_str), Some("shutdown"));
    }
    assert!(!starting.lines().iter().any(|l| l == "idle reached"));
}

#[test]
fn bad_knobs_exit_78_naming_the_knob_before_binding() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let cases: &[(&str, &str, &str)] = &[
        ("SIM_FAULT", "nope", "SIM_FAULT=nope is not one of"),
        ("SIM_FAUL", "crash", "SIM_FAUL is not a known knob"),
        (
            "TRADE_MODE",
            "bogus",
            "TRADE_MODE=bogus is not one of shadow, paper, live",
        ),
        ("SIM_TICK_MS", "fast", "SIM_TICK_MS=fast"),
        ("SIM_FAULT_AFTER_S", "-1", "SIM_FAULT_AFTER_S=-1"),
        ("SIM_PNL_DRIFT", "NaN", "SIM_PNL_DRIFT=NaN"),
        (
            "SIM_FAULT_FACTOR",
            "0.5",
            "SIM_FAULT_FACTOR=0.5 is not a factor (a number from 1 to 1e9)",
        ),
        (
            "SIM_FAULT_FACTOR",
            "NaN",
            "SIM_FAULT_FACTOR=NaN is not a factor",
        ),
        (
            "SIM_FAULT_FACTOR",
            "four",
            "SIM_FAULT_FACTOR=four is not a factor",
        ),
        (
            "SIM_SESSION",
            "weekend",
            "SIM_SESSION=weekend is not one of open, closed",
        ),
    ];
    let mut sims: Vec<Sim> = cases
        .iter()
        .map(|(key, value, _)| Sim::spawn(&[(key, value)], &listen))
        .collect();
    for (sim, (_, _, message)) in sims.iter_mut().zip(cases) {
        let status = sim.wait_exit(Duration::from_secs(3)).expect("exited");
        assert_eq!(status.code(), Some(78), "{message}");
        let stderr = sim.stderr();
        assert!(
            stderr.contains("environment validation failed: ") && stderr.contains(message),
            "{stderr}"
        );
        assert!(sim.lines().is_empty(), "{:?}", sim.lines());
    }
    // Nothing was bound: the port is still free.
    TcpListener::bind(&listen).expect("the port was never taken");
}

#[test]
fn validate_config_checks_a_release_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good = write(
        "good.env",
        "# a release\nVENUE=binance\nTRADE_MODE=paper\nEXECUTION_PLANE=paper\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S=30\n",
    );
    let bad_value = write("bad.env", "VENUE=x\nTRADE_MODE=paper\nSIM_FAULT=nope\n");
    let unknown = write("unknown.env", "SIM_BOGUS=1\n");
    let bad_mode = write("mode.env", "CANARY_MODE=2\n");
    let unparsable = write("nan.env", "A=1\nSIM_PNL_DRIFT=NaN\n");
    let duplicate = write("dup.env", "SIM_FAULT=crash\nSIM_FAULT=pnl\n");
    let subtle = write(
        "subtle.env",
        "SIM_FAULT=slow\nSIM_FAULT_FACTOR=2.5\nSIM_SESSION=closed\n",
    );
    let factor = write("factor.env", "SIM_FAULT=errors\nSIM_FAULT_FACTOR=-4\n");
    let missing = dir.path().join("absent.env").to_str().unwrap().to_string();

    let cases: &[(&str, i32, &[&str])] = &[
        (&good, 0, &[]),
        (
            &bad_value,
            78,
            &["bad.env: line 3: SIM_FAULT=nope is not one of"],
        ),
        (
            &unknown,
            78,
            &["unknown.env: line 1: SIM_BOGUS is not a known knob"],
        ),
        (&bad_mode, 78, &["mode.env: line 1: CANARY_MODE=2"]),
        (&unparsable, 65, &["nan.env: line 2: ", "SIM_PNL_DRIFT"]),
        (
            &duplicate,
            65,
            &["dup.env: line 2: duplicate key SIM_FAULT"],
        ),
        (&missing, 65, &["cannot read", "absent.env: No such file"]),
        (&subtle, 0, &[]),
        (
            &factor,
            78,
            &["factor.env: line 2: SIM_FAULT_FACTOR=-4 is not a factor"],
        ),
    ];
    let mut sims: Vec<Sim> = cases
        .iter()
        .map(|(path, _, _)| {
            // SIM_* in the process environment is not what is validated.
            Sim::spawn_args(
                &[("SIM_FAULT", "nope")],
                &["sim", "--validate-config", path],
            )
        })
        .collect();
    for (sim, (path, code, needles)) in sims.iter_mut().zip(cases) {
        let status = sim.wait_exit(Duration::from_secs(3)).expect("exited");
        let stderr = sim.stderr();
        assert_eq!(status.code(), Some(*code), "{path}: {stderr}");
        assert!(sim.lines().is_empty(), "{path}: {:?}", sim.lines());
        if *code == 0 {
            assert_eq!(stderr, "", "{path}");
        }
        for needle in *needles {
            assert!(stderr.contains(needle), "{path}: {stderr}");
        }
    }
}

#[test]
fn fault_hosts_limit_the_fault_to_the_named_hosts() {
    let knobs = [
        ("SIM_FAULT", "kill_event"),
        ("SIM_FAULT_AFTER_S", "0"),
        ("SIM_FAULT_HOSTS", "ewr-1, fra-1"),
    ];
    let mut spared_env = knobs.to_vec();
    spared_env.push(("GANTRY_HOST", "lhr-1"));
    let mut hit_env = knobs.to_vec();
    hit_env.push(("GANTRY_HOST", "fra-1"));
    let spared = Sim::ready(&spared_env);
    let hit = Sim::ready(&hit_env);

    hit.wait_line(|l| l.starts_with("kill switch tripped"), 3)
        .expect("the named host trips");
    assert_eq!(hit.metrics().value("sim_kill_events_total"), 1.0);
    spared.wait_line(|l| l == "idle reached", 3).expect("idle");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(spared.metrics().value("sim_kill_events_total"), 0.0);
    assert!(!spared.lines().iter().any(|l| l.contains("kill switch")));
}

// ----------------------------------------------------------------- orders

/// The order series of one scrape: requests, errors, latency count and sum.
#[derive(Debug, Clone, Copy)]
struct Orders {
    requests: f64,
    errors: f64,
    count: f64,
    sum: f64,
    uptime: f64,
}

impl Orders {
    fn of(m: &Metrics) -> Self {
        Self {
            requests: m.value("sim_order_requests_total"),
            errors: m.value("sim_order_errors_total"),
            count: m.value("sim_order_latency_seconds_count"),
            sum: m.value("sim_order_latency_seconds_sum"),
            uptime: m.value("sim_uptime_seconds"),
        }
    }

    /// Mean latency of the requests sent after `earlier` and up to `self`.
    fn mean_since(&self, earlier: &Self) -> f64 {
        let count = self.count - earlier.count;
        assert!(count >= 10.0, "too few requests: {earlier:?} {self:?}");
        (self.sum - earlier.sum) / count
    }
}

/// Every absolute series a default gate watches, healthy.
fn assert_absolutes_healthy(m: &Metrics, why: &str) {
    assert!(m.value("sim_pnl_usd") >= 0.0, "{why}");
    assert!(
        (0.0..=0.5).contains(&m.value("sim_drawdown_pct")),
        "{why}: drawdown {}",
        m.value("sim_drawdown_pct")
    );
    // SIM_TICK_MS is 100: loose for a loaded machine, far below a gate's 2 s.
    assert!(
        m.value("sim_last_tick_age_seconds") < 0.5,
        "{why}: tick age {}",
        m.value("sim_last_tick_age_seconds")
    );
    for counter in [
        "sim_kill_events_total",
        "sim_recon_mismatches_total",
        "sim_canary_breaches_total",
    ] {
        assert_eq!(m.value(counter), 0.0, "{why}: {counter}");
    }
}

#[test]
fn order_series_are_typed_histogrammed_and_parse_whole() {
    let paper = Sim::ready(&[("TRADE_MODE", "paper"), ("GANTRY_HOST", "lhr-1")]);
    let shadow = Sim::ready(&[("TRADE_MODE", "shadow")]);
    let idle = Sim::ready(&[("EXECUTION_PLANE", "paper")]);
    let m = paper.metrics_until(5.0, |m| m.value("sim_order_requests_total") >= 30.0);
    for (name, kind) in [
        ("sim_order_requests_total", "counter"),
        ("sim_order_errors_total", "counter"),
        ("sim_order_latency_seconds", "histogram"),
    ] {
        assert!(m.help.iter().any(|h| h == name), "no HELP for {name}");
        assert!(
            m.types.contains(&(name.to_string(), kind.to_string())),
            "no TYPE {kind} for {name}: {:?}",
            m.types
        );
    }
    let orders = Orders::of(&m);
    assert!(orders.requests >= 30.0, "{orders:?}");
    assert_eq!(orders.count, orders.requests, "one observation per request");
    let mean = orders.sum / orders.count;
    assert!((0.003..0.005).contains(&mean), "mean latency {mean}");

    // The page as the agent reads it: gantry's parser takes it whole, the
    // buckets are cumulative and end in +Inf = _count, and the spread is
    // real (some under 2.5 ms, some over 5 ms: p50 and p99 differ).
    let body = get(paper.addr.unwrap(), "/metrics").unwrap().body;
    let page = gantry::prom::parse(body.as_bytes()).expect("the page parses");
    assert_eq!(
        page.metric_type("sim_order_latency_seconds_bucket"),
        Some(gantry::prom::MetricType::Histogram)
    );
    let bucket = |le: &str| match page.lookup(
        "sim_order_latency_seconds_bucket",
        &[("le".to_string(), le.to_string())],
    ) {
        gantry::prom::Lookup::Found(v) => v,
        other => panic!("le={le}: {other:?}"),
    };
    let bounds = [
        "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
    ];
    let counts: Vec<f64> = bounds.iter().map(|le| bucket(le)).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let count = match page.lookup("sim_order_latency_seconds_count", &[]) {
        gantry::prom::Lookup::Found(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(counts[10], count);
    assert_eq!(counts[0], 0.0, "nothing under 1 ms");
    assert!(counts[1] > 0.0 && counts[2] < count, "{counts:?}");
    assert_eq!(counts[3], count, "everything under 10 ms");

    // Shadow does not trade and idle is the smoke mode: no orders, but the
    // series are there (zero, not missing).
    for (sim, mode) in [(&shadow, "shadow"), (&idle, "idle")] {
        let m = sim.metrics();
        let orders = Orders::of(&m);
        assert_eq!(
            (orders.requests, orders.errors, orders.count),
            (0.0, 0.0, 0.0),
            "{mode}"
        );
        assert!(
            m.samples
                .contains_key("sim_order_latency_seconds_bucket{le=\"+Inf\"}"),
            "{mode}"
        );
    }
}

#[test]
fn slow_fault_multiplies_latency_and_nothing_absolute_moves() {
    let sim = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_FAULT", "slow"),
        ("SIM_FAULT_AFTER_S", "1.5"),
    ]);
    // Requests from before the fault…
    let before =
        Orders::of(&sim.metrics_until(3.0, |m| m.value("sim_order_latency_seconds_count") >= 15.0));
    assert!(before.uptime < 1.5, "scraped too late: {before:?}");
    let healthy = before.sum / before.count;
    // …then two seconds of requests, all sent after it began.
    let start = Orders::of(&sim.metrics_until(4.0, |m| m.value("sim_uptime_seconds") >= 1.7));
    let m = sim.metrics_until(6.0, |m| m.value("sim_uptime_seconds") >= start.uptime + 2.0);
    let slow = Orders::of(&m).mean_since(&start);
    let ratio = slow / healthy;
    eprintln!("healthy {healthy:.5} s, slow {slow:.5} s: ×{ratio:.2}");
    assert!((3.3..4.7).contains(&ratio), "×{ratio}, default factor 4");
    // Healthy orders take 4 ms on average: slow ones 16.
    assert!((0.0144..0.0176).contains(&slow), "{slow}");
    assert_absolutes_healthy(&m, "slow");
    // Only latency: the error share and the request rate are as healthy.
    let orders = Orders::of(&m);
    assert!(
        orders.errors <= (orders.requests / 100.0).ceil(),
        "{orders:?}"
    );
    assert!(
        orders.requests >= 15.0 * orders.uptime.floor(),
        "{orders:?}"
    );
}

#[test]
fn errors_fault_raises_the_error_ratio() {
    let healthy = Sim::ready(&[("TRADE_MODE", "paper")]);
    let errors = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_FAULT", "errors"),
        ("SIM_FAULT_AFTER_S", "0"),
        ("SIM_FAULT_FACTOR", "10"),
    ]);
    let m = errors.metrics_until(4.0, |m| m.value("sim_order_requests_total") >= 40.0);
    let bad = Orders::of(&m);
    let ratio = bad.errors / bad.requests;
    assert!((0.07..=0.11).contains(&ratio), "{bad:?}: ratio {ratio}");
    assert_absolutes_healthy(&m, "errors");
    let mean = bad.sum / bad.count;
    assert!((0.003..0.005).contains(&mean), "latency as healthy: {mean}");

    let good = Orders::of(
        &healthy.metrics_until(4.0, |m| m.value("sim_order_requests_total") >= bad.requests),
    );
    assert!(good.errors / good.requests <= 0.011, "{good:?}");
}

#[test]
fn fills_fault_slows_fills() {
    let state = tempfile::tempdir().unwrap();
    let dirs = [state.path().join("good"), state.path().join("bad")];
    for dir in &dirs {
        std::fs::create_dir(dir).unwrap();
    }
    let healthy = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_STATE_DIR", dirs[0].to_str().unwrap()),
    ]);
    let fills = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_STATE_DIR", dirs[1].to_str().unwrap()),
        ("SIM_FAULT", "fills"),
        ("SIM_FAULT_AFTER_S", "0"),
        ("SIM_FAULT_FACTOR", "2"),
    ]);
    let bad = fills.metrics_until(6.0, |m| m.value("sim_uptime_seconds") >= 3.7);
    let good = healthy.metrics_until(6.0, |m| m.value("sim_uptime_seconds") >= 3.7);
    let (good_fills, bad_fills) = (good.value("sim_fills_total"), bad.value("sim_fills_total"));
    eprintln!("fills in 3.7 s: healthy {good_fills}, fills fault {bad_fills}");
    // Healthy: a fill every 0.5 s from 1 s on (6); one step in two trades
    // under the fault, and orders rest twice as long first (2).
    assert!(good_fills >= 5.0, "{good_fills}");
    assert!(
        bad_fills >= 1.0 && bad_fills * 2.0 <= good_fills,
        "{bad_fills}"
    );
    assert_absolutes_healthy(&bad, "fills");
    // The order stream is not the venue's fills: it flows as healthy.
    assert!(Orders::of(&bad).requests >= 60.0, "{:?}", Orders::of(&bad));
}

#[test]
fn a_closed_market_trades_nothing_and_answers_healthy() {
    let state = tempfile::tempdir().unwrap();
    let sim = Sim::ready(&[
        ("TRADE_MODE", "live"),
        ("EXECUTION_PLANE", "live"),
        ("SIM_SESSION", "closed"),
        ("SIM_STATE_DIR", state.path().to_str().unwrap()),
    ]);
    sim.wait_line(|l| l.starts_with("market closed: "), 3)
        .unwrap_or_else(|| panic!("{:?}", sim.lines()));
    // Long enough for an open market to have filled twice and sent 30
    // requests (and logged an order at once, on the live plane).
    let m = sim.metrics_until(4.0, |m| m.value("sim_uptime_seconds") >= 1.6);
    let orders = Orders::of(&m);
    assert_eq!(
        (orders.requests, orders.errors, orders.count, orders.sum),
        (0.0, 0.0, 0.0, 0.0),
        "{orders:?}"
    );
    assert_eq!(m.value("sim_fills_total"), 0.0);
    assert_eq!(m.value("sim_orders_total"), 0.0);
    assert_eq!(m.value("sim_pnl_usd"), 0.0, "flat");
    assert_absolutes_healthy(&m, "closed");
    assert!(m.value("sim_ticks_total") >= 10.0);
    assert_eq!(m.get("sim_open_orders"), Some(0.0), "the venue is read");
    sim.wait_line(|l| l.starts_with("strategy tick "), 3)
        .expect("the strategy still ticks");
    assert!(!sim.lines().iter().any(|l| l.starts_with("order executed")));
}

// ------------------------------------------------------------------ venue

/// `gantry ARGS` run to the end, with an empty environment.
fn gantry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .env_clear()
        .output()
        .expect("run gantry")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `gantry sim venue --state-dir DIR --json`, parsed.
fn venue_json(dir: &Path) -> serde_json::Value {
    let out = gantry(&[
        "sim",
        "venue",
        "--state-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// `gantry sim venue --state-dir DIR --check-flat`'s status and stderr.
fn check_flat(dir: &Path) -> (Option<i32>, String) {
    let out = gantry(&[
        "sim",
        "venue",
        "--state-dir",
        dir.to_str().unwrap(),
        "--check-flat",
    ]);
    (out.status.code(), text(&out.stderr))
}

fn flatten(dir: &Path) -> Output {
    gantry(&["sim", "flatten", "--state-dir", dir.to_str().unwrap()])
}

/// A sim on `dir` with `env`, waited on until the venue holds a position.
fn trading(dir: &Path, env: &[(&str, &str)]) -> Sim {
    let mut env = env.to_vec();
    env.extend([
        ("TRADE_MODE", "paper"),
        ("SIM_STATE_DIR", dir.to_str().unwrap()),
    ]);
    let sim = Sim::ready(&env);
    let metrics = sim.metrics_until(5.0, |m| {
        m.get("sim_position_notional_usd").is_some_and(|v| v > 0.0)
    });
    assert!(
        metrics
            .get("sim_position_notional_usd")
            .is_some_and(|v| v > 0.0),
        "no position within 5 s; log {:?}",
        sim.lines()
    );
    sim
}

fn stop(sim: &mut Sim) {
    sim.signal(libc::SIGTERM);
    let status = sim.wait_exit(Duration::from_secs(3)).expect("exited");
    assert!(status.success(), "{status:?}");
}

fn assert_flat_json(json: &serde_json::Value) {
    assert_eq!(json["open_orders"], 0, "{json}");
    assert_eq!(json["positions"], serde_json::json!([]), "{json}");
    assert_eq!(json["notional_usd"].as_f64(), Some(0.0), "{json}");
    assert_eq!(json["flat"], true, "{json}");
}

#[test]
fn positions_outlive_the_process_and_flatten_closes_them() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    let mut sim = trading(dir, &[]);
    let metrics = sim.metrics();
    for (name, kind) in [
        ("sim_open_orders", "gauge"),
        ("sim_position_notional_usd", "gauge"),
        ("sim_fills_total", "counter"),
    ] {
        assert!(metrics.help.iter().any(|h| h == name), "no HELP for {name}");
        assert!(
            metrics
                .types
                .contains(&(name.to_string(), kind.to_string())),
            "no TYPE {kind} for {name}"
        );
    }
    assert!(metrics.value("sim_fills_total") >= 1.0);
    let json = venue_json(dir);
    assert!(!json["positions"].as_array().unwrap().is_empty(), "{json}");
    assert!(json["notional_usd"].as_f64().unwrap() > 0.0, "{json}");
    let (code, stderr) = check_flat(dir);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("not flat: ") && stderr.contains("venue.json"),
        "{stderr}"
    );

    // SIGTERM is no flatten: the positions stay at the venue.
    stop(&mut sim);
    assert!(!sim.lines().iter().any(|l| l.contains("flatten")));
    let stopped = venue_json(dir);
    assert_eq!(stopped["flat"], false, "{stopped}");
    assert_eq!(check_flat(dir).0, Some(1));
    let bytes = std::fs::read(dir.join("venue.json")).unwrap();

    // A restarted service sees them (idle here, so it does not trade them).
    let again = Sim::ready(&[("SIM_STATE_DIR", dir.to_str().unwrap())]);
    let metrics = again.metrics_until(3.0, |m| m.get("sim_position_notional_usd").is_some());
    assert_eq!(
        metrics.get("sim_position_notional_usd"),
        stopped["notional_usd"].as_f64(),
        "{stopped}"
    );
    assert_eq!(
        metrics.get("sim_open_orders"),
        stopped["open_orders"].as_f64()
    );
    let positions = stopped["positions"].as_array().unwrap().len();
    let opened = format!(
        "venue opened path={}/venue.json open_orders={} positions={positions} ",
        dir.display(),
        stopped["open_orders"]
    );
    again
        .wait_line(|l| l.starts_with(&opened), 3)
        .unwrap_or_else(|| panic!("{opened}…: {:?}", again.lines()));
    drop(again);
    // It read the venue and changed nothing.
    assert_eq!(std::fs::read(dir.join("venue.json")).unwrap(), bytes);

    let out = flatten(dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "cancelled {} orders, closed {positions} positions\n",
            stopped["open_orders"]
        )),
        "{said}"
    );
    assert_flat_json(&venue_json(dir));
    assert_eq!(check_flat(dir), (Some(0), String::new()));
    let human = gantry(&["sim", "venue", "--state-dir", dir.to_str().unwrap()]);
    assert!(text(&human.stdout).contains("open orders  0\npositions    none\n"));
}

#[test]
fn the_venue_answers_a_flatten_as_the_release_set_it_up() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (fail, partial, slow) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let mut sims = vec![
        trading(fail, &[("SIM_FLATTEN", "fail")]),
        trading(partial, &[("SIM_FLATTEN", "partial")]),
        trading(slow, &[("SIM_FLATTEN", "slow"), ("SIM_FLATTEN_MS", "300")]),
    ];
    for sim in &mut sims {
        stop(sim);
    }

    // The kill script has no SIM_FLATTEN: the venue file says.
    let before = venue_json(fail);
    let out = flatten(fail);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "cancelled 0 orders, closed 0 positions\n"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("flatten refused by the venue")
            && stderr.contains(&format!("{}/venue.json", fail.display())),
        "{stderr}"
    );
    assert_eq!(
        venue_json(fail),
        before,
        "nothing cancelled, nothing closed"
    );
    assert_eq!(check_flat(fail).0, Some(1));

    let out = flatten(partial);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("flatten=partial"),
        "{}",
        text(&out.stderr)
    );
    let left = venue_json(partial);
    assert_eq!(left["open_orders"], 0, "{left}");
    assert_eq!(left["positions"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(check_flat(partial).0, Some(1));

    let started = Instant::now();
    let out = flatten(slow);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_flat_json(&venue_json(slow));
    assert_eq!(check_flat(slow).0, Some(0));

    // A rollback: the known-good release's sim starts and sets the account
    // right again; the kill script then works.
    let mut good = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_STATE_DIR", fail.to_str().unwrap()),
    ]);
    good.wait_line(|l| l.starts_with("venue opened "), 3)
        .expect("venue opened");
    stop(&mut good);
    let out = flatten(fail);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_flat_json(&venue_json(fail));
}

#[test]
fn no_venue_file_is_flat_and_a_bad_one_is_never_flat() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    assert_eq!(check_flat(dir), (Some(0), String::new()));
    assert_flat_json(&venue_json(dir));
    let out = flatten(dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("nothing open"));
    assert!(!dir.join("venue.json").exists());

    let file = dir.join("venue.json");
    let named = format!("{}: ", file.display());
    for (bytes, why) in [
        (&b"{\"format\": 1, \"orders\": ["[..], "not a venue file"),
        (&b"{\"format\": \"\xff\xfe\"}"[..], "not valid UTF-8"),
        (&b""[..], "not a venue file"),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let (code, stderr) = check_flat(dir);
        assert_eq!(code, Some(65), "{stderr}");
        assert!(stderr.contains(&named) && stderr.contains(why), "{stderr}");
        let out = flatten(dir);
        assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "left as it was");
    }

    // A running sim on a bad venue keeps serving, says so, shows no venue
    // series (no data, not flat) and leaves the file alone.
    let sim = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_STATE_DIR", dir.to_str().unwrap()),
    ]);
    sim.wait_line(
        |l| l.starts_with("venue unreadable: ") && l.contains(&named),
        3,
    )
    .unwrap_or_else(|| panic!("{:?}", sim.lines()));
    sim.wait_line(|l| l.starts_with("strategy tick "), 3)
        .expect("still trading");
    let metrics = sim.metrics();
    assert_eq!(metrics.get("sim_position_notional_usd"), None);
    assert_eq!(metrics.get("sim_open_orders"), None);
    assert_eq!(std::fs::read(&file).unwrap(), b"");

    let missing = dir.join("absent");
    let out = gantry(&[
        "sim",
        "venue",
        "--state-dir",
        missing.to_str().unwrap(),
        "--check-flat",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_venue_subcommands_sit_beside_the_service_flags() {
    let out = gantry(&["sim", "venue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--state-dir"),
        "{}",
        text(&out.stderr)
    );
    let out = gantry(&[
        "sim",
        "--listen",
        "127.0.0.1:0",
        "flatten",
        "--state-dir",
        "/tmp",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // SIM_FLATTEN is a knob like the others: the validate command checks it.
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("bad.env");
    std::fs::write(&release, "SIM_FLATTEN=sometimes\n").unwrap();
    let out = gantry(&["sim", "--validate-config", release.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        text(&out.stderr).contains(
            "bad.env: line 1: SIM_FLATTEN=sometimes is not one of ok, fail, partial, slow"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_venue_that_cannot_be_written_is_logged_and_the_service_goes_on() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    // Every durable write fails with ENOSPC, as on a full disk.
    let sim = Sim::ready(&[
        ("TRADE_MODE", "paper"),
        ("SIM_STATE_DIR", dir.to_str().unwrap()),
        ("GANTRY_DISK_FULL_AT", "1"),
    ]);
    let failed = format!(
        "venue write failed: cannot write {}/venue.json: ",
        dir.display()
    );
    sim.wait_line(|l| l.starts_with(&failed), 3)
        .unwrap_or_else(|| panic!("{failed}…: {:?}", sim.lines()));
    sim.wait_line(|l| l.starts_with("strategy tick "), 3)
        .expect("still trading");
    // Nothing reached the venue: it is flat, and says so once.
    let metrics = sim.metrics_until(1.0, |m| m.value("sim_ticks_total") >= 8.0);
    assert_eq!(metrics.get("sim_position_notional_usd"), Some(0.0));
    assert_eq!(metrics.value("sim_fills_total"), 0.0);
    let said = sim
        .lines()
        .iter()
        .filter(|l| l.starts_with(&failed))
        .count();
    assert_eq!(said, 1, "{:?}", sim.lines());
    assert_eq!(check_flat(dir).0, Some(0));
}

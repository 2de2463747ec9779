//! `gantry init DIR`: writes DIR/gantry.toml, a commented config that
//! doubles as the reference for every setting. With `--sim` the service is
//! `gantry sim` on a free loopback port, so the config runs as written.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;

use crate::agent::config::AgentConfig;
use crate::exit::{Code, fail};

mod container;
mod runbooks;
mod systemd;

pub struct InitArgs {
    pub dir: PathBuf,
    /// `--name`: the host's name, except with `--kind container`, where
    /// `--name` names the container (as the issue's CLI has it) and the
    /// host is `--host`.
    pub name: Option<String>,
    /// `--host`: the host's name, for every form.
    pub host: Option<String>,
    pub sim: bool,
    pub soak: Option<u64>,
    pub force: bool,
    /// `--kind`: the service's kind when not `--sim` (None: the default
    /// production form, a systemd unit named trading.service).
    pub kind: Option<ServiceArg>,
}

/// `--kind systemd --unit UNIT` or `--kind container --image REPO
/// [--engine docker|podman] [--name N]`.
#[derive(Debug, Clone)]
pub enum ServiceArg {
    Systemd {
        unit: String,
    },
    Container {
        image: String,
        engine: Option<String>,
        /// The container's name (default: the repository's last component).
        name: Option<String>,
    },
}

pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    let path = write(args)?;
    println!("wrote {}", path.display());
    if args.sim {
        println!(
            "next: gantry agent --config {0}\n      gantry ctl --config {0} submit {1}/examples/good.env --reason \"first deploy\"",
            path.display(),
            args.dir.display()
        );
    }
    Ok(())
}

/// Writes the config (and, with --sim, example releases); returns its path.
pub fn write(args: &InitArgs) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&args.dir).map_err(|e| {
        fail(
            Code::Failed,
            format!("cannot create {}: {e}", args.dir.display()),
        )
    })?;
    let path = args.dir.join("gantry.toml");
    if path.exists() && !args.force {
        return Err(fail(
            Code::Refused,
            format!("{} exists; pass --force to overwrite it", path.display()),
        ));
    }
    let container = matches!(args.kind, Some(ServiceArg::Container { .. }));
    let given = match (&args.host, &args.name) {
        (Some(h), Some(n)) if !container && h != n => {
            return Err(fail(
                Code::Usage,
                format!("--host {h:?} and --name {n:?} both name the host: give one"),
            ));
        }
        (Some(h), _) => Some(h),
        (None, n) if !container => n.as_ref(),
        (None, _) => None,
    };
    let name = match given {
        Some(n) => n.clone(),
        None => hostname(),
    };
    let flag = if args.host.is_some() || container {
        "--host"
    } else {
        "--name"
    };
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(fail(
            Code::Usage,
            format!("{flag} {name:?} is not a usable host name"),
        ));
    }
    let text = match (&args.kind, args.sim) {
        (_, true) => sim_config(&name, args.soak.unwrap_or(10))?,
        (Some(ServiceArg::Systemd { unit }), false) => {
            if unit.is_empty()
                || unit.starts_with('-')
                || unit
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
            {
                return Err(fail(
                    Code::Usage,
                    format!("--unit {unit:?} is not a systemd unit name"),
                ));
            }
            systemd::config(&name, args.soak, unit)
        }
        (
            Some(ServiceArg::Container {
                image,
                engine,
                name: c,
            }),
            false,
        ) => {
            let engine = engine.as_deref().unwrap_or("docker");
            if !matches!(engine, "docker" | "podman") {
                return Err(fail(
                    Code::Usage,
                    format!("--engine {engine:?} is not docker or podman"),
                ));
            }
            if let Err(why) = crate::agent::config::container::repository(image) {
                return Err(fail(Code::Usage, format!("--image {image:?} {why}")));
            }
            let c = c.clone().unwrap_or_else(|| container::default_name(image));
            if !crate::agent::config::container::container_name(&c) {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "--name {c:?} is not a container name (letters, digits, '_', '.', '-')"
                    ),
                ));
            }
            let spec = container::ContainerArgs {
                image,
                engine,
                name: &c,
            };
            container::config(&name, args.soak, &spec)
        }
        (None, false) => plain_config(&name, args.soak),
    };
    // The file must load exactly as the agent will load it.
    AgentConfig::parse(&path, &text).map_err(|e| {
        fail(
            Code::Failed,
            format!("internal: generated config does not load: {e}"),
        )
    })?;
    crate::durable::write_atomic(&path, text.as_bytes())?;
    runbooks::write(&args.dir)?;
    if args.sim {
        let examples = args.dir.join("examples");
        std::fs::create_dir_all(&examples)?;
        for (file, body) in EXAMPLES {
            crate::durable::write_atomic(&examples.join(file), body.as_bytes())?;
        }
    }
    Ok(path)
}

const EXAMPLES: [(&str, &str); 9] = [
    (
        "good.env",
        "# A healthy release.\nSTRATEGY=mean_reversion\nMAX_POSITION_USD=25000\nSIM_PNL_DRIFT=5\n",
    ),
    (
        "good-v2.env",
        "# Another healthy release (a drill needs two).\nSTRATEGY=mean_reversion\nMAX_POSITION_USD=30000\nSIM_PNL_DRIFT=6\n",
    ),
    (
        "bad-crash.env",
        "# Crashes one second after start: the gate rolls it back.\nSTRATEGY=momentum\nSIM_FAULT=crash\nSIM_FAULT_AFTER_S=1\n",
    ),
    (
        "smoke-forbidden.env",
        "# Logs a forbidden line after idle: a smoke deploy fails on it.\nSTRATEGY=momentum\nSIM_LOG_LINE=order executed BTC-PERP 1.0 @ 100\n",
    ),
    (
        "smoke-never-idle.env",
        "# Never reaches idle: a smoke deploy times out waiting for it.\nSTRATEGY=momentum\nSIM_NEVER_IDLE=1\n",
    ),
    (
        "bad-drawdown.env",
        "# Breaches its drawdown budget 1.5 s after each start: shadow does not watch drawdown, paper does.\nSTRATEGY=momentum\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S=1.5\n",
    ),
    (
        "bad-slow.env",
        "# Orders four times slower than the known-good's: every fixed limit passes; the baseline check rolls it back.\nSTRATEGY=momentum\nSIM_FAULT=slow\nSIM_FAULT_AFTER_S=0\n",
    ),
    (
        "market-closed.env",
        "# The market is closed: nothing trades, so a soak on market evidence waits.\nSTRATEGY=momentum\nSIM_SESSION=closed\n",
    ),
    (
        "market-opens.env",
        "# The market is closed for the first 5 s of each start, then trades: the soak waits, then completes.\nSTRATEGY=momentum\nSIM_SESSION=closed\nSIM_SESSION_OPENS_AFTER_S=5\n",
    ),
];

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A loopback port free now and not handed out before by this process:
/// the demo writes many configs before any sim binds its port.
fn free_loopback_port() -> anyhow::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return Ok(port);
        }
    }
}

fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

fn sim_config(name: &str, soak: u64) -> anyhow::Result<String> {
    let exe = std::env::current_exe()?;
    let exe = exe.display().to_string();
    let port = free_loopback_port()?;
    let mut t = String::new();
    let _ = write!(
        t,
        r#"# gantry agent config for host {name}: a simulated trading service.
# Every key is documented in docs/config.md. Relative paths are relative to
# this file's directory. No hot reload: restart the agent after an edit.

[host]
name = {name_q}
# releases/, current.env, previous.env, stage.env, deploy_state.json,
# audit.jsonl and agent.sock live here.
state_dir = "."

[service]
# "command": the agent starts the process itself with current.env then
# stage.env as its environment, restarts it per stage, stops it on estop.
# "systemd": `systemctl restart/stop` of `unit` (see docs/gantry-service.example).
kind = "command"
command = [{exe_q}, "sim", "--listen", "127.0.0.1:{port}"]
stop_timeout_s = 5
# The service writes service.log itself; past log_max_size the agent moves
# it to service.log.1 (older ones to .2 … log_keep) without losing a line.
log_max_size = "100MB"
log_keep = 5

[validate]
# Runs on every candidate before anything is touched; {{env}} is a copy of
# the release under candidates/ (0600). Non-zero exit rejects the candidate.
command = [{exe_q}, "sim", "--validate-config", "{{env}}"]
timeout_s = 10

[kill]
# The emergency stop: the agent stops the service, runs `command` (cancel
# every order, close every position at market), then polls `verify` until
# it exits 0 (nothing open at the venue) or verify_timeout_s passes. Both
# run in the state dir with GANTRY_HOST, GANTRY_REASON and GANTRY_RELEASE
# set. Here the venue is the sim's (docs/sim.md#the-venue).
command = [{exe_q}, "sim", "flatten", "--state-dir", "."]
timeout_s = 10
verify = [{exe_q}, "sim", "venue", "--state-dir", ".", "--check-flat"]
verify_timeout_s = 10
verify_interval_ms = 100

[pipeline]
watch_s = 3600                      # post-deploy watch window of live
require_approval_for_live = true    # canary → live waits for `gantry ctl approve`
require_distinct_approver = false   # true: the submitter may not approve
verify_timeout_s = 15               # a restarted known-good must answer healthy within this
escalate_after_s = [900, 3600]     # an approval waiting this long pages P1, once per threshold

[pipeline.soak_s]
shadow = {soak}
paper = {soak}
canary = {soak}

# A soak on market evidence, not elapsed time: paper and canary each need
# this many new fills, and their clock stands still (the screen says why)
# while no fill arrives for quiet_s. Keep quiet_s under the checks'
# stale_after_s: a series that needs trades (order latency) then pauses
# with the soak instead of failing as stale. Trading hours may be set too:
#   [pipeline.sessions]
#   zone = "America/New_York"
#   weekly = {{ days = ["mon", "tue", "wed", "thu", "fri"], from = "09:30", to = "16:00" }}
[pipeline.evidence]
metric = "sim_fills_total"
min_per_stage = {{ paper = 2, canary = 2 }}
quiet_s = 2

# 50 ms between samples: a P0 breach is seen within 50 ms, and the
# known-good answers healthy about 100 ms after the fault at worst
# (docs/benchmarks.md); a sample costs about 40 µs of the agent's time.
[probe]
url = "http://127.0.0.1:{port}/metrics"
interval_ms = 50
timeout_ms = 500

# Checks: the value of `metric` (a series, a rate, a ratio or a quantile)
# must satisfy `op limit` or `between = [lo, hi]`, or hold against a
# baseline. P0 fails the gate at once, P1 after `consecutive` failures in a
# row. A series that is missing for `stale_after_s` fails the gate: no data
# is never a pass. `action = "warn"` pages instead of rolling back;
# `"observe"` only shows. process_alive (P0, every stage) is built in
# (docs/config.md).

[releases]
# Keys whose values a release diff may show, to viewers too; every other
# value is masked (an allow-list: DATABASE_URL or MNEMONIC look harmless).
public_keys = ["STRATEGY", "MAX_POSITION_USD", "SIM_PNL_DRIFT", "SIM_FAULT", "SIM_FAULT_AFTER_S"]

[smoke]
# `gantry ctl smoke ENVFILE`: the release runs once with EXECUTION_PLANE=paper
# and no TRADE_MODE; its log (service.log) must show these phases in order
# (regular expressions) and no forbidden line, within timeout_s.
phases = ["starting", "environment validated", "persistence mounted", "replay started", "orchestrator initialized", "idle reached"]
forbidden = ["order executed", "strategy tick", "fatal"]
timeout_s = 10

{runbooks}[[check]]
name = "telemetry_fresh"
metric = "sim_last_tick_age_seconds"
op = "<"
limit = 2
severity = "P1"
stages = ["shadow", "paper", "canary", "live"]
consecutive = 3
stale_after_s = 3

[[check]]
name = "no_kill_events"
metric = "sim_kill_events_total"
op = "=="
limit = 0
severity = "P0"
stages = ["shadow", "paper", "canary", "live"]
stale_after_s = 3
runbook = "runbooks/circuit-breaker.md"

[[check]]
name = "pnl_in_band"
metric = "sim_pnl_usd"
op = ">="
limit = 0
severity = "P1"
stages = ["paper", "canary", "live"]
consecutive = 3
stale_after_s = 3

[[check]]
name = "drawdown_budget"
metric = "sim_drawdown_pct"
op = "<"
limit = 3
severity = "P0"
stages = ["paper", "canary", "live"]
stale_after_s = 3
runbook = "runbooks/circuit-breaker.md"

[[check]]
name = "no_canary_breach"
metric = "sim_canary_breaches_total"
op = "=="
limit = 0
severity = "P0"
stages = ["canary", "live"]
stale_after_s = 3

[[check]]
name = "reconciliation_clean"
metric = "sim_recon_mismatches_total"
op = "=="
limit = 0
severity = "P0"
stages = ["canary", "live"]
stale_after_s = 3
runbook = "runbooks/positions-not-reconciling.md"

# Judged against a baseline, not a fixed number: the known-good release's
# own p99 order latency on this host, recorded while it served. A release
# four times slower passes every fixed limit above and fails here. Thin
# evidence holds the soak up to max_extend_s, then fails closed.
[[check]]
name = "order_latency_vs_known_good"
metric = "histogram_quantile(0.99, rate(sim_order_latency_seconds_bucket[2s]))"
baseline = "known_good"
max_ratio = 2
direction = "increase"
min_samples = 5
max_extend_s = 30
severity = "P0"
stages = ["paper", "canary", "live"]
stale_after_s = 3
runbook = "runbooks/high-latency.md"

# A counter as a rate: the share of orders the venue rejected. A warning
# pages (P2) and shows; the deploy goes on.
[[check]]
name = "order_error_ratio"
metric = "rate(sim_order_errors_total[5s]) / rate(sim_order_requests_total[5s])"
op = "<"
limit = 0.03
action = "warn"
severity = "P1"
stages = ["paper", "canary", "live"]
stale_after_s = 10

# A dry run of a new check: evaluated and shown, never acted on.
[[check]]
name = "fill_rate"
metric = "rate(sim_fills_total[5s])"
op = ">"
limit = 0.5
action = "observe"
severity = "P1"
stages = ["paper", "canary", "live"]
"#,
        name_q = toml_str(name),
        exe_q = toml_str(&exe),
        runbooks = runbooks::SECTION,
    );
    Ok(t)
}

fn plain_config(name: &str, soak: Option<u64>) -> String {
    systemd::config(name, soak, "trading.service")
}

/// The gates of a production template (`--kind systemd|container`): the
/// pipeline, soaks, the probe and two checks to edit.
fn production_gates(soak: Option<u64>) -> String {
    let (shadow, paper, canary) = match soak {
        Some(s) => (s, s, s),
        None => (300, 600, 900),
    };
    format!(
        r#"[pipeline]
watch_s = 3600
require_approval_for_live = true
require_distinct_approver = true
verify_timeout_s = 30
escalate_after_s = [900, 3600]     # an approval waiting this long pages P1, once per threshold

[pipeline.soak_s]
shadow = {shadow}
paper = {paper}
canary = {canary}

[probe]
url = "http://127.0.0.1:9100/metrics"
interval_ms = 1000
timeout_ms = 500

{runbooks}[[check]]
name = "telemetry_fresh"
metric = "last_tick_age_seconds"
op = "<"
limit = 30
severity = "P1"
consecutive = 3
stale_after_s = 30

[[check]]
name = "no_kill_events"
metric = "kill_events_total"
op = "=="
limit = 0
severity = "P0"
stale_after_s = 30
runbook = "runbooks/circuit-breaker.md"
"#,
        runbooks = runbooks::SECTION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_templates_load() {
        let dir = tempfile::tempdir().unwrap();
        for sim in [false, true] {
            let args = InitArgs {
                dir: dir.path().join(if sim { "sim" } else { "plain" }),
                name: Some("lab-1".into()),
                host: None,
                sim,
                soak: Some(3),
                force: false,
                kind: None,
            };
            let path = write(&args).unwrap();
            // The plain template names /usr/local/bin/trader, which this
            // machine lacks: it parses, and load refuses it by field.
            let config = if sim {
                AgentConfig::load(&path).unwrap()
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                let e = AgentConfig::load(&path).unwrap_err().message;
                assert!(e.contains("validate.command"), "{e}");
                AgentConfig::parse(&path, &text).unwrap()
            };
            assert_eq!(config.host, "lab-1");
            assert_eq!(config.pipeline.soak_ms, [3000; 3]);
            assert!(
                write(&args).is_err(),
                "refuses to overwrite without --force"
            );
        }
    }
}

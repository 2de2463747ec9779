//! gantry.toml: the agent's configuration, read strictly.
//!
//! Unknown keys, NaN limits, expressions that do not parse and unknown
//! stage names are refused with the file and the field named, before the
//! agent touches anything.

mod checks;
pub mod container;
mod fields;
mod file;
mod market;
pub mod runbooks;

pub use market::Evidence;

use fields::{executable, io_reason, seconds_field, smoke_config};

pub use file::{
    CheckSection, CommandSection, File, HostSection, KillSection, PipelineSection, ProbeSection,
    ReleasesSection, ServiceSection, SmokeSection, SoakSection,
};

use std::path::{Path, PathBuf};

use crate::exit::{Code, Exit};
use crate::pipeline::{self, CheckSpec};
use crate::prom::query::Query;

/// The service the agent runs and watches.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceKind {
    Command {
        argv: Vec<String>,
        /// When service.log is cut back, and how many cut-off files stay.
        log: LogLimits,
    },
    Systemd {
        unit: String,
        /// argv prefixes: `systemctl ARGS…` runs as `systemctl[..] ARGS…`.
        systemctl: Vec<String>,
        journalctl: Vec<String>,
    },
    /// A container the agent runs with `docker`/`podman run`.
    Container(container::ContainerSpec),
}

/// A configured check with its parsed expression (none for the built-in
/// `process_alive`).
#[derive(Debug, Clone)]
pub struct Check {
    pub spec: CheckSpec,
    pub query: Option<Query>,
    /// The expression as written.
    pub expr: String,
}

/// The verify command: exit 0 means nothing is open at the venue.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyConfig {
    pub argv: Vec<String>,
    pub timeout_ms: u64,
    pub interval_ms: u64,
}

/// The built-in check every config has, first: the service's process.
pub const PROCESS_ALIVE: &str = "process_alive";

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub path: PathBuf,
    pub host: String,
    pub state_dir: PathBuf,
    pub service: ServiceKind,
    pub stop_timeout_ms: u64,
    pub validate: Option<(Vec<String>, u64)>,
    pub kill: Option<(Vec<String>, u64)>,
    /// `[kill] verify`: proves the venue flat after the kill command.
    pub verify: Option<VerifyConfig>,
    pub probe_url: String,
    pub probe_interval_ms: u64,
    pub probe_timeout_ms: u64,
    /// Checks in pipeline order: `process_alive` first, then the file's.
    pub checks: Vec<Check>,
    pub pipeline: pipeline::Config,
    /// `[pipeline.evidence]`: the counter a soak needs to see grow.
    pub evidence: Option<Evidence>,
    /// `[pipeline.sessions]`: when the market trades.
    pub session: Option<super::freeze::Window>,
    /// `[[freeze]]` windows, in file order (docs/freeze-and-alerts.md).
    pub freezes: Vec<super::freeze::Window>,
    /// `[alerts]`: webhooks by priority; without it, alerts.jsonl only.
    pub alerts: super::notify::AlertsConfig,
    /// `[http]`: /metrics and the JSON API (docs/http.md); None is off.
    pub http: Option<super::http::HttpConfig>,
    /// `[releases] public_keys`: values a release diff shows.
    pub public_keys: Vec<String>,
    /// `ctl smoke`: what the startup log must show, in order, and must not.
    pub smoke: Option<SmokeConfig>,
    /// The runbooks checks and `[runbooks]` name.
    pub runbooks: runbooks::Runbooks,
}

impl AgentConfig {
    /// Reads and validates `path` for the agent that will run it: the
    /// text, then [`check_on_disk`](Self::check_on_disk). Every error is an
    /// [`Exit`] with status 78 naming the file and the field.
    pub fn load(path: &Path) -> Result<Self, Exit> {
        let config = Self::read(path)?;
        config.check_on_disk()?;
        Ok(config)
    }

    /// Reads and validates the text only, without the checks on disk (a
    /// client needs only the socket: see `agent_socket`).
    pub fn read(path: &Path) -> Result<Self, Exit> {
        let text = crate::agent_socket::read_text(path)?;
        Self::parse(path, &text)
    }

    /// What [`parse`](Self::parse) cannot see from the text alone: the
    /// state dir exists, and every command's argv[0] is an executable
    /// file, resolved as the agent will run it (cwd the state dir, PATH
    /// searched for a bare name, as execvp does). Without this, a kill
    /// command of `/etc/passwd` loads and fails only when estop needs it.
    pub fn check_on_disk(&self) -> Result<(), Exit> {
        let bad = |message: String| {
            Exit::new(
                Code::Config,
                format!("{}: {}", self.path.display(), crate::text::inert(&message)),
            )
        };
        match std::fs::metadata(&self.state_dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(bad(format!(
                    "host.state_dir: {} is not a directory",
                    self.state_dir.display()
                )));
            }
            Err(e) => {
                // Not created silently: a typo here would otherwise start a
                // fresh agent with no history beside the real one.
                return Err(bad(format!(
                    "host.state_dir: {} cannot be used ({}); create it with `gantry init DIR` or `mkdir -p {}`",
                    self.state_dir.display(),
                    io_reason(&e),
                    self.state_dir.display()
                )));
            }
        }
        let mut commands: Vec<(&str, &[String])> = Vec::new();
        match &self.service {
            ServiceKind::Command { argv, .. } => commands.push(("service.command", argv)),
            ServiceKind::Systemd {
                systemctl,
                journalctl,
                ..
            } => {
                commands.push(("service.systemctl", systemctl));
                commands.push(("service.journalctl", journalctl));
            }
            // The engine is looked for at each candidate, not here: an
            // agent whose engine went missing must still start, show the
            // host and stop what it can (service/container.rs).
            ServiceKind::Container(_) => {}
        }
        if let Some((argv, _)) = &self.validate {
            commands.push(("validate.command", argv));
        }
        if let Some((argv, _)) = &self.kill {
            commands.push(("kill.command", argv));
        }
        if let Some(verify) = &self.verify {
            commands.push(("kill.verify", &verify.argv));
        }
        for (field, argv) in commands {
            executable(argv, &self.state_dir).map_err(|why| bad(format!("{field}: {why}")))?;
        }
        self.runbooks.check_on_disk().map_err(bad)?;
        Ok(())
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, Exit> {
        // Messages quote names and values from the file: made inert here,
        // so no escape in a check's name reaches a terminal or a log raw.
        let bad = |message: String| {
            Exit::new(
                Code::Config,
                format!("{}: {}", path.display(), crate::text::inert(&message)),
            )
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let (line, message) = crate::text::toml_error(text, &e);
            bad(format!("line {line}: {message}"))
        })?;

        if file.host.name.trim().is_empty() {
            return Err(bad("host.name: must not be empty".into()));
        }
        let state_dir = crate::agent_socket::state_dir(path, &file.host.state_dir);

        let service = match file.service.kind.as_str() {
            "command" => {
                if file.service.command.is_empty() {
                    return Err(bad(
                        "service.command: a command service needs its argv, e.g. [\"/usr/bin/trader\", \"--flag\"]".into(),
                    ));
                }
                for (field, given) in [
                    ("systemctl", &file.service.systemctl),
                    ("journalctl", &file.service.journalctl),
                ] {
                    if given.is_some() {
                        return Err(bad(format!(
                            "service.{field}: only a systemd service (kind = \"systemd\") runs {field}"
                        )));
                    }
                }
                ServiceKind::Command {
                    argv: file.service.command.clone(),
                    log: log_limits(&file.service).map_err(&bad)?,
                }
            }
            "systemd" => {
                let unit = match &file.service.unit {
                    Some(unit) if !unit.trim().is_empty() => unit.clone(),
                    _ => {
                        return Err(bad(
                            "service.unit: a systemd service needs its unit name, e.g. \"trading.service\"".into()
                        ));
                    }
                };
                // The unit name goes to systemctl as one argument: a name
                // that looks like an option, or carries a space or a
                // control character, would mean something else there.
                if unit.starts_with('-')
                    || unit.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(bad(format!("service.unit: {unit:?} is not a unit name")));
                }
                let prefix = |field: &str, given: &Option<Vec<String>>, default: &str| match given {
                    None => Ok(vec![default.to_string()]),
                    Some(argv) if argv.is_empty() || argv[0].is_empty() => Err(bad(format!(
                        "service.{field}: must name a program, e.g. [\"{default}\"]"
                    ))),
                    Some(argv) => Ok(argv.clone()),
                };
                ServiceKind::Systemd {
                    unit,
                    systemctl: prefix("systemctl", &file.service.systemctl, "systemctl")?,
                    journalctl: prefix("journalctl", &file.service.journalctl, "journalctl")?,
                }
            }
            "container" => ServiceKind::Container(container::spec(&file.service).map_err(&bad)?),
            other => {
                return Err(bad(format!(
                    "service.kind: {other:?} is not \"command\", \"systemd\" or \"container\""
                )));
            }
        };
        let log_keeper = match &service {
            ServiceKind::Command { .. } => None,
            ServiceKind::Systemd { .. } => {
                Some("journald keeps a unit's journal to size (SystemMaxUse= in journald.conf)")
            }
            ServiceKind::Container(_) => {
                Some("the container engine keeps a container's log (its log driver's max-size)")
            }
        };
        if let Some(keeper) = log_keeper {
            for (field, given) in [
                ("log_max_size", file.service.log_max_size.is_some()),
                ("log_keep", file.service.log_keep.is_some()),
            ] {
                if given {
                    return Err(bad(format!(
                        "service.{field}: only a command service writes service.log; {keeper}"
                    )));
                }
            }
        }
        if !matches!(service, ServiceKind::Container(_)) {
            let s = &file.service;
            for (field, given) in [
                ("engine", s.engine.is_some()),
                ("name", s.name.is_some()),
                ("image", s.image.is_some()),
                ("volumes", s.volumes.is_some()),
                ("network", s.network.is_some()),
            ] {
                if given {
                    return Err(bad(format!(
                        "service.{field}: only a container service (kind = \"container\") has {field}"
                    )));
                }
            }
        }
        let stop_timeout_ms =
            seconds_field("service.stop_timeout_s", file.service.stop_timeout_s).map_err(&bad)?;
        let command = |name: &str,
                       section: &Option<CommandSection>|
         -> Result<Option<(Vec<String>, u64)>, Exit> {
            match section {
                None => Ok(None),
                Some(s) if s.command.is_empty() => {
                    Err(bad(format!("{name}.command: must not be empty")))
                }
                Some(s) => Ok(Some((
                    s.command.clone(),
                    seconds_field(&format!("{name}.timeout_s"), s.timeout_s).map_err(&bad)?,
                ))),
            }
        };
        let validate = command("validate", &file.validate)?;
        let (kill, verify) = match &file.kill {
            None => (None, None),
            Some(k) => {
                let argv = |field: &str, argv: &Option<Vec<String>>| match argv {
                    Some(argv) if argv.is_empty() => {
                        Err(bad(format!("kill.{field}: must not be empty")))
                    }
                    other => Ok(other.clone()),
                };
                let kill = match argv("command", &k.command)? {
                    Some(argv) => Some((
                        argv,
                        seconds_field("kill.timeout_s", k.timeout_s).map_err(&bad)?,
                    )),
                    None => None,
                };
                let verify = match argv("verify", &k.verify)? {
                    Some(argv) => {
                        if k.verify_interval_ms == 0 {
                            return Err(bad("kill.verify_interval_ms: must be above 0".into()));
                        }
                        Some(VerifyConfig {
                            argv,
                            timeout_ms: seconds_field("kill.verify_timeout_s", k.verify_timeout_s)
                                .map_err(&bad)?,
                            interval_ms: k.verify_interval_ms,
                        })
                    }
                    None => None,
                };
                if kill.is_none() && verify.is_none() {
                    return Err(bad(
                        "[kill]: names neither a command nor a verify command".into()
                    ));
                }
                (kill, verify)
            }
        };

        let p = &file.pipeline;
        let soak_ms = [
            seconds_field("pipeline.soak_s.shadow", p.soak_s.shadow).map_err(&bad)?,
            seconds_field("pipeline.soak_s.paper", p.soak_s.paper).map_err(&bad)?,
            seconds_field("pipeline.soak_s.canary", p.soak_s.canary).map_err(&bad)?,
        ];
        let watch_ms = seconds_field("pipeline.watch_s", p.watch_s).map_err(&bad)?;
        let verify_timeout_ms =
            seconds_field("pipeline.verify_timeout_s", p.verify_timeout_s).map_err(&bad)?;
        let mut escalate_after_ms = Vec::with_capacity(p.escalate_after_s.len());
        for (i, s) in p.escalate_after_s.iter().enumerate() {
            let field = format!("pipeline.escalate_after_s[{i}]");
            let ms = seconds_field(&field, *s).map_err(&bad)?;
            if escalate_after_ms.last().is_some_and(|last| ms <= *last) {
                return Err(bad(format!(
                    "{field}: {s} is not after the threshold before it; list them ascending"
                )));
            }
            escalate_after_ms.push(ms);
        }
        if escalate_after_ms.len() > 5 {
            return Err(bad(format!(
                "pipeline.escalate_after_s: {} thresholds; at most 5",
                escalate_after_ms.len()
            )));
        }

        if !(file.probe.url.starts_with("http://") || file.probe.url.starts_with("https://")) {
            return Err(bad(format!(
                "probe.url: {:?} is not an http(s) URL",
                file.probe.url
            )));
        }
        if file.probe.interval_ms == 0 {
            return Err(bad("probe.interval_ms: must be above 0".into()));
        }
        if file.probe.timeout_ms == 0 {
            return Err(bad("probe.timeout_ms: must be above 0".into()));
        }

        let checks = checks::parse(&file.checks, file.probe.interval_ms).map_err(&bad)?;
        let evidence = p
            .evidence
            .as_ref()
            .map(market::evidence)
            .transpose()
            .map_err(&bad)?;
        let session = p
            .sessions
            .as_ref()
            .map(market::sessions)
            .transpose()
            .map_err(&bad)?;

        let pipeline = pipeline::Config {
            soak_ms,
            watch_ms,
            require_approval_for_live: p.require_approval_for_live,
            require_distinct_approver: p.require_distinct_approver,
            checks: checks.iter().map(|c| c.spec.clone()).collect(),
            // Three missed samples and the interval no longer counts.
            max_sample_gap_ms: file.probe.interval_ms.saturating_mul(3).max(1000),
            verify_timeout_ms,
            evidence: evidence.as_ref().map(|e| e.rule.clone()),
            escalate_after_ms,
        };
        Ok(Self {
            path: path.to_path_buf(),
            host: file.host.name.clone(),
            state_dir,
            service,
            stop_timeout_ms,
            validate,
            kill,
            verify,
            probe_url: file.probe.url.clone(),
            probe_interval_ms: file.probe.interval_ms,
            probe_timeout_ms: file.probe.timeout_ms,
            checks,
            pipeline,
            evidence,
            session,
            freezes: super::freeze::parse_all(&file.freezes).map_err(&bad)?,
            alerts: file
                .alerts
                .as_ref()
                .map(super::notify::AlertsConfig::parse)
                .transpose()
                .map_err(&bad)?
                .unwrap_or_default(),
            http: file
                .http
                .as_ref()
                .map(super::http::HttpConfig::from_section)
                .transpose()
                .map_err(&bad)?,
            smoke: smoke_config(&file.smoke).map_err(&bad)?,
            public_keys: file.releases.public_keys.clone(),
            runbooks: runbooks::parse(&file.checks, file.runbooks.as_ref(), path).map_err(&bad)?,
        })
    }

    pub fn socket_path(&self) -> PathBuf {
        crate::agent_socket::socket_in(&self.state_dir)
    }
}

#[derive(Debug, Clone)]
pub struct SmokeConfig {
    pub phases: Vec<(String, regex_lite::Regex)>,
    pub forbidden: Vec<(String, regex_lite::Regex)>,
    pub timeout_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[host]
name = "lab-1"
state_dir = "."
[service]
kind = "command"
command = ["gantry", "sim"]
[probe]
url = "http://127.0.0.1:9187/metrics"
[[check]]
name = "drawdown"
metric = "sim_drawdown_pct"
op = "<"
limit = 3
severity = "P0"
stages = ["paper", "canary", "live"]
"#;

    fn err(text: &str) -> String {
        AgentConfig::parse(Path::new("/etc/gantry/gantry.toml"), text)
            .unwrap_err()
            .message
    }

    #[test]
    fn good_config_parses_with_process_alive_first() {
        let config = AgentConfig::parse(Path::new("/tmp/x/gantry.toml"), GOOD).unwrap();
        assert_eq!(config.checks[0].spec.name, PROCESS_ALIVE);
        assert_eq!(config.checks[1].spec.stages.len(), 3);
        assert_eq!(config.pipeline.soak_ms, [300_000, 600_000, 900_000]);
    }

    /// Loads GOOD with `edit` applied, from a temp dir that is its state dir.
    fn load_err(edit: impl Fn(&str) -> String) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gantry.toml");
        let text = edit(&GOOD.replace(
            "[\"gantry\", \"sim\"]",
            "[\"sh\", \"-c\", \"exec sleep 1\"]",
        ));
        std::fs::write(&path, text).unwrap();
        match AgentConfig::load(&path) {
            Ok(_) => String::new(),
            Err(e) => e.message,
        }
    }

    #[test]
    fn commands_must_be_executable_at_load() {
        assert_eq!(load_err(|t| t.to_string()), "", "sh on PATH loads");
        let e = load_err(|t| {
            format!("{t}\n[kill]\ncommand = [\"/etc/passwd\", \"--token\", \"s3cret\"]\n")
        });
        assert!(
            e.ends_with("kill.command: \"/etc/passwd\" is not executable"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "arguments are never quoted: {e}");
        let e = load_err(|t| format!("{t}\n[kill]\ncommand = [\"/tmp\"]\n"));
        assert!(
            e.contains("kill.command: \"/tmp\" is not a regular file"),
            "{e}"
        );
        let e = load_err(|t| format!("{t}\n[kill]\ncommand = [\"\"]\n"));
        assert!(e.contains("kill.command: is empty"), "{e}");
        let e = load_err(|t| format!("{t}\n[kill]\ncommand = []\n"));
        assert!(e.contains("kill.command: must not be empty"), "{e}");
        let e = load_err(|t| format!("{t}\n[validate]\ncommand = [\"no-such-validator-x\"]\n"));
        assert!(
            e.contains(
                "validate.command: \"no-such-validator-x\" is not an executable file on PATH"
            ),
            "{e}"
        );
        let e = load_err(|t| t.replace("[\"sh\", \"-c\"", "[\"./trader\", \"-c\""));
        assert!(
            e.contains("service.command: \"./trader\" it does not exist"),
            "{e}"
        );
        // Escapes in argv[0] are inert in the message.
        let e = load_err(|t| format!("{t}\n[kill]\ncommand = [\"/x\\u001b[2J\"]\n"));
        assert!(e.contains("kill.command:") && !e.contains('\x1b'), "{e:?}");
    }

    #[test]
    fn service_log_limits_read_sizes_and_refuse_what_cannot_work() {
        let parse = |extra: &str| {
            AgentConfig::parse(
                Path::new("/etc/gantry/gantry.toml"),
                &GOOD.replace("[service]\n", &format!("[service]\n{extra}\n")),
            )
        };
        let limits = |extra: &str| match parse(extra).unwrap().service {
            ServiceKind::Command { log, .. } => log,
            other => panic!("{other:?}"),
        };
        assert_eq!(limits(""), LogLimits::default());
        assert_eq!(limits("log_max_size = \"100MB\"").max_bytes, 100_000_000);
        assert_eq!(limits("log_max_size = \"512 KiB\"").max_bytes, 524_288);
        let set = limits("log_max_size = \"1.5GB\"\nlog_keep = 2");
        assert_eq!((set.max_bytes, set.keep), (1_500_000_000, 2));
        for bad in ["\"12\"", "\"10 parsecs\"", "\"\"", "\"-5MB\""] {
            let e = parse(&format!("log_max_size = {bad}")).unwrap_err().message;
            assert!(
                e.contains("service.log_max_size:") && e.contains("e.g. \"100MB\""),
                "{e}"
            );
        }
        let e = parse("log_keep = 0").unwrap_err().message;
        assert!(
            e.contains("service.log_keep: 0 is not from 1 to 100"),
            "{e}"
        );
        let systemd = GOOD.replace(
            "kind = \"command\"",
            "kind = \"systemd\"\nunit = \"t.service\"\nlog_keep = 3",
        );
        let e = AgentConfig::parse(Path::new("/etc/gantry/gantry.toml"), &systemd)
            .unwrap_err()
            .message;
        assert!(
            e.contains("service.log_keep: only a command service writes service.log; journald"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_state_dir_is_an_error_that_says_how_to_make_it() {
        let e = load_err(|t| t.replace("state_dir = \".\"", "state_dir = \"nope\""));
        assert!(
            e.contains("host.state_dir:")
                && e.contains("does not exist")
                && e.contains("gantry init"),
            "{e}"
        );
        assert!(!e.contains("Not a directory"));
        let e = load_err(|t| t.replace("state_dir = \".\"", "state_dir = \"gantry.toml\""));
        assert!(
            e.contains("host.state_dir:") && e.contains("is not a directory"),
            "{e}"
        );
    }

    #[test]
    fn checks_take_expressions_bands_negative_limits_and_actions() {
        let ok = |text: &str| AgentConfig::parse(Path::new("/etc/gantry/gantry.toml"), text);
        let config = ok(&GOOD.replace("limit = 3", "limit = -250")).unwrap();
        assert_eq!(
            config.checks[1].spec.condition,
            Some(pipeline::Condition::Compare {
                comparison: pipeline::Comparison::Lt,
                limit: -250.0
            })
        );
        let band = GOOD
            .replace("op = \"<\"\n", "")
            .replace("limit = 3", "between = [-500, 1000.5]\naction = \"warn\"");
        let config = ok(&band).unwrap();
        assert_eq!(
            config.checks[1].spec.condition,
            Some(pipeline::Condition::Between {
                lo: -500.0,
                hi: 1000.5
            })
        );
        assert_eq!(config.checks[1].spec.action, pipeline::Action::Warn);
        let ratio = GOOD.replace(
            "metric = \"sim_drawdown_pct\"",
            "metric = \"rate(sim_order_errors_total[30s]) / rate(sim_orders_total{venue=\\\"x\\\"}[30s])\"",
        );
        let config = ok(&ratio).unwrap();
        assert!(config.checks[1].query.is_some());

        // Each refusal names the check and the field.
        let e = err(&GOOD.replace("sim_drawdown_pct", "rate(sim_fills_total)"));
        assert!(
            e.contains("check[0] (drawdown).metric") && e.contains("column"),
            "{e}"
        );
        let e = err(&GOOD.replace("sim_drawdown_pct", "rate(sim_fills_total[300ms])"));
        assert!(
            e.contains("check[0] (drawdown).metric") && e.contains("two probe intervals"),
            "{e}"
        );
        let e = err(&band.replace("[-500, 1000.5]", "[5, 1]"));
        assert!(
            e.contains("check[0] (drawdown).between") && e.contains("empty"),
            "{e}"
        );
        let e = err(&GOOD.replace("limit = 3", "limit = 3\nbetween = [0, 1]"));
        assert!(
            e.contains("check[0] (drawdown).between") && e.contains("not both"),
            "{e}"
        );
        let e = err(&GOOD.replace("op = \"<\"\n", ""));
        assert!(
            e.contains("check[0] (drawdown).op") && e.contains("missing"),
            "{e}"
        );
        let e = err(&format!(
            "{GOOD}\n[pipeline.sessions]\nzone = \"Mars/Olympus\"\nweekly = {{ days = [\"mon\"], from = \"09:30\", to = \"16:00\" }}\n"
        ));
        assert!(
            e.contains("pipeline.sessions.zone") && e.contains("Mars/Olympus"),
            "{e}"
        );
        let e = err(&format!(
            "{GOOD}\n[pipeline.evidence]\nmetric = \"sim_fills_total\"\nmin_per_stage = {{ live = 3 }}\n"
        ));
        assert!(
            e.contains("pipeline.evidence.min_per_stage") && e.contains("live"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "limit = 3",
            "limit = 3\nbaseline = \"yesterday\"\nmax_ratio = 2",
        ));
        assert!(
            e.contains("check[0] (drawdown).baseline") && e.contains("known_good"),
            "{e}"
        );
        let e = err(&GOOD.replace("limit = 3", "limit = 3\nbaseline = \"known_good\""));
        assert!(e.contains("check[0] (drawdown).max_ratio"), "{e}");
        let e = err(&GOOD.replace("limit = 3", "limit = 3\nmax_ratio = 2"));
        assert!(
            e.contains("check[0] (drawdown).max_ratio") && e.contains("only with a baseline"),
            "{e}"
        );
        let e = err(&GOOD.replace("limit = 3", "limit = 3\naction = \"page\""));
        assert!(
            e.contains("check[0] (drawdown).action") && e.contains("page"),
            "{e}"
        );
    }

    #[test]
    fn faults_name_the_file_and_field() {
        let e = err(&GOOD.replace("[probe]", "[probe]\ncolour = \"red\""));
        assert!(
            e.starts_with("/etc/gantry/gantry.toml:") && e.contains("colour"),
            "{e}"
        );
        let e = err(&GOOD.replace("limit = 3", "limit = nan"));
        assert!(
            e.contains("check[0] (drawdown).limit") && e.contains("NaN"),
            "{e}"
        );
        let e = err(&GOOD.replace("\"paper\", \"canary\"", "\"paper\", \"prod\""));
        assert!(
            e.contains("check[0] (drawdown).stages") && e.contains("prod"),
            "{e}"
        );
        let e = err(&GOOD.replace("op = \"<\"", "op = \"=<\""));
        assert!(e.contains(".op"), "{e}");
        let e = err(&format!("{GOOD}\n[pipeline.soak_s]\nshadow = -5\n"));
        assert!(e.contains("pipeline.soak_s.shadow"), "{e}");
    }
}

/// When a command service's service.log is cut back (docs/config.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub max_bytes: u64,
    /// service.log.1 … service.log.`keep`; at least 1.
    pub keep: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1000 * 1000,
            keep: 5,
        }
    }
}

/// `service.log_max_size` and `service.log_keep` of a command service.
fn log_limits(service: &file::ServiceSection) -> Result<LogLimits, String> {
    let mut limits = LogLimits::default();
    if let Some(text) = &service.log_max_size {
        limits.max_bytes = byte_size(text).ok_or_else(|| {
            format!(
                "service.log_max_size: {:?} is not a size from 64KB, e.g. \"100MB\" (B, KB, MB, GB: powers of 1000; KiB, MiB, GiB: of 1024)",
                crate::text::inert(text)
            )
        })?;
    }
    if let Some(keep) = service.log_keep {
        if !(1..=100).contains(&keep) {
            return Err(format!(
                "service.log_keep: {keep} is not from 1 to 100 (the cut-off files kept)"
            ));
        }
        limits.keep = keep;
    }
    Ok(limits)
}

/// "100MB", "512 KiB", "2GB", "70000": bytes, at least 64 KB (a smaller
/// limit would cut the log on every sample).
fn byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && (64_000.0..=1e15).contains(&bytes)).then_some(bytes as u64)
}

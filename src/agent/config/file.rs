//! gantry.toml as written: the sections and their defaults, before any
//! check (`deny_unknown_fields`, so a misspelt key is an error).

use std::path::PathBuf;

use serde::Deserialize;

use crate::pipeline::Stage;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub host: HostSection,
    pub service: ServiceSection,
    #[serde(default)]
    pub validate: Option<CommandSection>,
    #[serde(default)]
    pub kill: Option<KillSection>,
    #[serde(default)]
    pub pipeline: PipelineSection,
    pub probe: ProbeSection,
    #[serde(default)]
    pub smoke: Option<SmokeSection>,
    #[serde(default, rename = "check")]
    pub checks: Vec<CheckSection>,
    #[serde(default, rename = "freeze")]
    pub freezes: Vec<crate::agent::freeze::FreezeSection>,
    #[serde(default)]
    pub alerts: Option<crate::agent::notify::AlertsSection>,
    /// The agent's read-only HTTP endpoint (off when absent).
    #[serde(default)]
    pub http: Option<crate::agent::http::HttpSection>,
    #[serde(default)]
    pub releases: ReleasesSection,
    /// Runbooks for what is no `[[check]]` (config/runbooks.rs).
    #[serde(default)]
    pub runbooks: Option<RunbooksSection>,
}

/// `[runbooks]`: the runbook of the built-in check, of a rollback that
/// failed (a halt), and of a stop not proven flat.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbooksSection {
    #[serde(default)]
    pub process_alive: Option<String>,
    #[serde(default)]
    pub rollback_failed: Option<String>,
    #[serde(default)]
    pub not_flat: Option<String>,
}

/// `[releases]`: how releases are shown.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasesSection {
    /// Keys whose values a release diff may show (to viewers too); every
    /// other value is masked. An allow-list: a secret's name does not say
    /// it is one.
    #[serde(default)]
    pub public_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSection {
    pub name: String,
    /// Relative paths are relative to the config file's directory.
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// "command", "systemd" or "container".
    pub kind: String,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_s: f64,
    /// systemd kind: the argv prefix that runs `systemctl` (default
    /// `["systemctl"]`), e.g. `["nsenter", "-t", "PID", "-m", "-p", "systemctl"]`.
    #[serde(default)]
    pub systemctl: Option<Vec<String>>,
    /// systemd kind: the argv prefix that runs `journalctl`.
    #[serde(default)]
    pub journalctl: Option<Vec<String>>,
    /// command kind: the size service.log is cut back at, e.g. "100MB".
    #[serde(default)]
    pub log_max_size: Option<String>,
    /// command kind: how many cut-off files (service.log.1 …) are kept.
    #[serde(default)]
    pub log_keep: Option<u32>,
    /// container kind: "docker" or "podman", the CLI on PATH.
    #[serde(default)]
    pub engine: Option<String>,
    /// container kind: the container's name, owned by gantry.
    #[serde(default)]
    pub name: Option<String>,
    /// container kind: the image's repository; the tag is the release's
    /// IMAGE_TAG.
    #[serde(default)]
    pub image: Option<String>,
    /// container kind: `HOST:CONTAINER[:OPTIONS]` bind mounts or named
    /// volumes.
    #[serde(default)]
    pub volumes: Option<Vec<String>>,
    /// container kind: "host" (the default) or a named network.
    #[serde(default)]
    pub network: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSection {
    pub command: Vec<String>,
    #[serde(default = "default_command_timeout")]
    pub timeout_s: f64,
}

/// `[kill]`: the emergency stop's kill command, and the verify command
/// that proves the venue flat afterwards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSection {
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default = "default_command_timeout")]
    pub timeout_s: f64,
    /// Exits 0 when nothing is open at the venue; polled until it does.
    #[serde(default)]
    pub verify: Option<Vec<String>>,
    #[serde(default = "default_command_timeout")]
    pub verify_timeout_s: f64,
    #[serde(default = "default_verify_interval")]
    pub verify_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    #[serde(default)]
    pub soak_s: SoakSection,
    #[serde(default = "default_watch")]
    pub watch_s: f64,
    #[serde(default = "yes")]
    pub require_approval_for_live: bool,
    #[serde(default)]
    pub require_distinct_approver: bool,
    #[serde(default = "default_verify_timeout")]
    pub verify_timeout_s: f64,
    /// An approval waiting this long pages P1, once per threshold.
    #[serde(default = "default_escalate_after")]
    pub escalate_after_s: Vec<f64>,
    /// A soak on market evidence (`config/market.rs`).
    #[serde(default)]
    pub evidence: Option<super::market::EvidenceSection>,
    /// The hours the market trades; outside them the soak clock pauses.
    #[serde(default)]
    pub sessions: Option<super::market::SessionsSection>,
}

impl Default for PipelineSection {
    fn default() -> Self {
        Self {
            soak_s: SoakSection::default(),
            watch_s: default_watch(),
            require_approval_for_live: true,
            require_distinct_approver: false,
            verify_timeout_s: default_verify_timeout(),
            escalate_after_s: default_escalate_after(),
            evidence: None,
            sessions: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoakSection {
    #[serde(default = "default_shadow")]
    pub shadow: f64,
    #[serde(default = "default_paper")]
    pub paper: f64,
    #[serde(default = "default_canary")]
    pub canary: f64,
}

impl Default for SoakSection {
    fn default() -> Self {
        Self {
            shadow: default_shadow(),
            paper: default_paper(),
            canary: default_canary(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Prometheus text exposition endpoint of the service.
    pub url: String,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    pub name: String,
    /// What to read: a series (`name{label="value"}`), `rate(…[w])`,
    /// `increase(…[w])`, `histogram_quantile(q, …)`, or a ratio of two
    /// (`prom::query`).
    pub metric: String,
    /// `op` and `limit`, or `between`.
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default)]
    pub limit: Option<f64>,
    #[serde(default)]
    pub between: Option<[f64; 2]>,
    /// `rollback` (the default), `warn` or `observe`.
    #[serde(default)]
    pub action: Option<String>,
    /// `"known_good"`, or `{ url = "http://…/metrics" }` (a host on the
    /// known-good release): checked by hand for a clear refusal.
    #[serde(default)]
    pub baseline: Option<toml::Value>,
    #[serde(default)]
    pub max_ratio: Option<f64>,
    #[serde(default)]
    pub max_delta: Option<f64>,
    /// `increase` (the default), `decrease` or `either`: which change is bad.
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub min_samples: Option<usize>,
    /// `median` (the default) or `rank`.
    #[serde(default)]
    pub test: Option<String>,
    #[serde(default)]
    pub max_extend_s: Option<f64>,
    pub severity: String,
    #[serde(default = "all_stages")]
    pub stages: Vec<String>,
    #[serde(default = "default_consecutive")]
    pub consecutive: u32,
    #[serde(default = "default_stale")]
    pub stale_after_s: f64,
    /// What to do when it fails: a file (relative to the config) or a URL.
    #[serde(default)]
    pub runbook: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeSection {
    /// Regular expressions the service log must match, in this order.
    pub phases: Vec<String>,
    /// Regular expressions no log line may match.
    #[serde(default)]
    pub forbidden: Vec<String>,
    #[serde(default = "default_smoke_timeout")]
    pub timeout_s: f64,
}

pub(super) fn default_stop_timeout() -> f64 {
    10.0
}

pub(super) fn default_command_timeout() -> f64 {
    30.0
}

fn default_verify_interval() -> u64 {
    500
}

pub(super) fn default_watch() -> f64 {
    3600.0
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn default_verify_timeout() -> f64 {
    30.0
}

pub(super) fn default_shadow() -> f64 {
    300.0
}

pub(super) fn default_paper() -> f64 {
    600.0
}

pub(super) fn default_canary() -> f64 {
    900.0
}

pub(super) fn default_interval() -> u64 {
    1000
}

pub(super) fn default_timeout() -> u64 {
    500
}

pub(super) fn all_stages() -> Vec<String> {
    Stage::ALL.iter().map(|s| s.as_str().to_string()).collect()
}

pub(super) fn default_consecutive() -> u32 {
    3
}

pub(super) fn default_stale() -> f64 {
    10.0
}

pub(super) fn default_smoke_timeout() -> f64 {
    30.0
}

/// 15 minutes, then an hour: a canary left waiting is someone's to decide.
fn default_escalate_after() -> Vec<f64> {
    vec![900.0, 3600.0]
}

//! The sim's knobs: the environment keys `gantry sim` reads, parsed and
//! checked in one place.
//!
//! The same [`Knobs::from_pairs`] serves the process environment at start-up
//! and a release file under `--validate-config`, so a release that the
//! validate command accepts is exactly a release the sim will start with.
//! Parsing is pure (no I/O); the caller collects the pairs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::venue::{self, Account, Flatten};

/// Where `/metrics` is served when neither `--listen` nor `SIM_LISTEN` says.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9187);

/// Every `SIM_*` key the sim understands; any other `SIM_*` key is refused,
/// because a typo in a fault knob would otherwise ship a "bad" release that
/// behaves well and a drill that proves nothing.
pub const KNOWN_SIM_KEYS: &[&str] = &[
    "SIM_LISTEN",
    "SIM_FAULT",
    "SIM_FAULT_AFTER_S",
    "SIM_FAULT_HOSTS",
    "SIM_PNL_DRIFT",
    "SIM_TICK_MS",
    "SIM_STARTUP_MS",
    "SIM_LOG_LINE",
    "SIM_NEVER_IDLE",
    "SIM_EXIT_CODE",
    "SIM_STATE_DIR",
    "SIM_FLATTEN",
    "SIM_FLATTEN_MS",
];

/// The non-`SIM_*` keys the sim reads; everything else in the environment
/// (PATH, the release's own settings) is none of its business.
pub const SERVICE_KEYS: &[&str] = &[
    "TRADE_MODE",
    "CANARY_MODE",
    "EXECUTION_PLANE",
    "GANTRY_HOST",
];

/// How long a `slow` flatten takes when `SIM_FLATTEN_MS` does not say.
pub const DEFAULT_FLATTEN: Duration = Duration::from_secs(3);

/// Upper bound for fractional knobs (seconds, USD/s): far enough to mean "never", small
/// enough that adding it to a monotonic instant cannot overflow.
const MAX_NUMBER: f64 = 1e9;
/// Upper bound for millisecond-valued knobs (one day).
const MAX_MS: u64 = 86_400_000;

/// Whether a key is one the sim reads (and so must validate).
pub fn is_relevant(key: &str) -> bool {
    key.starts_with("SIM_") || SERVICE_KEYS.contains(&key)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeMode {
    Shadow,
    Paper,
    Live,
}

impl TradeMode {
    const ALL: [Self; 3] = [Self::Shadow, Self::Paper, Self::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shadow => "shadow",
            Self::Paper => "paper",
            Self::Live => "live",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionPlane {
    Paper,
    Live,
}

impl ExecutionPlane {
    const ALL: [Self; 2] = [Self::Paper, Self::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Live => "live",
        }
    }
}

/// A misbehaviour a release can carry (`SIM_FAULT`). See docs/sim.md for
/// what each one does to the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Crash,
    Drawdown,
    KillEvent,
    Stale,
    Recon,
    Pnl,
    Canary,
    Hang,
    Garbage,
    /// The health series vanish from `/metrics` (only `sim_up`, `sim_info`
    /// and `sim_uptime_seconds` remain): "no data is never a pass".
    Missing,
}

impl Fault {
    pub const ALL: [Self; 10] = [
        Self::Crash,
        Self::Drawdown,
        Self::KillEvent,
        Self::Stale,
        Self::Recon,
        Self::Pnl,
        Self::Canary,
        Self::Hang,
        Self::Garbage,
        Self::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::Drawdown => "drawdown",
            Self::KillEvent => "kill_event",
            Self::Stale => "stale",
            Self::Recon => "recon",
            Self::Pnl => "pnl",
            Self::Canary => "canary",
            Self::Hang => "hang",
            Self::Garbage => "garbage",
            Self::Missing => "missing",
        }
    }
}

/// Everything the sim was told, validated. Defaults are the healthy,
/// fault-free service.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// `TRADE_MODE`; `None` is idle, the smoke mode: nothing runs after
    /// the idle phase.
    pub trade_mode: Option<TradeMode>,
    /// `CANARY_MODE=1`.
    pub canary: bool,
    /// `EXECUTION_PLANE`; orders are only executed when it is not `paper`.
    pub execution_plane: Option<ExecutionPlane>,
    /// `GANTRY_HOST` as given; the shell falls back to the machine's name.
    pub host: Option<String>,
    /// `SIM_LISTEN`; `--listen` overrides it in the shell.
    pub listen: SocketAddr,
    pub fault: Option<Fault>,
    pub fault_after: Duration,
    /// `SIM_FAULT_HOSTS`; `None` means the fault applies on every host.
    pub fault_hosts: Option<Vec<String>>,
    /// USD per second of healthy PnL growth.
    pub pnl_drift: f64,
    pub tick: Duration,
    pub startup: Duration,
    pub log_line: Option<String>,
    pub never_idle: bool,
    pub exit_code: i32,
    pub state_dir: Option<PathBuf>,
    /// `SIM_FLATTEN`: how the venue answers `gantry sim flatten`.
    pub flatten: Flatten,
    /// `SIM_FLATTEN_MS`: how long a `slow` flatten takes.
    pub flatten_ms: Duration,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            trade_mode: None,
            canary: false,
            execution_plane: None,
            host: None,
            listen: DEFAULT_LISTEN,
            fault: None,
            fault_after: Duration::from_secs(1),
            fault_hosts: None,
            pnl_drift: 5.0,
            tick: Duration::from_millis(100),
            startup: Duration::ZERO,
            log_line: None,
            never_idle: false,
            exit_code: 1,
            state_dir: None,
            flatten: Flatten::Ok,
            flatten_ms: DEFAULT_FLATTEN,
        }
    }
}

/// A knob the sim refuses, with the key so callers can point at its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    #[error("{key} is not a known knob (known: {})", KNOWN_SIM_KEYS.join(", "))]
    Unknown { key: String },
    #[error("{key}={value} {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
}

impl KnobError {
    pub fn key(&self) -> &str {
        match self {
            Self::Unknown { key } | Self::Invalid { key, .. } => key,
        }
    }
}

impl Knobs {
    /// Reads knobs from `KEY=VALUE` pairs. Keys the sim does not read are
    /// ignored; an unknown `SIM_*` key or a bad value is the first error in
    /// the order given. An empty value means "unset" (the default), so a
    /// release can blank a knob a stage overlay or a parent shell set.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, KnobError> {
        let mut knobs = Self::default();
        for (key, value) in pairs {
            // Checked before the empty-value skip: even a blank unknown knob
            // is a typo worth refusing.
            if key.starts_with("SIM_") && !KNOWN_SIM_KEYS.contains(&key) {
                return Err(KnobError::Unknown { key: key.into() });
            }
            if is_relevant(key) && !value.is_empty() {
                knobs.set(key, value)?;
            }
        }
        Ok(knobs)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), KnobError> {
        let invalid = |expected: String| KnobError::Invalid {
            key: key.into(),
            value: value.into(),
            expected,
        };
        match key {
            "TRADE_MODE" => {
                self.trade_mode =
                    Some(one_of(value, &TradeMode::ALL, TradeMode::as_str).map_err(invalid)?);
            }
            "CANARY_MODE" => self.canary = flag(value).map_err(invalid)?,
            "EXECUTION_PLANE" => {
                self.execution_plane = Some(
                    one_of(value, &ExecutionPlane::ALL, ExecutionPlane::as_str).map_err(invalid)?,
                );
            }
            "GANTRY_HOST" => self.host = Some(value.into()),
            "SIM_LISTEN" => self.listen = parse_listen(value).map_err(invalid)?,
            "SIM_FAULT" => self.fault = fault(value).map_err(invalid)?,
            "SIM_FAULT_AFTER_S" => self.fault_after = seconds(value).map_err(invalid)?,
            "SIM_FAULT_HOSTS" => {
                let hosts: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(String::from)
                    .collect();
                if hosts.is_empty() {
                    return Err(invalid(
                        "names no host (a comma-separated list of host names)".into(),
                    ));
                }
                self.fault_hosts = Some(hosts);
            }
            "SIM_PNL_DRIFT" => {
                self.pnl_drift = non_negative(value, "USD per second").map_err(invalid)?
            }
            "SIM_TICK_MS" => self.tick = millis(value, 1).map_err(invalid)?,
            "SIM_STARTUP_MS" => self.startup = millis(value, 0).map_err(invalid)?,
            "SIM_LOG_LINE" => self.log_line = Some(value.into()),
            "SIM_NEVER_IDLE" => self.never_idle = flag(value).map_err(invalid)?,
            "SIM_EXIT_CODE" => {
                self.exit_code = value.parse::<u8>().map(i32::from).map_err(|_| {
                    invalid("is not an exit status (a whole number from 0 to 255)".into())
                })?;
            }
            "SIM_STATE_DIR" => self.state_dir = Some(PathBuf::from(value)),
            "SIM_FLATTEN" => {
                self.flatten = one_of(value, &Flatten::ALL, Flatten::as_str).map_err(invalid)?;
            }
            "SIM_FLATTEN_MS" => {
                self.flatten_ms = millis_up_to(value, venue::MAX_FLATTEN_MS).map_err(invalid)?;
            }
            _ => return Err(KnobError::Unknown { key: key.into() }),
        }
        Ok(())
    }

    /// Whether the configured fault fires on this host: `SIM_FAULT_HOSTS`
    /// names it (or is unset), and a canary fault only exists on a canary.
    pub fn fault_applies(&self, host: &str) -> Option<Fault> {
        let fault = self.fault?;
        let on_host = self
            .fault_hosts
            .as_ref()
            .is_none_or(|hosts| hosts.iter().any(|h| h == host));
        let in_mode = fault != Fault::Canary || self.canary;
        (on_host && in_mode).then_some(fault)
    }

    /// The trade mode as the banner and `sim_info` show it: `idle` rather
    /// than an empty string, which Prometheus would read as no label.
    pub fn trade_mode_label(&self) -> &'static str {
        self.trade_mode.map_or("idle", TradeMode::as_str)
    }

    pub fn execution_plane_label(&self) -> &'static str {
        self.execution_plane.map_or("unset", ExecutionPlane::as_str)
    }

    /// Whether the strategy runs (and so ticks are logged): any trade mode.
    pub fn trading(&self) -> bool {
        self.trade_mode.is_some()
    }

    /// The venue account settings this release records (`SIM_FLATTEN`).
    pub fn account(&self) -> Account {
        Account {
            flatten: self.flatten,
            // At most MAX_FLATTEN_MS by the parse above: fits in u64.
            flatten_ms: u64::try_from(self.flatten_ms.as_millis()).unwrap_or(venue::MAX_FLATTEN_MS),
        }
    }

    /// Whether the sim holds orders and positions at its venue: paper and
    /// live (paper orders rest at the simulated venue too, so an emergency
    /// stop has something to close); shadow and idle do not.
    pub fn trades_at_venue(&self) -> bool {
        matches!(self.trade_mode, Some(TradeMode::Paper | TradeMode::Live))
    }

    /// Whether orders go to a venue: live trading on a non-paper plane.
    pub fn executes_orders(&self) -> bool {
        self.trade_mode == Some(TradeMode::Live)
            && self.execution_plane != Some(ExecutionPlane::Paper)
    }
}

fn one_of<T: Copy>(value: &str, all: &[T], name: fn(T) -> &'static str) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name(*v) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            format!("is not one of {}", names.join(", "))
        })
}

/// `SIM_FAULT`: `none` (the default, handy to blank a fault a parent
/// environment set) or one of [`Fault::ALL`].
fn fault(value: &str) -> Result<Option<Fault>, String> {
    if value == "none" {
        return Ok(None);
    }
    one_of(value, &Fault::ALL, Fault::as_str)
        .map(Some)
        .map_err(|why| why.replacen("one of ", "one of none, ", 1))
}

fn flag(value: &str) -> Result<bool, String> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("is not one of 0, 1".into()),
    }
}

fn non_negative(value: &str, unit: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_NUMBER).contains(&v) => Ok(v),
        _ => Err(format!("is not a number of {unit} from 0 to 1e9")),
    }
}

fn seconds(value: &str) -> Result<Duration, String> {
    let secs = non_negative(value, "seconds")?;
    // In range by the check above, so this cannot fail; map anyway rather
    // than unwrap, the message is the same.
    Duration::try_from_secs_f64(secs).map_err(|_| "is not a number of seconds from 0 to 1e9".into())
}

fn millis(value: &str, min: u64) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(ms) if (min..=MAX_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "is not a whole number of milliseconds from {min} to {MAX_MS}"
        )),
    }
}

fn millis_up_to(value: &str, max: u64) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms <= max => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "is not a whole number of milliseconds from 0 to {max}"
        )),
    }
}

/// `IP:PORT`, or `localhost:PORT` (resolved here rather than through DNS,
/// which the sim must not wait on at start-up).
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    if let Some(port) = value.strip_prefix("localhost:")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    value
        .parse()
        .map_err(|_| "is not an address to listen on (IP:PORT, e.g. 127.0.0.1:9187)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Knobs, KnobError> {
        Knobs::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn defaults_are_a_healthy_idle_service() {
        let knobs = parse(&[("PATH", "/bin"), ("OTHER", "x")]).unwrap();
        assert_eq!(knobs, Knobs::default());
        assert!(!knobs.trading());
        assert_eq!(knobs.listen, "127.0.0.1:9187".parse().unwrap());
    }

    #[test]
    fn reads_every_knob() {
        let knobs = parse(&[
            ("TRADE_MODE", "live"),
            ("CANARY_MODE", "1"),
            ("EXECUTION_PLANE", "live"),
            ("GANTRY_HOST", "lhr-1"),
            ("SIM_LISTEN", "localhost:9300"),
            ("SIM_FAULT", "kill_event"),
            ("SIM_FAULT_AFTER_S", "2.5"),
            ("SIM_FAULT_HOSTS", "lhr-1, ewr-1"),
            ("SIM_PNL_DRIFT", "0"),
            ("SIM_TICK_MS", "20"),
            ("SIM_STARTUP_MS", "500"),
            ("SIM_LOG_LINE", "hello"),
            ("SIM_NEVER_IDLE", "1"),
            ("SIM_EXIT_CODE", "42"),
            ("SIM_STATE_DIR", "/tmp"),
            ("SIM_FLATTEN", "slow"),
            ("SIM_FLATTEN_MS", "600000"),
        ])
        .unwrap();
        assert_eq!(knobs.trade_mode, Some(TradeMode::Live));
        assert!(knobs.canary && knobs.never_idle && knobs.executes_orders());
        assert_eq!(knobs.listen, "127.0.0.1:9300".parse().unwrap());
        assert_eq!(knobs.fault, Some(Fault::KillEvent));
        assert_eq!(knobs.fault_after, Duration::from_millis(2500));
        assert_eq!(
            knobs.fault_hosts,
            Some(vec!["lhr-1".into(), "ewr-1".into()])
        );
        assert_eq!(knobs.pnl_drift, 0.0);
        assert_eq!(knobs.tick, Duration::from_millis(20));
        assert_eq!(knobs.startup, Duration::from_millis(500));
        assert_eq!(knobs.exit_code, 42);
        assert_eq!(
            knobs.account(),
            Account {
                flatten: Flatten::Slow,
                flatten_ms: 600_000
            }
        );
        assert_eq!(knobs.fault_applies("lhr-1"), Some(Fault::KillEvent));
        assert_eq!(knobs.fault_applies("fra-1"), None);
    }

    #[test]
    fn refuses_bad_values_naming_the_knob() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "TRADE_MODE",
                "bogus",
                "TRADE_MODE=bogus is not one of shadow, paper, live",
            ),
            ("CANARY_MODE", "yes", "CANARY_MODE=yes is not one of 0, 1"),
            (
                "EXECUTION_PLANE",
                "sim",
                "EXECUTION_PLANE=sim is not one of paper, live",
            ),
            (
                "SIM_FAULT",
                "nope",
                "SIM_FAULT=nope is not one of none, crash, drawdown",
            ),
            (
                "SIM_FAULT_AFTER_S",
                "NaN",
                "SIM_FAULT_AFTER_S=NaN is not a number",
            ),
            ("SIM_FAULT_AFTER_S", "-1", "SIM_FAULT_AFTER_S=-1 is not"),
            ("SIM_FAULT_AFTER_S", "inf", "SIM_FAULT_AFTER_S=inf is not"),
            ("SIM_PNL_DRIFT", "lots", "SIM_PNL_DRIFT=lots is not"),
            ("SIM_PNL_DRIFT", "-5", "SIM_PNL_DRIFT=-5 is not"),
            ("SIM_TICK_MS", "0", "SIM_TICK_MS=0 is not a whole number"),
            ("SIM_TICK_MS", "1.5", "SIM_TICK_MS=1.5 is not"),
            ("SIM_STARTUP_MS", "-3", "SIM_STARTUP_MS=-3 is not"),
            (
                "SIM_EXIT_CODE",
                "256",
                "SIM_EXIT_CODE=256 is not an exit status",
            ),
            (
                "SIM_NEVER_IDLE",
                "true",
                "SIM_NEVER_IDLE=true is not one of 0, 1",
            ),
            (
                "SIM_LISTEN",
                "nowhere",
                "SIM_LISTEN=nowhere is not an address",
            ),
            (
                "SIM_FAULT_HOSTS",
                " , ",
                "SIM_FAULT_HOSTS= ,  names no host",
            ),
            (
                "SIM_FLATTEN",
                "never",
                "SIM_FLATTEN=never is not one of ok, fail, partial, slow",
            ),
            (
                "SIM_FLATTEN_MS",
                "600001",
                "SIM_FLATTEN_MS=600001 is not a whole number of milliseconds from 0 to 600000",
            ),
            ("SIM_FLATTEN_MS", "-1", "SIM_FLATTEN_MS=-1 is not"),
            ("SIM_FLATTEN_MS", "0.5", "SIM_FLATTEN_MS=0.5 is not"),
        ];
        for (key, value, message) in cases {
            let err = parse(&[(key, value)]).unwrap_err();
            assert_eq!(err.key(), *key);
            assert!(err.to_string().starts_with(message), "{key}={value}: {err}");
        }
    }

    #[test]
    fn refuses_unknown_sim_keys_but_ignores_others() {
        let err = parse(&[("SIM_FAULTS", "crash")]).unwrap_err();
        assert_eq!(
            err,
            KnobError::Unknown {
                key: "SIM_FAULTS".into()
            }
        );
        assert!(err.to_string().contains("known: SIM_LISTEN, SIM_FAULT,"));
        // Even an empty unknown knob is a typo worth refusing.
        assert!(parse(&[("SIM_TYPO", "")]).is_err());
        assert!(parse(&[("VENUE_KEY", "anything at all")]).is_ok());
    }

    #[test]
    fn empty_means_default() {
        let knobs = parse(&[("TRADE_MODE", ""), ("SIM_FAULT", ""), ("SIM_TICK_MS", "")]).unwrap();
        assert_eq!(knobs, Knobs::default());
        assert_eq!(parse(&[("SIM_FAULT", "none")]).unwrap().fault, None);
    }

    #[test]
    fn canary_fault_needs_canary_mode() {
        let mut knobs = parse(&[("SIM_FAULT", "canary")]).unwrap();
        assert_eq!(knobs.fault_applies("h"), None);
        knobs.canary = true;
        assert_eq!(knobs.fault_applies("h"), Some(Fault::Canary));
    }

    #[test]
    fn orders_only_live_off_the_paper_plane() {
        let live = |plane: &str| {
            parse(&[("TRADE_MODE", "live"), ("EXECUTION_PLANE", plane)])
                .unwrap()
                .executes_orders()
        };
        assert!(live("live"));
        assert!(live(""));
        assert!(!live("paper"));
        assert!(!parse(&[("TRADE_MODE", "paper")]).unwrap().executes_orders());
    }

    #[test]
    fn paper_and_live_trade_at_the_venue() {
        let at_venue = |mode: &str| parse(&[("TRADE_MODE", mode)]).unwrap().trades_at_venue();
        assert!(at_venue("paper") && at_venue("live"));
        assert!(!at_venue("shadow") && !at_venue(""));
    }
}

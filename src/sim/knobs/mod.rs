//! The sim's knobs: the environment keys `gantry sim` reads, parsed and
//! checked in one place.
//!
//! The same [`Knobs::from_pairs`] serves the process environment at start-up
//! and a release file under `--validate-config`, so a release that the
//! validate command accepts is exactly a release the sim will start with.
//! Parsing is pure (no I/O); the caller collects the pairs.
//!
//! - this file: which keys exist, [`Knobs`] (what the sim was told) and
//!   the questions the model asks of it;
//! - `modes`: the words a knob may say (trade modes, planes, faults);
//! - `values`: reading one value, and the refusal that names what was
//!   expected.

mod modes;
mod values;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::venue::{self, Account, Flatten};
use values::{factor, fault, flag, millis, millis_up_to, non_negative, one_of, seconds};

pub use modes::{ExecutionPlane, Fault, Session, TradeMode};
pub use values::parse_listen;

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
    "SIM_FAULT_FACTOR",
    "SIM_SESSION",
    "SIM_SESSION_OPENS_AFTER_S",
];

/// The non-`SIM_*` keys the sim reads; everything else in the environment
/// (PATH, the release's own settings) is none of its business.
pub const SERVICE_KEYS: &[&str] = &[
    "TRADE_MODE",
    "CANARY_MODE",
    "EXECUTION_PLANE",
    "GANTRY_HOST",
];

/// How much worse the subtle faults (`slow`, `errors`, `fills`) make their
/// series when `SIM_FAULT_FACTOR` does not say.
pub const DEFAULT_FAULT_FACTOR: f64 = 4.0;

/// How long a `slow` flatten takes when `SIM_FLATTEN_MS` does not say.
pub const DEFAULT_FLATTEN: Duration = Duration::from_secs(3);

/// Whether a key is one the sim reads (and so must validate).
pub fn is_relevant(key: &str) -> bool {
    key.starts_with("SIM_") || SERVICE_KEYS.contains(&key)
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
    /// `SIM_FAULT_FACTOR`: at least 1.
    pub fault_factor: f64,
    /// `SIM_SESSION`.
    pub session: Session,
    /// `SIM_SESSION_OPENS_AFTER_S`: a closed market opens this long after
    /// the start (trading resumes without a new release).
    pub session_opens_after: Option<Duration>,
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
            fault_factor: DEFAULT_FAULT_FACTOR,
            session: Session::Open,
            session_opens_after: None,
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
        if let Some(after) = knobs.session_opens_after
            && knobs.session == Session::Open
        {
            return Err(KnobError::Invalid {
                key: "SIM_SESSION_OPENS_AFTER_S".into(),
                value: format!("{}", after.as_secs_f64()),
                expected: "needs SIM_SESSION=closed (an open market has nothing to open)".into(),
            });
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
            "SIM_FAULT_FACTOR" => self.fault_factor = factor(value).map_err(invalid)?,
            "SIM_SESSION" => {
                self.session = one_of(value, &Session::ALL, Session::as_str).map_err(invalid)?;
            }
            "SIM_SESSION_OPENS_AFTER_S" => {
                self.session_opens_after = Some(seconds(value).map_err(invalid)?);
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

    /// When the market opens, as time since the start (`SIM_SESSION`,
    /// `SIM_SESSION_OPENS_AFTER_S`): zero when open, `None` when it stays
    /// closed. Only while it is open does a service that trades send
    /// orders, fill them, or make PnL.
    pub fn market_opens_at(&self) -> Option<Duration> {
        match self.session {
            Session::Open => Some(Duration::ZERO),
            Session::Closed => self.session_opens_after,
        }
    }

    pub fn market_open_at(&self, now: Duration) -> bool {
        self.market_opens_at().is_some_and(|at| now >= at)
    }

    /// Whether the service sends orders to its venue at `now`: paper or
    /// live, while the market is open. Shadow does not trade, idle is the
    /// smoke mode.
    pub fn sends_orders_at(&self, now: Duration) -> bool {
        self.trades_at_venue() && self.market_open_at(now)
    }

    /// Whether orders go to a venue: live trading on a non-paper plane.
    pub fn executes_orders(&self) -> bool {
        self.trade_mode == Some(TradeMode::Live)
            && self.execution_plane != Some(ExecutionPlane::Paper)
    }
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
            ("SIM_FAULT_FACTOR", "2.5"),
            ("SIM_SESSION", "closed"),
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
        assert_eq!(knobs.fault_factor, 2.5);
        assert_eq!(knobs.session, Session::Closed);
        assert!(!knobs.market_open_at(Duration::from_secs(3600)));
        assert!(!knobs.sends_orders_at(Duration::ZERO) && knobs.trades_at_venue());
        assert_eq!(knobs.fault_applies("lhr-1"), Some(Fault::KillEvent));
        assert_eq!(knobs.fault_applies("fra-1"), None);
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
        let sends = |mode: &str, session: &str| {
            parse(&[("TRADE_MODE", mode), ("SIM_SESSION", session)])
                .unwrap()
                .sends_orders_at(Duration::ZERO)
        };
        assert!(sends("paper", "") && sends("live", "open"));
        assert!(!sends("paper", "closed") && !sends("live", "closed"));
        assert!(!sends("shadow", "open") && !sends("", "open"));
    }

    #[test]
    fn the_subtle_faults_and_the_session_have_healthy_defaults() {
        let knobs = Knobs::default();
        assert_eq!(knobs.fault_factor, DEFAULT_FAULT_FACTOR);
        assert_eq!(knobs.fault_factor, 4.0);
        assert!(knobs.market_open_at(Duration::ZERO));
        for fault in ["slow", "errors", "fills"] {
            let knobs = parse(&[("SIM_FAULT", fault), ("SIM_FAULT_FACTOR", "1")]).unwrap();
            assert_eq!(knobs.fault.map(Fault::as_str), Some(fault));
            assert_eq!(knobs.fault_factor, 1.0);
        }
    }

    #[test]
    fn a_closed_market_can_open_later_and_only_a_closed_one() {
        let knobs = parse(&[
            ("TRADE_MODE", "paper"),
            ("SIM_SESSION", "closed"),
            ("SIM_SESSION_OPENS_AFTER_S", "2.5"),
        ])
        .unwrap();
        assert_eq!(knobs.market_opens_at(), Some(Duration::from_millis(2500)));
        assert!(!knobs.sends_orders_at(Duration::from_secs(2)));
        assert!(knobs.sends_orders_at(Duration::from_millis(2500)));
        let err = parse(&[("SIM_SESSION_OPENS_AFTER_S", "2")]).unwrap_err();
        assert_eq!(err.key(), "SIM_SESSION_OPENS_AFTER_S");
        assert!(
            err.to_string().contains("needs SIM_SESSION=closed"),
            "{err}"
        );
        assert!(
            parse(&[
                ("SIM_SESSION", "closed"),
                ("SIM_SESSION_OPENS_AFTER_S", "soon")
            ])
            .is_err()
        );
    }
}

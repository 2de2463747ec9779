//! The words a knob may say: trade modes, execution planes, the faults a
//! release can carry, and whether the market is open. Each knows its
//! spelling, and `ALL` lists them in the order a refusal names them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeMode {
    Shadow,
    Paper,
    Live,
}

impl TradeMode {
    pub const ALL: [Self; 3] = [Self::Shadow, Self::Paper, Self::Live];

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
    pub const ALL: [Self; 2] = [Self::Paper, Self::Live];

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
    /// Order latency × `SIM_FAULT_FACTOR`. This and the next two are the
    /// subtle faults: every absolute health series stays healthy, only the
    /// order series (and fills) move, so a fixed limit misses them and a
    /// comparison with a baseline catches them.
    Slow,
    /// The share of order requests the venue rejects × `SIM_FAULT_FACTOR`.
    Errors,
    /// Fills ÷ `SIM_FAULT_FACTOR`: orders rest that many times longer.
    Fills,
}

impl Fault {
    pub const ALL: [Self; 13] = [
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
        Self::Slow,
        Self::Errors,
        Self::Fills,
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
            Self::Slow => "slow",
            Self::Errors => "errors",
            Self::Fills => "fills",
        }
    }
}

/// Whether the market is open (`SIM_SESSION`). Closed, the service trades
/// nothing (no order requests, no fills, no `order executed` lines) and
/// its PnL stays flat; everything else answers as healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Session {
    #[default]
    Open,
    Closed,
}

impl Session {
    pub const ALL: [Self; 2] = [Self::Open, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

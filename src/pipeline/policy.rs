//! Vocabulary of the pipeline: stages, severities, comparisons, roles, tiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four stages a release soaks through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Shadow,
    Paper,
    Canary,
    Live,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Shadow, Stage::Paper, Stage::Canary, Stage::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Shadow => "shadow",
            Stage::Paper => "paper",
            Stage::Canary => "canary",
            Stage::Live => "live",
        }
    }

    /// The stage after this one's soak passes.
    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Shadow => Some(Stage::Paper),
            Stage::Paper => Some(Stage::Canary),
            Stage::Canary => Some(Stage::Live),
            Stage::Live => None,
        }
    }

    /// The variables written to stage.env for this stage. The service reads
    /// them after the release, so the stage, not the release, decides how
    /// real the money is.
    pub fn overlay(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Stage::Shadow => &[("TRADE_MODE", "shadow"), ("CANARY_MODE", "0")],
            Stage::Paper => &[("TRADE_MODE", "paper"), ("CANARY_MODE", "0")],
            Stage::Canary => &[("TRADE_MODE", "live"), ("CANARY_MODE", "1")],
            Stage::Live => &[("TRADE_MODE", "live"), ("CANARY_MODE", "0")],
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Index into per-stage arrays of the three soaked stages.
    pub fn soak_index(self) -> Option<usize> {
        (self != Stage::Live).then(|| self.index())
    }
}

/// Keys a release may not set, because stage.env owns them.
pub const STAGE_OWNED_KEYS: [&str; 3] = ["TRADE_MODE", "CANARY_MODE", "EXECUTION_PLANE"];

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad: tables align these with `{:<18}`.
        f.pad(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| format!("unknown stage {s:?} (expected shadow, paper, canary or live)"))
    }
}

/// P0 fails the gate at once; P1 after N consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    P0,
    P1,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
        })
    }
}

/// How a check's value is compared with its limit: the check passes when
/// `value <op> limit` holds. NaN never passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Comparison {
    pub fn holds(self, value: f64, limit: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match self {
            Comparison::Lt => value < limit,
            Comparison::Le => value <= limit,
            Comparison::Gt => value > limit,
            Comparison::Ge => value >= limit,
            Comparison::Eq => value == limit,
            Comparison::Ne => value != limit,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
        }
    }
}

/// What a session may do. The local socket is admin; over SSH the role is
/// pinned by `gantry attach --role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad: tables align these with `{:<18}`.
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role {s:?} (expected viewer, operator or admin)"
            )),
        }
    }
}

/// The risk tier of a release. Aggressive needs an admin to start and always
/// needs a human approval for live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Conservative,
    Balanced,
    Aggressive,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Conservative => "conservative",
            Tier::Balanced => "balanced",
            Tier::Aggressive => "aggressive",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad: tables align these with `{:<18}`.
        f.pad(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "conservative" => Ok(Tier::Conservative),
            "balanced" => Ok(Tier::Balanced),
            "aggressive" => Ok(Tier::Aggressive),
            _ => Err(format!(
                "unknown tier {s:?} (expected conservative, balanced or aggressive)"
            )),
        }
    }
}

/// Who asked: the name the client claimed, the role the session holds, and
/// how the agent itself identified the peer (a uid, a key fingerprint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Who acted, as the agent identified the session (the operator an
    /// authorized_keys line pins, else a user certificate's key id, else
    /// the key, else the local user): what every human-facing place shows.
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_as: Option<String>,
    /// The name the client claimed, when it differs: shown as a claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<String>,
}

impl Actor {
    /// "alice", or "alice (claims carol)".
    pub fn who(&self) -> String {
        match &self.claimed {
            Some(claim) => format!("{} (claims {claim})", self.name),
            None => self.name.clone(),
        }
    }
}

/// The operations a session may ask for, for role checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Submit,
    Approve,
    Rollback,
    Estop,
    Rearm,
    Drill,
    Restore,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Submit => "submit",
            Op::Approve => "approve",
            Op::Rollback => "rollback",
            Op::Estop => "estop",
            Op::Rearm => "rearm",
            Op::Drill => "drill",
            Op::Restore => "restore",
        }
    }

    /// The least role that may perform this operation (DESIGN, roles).
    pub fn least_role(self) -> Role {
        match self {
            Op::Approve | Op::Rollback | Op::Estop | Op::Drill => Role::Operator,
            Op::Submit | Op::Rearm | Op::Restore => Role::Admin,
        }
    }
}

//! The JSON-lines protocol between the agent and every client (ctl, attach,
//! the control room). One line, one JSON object, tagged by `type`.
//!
//! Agent → client: `hello`, `snapshot`, then `state`, `health`, `audit` as
//! they happen, a `heartbeat` every second, `log` lines for a session
//! that follows the service's log, and a `reply` to each command. Client →
//! agent: `command`.
//! New message types and fields may appear; clients ignore unknown fields.
//! docs/protocol.md has a transcript.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::{Action, Actor, Stage, Tier};
pub use crate::pipeline::{AuditKind, CheckStatus, OutcomeWord, Role, StateWord};

pub mod drill;
pub mod estop;
pub mod history;
pub mod ledger;
pub mod logs;
pub mod pnl;
pub mod releases;
pub mod runbook;

/// Bumped when a message changes incompatibly.
pub const PROTOCOL: u32 = 1;

/// A line longer than this is refused and the session closed.
pub const MAX_LINE: usize = 1 << 20;
/// The longest line a client reads from an agent: an audit tail of 10 000
/// entries fits; a host sending more is cut off.
pub const MAX_AGENT_LINE: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMsg {
    Hello {
        protocol: u32,
        host: String,
        role: Role,
        agent_version: String,
    },
    Snapshot {
        status: Box<Status>,
        audit: Vec<AuditEntry>,
        /// The last hour of PnL, a sample every 10 s, oldest first
        /// (`pnl::PnlPoint`); absent when there is none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pnl: Vec<pnl::PnlPoint>,
    },
    State {
        status: Box<Status>,
    },
    Health {
        host: String,
        at: String,
        checks: Vec<CheckView>,
    },
    Audit {
        entry: Box<AuditEntry>,
    },
    /// The agent's loop is running: sent every [`HEARTBEAT_EVERY`] from the
    /// loop itself (not a session), so a frozen or wedged agent goes
    /// silent even while its SSH and `attach` still answer. `at` is the
    /// agent's clock.
    Heartbeat {
        at: String,
    },
    /// New lines of the service's log, for the session that asked `logs`
    /// with `follow` (`id` is that request's). `skipped` counts lines
    /// dropped because this client fell behind: a follow never makes the
    /// agent wait for a reader.
    Log {
        id: String,
        lines: Vec<String>,
        #[serde(default)]
        skipped: u64,
    },
    Reply(Reply),
}

/// How often an agent sends `heartbeat`. A client may call a host silent
/// after three missed beats.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Command(Command),
    /// Sent once, first, by `gantry attach`: caps the session's role and
    /// says who sshd authenticated. The agent answers with a new `hello`.
    Attach(AttachInfo),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachInfo {
    /// The most this session may do; the agent takes the lower of this and
    /// what the socket grants.
    pub role: Role,
    /// How the server side identified the peer: pinned operator name, key
    /// fingerprint, client address.
    pub seen_as: String,
}

/// A command: a client-chosen `id` (a resent id gets the first reply again
/// and acts once), who claims to ask, why, and the operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: String,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Status,
    Submit {
        /// The file name the release came from, for messages.
        name: String,
        content: String,
        #[serde(default = "default_tier")]
        tier: Tier,
        #[serde(default)]
        commit: Option<String>,
        #[serde(default)]
        promotion: Option<String>,
        /// Deploy through an active freeze window (admin, with the reason).
        #[serde(default)]
        override_freeze: bool,
        /// The release's name on this host (`releases::named_id`): the same
        /// on every host that is sent it. Absent: the content's name here
        /// if stored, else `<UTC stamp>-<hash8>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<String>,
    },
    /// Names exactly what it approves; a stale one is refused.
    Approve {
        deploy_id: String,
        digest: String,
        stage: Stage,
    },
    /// To the known-good, or with `to` to a release that passed live on
    /// this host before (its id or a digest prefix; `releases` lists them).
    Rollback {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    Estop,
    Rearm,
    Drill,
    /// After a rearm: the last known-good release straight to live, if the
    /// venue is verified flat first (admin).
    Restore,
    AuditTail {
        #[serde(default = "default_tail")]
        n: usize,
    },
    AuditVerify,
    /// One audit entry by sequence number, so a client can check that the
    /// log still extends the head it remembers.
    AuditEntry {
        seq: u64,
    },
    Validate {
        name: String,
        content: String,
    },
    /// A smoke deploy: run the release once with EXECUTION_PLANE=paper and
    /// no trading, check its startup log, stop it, restore what served.
    Smoke {
        name: String,
        content: String,
        #[serde(default)]
        override_freeze: bool,
    },
    /// Raise an alert through this host's webhooks (operator): how a
    /// fleet-level event, such as a rollout failing in a wave, reaches the
    /// people on call. Audited.
    Notify {
        priority: crate::pipeline::Priority,
        title: String,
    },
    /// The key-level diff of a stored release against another (the
    /// approve dialog shows it), secret-looking values masked.
    ReleaseDiff {
        release: String,
        against: Option<String>,
    },
    /// Past deploys, newest first, with stage timings (`history::History`).
    History {
        #[serde(default = "default_history_limit")]
        limit: usize,
    },
    /// The releases that served live here, newest first, and which a
    /// `rollback --to` may go to (`releases::Releases`).
    Releases,
    /// The risk ledger from this host's audit log over the last `since_s`
    /// seconds (default 30 days; `null`: the whole log) (`ledger::Report`).
    Report {
        #[serde(default = "default_report_since")]
        since_s: Option<u64>,
    },
    /// The service's log: its last `n` lines (`logs::LogTail`); with
    /// `follow`, then `log` messages as lines come, until this session
    /// asks `logs` again (`follow: false` stops) or leaves (operator).
    Logs {
        #[serde(default = "default_log_lines")]
        n: usize,
        #[serde(default)]
        follow: bool,
    },
    /// The runbook of a check (or of `not_flat`, `rollback_failed`):
    /// its file's text, or its URL (`runbook::RunbookText`).
    Runbook {
        name: String,
    },
}

fn default_report_since() -> Option<u64> {
    Some(30 * 86_400)
}

fn default_log_lines() -> usize {
    logs::DEFAULT_LINES
}

fn default_history_limit() -> usize {
    history::DEFAULT_LIMIT
}

fn default_tier() -> Tier {
    Tier::Balanced
}

fn default_tail() -> usize {
    20
}

impl Request {
    pub fn op_name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Submit { .. } => "submit",
            Request::Approve { .. } => "approve",
            Request::Rollback { .. } => "rollback",
            Request::Estop => "estop",
            Request::Rearm => "rearm",
            Request::Drill => "drill",
            Request::Restore => "restore",
            Request::AuditTail { .. } => "audit_tail",
            Request::AuditVerify => "audit_verify",
            Request::AuditEntry { .. } => "audit_entry",
            Request::Validate { .. } => "validate",
            Request::ReleaseDiff { .. } => "release_diff",
            Request::Smoke { .. } => "smoke",
            Request::Notify { .. } => "notify",
            Request::History { .. } => "history",
            Request::Releases => "releases",
            Request::Report { .. } => "report",
            Request::Logs { .. } => "logs",
            Request::Runbook { .. } => "runbook",
        }
    }
}

/// Why a command was refused; clients map it to an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Against policy in this state.
    Refused,
    /// The role may not.
    Forbidden,
    /// The input data is bad (release, validation).
    Invalid,
    /// The command was malformed.
    BadRequest,
    /// It ran and failed (a drill that did not come back healthy).
    Failed,
    /// The agent could not record or perform it.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl Reply {
    /// What the agent said it did (`data.message`), if it said.
    pub fn message(&self) -> Option<&str> {
        self.data.as_ref()?.get("message")?.as_str()
    }

    pub fn ok(id: &str, data: Option<Value>) -> Self {
        Self {
            id: id.to_string(),
            ok: true,
            error: None,
            code: None,
            data,
        }
    }

    pub fn err(id: &str, code: ErrorCode, error: impl Into<String>) -> Self {
        Self {
            id: id.to_string(),
            ok: false,
            error: Some(error.into()),
            code: Some(code),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// One health check as shown by status and the screen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    pub name: String,
    /// True only when the check has data and holds: no data is never ok.
    pub ok: bool,
    /// "ok", "failing", "no data", "pending", or "n/a" outside its stages.
    pub status: CheckStatus,
    pub value: Option<f64>,
    /// `<`, `<=`, `>`, `>=`, `==`, `!=`, or `between` (then `limit` is the
    /// band's low end and `between` the whole band).
    pub op: String,
    pub limit: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[f64; 2]>,
    /// What a failure does: `rollback`, `warn` or `observe`.
    #[serde(default)]
    pub action: Action,
    /// The expression the check reads (empty for `process_alive`).
    #[serde(default)]
    pub metric: String,
    /// Why the check has no data, when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `pass`, `fail`, `no data` or `insufficient` (null while pending or
    /// outside its stages). This and the baseline fields below are always
    /// present (null when they do not apply): scripts index them.
    #[serde(default)]
    pub verdict: Option<String>,
    /// A baseline comparison: where the baseline comes from (`known_good`
    /// or the baseline host's URL), its median, candidate ÷ baseline,
    /// candidate − baseline, the samples on each side `[candidate,
    /// baseline]`, and the one line that says it all.
    #[serde(default)]
    pub baseline_source: Option<String>,
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub ratio: Option<f64>,
    #[serde(default)]
    pub delta: Option<f64>,
    #[serde(default)]
    pub samples: Option<[usize; 2]>,
    #[serde(default)]
    pub evidence: Option<String>,
    pub severity: String,
    pub failures: u32,
    pub failures_allowed: u32,
    /// Seconds since the check last had data.
    pub age_s: Option<f64>,
    pub applies: bool,
    /// What to do when it fails, as the config names it: a file on the
    /// host (`runbook` fetches its text) or a URL (shown, not fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Awaiting {
    pub deploy_id: String,
    pub release: String,
    pub digest: String,
    pub stage: Stage,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub kind: String,
    pub running: bool,
    /// The service's process: the command kind's own, a unit's MainPID.
    pub pid: Option<u32>,
    /// systemd kind: the unit's name.
    #[serde(default)]
    pub unit: Option<String>,
    /// When the running service started (a unit: ActiveEnterTimestamp,
    /// i.e. when it became ready), RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// systemd kind: the unit's last Result= (`success`, `exit-code`,
    /// `start-limit-hit`, …).
    #[serde(default)]
    pub result: Option<String>,
    /// container kind: the container's name (gantry's, from the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// container kind: the image reference the container runs
    /// (`REPO:IMAGE_TAG`, the engine's Config.Image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// container kind: that image's id, as the engine prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

impl CheckView {
    /// The mark a check row starts with, the same in `ctl` and the control
    /// room: no data is never a tick.
    pub fn mark(&self) -> &'static str {
        match self.status {
            CheckStatus::Ok => "✓",
            CheckStatus::Pending => "…",
            CheckStatus::NoData => "?",
            CheckStatus::Insufficient => "…",
            CheckStatus::NotApplicable => "·",
            CheckStatus::Failing | CheckStatus::Unknown => "✗",
        }
    }

    /// The limit as two columns, the comparison and the bound: `<` `3`,
    /// or `in` `[-500,1000]` for a band. The same in `ctl` and the
    /// control room.
    pub fn limit_columns(&self) -> (String, String) {
        use crate::pipeline::gate::format_value;
        match self.between {
            Some([lo, hi]) => (
                "in".to_string(),
                format!("[{},{}]", format_value(lo), format_value(hi)),
            ),
            None if self.op == "baseline" => {
                ("vs".to_string(), format!("×{}", format_value(self.limit)))
            }
            None if self.op == "baseline_delta" => {
                ("vs".to_string(), format!("±{}", format_value(self.limit)))
            }
            None => (self.op.clone(), format_value(self.limit)),
        }
    }

    /// Whether the check counts in a gates tally ("9/9"): it applies, and
    /// has something to judge (a check judged only against a known-good
    /// that is not there is `n/a`: neither a pass nor a failure).
    pub fn counts(&self) -> bool {
        self.applies && self.status != CheckStatus::NotApplicable
    }

    /// The value column: the number, or why there is none.
    pub fn shown_value(&self) -> String {
        match (self.status, self.value) {
            (CheckStatus::NoData, _) => "no data".to_string(),
            (_, Some(v)) => crate::pipeline::gate::format_value(v),
            (status, None) => status.as_str().to_string(),
        }
    }
}

/// `status --json`: the fields DESIGN names, and a few more. `Default` is
/// for tests and stand-ins (an unknown state, nothing known); the agent
/// fills every field (`agent/status.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Status {
    pub host: String,
    pub state: StateWord,
    pub deploy_id: Option<String>,
    pub current_release: Option<String>,
    /// The promotion reference of the deploy (a rollout writes its wave).
    #[serde(default)]
    pub promotion: Option<String>,
    /// sha256 of the current release, so a client can tell "already on it".
    #[serde(default)]
    pub current_digest: Option<String>,
    /// The release of the deploy in flight (or the last one), with its digest.
    #[serde(default)]
    pub deploy_release: Option<String>,
    #[serde(default)]
    pub deploy_digest: Option<String>,
    pub previous_release: Option<String>,
    pub stage_started_at: Option<String>,
    pub soak_remaining_s: Option<f64>,
    pub soak_total_s: Option<f64>,
    /// Why the soak clock stands still, or what the stage still waits for:
    /// `soak paused: market closed`, `waiting for fills 12/20`, `soak held:
    /// CHECK has too little baseline evidence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_paused: Option<String>,
    /// The stage whose gate is watched.
    pub stage: Option<Stage>,
    pub checks: Vec<CheckView>,
    pub last_drill_at: Option<String>,
    /// The last drill, passed or not, with its timings (`drill::DrillView`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<drill::DrillView>,
    /// When this host first went live: the 30-day drill warning counts
    /// from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_since: Option<String>,
    pub awaiting_approval: Option<Awaiting>,
    pub halted_reason: Option<String>,
    /// While halted, the runbook for it (`[runbooks]`): `not_flat`'s when
    /// the stop is not proven flat, else `rollback_failed`'s when a fault
    /// (not a person) halted the host. `runbook` with `name` set to
    /// `not_flat` or `rollback_failed` fetches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<HostRunbook>,
    /// The last emergency stop or halt, its kill command and whether the
    /// venue was verified flat (`estop::EstopView`).
    #[serde(default)]
    pub estop: Option<estop::EstopView>,
    pub tier: Option<Tier>,
    pub submitted_by: Option<Actor>,
    pub deploy_reason: Option<String>,
    /// The commit the deploy was submitted with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// How the deploy in flight (or the last one) stands.
    pub outcome: Option<OutcomeView>,
    pub service: ServiceView,
    pub audit_head: Option<AuditHead>,
    /// When the last sample was taken.
    pub sampled_at: Option<String>,
    /// Why the last scrape gave no data, if it did not.
    pub scrape_error: Option<String>,
    /// The freeze window active now ("name (when zone)"): submits are
    /// refused unless an admin overrides.
    #[serde(default)]
    pub freeze: Option<String>,
    pub agent_version: String,
    pub now: String,
}

/// A runbook for the host's state rather than one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRunbook {
    /// `not_flat` or `rollback_failed`: what `runbook` is asked for.
    pub name: String,
    /// As the config names it.
    pub runbook: String,
}

/// A deploy's outcome as status carries it: `{"outcome": word, "detail":
/// why}` (no `detail` while in flight or live). A word a newer agent sends
/// reads as `unknown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeView {
    pub outcome: OutcomeWord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<&crate::pipeline::Outcome> for OutcomeView {
    fn from(outcome: &crate::pipeline::Outcome) -> Self {
        Self {
            outcome: outcome.word(),
            detail: outcome.detail().map(str::to_string),
        }
    }
}

/// One audit log line as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: String,
    pub host: String,
    pub kind: AuditKind,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// On the first entry of a transition: the pipeline event it records
    /// and the time it was stepped at (`{"at":…,"event":…}`). The audit log
    /// is the agent's write-ahead log: recovery replays these past the last
    /// saved state (docs/layout.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    pub prev: String,
    pub hash: String,
}

/// Encodes one message as a line (with the newline).
pub fn encode<T: Serialize>(msg: &T) -> String {
    // Serializing these types cannot fail: no maps with non-string keys.
    let line = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    // C1 escaped: a client that logs or prints the raw line stays safe.
    let mut line = crate::text::json_inert(&line);
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_round_trips_and_ignores_unknown_fields() {
        let line = r#"{"type":"command","id":"c1","op":"approve","operator":"amy","reason":"ok","deploy_id":"d-1","digest":"ab","stage":"canary","extra":true}"#;
        let ClientMsg::Command(cmd) = serde_json::from_str(line).unwrap() else {
            panic!("not a command");
        };
        assert_eq!(cmd.id, "c1");
        assert_eq!(
            cmd.request,
            Request::Approve {
                deploy_id: "d-1".into(),
                digest: "ab".into(),
                stage: Stage::Canary
            }
        );
        let again: ClientMsg =
            serde_json::from_str(encode(&ClientMsg::Command(cmd.clone())).trim()).unwrap();
        assert_eq!(again, ClientMsg::Command(cmd));
    }

    #[test]
    fn attach_round_trips() {
        let msg = ClientMsg::Attach(AttachInfo {
            role: Role::Operator,
            seen_as: "operator alice (pinned), key SHA256:x".into(),
        });
        let back: ClientMsg = serde_json::from_str(encode(&msg).trim()).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn heartbeat_round_trips_and_is_small() {
        let msg = AgentMsg::Heartbeat {
            at: "2026-11-24T21:05:20.474Z".into(),
        };
        let line = encode(&msg);
        assert_eq!(
            line,
            "{\"type\":\"heartbeat\",\"at\":\"2026-11-24T21:05:20.474Z\"}\n"
        );
        assert_eq!(serde_json::from_str::<AgentMsg>(line.trim()).unwrap(), msg);
    }

    #[test]
    fn logs_request_and_log_message_round_trip() {
        let asked: ClientMsg =
            serde_json::from_str(r#"{"type":"command","id":"l1","op":"logs","follow":true}"#)
                .unwrap();
        let ClientMsg::Command(command) = asked else {
            panic!("a command")
        };
        assert_eq!(
            command.request,
            Request::Logs {
                n: logs::DEFAULT_LINES,
                follow: true
            }
        );
        let msg = AgentMsg::Log {
            id: "l1".into(),
            lines: vec!["\u{1b}[2Jboom".into()],
            skipped: 3,
        };
        let line = encode(&msg);
        assert!(
            !line.contains('\u{1b}'),
            "JSON escapes control bytes: {line}"
        );
        assert_eq!(serde_json::from_str::<AgentMsg>(line.trim()).unwrap(), msg);
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"bogus","id":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMsg>(r#"{"type":"command","id":"x","op":"nuke"}"#)
                .is_err()
        );
    }

    #[test]
    fn reply_round_trips() {
        let reply = Reply::err("7", ErrorCode::Forbidden, "role viewer may not estop");
        let msg = AgentMsg::Reply(reply);
        let back: AgentMsg = serde_json::from_str(encode(&msg).trim()).unwrap();
        assert_eq!(back, msg);
        assert!(encode(&msg).contains(r#""type":"reply""#));
    }
}

//! What an audit entry records, as one type from the machine to the wire.
//! The words are the contract (docs/protocol.md): scripts and reviewers
//! grep `gate.fail` and `estop`, so each variant's word never changes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditKind {
    AgentResume,
    DeploySubmit,
    DeployRejected,
    DeployStopped,
    StageStart,
    StageAwait,
    StageLive,
    GatePass,
    GateFail,
    /// A `warn` check began to fail; the deploy goes on.
    GateWarn,
    WatchDone,
    Approve,
    /// An approval waited past an `escalate_after_s` threshold: paged P1.
    ApprovalEscalated,
    Rollback,
    RollbackStart,
    RollbackDone,
    Estop,
    Halt,
    Rearm,
    DrillStart,
    DrillBack,
    DrillDone,
    SmokeStart,
    SmokePass,
    SmokeFail,
    KillDone,
    KillFailed,
    KillSkipped,
    FlatVerified,
    FlatFailed,
    FlatUnverified,
    Restore,
    Notify,
    /// `error.<what>`: an effect the agent could not carry out.
    Error(String),
    /// `<op>.refused`: a human command that was refused.
    Refused(String),
    /// A word this build does not know (a newer agent wrote it).
    Unknown(String),
}

/// Every fixed kind with its word, declared once.
const WORDS: &[(AuditKind, &str)] = &[
    (AuditKind::AgentResume, "agent.resume"),
    (AuditKind::DeploySubmit, "deploy.submit"),
    (AuditKind::DeployRejected, "deploy.rejected"),
    (AuditKind::DeployStopped, "deploy.stopped"),
    (AuditKind::StageStart, "stage.start"),
    (AuditKind::StageAwait, "stage.await"),
    (AuditKind::StageLive, "stage.live"),
    (AuditKind::GatePass, "gate.pass"),
    (AuditKind::GateFail, "gate.fail"),
    (AuditKind::GateWarn, "gate.warn"),
    (AuditKind::WatchDone, "watch.done"),
    (AuditKind::Approve, "approve"),
    (AuditKind::ApprovalEscalated, "approval.escalated"),
    (AuditKind::Rollback, "rollback"),
    (AuditKind::RollbackStart, "rollback.start"),
    (AuditKind::RollbackDone, "rollback.done"),
    (AuditKind::Estop, "estop"),
    (AuditKind::Halt, "halt"),
    (AuditKind::Rearm, "rearm"),
    (AuditKind::DrillStart, "drill.start"),
    (AuditKind::DrillBack, "drill.back"),
    (AuditKind::DrillDone, "drill.done"),
    (AuditKind::SmokeStart, "smoke.start"),
    (AuditKind::SmokePass, "smoke.pass"),
    (AuditKind::SmokeFail, "smoke.fail"),
    (AuditKind::KillDone, "kill.done"),
    (AuditKind::KillFailed, "kill.failed"),
    (AuditKind::KillSkipped, "kill.skipped"),
    (AuditKind::FlatVerified, "flat.verified"),
    (AuditKind::FlatFailed, "flat.failed"),
    (AuditKind::FlatUnverified, "flat.unverified"),
    (AuditKind::Restore, "restore"),
    (AuditKind::Notify, "notify"),
];

impl AuditKind {
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Self::Error(what) => Cow::Owned(format!("error.{what}")),
            Self::Refused(op) => Cow::Owned(format!("{op}.refused")),
            Self::Unknown(word) => Cow::Borrowed(word),
            fixed => Cow::Borrowed(
                WORDS
                    .iter()
                    .find(|(kind, _)| kind == fixed)
                    .map_or("", |(_, word)| word),
            ),
        }
    }

    /// Reads a word; never fails (an unknown word is kept as it is).
    pub fn parse(word: &str) -> Self {
        if let Some((kind, _)) = WORDS.iter().find(|(_, w)| *w == word) {
            return kind.clone();
        }
        if let Some(what) = word.strip_prefix("error.") {
            return Self::Error(what.to_string());
        }
        if let Some(op) = word.strip_suffix(".refused") {
            return Self::Refused(op.to_string());
        }
        Self::Unknown(word.to_string())
    }

    /// A failure, a rollback or a refusal: drawn as trouble.
    pub fn is_trouble(&self) -> bool {
        match self {
            Self::GateFail
            | Self::GateWarn
            | Self::SmokeFail
            | Self::KillFailed
            | Self::FlatFailed
            | Self::FlatUnverified
            | Self::Rollback
            | Self::RollbackStart
            | Self::RollbackDone
            | Self::Refused(_) => true,
            Self::Unknown(word) => word.contains("fail"),
            _ => false,
        }
    }

    /// The pipeline stopped: an emergency stop or a halt.
    pub fn is_stop(&self) -> bool {
        matches!(self, Self::Estop | Self::Halt)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, so widths like `{:<16}` line columns up.
        f.pad(&self.as_str())
    }
}

impl From<&str> for AuditKind {
    fn from(word: &str) -> Self {
        Self::parse(word)
    }
}

impl PartialEq<&str> for AuditKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for AuditKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::parse(&word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_to_its_kind() {
        for (kind, word) in WORDS {
            assert_eq!(kind.as_str(), *word);
            assert_eq!(&AuditKind::parse(word), kind);
        }
        for word in ["estop.refused", "error.stop", "a.word.from.tomorrow"] {
            let kind = AuditKind::parse(word);
            assert_eq!(kind.as_str(), word);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<AuditKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            AuditKind::parse("estop.refused"),
            AuditKind::Refused("estop".into())
        );
        assert!(matches!(
            AuditKind::parse("a.word.from.tomorrow"),
            AuditKind::Unknown(_)
        ));
    }
}

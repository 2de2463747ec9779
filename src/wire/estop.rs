//! The last emergency stop (or halt) as clients see it: `status.estop`.
//!
//! `{at, by, reason, kill: {ok, summary}, flat: {verified, at, summary}}`:
//! `kill.ok` and `flat.verified` are null while that step still runs, and
//! `flat.verified` is true only when the verify command said flat. With no
//! verify command configured it is false, and `verdict` says
//! `unverified`: nobody checked, so it is never shown as flat.

use serde::{Deserialize, Serialize};

use crate::pipeline::{FlatVerdict, StopRecord};
use crate::stamp::rfc3339;

/// Where an emergency stop stands at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The kill command runs.
    Flattening,
    /// The verify command is being asked.
    Verifying,
    Flat,
    /// The venue is flat, but the kill command failed.
    FlatKillFailed,
    NotFlat,
    /// No verify command: nobody checked.
    Unverified,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstopView {
    pub at: String,
    /// Who pressed it; null when a fault halted the pipeline.
    pub by: Option<String>,
    pub reason: String,
    pub kill: KillView,
    pub flat: FlatView,
    /// What `ctl restore` would bring back live, after a rearm.
    #[serde(default)]
    pub restore_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillView {
    pub ok: Option<bool>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatView {
    pub verified: Option<bool>,
    #[serde(default)]
    pub verdict: Option<FlatVerdict>,
    pub at: Option<String>,
    pub summary: Option<String>,
}

impl From<&StopRecord> for EstopView {
    fn from(stop: &StopRecord) -> Self {
        Self {
            at: rfc3339(stop.at),
            by: stop.by.as_ref().map(|by| by.who()),
            reason: stop.reason.clone(),
            kill: KillView {
                ok: stop.kill.as_ref().map(|k| k.ok),
                summary: stop.kill.as_ref().map(|k| k.summary.clone()),
            },
            flat: FlatView {
                verified: stop.flat.as_ref().map(|f| f.verdict == FlatVerdict::Flat),
                verdict: stop.flat.as_ref().map(|f| f.verdict),
                at: stop.flat.as_ref().map(|f| rfc3339(f.at)),
                summary: stop.flat.as_ref().map(|f| f.summary.clone()),
            },
            restore_to: stop.restore_to.as_ref().map(|r| r.id.clone()),
        }
    }
}

impl EstopView {
    /// Where the stop stands at the venue.
    pub fn standing(&self) -> Standing {
        // What the venue was found to be comes first: that is the money.
        let verdict = self.flat.verdict.or(match self.flat.verified {
            Some(true) => Some(FlatVerdict::Flat),
            Some(false) => Some(FlatVerdict::NotFlat),
            None => None,
        });
        match (self.kill.ok, verdict) {
            (None, _) => Standing::Flattening,
            (Some(_), None) => Standing::Verifying,
            (Some(false), Some(FlatVerdict::Flat)) => Standing::FlatKillFailed,
            (Some(_), Some(FlatVerdict::Flat)) => Standing::Flat,
            (Some(_), Some(FlatVerdict::NotFlat)) => Standing::NotFlat,
            (Some(_), Some(FlatVerdict::Unverified)) => Standing::Unverified,
        }
    }

    /// What follows `HALTED · ` on the screen and in ctl.
    pub fn headline(&self) -> &'static str {
        match self.standing() {
            Standing::Flattening => "FLATTENING…",
            Standing::Verifying => "VERIFYING FLAT…",
            Standing::FlatKillFailed => "FLAT, KILL FAILED",
            Standing::Flat => FlatVerdict::Flat.headline(),
            Standing::NotFlat => FlatVerdict::NotFlat.headline(),
            Standing::Unverified => FlatVerdict::Unverified.headline(),
        }
    }

    /// The same in at most 11 characters, for a narrow table.
    pub fn short(&self) -> &'static str {
        match self.standing() {
            Standing::Flattening | Standing::Verifying => "HALTING…",
            Standing::FlatKillFailed => "KILL FAILED",
            Standing::Flat => "HALTED·FLAT",
            Standing::NotFlat => "NOT FLAT ✗",
            Standing::Unverified => "UNVERIFIED",
        }
    }

    /// Both steps answered and the book is proven flat.
    pub fn proven_flat(&self) -> bool {
        self.kill.ok == Some(true) && self.flat.verified == Some(true)
    }

    /// Both steps have answered.
    pub fn settled(&self) -> bool {
        self.kill.ok.is_some() && self.flat.verified.is_some()
    }

    /// The line that says why it is not flat: the kill's summary if it
    /// failed, else the verify command's.
    pub fn evidence(&self) -> Option<&str> {
        if self.kill.ok == Some(false) {
            return self.kill.summary.as_deref();
        }
        self.flat.summary.as_deref()
    }
}

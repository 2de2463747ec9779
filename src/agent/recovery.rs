//! Recovery: the audit log is the agent's write-ahead log.
//!
//! The order, for every transition that records anything (docs/layout.md):
//! 1. deploy_state.json holds the pipeline the event applies to (saved
//!    first if soak progress changed it since the last save);
//! 2. the transition's first audit entry is appended and synced, carrying
//!    the event and the time it was stepped at: from here the decision is
//!    recorded, and it will be carried out;
//! 3. the effects run (links, stage.env, the service, the kill command);
//! 4. deploy_state.json is saved with the audit head it reflects.
//!
//! On start, [`replay`] steps every recorded event past the saved head, in
//! order, on the saved pipeline: the machine is a pure function, so it
//! reaches the state the crashed agent had decided. `Event::Resumed` then
//! makes the files and the service match it.
//!
//! The emergency stop must stop even when nothing can be written: if its
//! audit entry cannot be appended, it is written in place to `estop.flag`,
//! a file of fixed size made when the agent starts, so a full disk cannot
//! refuse it. A flag newer than the pipeline's last stop is stepped (and
//! recorded) on start, before anything else.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::AgentConfig;
use crate::pipeline::{Event, Pipeline, StateWord, Time};
use crate::wire::AuditEntry;

/// An event as the audit log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub at: Time,
    pub event: Event,
    /// The state the transition decided on: what a replay must reach (and
    /// what a reader of the log can check a restarted agent against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<StateWord>,
}

impl Recorded {
    pub fn of(entry: &AuditEntry) -> Option<Self> {
        serde_json::from_value(entry.event.clone()?).ok()
    }
}

/// What a replay found and did.
pub struct Replayed {
    pub pipeline: Pipeline,
    /// Recorded events stepped.
    pub steps: usize,
}

/// Steps every recorded event in `entries` (the audit tail past the saved
/// head) on `pipeline`, in order.
pub fn replay(config: &AgentConfig, mut pipeline: Pipeline, entries: &[AuditEntry]) -> Replayed {
    let mut steps = 0;
    for entry in entries {
        let Some(recorded) = Recorded::of(entry) else {
            continue;
        };
        match pipeline.step(&config.pipeline, &recorded.event, recorded.at) {
            Ok(transition) => {
                pipeline = transition.next;
                steps += 1;
                if let Some(to) = recorded.to
                    && to != pipeline.word()
                {
                    eprintln!(
                        "gantry agent: WARNING: audit #{} decided {to} but replays to {}",
                        entry.seq,
                        pipeline.word()
                    );
                }
            }
            // The saved state was the one the event applied to, so this
            // is a bug or a changed config; say so and go on.
            Err(refusal) => eprintln!(
                "gantry agent: audit #{} ({}) could not be replayed: {refusal}",
                entry.seq, entry.kind
            ),
        }
    }
    Replayed { pipeline, steps }
}

/// `estop.flag`: the last emergency stop, written in place.
pub struct EstopFlag {
    file: File,
}

const FLAG_SIZE: usize = 4096;

impl EstopFlag {
    /// Opens the flag, making it full size (with the agent's user only
    /// reading it) if it is new or short.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        if file.metadata()?.len() < FLAG_SIZE as u64 {
            let mut current = vec![0u8; FLAG_SIZE];
            let read = file.read_at(&mut current, 0)?;
            current[read..].fill(b' ');
            file.write_all_at(&current, 0)?;
            file.sync_all()?;
            crate::durable::sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        }
        Ok(Self { file })
    }

    /// The stop last written, if any.
    pub fn read(&self) -> Option<Recorded> {
        let mut bytes = vec![0u8; FLAG_SIZE];
        let n = self.file.read_at(&mut bytes, 0).ok()?;
        let text = std::str::from_utf8(&bytes[..n]).ok()?.trim();
        if text.is_empty() {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// Overwrites the flag with `stop`: no new block is needed, so this
    /// works on a full disk.
    pub fn write(&self, stop: &Recorded) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(stop).map_err(io::Error::other)?;
        if bytes.len() > FLAG_SIZE {
            return Err(io::Error::other("emergency stop record too long"));
        }
        bytes.resize(FLAG_SIZE, b' ');
        self.file.write_all_at(&bytes, 0)?;
        self.file.sync_data()
    }
}

//! Reading a deploy_state.json an older agent wrote, so an upgrade never
//! strands a host mid-deploy.
//!
//! - Format 1 (no `format` field) kept the deploy and the gate beside the
//!   phase (`pipeline.deploy`, `pipeline.gate`). Format 2 keeps them in the
//!   phase that serves them, and a deploy that ended in history.
//!
//! A file from a newer agent is refused rather than guessed at.

use serde_json::{Map, Value};

use crate::pipeline::machine::HISTORY_LIMIT;

/// The layout this build writes.
pub const STATE_FORMAT: u64 = 2;

/// Brings the JSON of a state file up to [`STATE_FORMAT`] in place.
pub fn upgrade(file: &mut Value) -> Result<(), String> {
    let format = file.get("format").and_then(Value::as_u64).unwrap_or(1);
    if format > STATE_FORMAT {
        return Err(format!(
            "written by a newer agent (format {format}; this one reads up to {STATE_FORMAT})"
        ));
    }
    if format == 1
        && let Some(pipeline) = file.get_mut("pipeline").and_then(Value::as_object_mut)
    {
        from_v1(pipeline);
    }
    if let Some(file) = file.as_object_mut() {
        file.insert("format".into(), STATE_FORMAT.into());
    }
    Ok(())
}

fn from_v1(pipeline: &mut Map<String, Value>) {
    let deploy = pipeline.remove("deploy").filter(|d| !d.is_null());
    let gate = pipeline.remove("gate").filter(|g| !g.is_null());
    let ended = match pipeline.get_mut("phase") {
        Some(phase) => carry(phase, deploy, gate),
        None => deploy,
    };
    let Some(ended) = ended else {
        return;
    };
    let history = pipeline
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(history) = history.as_array_mut() {
        let id = ended.get("id");
        if !history.iter().any(|d| d.get("id") == id) {
            history.push(ended);
        }
        let excess = history.len().saturating_sub(HISTORY_LIMIT);
        history.drain(..excess);
    }
}

/// Puts the deploy and the gate into the phase that serves them; returns
/// the deploy when no phase serves it any more (it ended: history).
fn carry(phase: &mut Value, deploy: Option<Value>, gate: Option<Value>) -> Option<Value> {
    let word = phase.get("phase").and_then(Value::as_str).unwrap_or("");
    match word {
        "soaking" | "awaiting_approval" | "live" | "rolling_back" | "drilling" => {
            let phase = phase.as_object_mut()?;
            // A v1 file without them was broken already; loading then
            // names the missing field.
            if let Some(deploy) = deploy {
                phase.insert("deploy".into(), deploy);
            }
            if let Some(gate) = gate {
                phase.insert("gate".into(), gate);
            }
            None
        }
        "rolled_back" => {
            if let (Some(phase), Some(gate)) = (phase.as_object_mut(), gate) {
                phase.insert("gate".into(), gate);
            }
            deploy
        }
        "validating" => carry(phase.get_mut("prior")?, deploy, gate),
        "smoking" => {
            // Nothing was watched during a smoke deploy; the gate of what
            // served before is replaced afresh when the smoke ends or the
            // agent resumes, so any well-formed gate will do here.
            let since = phase.get("since").cloned().unwrap_or(Value::Null);
            let gate = serde_json::json!({ "stage": "live", "since": since, "checks": [] });
            carry(phase.get_mut("prior")?, deploy, Some(gate))
        }
        _ => deploy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;

    /// Pipelines in every phase, as the format-1 agent saved them.
    fn v1_fixtures() -> Vec<(String, Value)> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pipeline_v1");
        let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let name = path.file_stem().unwrap().to_string_lossy().to_string();
                (name, serde_json::from_str(&text).unwrap())
            })
            .collect();
        fixtures.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(fixtures.len() >= 10, "fixtures in {}", dir.display());
        fixtures
    }

    #[test]
    fn every_v1_phase_loads_with_its_deploy_gate_and_history() {
        for (name, old) in v1_fixtures() {
            let mut file = serde_json::json!({ "pipeline": old.clone() });
            upgrade(&mut file).unwrap();
            assert_eq!(file["format"], STATE_FORMAT);
            let pipeline: Pipeline = serde_json::from_value(file["pipeline"].clone())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let phase_word = old["phase"]["phase"].as_str().unwrap();
            let word = match phase_word {
                "soaking" => old["phase"]["stage"].as_str().unwrap(),
                "drilling" => "rolling_back",
                "smoking" => "smoke",
                other => other,
            };
            assert_eq!(pipeline.word().as_str(), word, "{name}");
            assert_eq!(
                pipeline.deploy().map(|d| d.id.as_str()),
                old["deploy"]["id"].as_str(),
                "{name}: the deploy status names"
            );
            if phase_word != "smoking" {
                let old_gate: Option<crate::pipeline::Gate> =
                    serde_json::from_value(old["gate"].clone()).unwrap();
                assert_eq!(
                    pipeline.gate(),
                    old_gate.as_ref(),
                    "{name}: the watched gate"
                );
            }
            assert_eq!(
                serde_json::to_value(&pipeline.serving).unwrap(),
                old["serving"],
                "{name}"
            );
            assert_eq!(
                serde_json::to_value(&pipeline.known_good).unwrap(),
                old["known_good"],
                "{name}"
            );
            // Nothing remembered is lost, and nothing counted twice.
            let mut ids: Vec<&str> = pipeline.deploys().map(|d| d.id.as_str()).collect();
            let before = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), before, "{name}: a deploy twice");
            for old in old["history"]
                .as_array()
                .unwrap()
                .iter()
                .chain(old.get("deploy").filter(|d| !d.is_null()))
            {
                assert!(
                    ids.contains(&old["id"].as_str().unwrap()),
                    "{name}: lost {}",
                    old["id"]
                );
            }
            // The upgraded pipeline is a format-2 pipeline: it round-trips.
            let again: Pipeline =
                serde_json::from_value(serde_json::to_value(&pipeline).unwrap()).unwrap();
            assert_eq!(again, pipeline, "{name}");
        }
    }

    #[test]
    fn format_two_is_read_as_is_and_a_newer_format_is_refused() {
        let mut file = serde_json::json!({ "format": 2, "pipeline": serde_json::to_value(Pipeline::default()).unwrap() });
        let before = file.clone();
        upgrade(&mut file).unwrap();
        assert_eq!(file, before);
        let mut newer = serde_json::json!({ "format": 3, "pipeline": {} });
        let err = upgrade(&mut newer).unwrap_err();
        assert!(err.contains("newer agent (format 3"), "{err}");
    }
}

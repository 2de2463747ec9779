//! What a command asks, checked in its session before it reaches the loop.
//!
//! A release may be up to `MAX_RELEASE_BYTES`; parsing it, hashing it and
//! fingerprinting the command are the client's cost, paid on the session's
//! task (and a blocking thread for releases), so sampling, gates and a
//! rollback never wait behind an admin's upload.

use super::venue::VenueProbe;
use crate::pipeline::{FlatVerdict, Role, STAGE_OWNED_KEYS};
use crate::wire::{Command, Request};

/// A release carried by a command, checked.
#[derive(Debug, Clone)]
pub struct CheckedRelease {
    /// sha256 of the content, hex.
    pub digest: String,
    /// Refused with a message naming the release and line, or fine.
    pub verdict: Result<(), String>,
}

/// A command as the loop receives it: with its fingerprint and, if it
/// carries a release, that release checked.
#[derive(Debug, Clone)]
pub struct Checked {
    /// What the command asks (its id left out), for resent-id matching.
    pub asked: String,
    pub release: Option<CheckedRelease>,
    /// For a restore: what the verify command answered just now.
    pub venue: Option<(FlatVerdict, String)>,
}

/// Checks `command`; on a blocking thread when it carries a release. An
/// admin's restore asks the venue first (a command that may take seconds,
/// here rather than on the loop).
pub async fn check(command: Command, role: Role, probe: Option<&VenueProbe>) -> (Command, Checked) {
    if matches!(command.request, Request::Restore) && role == Role::Admin {
        let mut checked = check_now(&command);
        checked.venue = Some(match probe {
            Some(probe) => probe.once().await,
            None => (
                FlatVerdict::Unverified,
                "no verify command configured ([kill] verify)".into(),
            ),
        });
        return (command, checked);
    }
    if release_of(&command).is_none() {
        let checked = check_now(&command);
        return (command, checked);
    }
    tokio::task::spawn_blocking(move || {
        let checked = check_now(&command);
        (command, checked)
    })
    .await
    .expect("checking a command does not panic")
}

fn check_now(command: &Command) -> Checked {
    Checked {
        asked: asked(command),
        release: release_of(command).map(|(name, content)| {
            let digest = crate::stamp::sha256_hex(content.as_bytes());
            let verdict = parse_release(name, content).and_then(|()| match &command.request {
                Request::Submit {
                    release: Some(given),
                    ..
                } => crate::wire::releases::named_id(given, &digest).map(|_| ()),
                _ => Ok(()),
            });
            CheckedRelease { digest, verdict }
        }),
        venue: None,
    }
}

fn release_of(command: &Command) -> Option<(&str, &str)> {
    match &command.request {
        Request::Submit { name, content, .. }
        | Request::Smoke { name, content, .. }
        | Request::Validate { name, content } => Some((name, content)),
        _ => None,
    }
}

/// What a command asks, as one comparable string (its id left out).
fn asked(command: &Command) -> String {
    let mut fields = serde_json::to_value(command).unwrap_or_default();
    if let Some(map) = fields.as_object_mut() {
        map.remove("id");
    }
    crate::stamp::sha256_hex(fields.to_string().as_bytes())
}

/// A release must parse, and may not set what the stage owns.
fn parse_release(name: &str, content: &str) -> Result<(), String> {
    let name = crate::text::inert(name);
    let env = crate::envfile::parse(content.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
    for entry in &env.entries {
        if STAGE_OWNED_KEYS.contains(&entry.key.as_str()) {
            return Err(format!(
                "{name}: line {}: {} is set by the stage (stage.env), not by a release",
                entry.line, entry.key
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(request: Request) -> Command {
        Command {
            id: "c1".into(),
            operator: None,
            reason: None,
            request,
        }
    }

    #[tokio::test]
    async fn a_release_is_checked_and_fingerprinted_with_its_command() {
        let (_, checked) = check(
            command(Request::Validate {
                name: "v2.env".into(),
                content: "A=1\nTRADE_MODE=live\n".into(),
            }),
            Role::Admin,
            None,
        )
        .await;
        let release = checked.release.unwrap();
        assert_eq!(release.digest.len(), 64);
        let refusal = release.verdict.unwrap_err();
        assert!(refusal.contains("v2.env: line 2: TRADE_MODE"), "{refusal}");

        // A name given at submit must be able to name a file.
        let (_, named) = check(
            command(Request::Submit {
                name: "v2.env".into(),
                content: "A=1\n".into(),
                tier: crate::pipeline::Tier::Balanced,
                commit: None,
                promotion: None,
                override_freeze: false,
                release: Some("../../etc/x".into()),
            }),
            Role::Admin,
            None,
        )
        .await;
        let refusal = named.release.unwrap().verdict.unwrap_err();
        assert!(refusal.starts_with("release name"), "{refusal}");

        let (_, status) = check(command(Request::Status), Role::Viewer, None).await;
        assert!(status.release.is_none());
        assert_ne!(status.asked, checked.asked);
    }
}

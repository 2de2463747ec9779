//! Client commands: who is asking (the identity sshd or the socket saw),
//! turning a command into a pipeline event, the replies that wait for an
//! outcome, and the memory of replies for resent command ids.

use std::time::Instant;

use chrono::Utc;
use serde_json::json;

use super::intake::Checked;
use super::releases::{Candidate, Provenance, Validation};
use super::replies::{Awaited, Earlier, Waiter};
use super::socket::Request;
use super::timing::{RollbackTimer, entered_rollback};
use super::{Agent, audit, freeze, store};
use crate::pipeline::{
    Actor, ApprovalRequest, AuditKind, Event, FlatVerdict, Note, Pending, Phase, Refusal,
    RefusalKind, RestoreRequest, Role, Submission,
};
use crate::wire::{Command, ErrorCode, Reply, Request as Op};

pub(super) enum Answer {
    Now(Reply),
    Later(Awaited),
    DryRun,
}

pub(super) fn refused(id: &str, refusal: &Refusal) -> Reply {
    let code = match refusal.kind {
        RefusalKind::Policy => ErrorCode::Refused,
        RefusalKind::Forbidden => ErrorCode::Forbidden,
        RefusalKind::Invalid => ErrorCode::BadRequest,
        RefusalKind::Unexpected { .. } => ErrorCode::Internal,
    };
    Reply::err(id, code, refusal.message.clone())
}

/// Who acts: the identity the agent saw (the operator an authorized_keys
/// line pins, else the certificate or key sshd accepted, else the local
/// user), with the name the client claimed kept beside it as a claim.
pub(super) fn actor_of(command: &Command, role: Role, seen_as: &str) -> Actor {
    let name = identity(seen_as);
    let claimed = command
        .operator
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(crate::text::inert)
        .filter(|n| *n != name);
    Actor {
        name,
        role,
        seen_as: Some(seen_as.to_string()),
        claimed,
    }
}

/// The identity in a session's `seen_as` (socket.rs and attach.rs write
/// it, parts joined by ", "): `operator alice (pinned), cert alice@desk
/// (serial 7, CA SHA256:…), key SHA256:…, from … via uid 0 (root)`. In
/// order: the operator an authorized_keys line pins; else a user
/// certificate's key id, which is the CA's name for a person (two keys
/// certified as `alice@desk` are one approver, two key ids are two); else
/// the key sshd accepted; else the local user.
pub(super) fn identity(seen_as: &str) -> String {
    // The word after `label` at the start of a part. Parts, not words: a
    // key id may itself read `operator` or `key`.
    let part = |label: &str| {
        seen_as.split(", ").find_map(|p| {
            let word = p
                .strip_prefix(label)?
                .strip_prefix(' ')?
                .split(' ')
                .next()?;
            (!word.is_empty()).then(|| word.to_string())
        })
    };
    if let Some(operator) = part("operator") {
        return operator;
    }
    // attach writes `""` for an empty key id and `?` for a certificate it
    // could not read; neither names anyone, so the key or user decides.
    if let Some(key_id) = part("cert").filter(|id| id.chars().all(crate::text::is_key_id_char)) {
        return key_id;
    }
    if let Some(key) = part("key") {
        return format!("key {key}");
    }
    // "uid 0 (root)" → root; "uid 1001" → uid 1001.
    let local = seen_as.rsplit(" via ").next().unwrap_or(seen_as);
    match local.split_once(" (") {
        Some((_, name)) => name.trim_end_matches(')').to_string(),
        None => local.to_string(),
    }
}

impl Agent {
    pub(super) fn settle(&mut self, pending: Pending, ok: bool, message: String) {
        let mut data = json!({ "message": message });
        if pending == Pending::Drill
            && let Some(timer) = self.rollback_timer.take()
        {
            let report = self.drill_report.take().unwrap_or_else(|| timer.report());
            // Passed or not, status shows it from now on (a drill that
            // failed forward wrote no `drill.done`).
            self.last_drill = Some(self.drill_view(ok, &message, Some(report.clone())));
            data["timings"] = report;
        }
        // Whoever reads the reply and then asks for status (or /metrics)
        // sees the state the reply speaks of, the drill's result included.
        self.publish(true);
        if pending == Pending::Rollback
            && let Some(timer) = &self.rollback_timer
        {
            data["timings"] = timer.report();
        }
        if pending == Pending::Estop {
            data = self.estop_data(&message);
        }
        let settled = self.replies.take(&Awaited::Outcome(pending.clone()));
        for waiter in settled {
            let answer = if ok {
                Reply::ok(&waiter.id, Some(data.clone()))
            } else {
                let code = match pending {
                    Pending::Submit { .. } => ErrorCode::Invalid,
                    _ => ErrorCode::Failed,
                };
                Reply::err(&waiter.id, code, message.clone()).with_data(data.clone())
            };
            self.answer(waiter, answer);
        }
    }

    /// Sends a reply and remembers it for a resent id.
    pub(super) fn answer(&mut self, waiter: Waiter, reply: Reply) {
        self.replies.answer(waiter, reply);
    }

    pub(super) async fn handle(&mut self, request: Request) {
        let Request {
            command,
            role,
            seen_as,
            reply,
            checked,
            id_used_for_status,
        } = request;
        // A command id is the client's, so replies are remembered per peer
        // and role: a resent id gets its first reply, another session's
        // reply is never handed out.
        let key = format!("{role}|{seen_as}|{}", command.id);
        let asked = checked.asked.clone();
        let earlier = self.replies.earlier(&key, &command.id);
        if id_used_for_status || earlier.as_ref().is_some_and(|e| e.asked != asked) {
            // A reused id must not swallow a different command (an estop
            // answered with an old status, and nothing stopped).
            let message = format!(
                "command id {} was already used for another command; a resent id must carry the same op and arguments",
                crate::text::inert(&command.id)
            );
            let actor = actor_of(&command, role, &seen_as);
            let reason = command.reason.clone().unwrap_or_default();
            self.audit_refusal(&command, &actor, &reason, &message);
            let _ = reply.send(Reply::err(&command.id, ErrorCode::BadRequest, message));
            return;
        }
        if let Some(Earlier {
            reply: Some(first), ..
        }) = earlier
        {
            let _ = reply.send(first);
            return;
        }
        if earlier.is_some() {
            let _ = reply.send(Reply::err(
                &command.id,
                ErrorCode::Refused,
                format!(
                    "command {} is still running; its reply will come once",
                    command.id
                ),
            ));
            return;
        }
        let actor = actor_of(&command, role, &seen_as);
        let reason = command.reason.clone().unwrap_or_default();
        let waiter = Waiter {
            key,
            asked,
            id: command.id.clone(),
            reply,
        };
        match self.dispatch(&command, &checked, actor, reason).await {
            Answer::Now(answer) => self.answer(waiter, answer),
            Answer::Later(awaited) => self.replies.wait(awaited, waiter),
            Answer::DryRun => {
                if let (Op::Validate { content, .. }, Some(release)) =
                    (&command.request, checked.release)
                {
                    match release.verdict {
                        Ok(()) => self.run_validate(
                            content.as_bytes().to_vec(),
                            &release.digest,
                            Validation::DryRun(waiter),
                        ),
                        Err(message) => {
                            let answer = Reply::err(&command.id, ErrorCode::Invalid, message);
                            self.answer(waiter, answer);
                        }
                    }
                }
            }
        }
    }

    pub(super) async fn dispatch(
        &mut self,
        command: &Command,
        checked: &Checked,
        actor: Actor,
        reason: String,
    ) -> Answer {
        let id = command.id.as_str();
        let release = checked.release.as_ref();
        // Set by the session for every op that carries a release.
        let verdict = || {
            release.map_or_else(
                || Err("the release was not checked".to_string()),
                |r| r.verdict.clone(),
            )
        };
        let digest = release.map(|r| r.digest.clone()).unwrap_or_default();
        let mut incoming: Option<Candidate> = None;
        let event = match &command.request {
            Op::Status => {
                return Answer::Now(Reply::ok(id, serde_json::to_value(self.status()).ok()));
            }
            Op::AuditTail { n } => {
                let entries = self.audit.tail((*n).min(10_000));
                return Answer::Now(Reply::ok(id, serde_json::to_value(entries).ok()));
            }
            Op::AuditVerify => {
                return Answer::Now(match audit::verify(self.audit.path()) {
                    Ok(v) => Reply::ok(id, Some(json!({ "entries": v.entries, "head": v.head }))),
                    Err(e) => Reply::err(id, ErrorCode::Failed, e.to_string()),
                });
            }
            Op::Notify { priority, title } => {
                if actor.role < Role::Operator {
                    let message = format!("role {} may not notify (needs operator)", actor.role);
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Forbidden, message));
                }
                let title = crate::text::inert(title);
                let note = Note {
                    kind: AuditKind::Notify,
                    actor: Some(actor.clone()),
                    reason: Some(reason.clone()).filter(|r| !r.is_empty()),
                    message: format!("{priority:?} alert raised: {title}"),
                    deploy_id: self.pipeline.deploy().map(|d| d.id.clone()),
                    release: self.pipeline.serving.as_ref().map(|r| r.id.clone()),
                    state: self.pipeline.word(),
                };
                if let Err(e) = self.write_audit(&note, None) {
                    return Answer::Now(Reply::err(
                        id,
                        ErrorCode::Internal,
                        format!("refused: the audit log cannot be written ({e})"),
                    ));
                }
                self.alert(
                    *priority,
                    title,
                    vec![("raised by".into(), actor.name.clone())],
                );
                return Answer::Now(Reply::ok(id, Some(json!({ "message": "alert queued" }))));
            }
            Op::AuditEntry { seq } => {
                return Answer::Now(match audit::entry_at(self.audit.path(), *seq) {
                    Some(entry) => Reply::ok(id, serde_json::to_value(entry).ok()),
                    None => Reply::err(id, ErrorCode::Failed, format!("no audit entry #{seq}")),
                });
            }
            Op::History { limit } => {
                let history = crate::wire::history::History {
                    host: self.config.host.clone(),
                    deploys: crate::wire::history::list(&self.pipeline, *limit),
                };
                return Answer::Now(Reply::ok(id, serde_json::to_value(history).ok()));
            }
            Op::Releases => {
                let releases = crate::wire::releases::of(&self.pipeline, &self.config.host);
                return Answer::Now(Reply::ok(id, serde_json::to_value(releases).ok()));
            }
            Op::Report { since_s } => {
                // Sessions answer it off the loop; a reused id lands here.
                let report = super::ledger::read(
                    &self.config.host,
                    self.audit.path(),
                    &self.store.path("alerts.jsonl"),
                    *since_s,
                );
                return Answer::Now(Reply::ok(id, serde_json::to_value(report).ok()));
            }
            Op::Runbook { name } => {
                return Answer::Now(crate::agent::config::runbooks::answer(
                    &self.config.runbooks,
                    name,
                    id,
                ));
            }
            Op::Logs { .. } => {
                // Sessions answer `logs` themselves; a reused id lands here.
                return Answer::Now(Reply::err(
                    id,
                    ErrorCode::BadRequest,
                    format!(
                        "id {id:?} was used for status in this session; ask logs with a new id"
                    ),
                ));
            }
            Op::ReleaseDiff { release, against } => {
                // Sessions answer diffs themselves; a reused id lands here.
                let diff = store::release_diff(
                    &self.store.path("releases"),
                    &self.config.public_keys,
                    release,
                    against.as_deref(),
                );
                return Answer::Now(match diff {
                    Ok(lines) => Reply::ok(id, serde_json::to_value(lines).ok()),
                    Err(e) => Reply::err(id, ErrorCode::Failed, e),
                });
            }
            Op::Validate { .. } => {
                // It runs a command on the host with the caller's bytes.
                if actor.role < Role::Admin {
                    let message = format!("role {} may not validate (needs admin)", actor.role);
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Forbidden, message));
                }
                return Answer::DryRun;
            }
            Op::Submit {
                name,
                content,
                tier,
                commit,
                promotion,
                override_freeze,
                release: given,
            } => {
                if let Err(message) = verdict() {
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Invalid, message));
                }
                let sent = Provenance {
                    actor: &actor,
                    reason: &reason,
                    tier: *tier,
                    commit,
                    promotion,
                };
                // Checked in the session (intake): a bad name never gets here.
                let named = given
                    .as_deref()
                    .and_then(|g| crate::wire::releases::named_id(g, &digest).ok());
                let candidate = self.make_candidate(name, content, digest, named, sent);
                let release = candidate.release.clone();
                incoming = Some(candidate);
                let now = Utc::now();
                Event::Submit(Submission {
                    release,
                    tier: *tier,
                    by: actor.clone(),
                    reason: reason.clone(),
                    commit: commit.clone(),
                    promotion: promotion.clone(),
                    freeze: freeze::active(&self.config.freezes, now).map(freeze::Window::describe),
                    override_freeze: *override_freeze,
                })
            }
            Op::Smoke {
                name,
                content,
                override_freeze,
            } => {
                if self.config.smoke.is_none() {
                    let message = format!(
                        "no [smoke] section in {}: name the startup phases to check",
                        self.config.path.display()
                    );
                    return Answer::Now(Reply::err(id, ErrorCode::Refused, message));
                }
                if let Err(message) = verdict() {
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Invalid, message));
                }
                let sent = Provenance {
                    actor: &actor,
                    reason: &reason,
                    tier: crate::pipeline::Tier::Conservative,
                    commit: &None,
                    promotion: &None,
                };
                let candidate = self.make_candidate(name, content, digest, None, sent);
                let release = candidate.release.clone();
                incoming = Some(candidate);
                Event::Smoke {
                    release,
                    by: actor.clone(),
                    reason: reason.clone(),
                    freeze: freeze::active(&self.config.freezes, Utc::now())
                        .map(freeze::Window::describe),
                    override_freeze: *override_freeze,
                }
            }
            Op::Approve {
                deploy_id,
                digest,
                stage,
            } => Event::Approve(ApprovalRequest {
                deploy_id: deploy_id.clone(),
                digest: digest.clone(),
                stage: *stage,
                by: actor.clone(),
                reason: reason.clone(),
            }),
            Op::Rollback { to } => {
                // A release whose file is gone would fail to start after the
                // service was stopped: refuse before anything moves.
                if let Some(name) = to
                    && let Ok(target) = self.pipeline.return_target(name)
                    && !self.store.has_release(&target.id)
                {
                    let message = format!(
                        "rollback to {} refused: its file releases/{}.env is gone from this host",
                        target.id, target.id
                    );
                    self.audit_refusal(command, &actor, &reason, &message);
                    return Answer::Now(Reply::err(id, ErrorCode::Refused, message));
                }
                Event::Rollback {
                    by: actor.clone(),
                    reason: reason.clone(),
                    to: to.clone(),
                }
            }
            Op::Estop => Event::Estop {
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Rearm => Event::Rearm {
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Drill => Event::Drill {
                by: actor.clone(),
                reason: reason.clone(),
            },
            Op::Restore => {
                let (venue, venue_summary) = checked
                    .venue
                    .clone()
                    .unwrap_or((FlatVerdict::Unverified, "the venue was not asked".into()));
                Event::Restore(RestoreRequest {
                    by: actor.clone(),
                    reason: reason.clone(),
                    venue,
                    venue_summary,
                })
            }
        };
        let received = Instant::now();
        let now = Utc::now();
        let transition = match self.pipeline.step(&self.config.pipeline, &event, now) {
            Ok(t) => t,
            Err(refusal) => {
                // A refused submit or smoke leaves the candidate that is
                // validating (if any) as it was.
                self.audit_refusal(command, &actor, &reason, &refusal.message);
                return Answer::Now(refused(id, &refusal));
            }
        };
        let entering_rollback = entered_rollback(&self.pipeline.phase, &transition.next.phase);
        let deploy_id = transition.next.in_flight().map(|d| d.id.clone());
        if entering_rollback {
            self.rollback_timer = Some(RollbackTimer::started(received));
            self.drill_report = None;
        }
        // Only a release the machine accepted becomes the candidate.
        if incoming.is_some() {
            self.candidate = incoming;
        }
        if let Err(message) = self.commit(transition, true, &event, now).await {
            return Answer::Now(Reply::err(id, ErrorCode::Internal, message));
        }
        self.step_followups().await;
        match &command.request {
            Op::Submit { .. } => Answer::Later(Awaited::Outcome(Pending::Submit {
                deploy_id: deploy_id.unwrap_or_default(),
            })),
            Op::Rollback { .. } if matches!(self.pipeline.phase, Phase::RollingBack { .. }) => {
                Answer::Later(Awaited::Outcome(Pending::Rollback))
            }
            Op::Drill if matches!(self.pipeline.phase, Phase::Drilling { .. }) => {
                Answer::Later(Awaited::Outcome(Pending::Drill))
            }
            Op::Smoke { .. } if matches!(self.pipeline.phase, Phase::Smoking { .. }) => {
                Answer::Later(Awaited::Outcome(Pending::Smoke))
            }
            // The stop is done; its reply waits until the venue is proven
            // flat, or the kill or the verify failed.
            Op::Estop if self.pipeline.stop.as_ref().is_some_and(|s| !s.settled()) => {
                Answer::Later(Awaited::Outcome(Pending::Estop))
            }
            Op::Estop => Answer::Now(self.estop_reply(id)),
            _ => Answer::Now(self.done_reply(id, command.request.op_name())),
        }
    }

    /// An emergency stop whose venue steps have answered already (none
    /// configured, or a stop while halted): ok only if proven flat.
    fn estop_reply(&self, id: &str) -> Reply {
        let (ok, message) = self.pipeline.stop.as_ref().map_or_else(
            || (false, "halted, but the stop has no record".to_string()),
            |stop| stop.answer(),
        );
        let data = self.estop_data(&message);
        if ok {
            Reply::ok(id, Some(data))
        } else {
            Reply::err(id, ErrorCode::Failed, message).with_data(data)
        }
    }

    /// An estop reply's data: the state, the stop as status shows it.
    fn estop_data(&self, message: &str) -> serde_json::Value {
        json!({
            "state": self.pipeline.word(),
            "message": message,
            "estop": self.pipeline.stop.as_ref().map(crate::wire::estop::EstopView::from),
            "audit_head": self.audit.head(),
        })
    }

    /// `<op> done; state <state>`, with the audit head that records it.
    pub(super) fn done_reply(&self, id: &str, op: &str) -> Reply {
        Reply::ok(
            id,
            Some(json!({
                "state": self.pipeline.word(),
                "message": format!("{op} done; state {}", self.pipeline.word()),
                "audit_head": self.audit.head(),
            })),
        )
    }

    /// A refused human action is still a human action: it is audited.
    pub(super) fn audit_refusal(
        &mut self,
        command: &Command,
        actor: &Actor,
        reason: &str,
        message: &str,
    ) {
        let note = Note {
            kind: AuditKind::Refused(command.request.op_name().to_string()),
            actor: Some(actor.clone()),
            reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
            message: message.to_string(),
            deploy_id: self.pipeline.deploy().map(|d| d.id.clone()),
            release: self.pipeline.serving.as_ref().map(|r| r.id.clone()),
            state: self.pipeline.word(),
        };
        if let Err(e) = self.write_audit(&note, None) {
            eprintln!("gantry agent: audit write failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::identity;

    #[test]
    fn identity_is_what_the_agent_saw_never_the_claim() {
        assert_eq!(identity("uid 0 (root)"), "root");
        assert_eq!(identity("uid 1001"), "uid 1001");
        assert_eq!(
            identity("operator alice (pinned), key SHA256:abc, from 10.0.0.5 via uid 999 (gantry)"),
            "alice"
        );
        assert_eq!(
            identity("key SHA256:abc, from 10.0.0.5 via uid 999 (gantry)"),
            "key SHA256:abc"
        );
        assert_eq!(identity("attach without ssh via uid 0 (root)"), "root");
    }

    #[test]
    fn a_certificate_is_its_key_id_after_a_pinned_operator() {
        let cert = "cert alice@desk (serial 7, CA SHA256:ca), key SHA256:abc, from 10.0.0.5";
        assert_eq!(identity(&format!("{cert} via uid 0 (root)")), "alice@desk");
        assert_eq!(
            identity(&format!("operator bob (pinned), {cert} via uid 0 (root)")),
            "bob"
        );
        // The same key id from another key is the same person; another
        // key id from the same CA is not.
        let other_key = "cert alice@desk (serial 8, CA SHA256:ca), key SHA256:xyz via uid 0 (root)";
        assert_eq!(identity(other_key), "alice@desk");
        let carol = "cert carol@desk (serial 9, CA SHA256:ca), key SHA256:abc via uid 0 (root)";
        assert_eq!(identity(carol), "carol@desk");
    }

    #[test]
    fn a_key_id_cannot_pose_as_another_part() {
        // Key ids that spell a label are still only the certificate's.
        for id in ["operator", "key", "cert", "from", "via"] {
            let seen =
                format!("cert {id} (serial 1, CA SHA256:ca), key SHA256:abc via uid 0 (root)");
            assert_eq!(identity(&seen), id, "{seen}");
        }
        // An empty key id (`""`) or an unreadable certificate (`?`) names
        // no one: the key, else the login user, decides.
        assert_eq!(
            identity("cert \"\" (serial 1, CA SHA256:ca), key SHA256:abc via uid 0 (root)"),
            "key SHA256:abc"
        );
        assert_eq!(
            identity(
                "cert ? (unreadable ssh-ed25519-cert-v01@openssh.com), from 10.0.0.5 via uid 1001 (amy)"
            ),
            "amy"
        );
    }
}

//! `gantry ctl --host NAME …`: one ctl command on one host over SSH, with
//! the same output and exit statuses as the local form, after checking
//! that the host's audit log still extends the head this client saw last.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{AuditAction, CtlArgs, CtlCommand};
use crate::client::WireClient;
use crate::exit::{Code, fail};
use crate::ssh::client::Session;
use crate::ssh::heads::{self, Continuity};
use crate::ssh::target::Target;
use crate::text::inert;
use crate::wire::Request;

pub(super) async fn run(
    target: &Target,
    args: &CtlArgs,
    command: CtlCommand,
    operator: &str,
) -> anyhow::Result<()> {
    let (_session, mut client) = Session::open(target).await?;
    let broken = check_continuity(target, &mut client).await;
    let verifying = matches!(
        command,
        CtlCommand::Audit {
            action: Some(AuditAction::Verify),
            ..
        }
    );
    let result = super::execute(client, args, command, operator).await;
    match (result, broken) {
        (Ok(()), Some(why)) if verifying => Err(fail(Code::Failed, why)),
        (result, _) => result,
    }
}

fn head_key(target: &Target, agent_host: &str) -> String {
    format!("{agent_host}@{}:{}", target.address, target.port)
}

/// Compares the host's audit head with the one remembered; warns loudly
/// when the log does not extend it. Returns the warning, if any.
pub(super) async fn check_continuity<S: AsyncRead + AsyncWrite>(
    target: &Target,
    client: &mut WireClient<S>,
) -> Option<String> {
    let key = head_key(target, &client.host);
    let current = client.snapshot.as_ref().and_then(|s| s.audit_head.clone());
    let verdict = match heads::remembered(&key) {
        None => Continuity::Extends,
        Some(seen) => {
            let at_seen = match &current {
                Some(head) if head.seq > seen.seq => client
                    .ask(Request::AuditEntry { seq: seen.seq }, None, None)
                    .await
                    .ok()
                    .and_then(|reply| reply.data)
                    .and_then(|data| {
                        data.get("hash")
                            .and_then(|h| h.as_str())
                            .map(str::to_string)
                    }),
                _ => None,
            };
            heads::judge(&seen, current.as_ref(), at_seen.as_deref())
        }
    };
    match verdict {
        Continuity::Extends => {
            if let Some(head) = &current
                && let Err(e) = heads::remember(&key, head)
            {
                eprintln!(
                    "gantry: cannot record the audit head in {}: {e}",
                    heads::path().display()
                );
            }
            None
        }
        Continuity::Broken(why) => {
            let message = format!(
                "WARNING: {} ({}): {why}. The audit log on this host cannot be trusted; the remembered head stays in {}",
                inert(&target.name),
                inert(&client.host),
                heads::path().display()
            );
            eprintln!("gantry: {message}");
            Some(message)
        }
    }
}

//! `gantry ctl --host NAME [--hosts FILE] …`: every ctl command over SSH,
//! with the same output and exit codes as the local form, and
//! `ctl --hosts FILE status` for every host at once, fetched in parallel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::client::{Session, Target};
use super::heads::{self, Continuity};
use super::hosts::{self, HostEntry, HostsFile, Jump};
use crate::client::WireClient;
use crate::ctl::{CtlArgs, CtlCommand};
use crate::exit::{Code, Exit, fail};
use crate::text::inert;
use crate::wire::{Request, Status};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Remote {
    targets: Vec<Target>,
    all: bool,
    file: Option<HostsFile>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

fn local_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}

fn default_identities() -> Vec<PathBuf> {
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home().join(".ssh").join(name))
        .collect()
}

impl Remote {
    /// `None` when ctl should use the local socket.
    pub fn from_args(args: &CtlArgs) -> anyhow::Result<Option<Self>> {
        match (&args.host, &args.hosts) {
            (None, None) => Ok(None),
            (Some(name), Some(file)) => {
                let hosts = load_hosts(file)?;
                let entry = hosts.get(name).ok_or_else(|| {
                    fail(
                        Code::Usage,
                        format!("{}: no host named {:?}", file.display(), inert(name)),
                    )
                })?;
                Ok(Some(Self {
                    targets: vec![target_from_entry(&hosts, entry, args.accept_new)?],
                    all: false,
                    file: None,
                }))
            }
            (Some(name), None) => Ok(Some(Self {
                targets: vec![target_from_alias(name, args.accept_new, &args.ssh_config)?],
                all: false,
                file: None,
            })),
            (None, Some(file)) => {
                let hosts = load_hosts(file)?;
                let targets = hosts
                    .hosts
                    .iter()
                    .map(|entry| target_from_entry(&hosts, entry, args.accept_new))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(Some(Self {
                    targets,
                    all: true,
                    file: Some(hosts),
                }))
            }
        }
    }

    pub async fn run(
        self,
        args: &CtlArgs,
        command: CtlCommand,
        operator: &str,
    ) -> anyhow::Result<()> {
        if self.all
            && let CtlCommand::Rollout {
                envfile,
                reason,
                tier,
                commit,
                promotion,
                override_freeze,
            } = &command
        {
            let (name, content) = crate::ctl::read_release(envfile)?;
            let release = super::rollout::Release {
                digest: crate::stamp::sha256_hex(content.as_bytes()),
                name,
                content,
                tier: tier.parse().map_err(|e: String| fail(Code::Usage, e))?,
                reason: reason.clone(),
                commit: commit.clone(),
                promotion: promotion.clone(),
                override_freeze: *override_freeze,
            };
            let file = self
                .file
                .ok_or_else(|| fail(Code::Usage, "rollout needs --hosts FILE"))?;
            let waves = super::rollout::waves(&file, self.targets);
            return super::rollout::run(waves, release, operator, args.json).await;
        }
        if self.all {
            return match &command {
                CtlCommand::Status => status_all(self.targets, args.json).await,
                CtlCommand::Drill { reason } => {
                    drill_all(self.targets, reason, operator, args.json).await
                }
                _ => Err(fail(
                    Code::Usage,
                    "with --hosts and no --host, only status, drill and rollout run on every host; name one with --host",
                )),
            };
        }
        let target = self
            .targets
            .into_iter()
            .next()
            .ok_or_else(|| fail(Code::Usage, "no host"))?;
        let (_session, mut client) = Session::open(&target).await?;
        let broken = check_continuity(&target, &mut client).await;
        let verifying = matches!(
            command,
            CtlCommand::Audit {
                action: Some(crate::ctl::AuditAction::Verify),
                ..
            }
        );
        let result = crate::ctl::execute(client, args, command, operator).await;
        match (result, broken) {
            (Ok(()), Some(why)) if verifying => Err(fail(Code::Failed, why)),
            (result, _) => result,
        }
    }
}

/// Every host of a hosts file as a connectable target.
pub fn targets(file: &Path, accept_new: bool) -> anyhow::Result<Vec<Target>> {
    let hosts = load_hosts(file)?;
    hosts
        .hosts
        .iter()
        .map(|entry| target_from_entry(&hosts, entry, accept_new))
        .collect()
}

fn load_hosts(file: &Path) -> anyhow::Result<HostsFile> {
    hosts::load(file).map_err(|e| Exit::new(Code::Config, e.to_string()).into())
}

fn target_from_entry(
    file: &HostsFile,
    entry: &HostEntry,
    accept_new: bool,
) -> anyhow::Result<Target> {
    let jump = match &entry.jump {
        None => None,
        Some(Jump::Host(name)) => {
            let via = file.get(name).ok_or_else(|| {
                fail(
                    Code::Config,
                    format!(
                        "{}: jump host {name:?} is not in the file",
                        file.path.display()
                    ),
                )
            })?;
            Some(Box::new(target_from_entry(file, via, accept_new)?))
        }
        Some(Jump::Address { user, host, port }) => Some(Box::new(Target {
            name: host.clone(),
            address: host.clone(),
            port: *port,
            user: user.clone().unwrap_or_else(local_user),
            identities: entry
                .identity
                .iter()
                .cloned()
                .chain(default_identities())
                .collect(),
            certificates: Vec::new(),
            known_hosts: known_hosts_of(entry),
            host_key_alias: None,
            accept_new,
            jump: None,
            command: String::new(),
            connect_timeout: CONNECT_TIMEOUT,
        })),
    };
    Ok(Target {
        name: entry.name.clone(),
        address: entry.address.clone(),
        port: entry.port,
        user: entry.user.clone().unwrap_or_else(local_user),
        identities: match &entry.identity {
            Some(path) => vec![path.clone()],
            None => default_identities(),
        },
        certificates: Vec::new(),
        known_hosts: known_hosts_of(entry),
        host_key_alias: None,
        accept_new,
        jump,
        command: entry.command.clone(),
        connect_timeout: CONNECT_TIMEOUT,
    })
}

fn known_hosts_of(entry: &HostEntry) -> Vec<PathBuf> {
    match &entry.known_hosts {
        Some(path) => vec![path.clone()],
        None => vec![home().join(".ssh/known_hosts")],
    }
}

/// A host named by a ~/.ssh/config alias (or a plain address).
pub fn target_from_alias(
    alias: &str,
    accept_new: bool,
    ssh_config: &Option<PathBuf>,
) -> anyhow::Result<Target> {
    let resolved = super::ssh_config::resolve(alias, ssh_config.as_deref())
        .map_err(|e| Exit::new(Code::Config, e.to_string()))?;
    let accept_new = accept_new
        || resolved
            .strict_host_key_checking
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("accept-new"));
    // A chain "a,b" reaches b through a: each hop is reached through the
    // ones before it.
    let mut jump: Option<Box<Target>> = None;
    for hop in resolved.jump_hops() {
        let mut hop_target = target_from_alias(&hop.host, accept_new, ssh_config)?;
        if let Some(user) = hop.user {
            hop_target.user = user;
        }
        if let Some(port) = hop.port {
            hop_target.port = port;
        }
        if let Some(previous) = jump.take() {
            hop_target.jump = Some(previous);
        }
        jump = Some(Box::new(hop_target));
    }
    // `UserKnownHostsFile none` leaves the list empty: then every host is
    // unknown, as with OpenSSH.
    let known_hosts = resolved.known_hosts_files.clone();
    Ok(Target {
        name: alias.to_string(),
        address: resolved.host_name.clone(),
        port: resolved.port,
        user: resolved.user.clone().unwrap_or_else(local_user),
        identities: resolved.existing_identity_files.clone(),
        certificates: resolved.certificate_files.clone(),
        known_hosts,
        host_key_alias: resolved.host_key_alias.clone(),
        accept_new,
        jump,
        command: hosts::DEFAULT_COMMAND.to_string(),
        connect_timeout: CONNECT_TIMEOUT,
    })
}

fn head_key(target: &Target, agent_host: &str) -> String {
    format!("{agent_host}@{}:{}", target.address, target.port)
}

/// Compares the host's audit head with the one remembered; warns loudly
/// when the log does not extend it. Returns the warning, if any.
async fn check_continuity<S: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
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

/// One host's status for `ctl --hosts FILE status`.
async fn fetch_status(
    target: Target,
) -> Result<(Status, Option<Duration>, Option<String>), String> {
    let (session, mut client) = Session::open(&target).await.map_err(|e| format!("{e:#}"))?;
    let rtt = session.round_trip().await;
    let warning = check_continuity(&target, &mut client).await;
    let status = client.status().await.map_err(|e| format!("{e:#}"))?;
    Ok((status, rtt, warning))
}

async fn status_all(targets: Vec<Target>, as_json: bool) -> anyhow::Result<()> {
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    // Bounded: a large fleet must not open every host at once.
    let results: Vec<_> = super::bounded(targets.into_iter().map(fetch_status))
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| Err(format!("task failed: {e}"))))
        .collect();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if as_json {
        let rows: Vec<_> = names
            .iter()
            .zip(&results)
            .map(|(name, result)| match result {
                Ok((status, rtt, warning)) => json!({
                    "name": name,
                    "ok": true,
                    "rtt_ms": rtt.map(|d| d.as_secs_f64() * 1000.0),
                    "audit_warning": warning,
                    "status": status,
                }),
                Err(e) => json!({ "name": name, "ok": false, "error": e }),
            })
            .collect();
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&rows)?)
        );
    } else {
        println!(
            "{:<14} {:<18} {:<28} {:>9} {:>6} {:>8}",
            "HOST", "STATE", "RELEASE", "SOAK", "GATES", "LINK"
        );
        for (name, result) in names.iter().zip(&results) {
            match result {
                Ok((status, rtt, warning)) => {
                    let applicable: Vec<_> = status.checks.iter().filter(|c| c.applies).collect();
                    let passing = applicable.iter().filter(|c| c.ok).count();
                    let soak = status
                        .soak_remaining_s
                        .map_or("—".to_string(), |s| format!("{s:.1}s"));
                    let link = rtt.map_or("—".to_string(), |d| {
                        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
                    });
                    println!(
                        "{:<14} {:<18} {:<28} {:>9} {:>6} {:>8}{}",
                        inert(name),
                        status.state,
                        inert(status.current_release.as_deref().unwrap_or("—")),
                        soak,
                        format!("{passing}/{}", applicable.len()),
                        link,
                        if warning.is_some() {
                            "  AUDIT LOG BROKEN"
                        } else {
                            ""
                        }
                    );
                }
                Err(e) => println!("{:<14} {:<18} {}", inert(name), "unreachable", inert(e)),
            }
        }
    }
    if failed > 0 {
        return Err(fail(
            Code::Unavailable,
            format!("{failed} of {} hosts unreachable", names.len()),
        ));
    }
    Ok(())
}

/// The rollback SLA of the ADR, and gantry's own target, for drill reports.
const SLA_MS: f64 = 60_000.0;
const TARGET_MS: f64 = 250.0;

/// `ctl --hosts FILE drill`: rehearses rollback host by host (never two at
/// once, so the fleet keeps serving), with each host's timings against the
/// SLA.
async fn drill_all(
    targets: Vec<Target>,
    reason: &str,
    operator: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut failed = 0;
    if !as_json {
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}  verdict",
            "HOST", "detect", "swap", "restart", "healthy", "total"
        );
    }
    for target in targets {
        let name = target.name.clone();
        let result = async {
            let (_session, mut client) =
                Session::open(&target).await.map_err(|e| format!("{e:#}"))?;
            client
                .ask(Request::Drill, Some(reason.to_string()), Some(operator))
                .await
                .map_err(|e| format!("{e:#}"))
        }
        .await;
        let row = match result {
            Ok(reply) if reply.ok => {
                let t = reply
                    .data
                    .as_ref()
                    .and_then(|d| d.get("timings"))
                    .cloned()
                    .unwrap_or_default();
                let ms = |k: &str| t.get(k).and_then(serde_json::Value::as_f64);
                let total = ms("total_ms").unwrap_or(f64::INFINITY);
                let verdict = if total <= TARGET_MS {
                    "ok (within 250 ms)"
                } else if total <= SLA_MS {
                    "within the 60 s SLA, over the 250 ms target"
                } else {
                    "OVER the 60 s SLA"
                };
                if total > SLA_MS {
                    failed += 1;
                }
                if !as_json {
                    let f = |k: &str| ms(k).map_or("—".to_string(), |v| format!("{v:.1}ms"));
                    println!(
                        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}  {verdict}",
                        inert(&name),
                        f("detect_ms"),
                        f("swap_ms"),
                        f("restart_ms"),
                        f("healthy_ms"),
                        f("total_ms")
                    );
                }
                json!({ "name": name, "ok": total <= SLA_MS, "timings": t, "verdict": verdict })
            }
            Ok(reply) => {
                failed += 1;
                let error = reply.error.unwrap_or_default();
                if !as_json {
                    println!(
                        "{:<14} drill refused or failed: {}",
                        inert(&name),
                        inert(&error)
                    );
                }
                json!({ "name": name, "ok": false, "error": error })
            }
            Err(error) => {
                failed += 1;
                if !as_json {
                    println!("{:<14} unreachable: {}", inert(&name), inert(&error));
                }
                json!({ "name": name, "ok": false, "error": error })
            }
        };
        rows.push(row);
    }
    if as_json {
        println!(
            "{}",
            crate::text::json_inert(&serde_json::to_string_pretty(&rows)?)
        );
    }
    if failed > 0 {
        return Err(fail(
            Code::Failed,
            format!(
                "{failed} of {} hosts did not drill within the SLA",
                rows.len()
            ),
        ));
    }
    Ok(())
}

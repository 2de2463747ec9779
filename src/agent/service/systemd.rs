//! The `systemd` kind: a unit that systemd runs and the agent drives with
//! `systemctl`, reading what systemd knows of it with `systemctl show` and
//! its log with `journalctl -u`.
//!
//! The unit reads current.env and stage.env itself (EnvironmentFile=), so
//! a restart is `systemctl restart UNIT` after the files changed. For a
//! `Type=notify` unit that returns once the service sent READY=1, so the
//! first sample after a restart sees a service that says it is ready. A
//! start that fails (the process exits, READY never comes, the start
//! limit is hit) makes systemctl fail; the error names the unit and
//! systemd's `Result=`.
//!
//! Both programs are argv prefixes from the config (`service.systemctl`,
//! `service.journalctl`), so the agent can drive a systemd it does not
//! share a mount namespace with (tests use `nsenter`). Pids and ports are
//! still read in the agent's own /proc: health needs the agent in the
//! unit's pid and network namespaces, as it is on a host.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::process::Command;

use super::procfs;

/// How to reach systemd about one unit; cheap to clone into tasks.
#[derive(Debug, Clone)]
pub struct Unit {
    pub(super) name: String,
    systemctl: Vec<String>,
    journalctl: Vec<String>,
}

/// What `systemctl show` says of the unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitFacts {
    /// `loaded`, `not-found`, `masked`, `bad-setting`, …
    pub load_state: String,
    /// `active`, `activating`, `deactivating`, `inactive`, `failed`, …
    pub active_state: String,
    pub main_pid: Option<u32>,
    /// When the unit last became active (for Type=notify: READY=1 arrived).
    pub active_since: Option<DateTime<Utc>>,
    /// When the main process was started, so when the env files were read.
    pub exec_started: Option<DateTime<Utc>>,
    /// `success`, `exit-code`, `signal`, `timeout`, `start-limit-hit`, …
    pub result: String,
    /// This run of the unit (journald tags its log lines with it).
    pub invocation: Option<String>,
    /// The unit's cgroup, relative to systemd's root.
    pub control_group: Option<String>,
}

impl UnitFacts {
    pub fn active(&self) -> bool {
        matches!(self.active_state.as_str(), "active" | "reloading")
    }
}

const SHOWN: &str = "LoadState,ActiveState,MainPID,ActiveEnterTimestamp,ExecMainStartTimestamp,Result,InvocationID,ControlGroup";

impl Unit {
    pub(super) fn new(name: &str, systemctl: &[String], journalctl: &[String]) -> Self {
        Self {
            name: name.to_string(),
            systemctl: systemctl.to_vec(),
            journalctl: journalctl.to_vec(),
        }
    }

    fn command(prefix: &[String], args: &[&str]) -> Command {
        let mut command = Command::new(&prefix[0]);
        command
            .args(&prefix[1..])
            .args(args)
            // No pager, no colour, no "press q": plain text for a program.
            .env("SYSTEMD_PAGER", "")
            .env("SYSTEMD_COLORS", "0")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `systemctl ARGS`; Ok with stdout on exit 0, else the error
    /// with systemctl's first line of complaint.
    async fn systemctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let shown = || format!("{} {}", self.systemctl.join(" "), args.join(" "));
        let output = Self::command(&self.systemctl, args)
            .output()
            .await
            .map_err(|e| anyhow::anyhow!("cannot run `{}`: {e}", shown()))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        anyhow::bail!(
            "`{}` failed ({}): {}",
            shown(),
            output.status,
            crate::text::inert(said.trim())
        )
    }

    pub async fn show(&self) -> anyhow::Result<UnitFacts> {
        // us+utc: microseconds, one zone, whatever the host's locale.
        let text = self
            .systemctl(&["show", "--timestamp=us+utc", "-p", SHOWN, "--", &self.name])
            .await?;
        Ok(parse_show(&text))
    }

    /// Ok when systemd has the unit loaded: a unit that does not exist (or
    /// is masked, or does not parse) is refused before anything changes.
    pub async fn check_loaded(&self) -> Result<(), String> {
        let facts = self.show().await.map_err(|e| format!("{e:#}"))?;
        match facts.load_state.as_str() {
            "loaded" => Ok(()),
            "not-found" => Err(format!(
                "systemd unit {} does not exist (LoadState=not-found)",
                self.name
            )),
            other => Err(format!(
                "systemd unit {} cannot be started (LoadState={})",
                self.name,
                crate::text::inert(other)
            )),
        }
    }

    /// `systemctl restart`; for a Type=notify unit it returns once READY=1
    /// came. A failure names the unit and systemd's Result=.
    pub async fn restart(&self) -> anyhow::Result<()> {
        match self.systemctl(&["restart", "--", &self.name]).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain("start", e).await),
        }
    }

    /// `systemctl stop`: returns once the unit's processes are gone (its
    /// TimeoutStopSec= decides when systemd kills them).
    pub async fn stop(&self) -> anyhow::Result<()> {
        match self.systemctl(&["stop", "--", &self.name]).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain("stop", e).await),
        }
    }

    /// What went wrong, in systemd's words: the unit's load state or
    /// Result=, then what systemctl said.
    async fn explain(&self, what: &str, error: anyhow::Error) -> anyhow::Error {
        match self.show().await {
            Ok(facts) if facts.load_state == "not-found" => anyhow::anyhow!(
                "systemd unit {} does not exist (LoadState=not-found): {error:#}",
                self.name
            ),
            Ok(facts) => anyhow::anyhow!(
                "systemd unit {} did not {what}: Result={}, ActiveState={}: {error:#}",
                self.name,
                crate::text::inert(&facts.result),
                crate::text::inert(&facts.active_state)
            ),
            Err(_) => error,
        }
    }

    /// The unit's log lines of one run (`journalctl -u UNIT
    /// _SYSTEMD_INVOCATION_ID=…`), or of every run with no invocation,
    /// after `cursor`, and the cursor to ask from next time (unchanged
    /// when there is nothing new).
    pub async fn journal_after(
        &self,
        invocation: Option<&str>,
        cursor: Option<&str>,
    ) -> anyhow::Result<(Vec<String>, Option<String>)> {
        let matched = invocation.map(|i| format!("_SYSTEMD_INVOCATION_ID={i}"));
        let after = cursor.map(|c| format!("--after-cursor={c}"));
        let extra: Vec<&str> = matched
            .iter()
            .chain(after.iter())
            .map(String::as_str)
            .collect();
        let (lines, next) = self.journal(&extra).await?;
        Ok((lines, next.or_else(|| cursor.map(str::to_string))))
    }

    /// The unit's last `n` journal lines, every run, and the cursor a
    /// follow asks after.
    pub async fn journal_tail(&self, n: usize) -> anyhow::Result<(Vec<String>, Option<String>)> {
        let n = n.to_string();
        self.journal(&["-n", &n]).await
    }

    /// `journalctl -u UNIT -o cat -q --no-pager --show-cursor EXTRA…`: the
    /// lines, and the last entry's cursor if there was one.
    async fn journal(&self, extra: &[&str]) -> anyhow::Result<(Vec<String>, Option<String>)> {
        let mut args = vec![
            "-u",
            &self.name,
            "-o",
            "cat",
            "-q",
            "--no-pager",
            "--show-cursor",
        ];
        args.extend_from_slice(extra);
        let output = Self::command(&self.journalctl, &args)
            .output()
            .await
            .map_err(|e| anyhow::anyhow!("cannot run `{}`: {e}", self.journalctl.join(" ")))?;
        if !output.status.success() {
            anyhow::bail!(
                "`{} -u {}` failed ({})",
                self.journalctl.join(" "),
                self.name,
                output.status
            );
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // --show-cursor ends the output with the last entry's cursor.
        let next = match lines.last().and_then(|l| l.strip_prefix("-- cursor: ")) {
            Some(c) => {
                let c = c.trim().to_string();
                lines.pop();
                Some(c)
            }
            None => None,
        };
        Ok((lines, next))
    }
}

fn parse_show(text: &str) -> UnitFacts {
    let mut facts = UnitFacts::default();
    let time = |v: &str| {
        // "Mon 2026-11-30 07:13:16.572574 UTC"; empty when never.
        let v = v.split_once(' ').map_or(v, |(_, rest)| rest);
        let v = v.strip_suffix(" UTC")?;
        NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc())
    };
    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "LoadState" => facts.load_state = value.to_string(),
            "ActiveState" => facts.active_state = value.to_string(),
            "MainPID" => facts.main_pid = value.parse().ok().filter(|p| *p != 0),
            "ActiveEnterTimestamp" => facts.active_since = time(value),
            "ExecMainStartTimestamp" => facts.exec_started = time(value),
            "Result" => facts.result = value.to_string(),
            "InvocationID" => facts.invocation = some(value),
            "ControlGroup" => facts.control_group = some(value),
            _ => {}
        }
    }
    facts
}

/// The unit's processes as this agent's /proc numbers them: its cgroup's
/// members (cgroup v2, or v1's systemd hierarchy), else its main process
/// and that one's descendants.
pub(super) fn processes(facts: &UnitFacts) -> Vec<u32> {
    if let Some(group) = &facts.control_group {
        for root in [
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/systemd",
        ] {
            let procs = Path::new(root)
                .join(group.trim_start_matches('/'))
                .join("cgroup.procs");
            if let Ok(text) = std::fs::read_to_string(procs) {
                return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            }
        }
    }
    facts
        .main_pid
        .map(procfs::with_descendants)
        .unwrap_or_default()
}

/// Whether one of the unit's processes listens on local TCP `port`.
pub(super) fn answers_on(facts: &UnitFacts, port: u16) -> bool {
    let inodes = procfs::listening_inodes(port);
    !inodes.is_empty()
        && processes(facts)
            .into_iter()
            .any(|pid| procfs::holds_socket(pid, &inodes))
}

/// Whether the unit's main process started after current.env and
/// stage.env last changed, so it read them (it reads them at every start).
pub(super) fn read_files(facts: &UnitFacts, state_dir: &Path) -> bool {
    let Some(started) = facts.exec_started else {
        return false;
    };
    let changed = |name: &str| -> Option<SystemTime> {
        let path: PathBuf = state_dir.join(name);
        // current.env is a link swapped by rename: its own time counts.
        std::fs::symlink_metadata(&path).ok()?.modified().ok()
    };
    let (Some(current), Some(stage)) = (changed("current.env"), changed("stage.env")) else {
        return false;
    };
    let newest: DateTime<Utc> = current.max(stage).into();
    facts.active() && started >= newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_output_is_read_as_systemd_252_prints_it() {
        let text = "LoadState=loaded\nActiveState=active\nMainPID=35\n\
                    ActiveEnterTimestamp=Mon 2026-11-30 07:13:16.612313 UTC\n\
                    ExecMainStartTimestamp=Mon 2026-11-30 07:13:16.572574 UTC\n\
                    Result=success\nInvocationID=24f51d3fb4854ff385d43757bf251e5c\n\
                    ControlGroup=/system.slice/simt.service\n";
        let facts = parse_show(text);
        assert_eq!(facts.main_pid, Some(35));
        assert!(facts.active());
        assert_eq!(
            facts.active_since.map(|t| t.to_rfc3339()),
            Some("2026-11-30T07:13:16.612313+00:00".into())
        );
        assert_eq!(
            facts.control_group.as_deref(),
            Some("/system.slice/simt.service")
        );
        let never =
            parse_show("LoadState=not-found\nMainPID=0\nActiveEnterTimestamp=\nInvocationID=\n");
        assert_eq!(never.main_pid, None);
        assert_eq!(never.active_since, None);
        assert_eq!(never.invocation, None);
        assert!(!never.active());
    }
}

//! The systemd form of `gantry init` (`--kind systemd --unit UNIT`, and
//! the default without `--sim`): a production starting point whose
//! service is a unit that reads current.env and stage.env.

pub(super) fn config(name: &str, soak: Option<u64>, unit: &str) -> String {
    let gates = super::production_gates(soak);
    format!(
        r#"# gantry agent config for host {name}. Every key is documented in
# docs/config.md. Edit the service, validate and kill commands and the
# checks to match your trading service, then run `gantry agent --config`.

[host]
name = {name_q}
state_dir = "."

[service]
# A systemd unit: the agent points current.env at the release, rewrites
# stage.env, then runs `systemctl restart UNIT`. The unit must read
# EnvironmentFile=<state_dir>/current.env, then stage.env, and should be
# Type=notify (restart returns once it sent READY=1) with Restart=no
# (gantry owns restarts). docs/gantry-service.example is a hardened unit.
# Its pid, start and Result= come from `systemctl show`, its log (for the
# smoke deploy) from `journalctl -u UNIT`. The agent must share the unit's
# pid and network namespaces (health is read from the unit's own port).
kind = "systemd"
unit = {unit_q}
# How to run systemctl and journalctl (argv prefixes), e.g. to reach a
# systemd in a container: ["nsenter", "-t", "PID", "-m", "-p", "systemctl"].
# systemctl = ["systemctl"]
# journalctl = ["journalctl"]

[validate]
# {{env}} is a copy of the candidate release under candidates/ (0600).
command = ["/usr/local/bin/trader", "--validate-config", "{{env}}"]
timeout_s = 30

[kill]
# Cancel every order and close every position at the venue; then `verify`
# is polled until it exits 0 (nothing open) or verify_timeout_s passes.
# Without `verify` an emergency stop is never reported flat.
command = ["/usr/local/bin/trader-kill", "--cancel-all", "--flatten"]
timeout_s = 20
verify = ["/usr/local/bin/trader-kill", "--check-flat"]
verify_timeout_s = 30
verify_interval_ms = 500

{gates}
# Freeze windows refuse a submit unless an admin overrides with a reason;
# alerts go to webhooks by priority (docs/freeze-and-alerts.md).
# [[freeze]]
# name = "friday-afternoon"
# zone = "America/New_York"
# weekly = {{ days = ["fri"], from = "14:00", to = "24:00" }}
#
# [[freeze]]
# name = "holidays"
# zone = "America/New_York"
# dates = {{ from = "12-20", to = "01-02" }}
#
# [alerts]
# webhooks = [{{ url = "https://hooks.slack.com/services/…", format = "slack", min_priority = "P1" }}]
"#,
        name_q = super::toml_str(name),
        unit_q = super::toml_str(unit),
    )
}

#[cfg(test)]
mod tests {
    use crate::agent::config::{AgentConfig, ServiceKind};
    use crate::init::{InitArgs, ServiceArg, write};

    #[test]
    fn kind_systemd_writes_the_unit_it_was_given_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let args = InitArgs {
            dir: dir.path().join("unit"),
            name: Some("lab-1".into()),
            host: None,
            sim: false,
            soak: None,
            force: false,
            kind: Some(ServiceArg::Systemd {
                unit: "trader@eu.service".into(),
            }),
        };
        let path = write(&args).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let config = AgentConfig::parse(&path, &text).unwrap();
        assert_eq!(
            config.service,
            ServiceKind::Systemd {
                unit: "trader@eu.service".into(),
                systemctl: vec!["systemctl".into()],
                journalctl: vec!["journalctl".into()],
            }
        );
        assert_eq!(config.pipeline.soak_ms, [300_000, 600_000, 900_000]);
        let bad = InitArgs {
            dir: dir.path().join("bad"),
            kind: Some(ServiceArg::Systemd {
                unit: "--now".into(),
            }),
            ..args
        };
        let e = write(&bad).unwrap_err().to_string();
        assert!(
            e.contains("--unit \"--now\" is not a systemd unit name"),
            "{e}"
        );
    }
}

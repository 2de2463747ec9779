//! The container form of `gantry init` (`--kind container --image REPO
//! [--engine docker|podman] [--name N]`): a production starting point
//! whose service is one container that gantry names, runs and replaces.
//! It loads as written: the validate and kill commands are left for the
//! operator to name (commented), since nothing on a fresh host is known
//! to cancel orders at the venue.

pub(super) struct ContainerArgs<'a> {
    pub image: &'a str,
    pub engine: &'a str,
    pub name: &'a str,
}

pub(super) fn config(host: &str, soak: Option<u64>, c: &ContainerArgs<'_>) -> String {
    let gates = super::production_gates(soak);
    format!(
        r#"# gantry agent config for host {host}. Every key is documented in
# docs/config.md. Edit the checks, and name a kill command, to match your
# trading service, then run `gantry agent --config`.

[host]
name = {host_q}
state_dir = "."

[service]
# One container, owned by gantry. A deploy pulls IMAGE:TAG (TAG is the
# release's IMAGE_TAG, which every release must carry), then stops and
# removes the old container, then runs the new one with current.env and
# stage.env as its environment, labelled io.gantry.owner=<state dir>. A
# container of this name without that label is never touched: the deploy
# is refused. State from `{engine} container inspect`, logs (for the smoke
# deploy) from `{engine} logs`. The agent must share the engine's pid
# namespace (health is read from the container's own processes).
kind = "container"
engine = {engine_q}               # "docker" or "podman", found on PATH
name = {name_q}
image = {image_q}
# Bind mounts (the host path must exist) or named volumes.
volumes = []
network = "host"                  # the probe below reaches the container's port
stop_timeout_s = 10

# [validate]
# Runs on every candidate after its image was pulled; {{env}} is a copy of
# the release under candidates/ (0600). Non-zero exit rejects it.
# command = ["/usr/local/bin/trader-validate", "{{env}}"]
# timeout_s = 30

# [kill]
# The emergency stop stops the container, then runs `command` (cancel every
# order, close every position at the venue) and polls `verify` until the
# venue is flat. Without them an emergency stop is never reported flat.
# command = ["/usr/local/bin/trader-kill", "--cancel-all", "--flatten"]
# timeout_s = 20
# verify = ["/usr/local/bin/trader-kill", "--check-flat"]
# verify_timeout_s = 30

{gates}"#,
        host_q = super::toml_str(host),
        engine = c.engine,
        engine_q = super::toml_str(c.engine),
        name_q = super::toml_str(c.name),
        image_q = super::toml_str(c.image),
    )
}

/// The container's name when `--name` is not given: the repository's last
/// path component (`127.0.0.1:5000/trader` → `trader`).
pub(super) fn default_name(image: &str) -> String {
    image.rsplit('/').next().unwrap_or(image).to_string()
}

#[cfg(test)]
mod tests {
    use crate::agent::config::container::Engine;
    use crate::agent::config::{AgentConfig, ServiceKind};
    use crate::init::{InitArgs, ServiceArg, write};

    fn args(dir: std::path::PathBuf, kind: ServiceArg) -> InitArgs {
        InitArgs {
            dir,
            name: None,
            host: Some("lab-1".into()),
            sim: false,
            soak: None,
            force: false,
            kind: Some(kind),
        }
    }

    #[test]
    fn kind_container_writes_the_image_engine_and_name_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&args(
            dir.path().join("c"),
            ServiceArg::Container {
                image: "127.0.0.1:5000/trader".into(),
                engine: Some("podman".into()),
                name: Some("trader-eu".into()),
            },
        ))
        .unwrap();
        let config = AgentConfig::load(&path).unwrap();
        assert_eq!(config.host, "lab-1");
        let ServiceKind::Container(spec) = &config.service else {
            panic!("{:?}", config.service)
        };
        assert_eq!(spec.engine, Engine::Podman);
        assert_eq!(spec.name, "trader-eu");
        assert_eq!(spec.image, "127.0.0.1:5000/trader");
        assert_eq!(spec.network, "host");

        // Defaults: docker, and the repository's last component as name.
        let path = write(&args(
            dir.path().join("d"),
            ServiceArg::Container {
                image: "registry.example.com/desk/trader".into(),
                engine: None,
                name: None,
            },
        ))
        .unwrap();
        let config = AgentConfig::load(&path).unwrap();
        let ServiceKind::Container(spec) = &config.service else {
            panic!()
        };
        assert_eq!(
            (spec.engine, spec.name.as_str()),
            (Engine::Docker, "trader")
        );

        for (image, engine, name, said) in [
            ("trader:v1", None, None, "--image \"trader:v1\""),
            ("trader", Some("lxc"), None, "--engine \"lxc\""),
            ("trader", None, Some("-rm"), "--name \"-rm\""),
        ] {
            let e = write(&args(
                dir.path().join("bad"),
                ServiceArg::Container {
                    image: image.into(),
                    engine: engine.map(String::from),
                    name: name.map(String::from),
                },
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains(said), "{e}");
        }
    }
}

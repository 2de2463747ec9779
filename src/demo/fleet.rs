//! `gantry demo --headless`: a fleet on loopback, each host behind its own
//! embedded SSH server, with the hosts file, known_hosts and identity a
//! client needs to reach it.

use std::path::PathBuf;
use std::sync::Arc;

use super::{DemoArgs, Hosts, light, say};
use crate::console::signals::Signals;
use crate::ssh::server::{Authorized, EmbeddedServer, Handshakes};

/// A demo fleet: what `fleet` writes for its users and tests. Dropping it
/// stops everything it started, then removes its directory.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub hosts_file: PathBuf,
    pub known_hosts: PathBuf,
    pub identity: PathBuf,
    pub servers: Vec<EmbeddedServer>,
    pub hosts: Hosts,
    /// The SSH handshakes under way on a light fleet's servers.
    pub handshakes: Arc<Handshakes>,
}

/// Waves for demo host `i` of `n`: one canary, one primary, the rest full.
fn wave_of(i: usize) -> &'static str {
    match i {
        0 => "canary",
        1 => "primary",
        _ => "full",
    }
}

impl Fleet {
    /// Starts `n` hosts behind embedded SSH servers and writes the files a
    /// client needs to reach them.
    pub async fn start(n: usize, soak: u64) -> anyhow::Result<Self> {
        Self::start_with(&vec![soak; n]).await
    }

    /// As [`start`](Self::start), one host per soak given.
    pub async fn start_with(soaks: &[u64]) -> anyhow::Result<Self> {
        let (mut fleet, authorized) = Self::empty()?;
        let exe = std::env::current_exe()?;
        // Every SSH server holds its port before any config picks one for
        // its sim (bound only when a release starts): none can take another's.
        let mut listening = Vec::with_capacity(soaks.len());
        for _ in soaks {
            listening
                .push(EmbeddedServer::start("127.0.0.1:0".parse()?, authorized.clone()).await?);
        }
        let mut entries = String::new();
        for ((i, soak), server) in soaks.iter().enumerate().zip(listening) {
            let name = format!("demo-{}", i + 1);
            let config = fleet
                .hosts
                .start(&fleet.dir.path().join(&name), &name, *soak)?;
            let command = format!(
                "{} attach --config {}",
                shell_quote(&exe.display().to_string()),
                shell_quote(&config.display().to_string())
            );
            entries.push_str(&fleet.entry(i, &server, Some(&command)));
            fleet.servers.push(server);
        }
        fleet.write_files(&entries)?;
        Ok(fleet)
    }

    /// `n` light hosts: real SSH servers whose sessions are answered in
    /// this process by [`light::serve`], with no agent and no service.
    /// For measuring a control room over a thousand hosts on one machine.
    pub async fn start_light(n: usize) -> anyhow::Result<Self> {
        let (mut fleet, authorized) = Self::empty()?;
        let mut entries = String::new();
        for i in 0..n {
            let serve = light::serve(i);
            let server = EmbeddedServer::start_in_process(
                "127.0.0.1:0".parse()?,
                authorized.clone(),
                serve,
                fleet.handshakes.clone(),
            )
            .await?;
            entries.push_str(&fleet.entry(i, &server, None));
            fleet.servers.push(server);
        }
        fleet.write_files(&entries)?;
        Ok(fleet)
    }

    /// A temp dir with a fresh client key, and nothing started yet.
    fn empty() -> anyhow::Result<(Self, Vec<Authorized>)> {
        let dir = tempfile::Builder::new().prefix("gantry-fleet-").tempdir()?;
        let identity = dir.path().join("id_ed25519");
        let key =
            russh::keys::PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519)?;
        key.write_openssh_file(&identity, russh::keys::ssh_key::LineEnding::LF)?;
        std::fs::set_permissions(
            &identity,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
        let authorized = vec![Authorized {
            key: key.public_key().clone(),
            forced_command: None,
        }];
        let fleet = Self {
            hosts_file: dir.path().join("hosts.toml"),
            known_hosts: dir.path().join("known_hosts"),
            identity,
            dir,
            servers: Vec::new(),
            hosts: Hosts::new(),
            handshakes: Arc::default(),
        };
        Ok((fleet, authorized))
    }

    /// Host `i`'s entry in the hosts file.
    fn entry(&self, i: usize, server: &EmbeddedServer, command: Option<&str>) -> String {
        let command = command.map_or_else(String::new, |c| format!("command = {c:?}\n"));
        format!(
            "\n[[host]]\nname = \"demo-{}\"\naddress = \"127.0.0.1\"\nport = {}\nuser = \"demo\"\nidentity = \"id_ed25519\"\nknown_hosts = \"known_hosts\"\nwave = {:?}\n{command}",
            i + 1,
            server.addr.port(),
            wave_of(i)
        )
    }

    fn write_files(&self, entries: &str) -> anyhow::Result<()> {
        let known: String = (self.servers.iter())
            .map(|s| format!("{}\n", s.known_hosts_line()))
            .collect();
        std::fs::write(&self.known_hosts, known)?;
        std::fs::write(
            &self.hosts_file,
            format!(
                "# A demo fleet written by `gantry demo --headless`.\nwaves = [\"canary\", \"primary\", \"full\"]\n{entries}"
            ),
        )?;
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // No new SSH sessions, then agents and services; `dir` (a field)
        // is removed after this returns, with nothing left to write in it.
        self.servers.clear();
        self.hosts.stop();
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs until SIGINT, SIGTERM or SIGHUP, each a normal end (exit 0).
pub(super) async fn run(args: &DemoArgs, signals: &mut Signals) -> anyhow::Result<()> {
    let n = args.hosts.max(1);
    let starting = async {
        match args.light {
            true => Fleet::start_light(n).await,
            false => Fleet::start(n, args.soak).await,
        }
    };
    let fleet = tokio::select! {
        fleet = starting => fleet?,
        _ = signals.recv() => return Ok(()),
    };
    let what = match args.light {
        true => "light hosts (benchmarks: no agent, a fixed status), each",
        false => "hosts, each a real agent",
    };
    // If nobody can read where the fleet is, it is of no use: `?` drops
    // (and so stops) it.
    say(&format!(
        "gantry demo: {n} {what} behind its own SSH server on 127.0.0.1\n\
         hosts file:  {}\nknown_hosts: {}\nidentity:    {}\n\
         try:         gantry ctl --hosts {} status\nCtrl-C stops everything.",
        fleet.hosts_file.display(),
        fleet.known_hosts.display(),
        fleet.identity.display(),
        fleet.hosts_file.display()
    ))?;
    signals.recv().await;
    drop(fleet);
    // The reader may be gone by now (a closed terminal); we are done anyway.
    let _ = say(&format!("stopped {n} hosts; nothing left running"));
    Ok(())
}

//! Who to reach: a [`Target`] holds everything the SSH client needs to
//! reach one host (address, user, keys, known_hosts, jump host, remote
//! command), resolved from the hosts file (`hosts/`) or from an
//! `~/.ssh/config` alias (`ssh_config/`).
//!
//! [`choose`] is how a command says which hosts it means, as plain values
//! (no command-line types): `ctl` passes its `--host`/`--hosts`, and the
//! control room loads a [`Fleet`] or names aliases. Every fault is an
//! [`Exit`] with status 78 (a bad file) or 2 (a name not in it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hosts::{self, HostEntry, HostsFile, Jump};
use crate::exit::{Code, Exit, fail};
use crate::text::inert;

/// Everything needed to reach one host.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name the user knows the host by (hosts file name or alias).
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identities: Vec<PathBuf>,
    /// Certificates (`CertificateFile`) to offer with whichever of
    /// `identities` each certifies; `<identity>-cert.pub` is always tried.
    pub certificates: Vec<PathBuf>,
    pub known_hosts: Vec<PathBuf>,
    /// The name to look up in known_hosts (HostKeyAlias), else `address`.
    pub host_key_alias: Option<String>,
    /// Record an unknown host's key instead of refusing (accept-new).
    pub accept_new: bool,
    pub jump: Option<Box<Target>>,
    /// The remote command; `gantry attach` by default.
    pub command: String,
    pub connect_timeout: Duration,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Every host of a hosts file, each with its target, in file order.
pub struct Fleet {
    pub file: HostsFile,
    /// `targets[i]` reaches `file.hosts[i]`.
    pub targets: Vec<Target>,
}

impl Fleet {
    pub fn load(path: &Path, accept_new: bool) -> anyhow::Result<Self> {
        let file = load_hosts(path)?;
        let targets = file
            .hosts
            .iter()
            .map(|entry| from_entry(&file, entry, accept_new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { file, targets })
    }
}

/// The hosts a command means.
pub enum Chosen {
    /// Neither a host nor a hosts file: the agent on this machine.
    Local,
    /// One host: a name in the hosts file, or else an alias.
    One(Target),
    /// A hosts file and no host: all of them.
    Fleet(Fleet),
}

/// Which hosts `host` (a name) and `hosts_file` mean: a name is looked up
/// in the hosts file when one is given, else as an `ssh_config` alias.
pub fn choose(
    host: Option<&str>,
    hosts_file: Option<&Path>,
    ssh_config: Option<&Path>,
    accept_new: bool,
) -> anyhow::Result<Chosen> {
    Ok(match (host, hosts_file) {
        (None, None) => Chosen::Local,
        (Some(name), Some(path)) => {
            let file = load_hosts(path)?;
            let entry = file.get(name).ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!("{}: no host named {:?}", path.display(), inert(name)),
                )
            })?;
            Chosen::One(from_entry(&file, entry, accept_new)?)
        }
        (Some(alias), None) => Chosen::One(from_alias(alias, accept_new, ssh_config)?),
        (None, Some(path)) => Chosen::Fleet(Fleet::load(path, accept_new)?),
    })
}

fn load_hosts(path: &Path) -> Result<HostsFile, Exit> {
    hosts::load(path).map_err(|e| Exit::new(Code::Config, e.to_string()))
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

/// A host of the hosts file, through its jump host if it has one.
fn from_entry(file: &HostsFile, entry: &HostEntry, accept_new: bool) -> anyhow::Result<Target> {
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
            Some(Box::new(from_entry(file, via, accept_new)?))
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

/// A host named by an `ssh_config` alias (or a plain address), as
/// `ssh ALIAS` would reach it.
pub fn from_alias(
    alias: &str,
    accept_new: bool,
    ssh_config: Option<&Path>,
) -> anyhow::Result<Target> {
    let resolved = super::ssh_config::resolve(alias, ssh_config)
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
        let mut hop_target = from_alias(&hop.host, accept_new, ssh_config)?;
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

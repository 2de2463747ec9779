//! SSH: the hosts file, `~/.ssh/config` resolution, known_hosts checking,
//! and the russh client and embedded server.

pub mod hosts;
pub mod known_hosts;
pub mod ssh_config;

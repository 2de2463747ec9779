//! SSH: the hosts file, `~/.ssh/config` resolution, known_hosts checking,
//! the russh client and the embedded server, and ctl over SSH.

pub mod client;
pub mod heads;
pub mod hosts;
pub mod known_hosts;
pub mod link;
pub mod remote;
pub mod rollout;
pub mod server;
pub mod ssh_config;

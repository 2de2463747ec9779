//! known_hosts (in progress)

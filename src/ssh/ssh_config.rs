//! ssh_config (in progress)

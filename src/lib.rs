//! gantry: graduated deploys of trading services, shadow → paper → canary →
//! live, with soak timers, health gates, rollback and an emergency stop.
//!
//! Rooms and who may import whom (docs/architecture.md, held by
//! tests/architecture.rs): `console` → `ssh` → `wire`, `ctl` → `ssh` →
//! `wire`, `agent` → `pipeline`, and nothing back; `pipeline` imports
//! nothing of ours; leaves (`durable`, `envfile`, `prom`, `exit`, `text`,
//! `faults`, `lines`, `stamp`, `agent_socket`) import only leaves.

pub mod agent;
pub mod agent_socket;
pub mod attach;
pub mod client;
pub mod console;
pub mod ctl;
pub mod demo;
pub mod durable;
pub mod envfile;
pub mod exit;
pub mod faults;
pub mod init;
pub mod lines;
pub mod pipeline;
pub mod prom;
pub mod sim;
pub mod ssh;
pub mod stamp;
pub mod text;
pub mod wire;

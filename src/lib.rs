//! gantry: graduated deploys of trading services, shadow → paper → canary →
//! live, with soak timers, health gates, rollback and an emergency stop.
//!
//! Rooms and who may import whom (docs/architecture.md):
//! `pipeline` (pure state machine) ← `agent` (its I/O shell) → `wire` ← `ctl`;
//! `sim` is the simulated service; `prom`, `envfile`, `durable` are leaves.

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
pub mod stamp;
pub mod ssh;
pub mod text;
pub mod wire;

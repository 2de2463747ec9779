//! The I/O shell around the model: a current-thread tokio runtime, the
//! signal handlers, the log on stdout, and the loop that advances the model.
//!
//! ```text
//!   SIGTERM/SIGINT ──┐
//!                    ▼
//!   sleep_until ──► select ──► Sim::handle_timeout(now) ──► effects: Serve, Log, Venue, Exit
//!        ▲                                                      │              │
//!        │                                                      │   venue_file::exchange
//!        │                                                      │   (blocking pool, awaited)
//!        │                                                      │              │
//!        │                                 effects (log lines) ◄── Sim::handle_venue(outcome)
//!        └──────────────── Sim::poll_timeout() ◄────────────────┘
//!
//!   server task (spawned by Serve) ──► Shared::lock().sample(now) / answer(now)
//! ```
//!
//! One thread is enough and starts fastest: the loop wakes once per tick
//! (100 ms by default) and a scrape is a few microseconds of formatting.
//! The venue file is the exception: its fsyncs run on the blocking pool, so
//! a slow disk never holds up a scrape. The loop does wait for each
//! exchange, so the tick runs late by as long as a write takes (a few
//! milliseconds: the sim never waits for the venue lock); in exchange the
//! log stays in order, and what the venue held at start is logged before
//! `idle reached`. A SIGTERM does not flatten: positions stay open at the
//! venue, as they would at a real one.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use super::model::Effect;
use super::server::{self, Shared};
use super::trader::Exchanged;
use super::venue_file;

/// How the run ended, for the caller to turn into an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// SIGTERM or SIGINT: a clean stop, exit 0.
    Shutdown,
    /// The model asked to exit (a crash fault, a failed start-up phase).
    Exit(i32),
}

/// Runs the service until a signal or an exit effect.
pub fn run(shared: Arc<Shared>, listen: SocketAddr) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(drive(shared, listen));
    // Connection tasks may be parked forever (the hang fault); the process
    // is about to exit, so do not wait for them.
    runtime.shutdown_background();
    outcome
}

async fn drive(shared: Arc<Shared>, listen: SocketAddr) -> anyhow::Result<Outcome> {
    // Handlers first: from here on SIGTERM is a clean shutdown, not death
    // by signal, even if it arrives during start-up.
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let start = Instant::from_std(shared.start());
    let mut bound: Option<SocketAddr> = None;
    loop {
        let mut effects = VecDeque::from(shared.lock().handle_timeout(shared.now()));
        while let Some(effect) = effects.pop_front() {
            match effect {
                Effect::Serve => {
                    let listener = bind(listen).await?;
                    bound = listener.local_addr().ok();
                    tokio::spawn(server::serve(listener, Arc::clone(&shared)));
                }
                Effect::LogListening => {
                    let addr = bound.unwrap_or(listen);
                    log(&format!("metrics listening on {addr}"));
                }
                Effect::Log(line) => log(&line),
                Effect::Venue(request) => {
                    let exchanged =
                        tokio::task::spawn_blocking(move || venue_file::exchange(&request))
                            .await
                            .unwrap_or_else(|e| {
                                Exchanged::Unreadable(format!("venue exchange failed: {e}"))
                            });
                    // What the model says about it comes before what was
                    // already due.
                    let said = shared.lock().handle_venue(exchanged);
                    for effect in said.into_iter().rev() {
                        effects.push_front(effect);
                    }
                }
                Effect::Exit(code) => return Ok(Outcome::Exit(code)),
            }
        }
        let deadline = shared.lock().poll_timeout();
        let wake = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(start + at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Signals first: a shutdown must not wait behind a due tick.
            biased;
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            () = wake => {}
        }
    }
    log("shutdown");
    Ok(Outcome::Shutdown)
}

async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    // tokio sets SO_REUSEADDR on Unix listeners, so a restarted release can
    // rebind the port its predecessor's TIME_WAIT connections still name.
    match TcpListener::bind(listen).await {
        Ok(listener) => Ok(listener),
        Err(error) => {
            log(&format!("fatal: cannot listen on {listen}: {error}"));
            Err(error).with_context(|| format!("cannot listen on {listen}"))
        }
    }
}

/// One line on stdout, flushed, so a supervisor tailing the log sees each
/// phase as it happens. No timestamp: journald or the agent stamps lines.
fn log(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed or broken log must not take the service down with it (a real
    // service keeps trading when its log collector restarts).
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

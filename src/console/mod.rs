//! The control room (`gantry watch`): one SSH link task per host, every
//! event turned into a `Msg`, one synchronous `update`, and a view drawn
//! from the model only, once per batch of messages.
//!
//! ```text
//!  keyboard/mouse thread ──┐
//!  link task per host ─────┼─► Msg ─► update(&mut Model) ─► Commands ─► link.ask(…) ─► Msg::Replied
//!  tick (1 s), and the     ─┘                │   (a task per request: nothing here waits for a host)
//!  instant a host turns stale                └─► draw(&Model) once the queue is drained
//! ```
//!
//! Heartbeats never reach this loop as messages: each link notes when it
//! last heard its host (`LinkHandle::heard_ms`), and the loop reads those
//! notes before each batch, so twenty idle hosts cost twenty timestamps a
//! second, not twenty wake-ups and frames (docs/benchmarks.md). A host
//! heard again after going stale is redrawn at once.

pub mod audit_focus;
pub mod commands;
pub mod keymap;
pub mod layout;
pub mod ledger;
mod link_events;
pub mod logview;
pub mod order;
pub mod picker;
pub mod preflight;
pub mod readers;
pub mod release_groups;
pub mod requests;
pub mod rollout;
pub mod runbook;
pub mod signals;
pub mod state;
pub mod theme;
pub mod update;
mod user_config;
pub mod view;

use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use self::keymap::Keymap;
use self::signals::{Signals, hung_up};
use self::state::{HostView, Model};
use self::theme::Theme;
use self::update::{Command, Msg, update};
use crate::ssh::link::{self, LinkHandle};
use crate::ssh::target::{self, Fleet, Target};
use crate::wire::Request;

pub struct WatchArgs {
    pub hosts_file: Option<PathBuf>,
    pub hosts: Vec<String>,
    pub ssh_config: Option<PathBuf>,
    pub accept_new: bool,
}

/// A host to watch: how to reach it and its wave.
pub struct Watched {
    pub target: Target,
    pub wave: Option<String>,
    /// The wave's place in the hosts file's `waves` (the rollout order),
    /// when the file lists them.
    pub wave_rank: Option<usize>,
}

pub fn run(args: &WatchArgs) -> anyhow::Result<()> {
    let (title, watched) = resolve(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut signals = Signals::listen()?;
        watch(&title, watched, &mut signals).await
    })
}

/// The hosts from the hosts file (all, or those named) or from aliases.
pub fn resolve(args: &WatchArgs) -> anyhow::Result<(String, Vec<Watched>)> {
    if let Some(file) = &args.hosts_file {
        let Fleet {
            file: hosts,
            targets,
        } = Fleet::load(file, args.accept_new)?;
        let watched: Vec<Watched> = hosts
            .hosts
            .iter()
            .zip(targets)
            .filter(|(entry, _)| args.hosts.is_empty() || args.hosts.contains(&entry.name))
            .map(|(entry, target)| Watched {
                target,
                wave: entry.wave.clone(),
                wave_rank: (entry.wave.as_ref())
                    .and_then(|w| hosts.waves.iter().position(|listed| listed == w)),
            })
            .collect();
        let title = file
            .file_stem()
            .map_or("fleet".into(), |s| s.to_string_lossy().into_owned());
        return Ok((title, watched));
    }
    if args.hosts.is_empty() {
        return Err(crate::exit::fail(
            crate::exit::Code::Usage,
            "name hosts to watch: gantry watch --hosts FILE, or gantry watch ALIAS…",
        ));
    }
    let watched = args
        .hosts
        .iter()
        .map(|alias| {
            target::from_alias(alias, args.accept_new, args.ssh_config.as_deref()).map(|target| {
                Watched {
                    target,
                    wave: None,
                    wave_rank: None,
                }
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(("hosts".into(), watched))
}

/// The terminal in raw mode on the alternate screen, restored however the
/// control room ends.
///
/// Restoring must never panic: after a hangup every write to the tty fails
/// with EIO, and ratatui's own restore paths (`ratatui::restore`, the
/// `Terminal` drop, the hook `ratatui::init` installs) report that with
/// `eprintln!`, which panics on a dead stderr; a panic inside the panic
/// hook aborts, and the demo would skip stopping its fleet. So this sets
/// the terminal up itself and ignores what it cannot write.
struct TerminalGuard {
    terminal: ManuallyDrop<DefaultTerminal>,
}

impl TerminalGuard {
    fn enter() -> std::io::Result<Self> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = ratatui::try_restore();
            // The standard hook ignores a failed write.
            previous(info);
        }));
        let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
        // From here on, an error drops the guard, which restores.
        let mut guard = Self {
            terminal: ManuallyDrop::new(ratatui::Terminal::new(backend)?),
        };
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(
            guard.terminal.backend_mut(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::event::EnableMouseCapture
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.terminal.show_cursor().is_ok() {
            // SAFETY: dropped once, here, and never used again. With the
            // cursor shown its drop has nothing to report.
            unsafe { ManuallyDrop::drop(&mut self.terminal) };
        }
        // Otherwise it is left undropped: the tty is gone, and so is the
        // process in a moment.
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        let _ = ratatui::try_restore();
    }
}

/// Runs the control room on these hosts until the user quits, a signal
/// from `signals` arrives or the terminal hangs up; the last two end it
/// as `q` does, with `Ok`.
pub async fn watch(
    title: &str,
    watched: Vec<Watched>,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let keymap = Keymap::load()?;
    let theme = Theme::load(Theme::no_color_from_env())?;
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let (link_tx, mut link_rx) = mpsc::channel(1024);
    let mut handles: Vec<LinkHandle> = Vec::new();
    let mut hosts = Vec::new();
    let mut waves: Vec<(usize, String)> = Vec::new();
    for (i, w) in watched.into_iter().enumerate() {
        if let (Some(rank), Some(wave)) = (w.wave_rank, &w.wave)
            && !waves.iter().any(|(_, known)| known == wave)
        {
            waves.push((rank, wave.clone()));
        }
        hosts.push(HostView::new(&w.target.name, w.wave));
        handles.push(link::spawn(w.target, i, link_tx.clone()));
    }
    drop(link_tx);
    let forward = tx.clone();
    tokio::spawn(async move {
        while let Some((i, event)) = link_rx.recv().await {
            if forward
                .send(Msg::Link(i, event, chrono::Utc::now()))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let input = tx.clone();
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            let msg = match event {
                TermEvent::Key(key) if key.kind != KeyEventKind::Release => Msg::Key(key),
                TermEvent::Mouse(mouse) => Msg::Mouse(mouse),
                TermEvent::Resize(w, h) => Msg::Resize(w, h),
                _ => continue,
            };
            if input.blocking_send(msg).is_err() {
                break;
            }
        }
    });

    let mut guard = TerminalGuard::enter()?;
    let terminal = &mut *guard.terminal;
    let size = terminal.size()?;
    let mut model = Model::new(title, hosts, chrono::Utc::now());
    waves.sort();
    model.waves = waves.into_iter().map(|(_, wave)| wave).collect();
    model.size = (size.width, size.height);
    // Who you claim to be; sshd says who you are (the agents record both).
    let operator = (std::env::var("USER").or_else(|_| std::env::var("LOGNAME"))).ok();
    model.user = operator.clone();
    // The clock and the countdowns show seconds; nothing needs a faster tick.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = vec![0i64; handles.len()];
    loop {
        // Wake when the next host turns stale, so that its flag is drawn at
        // 3 s of silence rather than up to a tick later.
        let stale_in = model
            .next_stale_at()
            .map(|at| (at - chrono::Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(3600));
        let first = tokio::select! {
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => {
                if hung_up() {
                    break;
                }
                Msg::Tick(chrono::Utc::now())
            }
            _ = tokio::time::sleep(stale_in) => Msg::Tick(chrono::Utc::now()),
            _ = signals.recv() => break,
        };
        // What the links heard first: a stale wake-up must not flag a host
        // whose beat arrived since the last batch.
        let mut batch = heard(&handles, &mut last_heard);
        batch.push(first);
        while let Ok(msg) = rx.try_recv() {
            batch.push(msg);
        }
        let mut redraw = false;
        for msg in batch {
            redraw |= !quiet(&model, &msg);
            for command in update(&mut model, &keymap, msg) {
                perform(command, &handles, &tx, operator.clone());
            }
        }
        if model.quit {
            break;
        }
        if !redraw {
            continue;
        }
        if let Err(e) = terminal.draw(|frame| view::draw(frame, &model, &keymap, &theme)) {
            // EIO from a terminal that hung up between two ticks is the
            // same ending as the hangup itself.
            if hung_up() {
                break;
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// A `Heard` for each host heard since the last look.
fn heard(handles: &[LinkHandle], last: &mut [i64]) -> Vec<Msg> {
    let mut msgs = Vec::new();
    for (i, (handle, seen)) in handles.iter().zip(last.iter_mut()).enumerate() {
        let ms = handle.heard_ms();
        if ms > *seen {
            *seen = ms;
            if let Some(at) = chrono::DateTime::from_timestamp_millis(ms) {
                msgs.push(Msg::Heard(i, at));
            }
        }
    }
    msgs
}

/// A host heard again that is not stale: nothing to draw until the tick.
fn quiet(model: &Model, msg: &Msg) -> bool {
    match msg {
        Msg::Heard(i, _) => model
            .hosts
            .get(*i)
            .is_some_and(|h| h.stale_for(model.now).is_none()),
        _ => false,
    }
}

fn perform(
    command: Command,
    handles: &[LinkHandle],
    tx: &mpsc::Sender<Msg>,
    operator: Option<String>,
) {
    match command {
        Command::Ask {
            ticket,
            host,
            request,
            reason,
        } => {
            let tx = tx.clone();
            let Some(handle) = handles.get(host).cloned() else {
                let _ = tx.try_send(Msg::Replied(
                    ticket,
                    Err("no such host".into()),
                    Duration::ZERO,
                ));
                return;
            };
            // A task per request: a silent host holds only its own.
            tokio::spawn(async move {
                let sent = std::time::Instant::now();
                let result = handle.ask(request, reason, operator).await;
                let _ = tx.send(Msg::Replied(ticket, result, sent.elapsed())).await;
            });
        }
        Command::LoadDiff {
            host,
            release,
            against,
        } => {
            let Some(handle) = handles.get(host).cloned() else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = match handle
                    .ask(Request::ReleaseDiff { release, against }, None, None)
                    .await
                {
                    Ok(reply) if reply.ok => serde_json::from_value(reply.data.unwrap_or_default())
                        .map_err(|e| e.to_string()),
                    Ok(reply) => Err(reply.error.unwrap_or_default()),
                    Err(e) => Err(e),
                };
                let _ = tx.send(Msg::DiffLoaded(host, result)).await;
            });
        }
        Command::LoadReleases { host } => {
            let Some(handle) = handles.get(host).cloned() else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = match handle.ask(Request::Releases, None, None).await {
                    Ok(reply) if reply.ok => serde_json::from_value(reply.data.unwrap_or_default())
                        .map(Box::new)
                        .map_err(|e| e.to_string()),
                    Ok(reply) => Err(reply.error.unwrap_or_default()),
                    Err(e) => Err(e),
                };
                let _ = tx.send(Msg::ReleasesLoaded(host, result)).await;
            });
        }
        Command::LoadReport { host, since_s } => {
            let Some(handle) = handles.get(host).cloned() else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = match handle.ask(Request::Report { since_s }, None, None).await {
                    Ok(reply) if reply.ok => serde_json::from_value(reply.data.unwrap_or_default())
                        .map(Box::new)
                        .map_err(|e| e.to_string()),
                    Ok(reply) => Err(reply.error.unwrap_or_default()),
                    Err(e) => Err(e),
                };
                let _ = tx.send(Msg::ReportLoaded(host, result)).await;
            });
        }
    }
}

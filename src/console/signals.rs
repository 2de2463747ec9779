//! What ends a foreground command from outside: SIGHUP (its terminal
//! closed: a closed window, `tmux kill-session`, a dropped SSH login),
//! SIGTERM (`kill`, a supervisor) and SIGINT (Ctrl-C while the terminal is
//! not in raw mode). Left at their default disposition these end the
//! process on the spot, so nothing it started is stopped and no terminal is
//! restored. The control room and the demo listen for all three and leave
//! through the same door as `q`.
//!
//! Listen before starting anything: the handlers are installed when
//! [`Signals::listen`] runs and stay for the life of the process (tokio
//! never uninstalls them), so a signal that lands while the caller is busy
//! elsewhere is kept for its next [`Signals::recv`]. One that lands before
//! `listen` ends the process the default way, with nothing yet to stop.
//!
//! A closed terminal does not always come with a SIGHUP (it goes to the
//! terminal's foreground process group, which we may not be in), so the
//! control room also asks [`hung_up`] on every tick.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal asked us to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Hangup,
    Terminate,
    Interrupt,
}

impl Ending {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hangup => "SIGHUP",
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        }
    }
}

/// SIGHUP, SIGTERM and SIGINT, caught. Needs a running tokio runtime.
pub struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next of the three to arrive (or one already pending).
    pub async fn recv(&mut self) -> Ending {
        tokio::select! {
            Some(()) = self.hangup.recv() => Ending::Hangup,
            Some(()) = self.terminate.recv() => Ending::Terminate,
            Some(()) = self.interrupt.recv() => Ending::Interrupt,
            // `None` from all three only happens while the runtime shuts
            // down; that is not a request to end.
            else => std::future::pending().await,
        }
    }
}

/// Whether the terminal we draw on (stdout) has hung up. After a hangup a
/// tty reports POLLHUP and fails reads and writes with EIO; crossterm's
/// reader spins on that EIO instead of returning it, so the control room
/// cannot learn of it from its input and asks here.
pub fn hung_up() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: poll(2) on one valid pollfd that lives across the call; a
    // zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
}

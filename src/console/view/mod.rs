//! Drawing the control room from `&Model` alone: this file places the
//! areas, and each area is drawn by the file named after it. Views only
//! draw; what they show is worked out in the model (`state.rs`,
//! `rollout.rs`). Every string that came from a host goes through
//! `text::inert` before it reaches the screen.
//!
//! ```text
//!  header.rs  gantry · prod-eu · 5 hosts · 1 awaiting approval · … · 14:02:11 UTC
//!  fleet.rs   ┌ rollout ab12cd34: canary 1/1 ✓ ▸ primary 0/1 ─────────────┐
//!             │  HOST   WAVE   RELEASE   STAGE   SOAK   GATES  PnL  DD    │
//!             │▶ lhr-1  canary …                                          │
//!  detail.rs  ┌ lhr-1 ────────────────────────────────────────────────────┐
//!             │SHADOW ✓ ─► PAPER ✓ ─► CANARY ✓ ─► LIVE  awaiting approval │
//!  checks.rs  │  health      value  limit  fails │ PnL +412.20 USD ▁▂▃▄▅▇ │ gauges.rs
//!             │✓ process_alive   1 ==   1   0/1  │ drawdown ▇▇▇░░░ 0.8%   │
//!  audit.rs   ┌ audit ────────────────────────────────────────────────────┐
//!             │14:01:41 lhr-1  gate.pass  canary soak complete            │
//!  footer.rs   a approve  r rollback  E emergency stop  …  (or / : typed, or a flash)
//!  dialog.rs  an action's dialog, drawn over the rest
//!  fleet_stop.rs  the fleet stop's dialog and each host's progress
//!  ledger.rs  the `R` view: a host's risk ledger, full screen
//!  help.rs    the `?` screen, drawn over the rest
//!  audit_entry.rs  one audit entry whole (Enter on the focused audit pane)
//!  logs.rs    a host's service log, full screen, instead of the rest (`l`)
//!  pager.rs   a runbook's text, full screen, instead of the rest (`b`)
//! ```

mod audit;
mod audit_entry;
mod checks;
mod detail;
mod dialog;
mod drill;
mod evidence;
mod fleet;
mod fleet_stop;
mod footer;
mod gauges;
mod header;
mod help;
mod ledger;
mod logs;
mod pager;

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;

use crate::console::keymap::Keymap;
use crate::console::layout;
use crate::console::state::Model;
use crate::console::theme::Theme;
use crate::wire::StateWord;

pub use fleet::rollout_title;

pub fn draw(frame: &mut Frame, model: &Model, keymap: &Keymap, theme: &Theme) {
    if let Some(pager) = &model.pager {
        pager::draw(frame, model, pager, keymap, theme);
        return;
    }
    if let Some(view) = &model.logs {
        logs::draw(frame, model, view, keymap, theme);
        if model.help {
            help::draw(frame, keymap, theme, model.help_scroll);
        }
        return;
    }
    let area = frame.area();
    let areas = layout::split(area.width, area.height, model.hosts.len());
    header::draw(frame, model, theme, areas.header);
    fleet::draw(frame, model, theme, areas.table);
    detail::draw(frame, model, theme, areas.detail);
    audit::draw(frame, model, theme, areas.audit);
    footer::draw(frame, model, keymap, theme, areas.footer);
    if let Some(dialog) = &model.dialog {
        dialog::draw(frame, model, dialog, theme);
    }
    if let Some(stop) = &model.fleet_stop {
        fleet_stop::draw(frame, model, stop, theme);
    }
    if let Some(scroll) = model.audit_focus.and_then(|f| f.open) {
        audit_entry::draw(frame, model, theme, scroll);
    }
    if let Some(view) = &model.ledger {
        ledger::draw(frame, model, view, theme);
    }
    if model.help {
        help::draw(frame, keymap, theme, model.help_scroll);
    }
}

/// "42s", "3m", "2h" for ages.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    if d == Duration::MAX {
        "never heard".into()
    } else if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

/// The style of a host's state, wherever it is shown.
pub fn state_style(theme: &Theme, state: StateWord) -> Style {
    match state {
        StateWord::Live => theme.state_ok,
        StateWord::Shadow | StateWord::Paper | StateWord::Canary | StateWord::Validating => {
            theme.state_progress
        }
        StateWord::AwaitingApproval => theme.state_attention,
        StateWord::RolledBack | StateWord::RollingBack => theme.state_failed,
        StateWord::Halted => theme.state_halted,
        StateWord::Idle | StateWord::Smoke | StateWord::Unknown => theme.muted,
    }
}

/// "mm:ss" for a countdown.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        // mm:ss up to 99:59; past that, hours, so the column never grows.
        ..6000 => format!("{:02}:{:02}", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    }
}

/// A bar `width` cells wide, `done` (0 to 1) of it filled.
fn bar(done: f64, width: usize) -> String {
    let filled = ((done.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("{}{}", "▇".repeat(filled), "░".repeat(width - filled))
}

/// A view that takes the whole screen (the log view, a runbook): cleared,
/// then a title line, the body and a line of keys.
fn full_screen(frame: &mut Frame) -> [Rect; 3] {
    let area = frame.area();
    frame.render_widget(ratatui::widgets::Clear, area);
    ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Length(1),
        ratatui::layout::Constraint::Min(1),
        ratatui::layout::Constraint::Length(1),
    ])
    .areas(area)
}

/// A box of this size in the middle of `area` (smaller if it must be).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

//! The fleet table: one row per host (release, stage, soak, gates, PnL,
//! drawdown, link), the selected one marked ▶, and a rollout in progress
//! as its title. Wide screens (110 columns and more) add the wave.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::{age, bar, clock, state_style};
use crate::console::layout;
use crate::console::release_groups::ReleaseGroups;
use crate::console::rollout::{Rollout, Standing};
use crate::console::state::{HostView, Link, Model};
use crate::console::theme::Theme;
use crate::text::inert;
use crate::wire::StateWord;
use crate::wire::Status;

/// PnL's column: `+12345.67` whole; larger figures lose their decimals
/// ([`pnl_text`]) rather than a digit.
const PNL_WIDTH: u16 = 9;

/// `value` in at most [`PNL_WIDTH`] characters, never cut: cents while
/// they fit, then whole units, then thousands, millions or billions.
fn pnl_text(value: f64) -> String {
    let width = usize::from(PNL_WIDTH);
    [
        format!("{value:+.2}"),
        format!("{value:+.0}"),
        format!("{:+.1}k", value / 1e3),
        format!("{:+.1}M", value / 1e6),
        format!("{:+.1}B", value / 1e9),
    ]
    .into_iter()
    .find(|text| text.chars().count() <= width)
    .unwrap_or_else(|| format!("{:+.0e}", value))
}

/// The release as a column of `width` shows it: whole when wide, else its
/// digest (the part after the stamp), which is what tells releases apart.
fn release_text(release: &str, wide: bool) -> &str {
    match wide {
        true => release,
        false => release
            .rsplit_once('-')
            .map_or(release, |(_, digest)| digest),
    }
}

pub(super) fn draw(frame: &mut Frame, model: &Model, theme: &Theme, area: Rect) {
    let wide = area.width >= 110;
    let order = model.order();
    let first = layout::first_row(model.row_of(&order), area.height);
    let groups = ReleaseGroups::of(&model.hosts);
    // Only the rows that fit are built: a thousand hosts cost a screenful.
    let rows: Vec<Row> = order
        .iter()
        .skip(first)
        .take(usize::from(area.height.saturating_sub(3)).max(1))
        .map(|&i| row(model, theme, &groups, i, &model.hosts[i], wide))
        .collect();
    let mut header = vec!["  HOST"];
    if wide {
        header.push("WAVE");
    }
    header.extend(["RELEASE", "STAGE", "SOAK", "GATES", "PnL", "DD", "AGE"]);
    // Every column fits whole at 80 columns: narrow screens show the
    // release's digest and the soak's clock, never a number cut short.
    let widths = match wide {
        true => vec![
            Constraint::Length(12),
            Constraint::Length(8),
            // The release takes the room there is: ids are never cut.
            Constraint::Min(26),
            // Room for `HALTED · FLAT, KILL FAILED`.
            Constraint::Length(26),
            Constraint::Length(12),
            // `10/10 ✓`
            Constraint::Length(7),
            Constraint::Length(PNL_WIDTH),
            Constraint::Length(6),
            Constraint::Length(16),
        ],
        false => vec![
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(PNL_WIDTH),
            Constraint::Length(6),
            Constraint::Min(9),
        ],
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.header))
        .block(
            Block::default()
                .title(Span::styled(rollout_title(model), theme.state_attention))
                .title(
                    Line::styled(format!(" by {} ", model.sort.label()), theme.muted)
                        .right_aligned(),
                )
                .borders(Borders::ALL)
                .border_style(theme.border),
        )
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// The table's title while a rollout is in progress (empty otherwise):
/// each wave's hosts live on the release, ✓ for a wave done, ✗ for one
/// where a host failed, and whom the rollout waits for.
pub fn rollout_title(model: &Model) -> String {
    let Some(Rollout { digest, waves }) = Rollout::of(&model.hosts) else {
        return String::new();
    };
    let parts: Vec<String> = waves
        .iter()
        .map(|wave| {
            let mut part = format!("{} {}/{}", wave.name, wave.live, wave.hosts);
            match wave.standing() {
                Standing::Done => part.push_str(" ✓"),
                Standing::Failed => part.push_str(" ✗"),
                Standing::Going => {}
            }
            if !wave.awaiting_approval.is_empty() {
                part.push_str(&format!(
                    " waits for approval on {}",
                    wave.awaiting_approval.join(", ")
                ));
            }
            part
        })
        .collect();
    inert(&format!(
        " rollout {}: {} ",
        digest.get(..8).unwrap_or(&digest),
        parts.join(" ▸ ")
    ))
}

/// The stage as the table shows it.
fn stage_label(status: &Status, wide: bool) -> String {
    match status.state {
        StateWord::AwaitingApproval if wide => "CANARY ▸ approve".into(),
        // Narrow screens cut the column at 11 characters.
        StateWord::AwaitingApproval => "▸ APPROVE".into(),
        StateWord::RolledBack => "ROLLED BACK".into(),
        StateWord::RollingBack => "ROLLING BACK".into(),
        StateWord::Halted => match &status.estop {
            Some(stop) if wide => format!("HALTED · {}", stop.headline()),
            // Narrow screens cut the column at 11 characters.
            Some(stop) => stop.short().into(),
            None => "HALTED".into(),
        },
        other => other.as_str().to_uppercase(),
    }
}

/// The AGE column: how old the row's data is. Fresh: the seconds since
/// the host was last heard (its agent beats every second) and the round
/// trip; silent or unreachable: that, loud.
fn data_age(
    host: &HostView,
    stale: Option<Duration>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    match (&host.link, stale) {
        (Link::Connecting { .. }, Some(Duration::MAX)) => "connecting".into(),
        (_, Some(Duration::MAX)) => "DOWN".into(),
        (Link::Up { .. }, Some(a)) => format!("SILENT {}", age(a)),
        (_, Some(a)) => format!("DOWN {}", age(a)),
        (Link::Up { rtt: Some(rtt) }, None) => {
            let ms = rtt.as_secs_f64() * 1000.0;
            let rtt = if ms < 10.0 {
                format!("{ms:.1}ms")
            } else {
                format!("{ms:.0}ms")
            };
            format!("{} {rtt}", age(host.heard_ago(now)))
        }
        (_, None) => age(host.heard_ago(now)),
    }
}

fn row<'a>(
    model: &Model,
    theme: &Theme,
    groups: &ReleaseGroups,
    i: usize,
    host: &HostView,
    wide: bool,
) -> Row<'a> {
    let marker = if i == model.selected { "▶ " } else { "  " };
    let stale = host.stale_for(model.now);
    let name = Cell::from(format!("{marker}{}", inert(&host.name)));
    // Stale is drawn on the cells themselves, so the selection's style
    // never hides it.
    let mut cells = vec![match stale {
        Some(_) => name.style(theme.stale),
        None => name,
    }];
    if wide {
        cells.push(Cell::from(inert(host.wave.as_deref().unwrap_or("—"))));
    }
    let link = data_age(host, stale, model.now);
    match &host.status {
        None => {
            cells.extend(["—", "connecting", "—", "—", "—", "—"].map(Cell::from));
        }
        Some(status) => {
            // Idle (after a rearm) serves nothing, whatever current.env
            // still names.
            let release = (status.current_release.as_deref())
                .filter(|_| status.state != StateWord::Idle)
                .map(|r| release_text(r, wide))
                .unwrap_or("—");
            // Not the release most of the fleet serves: marked first, so
            // a narrow column still shows it.
            let odd = groups.is_odd(i);
            // On stale data the countdown stands where the host went
            // silent (`soak_left`), drawn in the stale style below.
            let soak = match host.soak_left(model.now) {
                _ if status.soak_paused.is_some() => "paused".into(),
                Some((left, total)) if total > 0.0 && wide => {
                    format!("{} {}", clock(left), bar(1.0 - left / total, 5))
                }
                Some((left, total)) if total > 0.0 => clock(left),
                _ if status.state == StateWord::AwaitingApproval => "done".into(),
                _ => "—".into(),
            };
            let applicable: Vec<_> = status.checks.iter().filter(|c| c.counts()).collect();
            let passing = applicable.iter().filter(|c| c.ok).count();
            // Stale gates are not known to pass: never show a tick for them.
            let gates = if applicable.is_empty() {
                "—".into()
            } else if stale.is_some() {
                format!("{passing}/{} ?", applicable.len())
            } else if passing == applicable.len() {
                format!("{passing}/{} ✓", applicable.len())
            } else {
                format!("{passing}/{} ✗", applicable.len())
            };
            let pnl = host.check_value("pnl").map_or("—".into(), pnl_text);
            let dd = host
                .check_value("drawdown")
                .map_or("—".into(), |v| format!("{v:.1}%"));
            let state_style = if stale.is_some() {
                theme.stale
            } else {
                state_style(theme, status.state)
            };
            let quiet = |text: String| match stale {
                Some(_) => Cell::from(text).style(theme.stale),
                None => Cell::from(text),
            };
            cells.push(if odd {
                Cell::from(format!("≠{}", inert(release))).style(if stale.is_some() {
                    theme.stale
                } else {
                    theme.state_attention
                })
            } else {
                quiet(inert(release))
            });
            cells.push(Cell::from(stage_label(status, wide)).style(state_style));
            cells.push(quiet(soak));
            cells.push(Cell::from(gates).style(if stale.is_some() {
                theme.stale
            } else if passing == applicable.len() {
                theme.text
            } else {
                theme.state_failed
            }));
            cells.push(quiet(pnl));
            cells.push(quiet(dd));
        }
    }
    cells.push(Cell::from(link).style(if stale.is_some() {
        theme.stale
    } else {
        theme.text
    }));
    let row = Row::new(cells);
    if i == model.selected {
        row.style(theme.selection)
    } else if stale.is_some() {
        row.style(theme.stale)
    } else {
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pnl_figure_is_never_cut() {
        assert_eq!(pnl_text(412.2), "+412.20");
        assert_eq!(pnl_text(-12345.678), "-12345.68");
        assert_eq!(pnl_text(123456.7), "+123457");
        assert_eq!(pnl_text(-98765432.0), "-98765432");
        assert_eq!(pnl_text(-987654321.0), "-987.7M");
        assert_eq!(pnl_text(1.5e12), "+1500.0B");
        for value in [0.0, 1e3, -1e7, 3.3e9, 7e15] {
            assert!(pnl_text(value).chars().count() <= usize::from(PNL_WIDTH));
        }
    }
}

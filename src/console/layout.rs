//! Where each pane goes, from the terminal size alone, so drawing and mouse
//! hit-testing agree.

use ratatui::layout::Rect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub table: Rect,
    pub detail: Rect,
    pub audit: Rect,
    pub footer: Rect,
}

/// Header, fleet table (as tall as the hosts, at most 40 % of the
/// screen), host detail (8 to 16 rows), audit tail, footer.
pub fn split(width: u16, height: u16, hosts: usize) -> Areas {
    let height = height.max(10);
    let body = height - 2;
    let table_max = (u32::from(body) * 2 / 5).max(4) as u16;
    let table = (hosts as u16).saturating_add(3).clamp(4, table_max);
    // The host pane grows with the screen, up to what a host has to say
    // (rail, what changed, why, the last request, and seven checks or
    // more); the audit keeps at least four rows.
    let detail = body.saturating_sub(table + 4).clamp(8, 16);
    let audit = body.saturating_sub(table + detail).max(1);
    let detail = body.saturating_sub(table + audit);
    let row = |y: u16, h: u16| Rect {
        x: 0,
        y,
        width,
        height: h,
    };
    Areas {
        header: row(0, 1),
        table: row(1, table),
        detail: row(1 + table, detail),
        audit: row(1 + table + detail, audit),
        footer: row(height - 1, 1),
    }
}

/// The first host row shown so the selected one is visible.
pub fn first_row(selected: usize, table_height: u16) -> usize {
    let visible = usize::from(table_height.saturating_sub(3)).max(1);
    selected.saturating_sub(visible - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_tile_the_screen() {
        for (w, h, n) in [(80, 24, 5), (160, 45, 5), (80, 24, 200), (200, 60, 0)] {
            let a = split(w, h, n);
            assert_eq!(
                a.header.height
                    + a.table.height
                    + a.detail.height
                    + a.audit.height
                    + a.footer.height,
                h
            );
            assert_eq!(a.footer.y, h - 1);
            assert!(a.audit.height >= 1 && a.table.height >= 4);
        }
    }
}

//! The audit pane as a place to work in, as in k9s or lazygit: Tab
//! focuses it, the keys that move through hosts move through entries, and
//! Enter opens the selected entry whole. The selection is an entry (its
//! host and sequence number), not a row, so it stays put while new
//! entries arrive.

use super::state::{AuditFocus, Model};
use crate::wire::AuditEntry;

impl Model {
    /// The position of the selected entry in [`Model::filtered_audit`]
    /// (oldest first), when the pane is focused and has entries.
    pub fn audit_row(&self) -> Option<usize> {
        let focus = self.audit_focus?;
        let entries = self.filtered_audit();
        let newest = entries.len().checked_sub(1)?;
        Some(
            focus
                .selected
                .and_then(|(host, seq)| {
                    (entries.iter()).position(|(h, e)| *h == host && e.seq == seq)
                })
                .unwrap_or(newest),
        )
    }

    /// The selected entry, with its host index.
    pub fn audit_selected(&self) -> Option<(usize, &AuditEntry)> {
        let row = self.audit_row()?;
        self.filtered_audit().get(row).map(|(h, e)| (*h, e))
    }

    /// Moves the selection `by` entries (negative: older), clamped.
    pub fn move_audit(&mut self, by: isize) {
        let Some(row) = self.audit_row() else {
            return;
        };
        let entries = self.filtered_audit();
        let row = (row as isize + by).clamp(0, entries.len() as isize - 1) as usize;
        let selected = entries.get(row).map(|(h, e)| (*h, e.seq));
        if let Some(focus) = &mut self.audit_focus {
            focus.selected = selected;
        }
    }

    /// Tab: the audit pane takes the keys, or gives them back.
    pub fn toggle_audit_focus(&mut self) {
        self.audit_focus = match self.audit_focus {
            Some(_) => None,
            None => Some(AuditFocus::default()),
        };
    }

    /// The entry open over the rest, if one is.
    pub fn audit_open(&self) -> bool {
        self.audit_focus.is_some_and(|f| f.open.is_some())
    }
}

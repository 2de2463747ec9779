//! The order of the fleet table: by urgency (what needs a human first:
//! halted, failing, awaiting approval, stale), or as the hosts file lists
//! them. The selection is a host, not a row: it stays on its host while
//! rows move.

use chrono::{DateTime, Utc};

use super::state::{HostView, Model, SortOrder};
use crate::wire::StateWord;

impl HostView {
    /// 0 is the most urgent: halted (not proven flat first), failing
    /// (rolling back, rolled back, a gate failing), awaiting approval,
    /// stale, on the way to live, live, then idle.
    pub fn urgency(&self, now: DateTime<Utc>) -> u8 {
        let failing = self
            .status
            .as_ref()
            .is_some_and(|s| s.checks.iter().any(|c| c.counts() && !c.ok));
        match self.state() {
            StateWord::Halted if self.not_flat() => 0,
            StateWord::Halted => 1,
            StateWord::RollingBack | StateWord::RolledBack => 2,
            _ if failing && self.stale_for(now).is_none() => 2,
            StateWord::AwaitingApproval => 3,
            _ if self.stale_for(now).is_some() => 4,
            StateWord::Live if self.drill_overdue(now) => 6,
            StateWord::Idle | StateWord::Live => 7,
            _ => 5,
        }
    }
}

impl Model {
    /// Host indexes in the order the table shows them.
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.hosts.len()).collect();
        if self.sort == SortOrder::Urgency {
            // Stable: equals keep the hosts file's order.
            order.sort_by_key(|&i| self.hosts[i].urgency(self.now));
        }
        order
    }

    /// The selected host's row in the table.
    pub fn selected_row(&self) -> usize {
        self.row_of(&self.order())
    }

    /// The selected host's row in `order` (from [`Model::order`]).
    pub fn row_of(&self, order: &[usize]) -> usize {
        order.iter().position(|&i| i == self.selected).unwrap_or(0)
    }

    /// Moves the selection `by` rows (clamped to the table).
    pub fn move_selection(&mut self, by: isize) {
        let order = self.order();
        if order.is_empty() {
            return;
        }
        let row = self.row_of(&order) as isize + by;
        self.selected = order[row.clamp(0, order.len() as isize - 1) as usize];
    }

    /// Selects the host on table row `row`, if there is one.
    pub fn select_row(&mut self, row: usize) {
        if let Some(&host) = self.order().get(row) {
            self.selected = host;
        }
    }
}

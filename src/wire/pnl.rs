//! PnL history: a sample every [`PNL_EVERY`] for the last [`PNL_SPAN`],
//! kept by the agent and sent in `snapshot.pnl` on connect, so a console
//! opened later draws the last hour's sparkline; the console keeps the
//! same ring from then on. The newest sample is refreshed in place until
//! [`PNL_EVERY`] has passed, so the last bar is always live and the ring
//! never holds more than [`PNL_KEPT`] samples.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One sample a ring slot apart from the next.
pub const PNL_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
/// How far back the ring reaches.
pub const PNL_SPAN: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// The ring's bound: an hour of samples ten seconds apart, and the live one.
pub const PNL_KEPT: usize = 361;

/// One sample on the wire: `{"at": RFC 3339, "value": USD}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PnlPoint {
    pub at: String,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PnlHistory {
    samples: VecDeque<(DateTime<Utc>, f64)>,
}

impl PnlHistory {
    /// Adds a sample, or refreshes the newest one if it is younger than
    /// [`PNL_EVERY`]; drops what is older than [`PNL_SPAN`]. A sample older
    /// than the newest is ignored.
    pub fn record(&mut self, at: DateTime<Utc>, value: f64) {
        if !value.is_finite() {
            return;
        }
        match self.samples.back_mut() {
            Some((last, _)) if at < *last => return,
            Some((last, slot)) if at - *last < PNL_EVERY => *slot = value,
            _ => self.samples.push_back((at, value)),
        }
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at - *t > PNL_SPAN)
            || self.samples.len() > PNL_KEPT
        {
            self.samples.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The samples for the wire, oldest first.
    pub fn points(&self) -> Vec<PnlPoint> {
        self.samples
            .iter()
            .map(|(at, value)| PnlPoint {
                at: crate::stamp::rfc3339(*at),
                value: *value,
            })
            .collect()
    }

    /// A ring from the wire: points that do not parse are left out, and
    /// the bounds hold whatever a host sent.
    pub fn from_points(points: &[PnlPoint]) -> Self {
        let mut ring = Self::default();
        for p in points {
            if let Ok(at) = DateTime::parse_from_rfc3339(&p.at) {
                ring.record(at.with_timezone(&Utc), p.value);
            }
        }
        ring
    }

    /// One value per column over the time the ring covers (at most the
    /// last hour, up to `now`): each column the last sample at or before
    /// its end; columns before the first sample are left out.
    pub fn columns(&self, width: usize, now: DateTime<Utc>) -> Vec<f64> {
        let Some(&(first, _)) = self.samples.front() else {
            return Vec::new();
        };
        if width == 0 {
            return Vec::new();
        }
        let span = (now - first).clamp(PNL_EVERY, PNL_SPAN);
        let start = now - span;
        let step = span / width as i32;
        let mut out = Vec::with_capacity(width);
        let mut next = self.samples.iter().peekable();
        let mut value = None;
        for column in 1..=width as i32 {
            let end = start + step * column;
            while let Some(&&(at, v)) = next.peek() {
                if at > end && column < width as i32 {
                    break;
                }
                value = Some(v);
                next.next();
            }
            if let Some(v) = value {
                out.push(v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn a_sample_every_ten_seconds_for_an_hour_and_the_last_one_live() {
        let mut ring = PnlHistory::default();
        for s in 0..7200 {
            ring.record(t(s), s as f64);
        }
        // An hour of samples ten seconds apart, and the live one.
        assert!(ring.len() <= PNL_KEPT, "{}", ring.len());
        assert!(ring.len() >= 360, "{}", ring.len());
        let points = ring.points();
        assert_eq!(points.last().unwrap().value, 7199.0);
        assert!(points[0].value >= 3599.0);
        // Round trip over the wire.
        assert_eq!(PnlHistory::from_points(&points), ring);
        // Old and non-finite samples are ignored.
        ring.record(t(10), 1.0);
        ring.record(t(7300), f64::NAN);
        assert_eq!(ring.points().last().unwrap().value, 7199.0);
    }

    #[test]
    fn columns_spread_what_there_is_over_the_width() {
        let mut ring = PnlHistory::default();
        assert!(ring.columns(10, t(0)).is_empty());
        for s in (0..=100).step_by(10) {
            ring.record(t(s), s as f64);
        }
        let columns = ring.columns(10, t(100));
        assert_eq!(columns.len(), 10);
        assert_eq!(*columns.last().unwrap(), 100.0);
        assert!(columns.windows(2).all(|w| w[0] <= w[1]), "{columns:?}");
        // An hour later with nothing new: the old samples are still drawn
        // at the left, the last value carried to now.
        let later = ring.columns(10, t(100 + 1800));
        assert_eq!(*later.last().unwrap(), 100.0);
    }
}

//! What the agent keeps of its own scrapes: for each series a registered
//! query reads (for a histogram, its `_bucket` series keyed by `le`), one
//! reading per scrape, failed scrapes included, so that "no data" can say
//! why.
//!
//! Memory is bounded twice. Readings older than the longest window plus
//! [`RETENTION_MARGIN_MS`] are dropped. And a series holds at most
//! [`MAX_POINTS_PER_SERIES`]: past that, every other reading of its older
//! half is dropped, so a long window keeps covering its whole span at a
//! coarser step while recent readings keep full resolution. Thinning never
//! changes an increase: each counter reading carries its running total (the
//! sum of its increases since recording began, resets handled), and the
//! increase between any two kept readings is the difference of their totals.

use std::collections::{HashMap, VecDeque};

use super::super::Exposition;
use super::super::tokens::parse_value;
use super::{Operand, Query, Selector};

/// The most readings kept per series (at a 200 ms probe, 13 minutes at
/// full resolution before thinning starts).
pub const MAX_POINTS_PER_SERIES: usize = 4096;

/// Kept beyond the longest window, so a query evaluated a little before
/// the latest scrape's time still finds its whole window.
const RETENTION_MARGIN_MS: u64 = 10_000;

/// A scrape recorded at or before the latest one already recorded: time
/// went backwards, and a window could no longer be read in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("scrape at {at_ms} ms is not after the last one recorded, at {last_ms} ms: not recorded")]
pub struct OutOfOrder {
    pub at_ms: i64,
    pub last_ms: i64,
}

/// The recent readings of every series the registered queries read.
#[derive(Debug, Clone)]
pub struct History {
    tracks: HashMap<Source, Track>,
    retain_ms: u64,
    max_points: usize,
    last_ms: Option<i64>,
}

/// What a query reads from a page: one series' value, or a histogram's
/// `_bucket` series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Source {
    Series(Selector),
    Buckets(Selector),
}

/// One source's readings, oldest first, with strictly increasing times.
#[derive(Debug, Clone, Default)]
pub(super) struct Track {
    pub(super) points: VecDeque<Point>,
    /// The last finite value(s) seen, for the next reading's total.
    last: Last,
}

#[derive(Debug, Clone, Default)]
enum Last {
    #[default]
    Nothing,
    Value {
        raw: f64,
        total: f64,
    },
    Buckets(Vec<Bucket>),
}

#[derive(Debug, Clone)]
pub(super) struct Point {
    pub(super) t_ms: i64,
    pub(super) reading: Reading,
}

/// A source in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reading {
    /// The scrape itself failed.
    Failed,
    /// No series matched.
    Missing,
    /// This many series matched (for a histogram: for one `le`).
    Ambiguous(usize),
    /// `raw` as scraped; `total` is the running increase, kept unchanged
    /// by a non-finite `raw`, which counts as no counter value.
    Value { raw: f64, total: f64 },
    /// Sorted by `le`.
    Buckets(Vec<Bucket>),
    /// Bucket series that do not make a histogram, and why.
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bucket {
    pub(super) le: f64,
    pub(super) raw: f64,
    pub(super) total: f64,
}

impl History {
    /// A history of the series `queries` read, kept as long as their
    /// longest window needs.
    pub fn new(queries: &[Query]) -> History {
        History::with_max_points(queries, MAX_POINTS_PER_SERIES)
    }

    pub(super) fn with_max_points(queries: &[Query], max_points: usize) -> History {
        let mut tracks = HashMap::new();
        for operand in queries.iter().flat_map(Query::operands) {
            tracks.insert(Source::of(operand), Track::default());
        }
        let longest = queries.iter().filter_map(Query::longest_window_ms).max();
        History {
            tracks,
            retain_ms: longest.unwrap_or(0) + RETENTION_MARGIN_MS,
            max_points: max_points.max(2),
            last_ms: None,
        }
    }

    /// Forgets every reading, keeping what is tracked: a new process's
    /// counters and histograms start afresh, and no window may reach back
    /// into the one before it (a rollback is never judged on the numbers of
    /// what it rolled back). Times must still increase.
    pub fn forget(&mut self) {
        for track in self.tracks.values_mut() {
            *track = Track::default();
        }
    }

    /// Records one scrape made at `t_ms`; `None` is a scrape that failed.
    /// Times must increase: an earlier or equal one is refused and nothing
    /// changes.
    pub fn record(&mut self, t_ms: i64, page: Option<&Exposition>) -> Result<(), OutOfOrder> {
        if let Some(last_ms) = self.last_ms.filter(|&last| t_ms <= last) {
            return Err(OutOfOrder {
                at_ms: t_ms,
                last_ms,
            });
        }
        self.last_ms = Some(t_ms);
        let oldest_kept = t_ms.saturating_sub_unsigned(self.retain_ms);
        for (source, track) in &mut self.tracks {
            let reading = match page {
                None => Reading::Failed,
                Some(page) => track.read(source, page),
            };
            track.points.push_back(Point { t_ms, reading });
            while track.points.front().is_some_and(|p| p.t_ms < oldest_kept) {
                track.points.pop_front();
            }
            if track.points.len() > self.max_points {
                thin(&mut track.points);
            }
        }
        Ok(())
    }

    pub(super) fn track(&self, source: &Source) -> Option<&Track> {
        self.tracks.get(source)
    }

    /// Every reading kept, across series: what the bounds bound.
    pub fn len(&self) -> usize {
        self.tracks.values().map(|t| t.points.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops every other reading of the older half, keeping the oldest, so the
/// track still spans its time at half the resolution there.
fn thin(points: &mut VecDeque<Point>) {
    let older = points.len() - points.len() / 2;
    let mut index = 0;
    points.retain(|_| {
        let keep = index >= older || index.is_multiple_of(2);
        index += 1;
        keep
    });
}

impl Source {
    pub(super) fn of(operand: &Operand) -> Source {
        match operand {
            Operand::Latest(s) | Operand::Increase(s, _) | Operand::Rate(s, _) => {
                Source::Series(s.clone())
            }
            Operand::Quantile { buckets, .. } => Source::Buckets(buckets.clone()),
        }
    }
}

impl Track {
    /// This source in `page`, with running totals carried on from the last
    /// reading that had a value.
    fn read(&mut self, source: &Source, page: &Exposition) -> Reading {
        match source {
            Source::Series(selector) => {
                let mut matched = page.samples().iter().filter(|s| selector.matches(s));
                let raw = match (matched.next(), matched.count()) {
                    (None, _) => return Reading::Missing,
                    (Some(sample), 0) => sample.value,
                    (Some(_), more) => return Reading::Ambiguous(1 + more),
                };
                if !raw.is_finite() {
                    let total = match self.last {
                        Last::Value { total, .. } => total,
                        _ => 0.0,
                    };
                    return Reading::Value { raw, total };
                }
                let total = match self.last {
                    Last::Value {
                        raw: previous,
                        total,
                    } => total + increase(previous, raw),
                    _ => 0.0,
                };
                self.last = Last::Value { raw, total };
                Reading::Value { raw, total }
            }
            Source::Buckets(selector) => match read_buckets(selector, page) {
                Ok(mut buckets) => {
                    let previous = match &self.last {
                        Last::Buckets(previous) => previous.as_slice(),
                        _ => &[],
                    };
                    // Both sides are sorted by `le`, parsed the same way.
                    let find = |le: f64| previous.binary_search_by(|p| p.le.total_cmp(&le));
                    for bucket in &mut buckets {
                        if let Ok(i) = find(bucket.le) {
                            let p = previous[i];
                            bucket.total = p.total + increase(p.raw, bucket.raw);
                        }
                    }
                    // A bucket missing from this page keeps its last state, so
                    // its total goes on where it left off if it comes back.
                    let by_le = |b: &Bucket| buckets.binary_search_by(|x| x.le.total_cmp(&b.le));
                    let mut last = buckets.clone();
                    last.extend(previous.iter().filter(|p| by_le(p).is_err()));
                    last.sort_by(|a, b| a.le.total_cmp(&b.le));
                    self.last = Last::Buckets(last);
                    Reading::Buckets(buckets)
                }
                Err(reading) => reading,
            },
        }
    }
}

/// Prometheus' counter rule: a drop is a restart from 0.
fn increase(previous: f64, now: f64) -> f64 {
    if now >= previous { now - previous } else { now }
}

/// Every `_bucket` series `selector` matches, one per `le`, sorted; a
/// reading that is not a histogram otherwise.
fn read_buckets(selector: &Selector, page: &Exposition) -> Result<Vec<Bucket>, Reading> {
    let mut buckets: Vec<Bucket> = Vec::new();
    for sample in page.samples().iter().filter(|s| selector.matches(s)) {
        let Some(le_text) = sample.label("le") else {
            return Err(Reading::Malformed(format!(
                "histogram {selector} has a series with no le label"
            )));
        };
        let le = match parse_value(le_text) {
            Ok(le) if !le.is_nan() => le,
            _ => {
                return Err(Reading::Malformed(format!(
                    "histogram {selector} has le={le_text:?}, which is not a bound"
                )));
            }
        };
        if !sample.value.is_finite() {
            return Err(Reading::Malformed(format!(
                "histogram {selector} has a count of {} for le={le_text:?}",
                sample.value
            )));
        }
        buckets.push(Bucket {
            le,
            raw: sample.value,
            total: 0.0,
        });
    }
    if buckets.is_empty() {
        return Err(Reading::Missing);
    }
    buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    let most_per_le = buckets
        .chunk_by(|a, b| a.le == b.le)
        .map(<[Bucket]>::len)
        .max()
        .unwrap_or(1);
    if most_per_le > 1 {
        return Err(Reading::Ambiguous(most_per_le));
    }
    Ok(buckets)
}

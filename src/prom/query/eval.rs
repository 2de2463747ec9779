//! A query's value at one moment, read from a [`History`], or the reason it
//! has none. Every reason names the operand it is about.

use super::history::{Bucket, History, Point, Reading, Source, Track};
use super::{Evaluation, Operand, Query, Selector, Window};

/// Why an operand has no value, in words.
type NoData = String;

impl Query {
    /// The query's value at `now_ms`, over what `history` recorded.
    pub fn eval(&self, history: &History, now_ms: i64) -> Evaluation {
        let result = match self {
            Query::Single(a) => operand(a, history, now_ms),
            Query::Ratio(a, b) => ratio(a, b, history, now_ms),
        };
        match result {
            Ok(value) => Evaluation::Value(value),
            Err(reason) => Evaluation::NoData(reason),
        }
    }
}

fn ratio(a: &Operand, b: &Operand, history: &History, now_ms: i64) -> Result<f64, NoData> {
    let numerator = operand(a, history, now_ms)?;
    let denominator = operand(b, history, now_ms)?;
    if denominator == 0.0 {
        return Err(format!("{b} is 0: no rate to divide by"));
    }
    let value = numerator / denominator;
    if value.is_nan() {
        return Err(format!(
            "{a} / {b} is not a number ({numerator} / {denominator})"
        ));
    }
    Ok(value)
}

fn operand(op: &Operand, history: &History, now_ms: i64) -> Result<f64, NoData> {
    let Some(track) = history.track(&Source::of(op)) else {
        return Err(format!(
            "{op} is not recorded: its query was not registered"
        ));
    };
    match op {
        Operand::Latest(selector) => latest_value(selector, track, now_ms),
        Operand::Increase(selector, window) => {
            let (increase, _) = counter(op, selector, track, *window, now_ms)?;
            Ok(increase)
        }
        Operand::Rate(selector, window) => {
            let (increase, seconds) = counter(op, selector, track, *window, now_ms)?;
            Ok(increase / seconds)
        }
        Operand::Quantile {
            q,
            buckets,
            window: None,
        } => {
            let counts = latest_buckets(buckets, track, now_ms)?
                .iter()
                .map(|b| (b.le, b.raw))
                .collect();
            bucket_quantile(*q, counts, buckets, "")
        }
        Operand::Quantile {
            q,
            buckets,
            window: Some(window),
        } => {
            let counts = bucket_increases(op, buckets, track, *window, now_ms)?;
            bucket_quantile(*q, counts, buckets, &format!(" in {window}"))
        }
    }
}

/// The last reading at or before `now_ms`.
fn latest(track: &Track, now_ms: i64) -> Option<&Point> {
    let end = track.points.partition_point(|p| p.t_ms <= now_ms);
    end.checked_sub(1).map(|i| &track.points[i])
}

/// The readings inside `(now - window, now]`, oldest first.
fn in_window(track: &Track, window: Window, now_ms: i64) -> impl Iterator<Item = &Point> {
    let from = now_ms.saturating_sub_unsigned(window.ms());
    let start = track.points.partition_point(|p| p.t_ms <= from);
    let end = track.points.partition_point(|p| p.t_ms <= now_ms);
    track.points.range(start..end.max(start))
}

/// Why a reading gives no value.
fn absent(reading: &Reading, what: &str) -> NoData {
    match reading {
        Reading::Failed => format!("{what}: the latest scrape failed"),
        Reading::Missing => format!("{what} is missing from the latest scrape"),
        Reading::Ambiguous(n) => format!("{what} matches {n} series: add labels to pick one"),
        Reading::Malformed(why) => why.clone(),
        // A source is read as one kind only, so these two never arise.
        Reading::Value { .. } => format!("{what} is one series, not a histogram"),
        Reading::Buckets(_) => format!("{what} is a histogram, not one series"),
    }
}

fn latest_value(selector: &Selector, track: &Track, now_ms: i64) -> Result<f64, NoData> {
    let what = selector.to_string();
    let point = latest(track, now_ms).ok_or_else(|| format!("{what}: no scrape yet"))?;
    match point.reading {
        Reading::Value { raw, .. } if raw.is_nan() => Err(format!("{what} is NaN")),
        Reading::Value { raw, .. } => Ok(raw),
        ref other => Err(absent(other, &what)),
    }
}

/// A counter's increase inside the window, and the seconds it spans.
fn counter(
    op: &Operand,
    selector: &Selector,
    track: &Track,
    window: Window,
    now_ms: i64,
) -> Result<(f64, f64), NoData> {
    let points: Vec<&Point> = in_window(track, window, now_ms).collect();
    // A series that has become ambiguous is reported as such, even if its
    // earlier readings would still make a rate.
    if let Some(last) = points.last()
        && let Reading::Ambiguous(_) = last.reading
    {
        return Err(format!(
            "{op}: {}",
            absent(&last.reading, &selector.to_string())
        ));
    }
    let values: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|p| match p.reading {
            Reading::Value { raw, total } if raw.is_finite() => Some((p.t_ms, total)),
            _ => None,
        })
        .collect();
    let (Some(&(t0, first)), Some(&(t1, last)), 2..) =
        (values.first(), values.last(), values.len())
    else {
        return Err(needs_two(op, window, values.len()));
    };
    Ok((last - first, (t1 - t0) as f64 / 1000.0))
}

fn needs_two(op: &Operand, window: Window, has: usize) -> NoData {
    format!("{op} needs 2 samples in {window}, has {has}")
}

fn latest_buckets<'a>(
    buckets: &Selector,
    track: &'a Track,
    now_ms: i64,
) -> Result<&'a [Bucket], NoData> {
    let what = format!("histogram {buckets}");
    let point = latest(track, now_ms).ok_or_else(|| format!("{what}: no scrape yet"))?;
    match &point.reading {
        Reading::Buckets(list) => Ok(list),
        other => Err(histogram_absent(other, &what)),
    }
}

fn histogram_absent(reading: &Reading, what: &str) -> NoData {
    match reading {
        Reading::Ambiguous(n) => {
            format!("{what} has {n} series for one le: add labels to pick one histogram")
        }
        other => absent(other, what),
    }
}

/// Each bucket's increase inside the window, for the buckets present at
/// both its ends.
fn bucket_increases(
    op: &Operand,
    buckets: &Selector,
    track: &Track,
    window: Window,
    now_ms: i64,
) -> Result<Vec<(f64, f64)>, NoData> {
    let points: Vec<&Point> = in_window(track, window, now_ms).collect();
    // As for counters, a failed or partial last scrape is a gap, but a
    // histogram that has become ambiguous or malformed is reported.
    if let Some(last) = points.last()
        && matches!(last.reading, Reading::Ambiguous(_) | Reading::Malformed(_))
    {
        let why = histogram_absent(&last.reading, &format!("histogram {buckets}"));
        return Err(format!("{op}: {why}"));
    }
    let readings: Vec<&[Bucket]> = points
        .iter()
        .filter_map(|p| match &p.reading {
            Reading::Buckets(list) => Some(list.as_slice()),
            _ => None,
        })
        .collect();
    let (Some(first), Some(last), 2..) = (readings.first(), readings.last(), readings.len()) else {
        return Err(needs_two(op, window, readings.len()));
    };
    Ok(last
        .iter()
        .filter_map(|b| {
            let i = first.binary_search_by(|a| a.le.total_cmp(&b.le)).ok()?;
            // Totals never fall; `max` only guards the arithmetic.
            Some((b.le, (b.total - first[i].total).max(0.0)))
        })
        .collect())
}

/// Prometheus' `bucketQuantile`: `counts` are cumulative `(le, count)`;
/// linear interpolation inside the bucket the rank falls in, assuming
/// the first bucket starts at 0.
fn bucket_quantile(
    q: f64,
    mut counts: Vec<(f64, f64)>,
    buckets: &Selector,
    span: &str,
) -> Result<f64, NoData> {
    counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if counts.last().is_none_or(|&(le, _)| le != f64::INFINITY) {
        return Err(format!("histogram {buckets} has no +Inf bucket"));
    }
    if counts.len() < 2 {
        return Err(format!(
            "histogram {buckets} has only the +Inf bucket: no bounds to interpolate"
        ));
    }
    // Counts must not fall as `le` grows; a scrape can catch a histogram
    // mid-update, and Prometheus evens that out the same way.
    let mut highest = 0.0_f64;
    for (_, count) in &mut counts {
        highest = highest.max(*count);
        *count = highest;
    }
    let observations = highest;
    if observations <= 0.0 {
        return Err(format!("histogram {buckets} has no observations{span}"));
    }
    let rank = q * observations;
    // The first bucket holding the rank and an observation: the +Inf bucket
    // holds all of them, so there is one. Requiring an observation is what
    // makes q = 0 the first occupied bucket's lower bound, not 0/0.
    let b = counts
        .iter()
        .position(|&(_, count)| count >= rank && count > 0.0)
        .unwrap_or(counts.len() - 1);
    let top = counts.len() - 1;
    if b == top {
        return Ok(counts[top - 1].0);
    }
    let (upper, count) = counts[b];
    if b == 0 && upper <= 0.0 {
        return Ok(upper);
    }
    let (lower, below) = if b == 0 { (0.0, 0.0) } else { counts[b - 1] };
    Ok(lower + (upper - lower) * ((rank - below) / (count - below)))
}

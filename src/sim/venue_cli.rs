//! The venue's command-line face, as a desk's kill script talks to a
//! venue's API: `gantry sim venue` (what is open) and `gantry sim flatten`
//! (cancel all, close all at market). Both read the file the running sim
//! keeps in its state dir (`venue_file`); neither needs the release's
//! environment: how the venue answers a flatten is in the file.
//!
//! Exit statuses (docs/sim.md, "The venue"): 0 done (and flat, where that
//! was asked); 1 not flat (`--check-flat`), or a flatten that could not
//! finish; 2 a `--state-dir` that is not a directory; 65 a venue file that
//! makes no sense; 69 a venue file or lock that cannot be read. A missing
//! venue file is a flat venue, but an unreadable one is never taken for
//! one: no data is never a pass.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::venue::{Book, Flatten};
use super::venue_file::{self, VenueError};
use crate::exit::{Code, fail};

/// `--json`: `{"open_orders", "positions": [{"symbol", "qty",
/// "notional_usd"}], "notional_usd"}`, plus `flat` and `file`.
#[derive(Debug, Serialize)]
struct Summary {
    open_orders: usize,
    positions: Vec<PositionLine>,
    notional_usd: f64,
    flat: bool,
    file: String,
}

#[derive(Debug, Serialize)]
struct PositionLine {
    symbol: String,
    qty: f64,
    notional_usd: f64,
}

impl Summary {
    fn of(book: Option<&Book>, file: &Path) -> Self {
        let positions = book.map_or(&[][..], Book::positions);
        Self {
            open_orders: book.map_or(0, |b| b.orders().len()),
            positions: positions
                .iter()
                .map(|p| PositionLine {
                    symbol: p.symbol.clone(),
                    qty: p.qty,
                    notional_usd: usd(p.notional_usd()),
                })
                .collect(),
            notional_usd: usd(book.map_or(0.0, Book::notional_usd)),
            flat: book.is_none_or(Book::is_flat),
            file: file.display().to_string(),
        }
    }

    /// The human form: a short table.
    fn table(&self) -> String {
        let mut out = format!("venue        {}\n", self.file);
        out += &format!("open orders  {}\n", self.open_orders);
        if self.positions.is_empty() {
            out += "positions    none\n";
        } else {
            out += &format!("{:<12} {:>14} {:>16}\n", "symbol", "qty", "notional_usd");
            for p in &self.positions {
                out += &format!("{:<12} {:>14} {:>16.2}\n", p.symbol, p.qty, p.notional_usd);
            }
        }
        out += &format!("{:<12} {:>14} {:>16.2}\n", "total", "", self.notional_usd);
        out
    }

    fn open(&self) -> String {
        format!(
            "{} open orders, {} positions, notional {:.2} USD",
            self.open_orders,
            self.positions.len(),
            self.notional_usd
        )
    }
}

/// Micro-USD, as `/metrics` shows it, so both agree to the digit.
fn usd(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

fn state_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(fail(
            Code::Usage,
            format!("--state-dir {}: not a directory", dir.display()),
        ))
    }
}

fn venue_error(error: VenueError) -> anyhow::Error {
    fail(error.code(), error.to_string())
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fail(Code::Failed, format!("cannot write to stdout: {e}")))
}

/// `gantry sim venue --state-dir DIR [--json] [--check-flat]`.
pub fn show(dir: &Path, json: bool, check_flat: bool) -> anyhow::Result<()> {
    state_dir(dir)?;
    let file = venue_file::path(dir);
    let book = venue_file::read(dir).map_err(venue_error)?;
    let summary = Summary::of(book.as_ref(), &file);
    if json {
        // Only strings, integers and finite numbers: this cannot fail.
        let text = serde_json::to_string(&summary).unwrap_or_default();
        print(&format!("{text}\n"))?;
    } else if check_flat {
        // One line: what a kill script's verify step logs and shows.
        if summary.flat {
            print(&format!("flat: nothing open ({})\n", file.display()))?;
        }
    } else {
        print(&summary.table())?;
    }
    if check_flat && !summary.flat {
        return Err(fail(
            Code::Failed,
            format!("not flat: {} ({})", summary.open(), file.display()),
        ));
    }
    Ok(())
}

/// `gantry sim flatten --state-dir DIR`: exit 0 only when the venue is flat
/// afterwards.
pub fn flatten(dir: &Path) -> anyhow::Result<()> {
    state_dir(dir)?;
    let Some(locked) = venue_file::lock(dir, true).map_err(venue_error)? else {
        // A blocking lock does not answer "busy".
        return Err(fail(Code::Unavailable, "the venue lock was not granted"));
    };
    let file = locked.path();
    let Some(mut book) = locked.load().map_err(venue_error)? else {
        return print(&format!(
            "nothing open (no venue file at {})\n",
            file.display()
        ));
    };
    let mode = book.account().flatten;
    if mode == Flatten::Slow {
        // The lock stays held: the sim does not trade into a flatten.
        std::thread::sleep(Duration::from_millis(book.account().flatten_ms));
    }
    let done = book.flatten();
    if done.cancelled + done.closed > 0 {
        locked.save(&book).map_err(|e| {
            fail(
                Code::Failed,
                format!("{e}: nothing was cancelled or closed"),
            )
        })?;
    }
    print(&format!(
        "cancelled {} orders, closed {} positions\n",
        done.cancelled, done.closed
    ))?;
    let left = Summary::of(Some(&book), &file);
    if done.refused {
        return Err(fail(
            Code::Failed,
            format!(
                "flatten refused by the venue ({} says flatten=fail): still open: {}",
                file.display(),
                left.open()
            ),
        ));
    }
    if !left.flat {
        let still: Vec<String> = left
            .positions
            .iter()
            .map(|p| format!("{} qty {}", p.symbol, p.qty))
            .collect();
        return Err(fail(
            Code::Failed,
            format!(
                "not flat after flatten ({} says flatten={}): still open: {}: {}",
                file.display(),
                mode.as_str(),
                left.open(),
                still.join(", ")
            ),
        ));
    }
    print("the venue is flat\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::venue::Side;

    #[test]
    fn summary_shapes() {
        let mut book = Book::default();
        let id = book.place("BTC-USD", Side::Buy, 0.01, 60_000.0).unwrap();
        book.fill(id);
        book.place("ETH-USD", Side::Sell, 0.1, 3_000.0).unwrap();
        let summary = Summary::of(Some(&book), Path::new("/d/venue.json"));
        let json: serde_json::Value = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "open_orders": 1,
                "positions": [{"symbol": "BTC-USD", "qty": 0.01, "notional_usd": 600.0}],
                "notional_usd": 600.0,
                "flat": false,
                "file": "/d/venue.json",
            })
        );
        let table = summary.table();
        assert!(table.contains("open orders  1\n"), "{table}");
        assert!(table.contains("BTC-USD"), "{table}");
        assert!(table.lines().last().unwrap().ends_with("600.00"), "{table}");

        let none = Summary::of(None, Path::new("/d/venue.json"));
        assert!(none.flat && none.positions.is_empty() && none.notional_usd == 0.0);
        assert!(none.table().contains("positions    none\n"));
    }
}

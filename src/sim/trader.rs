//! The sim's side of the venue, pure: what the model asks of the venue
//! ([`Request`]), what comes back ([`Exchanged`]), and the trading step
//! applied to the venue's book under its lock ([`step`]).
//!
//! The model decides *when* (every [`STEP_EVERY`] of trading, virtual
//! time); the shell performs the request through `venue_file`, which loads
//! the book, calls [`step`] on the book as it is *now* in the file (another
//! process may have flattened it since the model last looked), and saves.
//! So the step never works from a stale copy, and nothing here reads a
//! clock or a file.
//!
//! The strategy is small and deterministic: two instruments, alternating
//! steps, one limit order placed per step; an order rests one step and
//! fills at its limit price on the next. A quiet step (the `fills` fault)
//! only marks positions, so orders rest longer and fills come slower. Each instrument buys up to
//! [`MAX_LOTS`] lots and then sells back a lot at a time, so once the first
//! order has filled (about a second after idle) the position never returns
//! to zero on its own, and it stays bounded.

use std::path::PathBuf;
use std::time::Duration;

use super::venue::{Account, Book, Side};

/// How often a trading sim steps at the venue (and so writes the file).
pub const STEP_EVERY: Duration = Duration::from_millis(500);
/// How many orders rest before the oldest fills.
const RESTING: usize = 2;
/// The most lots an instrument holds.
const MAX_LOTS: f64 = 3.0;
/// Prices swing ±2 % around their base, with a 10·2π s period.
const SWING: f64 = 0.02;

pub struct Instrument {
    pub symbol: &'static str,
    /// USD.
    pub base: f64,
    /// The quantity of one order.
    pub lot: f64,
}

pub const INSTRUMENTS: [Instrument; 2] = [
    Instrument {
        symbol: "BTC-USD",
        base: 60_000.0,
        lot: 0.01,
    },
    Instrument {
        symbol: "ETH-USD",
        base: 3_000.0,
        lot: 0.1,
    },
];

/// The price of an instrument with base price `base` after `tau` seconds of
/// trading. Also the price of the live plane's `order executed` lines
/// (base 100), so both come from one model.
pub fn price(base: f64, tau: f64) -> f64 {
    base + base * SWING * (tau / 10.0).sin()
}

/// One trading step: which one (instruments alternate) and when, in
/// milliseconds of trading (the prices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    pub step: u64,
    pub tau_ms: u64,
    /// Nothing fills and nothing is placed; positions are only marked. The
    /// `fills` fault makes most steps quiet, so orders rest longer.
    pub quiet: bool,
}

/// One exchange with the venue, as the model asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The sim's state dir: the venue file is `dir/venue.json`.
    pub dir: PathBuf,
    /// Record these account settings (until the venue has them).
    pub record: Option<Account>,
    pub trade: Option<Trade>,
}

impl Request {
    /// Whether the request may change the file (and so needs the lock,
    /// and creates the file if there is none). A request that does
    /// neither only reads: a sim that does not trade leaves no file.
    pub fn writes(&self) -> bool {
        self.record.is_some() || self.trade.is_some()
    }
}

/// What came of a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Exchanged {
    Done {
        /// The venue now; `None` when there is no venue file (nothing open).
        book: Option<Book>,
        /// Orders this request filled.
        fills: u64,
        /// The account settings asked for are in the file.
        recorded: bool,
    },
    /// Another process holds the venue (a flatten in progress): nothing
    /// was done; ask again at the next step.
    Busy,
    /// The venue file cannot be read or makes no sense; the text names the
    /// file. Never taken for a flat venue.
    Unreadable(String),
    /// The venue was read (`book`, as it was) but the change could not be
    /// written; the text names the file.
    Unwritable { book: Option<Book>, why: String },
}

/// One trading step on `book`; the number of fills.
pub fn step(book: &mut Book, trade: Trade) -> u64 {
    let tau = trade.tau_ms as f64 / 1000.0;
    let mut fills = 0;
    if !trade.quiet && book.orders().len() >= RESTING {
        let oldest = book.orders()[0].id;
        fills += u64::from(book.fill(oldest));
    }
    for instrument in &INSTRUMENTS {
        book.mark(instrument.symbol, price(instrument.base, tau));
    }
    if trade.quiet {
        return fills;
    }
    // INSTRUMENTS has 2 entries, so the index is in range.
    let instrument = &INSTRUMENTS[(trade.step % INSTRUMENTS.len() as u64) as usize];
    let lots = book.net_qty(instrument.symbol) / instrument.lot;
    // A small tolerance: net_qty is rounded to 8 decimals, lots may be
    // 2.9999999 for 3.
    let side = if lots < MAX_LOTS - 1e-6 {
        Side::Buy
    } else {
        Side::Sell
    };
    book.place(
        instrument.symbol,
        side,
        instrument.lot,
        price(instrument.base, tau),
    );
    fills
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(book: &mut Book, steps: std::ops::Range<u64>) -> u64 {
        steps
            .map(|n| {
                step(
                    book,
                    Trade {
                        step: n,
                        tau_ms: n * 500,
                        quiet: false,
                    },
                )
            })
            .sum()
    }

    #[test]
    fn the_live_order_price_is_unchanged() {
        for tau in [0.0, 1.7, 15.7, 1234.5] {
            assert_eq!(price(100.0, tau), 100.0 + 2.0 * (tau / 10.0_f64).sin());
        }
    }

    #[test]
    fn a_position_opens_on_the_third_step_and_stays_bounded() {
        let mut book = Book::default();
        assert_eq!(run(&mut book, 0..2), 0);
        assert_eq!(book.orders().len(), 2);
        assert!(book.positions().is_empty());
        assert_eq!(run(&mut book, 2..3), 1);
        assert_eq!(book.positions()[0].symbol, "BTC-USD");
        assert!(book.notional_usd() > 500.0);
        for n in 3..2_000 {
            run(&mut book, n..n + 1);
            assert!(book.orders().len() <= RESTING);
            for (position, instrument) in book.positions().iter().zip(&INSTRUMENTS) {
                let lots = position.qty / instrument.lot;
                assert!((0.99..=3.01).contains(&lots), "{n}: {position:?}");
            }
        }
        assert_eq!(book.positions().len(), 2);
    }

    #[test]
    fn a_quiet_step_only_marks() {
        let mut book = Book::default();
        run(&mut book, 0..5);
        let before = book.clone();
        let quiet = Trade {
            step: 5,
            tau_ms: 7_000,
            quiet: true,
        };
        assert_eq!(step(&mut book, quiet), 0);
        assert_eq!(book.orders(), before.orders());
        assert_ne!(book.positions(), before.positions(), "marked");
        for (now, was) in book.positions().iter().zip(before.positions()) {
            assert_eq!((&now.symbol, now.qty), (&was.symbol, was.qty));
        }
    }

    #[test]
    fn after_a_flatten_trading_starts_again() {
        let mut book = Book::default();
        run(&mut book, 0..10);
        book.flatten();
        assert!(book.is_flat());
        run(&mut book, 10..13);
        assert!(!book.positions().is_empty());
    }
}

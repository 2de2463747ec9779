//! The simulated venue's book, pure: open orders, positions, the account's
//! flatten behaviour, and the file format they are kept in.
//!
//! At a real venue positions outlive the trading process, so the sim's book
//! lives in a file in its state dir (`venue.json`), not only in memory. Three
//! kinds of process touch it: the running sim (places and fills orders, see
//! `trader`), `gantry sim flatten` (a desk's kill script) and
//! `gantry sim venue` (a reader). `venue_file` does the locking and the
//! durable writes; this module only turns bytes into a [`Book`], a `Book`
//! into bytes, and applies operations to it:
//!
//! - this file: what a book holds ([`Book`], [`Order`], [`Position`], the
//!   account's [`Flatten`] setting) and what can be asked of it without
//!   changing it;
//! - `trading`: what changes it: place, fill, mark, cancel, flatten;
//! - `format`: the file's bytes, rendered and parsed strictly.
//!
//! The file (docs/sim.md, "The venue"), pretty-printed JSON:
//!
//! ```json
//! {
//!   "format": 1,
//!   "flatten": "ok",
//!   "flatten_ms": 3000,
//!   "next_order_id": 7,
//!   "orders": [{"id": 6, "symbol": "ETH-USD", "side": "buy", "qty": 0.1, "price": 3012.5}],
//!   "positions": [{"symbol": "BTC-USD", "qty": 0.03, "mark": 60410.2}]
//! }
//! ```
//!
//! `orders` are oldest first; `positions` hold one entry per symbol, sorted,
//! with a signed quantity (never zero) marked at `mark` USD. Reading is
//! strict: a file that is not exactly this shape, or holds a value that
//! makes no sense (NaN, a negative price, a duplicate id), is refused with
//! the field named, never read as an empty (flat) book.

mod format;
mod trading;

use serde::{Deserialize, Serialize};

/// The venue file's name in the sim's state dir.
pub const FILE_NAME: &str = "venue.json";
/// The lock file beside it: `flock`ed for every read-modify-write.
pub const LOCK_NAME: &str = "venue.lock";
/// The file format this build reads and writes.
pub const FORMAT: u32 = 1;
/// A venue file larger than this is refused unread (bounded parse work).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// At most this many open orders, and as many positions, in a book.
pub const MAX_ENTRIES: usize = 1000;
/// The longest `flatten_ms` (`SIM_FLATTEN_MS`): ten minutes.
pub const MAX_FLATTEN_MS: u64 = 600_000;
/// Quantities and prices are kept to 8 decimals (a satoshi), so repeated
/// fills add up to the same number in every process that reads the file.
const SCALE: f64 = 1e8;

/// How the venue answers a flatten (`SIM_FLATTEN`), recorded in the file by
/// the running sim, as a venue account can be misconfigured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flatten {
    /// Cancel every order, close every position at market.
    #[default]
    Ok,
    /// Refuse: nothing is cancelled, nothing is closed.
    Fail,
    /// Cancel every order, close every position but the largest.
    Partial,
    /// As `ok`, after `flatten_ms`.
    Slow,
}

impl Flatten {
    pub const ALL: [Self; 4] = [Self::Ok, Self::Fail, Self::Partial, Self::Slow];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Fail => "fail",
            Self::Partial => "partial",
            Self::Slow => "slow",
        }
    }
}

/// The account settings the running sim records in the venue file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub flatten: Flatten,
    pub flatten_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

/// A resting limit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub symbol: String,
    pub side: Side,
    /// Always positive; the side says which way.
    pub qty: f64,
    /// The limit price, USD; the order fills there.
    pub price: f64,
}

impl Order {
    fn signed_qty(&self) -> f64 {
        match self.side {
            Side::Buy => self.qty,
            Side::Sell => -self.qty,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: String,
    /// Signed: long above zero, short below; never zero (a flat symbol has
    /// no entry).
    pub qty: f64,
    /// The last price the venue marked it at, USD.
    pub mark: f64,
}

impl Position {
    /// Absolute notional, USD.
    pub fn notional_usd(&self) -> f64 {
        self.qty.abs() * self.mark
    }
}

/// What a flatten did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flattened {
    pub cancelled: usize,
    pub closed: usize,
    /// The venue refused (`flatten: fail`): nothing was touched.
    pub refused: bool,
}

/// The whole venue: what `venue.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Book {
    format: u32,
    flatten: Flatten,
    flatten_ms: u64,
    next_order_id: u64,
    orders: Vec<Order>,
    positions: Vec<Position>,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            format: FORMAT,
            flatten: Flatten::Ok,
            flatten_ms: 0,
            next_order_id: 1,
            orders: Vec::new(),
            positions: Vec::new(),
        }
    }
}

impl Book {
    pub fn account(&self) -> Account {
        Account {
            flatten: self.flatten,
            flatten_ms: self.flatten_ms,
        }
    }

    /// Records the account settings; whether anything changed.
    pub fn set_account(&mut self, account: Account) -> bool {
        let changed = self.account() != account;
        self.flatten = account.flatten;
        self.flatten_ms = account.flatten_ms.min(MAX_FLATTEN_MS);
        changed
    }

    /// Open orders, oldest first.
    pub fn orders(&self) -> &[Order] {
        &self.orders
    }

    /// Positions, one per symbol, sorted by symbol.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// Nothing open: no order, no position.
    pub fn is_flat(&self) -> bool {
        self.orders.is_empty() && self.positions.is_empty()
    }

    /// Absolute notional of every position, summed, USD.
    pub fn notional_usd(&self) -> f64 {
        // Not `sum`, whose empty sum is -0.0 ("-0.00 USD").
        self.positions
            .iter()
            .fold(0.0, |total, p| total + p.notional_usd())
    }

    /// The position in `symbol` once every open order in it has filled.
    pub fn net_qty(&self, symbol: &str) -> f64 {
        let held = self.position(symbol).map_or(0.0, |p| p.qty);
        let pending: f64 = self
            .orders
            .iter()
            .filter(|o| o.symbol == symbol)
            .map(Order::signed_qty)
            .sum();
        round(held + pending)
    }

    fn position(&self, symbol: &str) -> Option<&Position> {
        self.positions.iter().find(|p| p.symbol == symbol)
    }
}

fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

/// To 8 decimals; values stay far below 2^53 / 1e8, where this is exact
/// enough to be stable under a parse and a render.
fn round(value: f64) -> f64 {
    let rounded = (value * SCALE).round() / SCALE;
    // -0.0 would be written as "-0.0".
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// Two fills and one resting order: a book the tests of every file use.
#[cfg(test)]
fn fixture() -> Book {
    let mut book = Book::default();
    let a = book.place("BTC-USD", Side::Buy, 0.01, 60_000.0).unwrap();
    let b = book.place("ETH-USD", Side::Buy, 0.1, 3_000.0).unwrap();
    book.place("BTC-USD", Side::Buy, 0.01, 60_100.0).unwrap();
    assert!(book.fill(a) && book.fill(b));
    book
}

//! The simulated venue's book, pure: open orders, positions, the account's
//! flatten behaviour, and the file format they are kept in.
//!
//! At a real venue positions outlive the trading process, so the sim's book
//! lives in a file in its state dir (`venue.json`), not only in memory. Three
//! kinds of process touch it: the running sim (places and fills orders, see
//! `trader`), `gantry sim flatten` (a desk's kill script) and
//! `gantry sim venue` (a reader). `venue_file` does the locking and the
//! durable writes; this module only turns bytes into a [`Book`], a `Book`
//! into bytes, and applies operations to it.
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

    /// Places a limit order; its id, or `None` when the book already holds
    /// [`MAX_ENTRIES`] orders or the order makes no sense (qty or price not
    /// positive and finite).
    pub fn place(&mut self, symbol: &str, side: Side, qty: f64, price: f64) -> Option<u64> {
        let (qty, price) = (round(qty), round(price));
        if self.orders.len() >= MAX_ENTRIES || !positive(qty) || !positive(price) {
            return None;
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        self.orders.push(Order {
            id,
            symbol: symbol.into(),
            side,
            qty,
            price,
        });
        Some(id)
    }

    /// Fills order `id` at its limit price; false if it is not open (it was
    /// cancelled meanwhile, as a real venue answers "unknown order"), or the
    /// fill would open a position past [`MAX_ENTRIES`].
    pub fn fill(&mut self, id: u64) -> bool {
        let Some(at) = self.orders.iter().position(|o| o.id == id) else {
            return false;
        };
        let order = &self.orders[at];
        if self.position(&order.symbol).is_none() && self.positions.len() >= MAX_ENTRIES {
            return false;
        }
        let order = self.orders.remove(at);
        let qty = order.signed_qty();
        match self.positions.iter().position(|p| p.symbol == order.symbol) {
            Some(i) => {
                let position = &mut self.positions[i];
                position.qty = round(position.qty + qty);
                position.mark = order.price;
                if position.qty == 0.0 {
                    self.positions.remove(i);
                }
            }
            None => {
                self.positions.push(Position {
                    symbol: order.symbol,
                    qty,
                    mark: order.price,
                });
                self.positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            }
        }
        true
    }

    /// Marks the position in `symbol` (if any) at `price`; whether it moved.
    pub fn mark(&mut self, symbol: &str, price: f64) -> bool {
        let price = round(price);
        match self.positions.iter_mut().find(|p| p.symbol == symbol) {
            Some(position) if positive(price) && position.mark != price => {
                position.mark = price;
                true
            }
            _ => false,
        }
    }

    /// Cancels every open order; how many.
    pub fn cancel_all(&mut self) -> usize {
        std::mem::take(&mut self.orders).len()
    }

    /// Closes every position at market (its mark) but the one at `keep`;
    /// how many were closed.
    fn close_all_but(&mut self, keep: Option<usize>) -> usize {
        let before = self.positions.len();
        let mut i = 0;
        self.positions.retain(|_| {
            let kept = Some(i) == keep;
            i += 1;
            kept
        });
        before - self.positions.len()
    }

    /// A flatten as the account is set up to answer it. `slow` is `ok`
    /// here: the wait is the caller's, who owns the clock.
    pub fn flatten(&mut self) -> Flattened {
        match self.flatten {
            Flatten::Fail => Flattened {
                cancelled: 0,
                closed: 0,
                refused: true,
            },
            Flatten::Partial => {
                let cancelled = self.cancel_all();
                // The largest position stays open: the one a desk would
                // most need to know about.
                let largest = (0..self.positions.len()).max_by(|&a, &b| {
                    let (a, b) = (&self.positions[a], &self.positions[b]);
                    a.notional_usd().total_cmp(&b.notional_usd())
                });
                let closed = self.close_all_but(largest);
                Flattened {
                    cancelled,
                    closed,
                    refused: false,
                }
            }
            Flatten::Ok | Flatten::Slow => Flattened {
                cancelled: self.cancel_all(),
                closed: self.close_all_but(None),
                refused: false,
            },
        }
    }

    /// The file's bytes: pretty JSON and a final newline.
    pub fn render(&self) -> Vec<u8> {
        // A Book holds only strings, integers and finite numbers, which
        // serde_json always serializes.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads a venue file's bytes; the error names the bad field.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "{} bytes, over the {MAX_FILE_BYTES} a venue file may hold",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("not valid UTF-8 (at byte {})", e.valid_up_to()))?;
        let book: Self =
            serde_json::from_str(text).map_err(|e| format!("not a venue file: {e}"))?;
        book.check()?;
        Ok(book)
    }

    /// Every value makes sense, or the first that does not, by field.
    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format: {} is not a venue file format this gantry reads ({FORMAT})",
                self.format
            ));
        }
        if self.flatten_ms > MAX_FLATTEN_MS {
            return Err(format!(
                "flatten_ms: {} is over the limit of {MAX_FLATTEN_MS}",
                self.flatten_ms
            ));
        }
        for (what, len) in [
            ("orders", self.orders.len()),
            ("positions", self.positions.len()),
        ] {
            if len > MAX_ENTRIES {
                return Err(format!(
                    "{what}: {len} entries, over the limit of {MAX_ENTRIES}"
                ));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, order) in self.orders.iter().enumerate() {
            let at = |field: &str| format!("orders[{i}].{field}");
            symbol(&order.symbol).map_err(|why| format!("{}: {why}", at("symbol")))?;
            if !positive(order.qty) {
                return Err(format!(
                    "{}: {} is not a positive quantity",
                    at("qty"),
                    order.qty
                ));
            }
            if !positive(order.price) {
                return Err(format!(
                    "{}: {} is not a positive price",
                    at("price"),
                    order.price
                ));
            }
            if !ids.insert(order.id) {
                return Err(format!("{}: {} appears twice", at("id"), order.id));
            }
            if order.id >= self.next_order_id {
                return Err(format!(
                    "{}: {} is not below next_order_id ({})",
                    at("id"),
                    order.id,
                    self.next_order_id
                ));
            }
        }
        for (i, position) in self.positions.iter().enumerate() {
            let at = |field: &str| format!("positions[{i}].{field}");
            symbol(&position.symbol).map_err(|why| format!("{}: {why}", at("symbol")))?;
            if !position.qty.is_finite() || position.qty == 0.0 {
                return Err(format!(
                    "{}: {} is not a non-zero quantity",
                    at("qty"),
                    position.qty
                ));
            }
            if !positive(position.mark) {
                return Err(format!(
                    "{}: {} is not a positive price",
                    at("mark"),
                    position.mark
                ));
            }
            if i > 0 && self.positions[i - 1].symbol >= position.symbol {
                return Err(format!(
                    "{}: {} is out of order or appears twice",
                    at("symbol"),
                    position.symbol
                ));
            }
        }
        Ok(())
    }
}

/// A symbol is short printable ASCII, such as `BTC-USD`.
fn symbol(symbol: &str) -> Result<(), String> {
    let fine = (1..=32).contains(&symbol.len())
        && symbol
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{symbol:?} is not a symbol (1 to 32 of A-Z, a-z, 0-9, - _ . /)"
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn book() -> Book {
        let mut book = Book::default();
        let a = book.place("BTC-USD", Side::Buy, 0.01, 60_000.0).unwrap();
        let b = book.place("ETH-USD", Side::Buy, 0.1, 3_000.0).unwrap();
        book.place("BTC-USD", Side::Buy, 0.01, 60_100.0).unwrap();
        assert!(book.fill(a) && book.fill(b));
        book
    }

    #[test]
    fn fills_move_positions_and_notional() {
        let mut book = book();
        assert_eq!(book.orders().len(), 1);
        assert_eq!(book.positions().len(), 2);
        assert_eq!(book.notional_usd(), 600.0 + 300.0);
        assert_eq!(book.net_qty("BTC-USD"), 0.02);
        let sell = book.place("ETH-USD", Side::Sell, 0.1, 3_050.0).unwrap();
        assert!(book.fill(sell));
        assert!(book.positions().iter().all(|p| p.symbol == "BTC-USD"));
        assert!(!book.fill(sell), "an order fills once");
        assert!(!book.is_flat());
    }

    #[test]
    fn repeated_small_fills_add_up_exactly() {
        let mut book = Book::default();
        for _ in 0..3 {
            let id = book.place("BTC-USD", Side::Buy, 0.01, 60_000.0).unwrap();
            book.fill(id);
        }
        assert_eq!(book.positions()[0].qty, 0.03);
    }

    #[test]
    fn flatten_modes() {
        let mut ok = book();
        assert_eq!(
            ok.flatten(),
            Flattened {
                cancelled: 1,
                closed: 2,
                refused: false
            }
        );
        assert!(ok.is_flat());

        let mut fail = book();
        fail.set_account(Account {
            flatten: Flatten::Fail,
            flatten_ms: 0,
        });
        let before = fail.clone();
        assert!(fail.flatten().refused);
        assert_eq!(fail, before);

        let mut partial = book();
        partial.set_account(Account {
            flatten: Flatten::Partial,
            flatten_ms: 0,
        });
        let done = partial.flatten();
        assert_eq!((done.cancelled, done.closed), (1, 1));
        assert_eq!(
            partial.positions()[0].symbol,
            "BTC-USD",
            "the largest stays"
        );
        assert!(partial.orders().is_empty() && !partial.is_flat());
    }

    #[test]
    fn round_trips_through_the_file() {
        let mut book = book();
        book.set_account(Account {
            flatten: Flatten::Slow,
            flatten_ms: 300,
        });
        let bytes = book.render();
        assert_eq!(Book::parse(&bytes).unwrap(), book);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\"flatten\": \"slow\""), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn refuses_bad_files_naming_the_field() {
        let good = String::from_utf8(book().render()).unwrap();
        let cases: &[(&str, &str, &str)] = &[
            ("\"format\": 1", "\"format\": 2", "format: 2 is not"),
            (
                "\"qty\": 0.01",
                "\"qty\": -0.01",
                "orders[0].qty: -0.01 is not",
            ),
            (
                "\"price\": 60100.0",
                "\"price\": 0.0",
                "orders[0].price: 0 is not",
            ),
            (
                "\"flatten\": \"ok\"",
                "\"flatten\": \"maybe\"",
                "not a venue file: unknown variant",
            ),
            (
                "\"flatten_ms\": 0",
                "\"flatten_ms\": 600001",
                "flatten_ms: 600001 is over",
            ),
            ("\"mark\": 3000.0", "\"mark\": 1e999", "not a venue file"),
            (
                "\"symbol\": \"ETH-USD\"",
                "\"symbol\": \"BTC-USD\"",
                "positions[1].symbol: BTC-USD is out of order",
            ),
            (
                "\"symbol\": \"ETH-USD\"",
                "\"symbol\": \"ETH USD\\u001b\"",
                "positions[1].symbol: \"ETH USD\\u{1b}\" is not a symbol",
            ),
            (
                "\"next_order_id\": 4",
                "\"next_order_id\": 3",
                "orders[0].id: 3 is not below next_order_id (3)",
            ),
            (
                "\"format\": 1,",
                "\"format\": 1, \"extra\": 1,",
                "unknown field `extra`",
            ),
            (
                "\"format\": 1,",
                "\"format\": 1, \"format\": 1,",
                "duplicate field `format`",
            ),
        ];
        for (from, to, message) in cases {
            assert!(good.contains(from), "{from} not in {good}");
            let bad = good.replacen(from, to, 1);
            let err = Book::parse(bad.as_bytes()).unwrap_err();
            assert!(err.contains(message), "{to}: {err}");
        }
        assert!(
            Book::parse(b"")
                .unwrap_err()
                .starts_with("not a venue file")
        );
        assert_eq!(
            Book::parse(b"{\"format\": \"\xff\"}").unwrap_err(),
            "not valid UTF-8 (at byte 12)"
        );
        let huge = vec![b' '; MAX_FILE_BYTES as usize + 1];
        assert!(Book::parse(&huge).unwrap_err().contains("over the 1048576"));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Place(usize, bool, u32, u32),
        Fill(usize),
        Mark(usize, u32),
    }

    const SYMBOLS: [&str; 3] = ["BTC-USD", "ETH-USD", "SOL-USD"];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, any::<bool>(), 1..1_000_000u32, 1..10_000_000u32)
                .prop_map(|(s, buy, q, p)| Op::Place(s, buy, q, p)),
            (0..8usize).prop_map(Op::Fill),
            (0..3usize, 1..10_000_000u32).prop_map(|(s, p)| Op::Mark(s, p)),
        ]
    }

    fn apply(book: &mut Book, op: &Op) {
        match *op {
            Op::Place(s, buy, qty, price) => {
                let side = if buy { Side::Buy } else { Side::Sell };
                book.place(
                    SYMBOLS[s],
                    side,
                    f64::from(qty) / 1e4,
                    f64::from(price) / 100.0,
                );
            }
            Op::Fill(nth) => {
                if let Some(order) = book.orders().get(nth) {
                    book.fill(order.id);
                }
            }
            Op::Mark(s, price) => {
                book.mark(SYMBOLS[s], f64::from(price) / 100.0);
            }
        }
    }

    proptest! {
        #[test]
        fn any_book_is_valid_and_its_notional_is_the_sum(ops in prop::collection::vec(op(), 0..60)) {
            let mut book = Book::default();
            for op in &ops {
                apply(&mut book, op);
            }
            let sum: f64 = book.positions().iter().map(|p| p.qty.abs() * p.mark).sum();
            prop_assert!(book.notional_usd() >= 0.0);
            prop_assert_eq!(book.notional_usd(), sum);
            prop_assert!(book.positions().iter().all(|p| p.qty != 0.0));
            prop_assert_eq!(Book::parse(&book.render()).unwrap(), book.clone());
        }

        #[test]
        fn after_a_flatten_the_book_is_flat(
            ops in prop::collection::vec(op(), 0..60),
            mode in prop::sample::select(Flatten::ALL.to_vec()),
        ) {
            let mut book = Book::default();
            for op in &ops {
                apply(&mut book, op);
            }
            book.set_account(Account { flatten: mode, flatten_ms: 0 });
            let before = book.clone();
            let done = book.flatten();
            prop_assert_eq!(done.cancelled + book.orders().len(), before.orders().len());
            prop_assert_eq!(done.closed + book.positions().len(), before.positions().len());
            match mode {
                Flatten::Ok | Flatten::Slow => prop_assert!(book.is_flat()),
                Flatten::Fail => prop_assert_eq!(&book, &before),
                Flatten::Partial => {
                    prop_assert!(book.orders().is_empty());
                    prop_assert_eq!(book.positions().len(), before.positions().len().min(1));
                }
            }
            prop_assert_eq!(Book::parse(&book.render()).unwrap(), book);
        }
    }
}

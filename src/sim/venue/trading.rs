//! What changes a venue's [`Book`]: a limit order placed, an order filled
//! at its limit price, a position marked, every order cancelled, and the
//! flatten a kill script asks for, answered as the account is set up to.
//! The running sim's trading step (`trader`) and `gantry sim flatten` call
//! these; nothing here reads a clock or a file.

use super::{Book, Flatten, Flattened, MAX_ENTRIES, Order, Position, Side, positive, round};

impl Book {
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
}

#[cfg(test)]
mod tests {
    use super::super::{Account, fixture};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fills_move_positions_and_notional() {
        let mut book = fixture();
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
        let mut ok = fixture();
        assert_eq!(
            ok.flatten(),
            Flattened {
                cancelled: 1,
                closed: 2,
                refused: false
            }
        );
        assert!(ok.is_flat());

        let mut fail = fixture();
        fail.set_account(Account {
            flatten: Flatten::Fail,
            flatten_ms: 0,
        });
        let before = fail.clone();
        assert!(fail.flatten().refused);
        assert_eq!(fail, before);

        let mut partial = fixture();
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

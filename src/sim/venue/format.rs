//! The venue file's bytes: a [`Book`] rendered as pretty JSON, and read
//! back strictly. A file that is not exactly the documented shape, or holds
//! a value that makes no sense, is refused with the field named (so a
//! broken file is never taken for a flat venue); `venue_file` adds the
//! file's path.

use super::{Book, FORMAT, MAX_ENTRIES, MAX_FILE_BYTES, MAX_FLATTEN_MS, positive};

impl Book {
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

#[cfg(test)]
mod tests {
    use super::super::{Account, Flatten, fixture};
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let mut book = fixture();
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
        let good = String::from_utf8(fixture().render()).unwrap();
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
}

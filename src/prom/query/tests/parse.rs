//! Parsing: what is accepted, its canonical form, and each refusal with its
//! column.

use proptest::prelude::*;

use super::super::{MAX_WINDOW_MS, Operand, Query, QueryError, Selector, Window};

fn ok(text: &str) -> Query {
    match Query::parse(text) {
        Ok(q) => q,
        Err(e) => panic!("{text:?} should parse, got {e}"),
    }
}

/// Asserts `text` is refused at `column`, with `needle` in the message.
fn bad(text: &str, column: usize, needle: &str) -> QueryError {
    match Query::parse(text) {
        Ok(q) => panic!("{text:?} should fail, parsed {q:?}"),
        Err(e) => {
            assert_eq!(e.column(), column, "{text:?}: {e}");
            assert!(
                e.to_string().contains(needle),
                "{text:?}: {e} lacks {needle:?}"
            );
            e
        }
    }
}

fn sel(name: &str, labels: &[(&str, &str)]) -> Selector {
    Selector {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn ms(n: u64) -> Window {
    Window::from_ms(n).expect("a valid window")
}

#[test]
fn each_form_parses_to_its_operand() {
    assert_eq!(ok("up"), Query::Single(Operand::Latest(sel("up", &[]))));
    assert_eq!(
        ok("rate(sim_orders_total{venue=\"x\"}[1m])"),
        Query::Single(Operand::Rate(
            sel("sim_orders_total", &[("venue", "x")]),
            ms(60_000)
        ))
    );
    assert_eq!(
        ok("increase(c[500ms])"),
        Query::Single(Operand::Increase(sel("c", &[]), ms(500)))
    );
    assert_eq!(
        ok("histogram_quantile(0.99, rate(lat_bucket[5m]))"),
        Query::Single(Operand::Quantile {
            q: 0.99,
            buckets: sel("lat_bucket", &[]),
            window: Some(ms(300_000)),
        })
    );
    assert_eq!(
        ok("histogram_quantile(1, lat_bucket{a=\"b\"})"),
        Query::Single(Operand::Quantile {
            q: 1.0,
            buckets: sel("lat_bucket", &[("a", "b")]),
            window: None,
        })
    );
    assert_eq!(
        ok("rate(e[1m]) / rate(o[1m])"),
        Query::Ratio(
            Operand::Rate(sel("e", &[]), ms(60_000)),
            Operand::Rate(sel("o", &[]), ms(60_000))
        )
    );
    // A metric called like a function is a selector when no `(` follows.
    assert_eq!(ok("rate"), Query::Single(Operand::Latest(sel("rate", &[]))));
}

#[test]
fn blanks_between_tokens_and_the_canonical_form() {
    let cases = [
        ("  up  ", "up"),
        ("up{}", "up"),
        ("m { a = \"b\" , c=\"d\\\"\" , }", "m{a=\"b\",c=\"d\\\"\"}"),
        (
            "{\"utf8.name\", \"my.label\"=\"v\"}",
            "{\"utf8.name\",\"my.label\"=\"v\"}",
        ),
        ("rate ( c [ 60s ] )", "rate(c[1m])"),
        ("increase(c[90s])", "increase(c[90s])"),
        ("increase(c[3600000ms])", "increase(c[1h])"),
        ("increase(c[1500ms])", "increase(c[1500ms])"),
        ("\trate(a[1m])/rate(b[2m])", "rate(a[1m]) / rate(b[2m])"),
        (
            "histogram_quantile( 0.5 ,rate( x_bucket{v=\"1\"}[30s] ) )",
            "histogram_quantile(0.5, rate(x_bucket{v=\"1\"}[30s]))",
        ),
        (
            "histogram_quantile(1e-1, x_bucket)",
            "histogram_quantile(0.1, x_bucket)",
        ),
        (
            "up / histogram_quantile(0, x_bucket)",
            "up / histogram_quantile(0, x_bucket)",
        ),
    ];
    for (text, canonical) in cases {
        let query = ok(text);
        assert_eq!(query.to_string(), canonical, "{text:?}");
        assert_eq!(ok(canonical), query, "{canonical:?} parses back");
    }
}

#[test]
fn windows_shortest_and_longest() {
    assert_eq!(ok("up").shortest_window_ms(), None);
    assert_eq!(
        ok("histogram_quantile(0.5, x_bucket)").longest_window_ms(),
        None
    );
    let q = ok("increase(a[30s]) / rate(b[2m])");
    assert_eq!(q.shortest_window_ms(), Some(30_000));
    assert_eq!(q.longest_window_ms(), Some(120_000));
    assert_eq!(ok("up / rate(b[1h])").shortest_window_ms(), Some(3_600_000));
    assert_eq!(ok("rate(a[24h])").longest_window_ms(), Some(MAX_WINDOW_MS));
}

#[test]
fn refusals_name_the_column_and_what_was_expected() {
    let e = bad(
        "rate(x)",
        7,
        "column 7: expected '[' after the selector in rate(), found ')'",
    );
    assert_eq!(
        e,
        QueryError::Unexpected {
            column: 7,
            expected: "'[' after the selector in rate()".into(),
            found: "')'".into(),
        }
    );
    bad("", 1, "expected a metric name or a function");
    bad("   ", 4, "found end of input");
    bad(
        "rate(",
        6,
        "expected a metric name or '{', found end of input",
    );
    bad(
        "rate(x[1m]",
        11,
        "expected ')' to close rate(), found end of input",
    );
    bad("rate(x[1m)", 10, "expected ']' after the window, found ')'");
    bad(
        "rate(x[m])",
        8,
        "expected a window such as 30s or 5m, found 'm'",
    );
    bad(
        "rate(x[5d])",
        9,
        "expected a window unit (ms, s, m or h), found 'd'",
    );
    bad(
        "rate(x[5])",
        9,
        "expected a window unit (ms, s, m or h), found ']'",
    );
    bad(
        "rate(x[1m30s])",
        10,
        "expected ']' after the window, found '30s'",
    );
    bad("rate(x[0s])", 8, "window 0s is empty");
    bad(
        "rate(x[25h])",
        8,
        "window 25h is longer than the longest allowed, 24h",
    );
    bad(
        "rate(x[99999999999999999999h])",
        8,
        "longer than the longest allowed",
    );
    bad(
        "rate(x[-1m])",
        8,
        "expected a window such as 30s or 5m, found '-'",
    );
    bad(
        "sum(x)",
        1,
        "expected a function (rate, increase or histogram_quantile), found 'sum'",
    );
    bad(
        "up up",
        4,
        "expected '/' or the end of the query, found 'up'",
    );
    bad(
        "a / b / c",
        7,
        "expected the end of the query (a ratio takes two operands), found '/'",
    );
    bad("a /", 4, "found end of input");
    bad("/ b", 1, "expected a metric name or a function");
    bad("up\n", 3, "single line");
    bad("up\r", 3, "found '\\r'");
    bad("9up", 1, "found '9up'");
    bad("\"q.n\"", 1, "must be inside the braces");
    bad("{a=\"b\"}", 1, "the selector has no metric name");
    bad("m{a=\"b\"", 2, "unclosed '{'");
    bad("m{a=\"b\",a=\"c\"}", 9, "duplicate label");
    bad("m{a=~\"b\"}", 5, "expected a quoted value for label a");
    bad(
        "histogram_quantile(1.5, x_bucket)",
        20,
        "quantile 1.5 is outside [0, 1]",
    );
    bad("histogram_quantile(-0.1, x_bucket)", 20, "outside [0, 1]");
    bad("histogram_quantile(NaN, x_bucket)", 20, "outside [0, 1]");
    bad(
        "histogram_quantile(0.x, x_bucket)",
        20,
        "quantile '0.x': not a number",
    );
    bad(
        "histogram_quantile(, x_bucket)",
        20,
        "expected a quantile between 0 and 1",
    );
    bad(
        "histogram_quantile(0.5 x_bucket)",
        24,
        "expected ',' after the quantile",
    );
    bad("histogram_quantile(0.5, lat)", 25, "'lat' is not one");
    bad(
        "histogram_quantile(0.5, rate(lat[1m]))",
        25,
        "_bucket series",
    );
    bad(
        "histogram_quantile(0.5, x_bucket{le=\"1\"})",
        25,
        "may not match on le",
    );
    bad(
        "histogram_quantile(0.5, increase(x_bucket[1m]))",
        25,
        "found 'increase'",
    );
    bad(
        "histogram_quantile(0.5, x_bucket",
        33,
        "expected ')' to close histogram_quantile()",
    );
}

#[test]
fn columns_count_characters_and_found_text_is_inert() {
    // `é` is two bytes, one column.
    bad("m{a=\"é\"} x", 10, "found 'x'");
    bad("up \u{1b}[31m", 4, "found '\\u{1b}'");
    let long = format!("up {}", "x".repeat(40));
    let e = bad(&long, 4, "found 'xxxxxxxxxxxxxxxxxxxxxxxx…'");
    assert!(!e.to_string().contains(&"x".repeat(25)));
}

fn selector_strategy() -> impl Strategy<Value = Selector> {
    let name = prop_oneof!["[a-z_:][a-z0-9_:]{0,6}", "[a-z.é \"\\\\]{1,6}"];
    let labels = prop::collection::btree_map(
        prop_oneof!["[a-z_][a-z0-9_]{0,4}", "[a-z. \"]{1,4}"]
            .prop_filter("no le, no __name__", |k| k != "le" && k != "__name__"),
        "[a-z\"\\\\\n é]{0,4}",
        0..3,
    );
    (name, labels).prop_map(|(name, labels)| Selector {
        name,
        labels: labels.into_iter().collect(),
    })
}

fn operand_strategy() -> impl Strategy<Value = Operand> {
    let window = (1u64..=MAX_WINDOW_MS).prop_map(ms);
    prop_oneof![
        selector_strategy().prop_map(Operand::Latest),
        (selector_strategy(), window.clone()).prop_map(|(s, w)| Operand::Rate(s, w)),
        (selector_strategy(), window.clone()).prop_map(|(s, w)| Operand::Increase(s, w)),
        (0.0..=1.0f64, selector_strategy(), prop::option::of(window)).prop_map(
            |(q, mut s, window)| {
                s.name.push_str("_bucket");
                Operand::Quantile {
                    q,
                    buckets: s,
                    window,
                }
            }
        ),
    ]
}

proptest! {
    #[test]
    fn any_text_is_parsed_or_refused_without_panic(text in "\\PC{0,40}") {
        if let Err(e) = Query::parse(&text) {
            prop_assert!(e.column() >= 1 && e.column() <= text.chars().count() + 1, "{e}");
        }
    }

    #[test]
    fn query_like_text_never_panics(text in "[a-z_(){}\\[\\]\"=,/ .0-9msh\\\\é]{0,40}") {
        let _ = Query::parse(&text);
    }

    #[test]
    fn the_canonical_form_parses_back(a in operand_strategy(), b in prop::option::of(operand_strategy())) {
        let query = match b {
            Some(b) => Query::Ratio(a, b),
            None => Query::Single(a),
        };
        let text = query.to_string();
        prop_assert_eq!(Query::parse(&text), Ok(query), "{}", text);
    }
}

//! The page as a whole: duplicate series, line endings, UTF-8, how errors
//! read, and lookups.

use super::*;
use crate::prom::Lookup;

#[test]
fn duplicate_series() {
    bad("a 1\na 2\n", 2, "duplicate series a (first on line 1)");
    bad(
        "a{x=\"1\",y=\"2\"} 1\nb 0\na{y=\"2\",x=\"1\"} 2\n",
        3,
        "first on line 1",
    );
    bad(
        "a{x=\"1\"} 1\n{\"a\",\"x\"=\"1\"} 2\n",
        2,
        "duplicate series",
    );
    // Empty is absent, as in Prometheus.
    bad("a 1\na{x=\"\"} 2\n", 2, "duplicate series");
    let page = ok("a 1\na{x=\"1\"} 2\nb 3\na{x=\"2\"} 4\na{x=\"1\",y=\"1\"} 5\n");
    assert_eq!(page.samples().len(), 5);
    // Same labels under different names are different series.
    ok("a{x=\"1\"} 1\nb{x=\"1\"} 1\n");
}

#[test]
fn carriage_returns() {
    let e = bad("a 1\r\nb 2\r\n", 1, "line ends in \\r\\n");
    assert_eq!(e.column, 4);
    bad("a 1\n\r\n", 2, "\\r\\n");
    bad("# comment\r\n", 1, "\\r\\n");
    bad("# a\rb\n", 1, "carriage return in a comment");
    bad("# HELP a x\ry\n", 1, "carriage return in a HELP docstring");
    bad("a 1\r2\n", 1, "invalid value \"1\\r2\"");
    bad("a\r 1\n", 1, "expected a space or '{'");
    // Inside a quoted string any character but `\`, `"` and newline goes.
    assert_eq!(one("a{x=\"1\r2\"} 1").labels, pairs(&[("x", "1\r2")]));
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let e = parse(b"a 1\nb{x=\"\xff\"} 1\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 6));
    assert!(e.message.contains("invalid UTF-8 (byte 0xff)"), "{e}");
    let e = parse("a 1\nü \u{e9}".as_bytes().split_last().unwrap().1).unwrap_err();
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.contains("ends inside a UTF-8 sequence"), "{e}");
}

#[test]
fn errors_display_line_and_quote_truncated_input() {
    let e = bad("ok 1\n\n  a{x=\"1\"}} 1\n", 3, "invalid value");
    assert_eq!(e.column, 11);
    assert_eq!(e.to_string(), format!("line 3: {}", e.message));
    let long = format!("a {} 1\n", "z".repeat(100));
    let e = bad(&long, 1, "invalid value");
    assert!(
        e.message.contains(&format!("\"{}\"…", "z".repeat(24))),
        "{e}"
    );
    assert!(e.message.len() < 80, "{e}");
    let e = bad(
        "?a 1\n",
        1,
        "expected a metric name, '{' or '#', found \"?a 1\"",
    );
    assert_eq!(e.column, 1);
}

#[test]
fn lookup_found_missing_ambiguous() {
    let page = ok(concat!(
        "req{code=\"200\",path=\"/\"} 5\n",
        "req{code=\"500\",path=\"/\"} 0\n",
        "req{code=\"200\",path=\"/x\"} 7\n",
        "lag 0\n",
        "nan NaN\n",
    ));
    let m = |list: &[(&str, &str)]| pairs(list);
    assert_eq!(
        page.lookup("req", &m(&[("code", "500")])),
        Lookup::Found(0.0)
    );
    assert_eq!(
        page.lookup("req", &m(&[("code", "200"), ("path", "/x")])),
        Lookup::Found(7.0)
    );
    assert_eq!(
        page.lookup("req", &m(&[("code", "200")])),
        Lookup::Ambiguous(2)
    );
    assert_eq!(page.lookup("req", &[]), Lookup::Ambiguous(3));
    assert_eq!(page.lookup("req", &m(&[("code", "404")])), Lookup::Missing);
    assert_eq!(
        page.lookup("req", &m(&[("method", "get")])),
        Lookup::Missing
    );
    assert_eq!(page.lookup("lag", &[]), Lookup::Found(0.0));
    assert_eq!(page.lookup("lags", &[]), Lookup::Missing);
    assert_eq!(page.lookup("la", &[]), Lookup::Missing);
    assert!(matches!(page.lookup("nan", &[]), Lookup::Found(v) if v.is_nan()));
    // An empty matcher value means "label absent", as in PromQL.
    assert_eq!(page.lookup("lag", &m(&[("x", "")])), Lookup::Found(0.0));
    assert_eq!(page.lookup("req", &m(&[("code", "")])), Lookup::Missing);
}

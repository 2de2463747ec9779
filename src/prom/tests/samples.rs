//! Sample lines: names, labels and their escapes, values, timestamps.

use super::*;
use crate::prom::escape_label_value;

#[test]
fn escaped_label_values_parse_back() {
    for value in ["plain", "a \"quoted\" \\ path", "two\nlines", ""] {
        let page = format!("m{{l=\"{}\"}} 1\n", escape_label_value(value));
        let parsed = parse(page.as_bytes()).unwrap();
        let got = parsed.samples()[0].label("l").unwrap_or("");
        assert_eq!(got, value, "{page}");
    }
}

#[test]
fn empty_and_blank_input() {
    assert!(ok("").samples().is_empty());
    assert!(ok("\n\n \t \n\t\n").samples().is_empty());
    assert!(ok("# just a comment\n#\n").samples().is_empty());
}

#[test]
fn basic_sample_with_and_without_final_newline() {
    for text in ["up 1\n", "up 1", "  up\t \t1  \t\n"] {
        let s = one(text);
        assert_eq!(s.name, "up");
        assert!(s.labels.is_empty());
        assert_eq!(s.value, 1.0);
        assert_eq!(s.timestamp_ms, None);
    }
}

#[test]
fn colons_and_underscores_in_names() {
    let s = one("job:http_requests:rate5m{__meta_x=\"1\",_a=\"2\"} 3\n");
    assert_eq!(s.name, "job:http_requests:rate5m");
    assert_eq!(s.labels, pairs(&[("__meta_x", "1"), ("_a", "2")]));
    assert_eq!(one(":x 1").name, ":x");
    assert_eq!(one("_9 1").name, "_9");
}

#[test]
fn labels_and_timestamp() {
    let s = one("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n");
    assert_eq!(s.labels, pairs(&[("method", "post"), ("code", "200")]));
    assert_eq!(s.value, 1027.0);
    assert_eq!(s.timestamp_ms, Some(1_395_066_363_000));
    assert_eq!(one("a 1 -5").timestamp_ms, Some(-5));
    assert_eq!(one("a 1 0 \t").timestamp_ms, Some(0));
}

#[test]
fn blanks_between_any_tokens() {
    let s = one("a { x = \"1\" ,\ty=\"2\" , } 4\n");
    assert_eq!(s.labels, pairs(&[("x", "1"), ("y", "2")]));
    // '}' and the value do not merge, so no blank is needed there.
    assert_eq!(one("a{x=\"1\"}4").value, 4.0);
    assert_eq!(one("a{}5").value, 5.0);
}

#[test]
fn bare_name_needs_a_blank_before_the_value() {
    bad(
        "foo-1\n",
        1,
        "expected a space or '{' after the metric name",
    );
    bad("foo.bar 1\n", 1, "found \".bar 1\"");
    bad("foo\n", 1, "expected a value for foo, found end of line");
    bad("foo{a=\"b\"}\n", 1, "expected a value");
}

#[test]
fn label_value_escapes() {
    let s = one(r#"a{p="C:\\dir",q="say \"hi\"",n="l1\nl2"} 1"#);
    assert_eq!(
        s.labels,
        pairs(&[("p", "C:\\dir"), ("q", "say \"hi\""), ("n", "l1\nl2")])
    );
    let e = bad(
        "a{p=\"x\\ty\"} 1\n",
        1,
        "invalid escape \"\\\\t\" in label value",
    );
    assert_eq!(e.column, 7);
    bad("a{p=\"\\ü\"} 1", 1, "invalid escape");
    bad("a{p=\"abc\\", 1, "the line ends in a backslash");
    bad("a{p=\"abc} 1\n", 1, "unterminated label value");
    // A UTF-8 value needs no escaping.
    assert_eq!(one("a{p=\"日本\"} 1").labels, pairs(&[("p", "日本")]));
}

#[test]
fn braces_trailing_comma_and_empty() {
    assert_eq!(one("a{x=\"1\",} 1").labels, pairs(&[("x", "1")]));
    assert!(one("a{} 1").labels.is_empty());
    bad("a{,} 1", 1, "expected a label name or '}'");
    bad("a{x=\"1\",,} 1", 1, "expected a label name or '}'");
    bad("a{x=\"1\" y=\"2\"} 1", 1, "expected ',' or '}'");
    bad("a{x=\"1\"", 1, "unclosed '{'");
    bad("a{x} 1", 1, "expected '=' after label name x");
    bad("a{x=1} 1", 1, "expected a quoted value for label x");
    bad("a{9x=\"1\"} 1", 1, "expected a label name");
    bad(
        "a{x:y=\"1\"} 1",
        1,
        "expected '=' after label name x, found \":y",
    );
}

#[test]
fn label_names_unique_and_name_label_refused() {
    bad("a{x=\"1\",x=\"2\"} 1", 1, "duplicate label \"x\"");
    bad("a{x=\"1\",\"x\"=\"2\"} 1", 1, "duplicate label \"x\"");
    bad("a{__name__=\"b\"} 1", 1, "__name__");
    assert_eq!(one("a{__x=\"1\"} 1").labels, pairs(&[("__x", "1")]));
}

#[test]
fn quoted_metric_and_label_names() {
    let s = one("{\"my.metric\", \"my.label\"=\"v\", plain=\"w\"} 1\n");
    assert_eq!(s.name, "my.metric");
    assert_eq!(s.labels, pairs(&[("my.label", "v"), ("plain", "w")]));
    assert_eq!(one("{\"only.name\"} 2").name, "only.name");
    assert_eq!(one("{\"trail\",} 2").name, "trail");
    assert_eq!(one(r#"{"q\"uo\\te\n"} 2"#).name, "q\"uo\\te\n");
    assert_eq!(one("{\"legacy\"} 1").name, "legacy");
    assert_eq!(one("a{\"ü.l\"=\"v\"} 1").labels, pairs(&[("ü.l", "v")]));
    bad("a{\"b\"} 1", 1, "metric name given twice");
    bad("{x=\"1\",\"late.name\"} 1", 1, "must come first");
    bad("\"my.metric\" 1", 1, "must be inside the braces");
    bad("{x=\"1\"} 1", 1, "sample has no metric name");
    bad("{} 1", 1, "sample has no metric name");
    bad("{\"\"} 1", 1, "empty metric name");
    bad("a{\"\"=\"v\"} 1", 1, "empty label name");
    bad("{\"a\" \"b\"} 1", 1, "expected '=' after label name \"a\"");
}

#[test]
fn values_follow_go_parse_float() {
    let good = [
        ("1", 1.0),
        ("-1.5", -1.5),
        ("+2", 2.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("1.5e+2", 150.0),
        ("007", 7.0),
        ("1e-400", 0.0),
        ("1.7976931348623157e308", f64::MAX),
        ("+Inf", f64::INFINITY),
        ("Inf", f64::INFINITY),
        ("inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("infinity", f64::INFINITY),
        ("-INFINITY", f64::NEG_INFINITY),
    ];
    for (text, want) in good {
        assert_eq!(one(&format!("a {text}")).value, want, "{text}");
    }
    for text in ["NaN", "nan", "nAN"] {
        assert!(one(&format!("a {text}")).value.is_nan(), "{text}");
    }
    let refused = [
        ("0x1p3", "not a number"),
        ("0x10", "not a number"),
        ("1_000", "not a number"),
        ("+NaN", "NaN takes no sign"),
        ("-nan", "NaN takes no sign"),
        ("1e", "exponent has no digits"),
        ("1e+", "exponent has no digits"),
        ("e1", "not a number"),
        (".", "not a number"),
        ("-", "not a number"),
        ("1.2.3", "not a number"),
        ("infin", "not a number"),
        ("1e400", "out of range"),
        ("-1e400", "out of range"),
        ("1,5", "not a number"),
        ("abc", "not a number"),
    ];
    for (text, why) in refused {
        bad(&format!("a {text}\n"), 1, why);
    }
    let e = bad("a{x=\"1\"} 1.2.3\n", 1, "invalid value \"1.2.3\"");
    assert_eq!(e.column, 10);
}

#[test]
fn timestamps() {
    assert_eq!(one("a 1 9223372036854775807").timestamp_ms, Some(i64::MAX));
    bad("a 1 9223372036854775808", 1, "out of range for int64");
    bad("a 1 1.5", 1, "invalid timestamp \"1.5\"");
    bad("a 1 +5", 1, "invalid timestamp");
    bad("a 1 -", 1, "invalid timestamp");
    bad(
        "a 1 2 3",
        1,
        "expected the end of the line after the timestamp, found \"3\"",
    );
    bad("a 1 2 # {x=\"y\"} 1", 1, "after the timestamp");
    bad("a 1 # {x=\"y\"} 1", 1, "invalid timestamp \"#\"");
}

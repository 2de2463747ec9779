//! Selectors, lexed as sample lines are.

use super::*;
use crate::prom::parse_selector;

#[test]
fn selectors() {
    assert_eq!(parse_selector("up").unwrap(), ("up".into(), vec![]));
    assert_eq!(
        parse_selector(" job:rate5m { a = \"b\" , c=\"d\\\"\" , } ").unwrap(),
        ("job:rate5m".into(), pairs(&[("a", "b"), ("c", "d\"")]))
    );
    assert_eq!(
        parse_selector("{\"utf8.name\",a=\"b\"}").unwrap(),
        ("utf8.name".into(), pairs(&[("a", "b")]))
    );
    assert_eq!(
        parse_selector("m{\"my.label\"=\"v\"}").unwrap(),
        ("m".into(), pairs(&[("my.label", "v")]))
    );
    assert_eq!(parse_selector("m{}").unwrap(), ("m".into(), vec![]));
    assert_eq!(
        parse_selector("m{a=\"\r\"}").unwrap(),
        ("m".into(), pairs(&[("a", "\r")]))
    );
    let refused = [
        ("", "empty selector"),
        ("   ", "empty selector"),
        ("{a=\"b\"}", "no metric name"),
        ("\"q.n\"", "must be inside the braces"),
        ("m{a=\"b\"", "unclosed"),
        (
            "m{a=~\"b\"}",
            "expected a quoted value for label a, found \"~\\\"b\\\"}\"",
        ),
        ("m{a!=\"b\"}", "expected '=' after label name a"),
        ("m{a=\"b\",a=\"c\"}", "duplicate label"),
        ("m x", "expected the end of the selector, found \"x\""),
        ("m{} 1", "expected the end of the selector"),
        ("m\n", "single line"),
        ("m\r", "expected the end of the selector, found \"\\r\""),
        ("m{a=\"\\t\"}", "invalid escape"),
        ("m.x", "expected the end of the selector"),
        ("9m", "expected a metric name"),
    ];
    for (text, needle) in refused {
        match parse_selector(text) {
            Ok(got) => panic!("{text:?} should fail, got {got:?}"),
            Err(e) => {
                assert_eq!(e.line, 1);
                assert!(e.message.contains(needle), "{text:?}: {e} lacks {needle:?}");
            }
        }
    }
    assert_eq!(parse_selector("m{a=\"b\" x}").unwrap_err().column, 9);
}

#[test]
fn selector_and_page_lex_alike() {
    let line = "{\"a.b\",\"c d\"=\"e\\n\",f=\"\\\\\"}";
    let s = one(&format!("{line} 1"));
    assert_eq!(parse_selector(line).unwrap(), (s.name, s.labels));
}

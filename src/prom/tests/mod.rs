//! Unit tests of the parser, by what a page holds; the helpers they share.

mod meta;
mod page;
mod samples;
mod selectors;

use super::{Exposition, ParseError, Sample, parse};

fn ok(text: &str) -> Exposition {
    match parse(text.as_bytes()) {
        Ok(page) => page,
        Err(e) => panic!("{text:?} should parse, got {e}"),
    }
}

/// Asserts `text` is refused on `line`, with `needle` in the message.
fn bad(text: &str, line: usize, needle: &str) -> ParseError {
    match parse(text.as_bytes()) {
        Ok(page) => panic!("{text:?} should fail, parsed {:?}", page.samples()),
        Err(e) => {
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e} lacks {needle:?}");
            e
        }
    }
}

fn one(text: &str) -> Sample {
    let page = ok(text);
    assert_eq!(page.samples().len(), 1, "{text:?}");
    page.samples()[0].clone()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

//! Comments, HELP and TYPE lines, and the families they type.

use super::*;
use crate::prom::MetricType;

#[test]
fn help_lines() {
    let page = ok(concat!(
        "# HELP a First line\\nsecond \\\\ and \\t kept\n",
        "# HELP b\n",
        "#\tHELP\t\"c.d\"\t  spaced  \n",
        "# HELP e doc\\\n",
    ));
    assert_eq!(page.help("a"), Some("First line\nsecond \\ and \\t kept"));
    assert_eq!(page.help("b"), Some(""));
    assert_eq!(page.help("c.d"), Some("spaced  "));
    // A lone trailing backslash is kept, not an error.
    assert_eq!(page.help("e"), Some("doc\\"));
    assert_eq!(page.metric_type("a"), Some(MetricType::Untyped));
    assert_eq!(page.help("zzz"), None);
}

#[test]
fn help_name_must_be_separated() {
    bad(
        "# HELP e\\ x\n",
        1,
        "expected a space after the metric name",
    );
    bad("# HELP 9x doc\n", 1, "expected a metric name after HELP");
    bad("# HELP \n", 1, "expected a metric name after HELP");
    bad("# HELP \"\" doc\n", 1, "empty metric name");
    bad("# HELP \"open doc\n", 1, "unterminated quoted metric name");
}

#[test]
fn plain_comments_are_ignored() {
    let page = ok(concat!(
        "#HELP a not metadata\n",
        "# HELP\n",
        "# HELPER a x\n",
        "# TYPEFACE a x\n",
        "# TYPE\n",
        "# anything { \" \\q goes\n",
        "  # indented comment\n",
        "a 1\n",
    ));
    assert_eq!(page.help("a"), None);
    assert_eq!(page.metric_type("a"), Some(MetricType::Untyped));
}

#[test]
fn type_lines() {
    let page = ok(concat!(
        "# TYPE c counter\n",
        "# TYPE g gauge\n",
        "# TYPE h histogram\n",
        "# TYPE s summary\n",
        "# TYPE u untyped \t\n",
        "# TYPE \"q.n\" gauge\n",
    ));
    assert_eq!(page.metric_type("c"), Some(MetricType::Counter));
    assert_eq!(page.metric_type("g"), Some(MetricType::Gauge));
    assert_eq!(page.metric_type("h"), Some(MetricType::Histogram));
    assert_eq!(page.metric_type("s"), Some(MetricType::Summary));
    assert_eq!(page.metric_type("u"), Some(MetricType::Untyped));
    assert_eq!(page.metric_type("q.n"), Some(MetricType::Gauge));
    assert_eq!(page.metric_type("nothing"), None);
    bad(
        "# TYPE a Counter\n",
        1,
        "expected counter, gauge, histogram, summary or untyped, found \"Counter\"",
    );
    bad("# TYPE a stateset\n", 1, "found \"stateset\"");
    bad("# TYPE a\n", 1, "expected a metric type after TYPE a");
    bad("# TYPE a \n", 1, "expected a metric type");
    bad(
        "# TYPE a gauge extra\n",
        1,
        "expected the end of the TYPE line, found \"extra\"",
    );
    bad("# TYPE a gauge\r\n", 1, "\\r\\n");
}

#[test]
fn metadata_only_once() {
    bad(
        "# HELP a x\n\n# HELP a y\n",
        3,
        "second HELP line for \"a\" (the first is on line 1)",
    );
    bad(
        "# TYPE a gauge\n# TYPE a gauge\n",
        2,
        "second TYPE line for \"a\" (the first is on line 1)",
    );
    bad("# TYPE a gauge\n# TYPE \"a\" counter\n", 2, "second TYPE");
    // HELP after samples is allowed; TYPE is not.
    ok("a 1\n# HELP a late help\n");
}

#[test]
fn type_must_precede_its_family() {
    bad("a 1\n# TYPE a gauge\n", 2, "\"a\" first appears on line 1");
    bad(
        "h_bucket{le=\"1\"} 1\n# TYPE h histogram\n",
        2,
        "\"h_bucket\" first appears on line 1",
    );
    bad(
        "x 0\nh_count 1\n# TYPE h histogram\n",
        3,
        "\"h_count\" first appears on line 2",
    );
    bad("s_sum 1\n# TYPE s summary\n", 2, "\"s_sum\"");
    // A gauge has no members: an earlier `g_sum` is its own family.
    let page = ok("g_sum 1\n# TYPE g gauge\ng 2\n");
    assert_eq!(page.metric_type("g_sum"), Some(MetricType::Untyped));
    // And a summary has no buckets.
    ok("s_bucket 1\n# TYPE s summary\n");
}

#[test]
fn histogram_and_summary_members_share_the_type() {
    let page = ok(concat!(
        "# TYPE h histogram\n",
        "h_bucket{le=\"0.5\"} 1\n",
        "h_bucket{le=\"+Inf\"} 2\n",
        "h_sum 0.7\n",
        "h_count 2\n",
        "# TYPE s summary\n",
        "s{quantile=\"0.5\"} 0.1\n",
        "s_sum 3\n",
        "s_count 4\n",
        "s_bucket 5\n",
    ));
    for name in ["h", "h_bucket", "h_sum", "h_count"] {
        assert_eq!(
            page.metric_type(name),
            Some(MetricType::Histogram),
            "{name}"
        );
    }
    for name in ["s", "s_sum", "s_count"] {
        assert_eq!(page.metric_type(name), Some(MetricType::Summary), "{name}");
    }
    assert_eq!(page.metric_type("s_bucket"), Some(MetricType::Untyped));
    assert_eq!(page.metric_type("h_total"), None);
    assert_eq!(page.samples().len(), 8);
}

//! The Prometheus parser against real exporter output, live and recorded,
//! and against generated pages and garbage.
//!
//! `fixtures/node_exporter.prom` is a real scrape of Debian's
//! prometheus-node-exporter 1.5.0 on loopback, saved unedited.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry::prom::{Exposition, Lookup, MetricType, Sample, parse, parse_selector};
use proptest::prelude::*;

const FIXTURE: &str = include_str!("fixtures/node_exporter.prom");

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Lines that must each become exactly one sample.
fn sample_lines(text: &str) -> usize {
    text.split('\n')
        .map(|l| l.trim_start_matches([' ', '\t']))
        .filter(|l| !l.trim_end_matches([' ', '\t']).is_empty() && !l.starts_with('#'))
        .count()
}

fn fixture() -> Exposition {
    parse(FIXTURE.as_bytes()).unwrap_or_else(|e| panic!("fixture: {e}"))
}

/// Asserts what any node_exporter page must satisfy.
fn check_node_exporter_page(text: &str, page: &Exposition) {
    assert_eq!(page.samples().len(), sample_lines(text));
    assert!(page.samples().len() > 100, "{}", page.samples().len());

    let build: Vec<&Sample> = page
        .samples()
        .iter()
        .filter(|s| s.name == "node_exporter_build_info")
        .collect();
    assert_eq!(build.len(), 1);
    for label in [
        "version",
        "revision",
        "branch",
        "goversion",
        "goos",
        "goarch",
    ] {
        assert!(
            build[0].label(label).is_some_and(|v| !v.is_empty()),
            "build_info lacks {label}: {:?}",
            build[0].labels
        );
    }
    assert_eq!(build[0].value, 1.0);
    assert_eq!(
        page.metric_type("node_exporter_build_info"),
        Some(MetricType::Gauge)
    );

    for name in [
        "go_gc_duration_seconds",
        "go_gc_duration_seconds_sum",
        "go_gc_duration_seconds_count",
    ] {
        assert_eq!(page.metric_type(name), Some(MetricType::Summary), "{name}");
    }
    assert_eq!(
        page.lookup("go_gc_duration_seconds", &pairs(&[("quantile", "0.5")])),
        page.samples()
            .iter()
            .find(|s| s.name == "go_gc_duration_seconds" && s.label("quantile") == Some("0.5"))
            .map_or(Lookup::Missing, |s| Lookup::Found(s.value))
    );
    assert!(matches!(
        page.lookup("go_gc_duration_seconds", &pairs(&[("quantile", "0.5")])),
        Lookup::Found(v) if v >= 0.0
    ));
    // Five quantiles: 0, 0.25, 0.5, 0.75, 1.
    assert_eq!(
        page.lookup("go_gc_duration_seconds", &[]),
        Lookup::Ambiguous(5)
    );
    assert_eq!(
        page.lookup("go_gc_duration_seconds", &pairs(&[("quantile", "0.99")])),
        Lookup::Missing
    );
    assert!(matches!(
        page.lookup("go_gc_duration_seconds_count", &[]),
        Lookup::Found(v) if v >= 0.0
    ));

    assert_eq!(
        page.metric_type("node_cpu_seconds_total"),
        Some(MetricType::Counter)
    );
    assert!(matches!(
        page.lookup("node_cpu_seconds_total", &pairs(&[("cpu", "0"), ("mode", "idle")])),
        Lookup::Found(v) if v > 0.0
    ));
    assert!(matches!(
        page.lookup("node_cpu_seconds_total", &pairs(&[("mode", "idle")])),
        Lookup::Found(_) | Lookup::Ambiguous(_)
    ));
    assert_eq!(page.metric_type("go_goroutines"), Some(MetricType::Gauge));
    assert!(matches!(page.lookup("go_goroutines", &[]), Lookup::Found(v) if v >= 1.0));
    assert_eq!(
        page.help("go_goroutines"),
        Some("Number of goroutines that currently exist.")
    );
    assert_eq!(page.lookup("node_no_such_metric", &[]), Lookup::Missing);

    // node_exporter types every family, so no sample is left untyped.
    for s in page.samples() {
        assert!(page.metric_type(&s.name).is_some(), "{}", s.name);
        assert!(s.timestamp_ms.is_none(), "{}", s.name);
    }
}

#[test]
fn recorded_node_exporter_page() {
    let page = fixture();
    check_node_exporter_page(FIXTURE, &page);

    // Values recorded in the fixture, read back exactly.
    assert_eq!(page.samples().len(), 507);
    assert_eq!(
        page.lookup(
            "node_cpu_seconds_total",
            &pairs(&[("cpu", "0"), ("mode", "idle")])
        ),
        Lookup::Found(2355.37)
    );
    assert_eq!(
        page.lookup("node_boot_time_seconds", &[]),
        Lookup::Found(1.795550269e9)
    );
    assert_eq!(
        page.lookup("go_gc_duration_seconds", &pairs(&[("quantile", "0.5")])),
        Lookup::Found(0.0)
    );
    let build = page
        .samples()
        .iter()
        .find(|s| s.name == "node_exporter_build_info")
        .unwrap();
    assert_eq!(
        build.labels,
        pairs(&[
            ("branch", "debian/sid"),
            ("goarch", "amd64"),
            ("goos", "linux"),
            ("goversion", "go1.19.8"),
            ("revision", "1.5.0-1+b6"),
            ("version", "1.5.0"),
        ])
    );
    assert_eq!(
        page.metric_type("node_netstat_Icmp6_InErrors"),
        Some(MetricType::Untyped)
    );
    // An empty label value survives as written.
    let lo = page
        .samples()
        .iter()
        .find(|s| s.name == "node_network_info" && s.label("device") == Some("lo"))
        .unwrap();
    assert_eq!(lo.label("duplex"), Some(""));
}

#[test]
fn recorded_page_round_trips() {
    let page = fixture();
    let text = render_page(&Page {
        meta: vec![],
        samples: page.samples().to_vec(),
    });
    let again = parse(text.as_bytes()).unwrap();
    assert_same_samples(page.samples(), again.samples());
}

/// Every way of breaking a real page is refused, on the line that broke it.
#[test]
fn malformed_lines_in_a_real_page() {
    let lines: Vec<&str> = FIXTURE.lines().collect();
    // Wrong wherever they stand.
    let anywhere = [
        ("node_x{a=\"b\"", "unclosed '{'"),
        (
            "node_x{a=\"b\" 1",
            "expected ',' or '}' after a label value, found \"1\"",
        ),
        ("node_x{a=\"b\\t\"} 1", "invalid escape"),
        ("node_x{a=\"b\",a=\"c\"} 1", "duplicate label"),
        ("node_x 1 2 3", "after the timestamp"),
        ("node_x one", "invalid value"),
        ("node_x 0x10", "invalid value"),
        ("node_x 1 1.5", "invalid timestamp"),
        ("node.x 1", "expected a space or '{'"),
        ("\"node.x\" 1", "inside the braces"),
        ("{a=\"b\"} 1", "no metric name"),
        ("# TYPE node_x guage", "expected counter, gauge"),
        ("node_x 1\r", "\\r\\n"),
    ];
    // Wrong because of what the page said before them.
    let after_the_original = [
        (
            "# TYPE go_goroutines gauge",
            "second TYPE line for \"go_goroutines\"",
        ),
        ("# HELP go_goroutines again", "second HELP line"),
        ("# TYPE node_cpu_seconds_total counter", "second TYPE"),
        (
            "# TYPE go_gc_duration_seconds_sum untyped",
            "comes after its samples",
        ),
        (
            "node_cpu_seconds_total{mode=\"idle\",cpu=\"0\"} 1",
            "duplicate series",
        ),
        ("go_goroutines{extra=\"\"} 1", "duplicate series"),
    ];
    let positions = |all: bool| {
        let mut at = vec![lines.len(), lines.len() / 2];
        if all {
            at.push(0);
        }
        at
    };
    let cases = anywhere
        .iter()
        .map(|c| (c, true))
        .chain(after_the_original.iter().map(|c| (c, false)));
    for (&(bad, needle), all) in cases {
        for at in positions(all) {
            let mut text = lines.clone();
            text.insert(at, bad);
            let joined = text.join("\n");
            let e = match parse(joined.as_bytes()) {
                Ok(_) => panic!("{bad:?} at line {} parsed", at + 1),
                Err(e) => e,
            };
            assert_eq!(e.line, at + 1, "{bad:?}: {e}");
            assert!(e.message.contains(needle), "{bad:?}: {e} lacks {needle:?}");
        }
    }
}

#[test]
fn damaged_real_pages() {
    let crlf = FIXTURE.replace('\n', "\r\n");
    let e = parse(crlf.as_bytes()).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(
        e.to_string().starts_with("line 1: line ends in \\r\\n"),
        "{e}"
    );

    // Two pages glued together (a proxy retry gone wrong).
    let twice = format!("{FIXTURE}{FIXTURE}");
    let e = parse(twice.as_bytes()).unwrap_err();
    assert_eq!(e.line, FIXTURE.lines().count() + 1);
    assert!(e.message.contains("second HELP"), "{e}");

    // Cut inside a label set: the whole page is refused, nothing half-read.
    let cut = FIXTURE.find("node_cpu_seconds_total{cpu=\"0\",mo").unwrap() + 33;
    let e = parse(&FIXTURE.as_bytes()[..cut]).unwrap_err();
    assert_eq!(e.line, FIXTURE[..cut].lines().count());
    assert!(
        e.message.contains("expected '=' after label name mo"),
        "{e}"
    );

    // A byte flipped to invalid UTF-8.
    let mut bytes = FIXTURE.as_bytes().to_vec();
    let at = FIXTURE.find("go_goroutines 7").unwrap() + 3;
    bytes[at] = 0xC0;
    let e = parse(&bytes).unwrap_err();
    assert_eq!(e.line, FIXTURE[..at].lines().count());
    assert_eq!(e.column, 4);
}

/// Kills the exporter even when an assertion fails.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()))
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    Ok((head, response[split + 4..].to_vec()))
}

#[test]
fn live_node_exporter_page() {
    const BINARY: &str = "prometheus-node-exporter";
    if !on_path(BINARY) {
        eprintln!("skip: {BINARY} is not on PATH (apt-get install prometheus-node-exporter)");
        return;
    }
    // A port that was free a moment ago; the exporter takes it next.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let _exporter = Exporter(
        Command::new(BINARY)
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let (head, body) = loop {
        match http_get(addr, "/metrics") {
            Ok(got) => break got,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("{BINARY} on {addr}: {e}"),
        }
    };
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let text = std::str::from_utf8(&body).unwrap();
    let page = parse(&body).unwrap_or_else(|e| panic!("live page: {e}"));
    check_node_exporter_page(text, &page);
}

// ---- generated pages ------------------------------------------------------

#[derive(Debug, Clone)]
struct Page {
    /// Names with optional HELP and TYPE, all written before any sample.
    meta: Vec<(String, Option<String>, Option<MetricType>)>,
    samples: Vec<Sample>,
}

fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

/// A series as a selector, e.g. `m{a="b"}` or `{"m.x","l.y"="z"}`.
fn render_series(name: &str, labels: &[(String, String)]) -> String {
    let mut items = Vec::new();
    let mut out = String::new();
    if is_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        items.push(format!("\"{}\"", escape(name)));
    }
    for (k, v) in labels {
        let key = if is_legacy_label_name(k) {
            k.clone()
        } else {
            format!("\"{}\"", escape(k))
        };
        items.push(format!("{key}=\"{}\"", escape(v)));
    }
    if !items.is_empty() || out.is_empty() {
        out.push('{');
        out.push_str(&items.join(","));
        out.push('}');
    }
    out
}

fn render_meta_name(name: &str) -> String {
    if is_legacy_metric_name(name) {
        name.to_owned()
    } else {
        format!("\"{}\"", escape(name))
    }
}

fn render_page(page: &Page) -> String {
    let mut out = String::new();
    for (name, help, ty) in &page.meta {
        if let Some(help) = help {
            let help = help.replace('\\', "\\\\").replace('\n', "\\n");
            out.push_str(&format!("# HELP {} {help}\n", render_meta_name(name)));
        }
        if let Some(ty) = ty {
            out.push_str(&format!("# TYPE {} {ty}\n", render_meta_name(name)));
        }
    }
    for s in &page.samples {
        out.push_str(&render_series(&s.name, &s.labels));
        out.push(' ');
        out.push_str(&render_value(s.value));
        if let Some(ts) = s.timestamp_ms {
            out.push_str(&format!("\t{ts}"));
        }
        out.push('\n');
    }
    out
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn assert_same_samples(want: &[Sample], got: &[Sample]) {
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(got) {
        assert_eq!(w.name, g.name);
        assert_eq!(w.labels, g.labels);
        assert_eq!(w.timestamp_ms, g.timestamp_ms);
        assert!(
            same_value(w.value, g.value),
            "{} {} vs {}",
            w.name,
            w.value,
            g.value
        );
    }
}

/// The series identity the parser uses: name plus non-empty labels, as a set.
fn series_key(s: &Sample) -> (String, BTreeSet<(String, String)>) {
    let labels = s
        .labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .cloned()
        .collect();
    (s.name.clone(), labels)
}

fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\r', '\t', ' ', '{', '}', '=', ',']),
        ],
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn metric_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
        1 => any_text(8).prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        1 => any_text(6),
    ]
    .prop_filter("non-empty, not __name__", |s| {
        !s.is_empty() && s != "__name__"
    })
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => (-1000i64..1000).prop_map(|n| n as f64),
    ]
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    prop::sample::select(vec![
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Untyped,
    ])
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        metric_name(),
        prop::collection::vec((label_name(), any_text(10)), 0..4),
        value(),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(name, raw_labels, value, timestamp_ms)| {
            let mut labels: Vec<(String, String)> = Vec::new();
            for (k, v) in raw_labels {
                if !labels.iter().any(|(have, _)| *have == k) {
                    labels.push((k, v));
                }
            }
            Sample {
                name,
                labels,
                value,
                timestamp_ms,
            }
        })
}

fn page() -> impl Strategy<Value = Page> {
    (
        prop::collection::vec(sample(), 0..25),
        prop::collection::vec(
            (
                prop::option::of(any_text(20)),
                prop::option::of(metric_type()),
            ),
            25,
        ),
    )
        .prop_map(|(raw, meta_choices)| {
            let mut seen = BTreeSet::new();
            let samples: Vec<Sample> = raw
                .into_iter()
                .filter(|s| seen.insert(series_key(s)))
                .collect();
            let names: BTreeSet<String> = samples.iter().map(|s| s.name.clone()).collect();
            let meta = names
                .into_iter()
                .zip(meta_choices)
                .map(|(name, (help, ty))| {
                    // A docstring cannot start with a blank (the separator
                    // eats it) nor hold a raw \r (refused outside quotes).
                    let help = help.map(|h| {
                        h.replace('\r', "")
                            .trim_start_matches([' ', '\t'])
                            .to_owned()
                    });
                    (name, help, ty)
                })
                .collect();
            Page { meta, samples }
        })
}

/// Garbage made of the format's own tokens, to reach deep parser states.
fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a",
            "b_c",
            ":",
            "{",
            "}",
            "\"",
            "\\",
            "\\n",
            "\\\"",
            "=",
            ",",
            " ",
            "\t",
            "\n",
            "\r",
            "#",
            "# HELP ",
            "# TYPE ",
            "counter",
            "histogram",
            "_bucket",
            "_sum",
            "1",
            "-2.5",
            "e",
            "+Inf",
            "NaN",
            "0x1",
            "é",
            "日",
            "le=\"1\"",
            "\"x.y\"",
            "9",
        ]),
        0..48,
    )
    .prop_map(|parts| parts.concat())
}

fn mutate(text: &str, at: usize, op: u8, byte: u8) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let at = if bytes.is_empty() {
        0
    } else {
        at % bytes.len()
    };
    match op % 3 {
        0 => bytes.insert(at, byte),
        1 if !bytes.is_empty() => {
            bytes.remove(at);
        }
        _ if !bytes.is_empty() => bytes[at] = byte,
        _ => bytes.push(byte),
    }
    bytes
}

/// Whatever `parse` accepts, it accepts whole: one sample per sample line.
fn check_whole(bytes: &[u8]) {
    if let Ok(page) = parse(bytes) {
        let text = std::str::from_utf8(bytes).expect("accepted input is UTF-8");
        assert_eq!(page.samples().len(), sample_lines(text), "{text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_whole(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = parse_selector(text);
        }
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check_whole(text.as_bytes());
        let _ = parse_selector(&text);
    }

    #[test]
    fn mutated_pages_never_panic(
        page in page(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = render_page(&page).into_bytes();
        for (at, op, byte) in edits {
            bytes = mutate(&String::from_utf8_lossy(&bytes), at, op, byte);
        }
        check_whole(&bytes);
    }

    #[test]
    fn rendered_pages_round_trip(page in page()) {
        let text = render_page(&page);
        let parsed = match parse(text.as_bytes()) {
            Ok(parsed) => parsed,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        assert_same_samples(&page.samples, parsed.samples());
        for (name, help, ty) in &page.meta {
            prop_assert_eq!(parsed.help(name), help.as_deref(), "{}", text);
            if let Some(ty) = ty {
                prop_assert_eq!(parsed.metric_type(name), Some(*ty));
            }
        }
        // Every series can be selected back, in config syntax.
        for s in &page.samples {
            let (name, labels) = parse_selector(&render_series(&s.name, &s.labels))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&name, &s.name);
            prop_assert_eq!(&labels, &s.labels);
        }
    }

    #[test]
    fn lookup_agrees_with_a_scan_and_missing_is_never_zero(
        page in page(),
        absent in metric_name(),
    ) {
        let parsed = parse(render_page(&page).as_bytes()).unwrap();
        for s in &page.samples {
            let matchers: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .cloned()
                .collect();
            let matching: Vec<&Sample> = page
                .samples
                .iter()
                .filter(|o| o.name == s.name
                    && matchers.iter().all(|(k, v)| o.label(k) == Some(v.as_str())))
                .collect();
            match parsed.lookup(&s.name, &matchers) {
                Lookup::Found(v) => {
                    prop_assert_eq!(matching.len(), 1);
                    prop_assert!(same_value(v, s.value));
                }
                Lookup::Ambiguous(n) => {
                    prop_assert!(n >= 2);
                    prop_assert_eq!(n, matching.len());
                }
                Lookup::Missing => prop_assert!(false, "{} exists", s.name),
            }
        }
        if !page.samples.iter().any(|s| s.name == absent) {
            prop_assert_eq!(parsed.lookup(&absent, &[]), Lookup::Missing);
        }
        for s in &page.samples {
            // A label value no sample has: no data, never a zero.
            let never = vec![(String::from("le"), String::from("\u{1}never"))];
            prop_assert_eq!(parsed.lookup(&s.name, &never), Lookup::Missing);
        }
    }
}

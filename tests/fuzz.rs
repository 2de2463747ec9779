//! Fuzzing, on the stable toolchain, of every parser that reads bytes from
//! outside: the wire, release files, the hosts file, known_hosts, ssh config
//! files and `ssh -G` output, Prometheus pages and gantry.toml.
//!
//! Each parser gets two kinds of input: arbitrary bytes, and mutations of
//! the real-looking seeds in `tests/corpus/<parser>/` (bit flips, hostile
//! tokens such as ESC or NaN, huge numbers, long lines, invalid UTF-8,
//! duplicated and spliced lines). Every case must finish within
//! [`CASE_BUDGET`] on its own thread, must not panic, and must keep the
//! parser's promises: errors name a line inside the input where the parser
//! says they do, error text quotes input through `{:?}` so no raw control
//! character reaches a terminal, and what parses re-parses to itself.
//!
//! The default run is short (see [`cases`]); `GANTRY_FUZZ_CASES=N` runs N
//! cases per property, and `GANTRY_FUZZ_REPORT=1` prints the count and time
//! of each property (docs/reliability.md has the figures).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gantry::agent::config::AgentConfig;
use gantry::envfile;
use gantry::prom;
use gantry::ssh::hosts;
use gantry::ssh::known_hosts::{KnownHosts, Verdict};
use gantry::ssh::ssh_config::{self, SshConfigError};
use gantry::wire::{self, AgentMsg, ClientMsg};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// How long one case may take, parse and checks included, on a debug build.
/// The slowest seed parses in milliseconds, so this only trips on a hang or
/// work that grows much faster than the input.
const CASE_BUDGET: Duration = Duration::from_secs(5);

/// Cases per property: the default keeps the whole file well under a
/// minute on two cores; `GANTRY_FUZZ_CASES` raises it for a long run.
fn cases(default: u32) -> u32 {
    std::env::var("GANTRY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The name of the threads that run cases: their panics are the test's
/// findings, reported once by proptest, not printed at every shrink step.
const CASE_THREAD: &str = "fuzz-case";

fn quiet_case_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(CASE_THREAD) {
                previous(info);
            }
        }));
    });
}

/// Runs `check` on `cases` inputs from `strategy`, each on its own thread
/// under [`CASE_BUDGET`], so that a hang fails the test instead of stalling
/// it. Proptest shrinks a failure and the panic names the smallest input
/// and what the check said about it.
fn fuzz<S>(name: &str, default_cases: u32, strategy: S, check: fn(S::Value))
where
    S: Strategy,
    S::Value: Send + 'static,
{
    quiet_case_panics();
    let n = cases(default_cases);
    let config = Config {
        cases: n,
        // A failure is written down by hand as a regression test, with the
        // input the panic names; no state file beside the tests.
        failure_persistence: None,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(CASE_THREAD.into())
            .spawn(move || {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(value)));
                let _ = tx.send(outcome.map_err(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".into())
                }));
            })
            .expect("spawn a case thread");
        match rx.recv_timeout(CASE_BUDGET) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(TestCaseError::fail(message)),
            Err(_) => Err(TestCaseError::fail(format!(
                "a case took longer than {CASE_BUDGET:?}"
            ))),
        }
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    if std::env::var_os("GANTRY_FUZZ_REPORT").is_some() {
        eprintln!("fuzz {name}: {n} cases in {:.2?}", started.elapsed());
    }
}

/// Bytes under test, shown as a byte string when proptest names the
/// smallest failing input.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

// ---------------------------------------------------------------- inputs

/// The seeds of one parser, read from `tests/corpus/<dir>/`, sorted by name.
fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read seed"))
        .collect();
    assert!(!seeds.is_empty(), "{}: no seeds", root.display());
    seeds
}

/// Bytes that break parsers: terminal escapes (C0, C1, DEL), line ends,
/// quotes and delimiters of every format here, invalid UTF-8 (a stray
/// continuation byte, a cut sequence, an encoded surrogate, an overlong
/// NUL), and escape spellings that decode to control characters.
const HOSTILE: &[&[u8]] = &[
    b"\x1b[2J\x1b]0;owned\x07",
    "\u{9b}31m".as_bytes(),
    b"\0",
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xc0\x80",
    b"\"",
    b"'",
    b"\\",
    b"=",
    b"#",
    b"[",
    b"]",
    b"[[host]]\n",
    b"{",
    b"}",
    b",",
    b":",
    b" ",
    b"@revoked ",
    b"|1|",
    b"%",
    b"~",
    b"*",
    b"!",
    b"\\u001b[2J",
    b"\\e[2J",
    b"\\n",
    b"export ",
    "\u{202e}é\u{fffd}".as_bytes(),
];

/// Numbers at and past every limit a parser might hold them to.
const NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "-inf",
    "+Inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "4.9e-324",
    "1.7976931348623157e308",
    "99999999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775807",
    "18446744073709551616",
    "65536",
    "0",
    "-0",
    "-1",
    "+22",
    "0x1F",
    "1_000",
    "00000000000000000001",
];

/// One edit of a seed. Positions are taken modulo the length, so any
/// number is a valid position.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Insert {
        at: usize,
        token: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    DuplicateLine {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    /// Insert a slice of another seed of the same parser.
    Splice {
        at: usize,
        seed: usize,
        from: usize,
        len: usize,
    },
    LongRun {
        at: usize,
        byte: u8,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    /// Replace the n-th run of digits with one of [`NUMBERS`].
    Number {
        nth: usize,
        token: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (at, 0..HOSTILE.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (at, 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (at, any::<usize>(), any::<usize>(), 1usize..200).prop_map(|(at, seed, from, len)| {
            Mutation::Splice {
                at,
                seed,
                from,
                len,
            }
        }),
        (at, any::<u8>(), 1usize..70_000).prop_map(|(at, byte, len)| Mutation::LongRun {
            at,
            byte,
            len
        }),
        at.prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 0..NUMBERS.len()).prop_map(|(nth, token)| Mutation::Number { nth, token }),
    ]
}

/// Byte ranges of the lines of `bytes`, newline excluded.
fn line_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans.push((start, bytes.len()));
    spans
}

fn apply(seeds: &[Vec<u8>], base: usize, edits: &[Mutation]) -> Vec<u8> {
    let mut out = seeds[base % seeds.len()].clone();
    for edit in edits {
        let pos = |at: usize, out: &Vec<u8>| at % (out.len() + 1);
        match *edit {
            Mutation::FlipBit { at, bit } => {
                if !out.is_empty() {
                    let i = at % out.len();
                    out[i] ^= 1 << bit;
                }
            }
            Mutation::Insert { at, token } => {
                let i = pos(at, &out);
                out.splice(i..i, HOSTILE[token].iter().copied());
            }
            Mutation::Delete { at, len } => {
                let i = pos(at, &out);
                let end = (i + len).min(out.len());
                out.drain(i..end);
            }
            Mutation::DuplicateLine { line } => {
                let spans = line_spans(&out);
                let (s, e) = spans[line % spans.len()];
                let mut copy = out[s..e].to_vec();
                copy.push(b'\n');
                out.splice(s..s, copy);
            }
            Mutation::SwapLines { a, b } => {
                let spans = line_spans(&out);
                let (a, b) = (a % spans.len(), b % spans.len());
                let (first, second) = (spans[a.min(b)], spans[a.max(b)]);
                if first != second {
                    let mut swapped = out[..first.0].to_vec();
                    swapped.extend_from_slice(&out[second.0..second.1]);
                    swapped.extend_from_slice(&out[first.1..second.0]);
                    swapped.extend_from_slice(&out[first.0..first.1]);
                    swapped.extend_from_slice(&out[second.1..]);
                    out = swapped;
                }
            }
            Mutation::Splice {
                at,
                seed,
                from,
                len,
            } => {
                let donor = &seeds[seed % seeds.len()];
                let from = from % (donor.len() + 1);
                let end = (from + len).min(donor.len());
                let i = pos(at, &out);
                out.splice(i..i, donor[from..end].iter().copied());
            }
            Mutation::LongRun { at, byte, len } => {
                let i = pos(at, &out);
                out.splice(i..i, std::iter::repeat_n(byte, len));
            }
            Mutation::Truncate { at } => {
                let i = pos(at, &out);
                out.truncate(i);
            }
            Mutation::Number { nth, token } => {
                let runs = digit_runs(&out);
                if !runs.is_empty() {
                    let (s, e) = runs[nth % runs.len()];
                    out.splice(s..e, NUMBERS[token].bytes());
                }
            }
        }
    }
    out
}

fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let s = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// Seeds of `dir` after one to six mutations.
fn mutated(dir: &str) -> impl Strategy<Value = Vec<u8>> + use<> {
    let seeds = corpus(dir);
    (0..seeds.len(), prop::collection::vec(mutation(), 1..6))
        .prop_map(move |(base, edits)| apply(&seeds, base, &edits))
}

/// Arbitrary bytes, mostly short, sometimes long.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 0..8192),
    ]
}

/// Both kinds of input for `dir`: mutated seeds three times in four.
fn inputs(dir: &str) -> impl Strategy<Value = Bytes> + use<> {
    prop_oneof![1 => bytes(), 3 => mutated(dir)].prop_map(Bytes)
}

/// The 1-based number of lines in `bytes` as a split on `\n` counts them.
fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count() + 1
}

/// Text that a terminal shows as it is: no C0, DEL or C1 character.
fn assert_inert(what: &str, text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "{what}: raw control character in {text:?}"
    );
}

/// A scratch dir per case for the parsers that read files.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// --------------------------------------------------------------- envfile

fn check_envfile(Bytes(bytes): Bytes) {
    match envfile::parse(&bytes) {
        Err(e) => {
            // Every fault names its line, and that line exists.
            assert!(
                (1..=line_count(&bytes)).contains(&e.line()),
                "line {} of {}: {e}",
                e.line(),
                line_count(&bytes)
            );
            assert!(e.to_string().starts_with(&format!("line {}:", e.line())));
            assert_inert("envfile error", &e.to_string());
        }
        Ok(env) => {
            let mut keys = std::collections::HashSet::new();
            for entry in &env.entries {
                assert!(keys.insert(entry.key.clone()), "duplicate {}", entry.key);
                assert!((1..=line_count(&bytes)).contains(&entry.line));
                assert!(
                    !entry.value.chars().any(|c| c.is_control() && c != '\t'),
                    "control character in {:?}",
                    entry.value
                );
                assert!(
                    entry.value.parse::<f64>().is_ok_and(f64::is_finite)
                        || entry.value.parse::<f64>().is_err(),
                    "non-finite number {:?}",
                    entry.value
                );
            }
            // The rendering re-parses to the same keys and values.
            let again = envfile::parse(env.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("rendering {:?} does not parse: {e}", env.to_string()));
            assert_eq!(pairs(&again), pairs(&env), "rendered {:?}", env.to_string());
        }
    }
}

fn pairs(env: &envfile::EnvFile) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn envfile_survives_hostile_bytes() {
    fuzz("envfile", 3000, inputs("envfile"), check_envfile);
}

/// Values of every shape the format can hold, rendered and parsed back.
#[test]
fn envfile_round_trips_generated_files() {
    let key = "[A-Za-z_][A-Za-z0-9_]{0,12}";
    let value = prop::collection::vec(
        prop_oneof![
            // Mapped, not filtered: a filter runs out of rejects on long runs.
            4 => any::<char>().prop_map(|c| if c.is_control() { '?' } else { c }),
            1 => prop::sample::select(vec![' ', '\t', '"', '\'', '=', '#']),
        ],
        0..16,
    )
    .prop_map(String::from_iter);
    let file = prop::collection::btree_map(key, value, 0..8);
    fuzz("envfile round trip", 1500, file, |map| {
        let env = envfile::EnvFile {
            entries: map
                .into_iter()
                .enumerate()
                .map(|(i, (key, value))| envfile::Entry {
                    key,
                    value,
                    line: i + 1,
                })
                .collect(),
        };
        let text = env.to_string();
        match envfile::parse(text.as_bytes()) {
            Ok(again) => assert_eq!(pairs(&again), pairs(&env), "{text:?}"),
            // A non-finite number is refused by design, whatever wrote it.
            Err(envfile::EnvFileError::NotFinite { .. }) => {}
            Err(e) => panic!("{text:?}: {e}"),
        }
    });
}

// ------------------------------------------------------------ prometheus

fn check_prom(Bytes(bytes): Bytes) {
    match prom::parse(&bytes) {
        Err(e) => {
            assert!(
                (1..=line_count(&bytes)).contains(&e.line),
                "line {} of {}: {e}",
                e.line,
                line_count(&bytes)
            );
            // The column is a character position on that line, or just past it.
            let line = bytes.split(|b| *b == b'\n').nth(e.line - 1).unwrap_or(&[]);
            let chars = String::from_utf8_lossy(line).chars().count();
            assert!(
                e.column >= 1 && e.column <= chars + 1,
                "column {} of a {chars}-char line: {e}",
                e.column
            );
            assert_inert("prom error", &e.to_string());
        }
        Ok(page) => {
            for sample in page.samples() {
                // Every sample can be looked up again by its own labels,
                // unless a later one shares them (a parse error) — so
                // exactly one matches.
                let found = page.lookup(&sample.name, &sample.labels);
                match found {
                    prom::Lookup::Found(v) => {
                        assert!(
                            v.to_bits() == sample.value.to_bits()
                                || (v.is_nan() && sample.value.is_nan())
                        )
                    }
                    // Fewer labels on another series can make it ambiguous;
                    // never missing.
                    prom::Lookup::Ambiguous(_) => {}
                    prom::Lookup::Missing => panic!("{sample:?} cannot be found"),
                }
            }
        }
    }
}

#[test]
fn prom_survives_hostile_pages() {
    fuzz("prom", 3000, inputs("prom"), check_prom);
}

#[test]
fn prom_selector_survives_hostile_text() {
    fuzz("prom selector", 2000, inputs("prom"), |Bytes(bytes)| {
        // A selector is one line of a config file; take the first of the page.
        let text = String::from_utf8_lossy(&bytes);
        let first = text.split('\n').next().unwrap_or("");
        match prom::parse_selector(first) {
            Err(e) => {
                assert_eq!(e.line, 1, "{e}");
                assert_inert("selector error", &e.to_string());
            }
            Ok((name, labels)) => {
                assert!(!name.is_empty());
                // What parsed is a selector that parses to itself.
                let again = render_selector(&name, &labels);
                assert_eq!(
                    prom::parse_selector(&again).map_err(|e| e.to_string()),
                    Ok((name, labels)),
                    "{again:?}"
                );
            }
        }
    });
}

fn render_selector(name: &str, labels: &[(String, String)]) -> String {
    let quoted = format!("\"{}\"", prom::escape_label_value(name));
    let mut out = format!("{{{quoted}");
    for (k, v) in labels {
        out.push_str(&format!(
            ",\"{}\"=\"{}\"",
            prom::escape_label_value(k),
            prom::escape_label_value(v)
        ));
    }
    out.push('}');
    out
}

// ------------------------------------------------------------ hosts file

fn check_hosts(Bytes(bytes): Bytes) {
    let dir = scratch();
    // The seeds name `keys/deploy_ed25519`; it must exist to load.
    std::fs::create_dir_all(dir.path().join("keys")).expect("keys dir");
    std::fs::write(dir.path().join("keys/deploy_ed25519"), "key").expect("key");
    let path = dir.path().join("hosts.toml");
    std::fs::write(&path, &bytes).expect("write hosts");
    match hosts::load(&path) {
        Err(hosts::HostsError::Read { source, .. }) => {
            // load reads text: only invalid UTF-8 is refused this way.
            assert!(std::str::from_utf8(&bytes).is_err(), "{source}");
        }
        Err(e) => {
            let line = e.line().expect("an invalid file names its line");
            assert!(
                (1..=line_count(&bytes)).contains(&line),
                "line {line} of {}: {e}",
                line_count(&bytes)
            );
            assert_inert("hosts error", &e.to_string());
        }
        Ok(file) => {
            for host in &file.hosts {
                for text in [&host.name, &host.address, &host.command]
                    .into_iter()
                    .chain(host.user.as_ref())
                    .chain(host.wave.as_ref())
                {
                    assert!(!text.is_empty() && !text.chars().any(char::is_control));
                }
                assert!(host.port >= 1);
                assert!((1..=line_count(&bytes)).contains(&host.line));
                if !file.waves.is_empty() {
                    assert!(host.wave.iter().all(|w| file.waves.contains(w)));
                }
                // Loading refused cycles, so the walk ends (the case budget
                // would catch a loop) and never revisits a host.
                let chain = file.jump_chain(&host.name);
                assert!(chain.len() < file.hosts.len().max(1));
            }
        }
    }
}

#[test]
fn hosts_file_survives_hostile_bytes() {
    fuzz("hosts", 2000, inputs("hosts"), check_hosts);
}

// ----------------------------------------------------------- known_hosts

/// The key blob of the first `ssh-ed25519` line of the plain seed.
fn seed_key() -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8(corpus("known_hosts").concat()).expect("utf-8 seeds");
    let field = text
        .lines()
        .filter_map(|l| l.split_once("ssh-ed25519 "))
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or(""))
        .next()
        .expect("an ed25519 line in the seeds");
    base64::engine::general_purpose::STANDARD
        .decode(field)
        .expect("base64 key")
}

const LOOKUPS: &[(&str, u16)] = &[
    ("lhr-1.example.net", 22),
    ("fra-1.example.net", 2222),
    ("10.20.0.5", 22),
    ("x.prod.example.net", 22),
    ("bastion.prod.example.net", 2200),
    ("LHR-1.EXAMPLE.NET", 22),
];

fn check_known_hosts(Bytes(bytes): Bytes) {
    let origin = Path::new("/fuzz/known_hosts");
    let known = KnownHosts::parse_bytes(&bytes, origin);
    let lines = line_count(&bytes);
    for skipped in known.skipped() {
        assert!((1..=lines).contains(&skipped.line));
        assert_inert("known_hosts warning", &skipped.to_string());
    }
    assert!(known.len() + known.skipped().len() <= lines);

    // A skipped line is as good as a blank one: blanking every skipped line
    // (keeping the numbering) changes no verdict.
    let skipped: std::collections::HashSet<usize> =
        known.skipped().iter().map(|s| s.line).collect();
    let blanked: Vec<u8> = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            if skipped.contains(&(i + 1)) {
                &[][..]
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join(&b'\n');
    let without = KnownHosts::parse_bytes(&blanked, origin);
    let key = seed_key();
    let mut other = key.clone();
    *other.last_mut().expect("non-empty key") ^= 1;
    for (host, port) in LOOKUPS {
        for blob in [&key[..], &other[..], &bytes[..bytes.len().min(64)]] {
            let verdict = known.check(host, *port, "ssh-ed25519", blob);
            if let Verdict::Trusted { line, .. } | Verdict::Revoked { line, .. } = &verdict {
                assert!((1..=lines).contains(line));
            }
            assert_eq!(
                verdict,
                without.check(host, *port, "ssh-ed25519", blob),
                "{host}:{port}: a skipped line changed the verdict"
            );
        }
    }

    // A `@revoked *` line for the key refuses it for every host, whatever
    // the rest of the file trusts.
    use base64::Engine as _;
    let mut revoked = bytes.clone();
    revoked.extend_from_slice(
        format!(
            "\n@revoked * ssh-ed25519 {}\n",
            base64::engine::general_purpose::STANDARD.encode(&key)
        )
        .as_bytes(),
    );
    let revoked = KnownHosts::parse_bytes(&revoked, origin);
    for (host, port) in LOOKUPS {
        let verdict = revoked.check(host, *port, "ssh-ed25519", &key);
        assert!(
            matches!(verdict, Verdict::Revoked { .. }),
            "{host}:{port}: {verdict:?}"
        );
    }
}

#[test]
fn known_hosts_survives_hostile_bytes() {
    fuzz(
        "known_hosts",
        2000,
        inputs("known_hosts"),
        check_known_hosts,
    );
}

// ----------------------------------------------------------- ssh config

const ALIASES: &[&str] = &["prod-lhr", "bastion-eu", "x.prod.example.net", "plain"];

fn check_ssh_config(Bytes(bytes): Bytes) {
    // The fallback parser reads a file the user wrote; read_to_string has
    // already refused invalid UTF-8 by then.
    let text = String::from_utf8_lossy(&bytes);
    let origin = Path::new("/fuzz/ssh_config");
    for alias in ALIASES {
        match ssh_config::resolve_fallback(&text, origin, alias, Path::new("/home/op"), "op") {
            Err(
                e @ (SshConfigError::Refused { line, .. } | SshConfigError::Invalid { line, .. }),
            ) => {
                assert!(
                    (1..=line_count(text.as_bytes())).contains(&line),
                    "line {line}: {e}"
                );
                assert_inert("ssh_config error", &e.to_string());
            }
            Err(e) => assert_inert("ssh_config error", &e.to_string()),
            Ok(resolved) => {
                assert!(resolved.port >= 1, "port 0 accepted");
                assert!(!resolved.host_name.is_empty());
                // Hops are well formed or absent, never a panic.
                for hop in resolved.jump_hops() {
                    assert!(!hop.host.is_empty());
                }
            }
        }
    }
}

#[test]
fn ssh_config_fallback_survives_hostile_bytes() {
    fuzz("ssh_config", 1500, inputs("ssh_config"), check_ssh_config);
}

/// `ssh -G` output, fed through the real code path: a stand-in `ssh` that
/// prints the fuzzed bytes from a file beside it.
fn check_ssh_g(Bytes(bytes): Bytes) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch();
    let out = dir.path().join("out");
    std::fs::write(&out, &bytes).expect("write output");
    let ssh = dir.path().join("ssh");
    std::fs::write(&ssh, format!("#!/bin/sh\nexec cat '{}'\n", out.display())).expect("script");
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    match ssh_config::resolve_with_ssh(&ssh, None, "prod-lhr") {
        Err(e @ SshConfigError::Output { .. }) | Err(e @ SshConfigError::Expand { .. }) => {
            assert_inert("ssh -G error", &e.to_string());
        }
        Err(SshConfigError::NoAccount(_)) => {}
        // The fuzzed output is printed by `cat`, which does not fail; a
        // busy machine may still make the spawn fail (ETXTBSY on the fresh
        // script), which is not the parser's business.
        Err(SshConfigError::Spawn { .. }) => {}
        Err(e) => panic!("unexpected error: {e}"),
        Ok(resolved) => {
            assert!(resolved.port >= 1, "port 0 accepted");
        }
    }
}

#[test]
fn ssh_g_output_survives_hostile_bytes() {
    // Each case runs a process: fewer cases, same mutations. Output is kept
    // under a pipe buffer (64 KiB): run_with_timeout waits for the exit
    // before reading, so a bigger output stalls `ssh` until the 10 s
    // timeout (reported in docs/reliability.md; real `ssh -G` prints ~4 KiB).
    let under_a_pipe = inputs("ssh_g").prop_map(|Bytes(mut b)| {
        b.truncate(60_000);
        Bytes(b)
    });
    fuzz("ssh -G", 500, under_a_pipe, check_ssh_g);
}

// ------------------------------------------------------------ gantry.toml

fn check_gantry_toml(Bytes(bytes): Bytes) {
    let dir = scratch();
    let path = dir.path().join("gantry.toml");
    std::fs::write(&path, &bytes).expect("write config");
    match AgentConfig::load(&path) {
        Err(e) => {
            assert_eq!(e.code, gantry::exit::Code::Config, "{e}");
            let text = e.to_string();
            // Every error names the file; a TOML error also its line.
            assert!(text.contains(&path.display().to_string()), "{text}");
            if let Some(rest) = text.split(": line ").nth(1) {
                let n: usize = rest
                    .split(':')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no line number in {text}"));
                assert!((1..=line_count(&bytes)).contains(&n), "{text}");
            }
            assert_inert("gantry.toml error", &text);
        }
        Ok(config) => {
            // What the module doc promises was refused is absent.
            for check in &config.checks {
                match check.spec.condition {
                    Some(gantry::pipeline::Condition::Compare { limit, .. }) => {
                        assert!(limit.is_finite())
                    }
                    Some(gantry::pipeline::Condition::Between { lo, hi }) => {
                        assert!(lo.is_finite() && hi.is_finite() && lo <= hi)
                    }
                    None => assert!(check.spec.baseline.is_some(), "no limit and no baseline"),
                }
                assert!(!check.spec.stages.is_empty());
                assert!(check.spec.consecutive >= 1);
            }
            assert!(config.probe_interval_ms > 0 && config.probe_timeout_ms > 0);
            assert!(!config.host.trim().is_empty());
        }
    }
}

#[test]
fn gantry_toml_survives_hostile_bytes() {
    fuzz(
        "gantry.toml",
        2000,
        inputs("gantry_toml"),
        check_gantry_toml,
    );
}

// ------------------------------------------------------------------ wire

fn check_wire(Bytes(bytes): Bytes) {
    // Each line is one message, as the agent's and the client's readers see it.
    for line in bytes.split(|b| *b == b'\n') {
        if let Ok(msg) = serde_json::from_slice::<ClientMsg>(line) {
            same_after_encoding(&msg);
        }
        if let Ok(msg) = serde_json::from_slice::<AgentMsg>(line) {
            same_after_encoding(&msg);
        }
    }
}

/// What was read once reads the same after the encoder writes it: one line,
/// and equal to itself.
fn same_after_encoding<T>(msg: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let line = wire::encode(msg);
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let back: T = serde_json::from_str(line.trim_end())
        .unwrap_or_else(|e| panic!("{line:?} does not decode: {e}"));
    assert_eq!(&back, msg, "{line:?}");
}

#[test]
fn wire_survives_hostile_lines() {
    fuzz("wire", 3000, inputs("wire"), check_wire);
}

/// Any text, control characters and all: the wire must carry it intact.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter)
}

/// Readings as exporters print them: up to ten significant digits. Not any
/// f64: serde_json as gantry builds it (without `float_roundtrip`) reads
/// some 17-digit floats back a few ulps off (-9.161068158448595e-110 came
/// back as -9.161068158448597e-110), which docs/reliability.md reports.
fn finite() -> impl Strategy<Value = f64> {
    (any::<i32>(), 0i32..8).prop_map(|(m, e)| f64::from(m) / 10f64.powi(e))
}

fn request() -> impl Strategy<Value = wire::Request> {
    use gantry::pipeline::{Priority, Stage, Tier};
    use wire::Request;
    let stage = prop::sample::select(Stage::ALL.to_vec());
    let tier = prop::sample::select(vec![Tier::Conservative, Tier::Balanced, Tier::Aggressive]);
    let priority =
        prop::sample::select(vec![Priority::P0, Priority::P1, Priority::P2, Priority::P3]);
    prop_oneof![
        Just(Request::Status),
        prop::option::of(text()).prop_map(|to| Request::Rollback { to }),
        Just(Request::Releases),
        Just(Request::Estop),
        Just(Request::Rearm),
        Just(Request::Drill),
        Just(Request::AuditVerify),
        (
            text(),
            text(),
            tier,
            prop::option::of(text()),
            prop::option::of(text()),
            any::<bool>()
        )
            .prop_map(
                |(name, content, tier, commit, promotion, override_freeze)| {
                    Request::Submit {
                        name,
                        content,
                        tier,
                        commit,
                        promotion,
                        override_freeze,
                        release: None,
                    }
                }
            ),
        (text(), text(), stage).prop_map(|(deploy_id, digest, stage)| Request::Approve {
            deploy_id,
            digest,
            stage
        }),
        any::<usize>().prop_map(|n| Request::AuditTail { n }),
        any::<u64>().prop_map(|seq| Request::AuditEntry { seq }),
        (text(), text()).prop_map(|(name, content)| Request::Validate { name, content }),
        (text(), text(), any::<bool>()).prop_map(|(name, content, override_freeze)| {
            Request::Smoke {
                name,
                content,
                override_freeze,
            }
        }),
        (priority, text()).prop_map(|(priority, title)| Request::Notify { priority, title }),
        (text(), prop::option::of(text()))
            .prop_map(|(release, against)| Request::ReleaseDiff { release, against }),
        any::<usize>().prop_map(|limit| Request::History { limit }),
    ]
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    use gantry::pipeline::Role;
    let role = prop::sample::select(vec![Role::Viewer, Role::Operator, Role::Admin]);
    prop_oneof![
        (
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
            request()
        )
            .prop_map(|(id, operator, reason, request)| ClientMsg::Command(
                wire::Command {
                    id,
                    operator,
                    reason,
                    request,
                }
            )),
        (role, text())
            .prop_map(|(role, seen_as)| ClientMsg::Attach(wire::AttachInfo { role, seen_as })),
    ]
}

fn check_view() -> impl Strategy<Value = wire::CheckView> {
    (
        (text(), any::<bool>(), text(), prop::option::of(finite())),
        (text(), finite(), text(), any::<u32>(), any::<u32>()),
        (prop::option::of(finite()), any::<bool>()),
    )
        .prop_map(
            |(
                (name, ok, status, value),
                (op, limit, severity, failures, failures_allowed),
                (age_s, applies),
            )| wire::CheckView {
                // Hostile text in every string a host sends about a check.
                metric: name.clone(),
                detail: Some(severity.clone()),
                verdict: Some(op.clone()),
                baseline_source: Some(name.clone()),
                baseline: limit.is_finite().then_some(limit),
                ratio: value,
                delta: value,
                samples: Some([failures as usize, failures_allowed as usize]),
                evidence: Some(name.clone()),
                runbook: Some(op.clone()),
                name,
                ok,
                status: status.as_str().into(),
                value,
                op,
                limit,
                between: None,
                action: gantry::pipeline::Action::Warn,
                severity,
                failures,
                failures_allowed,
                age_s,
                applies,
            },
        )
}

fn audit_entry() -> impl Strategy<Value = wire::AuditEntry> {
    use gantry::pipeline::{Actor, Role};
    let actor = (
        text(),
        prop::sample::select(vec![Role::Viewer, Role::Operator, Role::Admin]),
        prop::option::of(text()),
    )
        .prop_map(|(name, role, seen_as)| Actor {
            name,
            role,
            seen_as,
            claimed: None,
        });
    (
        (any::<u64>(), text(), text(), text(), text()),
        (
            prop::option::of(actor),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
        (text(), prop::option::of(text()), text(), text()),
    )
        .prop_map(
            |(
                (seq, at, host, kind, state),
                (actor, reason, deploy_id, release),
                (message, detail, prev, hash),
            )| wire::AuditEntry {
                seq,
                at,
                host,
                kind: kind.as_str().into(),
                state,
                actor,
                reason,
                deploy_id,
                release,
                message,
                event: detail.clone().map(|d| serde_json::json!({ "to": d })),
                detail: detail.map(serde_json::Value::String),
                prev,
                hash,
            },
        )
}

fn agent_msg() -> impl Strategy<Value = AgentMsg> {
    use gantry::pipeline::Role;
    let code = prop::sample::select(vec![
        wire::ErrorCode::Refused,
        wire::ErrorCode::Forbidden,
        wire::ErrorCode::Invalid,
        wire::ErrorCode::BadRequest,
        wire::ErrorCode::Failed,
        wire::ErrorCode::Internal,
    ]);
    prop_oneof![
        (
            any::<u32>(),
            text(),
            prop::sample::select(vec![Role::Viewer, Role::Operator, Role::Admin]),
            text()
        )
            .prop_map(|(protocol, host, role, agent_version)| AgentMsg::Hello {
                protocol,
                host,
                role,
                agent_version
            }),
        (text(), text(), prop::collection::vec(check_view(), 0..4))
            .prop_map(|(host, at, checks)| AgentMsg::Health { host, at, checks }),
        audit_entry().prop_map(|entry| AgentMsg::Audit {
            entry: Box::new(entry)
        }),
        (
            text(),
            any::<bool>(),
            prop::option::of(text()),
            prop::option::of(code),
            prop::option::of(text())
        )
            .prop_map(|(id, ok, error, code, data)| AgentMsg::Reply(wire::Reply {
                id,
                ok,
                error,
                code,
                data: data.map(serde_json::Value::String),
            })),
    ]
}

/// encode → decode is the identity for every message the types can hold
/// (finite numbers: JSON has no NaN), and each is exactly one line.
#[test]
fn wire_round_trips_generated_messages() {
    fuzz("wire client round trip", 1500, client_msg(), |msg| {
        same_after_encoding(&msg)
    });
    fuzz("wire agent round trip", 1500, agent_msg(), |msg| {
        same_after_encoding(&msg)
    });
}

/// A NaN or infinite reading (a Prometheus page may carry either) is sent
/// as `null`, so the message still reads: the check shows no value rather
/// than the whole health message being dropped by the client.
#[test]
fn wire_non_finite_readings_keep_the_message_readable() {
    fuzz(
        "wire non-finite",
        500,
        (
            check_view(),
            prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        ),
        |(mut check, bad)| {
            check.value = Some(bad);
            check.age_s = Some(bad);
            let msg = AgentMsg::Health {
                host: "lab-1".into(),
                at: "now".into(),
                checks: vec![check.clone()],
            };
            let back: AgentMsg = serde_json::from_str(wire::encode(&msg).trim_end())
                .expect("a non-finite reading must not make the message unreadable");
            let AgentMsg::Health { checks, .. } = back else {
                panic!("not a health message");
            };
            assert_eq!(checks[0].value, None);
            assert_eq!(checks[0].name, check.name);
        },
    );
}

/// Hostile inputs found or suspected while fuzzing, each checked by the
/// same checks as the random cases so that they stay fixed.
#[test]
fn regression_inputs_found_by_fuzzing() {
    // An escaped ESC in a check's name reached the config error raw.
    let config = String::from_utf8(corpus("gantry_toml")[0].clone()).expect("utf-8 seed");
    let bad_op = config.replacen(
        "name = \"pnl_in_band\"\nmetric = 'trader_pnl_usd{venue=\"binance\",desk=\"eu\"}'\nop = \">=\"",
        "name = \"pnl\\u001b[2J\"\nmetric = 'trader_pnl_usd{venue=\"binance\",desk=\"eu\"}'\nop = \"bogus\"",
        1,
    );
    assert_ne!(bad_op, config, "the seed changed");
    check_gantry_toml(Bytes(bad_op.into_bytes()));
    // An unknown key spelled with an escape reaches toml's message.
    check_hosts(Bytes(b"[[host]]\n\"\\u001b[2J\" = 1\n".to_vec()));
    check_gantry_toml(Bytes(b"\"\\u001b[2J\" = 1\n".to_vec()));
    // A NUL keyword in an ssh config (the fuzzer's smallest case).
    check_ssh_config(Bytes(b"\x00\x00".to_vec()));
    check_ssh_config(Bytes(b"Host x\nPort \x1b[2J\n".to_vec()));
    // A multi-byte character after a time's digits panicked.
    check_ssh_config(Bytes(
        b"Host prod-lhr\n    ConnectTimeout 1\x800\n".to_vec(),
    ));
    // A quoted metric name with escapes, in a TYPE line cut short.
    check_prom(Bytes(
        b"# TYPE \"\x1b[2J\x1b]0;owned\x07trader.pnl.usd\"".to_vec(),
    ));
    // The same through a quoted label name, and a quoted metric name
    // with no value.
    check_prom(Bytes(b"m{\"l\x1b[2J\" 1\n".to_vec()));
    check_prom(Bytes(b"{\"m\x1b[2J\"}\n".to_vec()));
    // A duplicate series whose quoted name and label hold a decoded newline.
    check_prom(Bytes(
        b"{\"\\nm\", \"l\\n\"=\"v\"} 1\n{\"\\nm\", \"l\\n\"=\"v\"} 2\n".to_vec(),
    ));
    // A `%` token of an unknown letter in `ssh -G` output.
    check_ssh_g(Bytes(
        b"hostname h\nport 22\nidentityfile ~/.ssh/%\x00p\n".to_vec(),
    ));
    // An ssh-rsa key whose modulus is an empty mpint.
    check_known_hosts(Bytes(
        b"10.20.0.5 ssh-rsa AAAAB3NzaC1yc2EAAAAAAAAAAA==\n".to_vec(),
    ));
    // A value of one blank rendered as `A= ` and read back empty.
    check_envfile(Bytes(b"A=\" \"\n".to_vec()));
}

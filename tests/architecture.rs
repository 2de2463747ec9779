//! The shape of `src/`, held: who may import whom, and no import circles
//! (docs/architecture.md, "Never").
//!
//! Every `src/**/*.rs` is read as text. Comments and string literals are
//! blanked out first, then every path that starts with `crate::`, `super::`
//! or `self::` (and `gantry::` in `src/main.rs`, the binary) is resolved
//! against the module tree the files make, `use` groups included. An
//! import breaks the rules when its top-level module is not in [`RULES`]
//! for the importing module; a circle is a cycle among the children of any
//! one module (the top-level rooms, the files of `agent/`, `ssh/`, `ctl/`,
//! `console/`, …). A module's own `mod.rs` is left out of its children's
//! circles: a room's files may use what its root declares.
//!
//! A new top-level module fails the test until it has a row in [`RULES`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Stands for every leaf in a row of [`RULES`].
const LEAVES: &str = "(leaves)";

/// Modules that import no other gantry module but the leaves their row
/// names: anyone may import them.
const LEAF_MODULES: &[&str] = &[
    "agent_socket",
    "durable",
    "envfile",
    "exit",
    "faults",
    "lines",
    "prom",
    "stamp",
    "text",
];

/// Who may import whom: each top-level module and every module it may
/// import. `*` is anything (the binary). The "Never" list of
/// docs/architecture.md says the same in words.
#[rustfmt::skip]
const RULES: &[(&str, &[&str])] = &[
    ("main",     &["*"]),
    ("demo",     &["console", "ssh", "client", "init", "wire", "pipeline", LEAVES]),
    ("console",  &["ssh", "client", "wire", "pipeline", LEAVES]),
    ("ctl",      &["ssh", "client", "wire", "pipeline", LEAVES]),
    ("ssh",      &["client", "wire", LEAVES]),
    ("client",   &["wire", "pipeline", LEAVES]),
    ("attach",   &["wire", "pipeline", LEAVES]),
    ("init",     &["agent", LEAVES]),
    ("agent",    &["pipeline", "wire", LEAVES]),
    ("sim",      &[LEAVES]),
    ("wire",     &["pipeline", LEAVES]),
    ("pipeline", &[]),
    // The leaves, and the leaves each may use.
    ("agent_socket", &["exit", "text"]),
    ("durable",      &["faults"]),
    ("prom",         &["text"]),
    ("envfile",      &[]),
    ("exit",         &[]),
    ("faults",       &[]),
    ("lines",        &[]),
    ("stamp",        &[]),
    ("text",         &[]),
];

/// One reference from a place in a file to a module path.
#[derive(Debug, Clone)]
struct Edge {
    file: String,
    line: usize,
    /// The module the reference is written in (inline modules included).
    from: Vec<String>,
    /// The deepest known module the path names.
    to: Vec<String>,
}

// ------------------------------------------------------------ reading src

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module a file under `src/` defines: `src/a/b.rs` and `src/a/b/mod.rs`
/// are `a::b`; `src/lib.rs` is the root; `src/main.rs` is `main`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.trim_end_matches(".rs") {
        "mod" | "lib" => {}
        stem => parts.push(stem.to_string()),
    }
    parts
}

/// `src` with comments and the insides of string and char literals made
/// blank (newlines kept, so offsets still give lines).
fn code_only(src: &str) -> Vec<char> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = chars.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(chars.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if c == 'r'
            && (i == 0
                || !ident(chars[i - 1])
                || (chars[i - 1] == 'b' && (i < 2 || !ident(chars[i - 2]))))
            && matches!(next, Some('"' | '#'))
        {
            // A raw string: r"…", r#"…"#, br##"…"##.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                i += 1;
                continue;
            }
            let open = i + 2 + hashes;
            let mut j = open;
            while j < chars.len() {
                if chars[j] == '"'
                    && chars[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    break;
                }
                j += 1;
            }
            blank(&mut out, open, j);
            i = j + 1 + hashes;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j);
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F}'), or else a lifetime.
            if next == Some('\\') {
                let end = (i + 3..chars.len())
                    .find(|&j| chars[j] == '\'')
                    .unwrap_or(chars.len());
                blank(&mut out, i + 1, end);
                i = end + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                blank(&mut out, i + 1, i + 2);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// A path written at `at`: its segments, as written (`super`, `self`,
/// `crate`, `*` kept), one per leaf of a `use` group.
fn paths_at(code: &[char], at: usize) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    tree(code, at, Vec::new(), &mut out);
    out
}

fn skip_space(code: &[char], mut i: usize) -> usize {
    while i < code.len() && code[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Reads one use tree from `i` (`a::b`, `a::{b, c::d}`, `*`), appending
/// each full path to `out` with the offset of its first segment.
fn tree(
    code: &[char],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    let start = skip_space(code, i);
    let mut path = prefix;
    i = start;
    loop {
        i = skip_space(code, i);
        if code.get(i) == Some(&'{') {
            i += 1;
            loop {
                i = skip_space(code, i);
                match code.get(i) {
                    Some('}') => return i + 1,
                    Some(',') => i += 1,
                    None => return i,
                    _ => i = tree(code, i, path.clone(), out),
                }
            }
        }
        let word_start = i;
        while i < code.len() && (code[i].is_alphanumeric() || code[i] == '_' || code[i] == '*') {
            i += 1;
        }
        if i == word_start {
            break;
        }
        let word: String = code[word_start..i].iter().collect();
        if word != "self" || path.is_empty() {
            path.push(word);
        }
        let after = skip_space(code, i);
        if code.get(after) == Some(&':') && code.get(after + 1) == Some(&':') {
            i = after + 2;
        } else {
            break;
        }
    }
    out.push((start, path));
    i
}

/// Inline modules (`mod tests { … }`): each one's braces and name.
fn inline_modules(code: &[char]) -> Vec<(usize, usize, String)> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for at in 0..code.len() {
        if !code[at..].starts_with(&['m', 'o', 'd', ' ']) || (at > 0 && ident(code[at - 1])) {
            continue;
        }
        let name_start = skip_space(code, at + 4);
        let mut end = name_start;
        while end < code.len() && ident(code[end]) {
            end += 1;
        }
        let open = skip_space(code, end);
        if end == name_start || code.get(open) != Some(&'{') {
            continue;
        }
        let mut depth = 0;
        let close = (open..code.len())
            .find(|&k| {
                match code[k] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .unwrap_or(code.len());
        out.push((open, close, code[name_start..end].iter().collect()));
    }
    out
}

/// Every module-to-module reference in one file.
fn edges_of(file: &str, module: &[String], src: &str, known: &BTreeSet<Vec<String>>) -> Vec<Edge> {
    let code = code_only(src);
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain((0..code.len()).filter(|&i| code[i] == '\n').map(|i| i + 1))
        .collect();
    let line_at = |offset: usize| line_starts.partition_point(|&start| start <= offset);
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let roots: Vec<(&str, Vec<char>)> = ["crate", "super", "self", "gantry"]
        .iter()
        .filter(|r| **r != "gantry" || module == ["main"])
        .map(|r| (*r, format!("{r}::").chars().collect()))
        .collect();
    let inline = inline_modules(&code);
    let mut out = Vec::new();
    for i in 0..code.len() {
        if !matches!(code[i], 'c' | 's' | 'g') {
            continue;
        }
        let Some((root, _)) = roots.iter().find(|(_, r)| code[i..].starts_with(r)) else {
            continue;
        };
        if i > 0 && (ident(code[i - 1]) || code[i - 1] == ':') {
            continue;
        }
        // Where this is written: the file's module, then inline modules.
        let mut here: Vec<String> = module.to_vec();
        for (open, close, name) in &inline {
            if *open < i && i < *close {
                here.push(name.clone());
            }
        }
        for (offset, path) in paths_at(&code, i) {
            let absolute = resolve(&path, &here, root);
            let Some(to) = deepest_known(&absolute, known) else {
                continue;
            };
            out.push(Edge {
                file: file.to_string(),
                line: line_at(offset),
                from: here.clone(),
                to,
            });
        }
    }
    out
}

/// A written path made absolute from the module it is written in.
fn resolve(path: &[String], here: &[String], root: &str) -> Vec<String> {
    let mut segments = path.iter().peekable();
    let mut base: Vec<String> = match root {
        "crate" | "gantry" => {
            segments.next();
            Vec::new()
        }
        _ => here.to_vec(),
    };
    while let Some(s) = segments.peek() {
        match s.as_str() {
            "super" => {
                base.pop();
                segments.next();
            }
            "self" => {
                segments.next();
            }
            _ => break,
        }
    }
    base.extend(segments.filter(|s| *s != "*").cloned());
    base
}

/// The longest prefix of `path` that is a module; `None` for the root.
fn deepest_known(path: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

/// Every edge in `src/`, and the modules the files define.
fn read_src() -> (Vec<Edge>, BTreeSet<Vec<String>>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let known: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).expect("under src")))
        .filter(|m| !m.is_empty())
        .collect();
    let mut edges = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let text = std::fs::read_to_string(file).expect("read source");
        let shown = format!("src/{}", relative.display());
        edges.extend(edges_of(&shown, &module_of(relative), &text, &known));
    }
    (edges, known)
}

// --------------------------------------------------------------- judging

/// The modules a top-level module may import.
fn allowed(module: &str) -> Option<BTreeSet<&'static str>> {
    let (_, may) = RULES.iter().find(|(m, _)| *m == module)?;
    let mut out = BTreeSet::new();
    for m in *may {
        if *m == LEAVES {
            out.extend(LEAF_MODULES.iter().copied());
        } else {
            out.insert(*m);
        }
    }
    Some(out)
}

/// Imports that break [`RULES`], one line each, naming file and line.
fn rule_breaks(edges: &[Edge]) -> Vec<String> {
    let mut out = Vec::new();
    for e in edges {
        let (Some(from), Some(to)) = (e.from.first(), e.to.first()) else {
            continue;
        };
        if from == to {
            continue;
        }
        match allowed(from) {
            None => out.push(format!(
                "{}:{}: `{from}` has no row in RULES (tests/architecture.rs): place it first",
                e.file, e.line
            )),
            Some(may) if may.contains("*") || may.contains(to.as_str()) => {}
            Some(_) => {
                let row = RULES.iter().find(|(m, _)| m == from).map(|(_, may)| *may);
                let may = match row.unwrap_or_default() {
                    [] => "nothing of ours".to_string(),
                    may => may.join(", "),
                };
                out.push(format!(
                    "{}:{}: {from} imports {to} (`{}`); {from} may import only {may}",
                    e.file,
                    e.line,
                    e.to.join("::"),
                ));
            }
        }
    }
    out
}

/// The children of one module that an edge joins: `(parent, from, to)`.
fn sibling_edge(e: &Edge) -> Option<(Vec<String>, String, String)> {
    let common = e.from.iter().zip(&e.to).take_while(|(a, b)| a == b).count();
    let from = e.from.get(common)?;
    let to = e.to.get(common)?;
    Some((e.from[..common].to_vec(), from.clone(), to.clone()))
}

/// Every circle among the children of one module, each as the names
/// around it and the first place each step is written.
fn circles(edges: &[Edge]) -> Vec<String> {
    // parent -> from -> to -> first edge
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, &Edge>>> =
        BTreeMap::new();
    for e in edges {
        if let Some((parent, from, to)) = sibling_edge(e) {
            graphs
                .entry(parent)
                .or_default()
                .entry(from)
                .or_default()
                .entry(to)
                .or_insert(e);
        }
    }
    let mut out = Vec::new();
    for (parent, graph) in &graphs {
        for cycle in cycles(graph) {
            let mut text = format!(
                "circle in {}: {}",
                if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                },
                cycle.join(" -> ")
            );
            for pair in cycle.windows(2) {
                let e = graph[&pair[0]][&pair[1]];
                let _ = write!(
                    text,
                    "\n    {}:{}: {} -> {}",
                    e.file, e.line, pair[0], pair[1]
                );
            }
            out.push(text);
        }
    }
    out
}

/// One cycle per strongly connected set of more than one node, found by a
/// depth-first walk, each starting and ending at its smallest name.
fn cycles<V>(graph: &BTreeMap<String, BTreeMap<String, V>>) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut seen_sets: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in graph.keys() {
        // The shortest path back to `start`, breadth first.
        let mut previous: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue: std::collections::VecDeque<&String> = graph[start].keys().collect();
        for next in graph[start].keys() {
            previous.insert(next, start);
        }
        let mut closed = false;
        while let Some(node) = queue.pop_front() {
            if node == start {
                closed = true;
                break;
            }
            for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
                if !previous.contains_key(next) {
                    previous.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        if !closed {
            continue;
        }
        let mut cycle = vec![start.clone()];
        let mut at = previous[start];
        while at != start {
            cycle.push(at.clone());
            at = previous[at];
        }
        cycle.push(start.clone());
        cycle.reverse();
        let set: BTreeSet<String> = cycle.iter().cloned().collect();
        if seen_sets
            .iter()
            .any(|s| s.is_subset(&set) || set.is_subset(s))
        {
            continue;
        }
        seen_sets.insert(set);
        found.push(cycle);
    }
    found
}

// ----------------------------------------------------------------- tests

#[test]
fn imports_follow_the_rules() {
    let (edges, _) = read_src();
    assert!(
        edges.len() > 300,
        "only {} references found: is the reader broken?",
        edges.len()
    );
    let breaks = rule_breaks(&edges);
    assert!(
        breaks.is_empty(),
        "imports against docs/architecture.md (\"Never\"):\n{}",
        breaks.join("\n")
    );
}

#[test]
fn no_import_circles() {
    let (edges, _) = read_src();
    let found = circles(&edges);
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn every_module_has_a_row_and_every_row_a_module() {
    let (_, known) = read_src();
    let mut top: BTreeSet<&str> = known
        .iter()
        .filter(|m| m.len() == 1)
        .map(|m| m[0].as_str())
        .collect();
    let rows: BTreeSet<&str> = RULES.iter().map(|(m, _)| *m).collect();
    top.insert("main");
    assert_eq!(
        top.difference(&rows).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "modules with no row in RULES: decide who may import them"
    );
    assert_eq!(
        rows.difference(&top).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "rows for modules that do not exist"
    );
    for leaf in LEAF_MODULES {
        let may = allowed(leaf).expect("a leaf has a row");
        assert!(
            may.iter().all(|m| LEAF_MODULES.contains(m)),
            "leaf {leaf} may import a non-leaf: {may:?}"
        );
    }
}

// The checks themselves can fail: fed bad edges, they say so.

fn edge(from: &str, to: &str) -> Edge {
    let path = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    Edge {
        file: format!("src/{}.rs", from.replace("::", "/")),
        line: 7,
        from: path(from),
        to: path(to),
    }
}

#[test]
fn a_bad_edge_is_caught_and_named() {
    let bad = [
        edge("ssh::remote", "ctl"),
        edge("pipeline::machine", "text"),
        edge("console::mod", "ctl"),
        edge("agent::status", "client"),
        edge("stamp", "agent"),
        edge("brand_new", "wire"),
    ];
    let good = [
        edge("ctl::remote", "ssh::target"),
        edge("wire", "pipeline"),
        edge("agent::config", "agent_socket"),
        edge("main", "ctl"),
    ];
    let all: Vec<Edge> = bad.iter().chain(&good).cloned().collect();
    let breaks = rule_breaks(&all);
    assert_eq!(breaks.len(), bad.len(), "{breaks:#?}");
    assert!(
        breaks[0].starts_with("src/ssh/remote.rs:7: ssh imports ctl"),
        "{}",
        breaks[0]
    );
    assert!(
        breaks[5].contains("`brand_new` has no row"),
        "{}",
        breaks[5]
    );
}

#[test]
fn a_circle_is_caught_with_its_places() {
    let edges = [
        // The circle this layout removed, and one between rooms.
        edge("agent::config", "agent::notify"),
        edge("agent::notify", "agent::status"),
        edge("agent::status", "agent::config"),
        edge("ctl::mod", "ssh::remote"),
        edge("ssh::remote", "ctl"),
        edge("ssh::client", "client"),
    ];
    let found = circles(&edges);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("circle in crate: ctl -> ssh -> ctl"),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with("circle in agent: config -> notify -> status -> config")
            && found[1].contains("src/agent/status.rs:7: status -> config"),
        "{}",
        found[1]
    );
}

#[test]
fn the_reader_sees_uses_paths_and_groups_but_not_comments_or_strings() {
    let known: BTreeSet<Vec<String>> = [
        "ssh",
        "ssh::x",
        "ssh::client",
        "exit",
        "ctl",
        "text",
        "agent",
        "console",
    ]
    .iter()
    .map(|m| m.split("::").map(str::to_string).collect())
    .collect();
    let src = r##"
use crate::{exit::Code, ctl::{A, B}};
// use crate::console;
/* crate::console::x() */
fn f(c: char) -> &'static str {
    let _ = ('{', '"', '\'', b'}');
    let _ = r#"crate::agent::"# ;
    crate::text::inert("crate::agent::x")
}
#[cfg(test)]
mod tests {
    use super::*;
    use super::super::client::Session;
}
"##;
    let edges = edges_of("src/ssh/x.rs", &["ssh".into(), "x".into()], src, &known);
    let seen: Vec<String> = edges
        .iter()
        .map(|e| format!("{}:{} -> {}", e.line, e.from.join("::"), e.to.join("::")))
        .collect();
    assert_eq!(
        seen,
        [
            "2:ssh::x -> exit",
            "2:ssh::x -> ctl",
            "2:ssh::x -> ctl",
            "8:ssh::x -> text",
            "12:ssh::x::tests -> ssh::x",
            "13:ssh::x::tests -> ssh::client",
        ]
    );
}

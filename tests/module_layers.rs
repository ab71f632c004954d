//! The library's modules import each other in one direction only.
//!
//! Why a test: the request flows one way (ingress → event → decision →
//! actions → delivery), and the code should show it. Cycles between
//! modules crept in once (one circle of 40 files, 13 pairs importing each
//! other) because nothing failed when they did. This test reads every
//! `crate::…` path in `src/` (comments stripped), builds the graph between
//! the library's top-level modules and fails on any cycle and on any import
//! that points up the layer table below — the house plan of
//! ARCHITECTURE.md, "Layers". `.ci/run` runs it by name before the rest.
//!
//! It reads source text rather than running `cargo modules` because that
//! tool takes minutes to build in CI and needs a pinned nightly-compatible
//! rust-analyzer; `use crate::` lines are all this check needs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module's layer: a module may import modules of a *lower*
/// layer, and of its own layer as long as no cycle forms. Low to high.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["error_text", "par", "redact", "upstream"]),
    ("config", &["config"]),
    ("inputs", &["event", "matcher", "template", "observe", "verify", "guard", "metrics"]),
    ("actions", &["actions"]),
    ("decision and delivery", &["router", "delivery"]),
    ("settings", &["settings"]),
    ("tools", &["explain", "routetest", "lint", "schema", "alerts", "eventlog"]),
    ("server", &["server"]),
    ("runtime", &["pipeline", "reload", "app"]),
];

/// Imports that must never exist even where the layers would allow them:
/// the decision is a pure value and delivery runs the jobs it is handed
/// without reading routes (same layer, so no cycle check would stop one
/// direction alone); actions never record metrics, whoever runs them does.
const NEVER: &[(&str, &str)] = &[("router", "delivery"), ("delivery", "router"), ("actions", "observe")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The library's top-level modules, from `mod` lines in `src/lib.rs`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let lib = fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs is readable");
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_suffix(';')?;
            let name = rest.rsplit_once("mod ")?.1.trim();
            let prefix = rest.rsplit_once("mod ")?.0.trim();
            let is_decl = prefix.is_empty() || prefix.starts_with("pub");
            (is_decl && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then(|| name.to_string())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source text without `//` and `/* */` comments (doc comments name other
/// modules in links; those are not imports). String literals are kept: a
/// `"crate::x"` inside a string is rare enough to fix by hand if it trips.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            i += 2;
            while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// Every top-level module named right after `crate::`, including inside
/// `crate::{a, b::c, d::{e, f}}` groups (only their first segments).
fn referenced(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // First segments of each comma-separated item at depth 0.
            let mut depth = 0usize;
            let mut item_start = true;
            let mut word = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if item_start && !word.is_empty() => {
                        if modules.contains(&word) {
                            found.insert(std::mem::take(&mut word));
                        }
                        word.clear();
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
        rest = &rest[at + "crate::".len()..];
    }
    found
}

/// module → (imported module → files that import it).
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn graph(src: &Path, modules: &BTreeSet<String>) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src").to_string_lossy().replace('\\', "/");
        let first = rel.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_string();
        if !modules.contains(&first) {
            continue; // lib.rs, main.rs and the binary's own modules
        }
        let text = strip_comments(&fs::read_to_string(&file).expect("source is readable"));
        for target in referenced(&text, modules) {
            if target != first {
                graph.entry(first.clone()).or_default().entry(target).or_default().insert(rel.clone());
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(modules: &BTreeSet<String>, graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, v: &str) {
            self.index.insert(v.to_string(), self.next);
            self.low.insert(v.to_string(), self.next);
            self.next += 1;
            self.stack.push(v.to_string());
            let targets: Vec<String> = self.graph.get(v).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            for w in targets {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let low = self.low[v].min(self.low[&w]);
                    self.low.insert(v.to_string(), low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[&w]);
                    self.low.insert(v.to_string(), low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    let done = w == v;
                    component.push(w);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk =
        Walk { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), next: 0, found: Vec::new() };
    for m in modules {
        if !walk.index.contains_key(m) {
            walk.visit(m);
        }
    }
    walk.found
}

#[test]
fn modules_import_each_other_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = top_level_modules(&src);
    assert!(modules.len() > 10, "found the library's modules in src/lib.rs: {modules:?}");
    let graph = graph(&src, &modules);
    let mut problems = Vec::new();

    for m in &modules {
        if layer_of(m).is_none() {
            problems.push(format!("module `{m}` has no layer: add it to LAYERS in tests/module_layers.rs"));
        }
    }
    for (from, targets) in &graph {
        for (to, files) in targets {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) else { continue };
            if lt > lf {
                problems.push(format!(
                    "`{from}` ({}) imports `{to}` ({}), a higher layer, in {}",
                    LAYERS[lf].0,
                    LAYERS[lt].0,
                    files.join(", ")
                ));
            }
            if NEVER.contains(&(from.as_str(), to.as_str())) {
                problems.push(format!("`{from}` must never import `{to}`, but does in {}", files.join(", ")));
            }
        }
    }
    for cycle in cycles(&modules, &graph) {
        let mut edges = Vec::new();
        for from in &cycle {
            for (to, files) in graph.get(from).into_iter().flatten() {
                if cycle.contains(to) {
                    let files: Vec<&str> = files.iter().map(String::as_str).collect();
                    edges.push(format!("    {from} -> {to} ({})", files.join(", ")));
                }
            }
        }
        problems.push(format!("import cycle between {}:\n{}", cycle.join(", "), edges.join("\n")));
    }
    assert!(problems.is_empty(), "module layering broken:\n{}", problems.join("\n"));
}

/// The check above must be able to fail: a made-up source with a cycle and
/// an upward import is caught.
#[test]
fn the_check_sees_cycles_and_grouped_imports() {
    let modules: BTreeSet<String> = ["config", "router", "delivery"].iter().map(|s| s.to_string()).collect();
    let text =
        strip_comments("use crate::{config::X, router::{a, b}};\n// crate::delivery\nfn f() { crate::delivery::g() }");
    let found = referenced(&text, &modules);
    assert_eq!(found, modules, "grouped and inline paths are seen");

    let mut graph = Graph::new();
    graph.entry("router".into()).or_default().entry("delivery".into()).or_default().insert("router/mod.rs".into());
    graph.entry("delivery".into()).or_default().entry("router".into()).or_default().insert("delivery/x.rs".into());
    assert_eq!(cycles(&modules, &graph), vec![vec!["delivery".to_string(), "router".to_string()]]);
    let only_comment = referenced(&strip_comments("// crate::delivery::x"), &modules);
    assert!(only_comment.is_empty(), "a path in a comment is not an import");
}

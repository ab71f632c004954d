//! Maps key paths (`routes[0].when[1].json`) to where they stand in the file.
//!
//! serde only knows *what* went wrong and at which key path; the YAML event
//! parser knows *where* each node starts. Joining the two lets every error —
//! including the ones found long after parsing, like an invalid regex — point
//! at a line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::error::Location;

/// A [`PositionIndex`] built only when first asked: locations are needed
/// only to report problems, and a valid 10,000-route file should not pay
/// for indexing every node on each reload.
#[derive(Debug)]
pub(crate) struct LazyPositions {
    text: std::sync::Arc<str>,
    index: std::sync::OnceLock<PositionIndex>,
}

impl LazyPositions {
    pub(crate) fn new(text: &str) -> Self {
        LazyPositions { text: std::sync::Arc::from(text), index: std::sync::OnceLock::new() }
    }

    fn index(&self) -> &PositionIndex {
        self.index.get_or_init(|| PositionIndex::build(&self.text))
    }

    pub(crate) fn value(&self, path: &str) -> Option<Location> {
        self.index().value(path)
    }

    pub(crate) fn key(&self, path: &str) -> Option<Location> {
        self.index().key(path)
    }
}

/// Start positions of every node (value) and every mapping key in a document.
#[derive(Debug, Default)]
pub(crate) struct PositionIndex {
    values: HashMap<String, Location>,
    keys: HashMap<String, Location>,
}

impl PositionIndex {
    /// Builds the index; a document that does not parse yields an empty index
    /// (the YAML error itself carries the location in that case).
    pub(crate) fn build(source: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut builder, false).is_err() {
            return PositionIndex::default();
        }
        builder.index
    }

    /// Where the value at `path` starts, falling back to its nearest ancestor.
    pub(crate) fn value(&self, path: &str) -> Option<Location> {
        if !self.values.contains_key(path) && path.contains(".when[0]") {
            // `when: {..}` is a one-condition list written without the list;
            // its problems are reported under `when[0]`.
            if let Some(loc) = self.values.get(&path.replacen(".when[0]", ".when", 1)) {
                return Some(*loc);
            }
        }
        let mut p = path;
        loop {
            if let Some(loc) = self.values.get(p) {
                return Some(*loc);
            }
            p = parent(p)?;
        }
    }

    /// Where the key naming `path` stands (e.g. the misspelt key itself),
    /// falling back to the value position.
    pub(crate) fn key(&self, path: &str) -> Option<Location> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → `` → None.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

fn join_key(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

enum Frame {
    Map { path: String, pending_key: Option<String>, seen_key: bool },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: PositionIndex,
}

impl Builder {
    /// The path of the node that starts now, or None if this scalar is a key.
    fn next_node_path(&mut self, is_scalar: bool, text: &str, loc: Location) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, pending_key, seen_key }) => match pending_key.take() {
                Some(key) => Some(join_key(path, &key)),
                None => {
                    // The parser's mark for a block mapping's start is past
                    // its first key; the first key is where a reader looks.
                    if !*seen_key {
                        *seen_key = true;
                        self.index.values.insert(path.clone(), loc);
                    }
                    // A key. Complex (non-scalar) keys are not used by the
                    // config format; they are recorded under an empty name.
                    let key = if is_scalar { text.to_string() } else { String::new() };
                    self.index.keys.insert(join_key(path, &key), loc);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let loc = Location { line: mark.line(), column: mark.col() + 1 };
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(path) = self.next_node_path(true, &text, loc) {
                    self.index.values.insert(path, loc);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.next_node_path(true, "", loc) {
                    self.index.values.insert(path, loc);
                }
            }
            Event::MappingStart(..) => {
                let path = self.next_node_path(false, "", loc).unwrap_or_default();
                self.index.values.insert(path.clone(), loc);
                self.stack.push(Frame::Map { path, pending_key: None, seen_key: false });
            }
            Event::SequenceStart(..) => {
                let path = self.next_node_path(false, "", loc).unwrap_or_default();
                self.index.values.insert(path.clone(), loc);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_and_keys() {
        let src = "listen: x\nroutes:\n  - name: a\n    when:\n      - json: $.a\n        equal: 1\n";
        let idx = PositionIndex::build(src);
        assert_eq!(idx.value("listen"), Some(Location { line: 1, column: 9 }));
        assert_eq!(idx.value("routes[0].name"), Some(Location { line: 3, column: 11 }));
        assert_eq!(idx.value("routes[0].when[0].json"), Some(Location { line: 5, column: 15 }));
        assert_eq!(idx.key("routes[0].when[0].equal"), Some(Location { line: 6, column: 9 }));
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(idx.value("routes[0].when[0].nope"), Some(Location { line: 5, column: 9 }));
    }

    #[test]
    fn a_single_condition_is_found_under_when_0() {
        let idx = PositionIndex::build("routes:\n  - when: { json: $.a, matches: '(' }\n");
        assert_eq!(idx.value("routes[0].when[0].matches"), Some(Location { line: 2, column: 33 }));
    }

    #[test]
    fn parent_walks_up() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}

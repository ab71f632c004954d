//! JSONPath expressions, compiled once.
//!
//! Every expression is parsed by jsonpath-rust (RFC 9535), so what is valid
//! and what it means is the library's. Most routing rules are plain member
//! chains (`$.repository.full_name`, `$.commits[0].id`); for those the
//! compiled form is a list of steps walked directly, which avoids the
//! library's per-node path strings on the hot path. Everything else runs
//! through the library's compiled query.

use jsonpath_rust::parser::errors::JsonPathError;
use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

/// Why a text is not a JSONPath: the parser's message on one line, then a
/// hint when the mistake is a common one (no `$`, a key needing brackets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{hint}")]
pub struct InvalidJsonPath {
    message: String,
    /// Empty, or ` (…)` with what to write instead.
    hint: String,
}

/// Cloning shares the compiled form: the same expression in many routes
/// (and every reload of them) is one allocation, not one per route.
#[derive(Debug, Clone)]
pub struct JsonPathExpr {
    source: std::sync::Arc<str>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Steps(std::sync::Arc<[Step]>),
    Query(std::sync::Arc<JpQuery>),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Member(String),
    Index(i64),
}

impl JsonPathExpr {
    /// Compiles `source`, or explains why it is not a JSONPath.
    pub fn compile(source: &str) -> Result<Self, InvalidJsonPath> {
        static CACHE: super::cache::CompileCache<JsonPathExpr> = super::cache::CompileCache::new();
        CACHE.get_or_compile(source, Self::compile_uncached)
    }

    fn compile_uncached(source: &str) -> Result<Self, InvalidJsonPath> {
        let query =
            parse_json_path(source).map_err(|e| InvalidJsonPath { message: one_line(&e), hint: hint(source) })?;
        let kind = match simple_steps(source) {
            Some(steps) => Kind::Steps(steps.into()),
            None => Kind::Query(std::sync::Arc::new(query)),
        };
        Ok(JsonPathExpr { source: source.into(), kind })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Calls `f` on each selected node until it returns true; returns
    /// whether any call did. Selection order is document order.
    pub fn any_node(&self, doc: &Value, mut f: impl FnMut(&Value) -> bool) -> bool {
        match &self.kind {
            Kind::Steps(steps) => walk(doc, steps).is_some_and(f),
            Kind::Query(q) => match js_path_process(q, doc) {
                Ok(nodes) => nodes.into_iter().any(|n| f(n.val)),
                Err(_) => false,
            },
        }
    }

    /// The member names this path walks before anything else (an index, a
    /// filter, ...): everything it can select lies in the subtree at that
    /// chain. None when it may select anywhere in the document.
    pub fn member_prefix(&self) -> Option<Vec<&str>> {
        match &self.kind {
            Kind::Steps(steps) => Some(
                steps
                    .iter()
                    .map_while(|s| match s {
                        Step::Member(name) => Some(name.as_str()),
                        Step::Index(_) => None,
                    })
                    .collect(),
            ),
            Kind::Query(_) => None,
        }
    }

    /// All selected nodes (for explain and templates; not the hot path).
    pub fn nodes<'a>(&self, doc: &'a Value) -> Vec<&'a Value> {
        match &self.kind {
            Kind::Steps(steps) => walk(doc, steps).into_iter().collect(),
            Kind::Query(q) => {
                js_path_process(q, doc).map(|n| n.into_iter().map(|r| r.val).collect()).unwrap_or_default()
            }
        }
    }
}

/// The advice the grammar's message lacks (RFC 9535 §2.1: a query starts
/// with `$`; §2.5.1.1: member names outside `[A-Za-z0-9_]` take the
/// bracketed, quoted form), for the two mistakes people make.
fn hint(source: &str) -> String {
    let trimmed = source.trim();
    if !trimmed.starts_with('$') {
        let rest = trimmed.trim_start_matches('.');
        return format!(" (a JSONPath starts with `$`: write `$.{rest}`)");
    }
    // A dotted member with a character only the bracketed form allows:
    // `$.event-type`, `$.data.x.y-z`.
    let dotted = trimmed.split(['[', ']']).next().unwrap_or(trimmed);
    if let Some(bad) =
        dotted.split('.').skip(1).find(|m| m.contains(|c: char| !(c.is_alphanumeric() || c == '_' || c == '*')))
    {
        let name = bad.trim();
        return format!(" (a key with `-`, a space or another symbol is written in brackets: `$['{name}']`; a key containing `.` likewise: `$['a.b']`)");
    }
    String::new()
}

/// The parser's error as one line: `check` prints one problem per line, and
/// pest's rendering spans five (with the position on a `-->` line).
fn one_line(err: &JsonPathError) -> String {
    let JsonPathError::PestError(pest) = err else { return err.to_string() };
    let column = pest
        .to_string()
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .and_then(|pos| pos.rsplit(':').next().map(str::to_string));
    match column {
        Some(col) => format!("{} at character {col}", pest.variant.message()),
        None => pest.variant.message().into_owned(),
    }
}

fn walk<'a>(doc: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut node = doc;
    for step in steps {
        node = match (step, node) {
            (Step::Member(name), Value::Object(map)) => map.get(name)?,
            (Step::Index(i), Value::Array(items)) => {
                let idx = if *i < 0 { items.len().checked_sub(i.unsigned_abs() as usize)? } else { *i as usize };
                items.get(idx)?
            }
            _ => return None,
        };
    }
    Some(node)
}

/// Recognises `$`, `.name`, `['name']` and `[N]` chains; None for anything
/// richer (wildcards, filters, slices, descendants, escapes).
fn simple_steps(source: &str) -> Option<Vec<Step>> {
    let mut rest = source.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix('.') {
            let end = tail.find(['.', '[']).unwrap_or(tail.len());
            let name = &tail[..end];
            let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain {
                return None;
            }
            steps.push(Step::Member(name.to_string()));
            rest = &tail[end..];
        } else if let Some(tail) = rest.strip_prefix("['") {
            let end = tail.find("']")?;
            let name = &tail[..end];
            if name.contains(['\\', '\'']) {
                return None;
            }
            steps.push(Step::Member(name.to_string()));
            rest = &tail[end + 2..];
        } else if let Some(tail) = rest.strip_prefix('[') {
            let end = tail.find(']')?;
            let digits = &tail[..end];
            // RFC 9535 indices: optional minus, no leading zeros.
            let magnitude = digits.strip_prefix('-').unwrap_or(digits);
            let ok = !magnitude.is_empty()
                && magnitude.chars().all(|c| c.is_ascii_digit())
                && (magnitude == "0" || !magnitude.starts_with('0'));
            if !ok {
                return None;
            }
            steps.push(Step::Index(digits.parse().ok()?));
            rest = &tail[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, doc: &Value) -> Vec<Value> {
        JsonPathExpr::compile(path).unwrap().nodes(doc).into_iter().cloned().collect()
    }

    #[test]
    fn simple_and_library_paths_agree() {
        let doc = json!({"a": {"b": [10, 20, 30], "c-d": 1, "x": {"y": null}}});
        for path in ["$.a.b[0]", "$.a.b[-1]", "$.a['c-d']", "$.a.x.y", "$.a.b[5]", "$.nope", "$", "$.a.b[1]"] {
            let fast = sel(path, &doc);
            let q = parse_json_path(path).unwrap();
            let slow: Vec<Value> = js_path_process(&q, &doc).unwrap().into_iter().map(|r| r.val.clone()).collect();
            assert_eq!(fast, slow, "{path}");
        }
        assert!(matches!(JsonPathExpr::compile("$.a.b[0]").unwrap().kind, Kind::Steps(_)));
        assert!(matches!(JsonPathExpr::compile("$.a.b[*]").unwrap().kind, Kind::Query(_)));
    }

    #[test]
    fn member_prefixes() {
        let prefix = |p: &str| JsonPathExpr::compile(p).unwrap().member_prefix().map(|v| v.join("."));
        assert_eq!(prefix("$.repository.full_name").as_deref(), Some("repository.full_name"));
        assert_eq!(prefix("$.commits[0].id").as_deref(), Some("commits"));
        assert_eq!(prefix("$['a b'].c").as_deref(), Some("a b.c"));
        assert_eq!(prefix("$").as_deref(), Some(""));
        assert_eq!(prefix("$..id"), None);
        assert_eq!(prefix("$.commits[*].id"), None);
    }

    #[test]
    fn multi_node_selection() {
        let doc = json!({"commits": [{"author": {"email": "a@x"}}, {"author": {"email": "b@x"}}]});
        assert_eq!(sel("$.commits[*].author.email", &doc), vec![json!("a@x"), json!("b@x")]);
    }

    #[test]
    fn rejects_invalid() {
        assert!(JsonPathExpr::compile("$.a[").is_err());
        assert!(JsonPathExpr::compile("a.b").is_err());
        let msg = JsonPathExpr::compile("$.a[").unwrap_err().to_string();
        assert_eq!(msg, "expected selector at character 5");
    }
}

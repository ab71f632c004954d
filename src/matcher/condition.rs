//! Conditions: compiled from their specs once, evaluated per event.
//!
//! A leaf pairs one subject (a JSONPath, a header, a query parameter, a path
//! parameter, the method) with one operator. A subject may yield several
//! values (a multi-node JSONPath, a repeated header); a leaf holds when any of
//! them satisfies the operator, and `exists: false` holds when there are
//! none. A negative operator (`not_equals`) is exactly `not:` of its
//! positive twin, so it holds when the subject is absent. JSON comparisons
//! are typed (`"42"` is not `42`) but numbers compare by value across
//! integer and float, and integers exactly (64-bit ids stay distinct).
//! Header, query and path values are strings; they compare to a configured
//! number or boolean by its text or, for `gt`/`lt`, as a parsed number.

use http::header::HeaderName;
use regex::Regex;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::jsonpath::JsonPathExpr;
use super::number::{compare_numbers, Exact};
use crate::config::spec::ConditionSpec;
use crate::config::ConfigError;
use crate::event::Event;

/// A compiled `when:` condition, evaluated against an event.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `all:`: every item holds (true when empty).
    All(Vec<Condition>),
    /// `any:`: at least one item holds.
    Any(Vec<Condition>),
    /// `not:`: the item does not hold.
    Not(Box<Condition>),
    /// One test of one subject (a JSONPath, header, query or path parameter).
    Leaf(Leaf),
}

/// One test (`equals`, `matches`, `exists`, ...) of one subject.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub(crate) subject: Subject,
    pub(crate) op: Operator,
}

#[derive(Debug, Clone)]
pub(crate) enum Subject {
    Json(JsonPathExpr),
    Header(HeaderName),
    Query(String),
    PathParam(String),
    Method,
}

#[derive(Debug, Clone)]
pub(crate) enum Operator {
    Exists(bool),
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    /// Shared: routes with the same pattern use one compiled regex (and its
    /// match caches) instead of a copy each.
    Matches(std::sync::Arc<Regex>),
    Contains(Value),
    /// Bounds keep the number as written: integers compare exactly at any
    /// size (see [`compare_numbers`]).
    Gt(Number),
    Gte(Number),
    Lt(Number),
    Lte(Number),
}

/// What a condition is evaluated against: the event plus the path parameters
/// of the route being tried.
pub struct EvalContext<'a> {
    /// The request being routed.
    pub event: &'a Event,
    /// The path parameters the route's pattern captured, name and value.
    pub params: &'a [(String, String)],
}

/// One value a subject yields.
#[derive(Debug, Clone, Copy)]
pub enum Node<'a> {
    /// A JSON value from the body.
    Json(&'a Value),
    /// A header, query or path parameter value, or the method.
    Text(&'a str),
}

impl Condition {
    /// Compiles `spec`; errors carry key paths relative to `path`.
    pub fn compile(spec: &ConditionSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Condition> {
        let combinators = [spec.all.is_some(), spec.any.is_some(), spec.not.is_some()].iter().filter(|b| **b).count();
        let subjects = subject_keys(spec);
        let operators = operator_keys(spec);
        if combinators > 0 {
            if combinators > 1 || !subjects.is_empty() || !operators.is_empty() {
                errors.push(ConfigError::new(
                    path,
                    "a condition with `all`, `any` or `not` must have nothing else beside it (nest them instead)",
                ));
                return None;
            }
            let list = |items: &[ConditionSpec], key: &str, errors: &mut Vec<ConfigError>| {
                let compiled: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Condition::compile(c, &format!("{path}.{key}[{i}]"), errors))
                    .collect();
                compiled.into_iter().collect::<Option<Vec<_>>>().map(order_by_cost)
            };
            return match (&spec.all, &spec.any, &spec.not) {
                (Some(items), _, _) => list(items, "all", errors).map(Condition::All),
                (_, Some(items), _) => list(items, "any", errors).map(Condition::Any),
                (_, _, Some(inner)) => {
                    Condition::compile(inner, &format!("{path}.not"), errors).map(|c| Condition::Not(Box::new(c)))
                }
                _ => None,
            };
        }
        if subjects.len() != 1 {
            let msg = if subjects.is_empty() {
                "a condition needs one subject: `json`, `header`, `query`, `path_param` or `method`".to_string()
            } else {
                format!("a condition has exactly one subject, found {}", quote_list(&subjects))
            };
            errors.push(ConfigError::new(path, msg));
            return None;
        }
        if operators.len() != 1 {
            let msg = if operators.is_empty() {
                "a condition needs one operator: `exists`, `equals`, `not_equals`, `in`, `matches`, `contains`, `gt`, `gte`, `lt` or `lte`".to_string()
            } else {
                format!("a condition has exactly one operator, found {} (use `all` to combine)", quote_list(&operators))
            };
            errors.push(ConfigError::new(path, msg));
            return None;
        }
        let subject = compile_subject(spec, path, errors)?;
        let op = compile_operator(spec, &subject, path, errors)?;
        Some(Condition::Leaf(Leaf { subject, op }))
    }

    /// Whether the condition holds for the event in `ctx`.
    pub fn eval(&self, ctx: &EvalContext) -> bool {
        match self {
            Condition::All(items) => items.iter().all(|c| c.eval(ctx)),
            Condition::Any(items) => items.iter().any(|c| c.eval(ctx)),
            Condition::Not(inner) => !inner.eval(ctx),
            Condition::Leaf(leaf) => leaf.eval(ctx),
        }
    }

    /// Calls `f` with every JSONPath this condition reads.
    pub fn for_each_json_path(&self, f: &mut impl FnMut(&JsonPathExpr)) {
        match self {
            Condition::All(items) | Condition::Any(items) => items.iter().for_each(|c| c.for_each_json_path(f)),
            Condition::Not(inner) => inner.for_each_json_path(f),
            Condition::Leaf(leaf) => {
                if let Subject::Json(path) = &leaf.subject {
                    f(path)
                }
            }
        }
    }

    /// Relative cost: request-line and header checks are nearly free, JSON
    /// lookups are not. Used to try cheap conditions first; evaluation has no
    /// side effects, so order never changes the outcome.
    fn cost(&self) -> u8 {
        match self {
            Condition::All(items) | Condition::Any(items) => items.iter().map(Condition::cost).max().unwrap_or(0),
            Condition::Not(inner) => inner.cost(),
            Condition::Leaf(leaf) => match (&leaf.subject, &leaf.op) {
                (Subject::Json(_), Operator::Matches(_)) => 3,
                (Subject::Json(_), _) => 2,
                (_, Operator::Matches(_)) => 1,
                _ => 0,
            },
        }
    }
}

/// Stable sort by cost; conditions keep file order among equals.
pub(crate) fn order_by_cost(mut items: Vec<Condition>) -> Vec<Condition> {
    items.sort_by_key(Condition::cost);
    items
}

impl Leaf {
    /// Whether the test holds for any value the subject yields.
    pub fn eval(&self, ctx: &EvalContext) -> bool {
        self.eval_seen(ctx, |_, _| {})
    }

    /// [`Leaf::eval`], also calling `seen` with each subject value tried and
    /// whether it satisfied the operator. Routing and `explain` share this
    /// one evaluator, so an explanation cannot drift from what routing does.
    ///
    /// A negative operator is evaluated as its positive twin and the result
    /// inverted (`not_equals: v` is exactly `not: {equals: v}`), so it holds
    /// when the subject is absent, as MongoDB's `$ne` (and the Hookdeck and
    /// Convoy filters built on it) do. Each value is still reported with
    /// whether it satisfies the operator as written.
    pub fn eval_seen(&self, ctx: &EvalContext, mut seen: impl FnMut(Node, bool)) -> bool {
        let mut any = false;
        let negated = self.op.is_negative();
        let mut test = |node: Node| {
            any = true;
            let hit = self.op.positive_holds(node);
            seen(node, hit != negated);
            hit
        };
        let held = match &self.subject {
            Subject::Json(path) => match ctx.event.condition_document() {
                Some(doc) => path.any_node(doc, |v| test(Node::Json(v))),
                None => false,
            },
            Subject::Header(name) => {
                ctx.event.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| test(Node::Text(v)))
            }
            Subject::Query(name) => ctx.event.query_values(name).any(|v| test(Node::Text(&v))),
            Subject::PathParam(name) => ctx.params.iter().filter(|(k, _)| k == name).any(|(_, v)| test(Node::Text(v))),
            Subject::Method => test(Node::Text(ctx.event.method.as_str())),
        };
        match self.op {
            Operator::Exists(want) => any == want,
            _ => held != negated,
        }
    }
}

impl Operator {
    /// True for an operator that is the negation of another (`not_equals`):
    /// the leaf holds when no value satisfies the positive twin.
    pub(crate) fn is_negative(&self) -> bool {
        matches!(self, Operator::NotEquals(_))
    }

    /// Whether one subject value satisfies the operator, or for a negative
    /// operator its positive twin (`not_equals` → `equals`). `Exists` is
    /// decided by the caller from whether any value was seen.
    pub(crate) fn positive_holds(&self, node: Node) -> bool {
        match self {
            Operator::Exists(_) => true,
            Operator::Equals(want) | Operator::NotEquals(want) => node_equals(node, want),
            Operator::In(list) => list.iter().any(|want| node_equals(node, want)),
            Operator::Matches(re) => match node {
                Node::Json(Value::String(s)) => re.is_match(s),
                Node::Text(s) => re.is_match(s),
                Node::Json(_) => false,
            },
            Operator::Contains(want) => match node {
                Node::Json(Value::Array(items)) => items.iter().any(|item| json_equals(item, want)),
                Node::Json(Value::String(s)) => scalar_text(want).is_some_and(|w| s.contains(w.as_str())),
                Node::Text(s) => scalar_text(want).is_some_and(|w| s.contains(w.as_str())),
                Node::Json(_) => false,
            },
            Operator::Gt(n) => compare_node(node, n).is_some_and(Ordering::is_gt),
            Operator::Gte(n) => compare_node(node, n).is_some_and(Ordering::is_ge),
            Operator::Lt(n) => compare_node(node, n).is_some_and(Ordering::is_lt),
            Operator::Lte(n) => compare_node(node, n).is_some_and(Ordering::is_le),
        }
    }
}

/// A subject value against a numeric bound: JSON numbers by value, text
/// parsed as a number; anything else (a JSON string, even `"11"`) is not a
/// number and compares as nothing.
fn compare_node(node: Node, bound: &Number) -> Option<Ordering> {
    let value = match node {
        Node::Json(Value::Number(n)) => Exact::of(n)?,
        Node::Json(_) => return None,
        Node::Text(s) => Exact::parse(s)?,
    };
    value.cmp(Exact::of(bound)?)
}

fn node_equals(node: Node, want: &Value) -> bool {
    match node {
        Node::Json(v) => json_equals(v, want),
        Node::Text(s) => match want {
            Value::String(w) => s == w,
            Value::Number(n) => compare_node(node, n) == Some(Ordering::Equal),
            Value::Bool(b) => s == if *b { "true" } else { "false" },
            _ => false,
        },
    }
}

/// Typed JSON equality, with numbers compared by value (1 == 1.0).
pub fn json_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equals(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equals(v, w)))
        }
        _ => a == b,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn subject_keys(spec: &ConditionSpec) -> Vec<&'static str> {
    let mut keys = Vec::new();
    for (present, key) in [
        (spec.json.is_some(), "json"),
        (spec.header.is_some(), "header"),
        (spec.query.is_some(), "query"),
        (spec.path_param.is_some(), "path_param"),
        (spec.method.is_some(), "method"),
    ] {
        if present {
            keys.push(key);
        }
    }
    keys
}

fn operator_keys(spec: &ConditionSpec) -> Vec<&'static str> {
    let mut keys = Vec::new();
    for (present, key) in [
        (spec.exists.is_some(), "exists"),
        (spec.equals.is_some(), "equals"),
        (spec.not_equals.is_some(), "not_equals"),
        (spec.in_list.is_some(), "in"),
        (spec.matches.is_some(), "matches"),
        (spec.contains.is_some(), "contains"),
        (spec.gt.is_some(), "gt"),
        (spec.gte.is_some(), "gte"),
        (spec.lt.is_some(), "lt"),
        (spec.lte.is_some(), "lte"),
    ] {
        if present {
            keys.push(key);
        }
    }
    keys
}

fn quote_list(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
}

fn compile_subject(spec: &ConditionSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Subject> {
    if let Some(p) = &spec.json {
        return match JsonPathExpr::compile(p) {
            Ok(expr) => Some(Subject::Json(expr)),
            Err(e) => {
                errors.push(ConfigError::new(format!("{path}.json"), format!("invalid JSONPath {p:?}: {e}")));
                None
            }
        };
    }
    if let Some(h) = &spec.header {
        return match HeaderName::from_bytes(h.as_bytes()) {
            Ok(name) => Some(Subject::Header(name)),
            Err(_) => {
                errors.push(ConfigError::new(format!("{path}.header"), format!("invalid header name {h:?}")));
                None
            }
        };
    }
    if let Some(q) = &spec.query {
        return Some(Subject::Query(q.clone()));
    }
    if let Some(p) = &spec.path_param {
        return Some(Subject::PathParam(p.clone()));
    }
    Some(Subject::Method)
}

fn compile_operator(
    spec: &ConditionSpec,
    subject: &Subject,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Operator> {
    // Methods are upper-case on the wire; accept `post` in the file.
    let method_case = |v: &Value| match (subject, v) {
        (Subject::Method, Value::String(s)) => Value::String(s.to_ascii_uppercase()),
        _ => v.clone(),
    };
    if let Some(b) = spec.exists {
        return Some(Operator::Exists(b));
    }
    if let Some(v) = &spec.equals {
        return Some(Operator::Equals(method_case(v)));
    }
    if let Some(v) = &spec.not_equals {
        return Some(Operator::NotEquals(method_case(v)));
    }
    if let Some(list) = &spec.in_list {
        if list.is_empty() {
            errors.push(ConfigError::new(format!("{path}.in"), "`in` needs at least one value"));
            return None;
        }
        return Some(Operator::In(list.iter().map(method_case).collect()));
    }
    if let Some(pattern) = &spec.matches {
        static CACHE: super::cache::CompileCache<std::sync::Arc<Regex>> = super::cache::CompileCache::new();
        let compile = |p: &str| regex::RegexBuilder::new(p).size_limit(1 << 20).build().map(std::sync::Arc::new);
        return match CACHE.get_or_compile(pattern, compile) {
            Ok(re) => Some(Operator::Matches(re)),
            Err(e) => {
                let last = e.to_string().lines().last().unwrap_or("").trim().to_string();
                let detail = last.strip_prefix("error: ").unwrap_or(&last).to_string();
                errors
                    .push(ConfigError::new(format!("{path}.matches"), format!("invalid regex {pattern:?}: {detail}")));
                None
            }
        };
    }
    if let Some(v) = &spec.contains {
        if matches!(subject, Subject::Json(_)) || scalar_text(v).is_some() {
            return Some(Operator::Contains(v.clone()));
        }
        errors.push(ConfigError::new(
            format!("{path}.contains"),
            "on a header, query or path parameter, `contains` takes a string",
        ));
        return None;
    }
    let (n, make): (Option<&Number>, fn(Number) -> Operator) = match (&spec.gt, &spec.gte, &spec.lt, &spec.lte) {
        (Some(n), ..) => (Some(n), Operator::Gt),
        (_, Some(n), ..) => (Some(n), Operator::Gte),
        (_, _, Some(n), _) => (Some(n), Operator::Lt),
        (.., Some(n)) => (Some(n), Operator::Lte),
        _ => (None, Operator::Gt),
    };
    n.cloned().map(make)
}

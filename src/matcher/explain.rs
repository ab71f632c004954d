//! Why a condition held or not: the same evaluation as routing, recorded.
//!
//! [`Condition::explain`] walks the compiled condition tree and evaluates
//! each leaf with [`Leaf::eval_seen`], the very function routing calls, so
//! the values an explanation shows are the values routing saw. Combinators
//! evaluate every child (routing stops early; conditions have no side
//! effects, so the result is the same) to show the operator every reason at
//! once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::condition::{Condition, EvalContext, Leaf, Node, Operator, Subject};

/// One condition's result, with its children or the values it saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Trace {
    All { result: bool, conditions: Vec<Trace> },
    Any { result: bool, conditions: Vec<Trace> },
    Not { result: bool, condition: Box<Trace> },
    Leaf(LeafTrace),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LeafTrace {
    pub result: bool,
    /// `json $.ref`, `header x-github-event`, `query a`, `path_param p`, `method`.
    pub subject: String,
    /// `equals "push"`, `matches '^refs/heads/main$'`, `gt 5`...
    pub operator: String,
    /// Each value tried, as JSON, with whether it satisfied the operator.
    pub values: Vec<SeenValue>,
    /// True when the subject had no value at all (a missing member, header
    /// or query parameter): `exists: false` and negative operators hold.
    pub absent: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SeenValue {
    pub value: Value,
    pub satisfied: bool,
}

impl Trace {
    pub(crate) fn result(&self) -> bool {
        match self {
            Trace::All { result, .. } | Trace::Any { result, .. } | Trace::Not { result, .. } => *result,
            Trace::Leaf(l) => l.result,
        }
    }
}

impl Condition {
    /// Evaluates like [`Condition::eval`] and records why.
    pub(crate) fn explain(&self, ctx: &EvalContext) -> Trace {
        match self {
            Condition::All(items) => {
                let conditions: Vec<Trace> = items.iter().map(|c| c.explain(ctx)).collect();
                Trace::All { result: conditions.iter().all(Trace::result), conditions }
            }
            Condition::Any(items) => {
                let conditions: Vec<Trace> = items.iter().map(|c| c.explain(ctx)).collect();
                Trace::Any { result: conditions.iter().any(Trace::result), conditions }
            }
            Condition::Not(inner) => {
                let condition = inner.explain(ctx);
                Trace::Not { result: !condition.result(), condition: Box::new(condition) }
            }
            Condition::Leaf(leaf) => Trace::Leaf(leaf.explain(ctx)),
        }
    }
}

impl Leaf {
    pub(crate) fn explain(&self, ctx: &EvalContext) -> LeafTrace {
        let mut values = Vec::new();
        let result = self.eval_seen(ctx, |node, satisfied| {
            let value = match node {
                Node::Json(v) => v.clone(),
                Node::Text(s) => Value::String(s.to_string()),
            };
            values.push(SeenValue { value, satisfied });
        });
        let absent = values.is_empty();
        LeafTrace { result, subject: subject_text(&self.subject), operator: operator_text(&self.op), values, absent }
    }
}

fn subject_text(subject: &Subject) -> String {
    match subject {
        Subject::Json(p) => format!("json {}", p.as_str()),
        Subject::Header(h) => format!("header {h}"),
        Subject::Query(q) => format!("query {q}"),
        Subject::PathParam(p) => format!("path_param {p}"),
        Subject::Method => "method".to_string(),
    }
}

fn operator_text(op: &Operator) -> String {
    match op {
        Operator::Exists(b) => format!("exists {b}"),
        Operator::Equals(v) => format!("equals {v}"),
        Operator::NotEquals(v) => format!("not_equals {v}"),
        Operator::In(list) => format!("in {}", Value::Array(list.clone())),
        Operator::Matches(re) => format!("matches '{}'", re.as_str()),
        Operator::Contains(v) => format!("contains {v}"),
        Operator::Gt(n) => format!("gt {n}"),
        Operator::Gte(n) => format!("gte {n}"),
        Operator::Lt(n) => format!("lt {n}"),
        Operator::Lte(n) => format!("lte {n}"),
    }
}

/// One line per leaf, indented under its combinators:
/// `json $.ref = "refs/heads/main" matches '^refs/heads/main$' → true`.
pub(crate) fn render_text(trace: &Trace, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match trace {
        Trace::All { result, conditions } | Trace::Any { result, conditions } => {
            let word = if matches!(trace, Trace::All { .. }) { "all of" } else { "any of" };
            out.push_str(&format!("{pad}{word} → {result}\n"));
            for c in conditions {
                render_text(c, indent + 1, out);
            }
        }
        Trace::Not { result, condition } => {
            out.push_str(&format!("{pad}not → {result}\n"));
            render_text(condition, indent + 1, out);
        }
        Trace::Leaf(l) => {
            let seen = match l.values.len() {
                0 => "(absent)".to_string(),
                _ => l.values.iter().map(|v| v.value.to_string()).collect::<Vec<_>>().join(", "),
            };
            out.push_str(&format!("{pad}{} = {seen} {} → {}\n", l.subject, l.operator, l.result));
        }
    }
}

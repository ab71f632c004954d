//! A body written in the config: a forward's `body:` (which replaces the
//! event's body) or a reply's `body:`.
//!
//! Two forms, and the content type follows from the form:
//! - a mapping or list is JSON (`application/json`): each string in it may be
//!   a template, and a string that is exactly one `{{ expr }}` keeps the
//!   value's type (`count: "{{ json.commits | length }}"` is a number);
//! - a string is sent as text. If it starts with `{` or `[` it is meant as
//!   JSON: it is sent as `application/json`, values printed into it are
//!   escaped as JSON string content (a `"` in a title cannot break the
//!   document), and a rendered result that is not valid JSON is a render
//!   error rather than a broken request downstream. Otherwise it is
//!   `text/plain; charset=utf-8`.
//!
//! A body with no template at all is built once at load.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{is_template, Escape, RenderError, Scope, Text};
use crate::config::ConfigError;

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Debug, Clone)]
pub enum Body {
    /// No template: the same bytes for every event.
    Fixed { bytes: Bytes, content_type: &'static str },
    /// A string template; `json` when it is meant as JSON.
    Text { text: Text, json: bool },
    /// A YAML structure with templated strings, sent as JSON.
    Structured(Node),
}

#[derive(Debug, Clone)]
pub enum Node {
    Literal(Value),
    /// A string with templates in it.
    String(Text),
    /// A string that is one `{{ expr }}`: the value, with its type.
    Typed(Text),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Body {
    /// Compiles a `body:` value; errors are pushed at `key_path` (and below
    /// it for a structure's leaves).
    pub fn compile(value: &Value, key_path: &str, errors: &mut Vec<ConfigError>) -> Option<Body> {
        match value {
            Value::String(s) if !is_template(s) => {
                let json = looks_like_json(s) && serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok();
                Some(Body::Fixed { bytes: Bytes::from(s.clone()), content_type: if json { JSON } else { TEXT } })
            }
            Value::String(s) => {
                let json = looks_like_json(s);
                let escape = if json { Escape::JsonString } else { Escape::None };
                Text::compile(s, escape, key_path, errors).map(|text| Body::Text { text, json })
            }
            other if !has_template(other) => {
                Some(Body::Fixed { bytes: Bytes::from(other.to_string()), content_type: JSON })
            }
            other => compile_node(other, key_path, errors).map(Body::Structured),
        }
    }

    /// The content type the body is sent with, unless a header says otherwise.
    pub fn content_type(&self) -> &'static str {
        match self {
            Body::Fixed { content_type, .. } => content_type,
            Body::Text { json: true, .. } | Body::Structured(_) => JSON,
            Body::Text { json: false, .. } => TEXT,
        }
    }

    /// True when every event gets the same bytes.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Body::Fixed { .. })
    }

    /// The bytes for one event.
    pub fn render(&self, scope: &Scope) -> Result<Bytes, RenderError> {
        match self {
            Body::Fixed { bytes, .. } => Ok(bytes.clone()),
            Body::Text { text, json } => {
                let rendered = text.render(scope)?.into_owned();
                if *json {
                    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&rendered) {
                        return Err(RenderError(format!(
                            "the rendered body is not valid JSON ({e}); print whole values with `| tojson`, \
                             or write the body as a YAML mapping"
                        )));
                    }
                }
                Ok(Bytes::from(rendered))
            }
            Body::Structured(node) => {
                let value = render_node(node, scope)?;
                Ok(Bytes::from(value.to_string()))
            }
        }
    }
}

fn looks_like_json(s: &str) -> bool {
    matches!(s.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// A string that is exactly one `{{ ... }}` and nothing else.
fn is_single_expression(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 && t.matches("}}").count() == 1
}

fn compile_node(value: &Value, key_path: &str, errors: &mut Vec<ConfigError>) -> Option<Node> {
    Some(match value {
        Value::String(s) if is_single_expression(s) => Node::Typed(Text::compile(s, Escape::Json, key_path, errors)?),
        Value::String(s) if is_template(s) => Node::String(Text::compile(s, Escape::None, key_path, errors)?),
        Value::Array(items) => {
            let compiled: Vec<Option<Node>> =
                items.iter().enumerate().map(|(i, v)| compile_node(v, &format!("{key_path}[{i}]"), errors)).collect();
            Node::Array(compiled.into_iter().collect::<Option<_>>()?)
        }
        Value::Object(map) => {
            let compiled: Vec<Option<(String, Node)>> = map
                .iter()
                .map(|(k, v)| compile_node(v, &format!("{key_path}.{k}"), errors).map(|n| (k.clone(), n)))
                .collect();
            Node::Object(compiled.into_iter().collect::<Option<_>>()?)
        }
        other => Node::Literal(other.clone()),
    })
}

fn render_node(node: &Node, scope: &Scope) -> Result<Value, RenderError> {
    Ok(match node {
        Node::Literal(v) => v.clone(),
        Node::String(text) => Value::String(text.render(scope)?.into_owned()),
        Node::Typed(text) => {
            let json = text.render(scope)?;
            serde_json::from_str(&json).map_err(|e| {
                RenderError(format!("`{}` did not give a JSON value ({e}): {json}", text.source().trim()))
            })?
        }
        Node::Array(items) => Value::Array(items.iter().map(|n| render_node(n, scope)).collect::<Result<_, _>>()?),
        Node::Object(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, n) in entries {
                map.insert(k.clone(), render_node(n, scope)?);
            }
            Value::Object(map)
        }
    })
}

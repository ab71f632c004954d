//! A body written in the config: a forward's `body:` (which replaces the
//! event's body) or a reply's `body:`.
//!
//! What the body is follows from its form and the `Content-Type` the author
//! declared in the same action's `headers:` (never from what the text
//! happens to start with):
//! - a mapping or list is JSON (`application/json`): each string in it may
//!   be a template, and a string that is exactly one `{{ expr }}` keeps the
//!   value's type (`count: "{{ json.commits | length }}"` is a number);
//! - a string with a declared JSON type (`application/json`,
//!   `application/*+json`) is JSON text: a string that is exactly one
//!   `{{ expr }}` prints the value as JSON, otherwise values printed into it
//!   are escaped as JSON string content (a `"` in a title cannot break the
//!   document), and a rendered result that is not valid JSON is a render
//!   error rather than a broken request downstream;
//! - any other string is text, sent as rendered: `text/plain;
//!   charset=utf-8` unless another type is declared. Echoing one value
//!   (`"{{ json.challenge }}"`, Twitch EventSub's and Meta's verification
//!   handshakes) answers exactly that value.
//!
//! A body with no template at all is built once at load.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{is_template, literal_prefix, literal_suffix, Escape, RenderError, Scope, Text};
use crate::config::ConfigError;

pub(crate) const JSON: &str = "application/json";
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// No template: the same bytes for every event.
    Fixed { bytes: Bytes, content_type: &'static str },
    /// A string template; `json` when it is meant as JSON.
    Text { text: Text, json: bool },
    /// A YAML structure with templated strings, sent as JSON.
    Structured(Node),
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Literal(Value),
    /// A string with templates in it.
    String(Text),
    /// A string that is one `{{ expr }}`: the value, with its type.
    Typed(Text),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// True when `content_type` (a `Content-Type` value, parameters allowed)
/// names JSON: `application/json` or `application/<anything>+json`.
pub(crate) fn declares_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    crate::event::is_json_media_type(&media)
}

/// The `Content-Type` value in an action's `headers:`, if the author
/// declared one (header names are case-insensitive).
pub(crate) fn declared_content_type<'a, V: AsRef<str> + 'a>(
    headers: impl IntoIterator<Item = (&'a String, &'a V)>,
) -> Option<&'a str> {
    headers.into_iter().find(|(name, _)| name.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.as_ref())
}

impl Body {
    /// Compiles a `body:` value, given the `Content-Type` its action's
    /// `headers:` declare (None: not declared); errors are pushed at
    /// `key_path` (and below it for a structure's leaves).
    pub(crate) fn compile(
        value: &Value,
        content_type: Option<&str>,
        key_path: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Body> {
        let json = content_type.is_some_and(declares_json);
        match value {
            Value::String(s) if !is_template(s) => {
                Some(Body::Fixed { bytes: Bytes::from(s.clone()), content_type: if json { JSON } else { TEXT } })
            }
            Value::String(s) => {
                let escape = match (json, is_single_expression(s)) {
                    (true, true) => Escape::Json,
                    (true, false) => Escape::JsonString,
                    (false, _) => Escape::None,
                };
                Text::compile(s, escape, key_path, errors).map(|text| Body::Text { text, json })
            }
            other if !has_template(other) => {
                Some(Body::Fixed { bytes: Bytes::from(other.to_string()), content_type: JSON })
            }
            other => compile_node(other, key_path, errors).map(Body::Structured),
        }
    }

    /// The content type the body is sent with, unless a header says otherwise.
    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            Body::Fixed { content_type, .. } => content_type,
            Body::Text { json: true, .. } | Body::Structured(_) => JSON,
            Body::Text { json: false, .. } => TEXT,
        }
    }

    /// The bytes for one event.
    pub(crate) fn render(&self, scope: &Scope) -> Result<Bytes, RenderError> {
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

/// Why a string `body:` cannot do what its author meant, found without an
/// event (`hookroute check` prints it as a warning): a body declared JSON
/// whose literal text can never be JSON whatever the values (every render
/// would fail), or one that is not JSON at all; and a body written as JSON
/// but sent as text because no JSON `Content-Type` is declared.
pub(crate) fn static_warning(value: &Value, content_type: Option<&str>) -> Option<String> {
    let Value::String(s) = value else { return None };
    match content_type {
        Some(declared) if declares_json(declared) => {
            if !is_template(s) {
                let e = serde_json::from_str::<serde::de::IgnoredAny>(s).err()?;
                return Some(format!("the body is not valid JSON ({e}), but `Content-Type: {declared}` says it is"));
            }
            if is_single_expression(s) {
                return None;
            }
            // Values are printed between the literal parts and cannot remove
            // them: a document must start with a value and end with one.
            let first = literal_prefix(s).trim_start().chars().next().filter(|c| !"{[\"-0123456789tfn".contains(*c));
            let last = literal_suffix(s).trim_end().chars().last().filter(|c| !"}]\"0123456789el".contains(*c));
            let bad = first.or(last)?;
            Some(format!(
                "this template can only fail: `Content-Type: {declared}` makes the rendered body JSON, and its text                  around the values (`{bad}`) never is; declare `Content-Type: text/plain` to send text, or write                  the body as a YAML mapping"
            ))
        }
        Some(_) => None,
        None => {
            let literal = if is_template(s) { literal_prefix(s) } else { s.as_str() };
            let json_shaped = literal.trim_start().starts_with("{\"")
                || (!is_template(s) && serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object() || v.is_array()));
            json_shaped.then(|| {
                "this body is written as JSON but sent as `text/plain; charset=utf-8`: a string body is text unless                  `headers:` declare `Content-Type: application/json` (declare it to send JSON, or declare                  `text/plain` to keep text)"
                    .to_string()
            })
        }
    }
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

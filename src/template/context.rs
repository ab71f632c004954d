//! What a template sees: the event, the route and its path parameters.
//!
//! ```text
//! json          the decoded body (JSON, or form fields); undefined without one
//! headers       request headers by lower-case name; repeated ones joined with ", "
//! query         query parameters (a repeated one is a list)
//! path_params   the route's `{name}` path parameters
//! event         id, received_at (RFC 3339), method, path
//! route         the route's name
//! ```
//!
//! Numbers in `json` are integers (up to 128 bits) or floats; an integer
//! beyond 128 bits, which minijinja cannot hold as a number, is its digits
//! as a safe string: printed as written (also as a JSON body value, where
//! safe strings are written unquoted, so the body has the number), though
//! `| tojson` quotes it and arithmetic on it fails.
//!
//! The context is built on first use and at most once per scope, so an
//! action whose strings are all plain never pays for it, and a forward with
//! a templated URL, header and body pays once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::value::{Serde, Value};

use crate::event::Event;

/// One event as seen by one route's templates.
pub(crate) struct Scope<'a> {
    pub(crate) event: &'a Event,
    pub(crate) route: &'a str,
    pub(crate) params: &'a [(String, String)],
    value: OnceLock<Value>,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(event: &'a Event, route: &'a str, params: &'a [(String, String)]) -> Self {
        Scope { event, route, params, value: OnceLock::new() }
    }

    /// The template context, built on first use.
    pub(crate) fn value(&self) -> &Value {
        self.value.get_or_init(|| build(self.event, self.route, self.params))
    }
}

/// A JSON document as minijinja should see it. Not the document itself:
/// serde_json keeps each number's text (`arbitrary_precision`) and
/// serializes it as a private one-entry map, which minijinja would show as
/// a map; here each number is a minijinja number, or big-integer digits.
/// The console's pages render their JSON contexts through it too.
pub(crate) struct Doc<'a>(pub(crate) &'a serde_json::Value);

impl serde::Serialize for Doc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        use serde_json::Value as J;
        match self.0 {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::String(text) => s.serialize_str(text),
            J::Number(n) => {
                let text = n.as_str();
                if let Ok(i) = text.parse::<i64>() {
                    return s.serialize_i64(i);
                }
                if let Ok(u) = text.parse::<u64>() {
                    return s.serialize_u64(u);
                }
                if let Ok(i) = text.parse::<i128>() {
                    return s.serialize_i128(i);
                }
                if let Ok(u) = text.parse::<u128>() {
                    return s.serialize_u128(u);
                }
                let integral = text.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit());
                match (integral, n.as_f64()) {
                    // minijinja keeps a Value met inside `from_serialize`
                    // as it is, so the safe marking survives.
                    (true, _) | (false, None) => Value::from_safe_string(text.to_string()).serialize(s),
                    (false, Some(f)) => s.serialize_f64(f),
                }
            }
            J::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Doc(item))?;
                }
                seq.end()
            }
            J::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, &Doc(value))?;
                }
                map.end()
            }
        }
    }
}

fn build(event: &Event, route: &str, params: &[(String, String)]) -> Value {
    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    for name in event.headers.keys() {
        let joined = event.header_text(name);
        headers.insert(name.as_str(), joined);
    }
    let path_params: BTreeMap<&str, &str> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let json = match event.document() {
        Some(doc) => Value::from(Serde(Doc(doc))),
        // Undefined, not none: `{% if json is defined %}` is how a template
        // tells an empty test ping from a delivery.
        None => Value::UNDEFINED,
    };
    minijinja::context! {
        json => json,
        headers => Value::from(Serde(headers)),
        query => Value::from(Serde(event.query_object())),
        path_params => Value::from(Serde(path_params)),
        event => minijinja::context! {
            id => event.id.as_str(),
            received_at => humantime::format_rfc3339_millis(event.received_at).to_string(),
            method => event.method.as_str(),
            path => event.path.as_str(),
        },
        route => route,
    }
}

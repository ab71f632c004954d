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
//! The context is built on first use and at most once per scope, so an
//! action whose strings are all plain never pays for it, and a forward with
//! a templated URL, header and body pays once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::value::{Serde, Value};

use crate::event::Event;

/// One event as seen by one route's templates.
pub struct Scope<'a> {
    pub event: &'a Event,
    pub route: &'a str,
    pub params: &'a [(String, String)],
    value: OnceLock<Value>,
}

impl<'a> Scope<'a> {
    pub fn new(event: &'a Event, route: &'a str, params: &'a [(String, String)]) -> Self {
        Scope { event, route, params, value: OnceLock::new() }
    }

    /// The template context, built on first use.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| build(self.event, self.route, self.params))
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
        Some(doc) => Value::from(Serde(doc)),
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

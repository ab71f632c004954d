//! `respond`: what the sender hears back.
//!
//! By default a matched event is answered `202` with its id and the routes
//! taken, because providers only need to know the event was accepted. A
//! static answer can be configured (some providers want `200 ok`), or the
//! route can act as a synchronous proxy and relay its first forward's answer.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use crate::config::spec::{RespondFrom, RespondSpec};
use crate::config::ConfigError;

#[derive(Debug)]
pub enum Respond {
    /// 202 with `{"id", "routes"}`.
    Accepted,
    Static(StaticReply),
    /// Relay the route's first forward's status, content type and body.
    FromForward,
}

#[derive(Debug, Clone)]
pub struct StaticReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Respond {
    pub fn compile(spec: Option<&RespondSpec>, has_forward: bool, errors: &mut Vec<ConfigError>) -> Option<Respond> {
        let Some(spec) = spec else { return Some(Respond::Accepted) };
        if let Some(RespondFrom::Forward) = spec.from {
            if spec.status.is_some() || spec.body.is_some() || !spec.headers.is_empty() {
                errors.push(ConfigError::new(
                    "respond",
                    "`from: forward` relays the forward's answer; remove `status`, `headers` and `body`",
                ));
                return None;
            }
            if !has_forward {
                errors.push(ConfigError::new("respond.from", "`from: forward` needs a `forward` action in this route"));
                return None;
            }
            return Some(Respond::FromForward);
        }
        let before = errors.len();
        let status = match StatusCode::from_u16(spec.status.unwrap_or(202)) {
            Ok(s) => s,
            Err(_) => {
                errors.push(ConfigError::new(
                    "respond.status",
                    format!("{} is not an HTTP status code (100-999)", spec.status.unwrap_or(0)),
                ));
                StatusCode::ACCEPTED
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => errors.push(ConfigError::new(format!("respond.headers.{name}"), "invalid header name or value")),
            }
        }
        let body = match &spec.body {
            None => Bytes::new(),
            Some(serde_json::Value::String(s)) => {
                headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
                Bytes::from(s.clone())
            }
            Some(other) => {
                headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
                Bytes::from(other.to_string())
            }
        };
        if errors.len() > before {
            return None;
        }
        Some(Respond::Static(StaticReply { status, headers, body }))
    }
}

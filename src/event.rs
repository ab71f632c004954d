//! The event: one accepted webhook request, decoded once.
//!
//! Everything downstream (conditions, actions, delivery) reads the event and
//! never the HTTP request, so the router and the actions can be tested and
//! benchmarked without a server. The body is kept as the exact bytes received
//! (`Bytes`, shared, never copied) because forwards must pass them through
//! unchanged for downstream signature checks; the decoded document sits beside
//! it.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value};

/// How the body was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    /// Anything else: conditions on `json` see no document.
    Other,
}

#[derive(Debug, Clone)]
pub struct Event {
    /// ULID: unique and time-ordered.
    pub id: String,
    pub received_at: SystemTime,
    pub method: Method,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub body_kind: BodyKind,
    /// The JSON document conditions see: the parsed JSON body, or the form
    /// fields as an object.
    pub document: Option<Value>,
    pub client_addr: Option<SocketAddr>,
}

/// A body that claims to be JSON but is not.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid JSON body: {0}")]
pub struct BodyError(pub String);

impl Event {
    /// Builds an event from request parts, decoding the body by content type.
    pub fn new(
        method: Method,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        client_addr: Option<SocketAddr>,
    ) -> Result<Self, BodyError> {
        let (body_kind, document) = decode_body(&headers, &body)?;
        Ok(Event {
            id: new_event_id(),
            received_at: SystemTime::now(),
            method,
            path,
            query,
            headers,
            body,
            body_kind,
            document,
            client_addr,
        })
    }

    /// All values of header `name` as one string, joined with `, ` (as HTTP
    /// allows for repeated headers); non-UTF-8 bytes are replaced.
    pub fn header_text(&self, name: &http::header::HeaderName) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Values of query parameter `name`, percent-decoded, in order.
    pub fn query_values(&self, name: &str) -> impl Iterator<Item = String> + '_ {
        let name = name.to_string();
        form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .filter(move |(k, _)| *k == *name)
            .map(|(_, v)| v.into_owned())
    }

    /// Query parameters as a JSON object (repeated names become arrays).
    pub fn query_object(&self) -> Value {
        fields_to_object(form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes()))
    }
}

/// Generates a new event id. A process-wide generator keeps ids strictly
/// increasing even within one millisecond, so sorting by id is sorting by
/// acceptance.
pub fn new_event_id() -> String {
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut guard = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new()).to_string()
}

/// The media type without parameters, lower-cased.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

pub fn is_json_media_type(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<(BodyKind, Option<Value>), BodyError> {
    match media_type(headers).as_deref() {
        Some(m) if is_json_media_type(m) => {
            let doc = serde_json::from_slice(body).map_err(|e| BodyError(e.to_string()))?;
            Ok((BodyKind::Json, Some(doc)))
        }
        Some("application/x-www-form-urlencoded") => Ok((BodyKind::Form, Some(form_document(body)))),
        // Senders that omit the content type often still send JSON; take it
        // if it parses, without failing the request if it does not.
        None if body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[') => {
            match serde_json::from_slice(body) {
                Ok(doc) => Ok((BodyKind::Json, Some(doc))),
                Err(_) => Ok((BodyKind::Other, None)),
            }
        }
        _ => Ok((BodyKind::Other, None)),
    }
}

/// Form fields as an object. A `payload` field holding JSON (GitHub's and
/// Slack's form mode) is parsed, so `$.payload.action` works.
fn form_document(body: &[u8]) -> Value {
    let mut doc = fields_to_object(form_urlencoded::parse(body));
    if let Some(payload) = doc.get_mut("payload") {
        if let Some(parsed) = payload.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok()) {
            *payload = parsed;
        }
    }
    doc
}

fn fields_to_object<'a>(pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.into_owned(), v);
            }
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn ids_are_unique_and_increasing() {
        let ids: Vec<String> = (0..1000).map(|_| new_event_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn decodes_by_content_type() {
        let (k, d) =
            decode_body(&headers("application/vnd.github+json; charset=utf-8"), &Bytes::from_static(b"{\"a\":1}"))
                .unwrap();
        assert_eq!((k, d), (BodyKind::Json, Some(json!({"a": 1}))));
        let err = decode_body(&headers("application/json"), &Bytes::from_static(b"{\"a\":")).unwrap_err();
        assert!(err.to_string().contains("line 1 column 5"), "{err}");
        let (k, d) = decode_body(&headers("text/plain"), &Bytes::from_static(b"{\"a\":1}")).unwrap();
        assert_eq!((k, d), (BodyKind::Other, None));
    }

    #[test]
    fn form_fields_and_payload() {
        let body = Bytes::from_static(b"a=1&a=2&payload=%7B%22action%22%3A%22opened%22%7D&b=x+y");
        let (k, d) = decode_body(&headers("application/x-www-form-urlencoded"), &body).unwrap();
        assert_eq!(k, BodyKind::Form);
        assert_eq!(d, Some(json!({"a": ["1", "2"], "payload": {"action": "opened"}, "b": "x y"})));
    }
}

//! The event: one accepted webhook request, decoded once.
//!
//! Everything downstream (conditions, actions, delivery) reads the event and
//! never the HTTP request, so the router and the actions can be tested and
//! benchmarked without a server. The body is kept as the exact bytes received
//! (`Bytes`, shared, never copied) because forwards must pass them through
//! unchanged for downstream signature checks; the decoded document sits beside
//! it. A JSON body is validated when the event is made, but only the parts
//! routing reads are built then (see [`projection`]); the whole document is
//! built on first use by an action that wants it.

pub mod projection;

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
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
    document: Document,
    pub client_addr: Option<SocketAddr>,
}

/// The body as a JSON document: the parsed JSON body, or the form fields as
/// an object.
#[derive(Debug, Clone)]
struct Document {
    /// What conditions read: the body decoded under the snapshot's
    /// projection. None when the whole document was built (`whole`).
    projected: Option<Value>,
    /// The whole document, built when first asked for.
    whole: OnceLock<Option<Value>>,
}

pub use projection::Projection;

/// A body that claims to be JSON but is not.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid JSON body: {0}")]
pub struct BodyError(pub String);

impl Event {
    /// Builds an event from request parts, decoding the whole body by
    /// content type (explain, tests).
    pub fn new(
        method: Method,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        client_addr: Option<SocketAddr>,
    ) -> Result<Self, BodyError> {
        Event::projected(method, path, query, headers, body, client_addr, &Projection::full())
    }

    /// [`Event::new`], building of a JSON body only what `projection` names
    /// (the rest is validated, not built).
    pub fn projected(
        method: Method,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        client_addr: Option<SocketAddr>,
        projection: &Projection,
    ) -> Result<Self, BodyError> {
        let (body_kind, document) = decode_body(&headers, &body, projection)?;
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

    /// The whole body as a JSON document (form fields as an object), built
    /// on first use; None for a body that is neither.
    pub fn document(&self) -> Option<&Value> {
        self.document
            .whole
            .get_or_init(|| match self.body_kind {
                // Validated when the event was made, so this parse succeeds.
                BodyKind::Json => std::str::from_utf8(&self.body).ok().and_then(|t| serde_json::from_str(t).ok()),
                BodyKind::Form => Some(form_document(&self.body)),
                BodyKind::Other => None,
            })
            .as_ref()
    }

    /// The document conditions read: built along the paths the routes'
    /// conditions use (see [`projection`]), or whole.
    pub fn condition_document(&self) -> Option<&Value> {
        self.document.projected.as_ref().or_else(|| self.document())
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

fn decode_body(headers: &HeaderMap, body: &Bytes, projection: &Projection) -> Result<(BodyKind, Document), BodyError> {
    let json = |text: &str| match projection.is_full() {
        true => serde_json::from_str(text).map(|whole| Document::whole(Some(whole))),
        false => projection::decode(text, projection)
            .map(|projected| Document { projected: Some(projected), whole: OnceLock::new() }),
    };
    match media_type(headers).as_deref() {
        Some(m) if is_json_media_type(m) => {
            // JSON is UTF-8 (RFC 8259); checking it first lets the parser
            // read the text without checking it again.
            let text = std::str::from_utf8(body).map_err(|e| BodyError(format!("not UTF-8 text: {e}")))?;
            let document = json(text).map_err(|e| BodyError(e.to_string()))?;
            Ok((BodyKind::Json, document))
        }
        Some("application/x-www-form-urlencoded") => Ok((BodyKind::Form, Document::whole(Some(form_document(body))))),
        // Senders that omit the content type often still send JSON; take it
        // if it parses, without failing the request if it does not.
        None if body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[') => {
            match std::str::from_utf8(body).ok().map(json) {
                Some(Ok(document)) => Ok((BodyKind::Json, document)),
                _ => Ok((BodyKind::Other, Document::whole(None))),
            }
        }
        _ => Ok((BodyKind::Other, Document::whole(None))),
    }
}

impl Document {
    fn whole(document: Option<Value>) -> Document {
        Document { projected: None, whole: OnceLock::from(document) }
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

    fn decode(headers: &HeaderMap, body: &[u8]) -> Result<(BodyKind, Option<Value>), BodyError> {
        let event = Event::new(Method::POST, "/".into(), None, headers.clone(), Bytes::copy_from_slice(body), None)?;
        Ok((event.body_kind, event.document().cloned()))
    }

    #[test]
    fn projected_events_build_the_whole_document_on_demand() {
        let body = Bytes::from_static(b"{\"ref\":\"main\",\"big\":{\"x\":[1,2]}}");
        let mut projection = Projection::nothing();
        projection.add(Some(&["ref"]));
        let event =
            Event::projected(Method::POST, "/".into(), None, headers("application/json"), body, None, &projection)
                .unwrap();
        assert_eq!(event.condition_document(), Some(&json!({"ref": "main"})));
        assert_eq!(event.document(), Some(&json!({"ref": "main", "big": {"x": [1, 2]}})));
    }

    #[test]
    fn ids_are_unique_and_increasing() {
        let ids: Vec<String> = (0..1000).map(|_| new_event_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn decodes_by_content_type() {
        let (k, d) = decode(&headers("application/vnd.github+json; charset=utf-8"), b"{\"a\":1}").unwrap();
        assert_eq!((k, d), (BodyKind::Json, Some(json!({"a": 1}))));
        let err = decode(&headers("application/json"), b"{\"a\":").unwrap_err();
        assert!(err.to_string().contains("line 1 column 5"), "{err}");
        let err = decode(&headers("application/json"), b"{\"a\":\"\xff\"}").unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        let (k, d) = decode(&headers("text/plain"), b"{\"a\":1}").unwrap();
        assert_eq!((k, d), (BodyKind::Other, None));
    }

    #[test]
    fn form_fields_and_payload() {
        let body = Bytes::from_static(b"a=1&a=2&payload=%7B%22action%22%3A%22opened%22%7D&b=x+y");
        let (k, d) = decode(&headers("application/x-www-form-urlencoded"), &body).unwrap();
        assert_eq!(k, BodyKind::Form);
        assert_eq!(d, Some(json!({"a": ["1", "2"], "payload": {"action": "opened"}, "b": "x y"})));
    }
}

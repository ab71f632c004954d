//! The event: one accepted webhook request, decoded once.
//!
//! Everything downstream (conditions, actions, delivery) reads the event and
//! never the HTTP request, so the router and the actions can be tested and
//! benchmarked without a server. The body is kept as the exact bytes received
//! (`Bytes`, shared, never copied) because forwards must pass them through
//! unchanged for downstream signature checks; the decoded document sits beside
//! it. A JSON body is validated when the event is made, but only the parts
//! routing reads are built then (see [`projection`]); the whole document is
//! built on first use by an action that wants it. What is undone to read
//! the body (content codings, a BOM, a charset) is in [`body`].

pub(crate) mod addr_text;
pub(crate) mod body;
pub(crate) mod projection;
pub mod request;

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use encoding_rs::Encoding;
use http::{HeaderMap, Method};
use serde_json::{Map, Value};

pub use body::BodyError;
pub(crate) use body::{ReadAs, Reading};
pub use request::Request;

/// How the body was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Form,
    /// Anything else: conditions on `json` see no document.
    Other,
}

/// One decoded request: the unit routing decides on.
#[derive(Debug, Clone)]
pub struct Event {
    /// ULID: unique and time-ordered.
    pub(crate) id: String,
    pub(crate) received_at: SystemTime,
    pub(crate) method: Method,
    pub(crate) path: String,
    /// The raw query string, without `?`.
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    /// The bytes received: what signatures were checked on and what a
    /// forward without `body:` sends.
    pub(crate) body: Bytes,
    pub(crate) body_kind: BodyKind,
    /// How the body was read (codings, BOM, charset), for `explain`.
    pub(crate) reading: Reading,
    /// The body as read: content codings undone, BOM dropped, text in
    /// UTF-8. The same buffer as `body` when nothing needed undoing.
    content: Bytes,
    document: Document,
    pub(crate) client_addr: Option<SocketAddr>,
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

pub(crate) use projection::Projection;

/// How to decode a body: what to build of a JSON document, and the
/// largest body (after content codings are undone) to accept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decode<'a> {
    pub(crate) projection: &'a Projection,
    /// Bytes; the route's `max_body_bytes`.
    pub(crate) max_bytes: usize,
}

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
        let how = Decode { projection: &Projection::full(), max_bytes: crate::config::DEFAULT_MAX_BODY_BYTES };
        Event::projected(method, path, query, headers, body, client_addr, how)
    }

    /// [`Event::new`], building of a JSON body only what `how.projection`
    /// names (the rest is validated, not built), and refusing a body that
    /// decodes to more than `how.max_bytes`.
    pub(crate) fn projected(
        method: Method,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        client_addr: Option<SocketAddr>,
        how: Decode,
    ) -> Result<Self, BodyError> {
        Event::decode(Request { method, path, query, headers, body }, client_addr, how)
    }

    /// The event of a request as received (see [`Event::projected`]).
    pub(crate) fn decode(request: Request, client_addr: Option<SocketAddr>, how: Decode) -> Result<Self, BodyError> {
        let Request { method, path, query, headers, body } = request;
        let Read { kind: body_kind, document, content, reading } = read_body(&headers, &body, &how)?;
        Ok(Event {
            id: new_event_id(),
            received_at: SystemTime::now(),
            method,
            path,
            query,
            headers,
            body,
            body_kind,
            reading,
            content,
            document,
            client_addr,
        })
    }

    /// The request path, percent-encoded as received.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The whole body as a JSON document (form fields as an object), built
    /// on first use; None for a body that is neither.
    pub(crate) fn document(&self) -> Option<&Value> {
        self.document
            .whole
            .get_or_init(|| match self.body_kind {
                // Validated when the event was made, so this parse succeeds.
                BodyKind::Json => std::str::from_utf8(&self.content).ok().and_then(|t| full_decode(t).ok()),
                BodyKind::Form => {
                    let encoding = self.reading.charset.and_then(|name| Encoding::for_label(name.as_bytes()));
                    Some(form_document(&self.content, encoding))
                }
                BodyKind::Other => None,
            })
            .as_ref()
    }

    /// The body as read: content codings undone, BOM dropped, a declared
    /// charset decoded to UTF-8 (see [`body`]).
    pub(crate) fn content(&self) -> &Bytes {
        &self.content
    }

    /// The document conditions read: built along the paths the routes'
    /// conditions use (see [`projection`]), or whole.
    pub(crate) fn condition_document(&self) -> Option<&Value> {
        self.document.projected.as_ref().or_else(|| self.document())
    }

    /// All values of header `name` as one string, joined with `, ` (as HTTP
    /// allows for repeated headers); non-UTF-8 bytes are replaced.
    pub(crate) fn header_text(&self, name: &http::header::HeaderName) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Values of query parameter `name`, percent-decoded, in order.
    pub(crate) fn query_values(&self, name: &str) -> impl Iterator<Item = String> + '_ {
        let name = name.to_string();
        form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .filter(move |(k, _)| *k == *name)
            .map(|(_, v)| v.into_owned())
    }

    /// Query parameters as a JSON object (repeated names become arrays).
    pub(crate) fn query_object(&self) -> Value {
        fields_to_object(form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes()))
    }
}

/// The header naming an event's id: on the reply that accepted it and on
/// every forward of it.
pub(crate) const ID_HEADER: &str = "x-hookroute-event-id";

/// [`ID_HEADER`] as a name parsed once: a map looked up or filled by
/// `&str` parses and checks the name on every call (see
/// [`crate::actions::forward`]).
pub(crate) static ID_HEADER_NAME: http::HeaderName = http::HeaderName::from_static(ID_HEADER);

/// Generates a new event id. A process-wide generator keeps ids strictly
/// increasing even within one millisecond, so sorting by id is sorting by
/// acceptance.
pub(crate) fn new_event_id() -> String {
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut guard = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new()).to_string()
}

/// The media type without parameters, lower-cased.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

pub(crate) fn is_json_media_type(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// What decoding a body produced.
struct Read {
    kind: BodyKind,
    document: Document,
    content: Bytes,
    reading: Reading,
}

/// Reads the body (see [`body`] for the rules, in order).
fn read_body(headers: &HeaderMap, received: &Bytes, how: &Decode) -> Result<Read, BodyError> {
    let body::Decoded { mut content, content_encoding, bom_removed } = body::decode(headers, received, how.max_bytes)?;
    let projection = how.projection;
    let json = |text: &str| match projection.is_full() {
        true => full_decode(text).map(|whole| Document::whole(Some(whole))),
        false => projection::decode(text, projection)
            .map(|projected| Document { projected: Some(projected), whole: OnceLock::new() }),
    };
    // A BOM says UTF-8 whatever the label says (as the Encoding Standard
    // decides), so a charset is looked at only without one.
    let declared = || match bom_removed {
        true => Ok(None),
        false => body::declared_encoding(headers),
    };
    let mut charset = None;
    let media = media_type(headers);
    let (read_as, document) = match media.as_deref() {
        Some(m) if is_json_media_type(m) => {
            // JSON is UTF-8 (RFC 8259 §8.1) and has no charset parameter
            // (§11), but some clients label (and encode) it ISO-8859-1: a
            // body that is not UTF-8 is decoded with its declared charset.
            let mut transcoded: Option<String> = None;
            let text = match std::str::from_utf8(&content) {
                Ok(text) => text,
                Err(e) => {
                    let encoding = declared()?.ok_or_else(|| BodyError::Json(format!("not UTF-8 text: {e}")))?;
                    let text =
                        encoding.decode_without_bom_handling_and_without_replacement(&content).ok_or_else(|| {
                            BodyError::Json(format!("not valid text in its declared charset {}", encoding.name()))
                        })?;
                    charset = Some(encoding.name());
                    // A UTF-16 body's byte-order mark survives transcoding
                    // as U+FEFF; drop it as the UTF-8 one is (RFC 8259 §8.1).
                    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
                    transcoded.insert(text)
                }
            };
            let read = match text.trim_ascii().is_empty() {
                // A provider's test ping: an event without a document.
                true => (ReadAs::Empty, Document::whole(None)),
                false => (ReadAs::Json, json(text).map_err(|e| BodyError::Json(e.to_string()))?),
            };
            if let Some(text) = transcoded {
                content = Bytes::from(text);
            }
            read
        }
        Some("application/x-www-form-urlencoded") => {
            let encoding = declared()?;
            charset = encoding.map(Encoding::name);
            // `curl -d '{...}'` labels JSON as a form: a body that is, whole,
            // a JSON object or array is read as JSON. A real form never
            // starts with `{` or `[` (its first field name would be JSON).
            let as_json = match body::looks_like_json(&content) {
                true => text_of(&content, encoding)
                    .and_then(|text| Some((json(std::str::from_utf8(&text).ok()?).ok()?, text))),
                false => None,
            };
            match as_json {
                Some((document, text)) => {
                    content = text;
                    (ReadAs::JsonInForm, document)
                }
                None => (ReadAs::Form, Document::whole(Some(form_document(&content, encoding)))),
            }
        }
        Some(m) if m.starts_with("text/") => {
            let encoding = declared()?;
            if let Some(text) = encoding.and_then(|e| body::transcode(&content, e)) {
                content = text;
                charset = encoding.map(Encoding::name);
            }
            // AWS SNS posts JSON as `text/plain; charset=UTF-8`.
            let as_json = match m == "text/plain" && body::looks_like_json(&content) {
                true => std::str::from_utf8(&content).ok().and_then(|text| json(text).ok()),
                false => None,
            };
            match as_json {
                Some(document) => (ReadAs::JsonInText, document),
                None => (ReadAs::Other, Document::whole(None)),
            }
        }
        // Senders that omit the content type often still send JSON; take it
        // if it parses, without failing the request if it does not.
        None if body::looks_like_json(&content) => match std::str::from_utf8(&content).ok().map(json) {
            Some(Ok(document)) => (ReadAs::JsonUndeclared, document),
            _ => (ReadAs::Other, Document::whole(None)),
        },
        _ => (ReadAs::Other, Document::whole(None)),
    };
    let kind = match read_as {
        ReadAs::Form => BodyKind::Form,
        r if r.is_json() => BodyKind::Json,
        _ => BodyKind::Other,
    };
    let reading = Reading {
        read_as,
        content_encoding,
        bom_removed,
        charset,
        received_bytes: received.len(),
        content_bytes: content.len(),
    };
    Ok(Read { kind, document, content, reading })
}

/// The whole of a JSON text. Not `serde_json::from_str`: keeping every
/// digit of a number (`arbitrary_precision`) leaves its range unchecked,
/// and [`projection::decode`] checks it (see there).
fn full_decode(text: &str) -> serde_json::Result<Value> {
    projection::decode(text, &Projection::full())
}

/// `content` as UTF-8 text: itself, or decoded from `encoding`.
fn text_of(content: &Bytes, encoding: Option<&'static Encoding>) -> Option<Bytes> {
    match encoding {
        None => Some(content.clone()),
        Some(encoding) => body::transcode(content, encoding),
    }
}

impl Document {
    fn whole(document: Option<Value>) -> Document {
        Document { projected: None, whole: OnceLock::from(document) }
    }
}

/// Form fields as an object. A `payload` field holding JSON (GitHub's and
/// Slack's form mode) is parsed, so `$.payload.action` works.
fn form_document(body: &[u8], encoding: Option<&'static Encoding>) -> Value {
    let mut doc = match encoding {
        None => fields_to_object(form_urlencoded::parse(body)),
        Some(encoding) => fields_to_object(body::form_pairs(body, encoding)),
    };
    if let Some(payload) = doc.get_mut("payload") {
        if let Some(parsed) = payload.as_str().and_then(|s| full_decode(s).ok()) {
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
            Event::projected(Method::POST, "/".into(), None, headers("application/json"), body, None, how(&projection))
                .unwrap();
        assert_eq!(event.condition_document(), Some(&json!({"ref": "main"})));
        assert_eq!(event.document(), Some(&json!({"ref": "main", "big": {"x": [1, 2]}})));
    }

    fn how(projection: &Projection) -> Decode<'_> {
        Decode { projection, max_bytes: 1 << 20 }
    }

    fn read(ct: &str, body: &'static [u8]) -> Event {
        Event::new(Method::POST, "/".into(), None, headers(ct), Bytes::from_static(body), None).unwrap()
    }

    #[test]
    fn json_in_forms_and_text_but_real_forms_stay_forms() {
        let e = read("application/x-www-form-urlencoded", b" {\"event_type\":\"data_deleted\"}\n");
        assert_eq!(e.reading.read_as, ReadAs::JsonInForm);
        assert_eq!(e.document(), Some(&json!({"event_type": "data_deleted"})));
        let e = read("application/x-www-form-urlencoded", b"{not json}=1&b=2");
        assert_eq!((e.reading.read_as, e.document()), (ReadAs::Form, Some(&json!({"{not json}": "1", "b": "2"}))));
        let e = read("text/plain; charset=UTF-8", b"[1,2]");
        assert_eq!((e.reading.read_as, e.document()), (ReadAs::JsonInText, Some(&json!([1, 2]))));
        let e = read("text/plain", b"\"just a string\"");
        assert_eq!((e.reading.read_as, e.document()), (ReadAs::Other, None));
    }

    #[test]
    fn empty_json_has_no_document() {
        for body in [&b""[..], b"  \r\n\t", b"\xEF\xBB\xBF"] {
            let e = Event::new(Method::POST, "/".into(), None, headers("application/json"), body.into(), None).unwrap();
            assert_eq!((e.reading.read_as, e.document()), (ReadAs::Empty, None), "{body:?}");
        }
    }

    #[test]
    fn charsets_are_decoded_before_reading() {
        let e = read("application/x-www-form-urlencoded; charset=iso-8859-1", b"name=Jos%E9&raw=\xE9t\xE9");
        assert_eq!(e.document(), Some(&json!({"name": "José", "raw": "été"})));
        assert_eq!(e.reading.charset, Some("windows-1252"));
        let e = read("text/plain; charset=windows-1252", b"{\"name\":\"Jos\xE9\"}");
        assert_eq!(e.document(), Some(&json!({"name": "José"})));
        assert_eq!(&e.content()[..], "{\"name\":\"José\"}".as_bytes());
        // A JSON body labelled ISO-8859-1: UTF-8 bytes stay UTF-8, others
        // are decoded as the label says.
        let e = read("application/json; charset=iso-8859-1", "{\"n\":\"José\"}".as_bytes());
        assert_eq!((e.document(), e.reading.charset), (Some(&json!({"n": "José"})), None));
        let e = read("application/json; charset=iso-8859-1", b"{\"n\":\"Jos\xE9\"}");
        assert_eq!((e.document(), e.reading.charset), (Some(&json!({"n": "José"})), Some("windows-1252")));
        // UTF-16 with its byte-order mark: the mark is not part of the text.
        let e = read("application/json; charset=utf-16", b"\xFF\xFE{\x00}\x00");
        assert_eq!((e.document(), e.reading.charset), (Some(&json!({})), Some("UTF-16LE")));
        let err = Event::new(
            Method::POST,
            "/".into(),
            None,
            headers("application/x-www-form-urlencoded; charset=x-unknown"),
            Bytes::from_static(b"a=1"),
            None,
        )
        .err()
        .unwrap();
        assert_eq!(err.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
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
        assert_eq!((k, d), (BodyKind::Json, Some(json!({"a": 1}))));
        let (k, d) = decode(&headers("text/csv"), b"{\"a\":1}").unwrap();
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

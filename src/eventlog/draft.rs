//! A record in the making: what ingress knows of a request, filled in as
//! it goes (body, decision, actions) and finished with the answer.
//!
//! Only made when the log is enabled ([`super::EventLog::draft`]), so a
//! server without it copies nothing.

use std::net::IpAddr;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method};

use super::query::millis;
use super::record::{ActionRecord, BodyEncoding, EventRecord, Outcome, RecordedBody};
use crate::explain::CandidateTrace;
use crate::settings::EventLogSettings;

/// One request's record, being filled in.
#[derive(Debug)]
pub(crate) struct Draft {
    at: SystemTime,
    bodies: bool,
    max_body_bytes: usize,
    /// The event id, once the request became an event.
    pub(crate) id: Option<String>,
    request_id: Option<String>,
    client: Option<String>,
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    content_type: Option<String>,
    body: Option<RecordedBody>,
    /// Every candidate and why it was or was not taken.
    pub(crate) decision: Vec<CandidateTrace>,
    /// The routes taken.
    pub(crate) routes: Vec<String>,
    /// Each planned action and how it ended.
    pub(crate) actions: Vec<ActionRecord>,
    /// The event this request replays.
    pub(crate) replay_of: Option<String>,
    /// True once the request passed the door and was handed to its routes
    /// (what tells "rejected" from "failed").
    pub(crate) routed: bool,
}

impl Draft {
    pub(super) fn new(settings: &EventLogSettings) -> Draft {
        Draft {
            at: SystemTime::now(),
            bodies: settings.bodies,
            max_body_bytes: settings.max_body_bytes,
            id: None,
            request_id: None,
            client: None,
            method: String::new(),
            path: String::new(),
            query: None,
            headers: Vec::new(),
            content_type: None,
            body: None,
            decision: Vec::new(),
            routes: Vec::new(),
            actions: Vec::new(),
            replay_of: None,
            routed: false,
        }
    }

    /// The draft of a replay of event `original` (recorded whether or not
    /// the log is enabled now: the operator asked for it).
    pub(crate) fn replay(settings: &EventLogSettings, original: &str) -> Draft {
        let mut draft = Draft::new(settings);
        draft.replay_of = Some(original.to_string());
        draft
    }

    /// The client address as recorded (a replay keeps the original's).
    pub(crate) fn set_client(&mut self, client: Option<String>) {
        self.client = client;
    }

    /// The request line and headers (secrets hidden).
    pub(crate) fn request(&mut self, method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) {
        self.method = method.as_str().to_string();
        self.path = path.to_string();
        self.query = query.map(str::to_string);
        self.headers = super::redact::headers(headers);
        self.request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        self.content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    }

    /// The client address as trusted.
    pub(crate) fn client(&mut self, ip: Option<IpAddr>) {
        self.client = ip.map(|ip| ip.to_canonical().to_string());
    }

    /// The body as received; kept (cut at `max_body_bytes`) when the log
    /// keeps bodies.
    pub(crate) fn body(&mut self, body: &Bytes) {
        if !self.bodies {
            return;
        }
        let kept = &body[..body.len().min(self.max_body_bytes)];
        let (data, encoding) = match std::str::from_utf8(kept) {
            Ok(text) => (text.to_string(), BodyEncoding::Utf8),
            // A cut in the middle of a character is still text.
            Err(e) if e.error_len().is_none() && kept.len() < body.len() => {
                (String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned(), BodyEncoding::Utf8)
            }
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(kept), BodyEncoding::Base64),
        };
        self.body = Some(RecordedBody { data, encoding, size: body.len() as u64, truncated: kept.len() < body.len() });
    }

    /// The finished record: what became of the request and its answer's
    /// status.
    pub(crate) fn finish(self, outcome: Outcome, status: u16) -> EventRecord {
        EventRecord {
            id: self.id.unwrap_or_else(crate::event::new_event_id),
            time: humantime::format_rfc3339_millis(self.at).to_string(),
            time_ms: millis(self.at),
            request_id: self.request_id,
            client: self.client,
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            content_type: self.content_type,
            body: self.body,
            outcome,
            status,
            routes: self.routes,
            decision: self.decision,
            actions: self.actions,
            replay_of: self.replay_of,
        }
    }
}

//! What the event log holds of one request: [`EventRecord`], and the
//! shorter [`EventSummary`] a listing shows.
//!
//! These are the stored format (JSON, in redb or JetStream) and the admin
//! API's answer alike, so a field added later must be optional
//! (`#[serde(default)]`): records written by an older version still read.

use serde::{Deserialize, Serialize};

use crate::explain::{ActionPreview, CandidateTrace};

/// One request as the event log keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    /// The event id (ULID): the `X-Hookroute-Event-Id` a routed request was
    /// answered with; for a request refused before it became an event, a
    /// fresh id of the same kind. Ids sort by time received.
    pub id: String,
    /// When it was received, RFC 3339 with milliseconds (UTC).
    pub time: String,
    /// The same instant in milliseconds since the Unix epoch, for filters.
    pub time_ms: u64,
    /// The access log's request id (`X-Request-Id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client address as trusted (`X-Forwarded-For` only from
    /// `trusted_proxies`), or the peer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Request headers in received order, credential and secret-bearing
    /// ones shown as `***` (see `eventlog::redact`).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body as received, cut at `event_log.max_body_bytes`; None with
    /// `event_log.bodies: false` or when the body was never read (a
    /// refusal before reading it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<RecordedBody>,
    /// What became of it.
    pub outcome: Outcome,
    /// The status the sender was answered.
    pub status: u16,
    /// The routes taken, in order.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Every candidate route (path and method fit) and why it was or was
    /// not taken: what `hookroute explain` prints, from the same
    /// evaluation. Empty for a request refused before its conditions ran.
    #[serde(default)]
    pub decision: Vec<CandidateTrace>,
    /// Each planned action of the routes taken, as rendered, and how it
    /// ended when the request was answered. The attempts of queued
    /// forwards are the delivery jobs' (see [`EventDetail::jobs`]).
    #[serde(default)]
    pub actions: Vec<ActionRecord>,
    /// The event this one replays (`POST /-/events/{id}/replay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// A recorded body: text when it is UTF-8, base64 otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecordedBody {
    /// The bytes kept: UTF-8 text as is, anything else base64 (`encoding`).
    pub data: String,
    /// `utf8` or `base64`.
    pub encoding: BodyEncoding,
    /// Bytes received in all.
    pub size: u64,
    /// True when only the first `max_body_bytes` were kept.
    pub truncated: bool,
}

/// How [`RecordedBody::data`] is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BodyEncoding {
    Utf8,
    Base64,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// At least one route took it, and it was answered 2xx.
    Taken,
    /// No route's conditions held (answered 202 all the same).
    Ignored,
    /// Refused before any action ran: 401 signature, 403 allowlist, 404,
    /// 405, 408, 413, 415, 429, 400. `reason` is the refusal's message.
    Rejected { status: u16, reason: String },
    /// A redelivery of an accepted event (a route's `dedup:`), answered as
    /// the first one and not processed again.
    Deduplicated { original: String },
    /// Routed but not handled: a file action or the store failed, the
    /// reply could not be rendered, a relayed forward failed (5xx).
    Failed { status: u16, reason: String },
}

/// The outcome kinds, for filters: `taken`, `ignored`, `rejected`,
/// `deduplicated`, `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OutcomeKind {
    Taken,
    Ignored,
    Rejected,
    Deduplicated,
    Failed,
}

impl Outcome {
    /// The kind, without its details.
    pub(crate) fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Taken => OutcomeKind::Taken,
            Outcome::Ignored => OutcomeKind::Ignored,
            Outcome::Rejected { .. } => OutcomeKind::Rejected,
            Outcome::Deduplicated { .. } => OutcomeKind::Deduplicated,
            Outcome::Failed { .. } => OutcomeKind::Failed,
        }
    }
}

impl OutcomeKind {
    /// The name used in the API and the filters.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Taken => "taken",
            OutcomeKind::Ignored => "ignored",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::Deduplicated => "deduplicated",
            OutcomeKind::Failed => "failed",
        }
    }

    /// Reads a filter value (`taken`, `ignored`, …).
    pub(crate) fn parse(text: &str) -> Option<OutcomeKind> {
        [
            OutcomeKind::Taken,
            OutcomeKind::Ignored,
            OutcomeKind::Rejected,
            OutcomeKind::Deduplicated,
            OutcomeKind::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One planned action of a route taken, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ActionRecord {
    /// The route it belongs to.
    pub route: String,
    /// The action as rendered for the event (as `explain` shows it; a
    /// forward's body is left out when it is the request's own).
    pub rendered: ActionPreview,
    /// How it ended when the sender was answered.
    pub result: ActionResult,
    /// For a queued forward: its delivery job's id (attempts:
    /// `GET /-/events/{id}` or `GET /-/deliveries/{job}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an action ended when the sender was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ActionResult {
    /// A log line or file line written; a relayed forward answered 2xx.
    Ok,
    /// Handed to delivery (its attempts are the job's).
    Queued,
    /// It failed (see `error`).
    Failed,
    /// Not run: the request failed before it, or dedup caught the route.
    Skipped,
}

/// An event as a listing shows it: no headers, body or decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventSummary {
    pub id: String,
    pub time: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub outcome: Outcome,
    pub status: u16,
    pub routes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

impl From<&EventRecord> for EventSummary {
    fn from(r: &EventRecord) -> Self {
        EventSummary {
            id: r.id.clone(),
            time: r.time.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            client: r.client.clone(),
            outcome: r.outcome.clone(),
            status: r.status,
            routes: r.routes.clone(),
            replay_of: r.replay_of.clone(),
        }
    }
}

/// One event with the delivery jobs of its forwards: `GET /-/events/{id}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventDetail {
    pub event: EventRecord,
    /// Every delivery job of the event (each with its attempts: time,
    /// status, latency, error, upstream headers), oldest first, exactly as
    /// `GET /-/deliveries/{id}` shows a job (credentials hidden). Empty
    /// when none was queued or they were pruned by `retention:`.
    pub jobs: Vec<serde_json::Value>,
}

/// A page of events, newest first: `GET /-/events`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventPage {
    pub events: Vec<EventSummary>,
    /// Pass as `cursor` for the next (older) page; None on the last.
    pub next_cursor: Option<String>,
}

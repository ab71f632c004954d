//! `POST /-/preview`: a changed config run against recorded traffic.
//!
//! Each recorded event is rebuilt as the request it was (method, path,
//! query, headers, body) and explained against the live snapshot and the
//! new one ([`crate::explain::explain_as`], which decides with
//! [`crate::router::Snapshot::decide`]): the routes taken, the reply and
//! each action as rendered are compared. Nothing is executed. The event
//! keeps its recorded id on both sides, so only what the config changes
//! differs.
//!
//! Limits, said in each event's `note`: a header the log hid (`***`)
//! is compared as hidden, and an event recorded without its body (or with
//! a cut one) is compared on what was kept.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;

use super::record::{BodyEncoding, EventRecord};
use crate::explain::{explain_as, ActionPreview, Explanation, Request};
use crate::router::Snapshot;

/// The answer of a preview.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PreviewReport {
    /// Events run through both configs.
    pub compared: usize,
    /// Of those, the ones whose routes, reply or actions differ.
    pub changed: usize,
    /// Every event compared, newest first; `changes` is empty for an
    /// unchanged one.
    pub events: Vec<EventChange>,
    /// Warnings `hookroute check` would print for the new config.
    pub warnings: Vec<String>,
}

/// One event under the live and the new config.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventChange {
    pub id: String,
    pub time: String,
    pub method: String,
    pub path: String,
    /// What differs: `routes`, `reply`, `actions` (empty: nothing).
    pub changes: Vec<&'static str>,
    pub live: Side,
    pub new: Side,
    /// Why the comparison may be partial (body not kept, hidden headers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What one config makes of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Side {
    /// `routed`, `not_found`, `method_not_allowed` or `bad_body`.
    pub outcome: String,
    /// The routes taken, in order.
    pub routes: Vec<String>,
    /// The status the sender would get; None when it is a relayed
    /// forward's own answer.
    pub status: Option<u16>,
    /// The reply body, when hookroute writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_body: Option<String>,
    /// The actions of each route taken, rendered.
    pub actions: Vec<RouteActions>,
}

/// The rendered actions of one route taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RouteActions {
    pub route: String,
    pub actions: Vec<ActionPreview>,
}

impl From<Explanation> for Side {
    fn from(e: Explanation) -> Self {
        Side {
            outcome: e.outcome.to_string(),
            routes: e.taken,
            status: e.status,
            reply_body: e.reply_body,
            actions: e
                .candidates
                .into_iter()
                .filter(|c| c.taken)
                .map(|c| RouteActions { route: c.route, actions: c.actions })
                .collect(),
        }
    }
}

/// Runs `events` through `live` and `next` and reports the differences.
/// CPU-bound: call it off the async runtime.
pub(crate) fn compare(
    live: &Snapshot,
    next: &Snapshot,
    events: &[EventRecord],
    warnings: Vec<String>,
) -> PreviewReport {
    let mut out = PreviewReport { compared: 0, changed: 0, events: Vec::with_capacity(events.len()), warnings };
    for record in events {
        let Some((request, note)) = rebuild(record) else { continue };
        let live_side = Side::from(explain_as(live, request.clone(), Some(&record.id)));
        let new_side = Side::from(explain_as(next, request, Some(&record.id)));
        let mut changes = Vec::new();
        if live_side.routes != new_side.routes || live_side.outcome != new_side.outcome {
            changes.push("routes");
        }
        if live_side.status != new_side.status || live_side.reply_body != new_side.reply_body {
            changes.push("reply");
        }
        if live_side.actions != new_side.actions {
            changes.push("actions");
        }
        out.compared += 1;
        if !changes.is_empty() {
            out.changed += 1;
        }
        out.events.push(EventChange {
            id: record.id.clone(),
            time: record.time.clone(),
            method: record.method.clone(),
            path: record.path.clone(),
            changes,
            live: live_side,
            new: new_side,
            note,
        });
    }
    out
}

/// The request a record was, as far as it was kept, and what is missing.
pub(crate) fn rebuild(record: &EventRecord) -> Option<(Request, Option<String>)> {
    let method = Method::from_bytes(record.method.as_bytes()).ok()?;
    let mut notes = Vec::new();
    let mut headers = HeaderMap::new();
    for (name, value) in &record.headers {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            continue;
        };
        if value == super::redact::HIDDEN {
            notes.push(format!("header {name} was recorded hidden"));
        }
        headers.append(name, value);
    }
    let body = match &record.body {
        None => {
            notes.push("the body was not recorded".to_string());
            Bytes::new()
        }
        Some(b) => {
            if b.truncated {
                notes.push(format!("the body was recorded cut at {} of {} bytes", b.data.len(), b.size));
            }
            match b.encoding {
                BodyEncoding::Utf8 => Bytes::from(b.data.clone()),
                BodyEncoding::Base64 => {
                    Bytes::from(base64::engine::general_purpose::STANDARD.decode(&b.data).unwrap_or_default())
                }
            }
        }
    };
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Some((Request { method, path: record.path.clone(), query: record.query.clone(), headers, body }, note))
}

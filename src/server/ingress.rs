//! The public ingress: HTTP request → [`Event`] → router → reply.
//!
//! Thin on purpose: it resolves the path and method first (so a 404 or 405
//! never reads a body), passes the door ([`crate::guard`]: allowlist, size,
//! read timeout, signature — on the raw bytes), decodes the body into an
//! event (content codings, BOM and charset: [`crate::event::body`]) and hands over to the router and the pipeline. Every error is a
//! JSON `{"error": ...}` with the status a sender can act on. The access
//! log, request id and request metrics wrap `handle` from outside
//! ([`crate::observe::access`]); `handle` only notes what it decided.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{HeaderValue, ALLOW, CONTENT_LENGTH};
use http::{HeaderMap, Method, StatusCode};
use warp::Filter;

use super::door;
use super::listener::ClientAddr;
use super::state::App;
use crate::event::{Decode, Event};
use crate::eventlog::preview::rebuild;
use crate::eventlog::{Draft, EventLog, Outcome, ReplayError, Replayed};
use crate::explain::candidate_trace;
use crate::guard;
use crate::matcher::path::Candidate;
use crate::observe::trace::{self, RequestTrace};
use crate::observe::{Access, Note};
use crate::router::Lookup;
use crate::server::Reply;
use crate::settings::Loaded;

pub(crate) fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = std::convert::Infallible> + Clone {
    let query = warp::query::raw().map(Some).or(warp::any().map(|| None)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  mut headers,
                  client: Option<ClientAddr>,
                  body| {
                let app = app.clone();
                async move {
                    // Access log, request id and request metrics: see crate::observe::access.
                    let access = Access::begin(&method, path.as_str(), client.map(|c| c.0), &mut headers);
                    // The request's span (`telemetry:`): inert without it.
                    let trace = RequestTrace::begin(&method, path.as_str(), &headers);
                    let mut note = Note::default();
                    let path = path.as_str().to_string();
                    // The event log's draft of this request, when it is on.
                    let mut draft = EventLog::draft(&app.settings().event_log);
                    if let Some(d) = draft.as_mut() {
                        d.request(&method, &path, query.as_deref(), &headers);
                        d.client(client.map(|c| c.0.ip()));
                    }
                    let mut reply = trace
                        .scope(handle(&*app, &mut note, method, path, query, headers, client, body, draft.as_mut()))
                        .await;
                    trace.finish(reply.status, &note.routes, note.event_id.as_deref());
                    if let Some(d) = draft {
                        app.event_log().record(finish(d, &reply));
                    }
                    access.finish(note, reply.status, &mut reply.headers, reply.body.len());
                    into_response(reply)
                }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            // Every filter above accepts any request; this is only a guard.
            Ok::<_, std::convert::Infallible>(into_response(Reply::error(StatusCode::BAD_REQUEST, "malformed request")))
        })
        .unify()
}

#[allow(clippy::too_many_arguments)]
async fn handle<S, B>(
    app: &App,
    note: &mut Note,
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    client: Option<ClientAddr>,
    body: S,
    mut draft: Option<&mut Draft>,
) -> Reply
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    // One config (routes and settings) for the request's whole life,
    // whatever reloads happen.
    let active = app.active();
    let (snapshot, settings) = (&active.snapshot, &active.settings);
    let candidates = match snapshot.lookup(&path, &method) {
        Lookup::NotFound => {
            note.refuse("not_found");
            return Reply::error(StatusCode::NOT_FOUND, format!("no route for path {path}"));
        }
        Lookup::MethodNotAllowed { allow } => {
            note.refuse("method");
            let list = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            let mut reply = Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} not allowed for {path}; allowed: {list}"),
            );
            if let Ok(v) = HeaderValue::from_str(&list) {
                reply.headers.insert(ALLOW, v);
            }
            return reply;
        }
        Lookup::Candidates(c) => c,
    };
    // The door (see crate::guard): address, size, signature — all before
    // the body is decoded or any action runs.
    let who = guard::Client::resolve(&settings.security.trusted_proxies, client.map(|c| c.0), &headers);
    note.client_ip = who.ip;
    if let Some(d) = draft.as_deref_mut() {
        d.client(who.ip);
    }
    let candidates = match door::admit(snapshot, candidates, &who) {
        Ok(c) => c,
        Err(refusal) => {
            note.refused_by_door(refusal.reason());
            return door::refusal_reply(refusal);
        }
    };
    let limit = snapshot.body_limit(&candidates);
    let read_timeout = settings.security.body_read_timeout;
    let body = match tokio::time::timeout(read_timeout, read_body(body, &headers, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(reply)) => {
            note.refuse(if reply.status == StatusCode::PAYLOAD_TOO_LARGE { "size" } else { "body" });
            return reply;
        }
        Err(_) => {
            note.timed_out();
            return door::body_timeout(read_timeout, &who);
        }
    };
    if let Some(d) = draft.as_deref_mut() {
        d.body(&body);
    }
    let candidates = door::fits_body(snapshot, candidates, body.len());
    let verified = {
        let _step = trace::step("verify");
        door::verify(snapshot, candidates, &headers, &body, SystemTime::now(), &who)
    };
    let candidates = match verified {
        Ok(c) => c,
        Err(refusal) => {
            note.refused_by_door(refusal.reason());
            return door::refusal_reply(refusal);
        }
    };
    // Decoding comes after the signature check: an unauthenticated sender
    // cannot make the server inflate anything. The decoded size is bounded
    // by the largest limit of the routes still in the running, and routes
    // with a smaller one are dropped as for the received size.
    let how = Decode { projection: &snapshot.projection, max_bytes: snapshot.body_limit(&candidates) };
    let event = match Event::projected(method, path, query, headers, body, client.map(|c| c.0), how) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            let status = e.status();
            note.refuse(if status == StatusCode::PAYLOAD_TOO_LARGE { "size" } else { "body" });
            return Reply::error(status, e);
        }
    };
    let candidates = door::fits_body(snapshot, candidates, event.content().len());
    note.event_id = Some(event.id.clone());
    route(app, note, &active, event, candidates, Some(&who), draft).await
}

/// The routing part of a request that passed the door (and of a replay,
/// which skips it: `who` None): conditions, rate limits, the pipeline.
async fn route(
    app: &App,
    note: &mut Note,
    active: &Loaded,
    event: Arc<Event>,
    candidates: Vec<Candidate>,
    who: Option<&guard::Client>,
    mut draft: Option<&mut Draft>,
) -> Reply {
    let snapshot = &active.snapshot;
    if let Some(d) = draft.as_deref_mut() {
        d.id = Some(event.id.clone());
    }
    // The reasons cost a traced evaluation per candidate: only for the log.
    let traced = draft.is_some().then(|| candidates.clone());
    let matched = snapshot.select(candidates, &event);
    if let (Some(d), Some(traced)) = (draft.as_deref_mut(), traced) {
        d.decision = snapshot.considered(&traced, &event, &matched).iter().map(candidate_trace).collect();
        d.routes = matched.iter().map(|m| snapshot.routes[m.route].name.to_string()).collect();
    }
    if let Some(who) = who {
        if let Err(refusal) = door::rate(snapshot, &matched, who) {
            note.refused_by_door(refusal.reason());
            return door::refusal_reply(refusal);
        }
    }
    note.routed(
        app.stats(),
        matched.iter().map(|m| (&snapshot.routes[m.route].name, &snapshot.routes[m.route].metrics)),
    );
    if let Some(d) = draft.as_deref_mut() {
        d.routed = true;
    }
    let reply = app.run(active, event, &matched, draft).await;
    // A redelivery caught by dedup is answered with the first delivery's
    // event id: the access line shows the id the sender was given.
    if let Some(id) = reply.headers.get(&crate::event::ID_HEADER_NAME).and_then(|v| v.to_str().ok()) {
        if note.event_id.as_deref() != Some(id) {
            note.event_id = Some(id.to_string());
        }
    }
    reply
}

/// The record of a request, from its draft and the answer it got.
fn finish(draft: Draft, reply: &Reply) -> crate::eventlog::EventRecord {
    let status = reply.status.as_u16();
    let reason = || {
        serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| reply.status.canonical_reason().unwrap_or_default().to_string())
    };
    let answered_as = reply.headers.get(&crate::event::ID_HEADER_NAME).and_then(|v| v.to_str().ok());
    let outcome = match answered_as {
        Some(original) if draft.id.as_deref().is_some_and(|id| id != original) => {
            Outcome::Deduplicated { original: original.to_string() }
        }
        _ if !draft.routed => Outcome::Rejected { status, reason: reason() },
        _ if status >= 500 => Outcome::Failed { status, reason: reason() },
        _ if draft.routes.is_empty() => Outcome::Ignored,
        _ => Outcome::Taken,
    };
    draft.finish(outcome, status)
}

/// `POST /-/events/{id}/replay`: the recorded request, routed by the
/// active config as if it arrived now. The door is not passed again: its
/// signature and address were checked when it arrived, and a signature's
/// timestamp would now be stale.
pub(crate) async fn replay(app: &App, id: &str) -> Result<Replayed, ReplayError> {
    let record = app.event_log().get(id).await?.ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
    match &record.body {
        None if record.content_type.is_some() || record.method != "GET" => {
            return Err(ReplayError::NotReplayable(
                id.to_string(),
                "its body was not recorded (event_log.bodies: false, or refused before it was read)".into(),
            ))
        }
        Some(b) if b.truncated => {
            return Err(ReplayError::NotReplayable(
                id.to_string(),
                format!("its body was recorded cut at event_log.max_body_bytes ({} of {} bytes)", b.data.len(), b.size),
            ))
        }
        _ => {}
    }
    let (request, _) = rebuild(&record)
        .ok_or_else(|| ReplayError::NotReplayable(id.to_string(), format!("bad method {}", record.method)))?;
    let active = app.active();
    let mut draft = Draft::replay(&active.settings.event_log, id);
    draft.request(&request.method, &request.path, request.query.as_deref(), &request.headers);
    draft.body(&request.body);
    draft.set_client(record.client.clone());
    let reply = replay_request(app, &active, request, &mut draft).await;
    let routes = draft.routes.clone();
    let new = finish(draft, &reply);
    let replayed = Replayed {
        id: new.id.clone(),
        replay_of: id.to_string(),
        status: reply.status.as_u16(),
        body: String::from_utf8_lossy(&reply.body).into_owned(),
        routes,
    };
    app.event_log().record(new);
    Ok(replayed)
}

async fn replay_request(app: &App, active: &Loaded, request: crate::event::Request, draft: &mut Draft) -> Reply {
    let snapshot = &active.snapshot;
    let crate::event::Request { method, path, query, headers, body } = request;
    let candidates = match snapshot.lookup(&path, &method) {
        Lookup::Candidates(c) => c,
        Lookup::NotFound => return Reply::error(StatusCode::NOT_FOUND, format!("no route for path {path}")),
        Lookup::MethodNotAllowed { .. } => {
            return Reply::error(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} not allowed for {path}"))
        }
    };
    let how = Decode { projection: &snapshot.projection, max_bytes: snapshot.body_limit(&candidates) };
    let event = match Event::projected(method, path, query, headers, body, None, how) {
        Ok(e) => Arc::new(e),
        Err(e) => return Reply::error(e.status(), e),
    };
    let candidates = door::fits_body(snapshot, candidates, event.content().len());
    let mut note = Note::default();
    route(app, &mut note, active, event, candidates, None, Some(draft)).await
}

/// Reads the body, refusing (413) as soon as it is known to exceed `limit`:
/// from Content-Length before reading anything, or while streaming.
async fn read_body<S, B>(mut body: S, headers: &HeaderMap, limit: usize) -> Result<Bytes, Reply>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let too_large =
        || Reply::error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds the limit of {limit} bytes"));
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // A body that arrives in one piece (most webhooks: the whole request
    // fits in one read) is kept as the piece hyper read, without a copy.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| Reply::error(StatusCode::BAD_REQUEST, format!("could not read request body: {e}")))?;
        let so_far = first.as_ref().map_or(0, Bytes::len) + buf.len();
        if so_far + chunk.remaining() > limit {
            return Err(too_large());
        }
        if first.is_none() && buf.is_empty() {
            first = Some(chunk.copy_to_bytes(chunk.remaining()));
            continue;
        }
        if let Some(piece) = first.take() {
            buf.reserve(declared.unwrap_or(0).max(piece.len() + chunk.remaining()));
            buf.extend_from_slice(&piece);
        }
        buf.put(chunk);
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

pub(crate) fn into_response(reply: Reply) -> http::Response<Bytes> {
    let mut response = http::Response::new(reply.body);
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    response
}

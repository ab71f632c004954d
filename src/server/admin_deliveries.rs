//! The admin API's delivery endpoints: list, inspect and replay jobs.
//!
//! - `GET /-/deliveries?status=pending|succeeded|dead&route=NAME&event=ID&limit=N&cursor=C`:
//!   newest first, `limit` per page (default 50, at most 500), with
//!   `next_cursor` while there is more.
//! - `GET /-/deliveries/{id}`: one job with its request and full attempt
//!   history; secret-looking headers and the credentials in URLs (also in
//!   the listing) are redacted. `{id}` may also be an event id — the `id`
//!   of the sender's 202, which is what an operator has at hand — answered
//!   as `{"event_id", "deliveries": [job, …]}`.
//! - `POST /-/deliveries/{id}/retry`: a dead or succeeded job gets a new
//!   round of attempts (409 if it is still pending); for an event id, every
//!   dead job of the event (409 when it has none).
//! - `POST /-/deliveries/retry?status=dead&route=NAME&event=ID`: the same in bulk.
//! - `GET /-/destinations`: each destination attempted since start with its
//!   circuit breaker (`closed`, `half_open`, `open` and until when), its
//!   waiting and in-flight jobs.
//!
//! Listings and retries also carry `destinations`: those of the jobs shown
//! whose breaker is not closed, so a replay that will wait for a breaker
//! says so.
//!
//! Store problems answer 503 with `Retry-After`, like the ingress.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER};
use http::StatusCode;
use serde_json::{json, Value};
use warp::Filter;

use super::ingress::into_response;
use super::state::App;
use crate::delivery::destination::BreakerState;
use crate::delivery::job::{Timestamp, Work};
use crate::delivery::scheduler::DestinationView;
use crate::delivery::{Filter as JobFilter, JobRecord, ReplayOutcome, ReplaySelector, Status, StoreError};
use crate::server::Reply;

pub(crate) const DEFAULT_LIMIT: usize = 50;
pub(crate) const MAX_LIMIT: usize = 500;

pub(crate) fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = warp::Rejection> + Clone {
    let query = || warp::query::raw().or(warp::any().map(String::new)).unify().map(|q: String| parse_query(&q));
    let list_app = app.clone();
    let list = warp::path!("-" / "deliveries").and(warp::get()).and(query()).then(move |q| {
        let app = list_app.clone();
        async move { into_response(list(&*app, q).await) }
    });
    let bulk_app = app.clone();
    let bulk = warp::path!("-" / "deliveries" / "retry").and(warp::post()).and(query()).then(move |q| {
        let app = bulk_app.clone();
        async move { into_response(retry_many(&*app, q).await) }
    });
    let show_app = app.clone();
    let show = warp::path!("-" / "deliveries" / String).and(warp::get()).then(move |id: String| {
        let app = show_app.clone();
        async move { into_response(show(&*app, &id).await) }
    });
    let retry_app = app.clone();
    let retry = warp::path!("-" / "deliveries" / String / "retry").and(warp::post()).then(move |id: String| {
        let app = retry_app.clone();
        async move { into_response(retry_one(&*app, &id).await) }
    });
    let destinations = warp::path!("-" / "destinations").and(warp::get()).map(move || {
        let all: Vec<Value> = app.delivery().destinations().iter().map(destination).collect();
        into_response(Reply::json(StatusCode::OK, &json!({ "destinations": all })))
    });
    list.or(bulk).unify().or(show).unify().or(retry).unify().or(destinations).unify()
}

fn parse_query(raw: &str) -> HashMap<String, String> {
    form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

/// A `status` parameter that names no job status.
#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?}; use pending, succeeded or dead")]
struct UnknownStatus(String);

/// The `status` and `route` parameters; a bad status is explained.
fn job_filter(q: &HashMap<String, String>) -> Result<JobFilter, UnknownStatus> {
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| UnknownStatus(s.to_string()))?),
    };
    let route = q.get("route").filter(|r| !r.is_empty()).cloned();
    let event = q.get("event").filter(|e| !e.is_empty()).cloned();
    Ok(JobFilter { status, route, event })
}

async fn list(app: &App, q: HashMap<String, String>) -> Reply {
    let filter = match job_filter(&q) {
        Ok(f) => f,
        Err(message) => return Reply::error(StatusCode::BAD_REQUEST, message),
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Reply::error(StatusCode::BAD_REQUEST, format!("limit must be a number from 1 to {MAX_LIMIT}"))
        }
    };
    let cursor = q.get("cursor").filter(|c| !c.is_empty()).cloned();
    match app.delivery().list(filter, cursor, limit).await {
        Ok(page) => Reply::json(
            StatusCode::OK,
            &json!({
                "deliveries": page.jobs.iter().map(summary).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor,
                "destinations": held_back(app, &page.jobs),
            }),
        ),
        Err(e) => unavailable(e),
    }
}

async fn show(app: &App, id: &str) -> Reply {
    match app.delivery().job(id).await {
        Ok(Some(job)) => return Reply::json(StatusCode::OK, &detail(&job)),
        Ok(None) => {}
        Err(e) => return unavailable(e),
    }
    // Not a job id: perhaps the event id the sender got.
    match app.delivery().event_jobs(id).await {
        Ok(jobs) if jobs.is_empty() => not_found(app, id),
        Ok(jobs) => Reply::json(
            StatusCode::OK,
            &json!({ "event_id": id, "deliveries": jobs.iter().map(detail).collect::<Vec<_>>() }),
        ),
        Err(e) => unavailable(e),
    }
}

async fn retry_one(app: &App, id: &str) -> Reply {
    match app.delivery().job(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return retry_event(app, id).await,
        Err(e) => return unavailable(e),
    }
    match app.delivery().replay(ReplaySelector::One(id.to_string())).await {
        Ok(ReplayOutcome::Replayed(jobs)) => replayed(app, &jobs),
        Ok(ReplayOutcome::NotFound) => not_found(app, id),
        Ok(ReplayOutcome::AlreadyPending) => Reply::error(
            StatusCode::CONFLICT,
            format!("delivery {id} is still pending; it will be attempted again on its own"),
        ),
        Err(e) => unavailable(e),
    }
}

/// Retries the dead jobs of event `id`. Its succeeded jobs are left alone:
/// replaying an event must not send again what its destination already
/// took (a succeeded job can still be retried by its own id).
async fn retry_event(app: &App, id: &str) -> Reply {
    let jobs = match app.delivery().event_jobs(id).await {
        Ok(jobs) if jobs.is_empty() => return not_found(app, id),
        Ok(jobs) => jobs,
        Err(e) => return unavailable(e),
    };
    let count = |status| jobs.iter().filter(|j| j.status == status).count();
    if count(Status::Dead) == 0 {
        return Reply::error(
            StatusCode::CONFLICT,
            format!(
                "event {id} has no dead deliveries ({} pending, {} succeeded); pending ones are attempted on their \
                 own, and a succeeded one is sent again only when retried by its own id",
                count(Status::Pending),
                count(Status::Succeeded)
            ),
        );
    }
    let filter = JobFilter { status: Some(Status::Dead), route: None, event: Some(id.to_string()) };
    match app.delivery().replay(ReplaySelector::Matching(filter)).await {
        Ok(ReplayOutcome::Replayed(jobs)) => replayed(app, &jobs),
        Ok(_) => Reply::json(StatusCode::ACCEPTED, &json!({ "retried": 0, "deliveries": [] })),
        Err(e) => unavailable(e),
    }
}

/// 202 for jobs given a new round: each of them, and the destinations
/// whose breaker will hold them back.
fn replayed(app: &App, jobs: &[JobRecord]) -> Reply {
    Reply::json(
        StatusCode::ACCEPTED,
        &json!({
            "retried": jobs.len(),
            "deliveries": jobs.iter().map(summary).collect::<Vec<_>>(),
            "destinations": held_back(app, jobs),
        }),
    )
}

async fn retry_many(app: &App, q: HashMap<String, String>) -> Reply {
    let mut filter = match job_filter(&q) {
        Ok(f) => f,
        Err(message) => return Reply::error(StatusCode::BAD_REQUEST, message),
    };
    match filter.status {
        Some(Status::Pending) => {
            return Reply::error(StatusCode::BAD_REQUEST, "pending deliveries are retried on their own; use dead")
        }
        None => filter.status = Some(Status::Dead),
        Some(_) => {}
    }
    match app.delivery().replay(ReplaySelector::Matching(filter)).await {
        Ok(ReplayOutcome::Replayed(jobs)) => {
            Reply::json(StatusCode::ACCEPTED, &json!({ "retried": jobs.len(), "destinations": held_back(app, &jobs) }))
        }
        Ok(_) => Reply::json(StatusCode::ACCEPTED, &json!({ "retried": 0 })),
        Err(e) => unavailable(e),
    }
}

/// What an unknown id can mean, so the operator knows where to look next.
fn not_found(app: &App, id: &str) -> Reply {
    let kept = match app.delivery().retention() {
        Some(r) => format!(
            " (here: succeeded ones {}, dead ones {})",
            humantime::format_duration(r.succeeded),
            humantime::format_duration(r.dead)
        ),
        None => String::new(),
    };
    Reply::error(
        StatusCode::NOT_FOUND,
        format!(
            "no delivery and no event {id} in the store. Both ids work here: a delivery's id (from \
             `hookroute deliveries list`) or an event's (the `id` in the sender's 202). An event has stored \
             deliveries only if a route with a durable `forward` took it (`log`, `file`, `respond: {{from: \
             forward}}` and `delivery: memory` store none), and finished deliveries are removed after their \
             retention{kept}."
        ),
    )
}

fn unavailable(e: StoreError) -> Reply {
    let mut reply = Reply::error(StatusCode::SERVICE_UNAVAILABLE, e);
    reply.headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
    reply
}

/// The destinations of `jobs` whose breaker is not closed: their jobs wait.
fn held_back(app: &App, jobs: &[JobRecord]) -> Vec<Value> {
    app.delivery()
        .destinations()
        .iter()
        .filter(|d| d.breaker != BreakerState::Closed && jobs.iter().any(|j| j.destination == d.name))
        .map(destination)
        .collect()
}

fn destination(d: &DestinationView) -> Value {
    json!({
        "destination": d.name,
        "breaker": d.breaker.as_str(),
        "open_until": d.open_until.map(Timestamp),
        "consecutive_failures": d.failures,
        "waiting": d.waiting,
        "in_flight": d.in_flight,
    })
}

/// One line of a listing.
fn summary(job: &JobRecord) -> Value {
    let last = job.attempts.last();
    json!({
        "id": job.id,
        "event_id": job.event_id,
        "route": job.route,
        "status": job.status,
        "destination": job.destination,
        "kind": job.request.kind(),
        "method": match &job.request { Work::Http(t) => Some(t.method.as_str()), _ => None },
        "url": match &job.request { Work::Http(t) => Some(crate::redact::url(&t.url)), _ => None },
        "to": job.request.describe(),
        "attempts": job.attempts.len(),
        "last_status": last.and_then(|a| a.status),
        "last_error": last.and_then(|a| a.error.as_deref()).map(crate::redact::text),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "next_attempt_at": job.next_attempt_at,
        "dead_reason": job.dead_reason.as_deref().map(crate::redact::text),
    })
}

/// The whole record, with credentials hidden: in headers, and in the URL,
/// attempt errors and dead reason (`user:pass@`, query values; see
/// [`crate::redact`]). The job keeps them to send them; whoever reads the
/// admin API need not see them.
fn detail(job: &JobRecord) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or_default();
    if let Some(url) = value.pointer_mut("/request/url") {
        if let Some(text) = url.as_str() {
            *url = json!(crate::redact::url(text));
        }
    }
    if let Some(reason) = value.pointer_mut("/dead_reason") {
        if let Some(text) = reason.as_str() {
            *reason = json!(crate::redact::text(text));
        }
    }
    if let Some(attempts) = value.pointer_mut("/attempts").and_then(Value::as_array_mut) {
        for attempt in attempts {
            if let Some(error) = attempt.get_mut("error") {
                if let Some(text) = error.as_str() {
                    *error = json!(crate::redact::text(text));
                }
            }
            // The upstream's answer headers: a `Location` may carry a URL
            // with credentials in it like the job's own.
            for pointer in ["/headers", "/answer/headers"] {
                if let Some(pairs) = attempt.pointer_mut(pointer).and_then(Value::as_array_mut) {
                    for pair in pairs.iter_mut() {
                        if let Some(text) = pair.get(1).and_then(Value::as_str) {
                            pair[1] = json!(crate::redact::text(text));
                        }
                    }
                }
            }
        }
    }
    if let Some(headers) = value.pointer_mut("/request/headers").and_then(Value::as_array_mut) {
        for pair in headers.iter_mut() {
            let secret = pair[0].as_str().is_some_and(looks_secret);
            if secret {
                pair[1] = json!("[redacted]");
            }
        }
    }
    value
}

fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["authorization", "cookie", "token", "secret", "api-key", "apikey", "password"].iter().any(|s| name.contains(s))
}

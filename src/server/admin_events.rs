//! The admin API's event-log endpoints (thin: the work is
//! [`crate::eventlog`]'s and the [`super::State`]'s):
//!
//! - `GET /-/events?route=&outcome=&status=&path=&since=&until=&text=&replay_of=&limit=&cursor=`:
//!   recorded events newest first, `{"events": [summary…], "next_cursor"}`.
//! - `GET /-/events/{id}`: one event with the delivery jobs of its forwards
//!   (`{"event": record, "jobs": [job…]}`).
//! - `POST /-/events/{id}/replay`: the recorded request through the
//!   current config, as a new event linked by `replay_of`.
//! - `POST /-/preview?events=N`: body a routes.yaml; the last N (default
//!   100) events run through the live and the new routes, nothing sent;
//!   422 with `errors` (each with its line) when it does not compile.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use warp::Filter;

use super::ingress::into_response;
use super::state::App;
use crate::eventlog::{
    EventLogError, EventQuery, PreviewError, ReplayError, DEFAULT_PREVIEW_EVENTS, MAX_PREVIEW_EVENTS,
};
use crate::server::Reply;

/// Largest routes.yaml a preview accepts.
const MAX_PREVIEW_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = warp::Rejection> + Clone {
    let query = || {
        warp::query::raw()
            .or(warp::any().map(String::new))
            .unify()
            .map(|q: String| form_urlencoded::parse(q.as_bytes()).into_owned().collect::<HashMap<String, String>>())
    };
    let list_app = app.clone();
    let list = warp::path!("-" / "events").and(warp::get()).and(query()).then(move |q| {
        let app = list_app.clone();
        async move { into_response(list(&*app, q).await) }
    });
    let show_app = app.clone();
    let show = warp::path!("-" / "events" / String).and(warp::get()).then(move |id: String| {
        let app = show_app.clone();
        async move { into_response(show(&*app, &id).await) }
    });
    let replay_app = app.clone();
    let replay = warp::path!("-" / "events" / String / "replay").and(warp::post()).then(move |id: String| {
        let app = replay_app.clone();
        async move { into_response(replay(&*app, &id).await) }
    });
    let preview = warp::path!("-" / "preview")
        .and(warp::post())
        .and(query())
        .and(warp::body::content_length_limit(MAX_PREVIEW_BYTES))
        .and(warp::body::bytes())
        .then(move |q: HashMap<String, String>, body: Bytes| {
            let app = app.clone();
            async move { into_response(preview(&*app, q, body).await) }
        });
    list.or(show).unify().or(replay).unify().or(preview).unify()
}

async fn list(app: &App, q: HashMap<String, String>) -> Reply {
    let query = match EventQuery::from_params(&q) {
        Ok(query) => query,
        Err(e) => return log_error(e),
    };
    match app.events(query).await {
        Ok(page) => Reply::json(StatusCode::OK, &json!(page)),
        Err(e) => log_error(e),
    }
}

async fn show(app: &App, id: &str) -> Reply {
    match app.event(id).await {
        Ok(Some(detail)) => Reply::json(StatusCode::OK, &json!(detail)),
        Ok(None) => Reply::error(StatusCode::NOT_FOUND, format!("no event {id} in the event log")),
        Err(e) => log_error(e),
    }
}

async fn replay(app: &App, id: &str) -> Reply {
    match app.replay_event(id).await {
        Ok(replayed) => Reply::json(StatusCode::OK, &json!(replayed)),
        Err(e @ ReplayError::NotFound(_)) => Reply::error(StatusCode::NOT_FOUND, e),
        Err(e @ ReplayError::NotReplayable(..)) => Reply::error(StatusCode::CONFLICT, e),
        Err(ReplayError::Log(e)) => log_error(e),
    }
}

async fn preview(app: &App, q: HashMap<String, String>, body: Bytes) -> Reply {
    let last = match q.get("events").map(|n| n.parse::<usize>()) {
        None => DEFAULT_PREVIEW_EVENTS,
        Some(Ok(n)) if (1..=MAX_PREVIEW_EVENTS).contains(&n) => n,
        Some(_) => return Reply::error(StatusCode::BAD_REQUEST, format!("events: must be 1 to {MAX_PREVIEW_EVENTS}")),
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Reply::error(StatusCode::BAD_REQUEST, "the config must be UTF-8 text");
    };
    match app.preview(text, last).await {
        Ok(report) => Reply::json(StatusCode::OK, &json!(report)),
        Err(PreviewError::Config(errors)) => Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({ "error": "the config has problems; nothing was compared", "errors": errors }),
        ),
        Err(PreviewError::Log(e)) => log_error(e),
    }
}

fn log_error(e: EventLogError) -> Reply {
    match e {
        EventLogError::BadQuery(_) => Reply::error(StatusCode::BAD_REQUEST, e),
        EventLogError::NotOpen | EventLogError::Store(_) => Reply::error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

//! The admin API's observability endpoints:
//!
//! - `GET /-/metrics`: the Prometheus text exposition;
//! - `GET /-/routes`: each active route with its match and action counts
//!   since the process started (kept across reloads by route name);
//! - `GET /-/openapi.json`: the OpenAPI 3 document of the whole admin API.
//!
//! The OpenAPI document is `docs/openapi.json`, compiled in with
//! `include_str!`, so the file reviewers read in the repository is exactly
//! what the server serves; a test checks that it lists every path the admin
//! filters serve.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde_json::json;
use warp::Filter;

use super::ingress::into_response;
use super::state::App;
use crate::actions::Action;
use crate::server::Reply;

/// The admin API's OpenAPI document, as committed in `docs/openapi.json`.
pub(crate) const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// The content type Prometheus expects for the text format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = warp::Rejection> + Clone {
    let metrics = warp::path!("-" / "metrics").and(warp::get()).map(|| into_response(metrics_reply()));
    let routes = warp::path!("-" / "routes").and(warp::get()).map(move || into_response(routes_reply(&*app)));
    let openapi = warp::path!("-" / "openapi.json").and(warp::get()).map(|| {
        let mut headers = http::HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        into_response(Reply { status: StatusCode::OK, headers, body: Bytes::from_static(OPENAPI.as_bytes()) })
    });
    metrics.or(routes).unify().or(openapi).unify()
}

fn metrics_reply() -> Reply {
    match crate::observe::exporter::render() {
        Some(text) => {
            let mut headers = http::HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
            Reply { status: StatusCode::OK, headers, body: Bytes::from(text) }
        }
        None => Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are disabled: another metrics recorder was installed in this process before hookroute's",
        ),
    }
}

fn routes_reply(app: &App) -> Reply {
    Reply::json(
        StatusCode::OK,
        &json!({
            "since": humantime::format_rfc3339_millis(app.stats().started_at()).to_string(),
            "routes": route_rows(app),
        }),
    )
}

/// Each active route with its counts since start, as `GET /-/routes` lists
/// it (the console's routes page shows the same): `name`, `path`,
/// `methods`, `actions` (kinds in order), `matches`, and `action_counts`
/// (kind → outcome → count).
pub(crate) fn route_rows(app: &App) -> Vec<serde_json::Value> {
    let snapshot = app.snapshot();
    let stats = &app.stats();
    snapshot
        .routes
        .iter()
        .map(|route| {
            let counts = stats.counts(&route.name);
            let actions: Vec<&str> = route
                .actions
                .iter()
                .map(|a| match a {
                    Action::Log(_) => "log",
                    Action::File(_) => "file",
                    Action::Forward(_) => "forward",
                    Action::Publish(_) => "publish",
                    Action::Exec(_) => "exec",
                })
                .collect();
            json!({
                "name": &*route.name,
                "path": route.path,
                "methods": route.methods.iter().map(http::Method::as_str).collect::<Vec<_>>(),
                "actions": actions,
                "matches": counts.matches,
                "action_counts": counts.actions,
            })
        })
        .collect()
}

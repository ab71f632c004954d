//! `GET /routes`: the loaded config (its file, hash and load time), the
//! last reload's problems if it failed, and each route with its counters
//! since the process started — what `GET /-/config` and `GET /-/routes`
//! answer, on one page.

use http::StatusCode;
use serde_json::json;

use super::view::{self, Nav};
use crate::server::state::App;
use crate::server::Reply;

pub(super) fn show(app: &App, nav: &Nav) -> Reply {
    let active = app.active();
    let stats = app.stats();
    // "forward: 3 queued, 1 error": one line per action kind.
    let routes: Vec<_> = super::super::admin_observe::route_rows(app)
        .into_iter()
        .map(|mut route| {
            let lines: Vec<String> = route["action_counts"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(kind, outcomes)| {
                    let parts: Vec<String> =
                        outcomes.as_object().into_iter().flatten().map(|(o, n)| format!("{n} {o}")).collect();
                    format!("{kind}: {}", parts.join(", "))
                })
                .collect();
            route["counts"] = json!(lines);
            route
        })
        .collect();
    // A config error may quote a URL with its credentials.
    let failure = app.last_reload_failure().map(|f| {
        json!({
            "at": humantime::format_rfc3339_millis(f.at).to_string(),
            "errors": f.errors.iter().map(|e| crate::redact::text(e)).collect::<Vec<_>>(),
        })
    });
    view::page(
        StatusCode::OK,
        "routes.html",
        json!({
            "nav": nav,
            "title": "Routes",
            "source": active.source.name,
            "hash": active.source.hash,
            "loaded_at": humantime::format_rfc3339_millis(active.source.loaded_at).to_string(),
            "since": humantime::format_rfc3339_millis(stats.started_at()).to_string(),
            "failure": failure,
            "routes": routes,
            "refresh": "on",
        }),
    )
}

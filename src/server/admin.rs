//! The admin API, on its own listener (loopback by default): health and
//! readiness for orchestrators, config and reload, deliveries
//! ([`super::admin_deliveries`]) and metrics, per-route counts and the
//! OpenAPI document ([`super::admin_observe`]). Everything lives under `/-/`
//! so it can never collide with a webhook path.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use warp::Filter;

use super::ingress::into_response;
use super::state::App;
use crate::server::Reply;

/// `GET /-/config`: what is serving, and whether the last reload failed.
fn config_summary(app: &App) -> Reply {
    let active = app.active();
    let (source, snapshot) = (&active.source, &active.snapshot);
    let body = json!({
        "source": source.name,
        "hash": source.hash,
        "loaded_at": humantime::format_rfc3339_millis(source.loaded_at).to_string(),
        "routes": snapshot.routes.len(),
        "route_names": snapshot.routes.iter().map(|r| &*r.name).collect::<Vec<_>>(),
        // A config error may quote a URL with its credentials.
        "last_reload_error": app.last_reload_failure().map(|failure| json!({
            "at": humantime::format_rfc3339_millis(failure.at).to_string(),
            "errors": failure.errors.iter().map(|e| crate::redact::text(e)).collect::<Vec<_>>(),
        })),
    });
    Reply::json(StatusCode::OK, &body)
}

/// `POST /-/reload`: reload now and say how it went.
async fn reload_now(app: &Arc<App>) -> Reply {
    match app.reload().await {
        Ok(report) => {
            let mut body = report.summary;
            if let Some(map) = body.as_object_mut() {
                map.insert("message".into(), json!(report.message));
            }
            Reply::json(StatusCode::OK, &body)
        }
        Err(errors) => Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({
                "error": "config has problems; still serving the previous config",
                "errors": errors.to_string().lines().map(crate::redact::text).collect::<Vec<_>>(),
            }),
        ),
    }
}

pub(crate) fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = std::convert::Infallible> + Clone {
    let healthz = warp::path!("-" / "healthz")
        .and(warp::get())
        .map(|| into_response(Reply::json(StatusCode::OK, &json!({"status": "ok"}))));
    let ready_app = app.clone();
    let readyz = warp::path!("-" / "readyz").and(warp::get()).map(move || {
        if ready_app.is_ready() {
            into_response(Reply::json(StatusCode::OK, &json!({"status": "ready"})))
        } else {
            into_response(Reply::json(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "not ready"})))
        }
    });
    let config_app = app.clone();
    let config = warp::path!("-" / "config").and(warp::get()).map(move || into_response(config_summary(&*config_app)));
    let reload_app = app.clone();
    let reload = warp::path!("-" / "reload").and(warp::post()).then(move || {
        let app = reload_app.clone();
        async move { into_response(reload_now(&app).await) }
    });
    healthz
        .or(readyz)
        .unify()
        .or(config)
        .unify()
        .or(reload)
        .unify()
        .or(super::admin_deliveries::filter(app.clone()))
        .unify()
        .or(super::admin_observe::filter(app.clone()))
        .unify()
        .or(super::admin_events::filter(app.clone()))
        .unify()
        .or(super::console::filter(app.clone()))
        .unify()
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, std::convert::Infallible>(into_response(Reply::error(
                StatusCode::NOT_FOUND,
                "no such admin endpoint",
            )))
        })
        .unify()
}

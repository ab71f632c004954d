//! The admin API, on its own listener (loopback by default): health and
//! readiness for orchestrators. Everything lives under `/-/` so it can never
//! collide with a webhook path.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use warp::Filter;

use super::ingress::into_response;
use crate::app::App;
use crate::pipeline::Reply;

pub fn filter(
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
    healthz
        .or(readyz)
        .unify()
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, std::convert::Infallible>(into_response(Reply::error(
                StatusCode::NOT_FOUND,
                "no such admin endpoint",
            )))
        })
        .unify()
}

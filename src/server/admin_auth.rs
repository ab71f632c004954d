//! The admin API's door: the browser defences of [`super::admin_origin`],
//! then `admin_token` as a bearer token. The console's pages (every path
//! outside `/-/`) pass the same Host and Origin checks here, and are let in
//! by [`super::console`], which takes its login cookie as well.
//!
//! One wrapper around the whole admin filter, rather than a check in each
//! endpoint, so an endpoint added later is protected without anyone
//! remembering to. Only the orchestrator probes `/-/healthz` and
//! `/-/readyz` stay open: they reveal nothing and a kubelet has no token.
//! The token is read from the active snapshot on every request, so a reload
//! that rotates it takes effect at once. The comparison is constant-time.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use warp::Filter;

use super::ingress::into_response;
use super::state::App;
use crate::server::Reply;
use crate::verify::bearer::credentials;
use crate::verify::support::token_eq;

/// Paths answered without a token.
pub(crate) const OPEN_PATHS: [&str; 2] = ["/-/healthz", "/-/readyz"];

/// Wraps `inner` (the admin filter) so that every path but [`OPEN_PATHS`]
/// needs `Authorization: Bearer <admin_token>` when a token is configured.
pub(crate) fn protect<F>(
    app: Arc<App>,
    inner: F,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = std::convert::Infallible> + Clone
where
    F: Filter<Extract = (http::Response<Bytes>,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
{
    // A malformed Host makes warp reject; caught here so it is refused
    // rather than passed on to the endpoints.
    let host = warp::host::optional().map(Ok).or(warp::any().map(|| Err(()))).unify();
    let refuse = warp::method().and(host).and(warp::path::full()).and(warp::header::headers_cloned()).and_then(
        move |method: http::Method,
              host: Result<Option<warp::host::Authority>, ()>,
              path: warp::path::FullPath,
              headers: HeaderMap| {
            let app = app.clone();
            async move {
                let settings = app.settings();
                let host = host.as_ref().map(Option::as_ref).map_err(|_| ());
                let (listener, allowed) = (app.bound_admin_addr(), &settings.security.admin_allowed_hosts);
                if super::console::is_console_path(path.as_str()) {
                    // The console's pages: the same Host and Origin checks;
                    // its session and CSRF token are checked by the console
                    // itself, for every page (a form cannot send a header).
                    return match super::admin_origin::check_site(&method, host, &headers, listener, allowed) {
                        Ok(_) => Err(warp::reject::not_found()),
                        Err(refusal) => Ok(into_response(refusal.reply())),
                    };
                }
                let door = super::admin_origin::check(&method, host, &headers, listener, allowed);
                if let Err(refusal) = door {
                    return Ok(into_response(refusal.reply()));
                }
                if authorized(&*app, path.as_str(), &headers) {
                    // Not refused: fall through to the admin API.
                    Err(warp::reject::not_found())
                } else {
                    Ok(unauthorized())
                }
            }
        },
    );
    refuse.or(inner).unify()
}

/// True when the request may reach the admin API.
pub(crate) fn authorized(app: &App, path: &str, headers: &HeaderMap) -> bool {
    if OPEN_PATHS.contains(&path) {
        return true;
    }
    let settings = app.settings();
    let Some(token) = &settings.security.admin_token else { return true };
    let Some(value) = headers.get(AUTHORIZATION) else { return false };
    match credentials(value.as_bytes(), "bearer") {
        Ok(received) => token_eq(token.expose().as_bytes(), received).into(),
        Err(_) => false,
    }
}

fn unauthorized() -> http::Response<Bytes> {
    metrics::counter!(crate::metrics::REJECTED, "reason" => "admin_token").increment(1);
    let mut reply =
        Reply::error(StatusCode::UNAUTHORIZED, "this admin endpoint needs `Authorization: Bearer <admin_token>`");
    reply.headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    into_response(reply)
}

//! The web console: server-rendered pages on the admin listener, at `/`,
//! for the question an operator asks when a webhook "didn't arrive" — did
//! it reach us, which route took it or why none did, what did the
//! downstream answer, can I send it again.
//!
//! The pages are thin: each reads what the admin API reads, through the
//! server's [`State`](crate::server::State), and renders it with a
//! template ([`view`]). No build step and nothing fetched from elsewhere:
//! templates, the stylesheet and the one script are compiled into the
//! binary, and every list works with JavaScript off.
//!
//! Protection, in order: the admin door ([`super::admin_auth::protect`])
//! checks the `Host`, and refuses a state-changing request from another
//! `Origin`; [`handle`] lets in only a [`session::Session`] (a login
//! cookie, the bearer token, or no `admin_token` configured) and checks
//! the CSRF token of every POST before routing it, so a page added later
//! is protected without anyone remembering to.
//!
//! | path | page |
//! |---|---|
//! | `GET /login`, `POST /login`, `POST /logout` | [`login`] |
//! | `GET /events`, `GET /events/{id}`, `POST /events/{id}/replay`, `POST /events/{id}/retry` | [`events`], [`event`] |
//! | `GET /deliveries`, `GET`/`POST /deliveries/retry` | [`deliveries`] |
//! | `GET /routes` | [`routes`] |
//! | `GET`/`POST /preview` | [`preview`] |

mod deliveries;
mod event;
mod events;
mod form;
mod login;
mod preview;
mod routes;
pub(crate) mod session;
mod view;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use warp::Filter;

use super::ingress::into_response;
use super::state::App;
use crate::server::Reply;
use view::Nav;

/// Largest form a console page takes (a pasted or uploaded routes.yaml).
const MAX_FORM_BYTES: u64 = 4 * 1024 * 1024;

/// True for a path the console answers (everything outside the API's `/-/`).
pub(crate) fn is_console_path(path: &str) -> bool {
    !path.starts_with("/-/") && path != "/-"
}

/// The console's pages: GET and POST anywhere outside `/-/`.
pub(crate) fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = warp::Rejection> + Clone {
    let console_path = warp::path::full()
        .and_then(|path: warp::path::FullPath| async move {
            if is_console_path(path.as_str()) {
                Ok(path.as_str().to_string())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned());
    let get_app = app.clone();
    let get = warp::get().and(console_path).then(move |path: String, query: String, headers: HeaderMap| {
        let app = get_app.clone();
        async move { into_response(handle(&*app, Method::GET, &path, &query, &headers, Bytes::new()).await) }
    });
    let post = warp::post().and(console_path).and(warp::body::stream()).then(
        move |path: String, query: String, headers: HeaderMap, body| {
            let app = app.clone();
            async move {
                let Some(body) = read_bounded(body, MAX_FORM_BYTES).await else {
                    let nav = Nav { csrf: String::new(), logout: false, active: "" };
                    let text = format!("A console form may send at most {MAX_FORM_BYTES} bytes.");
                    return into_response(view::message(StatusCode::PAYLOAD_TOO_LARGE, &nav, "Too large", &text));
                };
                into_response(handle(&*app, Method::POST, &path, &query, &headers, body).await)
            }
        },
    );
    get.or(post).unify()
}

/// One console request: assets and the login page for anyone, the rest for
/// a session, every POST with its CSRF token.
async fn handle(app: &App, method: Method, path: &str, query: &str, headers: &HeaderMap, body: Bytes) -> Reply {
    match (&method, path) {
        (&Method::GET, "/assets/console.css") => {
            return view::asset("text/css; charset=utf-8", include_str!("assets/console.css"))
        }
        (&Method::GET, "/assets/console.js") => {
            return view::asset("text/javascript; charset=utf-8", include_str!("assets/console.js"))
        }
        (&Method::GET, "/login") => return login::form(app, headers),
        (&Method::POST, "/login") => return login::submit(app, headers, &body),
        _ => {}
    }
    let Some(session) = session::current(app, headers) else {
        return login::required();
    };
    let nav = |active| Nav { csrf: session.csrf(), logout: !session.open, active };
    let query = form::query(query);
    let fields = if method == Method::POST {
        let fields = match form::parse(headers, &body) {
            Ok(fields) => fields,
            Err(e) => return view::message(StatusCode::BAD_REQUEST, &nav(""), "Bad form", &e.to_string()),
        };
        let token = fields.get(session::CSRF_FIELD).map(String::as_str).unwrap_or_default();
        if !session.csrf_ok(token) {
            metrics::counter!(crate::metrics::REJECTED, "reason" => "console_csrf").increment(1);
            return view::message(
                StatusCode::FORBIDDEN,
                &nav(""),
                "Refused",
                "This form was not sent by a page of this console session (its CSRF token is missing or stale). \
                 Open the page again and resubmit.",
            );
        }
        fields
    } else {
        Default::default()
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, [""]) => view::redirect("/events", None),
        (Method::POST, ["logout"]) => login::logout(),
        (Method::GET, ["events"]) => events::list(app, &nav("events"), &query).await,
        (Method::GET, ["events", id]) => event::show(app, &nav("events"), &decode(id), &query).await,
        (Method::POST, ["events", id, "replay"]) => event::replay(app, &nav("events"), &decode(id)).await,
        (Method::POST, ["events", id, "retry"]) => event::retry(app, &nav("events"), &decode(id)).await,
        (Method::GET, ["deliveries"]) => deliveries::list(app, &nav("deliveries"), &query).await,
        (Method::GET, ["deliveries", "retry"]) => deliveries::confirm(app, &nav("deliveries"), &query).await,
        (Method::POST, ["deliveries", "retry"]) => deliveries::retry(app, &nav("deliveries"), &fields).await,
        (Method::GET, ["routes"]) => routes::show(app, &nav("routes")),
        (Method::GET, ["preview"]) => preview::form(&nav("preview")),
        (Method::POST, ["preview"]) => preview::run(app, &nav("preview"), &fields).await,
        _ => view::message(StatusCode::NOT_FOUND, &nav(""), "Not found", &format!("The console has no page {path}.")),
    }
}

/// The body, or None when it is longer than `max` bytes or breaks off. A
/// browser always declares a form's length; this bounds whatever else comes.
async fn read_bounded<S, B>(body: S, max: u64) -> Option<Bytes>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures_util::StreamExt as _;
    let mut out = bytes::BytesMut::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.ok()?;
        if out.len() as u64 + chunk.remaining() as u64 > max {
            return None;
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            out.extend_from_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
    }
    Some(out.freeze())
}

/// A path segment with its percent-escapes decoded.
fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

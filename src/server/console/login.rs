//! The login form: the admin token typed once, traded for the session
//! cookie of [`super::session`]; and logging out.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::session;
use super::view;
use crate::server::state::App;
use crate::server::Reply;

/// `GET /login`: the form, unless there is nothing to log in to.
pub(super) fn form(app: &App, headers: &HeaderMap) -> Reply {
    if session::current(app, headers).is_some() {
        return view::redirect("/events", None);
    }
    view::page(StatusCode::OK, "login.html", json!({ "problem": null }))
}

/// Any page without a session: 401 with the login form, so a browser shows
/// the form and a script sees the refusal.
pub(super) fn required() -> Reply {
    metrics::counter!(crate::metrics::REJECTED, "reason" => "admin_token").increment(1);
    view::page(StatusCode::UNAUTHORIZED, "login.html", json!({ "problem": "Log in to use the console." }))
}

/// `POST /login` with the field `token`.
pub(super) fn submit(app: &App, headers: &HeaderMap, body: &Bytes) -> Reply {
    let fields = super::form::parse(headers, body).unwrap_or_default();
    let typed = fields.get("token").map(String::as_str).unwrap_or_default();
    match session::login(app, typed) {
        Some(session) => view::redirect("/events", Some(session::set_cookie(Some(&session)))),
        None if app.settings().security.admin_token.is_none() => view::redirect("/events", None),
        None => {
            metrics::counter!(crate::metrics::REJECTED, "reason" => "admin_token").increment(1);
            view::page(StatusCode::UNAUTHORIZED, "login.html", json!({ "problem": "That is not the admin token." }))
        }
    }
}

/// `POST /logout`: the cookie cleared.
pub(super) fn logout() -> Reply {
    view::redirect("/login", Some(session::set_cookie(None)))
}

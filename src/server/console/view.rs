//! Turning a page's data into an HTTP answer: the templates, compiled into
//! the binary, and the headers every console answer carries.
//!
//! Templates are minijinja with HTML auto-escaping (on for every `.html`
//! name): every value a request brought in — a path, a header, a body — is
//! escaped where it is printed, so a body is shown as text and never
//! rendered. Nothing is marked safe. The headers add a strict
//! `Content-Security-Policy`: even a value that escaped the escaping could
//! not run a script (only `/assets/console.js` may run), load anything from
//! elsewhere, or be framed.

use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use minijinja::Environment;
use serde::Serialize;

use crate::server::Reply;

/// The policy of every console answer. `connect-src 'self'` beyond the
/// usual list: the list pages refresh themselves with `fetch` of their
/// own URL.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The templates, by name, as committed next to this file.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("message.html", include_str!("templates/message.html")),
    ("events.html", include_str!("templates/events.html")),
    ("event.html", include_str!("templates/event.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("retry_confirm.html", include_str!("templates/retry_confirm.html")),
    ("routes.html", include_str!("templates/routes.html")),
    ("preview.html", include_str!("templates/preview.html")),
];

/// The templates compiled once; a template that does not compile is a
/// bug caught by the tests, and answers 500 rather than panicking.
static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| format!("{e:#}"))?;
    }
    Ok(env)
});

/// Renders template `name` with `context` as an HTML answer.
pub(crate) fn page(status: StatusCode, name: &str, context: serde_json::Value) -> Reply {
    let rendered = match &*ENV {
        Ok(env) => env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(crate::template::context::Doc(&context))))
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(e.clone()),
    };
    match rendered {
        Ok(html) => html_reply(status, html),
        Err(e) => {
            tracing::error!("console template {name}: {e}");
            html_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>error</title>console page failed".into(),
            )
        }
    }
}

fn html_reply(status: StatusCode, html: String) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(&mut headers);
    Reply { status, headers, body: Bytes::from(html) }
}

/// A static asset (`/assets/…`), with the same headers.
pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(&mut headers);
    Reply { status: StatusCode::OK, headers, body: Bytes::from_static(body.as_bytes()) }
}

/// `303 See Other` to `location` (a console path), optionally setting a cookie.
pub(crate) fn redirect(location: &str, cookie: Option<String>) -> Reply {
    let mut headers = HeaderMap::new();
    secure(&mut headers);
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(SET_COOKIE, value);
    }
    Reply { status: StatusCode::SEE_OTHER, headers, body: Bytes::new() }
}

/// The headers of every console answer.
fn secure(headers: &mut HeaderMap) {
    headers.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(CSP));
    headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it Chrome sends `Origin: null` with the
    // pages' own form posts, which the admin door refuses as foreign.
    headers.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("same-origin"));
    // Pages show events and tokens' sessions: keep them out of caches.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A page that only says something (not found, refused, done).
pub(crate) fn message(status: StatusCode, nav: &Nav, title: &str, text: &str) -> Reply {
    page(status, "message.html", serde_json::json!({ "nav": nav, "title": title, "text": text }))
}

/// What the layout needs on every page: the CSRF token for its forms
/// (logout included) and whether there is a session to log out of.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Nav {
    pub csrf: String,
    pub logout: bool,
    /// The page's menu entry: `events`, `deliveries`, `routes`, `preview`.
    pub active: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        assert!(ENV.as_ref().is_ok(), "{:?}", ENV.as_ref().err());
        let nav = Nav { csrf: "t".into(), logout: true, active: "events" };
        let reply = message(StatusCode::OK, &nav, "x", "<script>alert(1)</script>");
        let html = String::from_utf8_lossy(&reply.body);
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
    }
}
